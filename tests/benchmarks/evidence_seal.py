"""What sealing originals costs (storage/evidence/sealer.py), on the filesystem store:

- a 3 MB phone JPEG held in memory (the single-request upload): the time ``seal`` adds to an
  upload, median of 30;
- a large file (a video handed over by a resumable upload), streamed: seconds, MB/s, and the
  peak RSS growth of this process while sealing (the worker must never hold the file).

    python -m tests.benchmarks.evidence_seal [--megabytes 1024]

Prints one line per figure. The sealed output goes to a temporary directory, removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from pyrage import x25519

from storage.evidence.sealer import EvidenceSealer
from storage.evidence.store import FilesystemSealedStore


class Original:
    def __init__(self, data: bytes | None = None, path: Path | None = None) -> None:
        self.data = data
        self.path = path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="plainsight-seal-bench-") as tmp:
        root = Path(tmp)
        key = x25519.Identity.generate()
        sealer = EvidenceSealer((str(key.to_public()),), FilesystemSealedStore(root / "sealed"))

        photo = os.urandom(3 * 1024 * 1024)
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            await sealer.seal(Original(data=photo))
            timings.append(time.perf_counter() - started)
        print(
            f"seal 3 MB in memory: median {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms (30 runs)"
        )

        big = root / "video.bin"
        chunk = os.urandom(1024 * 1024)
        with big.open("wb") as out:
            for _ in range(megabytes):
                out.write(chunk)
        del photo
        before = peak_rss_mb()
        started = time.perf_counter()
        sealed = await sealer.seal(Original(path=big))
        elapsed = time.perf_counter() - started
        grown = peak_rss_mb() - before
        print(
            f"seal {megabytes} MB file: {elapsed:.2f} s ({megabytes / elapsed:.0f} MB/s), "
            f"peak RSS grew {grown:.1f} MB (peak {peak_rss_mb():.0f} MB), "
            f"sealed {sealed.sealed_size - sealed.size} bytes larger"
        )
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    args = parser.parse_args()
    asyncio.run(run(args.megabytes))


if __name__ == "__main__":
    main()
