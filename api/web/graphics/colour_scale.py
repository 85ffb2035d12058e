"""The map's colours: five fixed bins of the not-identified rate, from viridis.

Fixed bins (0 to 20%, 20 to 40%, …) rather than bins fitted to the data, so two maps with different
filters can be compared by eye. Viridis (van der Walt & Smith, matplotlib) is perceptually
uniform and readable with the common colour-vision deficiencies and in greyscale; it runs light
to dark here, so a higher rate is never lighter than a lower one.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class RateBin:
    low: float
    high: float
    fill: str


RATE_BINS: Final = (
    RateBin(0.0, 0.2, "#fde725"),
    RateBin(0.2, 0.4, "#5ec962"),
    RateBin(0.4, 0.6, "#21918c"),
    RateBin(0.6, 0.8, "#3b528b"),
    RateBin(0.8, 1.0, "#440154"),
)
_UPPER_EDGES: Final = tuple(rate_bin.high for rate_bin in RATE_BINS[:-1])


def bin_index(rate: float) -> int:
    """The bin of a rate in [0, 1]: each bin holds its lower edge, the last also 100%.
    Compared with the edges, not computed as int(rate * 5), which misplaces 0.6 and the like
    by floating-point error."""
    if not 0 <= rate <= 1:
        raise ValueError(f"a rate must be in [0, 1], got {rate!r}")
    return bisect_right(_UPPER_EDGES, rate)
