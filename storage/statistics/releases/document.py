"""A release document: noisy tables from exact counts, the methods in plain words, and the
receipt key's signature over the canonical JSON of the whole."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib.metadata import version as package_version

import msgspec

from schemas.codes import Agency, Masked
from schemas.releases import (
    Measurement,
    PrivacyBudget,
    PrivacyParameters,
    Release,
    ReleaseMeta,
    ReleaseRow,
    ReleaseTables,
)
from schemas.stats import StatusScope
from storage.reports.receipts import ReceiptSigner, canonical_json
from storage.statistics import privacy
from storage.statistics.releases.counts import CLASSES, RELEASE_AREA_RESOLUTION, ExactCounts

RATE_DIGITS = 4


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    """What one version is: its month and number, when and from which receipts it is made,
    under which parameters, and what earlier releases spent."""

    month: date
    version: int
    published_at: datetime
    received_through: datetime
    time_zone: str
    status: StatusScope
    delay_days: int
    epsilon: float
    delta: float
    spent_month: tuple[float, float]
    """ε and δ of the month's earlier versions."""
    spent_total: tuple[float, float]
    """ε and δ of every earlier release."""


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def build_release(counts: ExactCounts, spec: ReleaseSpec, signer: ReceiptSigner) -> Release:
    """Noise the counts, describe how, and sign."""
    budgets = privacy.split(spec.epsilon, spec.delta)
    tables = ReleaseTables(
        national=_known_keys_rows(None, {"": counts.national}, [""], budgets["national"]),
        agency=_known_keys_rows("agency", counts.agency, list(Agency), budgets["agency"]),
        masked=_known_keys_rows("masked", counts.masked, list(Masked), budgets["masked"]),
        area=_area_rows(counts.area, budgets["area_selection"], budgets["area_counts"]),
    )
    meta = ReleaseMeta(
        month=month_label(spec.month),
        version=spec.version,
        published_at=spec.published_at,
        corrects_version=spec.version - 1 if spec.version > 1 else None,
        received_through=spec.received_through,
        time_zone=spec.time_zone,
        status=spec.status.value,
        unit="incident",
        area_resolution=RELEASE_AREA_RESOLUTION,
        publication_delay_days=spec.delay_days,
        privacy=_privacy(spec, budgets),
        methods=methods(spec, budgets),
        dataset_version=dataset_version(spec, tables),
        signing_key=signer.public_key_b64,
        signing_key_id=signer.key_id,
    )
    unsigned = Release(meta=meta, tables=tables)
    signature = signer.sign(unsigned)
    return Release(meta=msgspec.structs.replace(meta, signature=signature), tables=tables)


def encode(release: Release) -> bytes:
    """The bytes stored and served: canonical JSON, so what a verifier re-encodes after
    taking ``meta.signature`` out is exactly what was signed."""
    return canonical_json(release)


def _row(key: str | None, value: str, noisy: Sequence[int], variance: float) -> ReleaseRow:
    not_identified, identified, unclear = (max(count, 0) for count in noisy)
    rate = privacy.noisy_rate(noisy[0], noisy[1], variance)
    keys = {} if key is None else {key: value}
    return ReleaseRow(
        **keys,
        total=not_identified + identified + unclear,
        not_identified=not_identified,
        identified=identified,
        unclear=unclear,
        rate_not_identified=None if rate is None else round(rate.rate, RATE_DIGITS),
        ci_low=None if rate is None else round(rate.low, RATE_DIGITS),
        ci_high=None if rate is None else round(rate.high, RATE_DIGITS),
    )


def _known_keys_rows(
    key: str | None,
    exact: Mapping[str, Mapping[str, int]],
    keys: Sequence[str],
    budget: privacy.Budget,
) -> list[ReleaseRow]:
    """Every key of the codebook, present in the data or not, each class count noised. A
    value outside the codebook cannot occur (reports are validated against it) and would be
    left out rather than have its presence shown."""
    vector = [exact[k][cls] if k in exact else 0 for k in keys for cls in CLASSES]
    noisy = privacy.noisy_counts(vector, budget)
    width = len(CLASSES)
    return [
        _row(key, k, noisy[i * width : (i + 1) * width], budget.noise_variance)
        for i, k in enumerate(keys)
    ]


def _area_rows(
    exact: Mapping[str, Mapping[str, int]],
    selection: privacy.Budget,
    counting: privacy.Budget,
) -> list[ReleaseRow]:
    totals = {area: sum(classes.values()) for area, classes in exact.items()}
    kept = sorted(privacy.thresholded_counts(totals, selection))
    return _known_keys_rows("area", exact, kept, counting)


def dataset_version(spec: ReleaseSpec, tables: ReleaseTables) -> str:
    digest = hashlib.sha256(canonical_json([month_label(spec.month), spec.version, tables]))
    return digest.hexdigest()[:24]


