"""The application factory: ``create_app(settings)``; the pool lives in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import asyncpg
from litestar import Litestar
from litestar.datastructures import State

from api.dependencies import DEPENDENCIES
from api.middleware.auth import bearer_authentication
from api.middleware.forwarded import forwarded_headers
from api.middleware.limiter import RateLimiter, build_rate_limiter
from api.middleware.metrics import metrics_middleware
from api.middleware.principal_cache import PrincipalCache, revocation_listener
from api.middleware.rate_limit import rate_limiting
from api.openapi import openapi_config
from api.routes import (
    account_security,
    accounts,
    devices,
    meta,
    moderation,
    operations,
    photos,
    releases,
    reports,
    stats,
    uploads,
)
from api.routes.metrics import ROUTES as METRICS_ROUTES
from api.tasks.photo_workers import PhotoWorkers
from api.tasks.releases import background_releases
from api.tasks.retention import background_retention
from api.tasks.stats_folding import background_folding
from api.web.errors import EXCEPTION_HANDLERS_WITH_PAGES
from api.web.router import console_router
from api.web.templating import template_config
from schemas.settings import Settings, SettingsError
from storage.db.embedded import EmbeddedPostgres
from storage.db.migrations import migrate
from storage.db.pool import Database, PooledDatabase, connect
from storage.db.roles import prepare_service_database
from storage.evidence.sealer import EvidenceSealer
from storage.evidence.store import open_sealed_store
from storage.incidents.grouping import GroupingRule
from storage.photos.blobs import open_blob_store
from storage.photos.video import VideoLimits
from storage.reports import receipt_keys
from storage.reports.key_files import load_signer
from storage.reports.receipts import ReceiptSigner
from storage.statistics.published import TableCache
from storage.statistics.releases.maker import ReleasePolicy
from storage.uploads.area import open_upload_area

log = logging.getLogger(__name__)
GC_YOUNG_THRESHOLD = 20_000  # CPython's default is 700 allocations


def package_version() -> str:
    try:
        return version("plainsight")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    photo_workers: PhotoWorkers | None = None,
    rate_limiter: RateLimiter | None = None,
) -> Litestar:
    """Build the service. ``database`` lets tests share one connection in a rolled-back
    transaction; otherwise the lifespan opens a pool (and the embedded PostgreSQL if needed).
    ``photo_workers`` lets tests share one pool of worker processes between apps.
    ``rate_limiter`` lets tests move the limiter's clock (an injected one is not closed here)."""
    own_workers = photo_workers is None
    own_limiter = rate_limiter is None
    limiter = None
    if settings.rate_limits == "on":
        limiter = rate_limiter or build_rate_limiter(settings)
    workers = photo_workers or PhotoWorkers(
        settings.photo_worker_count,
        settings.photo_queue,
        max_pixels=settings.max_photo_pixels,
        c2pa_trust_anchors=read_trust_anchors(settings),
        video_limits=VideoLimits(
            max_seconds=settings.max_video_seconds,
            max_pixels=settings.max_video_pixels,
            max_bytes=settings.max_video_bytes,
        ),
    )

    signer = receipt_signer(settings)
    networks = settings.trusted_proxy_networks
    proxy_middleware = [forwarded_headers(networks)] if networks else []
    # Opened either way: originals sealed while recipients were set are still purged with
    # their photos after sealing is turned off.
    sealed_originals = open_sealed_store(settings)
    state = State(
        {
            "settings": settings,
            "signer": signer,
            "principals": PrincipalCache(settings.auth_cache_seconds),
            "photo_workers": workers,
            "blobs": open_blob_store(settings),
            "sealed_originals": sealed_originals,
            # None unless PLAINSIGHT_EVIDENCE_RECIPIENTS is set: then nothing of an original
            # is kept (storage/evidence).
            "evidence": EvidenceSealer.from_settings(settings, sealed_originals),
            "uploads": open_upload_area(settings),
            "stats_tables": TableCache(),
            "grouping": grouping_rule(settings),
            "rate_limiter": limiter,
        }
    )
    if database is not None:
        state.db = database

    @asynccontextmanager
    async def photo_lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_workers:
                workers.close()
            await app.state.blobs.close()
            await app.state.sealed_originals.close()

    @asynccontextmanager
    async def limiter_lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if limiter is not None and own_limiter:
                await limiter.close()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if database is not None:
            yield
            return
        embedded = None
        dsn = settings.database_url
        if dsn is None:
            embedded = EmbeddedPostgres(settings.data_path / "postgres")
            dsn = embedded.start()
        try:
            await apply_migrations(dsn, app.state.grouping)
            # Migrations ran as the owner; the service itself cannot rewrite the audit log.
            service_dsn = await prepare_service_database(
                dsn, settings.data_path, settings.service_database_url
            )
            app.state.db = await PooledDatabase.open(
                service_dsn,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                acquire_timeout=settings.db_acquire_timeout_seconds,
            )
            try:
                async with (
                    revocation_listener(service_dsn, app.state.principals),
                    background_folding(
                        app.state.db,
                        app.state.grouping,
                        settings.timezone,
                        threshold=settings.suppression_threshold,
                    ),
                    background_retention(
                        app.state.db,
                        app.state.blobs,
                        settings.retention_days,
                        float(settings.retention_check_seconds),
                        sealed=app.state.sealed_originals,
                    ),
                    background_releases(
                        app.state.db,
                        ReleasePolicy.from_settings(settings),
                        app.state.signer,
                        app.state.grouping,
                        settings.release_check_minutes * 60.0,
                    ),
                ):
                    tune_garbage_collector()
                    yield
            finally:
                await app.state.db.close()
        finally:
            if embedded is not None:
                embedded.stop()

    @asynccontextmanager
    async def keys_lifespan(app: Litestar) -> AsyncIterator[None]:
        # Publish this replica's key before serving anything it signs; refuse to start with a
        # key a rotation retired (KeyRetired says what to do).
        db: Database = app.state.db
        try:
            async with db.acquire() as conn:
                await receipt_keys.register(conn, app.state.signer)
        except asyncpg.UndefinedTableError:
            # Only a database handed in unmigrated gets here (the lifespan above migrates):
            # serve, so that /readyz can say the migrations are pending.
            log.warning("receipt key not published: the database's migrations are pending")
        yield

    return Litestar(
        route_handlers=[
            *operations.ROUTES,
            *meta.ROUTES,
            *accounts.ROUTES,
            *devices.ROUTES,
            *account_security.ROUTES,
            *reports.ROUTES,
            *photos.ROUTES,
            *uploads.ROUTES,
            *stats.ROUTES,
            *releases.ROUTES,
            *moderation.ROUTES,
            *METRICS_ROUTES,
            console_router(settings, signer),
        ],
        lifespan=[photo_lifespan, limiter_lifespan, lifespan, keys_lifespan],
        # Tus-Resumable on every answer of the tus routes, refusals by middleware included.
        before_send=[uploads.tus_response_headers],
        state=state,
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS_WITH_PAGES,
        middleware=[
            # First: everything after it sees the client behind a trusted proxy.
            *proxy_middleware,
            metrics_middleware,
            bearer_authentication,
            # After authentication: authenticated requests count per device or account.
            *([] if limiter is None else [rate_limiting(limiter)]),
        ],
        openapi_config=openapi_config(package_version()),
        template_config=template_config(),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        # api.logs configures logging (JSON, no addresses); Litestar's default would replace the
        # root handler with a plain-text one when the app is built.
        logging_config=None,
    )


