"""One way to open an S3 bucket (AWS or an S3-compatible server) through obstore, for every
store that keeps objects there (sanitised photos and videos, sealed originals)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from obstore.store import S3Store

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config

    from schemas.settings import Settings


def configured_bucket(settings: Settings) -> str:
    """The bucket of the S3 blob store. Settings already refuses an S3 store without one: this
    states it for the type checker, in one place for every store kept there."""
    if not settings.s3_bucket:
        raise ValueError("s3_bucket is required for the s3 blob store")
    return settings.s3_bucket


def open_s3_bucket(
    bucket: str,
    *,
    region: str,
    endpoint: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout: str,
    retry_timeout: timedelta,
) -> S3Store:
    """The bucket with two retries at most and the given timeouts. Credentials: the keys when
    both are given, else obstore's own discovery (``AWS_*`` variables, web identity,
    container or instance roles)."""
    config: S3Config = {"region": region}
    client_options: ClientConfig = {"timeout": timeout, "connect_timeout": "5s"}
    if endpoint is not None:
        config["endpoint"] = endpoint
        # Plain http only for an endpoint that asks for it (a local MinIO or test server).
        client_options["allow_http"] = endpoint.lower().startswith("http://")
    if access_key_id is not None and secret_access_key is not None:
        config["access_key_id"] = access_key_id
        config["secret_access_key"] = secret_access_key
    return S3Store(
        bucket,
        config=config,
        client_options=client_options,
        retry_config={"max_retries": 2, "retry_timeout": retry_timeout},
    )