def _privacy(spec: ReleaseSpec, budgets: Mapping[str, privacy.Budget]) -> PrivacyParameters:
    return PrivacyParameters(
        unit="incident",
        library=f"OpenDP {package_version('opendp')}",
        epsilon=spec.epsilon,
        delta=spec.delta,
        composition="sequential: the measurements' ε and δ add up to the release's",
        measurements=[_measurement(name, budget) for name, budget in budgets.items()],
        budget=PrivacyBudget(
            release_epsilon=spec.epsilon,
            release_delta=spec.delta,
            month_epsilon=_sum(spec.spent_month[0], spec.epsilon),
            month_delta=_sum(spec.spent_month[1], spec.delta),
            total_epsilon=_sum(spec.spent_total[0], spec.epsilon),
            total_delta=_sum(spec.spent_total[1], spec.delta),
        ),
    )


def _sum(*values: float) -> float:
    # Rounded so that 0.1 + 0.2 reads as 0.3 in the published budget.
    return round(math.fsum(values), 12)


MECHANISMS = {
    "national": ("national", "discrete Laplace noise on each class count"),
    "agency": ("agency", "discrete Laplace noise on each class count of every codebook agency"),
    "masked": ("masked", "discrete Laplace noise on each class count of every masking value"),
    "area_selection": (
        "area",
        "which areas to publish: Laplace noise on each area's incident total, kept when it "
        "reaches the threshold (OpenDP make_laplace_threshold)",
    ),
    "area_counts": ("area", "discrete Laplace noise on each class count of the areas kept"),
}


def _measurement(name: str, budget: privacy.Budget) -> Measurement:
    table, mechanism = MECHANISMS[name]
    return Measurement(
        table=table,
        mechanism=mechanism,
        epsilon=round(budget.epsilon, 12),
        delta=budget.delta,
        noise_scale=round(budget.scale, 6),
        noise_standard_deviation=round(math.sqrt(budget.noise_variance), 3),
        threshold=budget.threshold,
    )


def methods(spec: ReleaseSpec, budgets: Mapping[str, privacy.Budget]) -> dict[str, str]:
    """The methods in words a journalist can follow."""
    threshold = budgets["area_selection"].threshold
    counted = (
        "reports a moderator has verified"
        if spec.status is StatusScope.VERIFIED
        else "every report not withdrawn or rejected, verified or not"
    )
    return {
        "what_is_counted": (
            f"Incidents: reports of the same event (close in place and time) are grouped and "
            f"counted once. Only {counted} count. An incident belongs to the month, in the "
            f"{spec.time_zone} time zone, of its earliest report, and to the area (H3 "
            f"resolution {RELEASE_AREA_RESOLUTION}, about 36 km²) of that report."
        ),
        "classes": (
            "An incident is 'not identified' when most of its reports say the agents gave no "
            "verbal identification, showed no badge and wore no visible insignia; "
            "'identified' when most say they did at least one of these; 'unclear' otherwise "
            "(a tie is unclear)."
        ),
        "delay_and_corrections": (
            f"The month is released once it has ended and {spec.delay_days} days have passed "
            "since the service received the last report it counts: only reports received by "
            "`received_through` are counted, by the time the service received them, not the "
            "time the reporter gives. A report received later is never added to a published "
            "version: it goes into a numbered correction of the month (version 2, 3...), "
            "published once its own delay has passed. Earlier versions stay as they were. "
            "That a correction exists shows that the month's counts changed; its figures are "
            "noised like any release's."
        ),
        "noise": (
            "Every count has random noise added (differential privacy, computed with the "
            "OpenDP library), so that no figure reveals whether any single incident is in the "
            "data. The noise is usually a few incidents either way (its standard deviation "
            "for each table is in `privacy.measurements`); large counts are barely affected, "
            "counts of a few incidents are mostly noise. Counts below zero after noise are "
            "shown as 0, and each row's total is the sum of its three shown class counts."
        ),
        "areas": (
            f"Areas are not known in advance, so an area is listed only when its noisy "
            f"incident total reaches {threshold}; an area with only a few incidents is "
            "almost never listed, so being absent does not mean an area had none. Agencies "
            "and masking values are all listed, with or without incidents."
        ),
        "rates_and_intervals": (
            "rate_not_identified = not_identified / (not_identified + identified), from the "
            "counts shown; unclear incidents are left out. The 95% interval [ci_low, ci_high] "
            "accounts for both sampling and the added noise: it is Wilson's score interval "
            "with the noise's known variance added to the score test's variance (counted "
            "17% larger, as this noise has heavier tails than the normal curve), computed "
            "from the noisy counts before they are shown as at least 0. When noise dominates, "
            "the interval is [0, 1]."
        ),
        "privacy_budget": (
            f"This version spends ε = {spec.epsilon:g} and δ = {spec.delta:g}, split between "
            "the tables; the versions of one month add up (`privacy.budget.month_epsilon`), "
            "which bounds what the month's releases together reveal about any one incident. "
            "δ is the chance, at most, that a single small area is listed at all."
        ),
        "signature": (
            "`meta.signature` is the service's Ed25519 signature (the key in "
            "`meta.signing_key`, published with its id `meta.signing_key_id` at GET "
            "/v1/receipts/keys, where it stays after the key is retired) over this document "
            "without `meta.signature`, as canonical JSON (keys sorted, no whitespace, UTF-8): any "
            "altered figure makes it fail."
        ),
    }
