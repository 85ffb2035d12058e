"""The whole photo pipeline for one upload, as one pure function (no I/O): sanitise; once the
upload has decoded, provenance from the original bytes and hashes of the upright image are
computed in a helper thread while the sanitiser encodes.

It runs in a worker process (``api.tasks.photo_workers``), so everything it returns is picklable.
Sanitising comes first so that hostile or unsupported bytes are refused (415/422) before any
more work is spent on them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from PIL import Image
from PIL import _imaging as pillow_core

from schemas.photos import Provenance
from storage.photos.hashes import perceptual_hashes
from storage.photos.provenance import read_provenance
from storage.photos.sanitise import DEFAULT_MAX_PIXELS, SanitisedImage, sanitise_with_image

# Pillow keeps image memory in 16 MB blocks and by default frees every block when its image
# goes: the next photo's 48 MB decode and 48 MB upright copy then take fresh pages from the
# kernel, and faulting them in cost ~35% of the decode, transpose and copy at 12 MP. A worker
# keeps this many freed blocks for the next photo instead. It never raises the peak (a block
# is only kept after being freed, and reused before a new one is allocated); it keeps what the
# last photos held, at most 8 x 16 MB, resident between photos. A larger PILLOW_BLOCKS_MAX
# from the environment is left as it is.
PILLOW_BLOCKS_KEPT: Final = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessedPhoto:
    image: SanitisedImage
    provenance: Provenance
    phash: str
    dhash: str


def process_photo(
    data: bytes,
    *,
    occurred_at: datetime,
    report_cell: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    c2pa_trust_anchors: str | None = None,
) -> ProcessedPhoto:
    """Raises ``PhotoRejected`` subclasses (415/422) for bytes that are not an allowed image."""
    keep_pillow_blocks()
    side: list[Future[tuple[Provenance, tuple[str, str]]]] = []

    def provenance_and_hashes(upright: Image.Image) -> tuple[Provenance, tuple[str, str]]:
        provenance = read_provenance(
            data,
            occurred_at=occurred_at,
            report_cell=report_cell,
            c2pa_trust_anchors=c2pa_trust_anchors,
        )
        return provenance, perceptual_hashes(upright)

    def start_side_work(upright: Image.Image) -> None:
        # Once the upload has decoded (hostile or unsupported bytes are refused before any
        # more work), provenance and hashes run in a helper thread while this one encodes:
        # the encoder, Pillow's reduce and hashlib release the GIL.
        side.append(_helper().submit(provenance_and_hashes, upright))

    try:
        result = sanitise_with_image(data, max_pixels=max_pixels, before_encoding=start_side_work)
    finally:
        if side:
            wait(side)  # never leave the helper working on this photo after returning
    provenance, (phash, dhash) = side[0].result()
    return ProcessedPhoto(image=result.sanitised, provenance=provenance, phash=phash, dhash=dhash)


_helper_pool: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """One helper thread per process, started on first use."""
    global _helper_pool
    with _helper_lock:
        if _helper_pool is None:
            _helper_pool = ThreadPoolExecutor(1, thread_name_prefix="photo-pipeline")
        return _helper_pool


def keep_pillow_blocks() -> None:
    """Let Pillow reuse freed image memory in this process (see ``PILLOW_BLOCKS_KEPT``)."""
    if pillow_core.get_blocks_max() < PILLOW_BLOCKS_KEPT:
        pillow_core.set_blocks_max(PILLOW_BLOCKS_KEPT)
