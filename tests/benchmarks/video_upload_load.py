"""Report submissions while four clients upload videos through tus.

    python -m tests.benchmarks.video_upload_load [--duration 30] [--uploaders 4]
                                                 [--video-seconds 20] [--chunk-mb 1]

Starts the service as deployed (``python -m api.cli serve``, ``PLAINSIGHT_RATE_LIMITS=off``) on
a fresh database (embedded PostgreSQL in a temporary directory, or the server in
$DATABASE_URL; dropped afterwards), then measures ``POST /v1/reports`` with wrk
(``post_report.lua``, ``-t2 -c16``) twice in the same run:

1. **baseline**: nothing else running;
2. **under uploads**: ``--uploaders`` threads, each with its own device, each creating a report
   and uploading a 1080p phone-like video (H.264 + AAC in a MOV with location and make/model
   tags, made once with the ffmpeg CLI) in ``--chunk-mb`` tus PATCHes, over and over, for the
   whole measured window. The video's processing (remux, provenance, poster hashes) runs in the
   service's worker processes as in production.

Prints p50/p99/max of each run, the uploads completed (each must end 204 with
``Plainsight-Photo-Id``) and the megabytes sent. Target: p99 <= 100 ms under uploads.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.benchmarks import ingest
from tests.benchmarks.ingest import EXAMPLE_REPORT, HOST, BenchmarkError, WrkResult
from tests.benchmarks.video_remux import ffmpeg

P99_TARGET_MS: Final = 100.0
TUS_HEADERS: Final = {"Tus-Resumable": "1.0.0"}


def phone_video(root: Path, seconds: int) -> Path:
    """1080p30 H.264 (ultrafast, 8 Mb/s) + AAC in a MOV with iPhone-like tags."""
    path = root / f"phone-1080p-{seconds}s.mov"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "60",
        "-b:v", "8M", "-maxrate", "8M", "-bufsize", "16M", "-c:a", "aac", "-b:a", "128k",
        "-metadata", "creation_time=2025-11-12T19:30:00Z",
        "-metadata", "com.apple.quicktime.location.ISO6709=+40.7128-074.0060+010.000/",
        "-metadata", "com.apple.quicktime.make=Apple",
        "-movflags", "use_metadata_tags", "-f", "mov", str(path),
    )  # fmt: skip
    return path


@dataclass
class Uploads:
    completed: int = 0
    bytes_sent: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request(
        method, path, body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )
    response = connection.getresponse()
    return response, response.read()


def upload_once(port: int, token: str, video: bytes, chunk: int) -> str:
    """One report and one tus upload of ``video``; the stored photo's id."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        report = json.dumps({"client_id": str(uuid.uuid4()), **EXAMPLE_REPORT}).encode()
        created, created_body = _request(
            connection,
            "POST",
            "/v1/reports",
            token,
            report,
            {"Content-Type": "application/json"},
        )
        if created.status != 201:
            raise BenchmarkError(f"POST /v1/reports answered {created.status}")
        report_id = json.loads(created_body)["id"]
        started, _ = _request(
            connection,
            "POST",
            f"/v1/reports/{report_id}/uploads",
            token,
            b"",
            {**TUS_HEADERS, "Upload-Length": str(len(video))},
        )
        location = started.getheader("Location")
        if started.status != 201 or location is None:
            raise BenchmarkError(f"tus creation answered {started.status}")
        offset = 0
        photo_id = None
        while offset < len(video):
            part = video[offset : offset + chunk]
            answer, _ = _request(
                connection,
                "PATCH",
                location,
                token,
                part,
                {
                    **TUS_HEADERS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if answer.status != 204:
                raise BenchmarkError(f"PATCH at {offset} answered {answer.status}")
            offset = int(answer.getheader("Upload-Offset") or -1)
            photo_id = answer.getheader("Plainsight-Photo-Id")
        if photo_id is None:
            raise BenchmarkError("the last PATCH named no stored photo")
        return photo_id
    finally:
        connection.close()


def uploader(
    port: int, token: str, video: bytes, chunk: int, stop: threading.Event, uploads: Uploads
) -> None:
    while not stop.is_set():
        try:
            upload_once(port, token, video, chunk)
        except (BenchmarkError, OSError, ValueError, KeyError) as exc:
            with uploads.lock:
                uploads.failures.append(str(exc))
            return
        with uploads.lock:
            uploads.completed += 1
            uploads.bytes_sent += len(video)


@dataclass
class LoadRun:
    baseline: WrkResult
    loaded: WrkResult
    uploads: Uploads
    video_bytes: int


def run(args: argparse.Namespace, tmp: Path, server_url: str) -> LoadRun:
    print(f"    making a {args.video_seconds} s 1080p video with ffmpeg ...", flush=True)
    video = phone_video(tmp, args.video_seconds).read_bytes()
    name, dsn = asyncio.run(ingest.create_database(server_url))
    port = ingest.free_port()
    log_path = tmp / "service.log"
    try:
        command = ingest.server_command("uvicorn", "service", port, 1)
        with ingest.running(command, ingest.server_environment(dsn, tmp / "data"), log_path) as pid:
            ingest.wait_until_ready(port, "/readyz", pid, log_path)
            token = ingest.register_device(port)
            ingest.check_one_report(port, token)
            # One upload first: the workers start and the path is known to work.
            upload_once(port, ingest.register_device(port), video, args.chunk_mb * 1024 * 1024)
            load = {"threads": 2, "connections": args.connections}
            ingest.run_wrk(port, token, duration_s=args.warmup, **load)
            baseline = ingest.run_wrk(port, token, duration_s=args.duration, **load)
            uploads = Uploads()
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=uploader,
                    args=(
                        port,
                        ingest.register_device(port),
                        video,
                        args.chunk_mb * 1024 * 1024,
                        stop,
                        uploads,
                    ),
                    daemon=True,
                )
                for _ in range(args.uploaders)
            ]
            for thread in threads:
                thread.start()
            time.sleep(2)  # every uploader is sending before the window opens
            loaded = ingest.run_wrk(port, token, duration_s=args.duration, **load)
            stop.set()
            for thread in threads:
                thread.join(timeout=300)
    finally:
        asyncio.run(ingest.drop_database(server_url, name))
    return LoadRun(baseline=baseline, loaded=loaded, uploads=uploads, video_bytes=len(video))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--video-seconds", type=int, default=20)
    parser.add_argument("--chunk-mb", type=int, default=1)
    return parser.parse_args(argv)


def line(label: str, result: WrkResult) -> str:
    return (
        f"{label:<16} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  max {result.max_ms:7.2f} ms  errors {result.errors}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not ingest.start_benchmark("video upload load benchmark", ["uvicorn"]):
        return 2
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    result = ingest.in_workspace(
        "video upload load benchmark", lambda tmp, server_url, _pgdata: run(args, tmp, server_url)
    )
    if isinstance(result, int):
        return result
    up = result.uploads
    print()
    print(line("baseline", result.baseline))
    print(line(f"{args.uploaders} uploading", result.loaded))
    print(
        f"uploads completed: {up.completed} of {result.video_bytes / 1e6:.1f} MB "
        f"({up.bytes_sent / 1e6:.0f} MB sent), failures: {len(up.failures)}"
    )
    for failure in up.failures:
        print(f"  upload failed: {failure}")
    verdict = "meets" if result.loaded.p99_ms <= P99_TARGET_MS else "misses"
    print(
        f"p99 under uploads {result.loaded.p99_ms:.2f} ms {verdict} the {P99_TARGET_MS} ms target"
    )
    valid = not up.failures and not result.loaded.errors and not result.baseline.errors
    return 0 if valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
