"""Small-cell suppression with complementary suppression for published statistics.

A statistic is published as cells, one per combination of grouping-dimension values. A cell
whose total is below the threshold k is suppressed (primary suppression), so that nobody can
read off how few reports there are for, say, one month in one small area.

Every coarser grouping of the same reports can be queried on its own, so suppressing the small
cell is not enough: if a coarse group's total is published and exactly one of its fine cells is
hidden, the hidden count is the coarse total minus the visible cells. Complementary suppression
therefore also hides, in every such group, the smallest visible cell, so that at least two
unknowns remain; repeated until no coarse grouping has a group with exactly one hidden cell.

Coarser groupings: each dimension can be kept, replaced by one of its coarser levels (an H3
cell by its parent at a lower resolution) or dropped; every combination except "keep them all"
is a coarser grouping, including "drop them all", the grand total.

A coarse group is taken to be published when its total reaches the threshold, which is
conservative: the coarse query suppresses its own groups too. A group with exactly one hidden
cell and any visible cell is always published here, since visible cells are at least the
threshold on their own; that is why the totals of the coarse groups never have to be added up.

What this does not guarantee (limits of the rule, not of the code):

* A published group whose only hidden cell has no visible companion is left alone: nothing in
  this table can be hidden with it. That cell is then a complement (a small cell alone makes a
  total below the threshold), so the count disclosed is at least the threshold, but it can be
  the first step of a chain of subtractions back to a small cell. This is common in sparse
  tables: a month with reports in one area only has that cell as its month total. Such tables
  are determined by their published margins whatever this table hides; only suppressing coarse
  groups too, coordinated with this table, can protect them.
* Only single subtractions are considered: no linear algebra across groupings, no exploiting
  that several hidden cells sum to zero or to a known small number.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Coarsening = Callable[[str], str]
"""Maps a dimension value to the value of a coarser level (an H3 cell to its parent, ...)."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One published row: the grouping-dimension values and the three outcome counts."""

    key: tuple[str, ...]
    """Dimension values, in group_by order."""
    not_identified: int
    identified: int
    unclear: int

    def __post_init__(self) -> None:
        if min(self.not_identified, self.identified, self.unclear) < 0:
            raise ValueError(f"negative count in cell {self.key}")

    @property
    def total(self) -> int:
        return self.not_identified + self.identified + self.unclear


def suppressed_cells(
    cells: Sequence[Cell],
    threshold: int,
    coarsenings: Sequence[Sequence[Coarsening]],
) -> frozenset[int]:
    """Indexes (into cells) of every cell to publish as suppressed: primary and complementary.

    ``threshold`` is k: cells with a total below it are suppressed. ``coarsenings[i]`` lists
    the extra coarser levels of dimension i, each as a function of the cell's own value
    (empty for most dimensions; for an H3 area at resolution 7, [to_res6, to_res5]);
    dropping a dimension is always considered and need not be listed.

    Complementary suppression hides, in a coarse group with exactly one hidden cell, the
    visible cell with the smallest total, ties going to the smallest key. Groupings are
    visited finest first (fewest dimensions coarsened; then dimension by dimension, each one's
    levels in the order given, dropping last), in passes until a pass changes nothing. The
    result depends only on the set of cells, not on their order in ``cells``.
    """
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    dims = len(coarsenings)
    n = len(cells)
    keys: list[tuple[str, ...]] = list(map(_KEY, cells))
    if any(length != dims for length in set(map(len, keys))):
        raise ValueError(f"every cell key must have {dims} dimension values")
    if len(set(keys)) != n:
        raise ValueError("duplicate cell keys")

    totals: list[int] = list(map(_TOTAL, cells))
    hidden = bytearray(map(threshold.__gt__, totals))
    if not any(hidden):
        return frozenset()
    # Visible cells, smallest total first, ties by key: the order complements are chosen in.
    # (Bulk builtins instead of Python loops throughout: this runs on tens of thousands of
    # cells times dozens of groupings.)
    groupings = _grouping_keys(keys, coarsenings)
    # Per grouping: cells per group, hidden cells per group, and the groups to look at: at the
    # start those with exactly one hidden cell, later those that got their first one.
    sizes = [Counter(grouping) for grouping in groupings]
    # A cell alone in some coarse group is published anyway, as that group's total: hiding it
    # protects less (an attacker reads it there, then subtracts), so every such cell comes
    # after all the others as a complement, and is chosen only when nothing else is left.
    exposed = bytearray(n)
    for grouping, size in zip(groupings, sizes, strict=True):
        singles = {key for key, count in size.items() if count == 1}
        if singles:
            for i in itertools.compress(range(n), map(singles.__contains__, grouping)):
                exposed[i] = 1
    visible = itertools.compress(range(n), map(operator.not_, hidden))
    candidates = sorted(
        sorted(sorted(visible, key=keys.__getitem__), key=totals.__getitem__),
        key=exposed.__getitem__,
    )
    counts = [Counter(itertools.compress(grouping, hidden)) for grouping in groupings]
    touched = [
        list(itertools.compress(counter.keys(), map(operator.eq, counter.values(), _ONES)))
        for counter in counts
    ]
    # Complements in the order they were hidden; each grouping catches up on it only when it
    # is next looked at, in one batch (far fewer calls, and one grouping's data at a time).
    log: list[int] = []
    seen = [0] * len(groupings)
    # A grouping with a hidden cell in every group can never again get a group with exactly
    # one (counts only grow), so it is done with once its open groups have been looked at.
    done = [False] * len(groupings)

    stale = 0  # hidden cells still listed in candidates
    changed = True
    while changed:
        changed = False
        for g, (grouping, size, counter, todo) in enumerate(
            zip(groupings, sizes, counts, touched, strict=True)
        ):
            if done[g]:
                continue
            if seen[g] < len(log):
                picked = list(map(grouping.__getitem__, log[seen[g] :]))
                seen[g] = len(log)
                # Only groups that had no hidden cell yet can newly have exactly one.
                todo.extend(itertools.filterfalse(counter.__contains__, picked))
                counter.update(picked)
            if not todo:
                continue
            todo_keys = list(set(todo))
            todo.clear()
            # Exactly one hidden cell and at least one visible one, i.e. more than one cell.
            single = map(operator.eq, map(counter.__getitem__, todo_keys), _ONES)
            shared = map(operator.gt, map(size.__getitem__, todo_keys), _ONES)
            remaining = set(itertools.compress(todo_keys, map(operator.and_, single, shared)))
            if not remaining:
                done[g] = len(counter) == len(size)
                continue
            # Groups of one grouping are disjoint, so resolving them together is the same as
            # one at a time. The filter runs in C and sees `remaining` shrink, so the loop
            # body runs once per group: for its smallest visible cell. Groups whose hidden
            # cell has no visible companion stay unresolved (see the module docstring).
            in_remaining = map(remaining.__contains__, map(grouping.__getitem__, candidates))
            wanted = map(operator.gt, in_remaining, map(hidden.__getitem__, candidates))
            picks = []
            for i in itertools.compress(candidates, wanted):
                remaining.discard(grouping[i])
                picks.append(i)
                if not remaining:
                    break
            changed = True  # a group in `remaining` has a visible cell, so picks is not empty
            done[g] = len(counter) == len(size)
            for i in picks:
                hidden[i] = 1
            log.extend(picks)
            stale += len(picks)
            if stale * 4 > len(candidates):
                still_visible = map(operator.not_, map(hidden.__getitem__, candidates))
                candidates = list(itertools.compress(candidates, still_visible))
                stale = 0

    return frozenset(itertools.compress(range(n), hidden))


