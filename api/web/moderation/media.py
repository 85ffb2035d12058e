"""How the moderation pages show a stored item: a photo as an image, a video as a player with
its running time."""

from __future__ import annotations


def play_time(duration_ms: int | None) -> str:
    """A running time as a clock reads it, the same in every language: ``0:07``, ``12:04``,
    ``1:02:03``; to the nearest second, and never ``0:00`` for a clip that has any length."""
    if duration_ms is None:
        return "?:??"
    seconds = (duration_ms + 500) // 1000
    if duration_ms > 0:
        seconds = max(seconds, 1)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"
