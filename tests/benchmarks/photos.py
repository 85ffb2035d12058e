"""Photo benchmark: the whole photo pipeline against bare Pillow, its memory per worker, and the
report endpoint's latency while photos are being uploaded.

    python -m tests.benchmarks.photos [--parts 1,2,3,4] [--repeat 10] [--duration 20]
                                      [--rate 50] [--json FILE]

Part 1 times ``storage.photos.pipeline.process_photo`` (sanitise + provenance + perceptual hashes)
and a bare Pillow open + ``ImageOps.exif_transpose`` + JPEG save at the sanitiser's quality on
the same files, interleaved, in this process: a 12 MP JPEG with every kind of phone metadata and
orientation 6, a 1080p JPEG and a 12 MP HEIC.

Part 2 runs each of them, plus a 40 MP JPEG (the pixel budget), in a fresh spawned process and
reads that process's peak resident memory (VmHWM) before and after, for the pipeline and for bare
Pillow.

Part 3 starts the service as deployed (``python -m api.cli serve``, one fresh database, helpers of
``ingest``), sends ``POST /v1/reports`` open-loop at a steady rate without and then with four
clients uploading distinct 12 MP JPEGs to ``POST /v1/reports/{id}/photos``, and compares the
report latencies.

Part 4 starts the service the same way and uploads a 12 MP phone JPEG (~3 MB, EXIF orientation
6 and GPS) one at a time through HTTP: the whole round trip a client waits for (body upload,
photo worker, provenance, hashes, blob write, row, answer), against bare Pillow on the same
bytes in the same run. All load goes to 127.0.0.1.

Exit status 1 when a run is invalid (a wrong answer, an error, a crashed child), never because a
target is missed. The test photos are generated on each run (needs exiftool and pytest, as the
photo tests do); Part 3 needs httpx (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import itertools
import json
import math
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Final

import h3
from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageOps

import storage.photos.formats  # noqa: F401  (registers the HEIF opener, as the service does)
from storage.photos.pipeline import process_photo
from storage.photos.sanitise import DEFAULT_QUALITY

# Only the standard library, Pillow and the pipeline are imported at module level: Part 2's
# spawned children import this module, and their memory must be what a photo worker holds.
# The fixtures (pytest), ingest (asyncpg) and httpx are imported where they are used.

HOST: Final = "127.0.0.1"  # the only address this benchmark ever sends load to
TARGET_RATIO: Final = 1.3
TARGET_RSS_MB: Final = 250.0
TARGET_P99_MS: Final = 100.0
BUDGET_PHOTO: Final = "jpeg-40mp"
TIMED_PHOTOS: Final = ("jpeg-12mp", "jpeg-1080p", "heic-12mp")
ROUND_TRIP_PHOTO: Final = "jpeg-phone"
ROUND_TRIP_UPLOADS_PER_REPORT: Final = 50
RSS_RUNS: Final = 2  # photos per child: the peak of a worker that has already done one
UPLOADERS: Final = 4
UPLOADS_PER_REPORT: Final = 50  # each uploader moves to a new report after this many
PHOTOS_PER_REPORT_SETTING: Final = "100"
UPLOAD_WARMUP_TIMEOUT_S: Final = 30.0
MAX_RETRY_AFTER_S: Final = 2.0
REPORT_WARMUP_S: Final = 2.0
# The report the photos belong to: its time and place, as the service passes them.
OCCURRED_AT: Final = datetime(2025, 11, 14, 23, 0, tzinfo=UTC)
REPORT_CELL: Final = h3.latlng_to_cell(40.7128, -74.0060, 9)
PHOTO_FIELDS: Final = frozenset(
    {"id", "report_id", "content_type", "width", "height", "bytes", "sha256", "phash"}
    | {"provenance"}
)
MB: Final = 1024 * 1024
SWAPPING_ORIENTATIONS: Final = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90°


class BenchmarkError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# --- test photos -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    name: str
    description: str
    path: Path
    width: int  # as stored (before orientation)
    height: int
    upright: tuple[int, int]  # what a correct decoder displays
    size_bytes: int


def photo_like(size: tuple[int, int]) -> Image.Image:
    """Pixels with a photo's entropy: smooth colour blobs (noise upscaled 16x), a gradient, fine
    sensor grain and hard edges. Flat test images would make JPEG sizes and decode times
    unrealistically small; with these a quality-95 12 MP JPEG is ~5 MB, as a phone's."""
    width, height = size
    small = (max(1, width // 16), max(1, height // 16))
    blobs = Image.merge(
        "RGB",
        [
            Image.effect_noise(small, sigma).resize(size, Image.Resampling.BICUBIC)
            for sigma in (60, 50, 70)
        ],
    )
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    grain = Image.effect_noise(size, 4).convert("RGB")
    image = ImageChops.add(Image.blend(blobs, gradient, 0.3), grain, offset=-128)
    draw = ImageDraw.Draw(image)
    for k in range(40):
        x, y = (k * 997) % width, (k * 631) % height
        box = (x, y, x + width // 10, y + height // 12)
        colour = ((k * 53) % 256, (k * 97) % 256, (k * 31) % 256)
        if k % 2:
            draw.ellipse(box, outline=colour, width=max(2, width // 500))
        else:
            draw.rectangle(box, fill=colour)
    return image


def build_photos(directory: Path, names: set[str]) -> list[Photo]:
    """Write the requested test photos into ``directory`` (a few seconds each at 12-40 MP)."""
    # Not at module level: it imports pytest, which a photo worker's memory must not include.
    from tests.support import photo_fixtures as fx

    builders: dict[str, Callable[[], tuple[bytes, str]]] = {
        "jpeg-12mp": lambda: (
            fx.jpeg_with_everything(photo_like((3024, 4032)), orientation=6),
            "phone JPEG (MPO), orientation 6, EXIF+GPS+MakerNote, ICC, IPTC, XMP, comment,"
            " thumbnail, second image, motion-photo trailer",
        ),
        "jpeg-1080p": lambda: (
            fx.jpeg_bytes(
                photo_like((1920, 1080)), quality=90, exif=fx.camera_exif(1, gps=False).tobytes()
            ),
            "app-resized JPEG, EXIF without GPS, orientation 1",
        ),
        "heic-12mp": lambda: (
            # x265's fastest preset keeps generation to ~1.5 s; decoding cost does not depend
            # much on it, and decoding is what is measured.
            fx.heic_bytes(
                photo_like((4032, 3024)),
                quality=60,
                enc_params={"preset": "ultrafast"},
                exif=fx.camera_exif(1).tobytes(),
                xmp=fx.xmp_packet(),
            ),
            "phone HEIC, EXIF+GPS+MakerNote, XMP",
        ),
        ROUND_TRIP_PHOTO: lambda: (
            fx.jpeg_bytes(
                fx.stored_for_orientation(photo_like((3024, 4032)), 6),
                quality=90,
                exif=fx.camera_exif(6).tobytes(),
            ),
            "phone JPEG as a camera app writes it: quality 90, EXIF with GPS, MakerNote and"
            " orientation 6",
        ),
        BUDGET_PHOTO: lambda: (
            fx.jpeg_with_everything(photo_like((5164, 7744)), orientation=6),
            "the 40 MP pixel budget: 7744x5164 JPEG, orientation 6, all the metadata above",
        ),
    }
    photos = []
    for name in [n for n in builders if n in names]:
        data, description = builders[name]()
        path = directory / name
        path.write_bytes(data)
        with Image.open(io.BytesIO(data)) as image:  # the header only
            width, height = image.size
            swapped = image.getexif().get(ExifTags.Base.Orientation, 1) in SWAPPING_ORIENTATIONS
        upright = (height, width) if swapped else (width, height)
        photos.append(Photo(name, description, path, width, height, upright, len(data)))
    return photos


def jpeg_variant(data: bytes, index: int) -> bytes:
    """``data`` with the last two entries of its first quantisation table set from ``index``.

    Same size, same metadata, same offsets (the MPF index stays right), but different decoded
    pixels, so the service stores a new photo instead of answering a replay. Generating a new
    12 MP file per upload would take CPU from the service being measured."""
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDB:
        if data[pos + 1] == 0xDA:
            raise ValueError("no quantisation table before the scan")
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    if data[pos : pos + 2] != b"\xff\xdb" or data[pos + 4] >> 4 != 0:
        raise ValueError("not an 8-bit DQT segment")
    high, low = divmod(index, 250)
    if high > 254:
        raise ValueError("too many variants")
    table = pos + 5  # after marker, length, precision/id
    out = bytearray(data)
    out[table + 62] = 1 + high
    out[table + 63] = 1 + low
    return bytes(out)


# --- the two operations --------------------------------------------------------------------


def run_pipeline(data: bytes) -> tuple[int, int]:
    """The whole pipeline, as a photo worker runs it; returns the stored (width, height)."""
    result = process_photo(data, occurred_at=OCCURRED_AT, report_cell=REPORT_CELL)
    return result.image.width, result.image.height


def run_bare(data: bytes) -> tuple[int, int]:
    """What any image service does at least: decode, apply the orientation, save a JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        upright.save(io.BytesIO(), "JPEG", quality=DEFAULT_QUALITY)
        return upright.size


OPERATIONS: Final[dict[str, Callable[[bytes], tuple[int, int]]]] = {
    "pipeline": run_pipeline,
    "bare": run_bare,
}


# --- part 1: time per photo ------------------------------------------------------------------


@dataclass
class Timing:
    median_ms: float
    p90_ms: float
    cpu_ms: float  # median CPU time of this process (all threads) per photo


@dataclass
class TimeResult:
    photo: str
    pipeline: Timing
    bare: Timing
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.pipeline.median_ms / self.bare.median_ms

    @property
    def cpu_ratio(self) -> float:
        return self.pipeline.cpu_ms / self.bare.cpu_ms

    @property
    def valid(self) -> bool:
        return not self.notes


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: an observed value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def time_once(operation: Callable[[bytes], tuple[int, int]], data: bytes) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    operation(data)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def time_photo(photo: Photo, *, repeat: int, warmup: int) -> TimeResult:
    data = photo.path.read_bytes()
    notes = []
    for name, operation in OPERATIONS.items():
        size = operation(data)  # also the first warm-up
        if size != photo.upright:
            notes.append(f"{name} produced {size[0]}x{size[1]}, expected {photo.upright}")
    for _ in range(warmup - 1):
        for operation in OPERATIONS.values():
            operation(data)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in OPERATIONS}
    for i in range(repeat):
        # Alternate which goes first, so a drift in machine speed hits both alike.
        order = list(OPERATIONS) if i % 2 == 0 else list(reversed(OPERATIONS))
        for name in order:
            samples[name].append(time_once(OPERATIONS[name], data))

    def timing(name: str) -> Timing:
        wall = [w for w, _ in samples[name]]
        return Timing(
            median_ms=statistics.median(wall),
            p90_ms=percentile(wall, 90),
            cpu_ms=statistics.median(c for _, c in samples[name]),
        )

    return TimeResult(photo.name, timing("pipeline"), timing("bare"), notes)


def print_times(results: list[TimeResult], repeat: int, warmup: int) -> None:
    print(
        f"part 1 - ms per photo, {repeat} interleaved runs after {warmup} warm-ups; pipeline ="
        f" sanitise + provenance + hashes, bare = Pillow open + exif_transpose + JPEG"
        f" q{DEFAULT_QUALITY}"
    )
    header = (
        f"{'photo':<11} {'pipe med':>8} {'p90':>7} {'cpu':>7} {'bare med':>9} {'p90':>7} "
        f"{'cpu':>7} {'ratio':>6} {'cpu ratio':>9}  valid"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        p, b = r.pipeline, r.bare
        print(
            f"{r.photo:<11} {p.median_ms:>8.1f} {p.p90_ms:>7.1f} {p.cpu_ms:>7.1f} "
            f"{b.median_ms:>9.1f} {b.p90_ms:>7.1f} {b.cpu_ms:>7.1f} {r.ratio:>6.2f} "
            f"{r.cpu_ratio:>9.2f}  {'yes' if r.valid else 'NO: ' + '; '.join(r.notes)}"
        )
    print("(ratio = pipeline median / bare median wall time; cpu = CPU time of this process,")
    print(" all threads - less disturbed by other load than wall time on a shared machine)")


# --- part 2: peak memory per worker ------------------------------------------------------------


@dataclass
class RssResult:
    photo: str
    mode: str
    idle_mb: float  # after importing the pipeline, before reading the photo
    warm_mb: float  # resident after the first photo (what stays between photos)
    peak_mb: float
    last_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.notes


def proc_status_kb(pid: int | str, key: str) -> int:
    """A ``VmHWM``/``VmRSS`` line of /proc/PID/status, in kB (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_child(mode: str, path: str, runs: int) -> tuple[int, int, int, float, tuple[int, int]]:
    """Runs in a fresh spawned process: (idle kB, warm kB, peak kB, ms of the last run, output
    size). Idle: after the imports; warm: resident after the first photo, whose objects are
    freed by then (what lazily initialised libraries such as c2pa and scipy keep); peak: the
    high-water mark after ``runs`` photos.

    VmHWM, not ``ru_maxrss``: after fork + exec, ``getrusage`` still reports the parent's peak
    (Linux keeps the pre-exec maximum in the signal struct), which here is hundreds of MB of
    generated images. VmHWM belongs to the address space the exec created."""
    idle = proc_status_kb("self", "VmHWM")
    data = Path(path).read_bytes()
    size, elapsed, warm = (0, 0), 0.0, 0
    for run in range(runs):
        start = time.perf_counter()
        size = OPERATIONS[mode](data)
        elapsed = (time.perf_counter() - start) * 1000
        if run == 0:
            warm = proc_status_kb("self", "VmRSS")
    return idle, warm, proc_status_kb("self", "VmHWM"), elapsed, size


def measure_rss(photo: Photo, mode: str) -> RssResult:
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(rss_child, mode, str(photo.path), RSS_RUNS)
            idle, warm, peak, ms, size = future.result(timeout=600)
    except (BrokenProcessPool, TimeoutError) as exc:
        return RssResult(photo.name, mode, 0.0, 0.0, 0.0, 0.0, [f"the child failed: {exc!r}"])
    result = RssResult(photo.name, mode, idle / 1024, warm / 1024, peak / 1024, ms)
    if mode == "bare" and size != photo.upright:
        result.notes.append(f"produced {size}, expected {photo.upright}")
    return result


def print_rss(results: list[RssResult]) -> None:
    print(
        f"part 2 - peak resident memory of one fresh spawned process per row ({RSS_RUNS} photos"
        " each, VmHWM)"
    )
    header = (
        f"{'photo':<11} {'mode':<8} {'idle MB':>7} {'warm MB':>7} {'peak MB':>7} {'+MB':>6} "
        f"{'ms':>6}  valid"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.photo:<11} {r.mode:<8} {r.idle_mb:>7.1f} {r.warm_mb:>7.1f} {r.peak_mb:>7.1f} "
            f"{r.peak_mb - r.idle_mb:>6.1f} {r.last_ms:>6.0f}  "
            f"{'yes' if r.valid else 'NO: ' + '; '.join(r.notes)}"
        )
    print("(idle = the same process after importing the pipeline, before reading the photo;")
    print(" warm = resident after its first photo, including the photo's bytes and the libraries")
    print(" initialised on first use; +MB = peak - idle; ms = its last photo, one sample)")


# --- part 3: report latency while photos are uploaded -------------------------------------


@dataclass
class LatencySummary:
    requests: int
    ok: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]  # every answer that was not 2xx, by status ("error" = no answer)
    max_late_ms: float  # the worst delay of a send behind its schedule (a client-side stall)
    error_sample: str = ""


@dataclass
class UploadSummary:
    completed: int  # 201, within the measured window
    per_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]  # every status seen in the window
    error_sample: str = ""


@dataclass
class ConcurrencyResult:
    rate: float
    duration_s: float
    idle: LatencySummary | None = None
    loaded: LatencySummary | None = None
    uploads: UploadSummary | None = None
    service_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.notes


def summarise(outcomes: list[tuple[int, float, str]], max_late_ms: float) -> LatencySummary:
    """``outcomes``: (status or 0 for no answer, latency ms, error body) per request."""
    latencies = [ms for _, ms, _ in outcomes] or [0.0]
    failed = [(status, body) for status, _, body in outcomes if not 200 <= status < 300]
    counts = Counter(str(status) if status else "error" for status, _ in failed)
    return LatencySummary(
        requests=len(outcomes),
        ok=len(outcomes) - len(failed),
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies),
        statuses=dict(counts),
        max_late_ms=max_late_ms,
        error_sample=failed[0][1][:300] if failed else "",
    )


async def report_load(port: int, token: str, *, rate: float, duration_s: float) -> LatencySummary:
    """``POST /v1/reports`` open-loop: one request every 1/rate s whatever the answers do, each
    timed from its send to its answer (a slow server cannot slow the load down and hide)."""
    import httpx

    from tests.benchmarks.ingest import EXAMPLE_REPORT

    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def one(client: httpx.AsyncClient) -> tuple[int, float, str]:
        body = json.dumps({"client_id": str(uuid.uuid4()), **EXAMPLE_REPORT}).encode()
        start = time.perf_counter()
        try:
            response = await client.post("/v1/reports", content=body, headers=headers)
        except httpx.HTTPError as exc:
            return 0, (time.perf_counter() - start) * 1000, repr(exc)
        return response.status_code, (time.perf_counter() - start) * 1000, response.text

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", timeout=10.0, limits=limits
    ) as client:
        tasks = []
        late = 0.0
        start = loop.time() + 0.01
        for i in range(max(1, round(rate * duration_s))):
            due = start + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            late = max(late, loop.time() - due)
            tasks.append(asyncio.create_task(one(client)))
        outcomes = await asyncio.gather(*tasks)
    return summarise(list(outcomes), late * 1000)


@dataclass
class UploadRecord:
    done_at: float  # time.monotonic()
    ms: float
    status: int  # 0: no answer (socket error, timeout)
    body: str


class Uploader(threading.Thread):
    """One client uploading distinct 12 MP JPEGs back to back, each to one of its own reports
    (a new report every UPLOADS_PER_REPORT uploads). A 503 is honoured: it waits Retry-After
    (at most MAX_RETRY_AFTER_S) as a well-behaved app would."""

    def __init__(
        self,
        port: int,
        token: str,
        base: bytes,
        counter: Iterator[int],
        stop: threading.Event,
        records: list[UploadRecord],
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.base = port, token, base
        self.counter, self.stop, self.records = counter, stop, records

    def run(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=120)
        report_id, used = "", UPLOADS_PER_REPORT
        try:
            while not self.stop.is_set():
                if used >= UPLOADS_PER_REPORT:
                    report_id, used = create_report(connection, self.token), 0
                body = jpeg_variant(self.base, next(self.counter))
                start = time.perf_counter()
                try:
                    status, retry_after, text = post_photo(connection, self.token, report_id, body)
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()  # http.client reconnects on the next request
                    status, retry_after, text = 0, None, repr(exc)
                ms = (time.perf_counter() - start) * 1000
                self.records.append(UploadRecord(time.monotonic(), ms, status, text[:300]))
                used += 1
                if status == 503:
                    self.stop.wait(min(float(retry_after or 1), MAX_RETRY_AFTER_S))
        except Exception as exc:  # a report could not be created: say so, do not hang
            self.records.append(UploadRecord(time.monotonic(), 0.0, -1, repr(exc)[:300]))
        finally:
            connection.close()


def create_report(connection: http.client.HTTPConnection, token: str) -> str:
    from tests.benchmarks.ingest import EXAMPLE_REPORT

    body = json.dumps({"client_id": str(uuid.uuid4()), **EXAMPLE_REPORT}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("POST", "/v1/reports", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 201:
        raise BenchmarkError(f"POST /v1/reports answered {response.status}: {answer[:300]!r}")
    report_id: str = json.loads(answer)["id"]
    return report_id


def post_photo(
    connection: http.client.HTTPConnection, token: str, report_id: str, body: bytes
) -> tuple[int, str | None, str]:
    """(status, Retry-After header, body) of one upload: the raw JPEG as the request body."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
    connection.request("POST", f"/v1/reports/{report_id}/photos", body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    return response.status, response.getheader("Retry-After"), text


def check_photo_endpoint(port: int, token: str, photo: Photo, base: bytes) -> None:
    """One upload to a report this device just created: 201 with the documented fields."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        report_id = create_report(connection, token)
        status, _, text = post_photo(connection, token, report_id, jpeg_variant(base, 0))
    finally:
        connection.close()
    if status == 404:
        raise BenchmarkError(
            "POST /v1/reports/{id}/photos answered 404 for a report this device has just"
            " created: the service has no photo endpoint yet (api/routes/photos.py)"
            f" - {text[:200]}"
        )
    if status != 201:
        raise BenchmarkError(f"the first photo upload answered {status}: {text[:500]}")
    answer = json.loads(text)
    missing = PHOTO_FIELDS - set(answer)
    if missing:
        raise BenchmarkError(f"the photo answer lacks {sorted(missing)}: {text[:300]}")
    if (answer["width"], answer["height"]) != photo.upright:
        raise BenchmarkError(f"the stored photo is {answer['width']}x{answer['height']}")


def summarise_uploads(records: list[UploadRecord], start: float, end: float) -> UploadSummary:
    window = [r for r in records if start <= r.done_at <= end]
    created = [r.ms for r in window if r.status == 201] or [0.0]
    counts = Counter(str(r.status) if r.status > 0 else "error" for r in window)
    failed = [r for r in records if r.status not in (200, 201, 503)]
    completed = counts.get("201", 0)
    return UploadSummary(
        completed=completed,
        per_s=completed / (end - start),
        p50_ms=percentile(created, 50),
        p99_ms=percentile(created, 99),
        statuses=dict(counts),
        error_sample=failed[0].body if failed else "",
    )


def service_peak_rss(pgid: int) -> dict[str, float]:
    """VmHWM of every process of the service's group, in MB, labelled from its command line."""
    peaks: dict[str, float] = {}
    for entry in sorted(os.listdir("/proc")):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
            continue
        if b"resource_tracker" in cmdline:
            role = "resource tracker"
        elif b"forkserver" in cmdline:
            role = "forkserver"
        elif b"multiprocessing" in cmdline:
            role = "photo worker"
        else:
            role = "server"
        peaks[f"{role} {entry}"] = proc_status_kb(entry, "VmHWM") / 1024
    return peaks


@contextmanager
def running_service(tmp: Path) -> Iterator[tuple[int, int, Path]]:
    """The service as deployed on a fresh database: (port, process group, log path)."""
    from tests.benchmarks import ingest

    with ingest.postgres_server(tmp) as server_url:
        name, dsn = asyncio.run(ingest.create_database(server_url))
        try:
            port = ingest.free_port()
            env = ingest.server_environment(dsn, tmp / "data")
            # Uploaders switch reports every UPLOADS_PER_REPORT photos; never hit the limit.
            env["PLAINSIGHT_PHOTOS_PER_REPORT"] = PHOTOS_PER_REPORT_SETTING
            log_path = tmp / "service.log"
            command = ingest.server_command("uvicorn", "service", port, 1)
            with ingest.running(command, env, log_path) as pid:
                ingest.wait_until_ready(port, "/readyz", pid, log_path)
                yield port, pid, log_path
        finally:
            asyncio.run(ingest.drop_database(server_url, name))


def measure_concurrency(photo: Photo, tmp: Path, args: argparse.Namespace) -> ConcurrencyResult:
    from tests.benchmarks import ingest

    result = ConcurrencyResult(rate=args.rate, duration_s=args.duration)
    base = photo.path.read_bytes()
    with running_service(tmp) as (port, pgid, log_path):
        token = ingest.register_device(port)
        ingest.check_one_report(port, token)
        print("    service up; photo endpoint check ...", flush=True)
        check_photo_endpoint(port, token, photo, base)
        asyncio.run(report_load(port, token, rate=args.rate, duration_s=REPORT_WARMUP_S))
        print(f"    {args.duration:g} s of reports alone ...", flush=True)
        result.idle = asyncio.run(
            report_load(port, token, rate=args.rate, duration_s=args.duration)
        )
        stop = threading.Event()
        records: list[UploadRecord] = []
        counter = itertools.count(1)
        uploaders = [Uploader(port, token, base, counter, stop, records) for _ in range(UPLOADERS)]
        for uploader in uploaders:
            uploader.start()
        try:
            wait_for_uploads(records, UPLOADERS)
            print(f"    {args.duration:g} s of reports with {UPLOADERS} uploaders ...", flush=True)
            start = time.monotonic()
            result.loaded = asyncio.run(
                report_load(port, token, rate=args.rate, duration_s=args.duration)
            )
            end = time.monotonic()
        finally:
            stop.set()
            for uploader in uploaders:
                uploader.join(timeout=180)
        result.uploads = summarise_uploads(records, start, end)
        result.service_peak_rss_mb = service_peak_rss(pgid)
        log_tail = ingest.tail(log_path, 10)
    judge_concurrency(result, records, log_tail)
    return result


def wait_for_uploads(records: list[UploadRecord], count: int) -> None:
    """Until ``count`` uploads have finished: the photo workers are started and warm."""
    deadline = time.monotonic() + UPLOAD_WARMUP_TIMEOUT_S
    while len(records) < count:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"fewer than {count} uploads in {UPLOAD_WARMUP_TIMEOUT_S:g} s")
        time.sleep(0.05)
    broken = [r for r in records if r.status not in (200, 201, 503)]
    if broken:
        raise BenchmarkError(f"an upload failed during warm-up ({broken[0].status}): {broken[0]}")


def judge_concurrency(result: ConcurrencyResult, records: list[UploadRecord], log: str) -> None:
    for label, load in (("alone", result.idle), ("with uploads", result.loaded)):
        if load is not None and load.ok != load.requests:
            result.notes.append(
                f"report POSTs {label}: {load.requests - load.ok} not 2xx {load.statuses}"
                f" {load.error_sample[:200]}"
            )
    broken = [r for r in records if r.status not in (200, 201, 503)]
    if broken:
        result.notes.append(
            f"{len(broken)} uploads failed (first: {broken[0].status} {broken[0].body[:200]})"
            f"\n    service log:\n{log}"
        )
    replays = sum(1 for r in records if r.status == 200)
    if replays:
        result.notes.append(f"{replays} uploads were answered as replays (200): not distinct")
    if result.uploads is not None and result.uploads.completed == 0:
        result.notes.append("no upload completed while the reports were measured")


def print_concurrency(result: ConcurrencyResult) -> None:
    print(
        f"part 3 - POST /v1/reports open-loop at {result.rate:g}/s for {result.duration_s:g} s,"
        f" alone and while {UPLOADERS} clients upload 12 MP JPEGs back to back"
    )
    header = (
        f"{'reports':<13} {'requests':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'not 2xx':>7} {'send lag ms':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, load in (("alone", result.idle), (f"{UPLOADERS} uploads", result.loaded)):
        if load is None:
            continue
        print(
            f"{label:<13} {load.requests:>8} {load.p50_ms:>7.1f} {load.p90_ms:>7.1f} "
            f"{load.p99_ms:>7.1f} {load.max_ms:>7.1f} {load.requests - load.ok:>7} "
            f"{load.max_late_ms:>11.1f}"
        )
    uploads = result.uploads
    if uploads is not None:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(uploads.statuses.items()))
        overloaded = uploads.statuses.get("503", 0)
        print(
            f"uploads in the window: {uploads.completed} stored ({uploads.per_s:.2f}/s), "
            f"p50 {uploads.p50_ms:.0f} ms, p99 {uploads.p99_ms:.0f} ms; 503 (queue full): "
            f"{overloaded}; statuses {{{statuses}}}"
        )
    if result.service_peak_rss_mb:
        peaks = ", ".join(f"{k} {v:.0f} MB" for k, v in result.service_peak_rss_mb.items())
        print(f"service processes, peak RSS (VmHWM): {peaks}")
    print("(send lag: the worst delay of the client's own schedule; above a few ms the client")
    print(" itself was starved of CPU and the latencies include some of that)")
    for note in result.notes:
        print(f"  INVALID: {note}")


# --- part 4: one upload's HTTP round trip against bare Pillow ---------------------------------


@dataclass
class RoundTripResult:
    photo: str
    photo_workers: int
    upload: Timing  # wall: send to the whole answer; cpu: the service's processes, mean
    bare: Timing  # in this process, on the same bytes; cpu: mean
    upload_bytes: int
    stored_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.upload.median_ms / self.bare.median_ms

    @property
    def cpu_ratio(self) -> float:
        return self.upload.cpu_ms / self.bare.cpu_ms

    @property
    def valid(self) -> bool:
        return not self.notes


def time_bare(data: bytes) -> tuple[float, float, tuple[int, int]]:
    """In a child: (wall ms, CPU ms, upright size) of bare Pillow on ``data``."""
    wall, cpu = time_once(run_bare, data)
    return wall, cpu, run_bare(data)


def group_cpu_ms(pgid: int) -> float:
    """CPU time (user + system) used so far by the living processes of a process group."""
    from tests.benchmarks import ingest

    ticks = sum(cpu for _, group, cpu in ingest._proc_stats().values() if group == pgid)
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def photo_worker_count(pgid: int) -> int:
    return sum(1 for role in service_peak_rss(pgid) if role.startswith("photo worker"))


def measure_round_trip(photo: Photo, tmp: Path, args: argparse.Namespace) -> RoundTripResult:
    """Distinct variants of ``photo`` uploaded one at a time on one keep-alive connection
    (nothing else running), each timed from the first byte sent to the last byte of the answer,
    interleaved with bare Pillow on the same bytes in a child process."""
    from tests.benchmarks import ingest

    base = photo.path.read_bytes()
    notes: list[str] = []
    uploads: list[tuple[float, float]] = []
    bares: list[tuple[float, float]] = []
    stored_bytes = 0
    with running_service(tmp) as (port, pgid, log_path):
        token = ingest.register_device(port)
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        report_id, used = "", ROUND_TRIP_UPLOADS_PER_REPORT

        def upload(body: bytes) -> tuple[float, float]:
            nonlocal report_id, used, stored_bytes
            if used >= ROUND_TRIP_UPLOADS_PER_REPORT:
                report_id, used = create_report(connection, token), 0
            used += 1
            cpu = group_cpu_ms(pgid)
            start = time.perf_counter()
            status, _, text = post_photo(connection, token, report_id, body)
            wall = (time.perf_counter() - start) * 1000
            cpu = group_cpu_ms(pgid) - cpu
            if status != 201:
                notes.append(f"an upload answered {status}: {text[:300]}")
                return wall, cpu
            answer = json.loads(text)
            if (answer["width"], answer["height"]) != photo.upright:
                notes.append(f"stored {answer['width']}x{answer['height']}, not {photo.upright}")
            stored_bytes = answer["bytes"]
            return wall, cpu

        def bare(body: bytes) -> tuple[float, float]:
            wall, cpu, size = bare_pool.submit(time_bare, body).result()
            if size != photo.upright:
                notes.append(f"bare Pillow produced {size}, not {photo.upright}")
            return wall, cpu

        counter = itertools.count(1)
        # Bare Pillow in a process of its own, spawned as the photo workers are, with Pillow's
        # defaults: not in this one, where part 1 has run the pipeline (which lets Pillow keep
        # freed image memory, see storage.photos.pipeline) and generated the photos.
        bare_pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            # The pool of photo workers starts on the first upload: not measured.
            for _ in range(max(2, args.warmup)):
                body = jpeg_variant(base, next(counter))
                upload(body)
                bare(body)
            for i in range(args.repeat):
                body = jpeg_variant(base, next(counter))
                if i % 2 == 0:
                    uploads.append(upload(body))
                    bares.append(bare(body))
                else:
                    bares.append(bare(body))
                    uploads.append(upload(body))
            workers = photo_worker_count(pgid)
        finally:
            connection.close()
            bare_pool.shutdown(cancel_futures=True)
        if notes:
            notes.append(f"service log:\n{ingest.tail(log_path, 10)}")

    def timing(samples: list[tuple[float, float]]) -> Timing:
        wall = [w for w, _ in samples]
        return Timing(
            median_ms=statistics.median(wall),
            p90_ms=percentile(wall, 90),
            cpu_ms=statistics.fmean(c for _, c in samples),
        )

    return RoundTripResult(
        photo.name, workers, timing(uploads), timing(bares), len(base), stored_bytes, notes
    )


def print_round_trip(result: RoundTripResult, repeat: int) -> None:
    print(
        f"part 4 - one upload's HTTP round trip (POST /v1/reports/{{id}}/photos, raw image/jpeg,"
        f" uvicorn over loopback, {result.photo_workers} photo worker(s) as configured by"
        f" default) against bare Pillow on the same bytes in this process; {repeat}"
        " interleaved runs"
    )
    header = (
        f"{'photo':<11} {'upload med':>10} {'p90':>7} {'cpu':>7} {'bare med':>9} {'p90':>7} "
        f"{'cpu':>7} {'ratio':>6} {'cpu ratio':>9}  valid"
    )
    print(header)
    print("-" * len(header))
    u, b = result.upload, result.bare
    print(
        f"{result.photo:<11} {u.median_ms:>10.1f} {u.p90_ms:>7.1f} {u.cpu_ms:>7.1f} "
        f"{b.median_ms:>9.1f} {b.p90_ms:>7.1f} {b.cpu_ms:>7.1f} {result.ratio:>6.2f} "
        f"{result.cpu_ratio:>9.2f}  {'yes' if result.valid else 'NO'}"
    )
    print(
        f"uploaded {result.upload_bytes / MB:.2f} MB, stored {result.stored_bytes / MB:.2f} MB"
        f" (quality {DEFAULT_QUALITY})"
    )
    print("(upload = send to the whole answer; its cpu = mean CPU of every process of the")
    print(" service - server and photo workers - per upload, in 10 ms clock ticks; PostgreSQL")
    print(" not counted. bare = Pillow open + exif_transpose + JPEG save with Pillow's defaults,")
    print(" timed inside a spawned process of its own)")
    for note in result.notes:
        print(f"  INVALID: {note}")


# --- targets, output ---------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "meets" if met else "misses"


def target_lines(
    times: list[TimeResult],
    rss: list[RssResult],
    concurrency: ConcurrencyResult | None,
    round_trip: RoundTripResult | None = None,
) -> list[str]:
    lines = []
    if times:
        parts = [
            f"{r.photo} {r.ratio:.2f} ({verdict(r.ratio <= TARGET_RATIO)}; cpu {r.cpu_ratio:.2f})"
            for r in times
        ]
        lines.append(f"time pipeline/bare <= {TARGET_RATIO}: " + ", ".join(parts))
    budget = {r.mode: r for r in rss if r.photo == BUDGET_PHOTO and r.valid}
    if "pipeline" in budget:
        peak = budget["pipeline"].peak_mb
        bare = f" (bare Pillow: {budget['bare'].peak_mb:.0f} MB)" if "bare" in budget else ""
        lines.append(
            f"peak RSS per worker at the 40 MP budget <= {TARGET_RSS_MB:.0f} MB: "
            f"{peak:.0f} MB ({verdict(peak <= TARGET_RSS_MB)}){bare}"
        )
    if concurrency is not None and concurrency.loaded is not None:
        p99 = concurrency.loaded.p99_ms
        alone = f" (alone: {concurrency.idle.p99_ms:.1f} ms)" if concurrency.idle else ""
        lines.append(
            f"report POST p99 with {UPLOADERS} uploads running <= {TARGET_P99_MS:.0f} ms: "
            f"{p99:.1f} ms ({verdict(p99 <= TARGET_P99_MS)}){alone}"
        )
    if round_trip is not None:
        r = round_trip
        lines.append(
            f"upload round trip / bare Pillow <= {TARGET_RATIO}: {r.photo} {r.ratio:.2f}"
            f" ({r.upload.median_ms:.0f} ms against {r.bare.median_ms:.0f} ms;"
            f" {verdict(r.ratio <= TARGET_RATIO)}; cpu {r.cpu_ratio:.2f})"
        )
    return lines


def load_warning() -> str | None:
    load = os.getloadavg()[0]
    cpus = len(os.sched_getaffinity(0))
    if load > 0.5 * cpus:
        return (
            f"warning: 1-minute load average {load:.2f} on {cpus} usable CPUs: other work is"
            " running, times and latencies will be disturbed (compare the cpu columns)"
        )
    return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.photos",
        description="The photo pipeline against bare Pillow: time, memory, report latency.",
    )
    parser.add_argument("--parts", default="1,2,3,4", help="comma list of 1, 2, 3, 4 (default all)")
    parser.add_argument(
        "--repeat", type=int, default=10, help="timed runs per photo (parts 1 and 4)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="warm-up runs per photo (parts 1 and 4)"
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="measured seconds per report load (part 3)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="report POSTs per second")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        args.part_set = {int(p) for p in args.parts.split(",") if p}
    except ValueError:
        parser.error("--parts takes a comma list of 1, 2, 3, 4")
    if not args.part_set or not args.part_set <= {1, 2, 3, 4}:
        parser.error("--parts takes a comma list of 1, 2, 3, 4")
    if args.repeat < 1 or args.warmup < 1 or args.duration <= 0 or args.rate <= 0:
        parser.error("--repeat, --warmup, --duration and --rate must be positive")
    return args


def needed_photos(parts: set[int]) -> set[str]:
    names: set[str] = set()
    if 1 in parts:
        names |= set(TIMED_PHOTOS)
    if 2 in parts:
        names |= {*TIMED_PHOTOS, BUDGET_PHOTO}
    if 3 in parts:
        names.add("jpeg-12mp")
    if 4 in parts:
        names.add(ROUND_TRIP_PHOTO)
    return names


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.benchmarks import ingest

    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"machine: {ingest.machine_description()}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    warning = load_warning()
    if warning:
        print(warning)
    times: list[TimeResult] = []
    rss: list[RssResult] = []
    concurrency: ConcurrencyResult | None = None
    round_trip: RoundTripResult | None = None
    failure = None
    try:
        with tempfile.TemporaryDirectory(prefix="plainsight-photo-bench-") as tmp_name:
            tmp = Path(tmp_name)
            started = time.perf_counter()
            photos = {p.name: p for p in build_photos(tmp, needed_photos(args.part_set))}
            print(f"photos (generated in {time.perf_counter() - started:.1f} s):")
            for p in photos.values():
                print(
                    f"  {p.name:<11} {p.width}x{p.height} {p.size_bytes / MB:5.1f} MB  "
                    f"{p.description}"
                )
            print(flush=True)
            if 1 in args.part_set:
                for name in TIMED_PHOTOS:
                    print(f"... part 1: {name}", flush=True)
                    times.append(time_photo(photos[name], repeat=args.repeat, warmup=args.warmup))
                print()
                print_times(times, args.repeat, args.warmup)
                print(flush=True)
            if 2 in args.part_set:
                for name in (*TIMED_PHOTOS, BUDGET_PHOTO):
                    print(f"... part 2: {name}", flush=True)
                    rss.extend(measure_rss(photos[name], mode) for mode in OPERATIONS)
                print()
                print_rss(rss)
                print(flush=True)
            if 3 in args.part_set:
                print("... part 3: starting PostgreSQL and the service", flush=True)
                concurrency = measure_concurrency(photos["jpeg-12mp"], tmp, args)
                print()
                print_concurrency(concurrency)
                print()
            if 4 in args.part_set:
                print("... part 4: starting PostgreSQL and the service", flush=True)
                round_trip = measure_round_trip(photos[ROUND_TRIP_PHOTO], tmp, args)
                print()
                print_round_trip(round_trip, args.repeat)
                print()
    except KeyboardInterrupt:
        print("interrupted; every process started here was stopped", file=sys.stderr)
        return 130
    except (BenchmarkError, ingest.BenchmarkError) as exc:
        failure = str(exc)
        print(f"photo benchmark failed: {failure}", file=sys.stderr)
    print("targets:")
    targets = target_lines(times, rss, concurrency, round_trip)
    for line in targets:
        print(f"  {line}")
    valid = (
        failure is None
        and all(r.valid for r in times)
        and all(r.valid for r in rss)
        and (concurrency is None or concurrency.valid)
        and (round_trip is None or round_trip.valid)
    )
    if not valid:
        print("the run is INVALID (see above)")
    if args.json is not None:
        payload = {
            "machine": ingest.machine_description(),
            "load_average_1min": os.getloadavg()[0],
            "part1": [{**asdict(r), "ratio": r.ratio, "valid": r.valid} for r in times],
            "part2": [{**asdict(r), "valid": r.valid} for r in rss],
            "part3": None if concurrency is None else asdict(concurrency),
            "part4": None
            if round_trip is None
            else {**asdict(round_trip), "ratio": round_trip.ratio, "valid": round_trip.valid},
            "targets": targets,
            "failure": failure,
            "valid": valid,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
