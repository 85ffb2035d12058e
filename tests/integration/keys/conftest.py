"""Each test gets an installation of its own: a new database and data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import apply_migrations
from api.tasks.photo_workers import PhotoWorkers
from tests.support.cli import cli_environment
from tests.support.rotation import Installation


@pytest.fixture
async def installation(
    empty_database: str, tmp_path: Path, photo_workers: PhotoWorkers
) -> Installation:
    await apply_migrations(empty_database)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Installation(
        empty_database, data_dir, cli_environment(data_dir, empty_database), photo_workers
    )
