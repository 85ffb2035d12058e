"""Summaries of py-spy's raw (collapsed-stack) profiles: where the server spent its own time.

py-spy writes one line per distinct stack, ``frame;frame;...;leaf COUNT``, each frame as
``function (file:line)``. A frame's own time is the samples in which it is the leaf (native code
it calls counts as its own: py-spy runs without ``--native``); frames are summed per function
and file, over every line of the function.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class FrameShare:
    frame: str
    own_percent: float


def function_of(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``; anything else (a process or thread label) as is."""
    match = _FRAME.match(frame)
    return frame if match is None else f"{match['function']} ({match['file']})"


def own_time(lines: list[str]) -> tuple[Counter[str], int]:
    """Samples per leaf function, and the total, from the lines of a raw profile."""
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        own[function_of(stack.rsplit(";", 1)[-1])] += int(count)
        total += int(count)
    return own, total


def top_frames(path: Path, limit: int = 15) -> tuple[list[FrameShare], int]:
    """The ``limit`` functions with the most own time, in percent of all samples, and the
    number of samples."""
    own, total = own_time(path.read_text(errors="replace").splitlines())
    shares = [
        FrameShare(frame, 100.0 * samples / total) for frame, samples in own.most_common(limit)
    ]
    return shares, total


def format_top(path: Path, limit: int = 15) -> str:
    shares, total = top_frames(path, limit)
    if total == 0:
        return f"  (no samples in {path})"
    lines = [f"  top {limit} frames by own time ({total} samples, {path.name}):"]
    lines.extend(f"  {share.own_percent:5.1f}%  {share.frame}" for share in shares)
    return "\n".join(lines)
