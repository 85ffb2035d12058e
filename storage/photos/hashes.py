"""Perceptual hashes for near-duplicate triage (design principle 3): 64-bit pHash and dHash as
16 hex digits, computed with ``imagehash`` from the sanitised, upright image. Pure functions."""

from __future__ import annotations

import re
from typing import Final

import imagehash
from PIL import Image

HASH_HEX_DIGITS: Final = 16
_HEX64 = re.compile(r"[0-9a-f]{16}")
# imagehash shrinks to 32x32 (pHash) and 9x8 (dHash) with Lanczos. Lanczos straight from 12 MP
# costs tens of milliseconds per hash, so the image is first box-reduced (exact averaging) to
# no less than this many pixels on its short edge (twice pHash's 32-pixel grid; from 256 the
# Lanczos step alone still cost ~3.5 ms), and turned grey once for both hashes. Large images
# are box-reduced in two steps, by 8 and then by what is left: Pillow's reduce by one large
# factor (47 at 12 MP) cost ~17 ms, by 8 ~8 ms, and the second step works on 1/64 of the
# pixels. The hashes are those of this fixed pipeline: compare hashes made by this function
# only. (Until December 2026 it reduced in one step; a photo hashed both ways differs by at most
# a few bits, far within the near-duplicate distance of 8.)
_PREVIEW_SHORT_EDGE: Final = 64
_FIRST_REDUCTION: Final = 8


def perceptual_hashes(image: Image.Image) -> tuple[str, str]:
    """``(phash, dhash)`` of ``image``, each 64 bits as 16 lowercase hex digits."""
    preview = image if image.mode in ("RGB", "L") else image.convert("RGB")
    if min(preview.size) // _PREVIEW_SHORT_EDGE >= 2 * _FIRST_REDUCTION:
        preview = preview.reduce(_FIRST_REDUCTION)
    factor = min(preview.size) // _PREVIEW_SHORT_EDGE
    if factor >= 2:
        preview = preview.reduce(factor)
    grey = preview.convert("L")
    phash = str(imagehash.phash(grey, hash_size=8))
    dhash = str(imagehash.dhash(grey, hash_size=8))
    return phash, dhash


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two 64-bit hashes written as 16 hex digits."""
    for value in (a_hex, b_hex):
        if not _HEX64.fullmatch(value.lower()):
            raise ValueError(f"not a 64-bit hash in hex: {value!r}")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
