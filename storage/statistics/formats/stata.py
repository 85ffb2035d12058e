"""Stata .dta (format 118, Stata 14 and later) with value labels for the coded dimensions.

What pyreadstat can write carries the methods: the dataset label names the table and its
dataset version, each variable has a label, and the full methods follow as dataset notes
(`notes` in Stata), one `key: value` per note, added by stata_notes since pyreadstat writes
no notes or other characteristics. Suppressed counts and rates are missing (`.`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from schemas.stats import Dimension, Methods, StatsRow
from storage.statistics.formats.columns import (
    COLUMN_LABELS,
    COUNT_COLUMNS,
    column_names,
    records,
)
from storage.statistics.formats.methods import methods_lines
from storage.statistics.formats.stata_notes import add_notes
from storage.statistics.formats.value_labels import CODED, codes

STATA_VERSION = 14  # writes format 118
MAX_LABEL = 80
SUPPRESSED_LABELS: dict[int | float, str] = {0: "no", 1: "yes"}


def dataset_label(meta: Methods) -> str:
    return f"Plainsight identification {meta.filters.unit}s, dataset {meta.dataset_version}"[
        :MAX_LABEL
    ]


def dta_bytes(meta: Methods, group_by: Sequence[Dimension], rows: Sequence[StatsRow]) -> bytes:
    names = column_names(group_by)
    table = records(group_by, rows)
    columns: dict[str, Any] = {}
    value_labels: dict[str, dict[int | float, str]] = {"suppressed": dict(SUPPRESSED_LABELS)}
    for name in names:
        values = [record[name] for record in table]
        if name in CODED:
            coded = dict(codes(Dimension(name)))
            for value in values:  # a value the codebook lacks keeps its own text as label
                coded.setdefault(value, (len(coded) + 1, str(value)))
            columns[name] = pd.Series([coded[v][0] for v in values], dtype="int32")
            value_labels[name] = dict(coded.values())
        elif name in COUNT_COLUMNS:
            columns[name] = pd.Series(values, dtype="Int32")  # long; None → missing (.)
        elif name == "suppressed":
            columns[name] = pd.Series([int(v) for v in values], dtype="int8")
        elif name in (d.value for d in group_by):
            columns[name] = pd.Series(values, dtype="object")
        else:
            columns[name] = pd.Series(values, dtype="float64")
    frame = pd.DataFrame(columns, columns=names)
    with tempfile.TemporaryDirectory(prefix="plainsight-dta-") as folder:
        path = Path(folder) / "export.dta"
        pyreadstat.write_dta(
            frame,
            path,
            file_label=dataset_label(meta),
            column_labels={name: COLUMN_LABELS[name][:MAX_LABEL] for name in names},
            version=STATA_VERSION,
            variable_value_labels=value_labels,
        )
        written = path.read_bytes()
    return add_notes(written, methods_lines(meta))
