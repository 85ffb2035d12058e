"""Public reference material: the codebook and the receipt verification keys."""

from __future__ import annotations

from functools import cache

from litestar import get
from litestar.datastructures import State
from litestar.params import FromQuery

from api.errors import InvalidInput
from api.middleware.auth import PUBLIC_OPT
from api.problems import problem_specs
from schemas.codebook import Codebook, build_codebook
from schemas.receipts import ReceiptKey, ReceiptKeySet, ReceiptPublicKey
from storage.db.pool import Database
from storage.reports import receipt_keys
from storage.reports.receipts import ALGORITHM

SUPPORTED_LANGUAGES = ("en", "es")


@get(
    "/v1/codebook",
    opt={PUBLIC_OPT: True},
    tags=["reference"],
    summary="Every report field, bound and enum value with English and Spanish labels",
    responses=problem_specs(422),
)
async def codebook(lang: FromQuery[str] = "en") -> Codebook:
    if lang not in SUPPORTED_LANGUAGES:
        raise InvalidInput("lang", f"lang must be one of {', '.join(SUPPORTED_LANGUAGES)}")
    return _codebook(lang)


@cache
def _codebook(lang: str) -> Codebook:
    return build_codebook(lang)


@get(
    "/v1/receipts/public-key",
    opt={PUBLIC_OPT: True},
    tags=["reference"],
    summary="The current Ed25519 receipt key, and every key that ever signed",
    description="`algorithm` and `public_key` are the current key (as before keys rotated);"
    " `keys` also holds the retired ones, which still verify what they signed.",
)
async def receipt_public_key(state: State) -> ReceiptPublicKey:
    keys = await _published(state)
    current = receipt_keys.current_of(keys)
    public_key, key_id = (
        (current.public_key, current.key_id)
        if current is not None
        else (state.signer.public_key_b64, state.signer.key_id)
    )
    return ReceiptPublicKey(
        algorithm=ALGORITHM,
        public_key=public_key,
        key_id=key_id,
        keys=[_public(key) for key in keys],
    )


@get(
    "/v1/receipts/keys",
    opt={PUBLIC_OPT: True},
    tags=["reference"],
    summary="Every receipt key ever used, with its id and validity period",
    description="Find the key of a receipt, audit checkpoint, release or evidence manifest by"
    " its `key_id`. Each key after the first carries the previous key's endorsement.",
)
async def receipt_keys_list(state: State) -> ReceiptKeySet:
    return ReceiptKeySet(keys=[_public(key) for key in await _published(state)])


async def _published(state: State) -> list[receipt_keys.KeyRecord]:
    db: Database = state.db
    async with db.acquire() as conn:
        return await receipt_keys.published(conn)


def _public(key: receipt_keys.KeyRecord) -> ReceiptKey:
    return ReceiptKey(
        key_id=key.key_id,
        algorithm=key.algorithm,
        public_key=key.public_key,
        not_before=key.not_before,
        not_after=key.not_after,
        endorsed_by=key.endorsed_by,
        endorsement=key.endorsement,
    )


ROUTES = [codebook, receipt_public_key, receipt_keys_list]