_KEY = operator.attrgetter("key")
_TOTAL = operator.attrgetter("total")
_ONES = itertools.repeat(1)  # endless, so one shared iterator serves every map()


def _grouping_keys(
    keys: Sequence[tuple[str, ...]], coarsenings: Sequence[Sequence[Coarsening]]
) -> list[list[int]]:
    """For every coarser grouping, finest first: each cell's group, as an int per cell.

    A group is numbered in mixed radix, one digit per dimension: the dense code of the
    dimension's value at the grouping's level, 0 for a dropped dimension. A coarser grouping
    differs from the cells' own keys by a fixed per-cell amount for each dimension it
    coarsens, so each grouping is one C-level ``map(add)`` over a finer one.
    """
    columns = [list(map(operator.itemgetter(d), keys)) for d in range(len(coarsenings))]
    root = [0] * len(keys)
    stride = 1
    # deltas[d][level - 1]: per cell, what replacing dimension d by that level adds to a key.
    deltas: list[list[list[int]]] = []
    for column, levels in zip(columns, coarsenings, strict=True):
        values = list(dict.fromkeys(column))
        code_of = {value: code for code, value in enumerate(values)}
        codes = list(map(code_of.__getitem__, column))
        root = list(map(operator.add, root, map(operator.mul, codes, itertools.repeat(stride))))
        per_level: list[list[int]] = []
        for coarsen in levels:
            coarse = [coarsen(value) for value in values]  # once per distinct value
            coarse_code = {value: code for code, value in enumerate(dict.fromkeys(coarse))}
            shift = [(coarse_code[c] - code) * stride for code, c in enumerate(coarse)]
            per_level.append(list(map(shift.__getitem__, codes)))
        dropped = [-code * stride for code in range(len(values))]  # the digit becomes 0
        per_level.append(list(map(dropped.__getitem__, codes)))
        deltas.append(per_level)
        stride *= len(values)

    # Option 0 keeps a dimension, option j > 0 applies deltas[d][j - 1].
    options = itertools.product(*(range(len(levels) + 1) for levels in deltas))
    vectors = sorted(
        (vector for vector in options if any(vector)),
        key=lambda vector: (sum(1 for option in vector if option), vector),
    )
    derived: dict[tuple[int, ...], list[int]] = {(0,) * len(deltas): root}
    for vector in vectors:
        # A finer grouping differing in the last changed dimension was derived before.
        d = max(d for d, option in enumerate(vector) if option)
        finer = derived[(*vector[:d], 0, *vector[d + 1 :])]
        derived[vector] = list(map(operator.add, finer, deltas[d][vector[d] - 1]))
    return [derived[vector] for vector in vectors]
