"""A bounded pool of worker processes for the photo and video pipelines.

Decoding and re-encoding a 12 MP photo takes a few hundred milliseconds of CPU: on the event
loop it would stall every other request. Worker processes (not threads: the work holds the GIL
in places and a hostile file could crash a decoder) do it instead. The pool is bounded: when
every worker is busy and ``queue`` uploads already wait, the next upload is refused with 503 and
``Retry-After`` at once rather than piling up memory and latency.

A photo job sends the bytes to the worker; a video job sends only paths (the upload's file in,
a directory for the sanitised copy out): a video never crosses the process boundary whole.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from storage.errors import Unavailable
from storage.photos.pipeline import ProcessedPhoto, process_photo
from storage.photos.video import ProcessedVideo, VideoLimits, process_video

T = TypeVar("T")
DEFAULT_VIDEO_LIMITS = VideoLimits(
    max_seconds=600.0, max_pixels=3840 * 2160, max_bytes=2 * 1024 * 1024 * 1024
)

log = logging.getLogger(__name__)


class PhotoWorkersBusy(Unavailable):
    code = "photo_workers_busy"


class PhotoWorkers:
    def __init__(
        self,
        workers: int,
        queue: int,
        *,
        max_pixels: int,
        c2pa_trust_anchors: str | None = None,
        video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    ) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.max_pixels = max_pixels
        self.video_limits = video_limits
        self.c2pa_trust_anchors = c2pa_trust_anchors
        self.in_flight = 0
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        # Started on first use; "spawn" because forking a process that runs an event loop and
        # threads can copy held locks into the child.
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                # No max_tasks_per_child: a worker retiring while jobs wait leaves the pool
                # hung on Python 3.11 (CPython gh-115634, fixed only in later releases).
            )
        return self._executor

    async def process(
        self, data: bytes, *, occurred_at: datetime, report_cell: str
    ) -> ProcessedPhoto:
        job = partial(
            process_photo,
            data,
            occurred_at=occurred_at,
            report_cell=report_cell,
            max_pixels=self.max_pixels,
            c2pa_trust_anchors=self.c2pa_trust_anchors,
        )
        return await self._run(job)

    async def process_video(
        self, src: Path, dst_dir: Path, *, occurred_at: datetime, report_cell: str
    ) -> ProcessedVideo:
        """Sanitise the video file ``src`` into a new file in ``dst_dir`` (the caller removes
        ``result.video.path``), with its provenance and poster hashes."""
        job = partial(
            process_video,
            src,
            dst_dir,
            occurred_at=occurred_at,
            report_cell=report_cell,
            limits=self.video_limits,
            c2pa_trust_anchors=self.c2pa_trust_anchors,
        )
        return await self._run(job)

    async def _run(self, job: partial[T]) -> T:
        if self.in_flight >= self.capacity:
            raise PhotoWorkersBusy("every photo worker is busy; try again shortly")
        self.in_flight += 1
        try:
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool(), job)
            except BrokenProcessPool as exc:
                # A worker died (killed, out of memory, a decoder crash): start a fresh pool
                # for the next upload and let this one be retried.
                log.error("a photo worker died; restarting the pool")
                self._discard_pool()
                raise PhotoWorkersBusy("the photo worker stopped; try again") from exc
        finally:
            self.in_flight -= 1

    def worker_pids(self) -> frozenset[int]:
        """Process ids of the running workers (operations and tests)."""
        if self._executor is None:
            return frozenset()
        # ProcessPoolExecutor keeps its processes by pid; there is no public accessor.
        return frozenset(self._executor._processes or {})

    def _discard_pool(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
