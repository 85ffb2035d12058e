"""Entry point for ASGI servers: ``uvicorn --factory api.server:app_from_environment``."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app
from api.logs import configure_logging
from schemas.settings import load_settings


def app_from_environment() -> Litestar:
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
