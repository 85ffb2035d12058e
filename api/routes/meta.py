"""Public reference material: the codebook and the receipt verification key."""

from __future__ import annotations

from functools import cache

from litestar import get
from litestar.datastructures import State
from litestar.params import FromQuery

from api.errors import InvalidInput
from api.middleware.auth import PUBLIC_OPT
from api.problems import problem_specs
from schemas.codebook import Codebook, build_codebook
from schemas.receipts import ReceiptPublicKey

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
    summary="The Ed25519 key that verifies report receipts",
)
async def receipt_public_key(state: State) -> ReceiptPublicKey:
    return ReceiptPublicKey(algorithm="Ed25519", public_key=state.signer.public_key_b64)


ROUTES = [codebook, receipt_public_key]
