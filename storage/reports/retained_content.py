"""A report's content hash, and what retention leaves of the content.

``payload_sha256`` is the lowercase hex SHA-256 of the canonical JSON of the minimised content:
msgspec's encoding of the ``ReportContent`` Struct with keys sorted (the ``kind`` tag among
them), no whitespace, UTF-8, every field present (null when absent), floats in msgspec's
shortest round-trip form (``0.00001`` where Python's json writes ``1e-05``). At ingest it
covers the res-9 content. Retention rewrites the stored content (the cell becomes its res-7
parent; free text of old rejections becomes null) and replaces the hash with the same
function of the new content, so the stored hash can be recomputed from the stored content
alone and confirms nothing that is no longer stored: hashing each of the 49 res-9 children of
a coarse cell into the content finds no match. The same functions turn a re-sent original
into what retention would have left of it, so a replay after retention is still recognised.
"""

from __future__ import annotations

import hashlib

import h3
import msgspec

from schemas.report import (
    COARSE_H3_RESOLUTION,
    ObserverReportContent,
    OfficerNoteContent,
    ReportContent,
)

_STORED = msgspec.json.Decoder(ReportContent)


def canonical_content(content: ReportContent) -> bytes:
    return msgspec.json.encode(content, order="sorted")


def content_sha256(content: ReportContent) -> str:
    return hashlib.sha256(canonical_content(content)).hexdigest()


def decode_stored(text: str) -> ReportContent:
    """The stored (jsonb) content as the Struct it was encoded from."""
    return _STORED.decode(text)


def coarsened(content: ReportContent) -> ReportContent:
    """The content with its H3 cell replaced by the res-7 parent (as it is if not finer)."""
    cell = content.location.h3_cell
    if h3.get_resolution(cell) <= COARSE_H3_RESOLUTION:
        return content
    location = msgspec.structs.replace(
        content.location, h3_cell=h3.cell_to_parent(cell, COARSE_H3_RESOLUTION)
    )
    return msgspec.structs.replace(content, location=location)


def without_free_text(content: ReportContent) -> ReportContent:
    """The content with its prose purged: narrative, place description, case number."""
    location = msgspec.structs.replace(content.location, description=None)
    purged = msgspec.structs.replace(content, narrative=None, location=location)
    if isinstance(purged, OfficerNoteContent):
        officer = msgspec.structs.replace(purged.officer, incident_reference=None)
        return msgspec.structs.replace(purged, officer=officer)
    assert isinstance(purged, ObserverReportContent)
    return purged


def matches_retained(stored_sha256: str, content: ReportContent) -> bool:
    """Whether ``content``, as received, is what retention rewrote into a stored report with
    this hash. Purged free text leaves no trace of whether there was any, so a stored report
    without prose matches a re-send whatever its prose (all else must be the same): better a
    replay than a 409 that makes the client submit its report again as a new one."""
    coarse = coarsened(content)
    return stored_sha256 in (content_sha256(coarse), content_sha256(without_free_text(coarse)))
