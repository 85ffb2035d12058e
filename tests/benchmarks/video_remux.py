"""Video benchmark: remuxing a phone video against copying the file, and a worker's memory.

    python -m tests.benchmarks.video_remux [--repeat 5] [--big-mb 1024] [--dir DIR]
                                           [--parts 1,2] [--json FILE]

Part 1 times ``storage.photos.video.sanitise_video`` (checks, the tag-free copy and its sha256)
and ``process_video`` (the same plus provenance and the poster frame's hashes) on a 1080p,
60-second phone-like H.264 + AAC MOV (QuickTime Keys location, make, model, a timecode track),
against ``shutil.copyfile`` of the same file to the same directory, interleaved, in this
process. A progressive MOV takes the box-level path (video_mp4fast.py: new moov, mdat copied by
the kernel, sha256 on a second thread); the PyAV remux is timed on the same file too, with the
box-level path switched off. Target: sanitise <= 1.5x the copy.

Part 2 sanitises a video of about ``--big-mb`` MB (the 1080p file looped with ffmpeg's stream
copy, so it stays a real H.264 + AAC MOV) in a fresh spawned process and reads that process's
peak resident memory (``ru_maxrss``) before and after. Target: <= 150 MB.

The test videos are generated once into ``--dir`` (default: a ``plainsight-video-bench`` folder
in the system temp directory) with the ffmpeg CLI (``-preset ultrafast``) and reused by later
runs. Exit status 1 when a run is invalid (a wrong answer, a crashed child), never because a
target is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import h3

from storage.photos import video as video_module
from storage.photos import video_mp4fast
from storage.photos.video import VideoLimits, process_video, sanitise_video
from storage.photos.video import _digest as digest_of
from storage.photos.video_mp4fast import fast_remux

COPY_RATIO_TARGET: Final = 1.5
RSS_TARGET_MB: Final = 150
LIMITS: Final = VideoLimits(max_seconds=4 * 3600, max_pixels=3840 * 2160, max_bytes=64 * 1024**3)
REPORTED: Final = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)
CELL: Final = h3.latlng_to_cell(40.7128, -74.0060, 9)


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=3600,
    )


def phone_video(root: Path) -> Path:
    """1080p30, 60 s, H.264 (ultrafast) + AAC in a MOV with iPhone-like metadata."""
    path = root / "phone-1080p-60s.mov"
    if path.exists():
        return path
    partial = root / "partial.mov"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=60",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "60",
        "-b:v", "16M", "-maxrate", "16M", "-bufsize", "32M",
        "-c:a", "aac", "-b:a", "128k", "-timecode", "10:00:00:00",
        "-metadata", "creation_time=2025-11-14T19:30:00Z",
        "-metadata", "com.apple.quicktime.location.ISO6709=+40.7128-074.0060+010.000/",
        "-metadata", "com.apple.quicktime.make=Apple",
        "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
        "-movflags", "use_metadata_tags", "-f", "mov", str(partial),
    )  # fmt: skip
    partial.rename(path)
    return path


def big_video(root: Path, source: Path, megabytes: int) -> Path:
    """``source`` looped (stream copy, no encoding) to at least ``megabytes`` MB."""
    path = root / f"phone-{megabytes}mb.mov"
    if path.exists():
        return path
    loops = max(0, -(-megabytes * 1024 * 1024 // source.stat().st_size) - 1)
    partial = root / "partial-big.mov"
    ffmpeg(
        "-stream_loop", str(loops), "-i", str(source), "-map", "0:v", "-map", "0:a",
        "-c", "copy", "-f", "mov", str(partial),
    )  # fmt: skip
    partial.rename(path)
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def part_remux_vs_copy(source: Path, work: Path, repeat: int) -> dict[str, Any]:
    user_copy_times: list[float] = []
    hash_times: list[float] = []
    cpu: dict[str, list[float]] = {"copy": [], "remux": []}
    pyav_times: list[float] = []
    unhashed_times: list[float] = []
    copy_times: list[float] = []
    remux_times: list[float] = []
    process_times: list[float] = []
    size = source.stat().st_size
    # Warm the page cache once for both sides, then interleave.
    shutil.copyfile(source, work / "warm.mov")
    (work / "warm.mov").unlink()
    probe = work / "probe.mp4"
    probe.touch()
    if (
        fast_remux(source, probe, max_seconds=LIMITS.max_seconds, max_pixels=LIMITS.max_pixels)
        is None
    ):
        raise SystemExit("invalid run: the phone MOV did not take the box-level path")
    probe.unlink()
    digests = set()
    target = work / "copy.mov"
    for _ in range(repeat):
        began, cpu_began = time.perf_counter(), cpu_seconds()
        shutil.copyfile(source, target)
        copy_times.append(time.perf_counter() - began)
        cpu["copy"].append(cpu_seconds() - cpu_began)
        target.unlink()

        began = time.perf_counter()
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(1024 * 1024):
                writer.write(chunk)
        user_copy_times.append(time.perf_counter() - began)
        target.unlink()

        began, cpu_began = time.perf_counter(), cpu_seconds()
        remuxed = sanitise_video(source, work, LIMITS)
        remux_times.append(time.perf_counter() - began)
        cpu["remux"].append(cpu_seconds() - cpu_began)
        digests.add(remuxed.sha256)
        began = time.perf_counter()
        if digest_of(remuxed.path)[0] != remuxed.sha256:  # a sha256 pass alone, timed
            raise SystemExit("invalid run: the reported sha256 is not the file's")
        hash_times.append(time.perf_counter() - began)
        remuxed.path.unlink()

        setattr(video_module, "fast_remux", lambda *args, **kwargs: None)  # noqa: B010
        try:
            began = time.perf_counter()
            pyav_out = sanitise_video(source, work, LIMITS)
            pyav_times.append(time.perf_counter() - began)
        finally:
            setattr(video_module, "fast_remux", fast_remux)  # noqa: B010
        pyav_out.path.unlink()

        # The box-level path with its sha256 left out: what the copy and the index cost.
        real_hash = video_mp4fast._hash
        setattr(video_mp4fast, "_hash", lambda fd, plan: "0" * 64)  # noqa: B010
        try:
            began = time.perf_counter()
            unhashed_out = sanitise_video(source, work, LIMITS)
            unhashed_times.append(time.perf_counter() - began)
        finally:
            setattr(video_mp4fast, "_hash", real_hash)  # noqa: B010
        unhashed_out.path.unlink()

        began = time.perf_counter()
        processed = process_video(
            source, work, occurred_at=REPORTED, report_cell=CELL, limits=LIMITS
        )
        process_times.append(time.perf_counter() - began)
        digests.add(processed.video.sha256)
        if not processed.provenance.had_gps:
            raise SystemExit("invalid run: the planted location was not seen")
        processed.video.path.unlink()
    if len(digests) != 1:
        raise SystemExit(f"invalid run: {len(digests)} different outputs for one input")
    user_copy = statistics.median(user_copy_times)
    hashing = statistics.median(hash_times)
    copy = statistics.median(copy_times)
    remux = statistics.median(remux_times)
    full = statistics.median(process_times)
    pyav = statistics.median(pyav_times)
    unhashed = statistics.median(unhashed_times)
    return {
        "size_mb": round(size / 1024**2, 1),
        "copy_ms": round(copy * 1000, 1),
        "remux_ms": round(remux * 1000, 1),
        "process_video_ms": round(full * 1000, 1),
        "remux_over_copy": round(remux / copy, 2),
        "read_write_copy_ms": round(user_copy * 1000, 1),
        "remux_over_read_write_copy": round(remux / user_copy, 2),
        "sha256_of_output_ms": round(hashing * 1000, 1),
        "sha256_alone_over_copy": round(hashing / copy, 2),
        "without_sha256_ms": round(unhashed * 1000, 1),
        "without_sha256_over_copy": round(unhashed / copy, 2),
        "pyav_remux_ms": round(pyav * 1000, 1),
        "pyav_remux_over_copy": round(pyav / copy, 2),
        "copy_cpu_ms": round(statistics.median(cpu["copy"]) * 1000, 1),
        "remux_cpu_ms": round(statistics.median(cpu["remux"]) * 1000, 1),
        "process_over_copy": round(full / copy, 2),
        "copy_mb_per_s": round(size / 1024**2 / copy),
        "remux_mb_per_s": round(size / 1024**2 / remux),
    }


def vm_hwm_kb() -> int:
    """This process's peak resident memory (kB) since its exec: ``VmHWM``. (``ru_maxrss`` is
    carried over from the forking parent through exec on Linux, so it is not used.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(source: str, work: str, queue: Any) -> None:
    before = vm_hwm_kb()
    result = sanitise_video(Path(source), Path(work), LIMITS)
    after = vm_hwm_kb()
    queue.put((before, after, result.size, result.duration_ms))
    result.path.unlink()