def tune_garbage_collector() -> None:
    """Move everything loaded at start-up (modules, routes, schemas) out of the collector's
    sight and collect the young generation less often: a request allocates thousands of
    short-lived objects, and full collections over the start-up heap showed as latency spikes."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def read_trust_anchors(settings: Settings) -> str | None:
    if settings.c2pa_trust_anchors is None:
        return None
    try:
        return Path(settings.c2pa_trust_anchors).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(
            f"PLAINSIGHT_C2PA_TRUST_ANCHORS: cannot read {settings.c2pa_trust_anchors}: {exc}"
        ) from exc


def receipt_signer(settings: Settings) -> ReceiptSigner:
    """The signing key and root secret from the settings or ``data_dir/keys``; a corrupt key
    file or setting is a SettingsError naming it."""
    try:
        return load_signer(settings)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


def grouping_rule(settings: Settings) -> GroupingRule:
    return GroupingRule(
        settings.incident_distance, timedelta(minutes=settings.incident_window_minutes)
    )


async def apply_migrations(dsn: str, grouping: GroupingRule | None = None) -> list[int]:
    """Migrate, then run the folder once with ``grouping`` (the configured rule; the default
    settings' rule when not given): reports the migrations marked pending are grouped."""
    conn = await connect(dsn)
    try:
        return await migrate(conn, grouping=grouping or grouping_rule(Settings()))
    finally:
        await conn.close()
