"""Public releases inside ``serve``: every few minutes (the first time one interval after
start-up, like the other background tasks) one replica makes the releases and corrections
that are due (storage/statistics/releases/maker.py). Replicas race for the maker's advisory
lock; the ones that lose skip the round. An error is logged and the next round tries again.

Not at start-up: a round then ran beside a second process starting on the same database
and made its grants fail ("tuple concurrently updated";
test_a_revocation_reaches_the_token_cache_of_another_process)."""

from __future__ import annotations

import contextlib
import logging

from api.tasks.periodic import every
from storage.db.pool import Database
from storage.incidents.grouping import GroupingRule
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases.maker import ReleasePolicy, make_releases

log = logging.getLogger(__name__)


def background_releases(
    db: Database,
    policy: ReleasePolicy,
    signer: ReceiptSigner,
    rule: GroupingRule,
    interval_s: float,
) -> contextlib.AbstractAsyncContextManager[None]:
    async def release_round() -> None:
        async with db.acquire() as conn:
            published = await make_releases(conn, policy, signer, rule, wait=False)
        if published is None:
            log.debug("releases: another replica is at work; skipped")
        for release in published or ():
            log.info(
                "public release published",
                extra={"month": f"{release.month:%Y-%m}", "version": release.version},
            )

    return every(
        interval_s, release_round, log=log, failed="making public releases failed; will retry"
    )
