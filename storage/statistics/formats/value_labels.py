"""Numeric codes and their labels for the coded dimensions, taken from the codebook.

Stata's value labels attach to numbers, so a coded dimension is written as 1, 2, ... in the
codebook's order, labelled with the codebook's English label: the same text `GET /v1/codebook`
serves, so the two cannot disagree. The numbers follow the codebook's order and may shift when
a value is added: compare across downloads by label, not by number.
"""

from __future__ import annotations

import functools
from typing import Final

from schemas.codebook import build_codebook
from schemas.stats import Dimension

CODED: Final = {
    Dimension.AGENCY: "Agency",
    Dimension.MASKED: "Masked",
    Dimension.KIND: "ReportKind",
}
"""Each coded dimension and the codebook value set (`enum`) it takes its values from."""
LABEL_LANGUAGE: Final = "en"


@functools.cache
def codes(dimension: Dimension) -> dict[str, tuple[int, str]]:
    """value → (number, label) for a coded dimension."""
    enum = CODED[dimension]
    codebook = build_codebook(LABEL_LANGUAGE)
    for spec in (*codebook.fields, *codebook.view_fields):
        if spec.enum == enum:
            return {v.value: (n, v.label) for n, v in enumerate(spec.values, start=1)}
    raise LookupError(f"the codebook has no value set {enum!r}")
