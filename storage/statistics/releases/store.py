"""Stored releases: written once, read back as the exact bytes that were signed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from storage.errors import NotFound

INSERT_RELEASE = """
insert into public_releases (month, version, published_at, received_through, epsilon, delta,
                             exact_digest, etag, document)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
LATEST_OF_MONTH = """
select version, exact_digest from public_releases where month = $1
order by version desc limit 1
"""
SPENT = """
select coalesce(sum(epsilon) filter (where month = $1), 0) as month_epsilon,
       coalesce(sum(delta) filter (where month = $1), 0) as month_delta,
       coalesce(sum(epsilon), 0) as total_epsilon,
       coalesce(sum(delta), 0) as total_delta
from public_releases
"""
LIST = """
select month, version, published_at from public_releases order by month desc, version desc
"""
DOCUMENT = """
select document, etag from public_releases
where month = $1 and ($2::integer is null or version = $2)
order by version desc limit 1
"""


@dataclass(frozen=True, slots=True)
class LatestVersion:
    version: int
    exact_digest: str


@dataclass(frozen=True, slots=True)
class Spent:
    month: tuple[float, float]
    total: tuple[float, float]


@dataclass(frozen=True, slots=True)
class ListedRelease:
    month: date
    version: int
    published_at: datetime


@dataclass(frozen=True, slots=True)
class StoredDocument:
    document: bytes
    etag: str


def etag_of(document: bytes) -> str:
    return '"' + hashlib.sha256(document).hexdigest()[:32] + '"'


async def latest_version(conn: asyncpg.Connection, month: date) -> LatestVersion | None:
    row = await conn.fetchrow(LATEST_OF_MONTH, month)
    return None if row is None else LatestVersion(row["version"], row["exact_digest"])


async def spent(conn: asyncpg.Connection, month: date) -> Spent:
    row = await conn.fetchrow(SPENT, month)
    assert row is not None
    return Spent(
        month=(row["month_epsilon"], row["month_delta"]),
        total=(row["total_epsilon"], row["total_delta"]),
    )


async def insert(
    conn: asyncpg.Connection,
    *,
    month: date,
    version: int,
    published_at: datetime,
    received_through: datetime,
    epsilon: float,
    delta: float,
    exact_digest: str,
    document: bytes,
) -> None:
    await conn.execute(
        INSERT_RELEASE,
        month,
        version,
        published_at,
        received_through,
        epsilon,
        delta,
        exact_digest,
        etag_of(document),
        document,
    )


async def listed(conn: asyncpg.Connection) -> list[ListedRelease]:
    rows = await conn.fetch(LIST)
    return [ListedRelease(row["month"], row["version"], row["published_at"]) for row in rows]


async def document(conn: asyncpg.Connection, month: date, version: int | None) -> StoredDocument:
    """The month's given version, or its latest; NotFound names what is missing."""
    row = await conn.fetchrow(DOCUMENT, month, version)
    if row is None:
        if version is None:
            raise NotFound(f"no release of {month:%Y-%m} has been published")
        raise NotFound(f"the release of {month:%Y-%m} has no version {version}")
    return StoredDocument(bytes(row["document"]), row["etag"])
