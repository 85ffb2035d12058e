"""Prometheus request metrics from a lean ASGI middleware.

Litestar's Prometheus middleware builds a Request and a label dict per request; on the ingest
path that cost as much as the report INSERT. This one reads the route template Litestar put in
the scope and keeps the labelled children in a dict, so a request costs two lookups.
Metrics are per process (with several workers, scrape each or use a push gateway).

Authentication and rate limiting are middleware inside this one and answer by raising (401,
403, 429). Litestar turns an exception into a response in an exception-handling layer around
the route handler and in another around the whole app, outside every middleware: the outer one
sends its response past this middleware's ``send``, which therefore saw no status and counted
500. So when an exception passes through before a response has started, the status counted is
the one its handler answers with (``api.errors.answered_status``). (A second exception layer
here would do the same at 7 to 8 microseconds per request, on every request.)

No ``_created`` series: prometheus_client would export, per route and status, the time of its
first request (the first failed login, the first submission after a restart). Counters and a
duration histogram say how much, not when, to whoever scrapes them.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from api.errors import answered_status

disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "plainsight_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "path", "status_code"],
)
DURATION = Histogram(
    "plainsight_request_duration_seconds",
    "Time from the request reaching the app to the last byte of the response",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# The folder (storage/incidents/folder.py): how far incidents and counts lag ingest. The gauges are
# read from the database at each scrape, so every replica reports the same.
FOLD_LAG = Gauge(
    "plainsight_fold_lag_seconds",
    "Age of the oldest report the folder has not taken in yet (0 when none)",
)
FOLD_PENDING = Gauge("plainsight_fold_pending_reports", "Reports waiting for the folder")
FOLDED_REPORTS = Counter(
    "plainsight_folded_reports", "Reports the folder took in (this process's folds)"
)

_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[tuple[str, str], Any] = {}


def record(method: str, path: str, status: int, seconds: float) -> None:
    key = (method, path, status)
    counter = _counters.get(key)
    if counter is None:
        counter = _counters[key] = REQUESTS.labels(method, path, str(status))
    counter.inc()
    histogram = _histograms.get((method, path))
    if histogram is None:
        histogram = _histograms[(method, path)] = DURATION.labels(method, path)
    histogram.observe(seconds)


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note_status)
        except Exception as exc:
            status = status or answered_status(exc)
            raise
        finally:
            # The template ("/v1/reports/{report_id:uuid}"), never the raw path: no identifiers
            # in metrics and a bounded number of series.
            path = scope.get("path_template") or "unmatched"
            record(scope["method"], path, status or 500, time.perf_counter() - started)

    return middleware
