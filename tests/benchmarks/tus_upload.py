"""Resumable upload benchmark: a large phone video sent with tus in 1 MiB PATCHes, the
connection cut off in the middle of a chunk every 20 MiB, against the service as deployed
(``plainsight serve`` on a fresh database, filesystem blob store, the real processing), and the
same file once without interruption to another report.

    python -m tests.benchmarks.tus_upload [--mib 200] [--chunk-mib 1] [--drop-every-mib 20]
                                          [--dir DIR] [--transport-only]

The video is a 1080p30 H.264 + AAC MOV with iPhone-like metadata (location included), made with
the ffmpeg CLI as tests.benchmarks.video_remux makes it and looped with stream copy to at least
``--mib`` MiB; both files are cached in ``--dir`` (the system temp directory by default) and
reused. Each upload is processed at completion as any upload is (sniffed, remuxed without the
metadata, stored); the benchmark checks that the two stored results are the same: the photo row
(sha256, content type, duration, size, hashes, provenance) and the sha256 of the blob served
by ``GET /v1/photos/{id}``.

Prints the wall time (creation to the completing PATCH's answer, processing included) and
throughput of both uploads, the number of drops and the bytes the server kept from the dropped
PATCHes, and the server's peak resident memory (VmHWM, largest process of its group).

``--transport-only`` measures the transport alone, as before the video pipeline was wired in:
the service runs with a hook (``hooked_app``) in place of the processing at completion that
streams the assembled file through sha256 and refuses it (422) with the digest and size in the
problem's detail; the file is pseudo-random bytes after an MP4 ``ftyp`` box, and the benchmark
checks that both uploads assembled exactly the bytes that were sent.

Exit status 1 when a run is invalid (a wrong answer, a digest that differs), never because of
a figure. Needs httpx (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
from litestar import Litestar
from litestar.datastructures import State

from tests.support import tus_client as tus

HOOK_CODE: Final = "benchmark_transport_only"
MIB: Final = 1024 * 1024


# --- the service, with the hook --------------------------------------------------------------


def hooked_app() -> Litestar:
    """The service (api.server), its completion processing replaced by a digest of the file."""
    from api.routes import uploads
    from api.server import app_from_environment
    from schemas.auth import Principal
    from storage.photos.formats import PhotoRejected

    class TransportOnly(PhotoRejected):
        code = HOOK_CODE
        status = 422

    async def digest_only(
        state: State, principal: Principal, report_id: uuid.UUID, original: object
    ) -> object:
        path = getattr(original, "path", None)
        assert isinstance(path, Path)

        def digest() -> tuple[str, int]:
            hasher = hashlib.sha256()
            size = 0
            with path.open("rb") as file:
                while block := file.read(MIB):
                    hasher.update(block)
                    size += len(block)
            return hasher.hexdigest(), size

        sha256, size = await asyncio.to_thread(digest)
        raise TransportOnly(f"sha256 {sha256} size {size}")

    uploads.ingest_upload = digest_only  # type: ignore[attr-defined,assignment]
    return app_from_environment()


def serve_hooked(argv: Sequence[str]) -> int:
    from api.cli import main

    return main(["serve", *argv], app_factory="tests.benchmarks.tus_upload:hooked_app")


def serve_real(argv: Sequence[str]) -> int:
    from api.cli import main

    return main(["serve", *argv])


# --- the client ------------------------------------------------------------------------------


@dataclass
class UploadRun:
    label: str
    seconds: float
    drops: int
    kept_from_drops: int
    answer: str

    def throughput(self, size: int) -> float:
        return size / MIB / self.seconds


# An ISO BMFF ftyp box with the mp42 brand: the file starts like an MP4, so the completion
# treats it as a video (no photo size limit) and hands it to the processing (the hook).
FTYP: Final = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def source_file(path: Path, size: int) -> str:
    """``size`` bytes of pseudo-random data (not compressible) after an MP4 ftyp box, written
    once; their sha256."""
    hasher = hashlib.sha256()
    with path.open("wb") as file:
        written = 0
        block = FTYP + (hashlib.sha256(b"plainsight").digest() * (MIB // 32))[len(FTYP) :]
        while written < size:
            piece = block[: min(MIB, size - written)]
            block = hashlib.sha256(block[:64]).digest() * (MIB // 32)
            file.write(piece)
            hasher.update(piece)
            written += len(piece)
    return hasher.hexdigest()


async def upload(
    base_url: str,
    token: str,
    report_id: str,
    source: Path,
    size: int,
    *,
    chunk: int,
    drop_every: int | None,
    label: str,
    transport_only: bool,
) -> UploadRun:
    dropped: set[int] = set()

    def drop(number: int, offset: int) -> bool:
        """Once per drop_every bytes: the chunk that crosses the next boundary."""
        if drop_every is None:
            return False
        boundary = (offset + chunk) // drop_every
        if boundary == offset // drop_every or boundary in dropped:
            return False
        dropped.add(boundary)
        return True

    async with httpx.AsyncClient(base_url=base_url, timeout=120.0) as client:
        with source.open("rb") as file:

            def read(offset: int, size: int) -> bytes:
                file.seek(offset)
                return file.read(size)

            started = time.perf_counter()
            created = await tus.create(client, token, report_id, size)
            if created.status_code != 201:
                raise SystemExit(f"creation answered {created.status_code}: {created.text}")
            sent = await tus.send_with_drops(
                client,
                base_url,
                token,
                created.headers["Location"],
                None,
                chunk=chunk,
                drop=drop,
                read=read,
                length=size,
                linger=0.05,
            )
            seconds = time.perf_counter() - started
    last = sent.last
    if transport_only:
        if last is None or last.status_code != 422 or last.json().get("code") != HOOK_CODE:
            shown = "nothing" if last is None else f"{last.status_code} {last.text[:200]}"
            raise SystemExit(f"the completing PATCH answered {shown}")
        return UploadRun(label, seconds, sent.drops, sent.kept, str(last.json()["detail"]))
    if last is None or last.status_code != 204 or "Plainsight-Photo-Id" not in last.headers:
        shown = "nothing" if last is None else f"{last.status_code} {last.text[:200]}"
        raise SystemExit(f"the completing PATCH answered {shown}")
    return UploadRun(label, seconds, sent.drops, sent.kept, last.headers["Plainsight-Photo-Id"])


STORED_COLUMNS: Final = (
    "sha256, content_type, duration_ms, width, height, bytes, phash, dhash, provenance::text"
)


async def stored_result(dsn: str, base_url: str, token: str, photo_id: str) -> tuple[Any, ...]:
    """The stored row's columns and the sha256 of the blob as served, streamed."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            f"select {STORED_COLUMNS} from photos where id = $1",  # noqa: S608
            uuid.UUID(photo_id),
        )
    finally:
        await conn.close()
    if row is None:
        raise SystemExit(f"no photo row {photo_id}")
    hasher = hashlib.sha256()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=120.0) as client,
        client.stream(
            "GET", f"/v1/photos/{photo_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        if response.status_code != 200:
            raise SystemExit(f"GET /v1/photos/{photo_id} answered {response.status_code}")
        async for block in response.aiter_bytes(MIB):
            hasher.update(block)
    return (*tuple(row), hasher.hexdigest())


def peak_rss_mb(pgid: int) -> float:
    """The largest VmHWM among the processes of the service's group, in MB."""
    peak = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak / 1024


def new_report(port: int, token: str) -> str:
    from tests.benchmarks import ingest
    from tests.support.helpers import observer_report

    response = httpx.post(
        f"http://{ingest.HOST}:{port}/v1/reports",
        json=observer_report(),
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 201:
        raise SystemExit(f"POST /v1/reports answered {response.status_code}: {response.text}")
    report_id: str = response.json()["id"]
    return report_id


def video_source(directory: Path, mib: int) -> Path:
    """The 1080p phone MOV looped to at least ``mib`` MiB, made once and cached."""
    from tests.benchmarks import video_remux

    directory.mkdir(parents=True, exist_ok=True)
    return video_remux.big_video(directory, video_remux.phone_video(directory), mib)


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            hasher.update(block)
    return hasher.hexdigest()


def run(args: argparse.Namespace) -> int:
    from tests.benchmarks import ingest

    with tempfile.TemporaryDirectory(prefix="plainsight-tus-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.transport_only:
            source = tmp / "source.bin"
            size = args.mib * MIB
            expected = source_file(source, size)
        else:
            source = video_source(args.dir, args.mib)
            size = source.stat().st_size
            expected = file_sha256(source)
        with ingest.postgres_server(tmp) as server_url:
            name, dsn = asyncio.run(ingest.create_database(server_url))
            try:
                port = ingest.free_port()
                env = ingest.server_environment(dsn, tmp / "data")
                env["PLAINSIGHT_MAX_UPLOAD_BYTES"] = str(max(size, 1024))
                env["PLAINSIGHT_MAX_VIDEO_BYTES"] = str(max(size, 1024 * 1024))
                log_path = tmp / "service.log"
                command = [
                    sys.executable,
                    "-m",
                    "tests.benchmarks.tus_upload",
                    "--serve" if args.transport_only else "--serve-real",
                    "--host",
                    ingest.HOST,
                    "--port",
                    str(port),
                ]
                with ingest.running(command, env, log_path) as pgid:
                    ingest.wait_until_ready(port, "/readyz", pgid, log_path)
                    token = ingest.register_device(port)
                    rss_ready = peak_rss_mb(pgid)
                    base_url = f"http://{ingest.HOST}:{port}"
                    runs = []
                    for label, drop_every in (
                        ("with drops", args.drop_every_mib * MIB),
                        ("uninterrupted", None),
                    ):
                        print(f"uploading {size / MIB:.0f} MiB {label} ...", flush=True)
                        runs.append(
                            asyncio.run(
                                upload(
                                    base_url,
                                    token,
                                    new_report(port, token),
                                    source,
                                    size,
                                    chunk=args.chunk_mib * MIB,
                                    drop_every=drop_every,
                                    label=label,
                                    transport_only=args.transport_only,
                                )
                            )
                        )
                    rss = peak_rss_mb(pgid)
                    stored = (
                        []
                        if args.transport_only
                        else [
                            asyncio.run(stored_result(dsn, base_url, token, result.answer))
                            for result in runs
                        ]
                    )
            finally:
                asyncio.run(ingest.drop_database(server_url, name))
    what = "pseudo-random bytes after an ftyp box" if args.transport_only else source.name
    mode = "transport only (hook)" if args.transport_only else "processed (remux, blob, row)"
    print(f"\nfile: {size / MIB:.1f} MiB ({what}) in {args.chunk_mib} MiB PATCHes, tus 1.0,")
    print(f"      filesystem store, {mode}")
    print(f"load: {Path('/proc/loadavg').read_text().strip()}")
    for result in runs:
        print(
            f"{result.label:<14} {result.seconds:7.2f} s  {result.throughput(size):7.1f} MiB/s"
            f"  drops {result.drops:2d}  kept from drops {result.kept_from_drops / MIB:6.2f} MiB"
        )
    print(
        f"server peak RSS (VmHWM, largest process): {rss_ready:.0f} MB when ready, "
        f"{rss:.0f} MB after both uploads"
    )
    if args.transport_only:
        wanted = f"sha256 {expected} size {size}"
        valid = all(result.answer == wanted for result in runs)
        print(f"assembled bytes equal the file sent, both uploads: {'yes' if valid else 'NO'}")
        if not valid:
            for result in runs:
                print(f"  {result.label}: {result.answer}; expected {wanted}")
        return 0 if valid else 1
    resumed, whole = stored
    columns = [*(name.split("::")[0] for name in STORED_COLUMNS.split(", ")), "blob sha256"]
    print(f"uploaded file sha256 {expected}")
    for column, value in zip(columns, whole, strict=True):
        shown = value if column != "provenance" else f"{len(value)} characters of JSON"
        print(f"  stored {column:<12} {shown}")
    same = resumed == whole
    blob_is_row = whole[0] == whole[-1]
    print(f"stored row and blob equal, with drops and uninterrupted: {'yes' if same else 'NO'}")
    print(f"blob sha256 equals the row's sha256: {'yes' if blob_is_row else 'NO'}")
    if not same:
        for column, left, right in zip(columns, resumed, whole, strict=True):
            if left != right:
                print(f"  {column}: {left!r} != {right!r}")
    valid = same and blob_is_row and whole[1] == "video/mp4" and whole[0] != expected
    return 0 if valid else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--chunk-mib", type=int, default=1)
    parser.add_argument("--drop-every-mib", type=int, default=20)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "plainsight-video-bench",
        help="where the phone video is made once and kept (shared with video_remux)",
    )
    parser.add_argument(
        "--transport-only",
        action="store_true",
        help="a hook in place of the processing: receiving, storing, resuming, assembling",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--serve"]:
        return serve_hooked(arguments[1:])
    if arguments[:1] == ["--serve-real"]:
        return serve_real(arguments[1:])
    return run(parse_args(arguments))


if __name__ == "__main__":
    sys.exit(main())