def part_memory(source: Path, work: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(str(source), str(work), queue))
    start = time.perf_counter()
    child.start()
    before, after, size, duration_ms = queue.get(timeout=3600)
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"invalid run: the child exited with {child.exitcode}")
    return {
        "input_mb": round(source.stat().st_size / 1024**2),
        "output_mb": round(size / 1024**2),
        "duration_s": round(duration_ms / 1000),
        "rss_before_mb": round(before / 1024, 1),
        "peak_rss_mb": round(after / 1024, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "plainsight-video-bench"
    )
    parser.add_argument("--parts", default="1,2")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    parts = {int(p) for p in args.parts.split(",")}
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=args.dir))
    figures: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        source = phone_video(args.dir)
        if 1 in parts:
            figures["remux_vs_copy"] = one = part_remux_vs_copy(source, work, args.repeat)
            print(
                f"1080p 60 s phone MOV, {one['size_mb']} MB (median of {args.repeat}): "
                f"copyfile {one['copy_ms']} ms, sanitise (box-level path) {one['remux_ms']} ms "
                f"({one['remux_over_copy']}x, target <= {COPY_RATIO_TARGET}x), "
                f"process_video {one['process_video_ms']} ms ({one['process_over_copy']}x)\n"
                f"  the PyAV remux of the same file {one['pyav_remux_ms']} ms "
                f"({one['pyav_remux_over_copy']}x); a sha256 pass over the output alone "
                f"{one['sha256_of_output_ms']} ms ({one['sha256_alone_over_copy']}x the copy: "
                f"the floor while the hash runs beside the copy); the box-level path with "
                f"the sha256 left out {one['without_sha256_ms']} ms "
                f"({one['without_sha256_over_copy']}x); a read/write copy loop "
                f"{one['read_write_copy_ms']} ms; CPU (user+sys): copy "
                f"{one['copy_cpu_ms']} ms, sanitise {one['remux_cpu_ms']} ms"
            )
        if 2 in parts:
            big = big_video(args.dir, source, args.big_mb)
            figures["memory"] = two = part_memory(big, work)
            print(
                f"{two['input_mb']} MB / {two['duration_s']} s video sanitised in a spawned "
                f"process in {two['seconds']} s: peak RSS {two['peak_rss_mb']} MB "
                f"(after imports {two['rss_before_mb']} MB; target <= {RSS_TARGET_MB} MB)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["load_after"] = os.getloadavg()
    print(f"load average before {figures['load_before']}, after {figures['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
