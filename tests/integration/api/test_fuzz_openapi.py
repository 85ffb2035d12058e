"""Schemathesis over the whole served OpenAPI document: every operation, as every role.

The service runs as in production (uvicorn on a real socket, its own connection pool on a
fresh, migrated database, rate limits off as in every other test) in a background thread with
its own event loop, because schemathesis sends its requests synchronously. The document is
loaded from the running service, and for each role (anonymous, observer device, officer,
researcher, moderator, admin; credentials made once) every operation gets a bounded,
derandomised set of generated cases (valid and deliberately invalid inputs) checked for: no
server error, a documented status code, a documented content type, a body that matches the
documented schema and the documented response headers. Every failure is collected and
reported together, so one run lists all findings."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import load_settings
from storage.db.pool import connect
from storage.db.roles import service_role_name
from tests.conftest import TEST_RECEIPT_SEED, _with_database
from tests.support.helpers import Api, observer_report, officer_note
from tests.support.live_server import live_server

# Per operation, role and generation mode; derandomised, so CI runs the same cases every time.
MAX_EXAMPLES = 12
ROLES = ["anonymous", "observer", "officer", "researcher", "moderator", "admin"]
CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# A tus PATCH body (api/routes/uploads.py) is raw bytes, as application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
# Withdrawing the role's report and logging out run after every other operation.
LAST = [("DELETE", "/v1/reports/{report_id}"), ("DELETE", "/v1/sessions/current")]


class FuzzTarget:
    """The service served from a background thread, and a token per role."""

    def __init__(self, base_url: str, tokens: dict[str, str], reports: dict[str, str]) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.reports = reports

    def report_id(self, role: str) -> str:
        """A real report for ``{report_id}``: the role's own, else another observer report
        (which moderators and admins may read and review, and the others may not; nobody
        withdraws it), so that uploads, reviews and reads get past the lookup to their bodies."""
        return self.reports.get(role, self.reports["others"])

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}


async def _serve(
    dsn: str,
    data_dir: Path,
    photo_workers: PhotoWorkers,
    ready: asyncio.Future[FuzzTarget],
    stop: asyncio.Event,
) -> None:
    await apply_migrations(dsn)
    config = load_settings(
        {},
        database_url=dsn,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
    )
    app = create_app(config, photo_workers=photo_workers)
    async with live_server(app) as base_url:
        conn = await connect(dsn)
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
                api = Api(client, conn)
                tokens = {"observer": await api.device_token()}
                for role in (Role.officer, Role.researcher, Role.moderator, Role.admin):
                    tokens[role.value] = await api.account_token(role)
                reports: dict[str, str] = {}
                for reporter, body in (
                    ("observer", observer_report()),
                    ("officer", officer_note()),
                    ("others", observer_report()),
                ):
                    token = tokens["observer" if reporter == "others" else reporter]
                    response = await api.submit(token, body)
                    assert response.status_code == 201, response.text
                    reports[reporter] = response.json()["id"]
        finally:
            await conn.close()
        ready.set_result(FuzzTarget(base_url, tokens, reports))
        await stop.wait()


@pytest.fixture(scope="module")
def fuzz_target(
    server_url: str, photo_workers: PhotoWorkers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    """The real service on its own database, serving from another thread's event loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-server", daemon=True)
    thread.start()

    # The name, not parsed back from the URL: an embedded server's URL ends in its socket
    # directory (?host=.../postgres), which would name the maintenance database instead.
    name = f"plainsight_test_fuzz_{secrets.token_hex(6)}"

    async def administer(statement: str) -> None:
        admin = await asyncpg.connect(_with_database(server_url, "postgres"))
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    async def create_database() -> str:
        await administer(f'create database "{name}"')
        return _with_database(server_url, name)

    async def drop_database() -> None:
        await administer(f'drop database if exists "{name}" with (force)')
        # The service started on it made its own role (cluster-wide): drop that too.
        await administer(f'drop role if exists "{service_role_name(name)}"')

    dsn = asyncio.run_coroutine_threadsafe(create_database(), loop).result(60)
    stop = asyncio.Event()
    ready: asyncio.Future[FuzzTarget] = loop.create_future()

    async def start() -> asyncio.Task[None]:
        return asyncio.create_task(
            _serve(dsn, tmp_path_factory.mktemp("fuzz"), photo_workers, ready, stop)
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)

    async def wait_ready() -> FuzzTarget:
        waiting: list[asyncio.Future[Any]] = [ready, server]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            server.result()
            raise RuntimeError("the fuzz server stopped before it was ready")
        return ready.result()

    try:
        yield asyncio.run_coroutine_threadsafe(wait_ready(), loop).result(120)
    finally:

        async def shutdown() -> None:
            stop.set()
            await server

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(60)
        asyncio.run_coroutine_threadsafe(drop_database(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    target: FuzzTarget,
    role: str,
    findings: dict[str, str],
    path: dict[str, str] | None = None,
) -> None:
    label = f"{operation.label} [{mode.value}{', own report' if path else ''}]"

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # Failures are collected, not raised, so there is nothing to shrink.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode, path_parameters=path))
        try:
            case.call_and_validate(
                base_url=target.base_url, headers=target.headers(role), checks=CHECKS
            )
        except FailureGroup as error:
            # One entry per operation and kind of failure, with the first reproduction.
            for failure in error.exceptions:
                findings.setdefault(f"{label}: {failure.title}", f"{label}\n{error}")

    try:
        run()
    except Unsatisfiable:
        # An operation without parameters or body has no invalid input to generate.
        if mode is not GenerationMode.NEGATIVE:
            raise


def _run_order(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> int:
    key = (operation.method.upper(), operation.path)
    return LAST.index(key) + 1 if key in LAST else 0


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_conforms_to_the_document(fuzz_target: FuzzTarget, role: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_target.base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == len(list(schema.get_all_operations())), "the document has errors"
    assert len(operations) > 20
    operations.sort(key=_run_order)
    findings: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, fuzz_target, role, findings)
            if "{report_id}" in operation.path:
                path = {"report_id": fuzz_target.report_id(role)}
                _fuzz_operation(operation, mode, fuzz_target, role, findings, path)
    assert not findings, f"{len(findings)} finding(s) as {role}:\n\n" + "\n\n".join(
        findings.values()
    )
