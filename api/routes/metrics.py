"""``GET /metrics``: Prometheus text for the operator's scraper, behind a bearer token.

The counters show when submissions, reviews and logins happen, so they are not public. Without
``PLAINSIGHT_METRICS_TOKEN`` the endpoint is not served at all (404, as for any unknown path);
with it, a scrape must present that token. The comparison is of SHA-256 digests in constant
time: neither the token's bytes nor its length show in the response time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, NotFoundException
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from api.middleware.auth import PUBLIC_OPT, bearer_token
from api.middleware.metrics import FOLD_LAG, FOLD_PENDING
from schemas.settings import Settings
from storage.db.pool import Database
from storage.incidents.folder import pending_state


def token_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


# Public to the bearer-token middleware (the metrics token is not an account or device token);
# the handler checks its own token.
@get("/metrics", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    settings: Settings = request.app.state.settings
    if settings.metrics_token is None:
        raise NotFoundException()
    if not token_matches(bearer_token(request), settings.metrics_token):
        raise NotAuthorizedException("the metrics token is required")
    db: Database = request.app.state.db
    async with db.acquire() as conn:
        pending, lag = await pending_state(conn)
    FOLD_PENDING.set(pending)
    FOLD_LAG.set(lag)
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES = [metrics]
