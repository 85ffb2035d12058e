"""Incidents: the grouping rule's parameters and what one report contributes.

Two counted reports (not withdrawn, not rejected) belong to one incident when their H3 res-9
cells are within ``distance`` grid steps and their ``occurred_at`` differ by at most
``window``, transitively. The rule is applied in one place, set-based
(storage/incidents/bulk_grouping.py), by the folder (storage/incidents/folder.py), the only writer
of incident membership: a new report joins every incident with a report in its neighbourhood
(merging them when there are several); removing a report re-evaluates its incident, which may split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from schemas.codes import Agency, Tristate
from schemas.report import Agents, Identification


def classify(identification: Identification) -> str:
    """The contract's definition: any 'yes' identifies; three 'no' do not; else unclear."""
    answers = (
        identification.verbal,
        identification.badge_shown,
        identification.insignia_visible,
    )
    if Tristate.YES in answers:
        return "identified"
    if all(answer is Tristate.NO for answer in answers):
        return "not_identified"
    return "unclear"


def report_agency(agents: Agents) -> str:
    """One report's agency: the first claimed code in byte order, else the first suspected,
    else unknown (what ``incident_facts_of`` gives an incident of this one report)."""
    for codes in (agents.agencies_claimed, agents.agencies_suspected):
        known = [code.value for code in codes if code is not Agency.UNKNOWN]
        if known:
            return min(known)
    return Agency.UNKNOWN.value


@dataclass(frozen=True, slots=True)
class GroupingRule:
    distance: int
    window: timedelta


DEFAULT_GROUPING: Final = GroupingRule(2, timedelta(minutes=90))
"""The default settings' rule (PLAINSIGHT_INCIDENT_DISTANCE, ..._WINDOW_MINUTES)."""
