"""Every route of the app, for every caller, against the access matrix (access_matrix.py).

Routes come from the app object's own route table (``app.routes``), so a route added without a
row in the matrix fails here, named, as does a row whose route is gone. Each (route, caller)
case is a real HTTP request to the service on a real PostgreSQL, with that caller's credential
(a device from ``POST /v1/devices``, or an account created in storage and logged in through
``POST /v1/sessions``), path parameters filled with resources that exist (the caller's own
where the matrix says OWN, someone else's otherwise) and a minimal body:

- NO for anonymous → 401 problem+json; NO for a role → 403 problem+json;
- YES or OWN → neither 401 nor 403, nor 404 (the resource exists and is reachable for the
  caller, so "allowed" is not confused with "not found"), nor a server error. Any other status
  is fine: the behaviour of each endpoint is tested elsewhere.

Then token expiry and revocation, on every protected route: expired sessions, disabled accounts,
revoked devices, logged-out sessions and unknown tokens get 401, including when the service had
the token's lookup cached (PLAINSIGHT_AUTH_CACHE_SECONDS).

One service (its own database and connection pool, so revocation notifications are delivered
as in production) serves the whole module; credentials are made once, resources per case.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from api.web.router import CSRF_COOKIE
from api.web.session_cookie import SESSION_COOKIE
from schemas.auth import Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.accounts.tokens import token_hash
from storage.db.pool import connect
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases.maker import ReleasePolicy, make_releases
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.access_matrix import (
    ACCOUNTS_HAVE_NO_DEVICE,
    COLUMNS,
    MATRIX,
    Access,
    Caller,
    Route,
    access,
    is_console,
    is_public,
)
from tests.support.console import csrf_field
from tests.support.helpers import PASSWORD, Api, bearer, observer_report, officer_note
from tests.support.live_server import live_server
from tests.support.photo_api import unique_jpeg
from tests.support.tus_client import TUS

# The service's default (README): long enough that a revocation seen within NOTIFICATION_WAIT_S
# can only have come through the PostgreSQL notification, not through the entry timing out.
CACHE_SECONDS: Final = 10.0
NOTIFICATION_WAIT_S: Final = 3.0
# For the test of the cache's bound: a second service whose lookups live this long.
SHORT_CACHE_SECONDS: Final = 1.0
# A session made to expire this long after it was first used (and cached).
SHORT_SESSION_S: Final = 1.5
LISTENER_START_S: Final = 5.0
POLL_S: Final = 0.02

# --- the route table ------------------------------------------------------------------------

# Routes the matrix does not cover, with the reason; nothing else is left out. (Litestar's
# automatic OPTIONS handlers are left out too, see _automatic_options; there are no automatic
# HEAD handlers in Litestar 2, so any HEAD route is a declared one and needs a row.)
SKIPPED: Final[dict[Route, str]] = {
    ("GET", "/metrics"): (
        "not a role's route: served only with PLAINSIGHT_METRICS_TOKEN set, to that token "
        "alone, and 404 otherwise (contract: 'not public'); test_operations.py tests it"
    ),
    ("GET", "/schema"): (
        "Litestar's OpenAPI router root: renders the same public document as "
        "/schema/openapi.json (which the contract names and the matrix covers)"
    ),
    ("GET", "/schema/{path}"): (
        "Litestar's OpenAPI router fallback: 404 for documentation renderings that are not "
        "configured; it serves nothing"
    ),
}


def _automatic_options(handler: HTTPRouteHandler) -> bool:
    """Litestar adds an OPTIONS handler to every path (the Allow header, CORS preflight); it
    runs none of our code and returns no data. An OPTIONS handler we declare is not skipped."""
    qualname = getattr(handler.fn, "__qualname__", "")
    return handler.http_methods == {"OPTIONS"} and "create_options_handler" in qualname


def app_routes(app: Litestar) -> set[Route]:
    """Every (method, path template) the app serves, minus the skips above. A route that is
    not plain HTTP (a websocket, a mounted ASGI app) is listed under its type, so it shows up
    as missing from the matrix rather than passing unseen."""
    found: set[Route] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            found.add((type(route).__name__, route.path_format))
            continue
        for handler in route.route_handlers:
            if _automatic_options(handler):
                continue
            for method in handler.http_methods:
                if (method, route.path_format) not in SKIPPED:
                    found.add((method, route.path_format))
    return found


def _route_table_app() -> Litestar:
    """The app, built only to read its route table while tests are collected (parametrization
    happens before any fixture runs). Nothing is started: the lifespan never runs, the blob
    store and the photo workers touch nothing until first used."""
    settings = load_settings(
        {}, data_dir="/nonexistent/plainsight-route-table", receipt_key=TEST_RECEIPT_SEED
    )
    return create_app(settings, photo_workers=PhotoWorkers(1, 0, max_pixels=1))


APP_ROUTES: Final = app_routes(_route_table_app())
EVERY_ROUTE: Final = sorted(APP_ROUTES | set(MATRIX))
PROTECTED: Final = sorted(r for r in APP_ROUTES & set(MATRIX) if not is_public(r))
PATH_PARAMETER: Final = re.compile(r"\{(\w+)\}")


def path_parameters(path: str) -> list[str]:
    return PATH_PARAMETER.findall(path)


# --- the service and its callers ------------------------------------------------------------


@dataclass
class World:
    """The running service and the module's credentials."""

    app: Litestar
    client: httpx.AsyncClient
    api: Api
    db: asyncpg.Connection  # autocommit: what it writes, the service sees at once
    dsn: str
    data_dir: Path
    photo_workers: PhotoWorkers
    tokens: dict[Caller, str] = field(default_factory=dict)
    stranger: str = ""  # an observer device owning "someone else's" resources
    login_email: str = ""  # an account the POST /v1/sessions cases log in to
    csrf_cookie: str = ""  # the console's double-submit pair, taken from the sign-in page
    csrf_field: str = ""

    def owner_token(self, owner: Caller | None) -> str:
        return self.stranger if owner is None else self.tokens[owner]


async def wait_until_caching(app: Litestar) -> None:
    """The token cache is off until the revocation listener has connected."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LISTENER_START_S
    while not app.state.principals.enabled:
        if loop.time() > deadline:
            pytest.fail("the revocation listener did not connect; the token cache stays off")
        await asyncio.sleep(POLL_S)


@asynccontextmanager
async def service(
    dsn: str, data_dir: Path, photo_workers: PhotoWorkers, *, cache_seconds: float
) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    """The service as deployed: its own pool, revocation listener and statistics folding."""
    settings = load_settings(
        {},
        database_url=dsn,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        auth_cache_seconds=cache_seconds,
        rate_limits="off",  # hundreds of requests from one address and a few devices
        uploads_in_flight=100,  # the stranger's device owns an upload for many cases
    )
    app = create_app(settings, photo_workers=photo_workers)
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
    ):
        await wait_until_caching(app)
        yield app, client


@pytest.fixture(scope="module")
async def world(
    fresh_database: object, photo_workers: PhotoWorkers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    data_dir = tmp_path_factory.mktemp("access-matrix")
    db = await connect(dsn)
    try:
        async with service(dsn, data_dir, photo_workers, cache_seconds=CACHE_SECONDS) as (
            app,
            client,
        ):
            api = Api(client, db)
            world = World(app, client, api, db, dsn, data_dir, photo_workers)
            for caller in COLUMNS:
                if caller is not Caller.anonymous:
                    world.tokens[caller] = await api.token(Role(caller.value))
            world.stranger = await api.device_token()
            world.login_email = f"login-{uuid.uuid4().hex[:8]}@example.org"
            await accounts.create_account(
                db, email=world.login_email, role=Role.officer, password=PASSWORD
            )
            sign_in_page = await client.get("/sign-in")
            world.csrf_cookie = sign_in_page.cookies[CSRF_COOKIE]
            world.csrf_field = csrf_field(sign_in_page.text)
            client.cookies.clear()
            yield world
    finally:
        await db.close()


# --- resources for path parameters ---------------------------------------------------------
# Each maker returns the value of one path parameter, naming something that exists. ``owner``
# is the caller whose own resource it must be, or None for someone else's (the stranger's).


def report_body(caller: Caller | None) -> dict[str, Any]:
    """A valid report of the kind ``caller`` may submit (officers file officer notes)."""
    return officer_note() if caller is Caller.officer else observer_report()


async def new_report(world: World, owner: Caller | None) -> str:
    response = await world.api.submit(world.owner_token(owner), report_body(owner))
    who = "someone else" if owner is None else owner.value
    assert response.status_code == 201, f"cannot make a report of {who}'s: {response.text}"
    report_id: str = response.json()["id"]
    return report_id


async def new_photo(world: World, owner: Caller | None) -> str:
    report_id = await new_report(world, owner)
    response = await world.client.post(
        f"/v1/reports/{report_id}/photos",
        content=unique_jpeg(),
        headers={**bearer(world.owner_token(owner)), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 201, response.text
    photo_id: str = response.json()["id"]
    return photo_id


async def new_upload(world: World, owner: Caller | None) -> str:
    """A resumable upload (tus) of 1000 bytes to a new report of ``owner``'s."""
    report_id = await new_report(world, owner)
    response = await world.client.post(
        f"/v1/reports/{report_id}/uploads",
        headers={**bearer(world.owner_token(owner)), **TUS, "Upload-Length": "1000"},
    )
    assert response.status_code == 201, response.text
    upload_id: str = response.headers["Location"].rsplit("/", 1)[1]
    return upload_id


async def new_account(world: World, owner: Caller | None) -> str:
    """A throwaway account (disabling it must not end any credential the module uses)."""
    email = f"target-{uuid.uuid4().hex[:8]}@example.org"
    view = await accounts.create_account(
        world.db, email=email, role=Role.officer, password=PASSWORD
    )
    return str(view.id)


async def new_device(world: World) -> tuple[str, str]:
    """(device_id, token) of a newly registered observer device."""
    response = await world.client.post("/v1/devices")
    assert response.status_code == 201, response.text
    body = response.json()
    return body["device_id"], body["token"]


async def new_device_id(world: World, owner: Caller | None) -> str:
    device_id, _ = await new_device(world)
    return device_id


async def new_incident(world: World, owner: Caller | None) -> str:
    report_id = await new_report(world, owner)
    incident_id = await world.db.fetchval(
        "select incident_id from reports where id = $1", uuid.UUID(report_id)
    )
    assert incident_id is not None, "a new report belongs to an incident"
    return str(incident_id)


async def new_release_month(world: World, owner: Caller | None) -> str:
    """A month with a published release (made as `serve` would, 40 days from now) of a
    report verified as a moderator's review does."""
    report_id = await new_report(world, None)
    await world.db.execute(
        "update reports set status = 'verified', fold_pending_since = now() where id = $1",
        uuid.UUID(report_id),
    )
    settings = load_settings({}, receipt_key=TEST_RECEIPT_SEED)
    await make_releases(
        world.db,
        ReleasePolicy.from_settings(settings),
        ReceiptSigner.from_seed(TEST_RECEIPT_SEED),
        DEFAULT_GROUPING,
        now=datetime.now(UTC) + timedelta(days=40),
    )
    month = await world.db.fetchval(
        "select to_char(month, 'YYYY-MM') from public_releases order by month limit 1"
    )
    assert month is not None, "a verified report of this month makes a release 40 days on"
    return str(month)


async def first_version(world: World, owner: Caller | None) -> str:
    return "v1"  # of the month new_release_month made


async def static_file(world: World, owner: Caller | None) -> str:
    return "console.css"


ParameterMaker = Callable[[World, Caller | None], Awaitable[str]]
PATH_PARAMETERS: Final[dict[str, ParameterMaker]] = {
    "report_id": new_report,
    "photo_id": new_photo,
    "upload_id": new_upload,
    "account_id": new_account,
    "device_id": new_device_id,
    "incident_id": new_incident,
    "month": new_release_month,
    "version": first_version,
    "file_path": static_file,
}

# Console routes whose answer to anyone may be the sign-in page: the start page of an observer
# (no session) and signing out.
SIGN_IN_ROUTES: Final[frozenset[Route]] = frozenset(
    {("GET", "/"), ("POST", "/sign-out"), ("GET", "/language")}
)

# Routes whose successful call ends the caller's own credential: each case gets a fresh one.
CONSUMES_CALLER_TOKEN: Final[frozenset[Route]] = frozenset(
    {
        ("DELETE", "/v1/sessions/current"),
        ("DELETE", "/v1/devices/current"),
        ("POST", "/v1/devices/current/token"),
        ("POST", "/sign-out"),
    }
)


# --- request bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    json: Any = None
    content: bytes | None = None
    form: dict[str, str] | None = None  # a console form (the CSRF field is added)
    headers: dict[str, str] = field(default_factory=dict)


def no_body(world: World, caller: Caller) -> Body:
    return Body()


BodyMaker = Callable[[World, Caller], Body]
REQUEST_BODIES: Final[dict[Route, BodyMaker]] = {
    ("POST", "/v1/sessions"): lambda w, _: Body(
        json={"email": w.login_email, "password": PASSWORD}
    ),
    ("POST", "/v1/accounts"): lambda w, _: Body(
        json={
            "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
            "role": "officer",
            "password": PASSWORD,
        }
    ),
    ("POST", "/v1/reports"): lambda w, caller: Body(json=report_body(caller)),
    ("POST", "/v1/reports/{report_id}/photos"): lambda w, _: Body(
        content=unique_jpeg(), headers={"Content-Type": "image/jpeg"}
    ),
    ("POST", "/v1/reports/{report_id}/review"): lambda w, _: Body(json={"status": "unverified"}),
    # tus: the protocol's headers, so an allowed caller gets past the version check (412).
    ("POST", "/v1/uploads"): lambda w, _: Body(headers={**TUS, "Upload-Length": "1000"}),
    ("POST", "/v1/reports/{report_id}/uploads"): lambda w, _: Body(
        headers={**TUS, "Upload-Length": "1000"}
    ),
    ("HEAD", "/v1/uploads/{upload_id}"): lambda w, _: Body(headers=TUS),
    ("PATCH", "/v1/uploads/{upload_id}"): lambda w, _: Body(
        content=b"x",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    ),
    ("DELETE", "/v1/uploads/{upload_id}"): lambda w, _: Body(headers=TUS),
    ("POST", "/v1/uploads/{upload_id}"): lambda w, _: Body(
        content=b"x",
        headers={
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "X-HTTP-Method-Override": "PATCH",
        },
    ),
    ("POST", "/v1/devices/{device_id}/revoke"): lambda w, _: Body(json={"reject_pending": False}),
    ("POST", "/sign-in"): lambda w, _: Body(form={"email": w.login_email, "password": PASSWORD}),
    ("POST", "/moderation/reports/{report_id}/review"): lambda w, _: Body(
        form={"status": "unverified"}
    ),
    ("POST", "/moderation/devices/{device_id}/revoke"): lambda w, _: Body(
        form={"reject_pending": "yes"}
    ),
    # No incident to merge or split is at hand here: an allowed caller gets the form's 422.
    ("POST", "/moderation/incidents/{incident_id}/merge"): lambda w, _: Body(
        form={"incident_id": str(2**62)}
    ),
    ("POST", "/moderation/incidents/{incident_id}/split"): lambda w, _: Body(
        form={"report_ids": str(uuid.uuid4())}
    ),
    # A code that matches nothing: the refusal (400) of a form anyone may send.
    ("POST", "/reset-password"): lambda w, _: Body(
        form={
            "email": w.login_email,
            "code": "AAAA-BBBB",
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
    ),
    ("POST", "/admin/accounts"): lambda w, _: Body(
        form={
            "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
            "role": "officer",
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
    ),
}


async def request(
    world: World,
    route: Route,
    *,
    headers: dict[str, str],
    owner: Caller | None,
    body_for: Caller,
    made: dict[str, str] | None = None,
) -> httpx.Response:
    """``route`` with its path filled by new resources of ``owner`` (None: someone else's);
    ``made``: reuse the values in it, and keep the new ones there."""
    method, path = route
    values: dict[str, str] = {}
    for name in path_parameters(path):
        if made is not None and name in made:
            values[name] = made[name]
            continue
        maker = PATH_PARAMETERS.get(name)
        if maker is None:
            pytest.fail(
                f"{method} {path}: the test cannot make an existing `{name}` yet; add a "
                "maker to PATH_PARAMETERS in tests/integration/api/test_access_matrix.py"
            )
        values[name] = await maker(world, owner)
        if made is not None:
            made[name] = values[name]
    body = REQUEST_BODIES.get(route, no_body)(world, body_for)
    if is_console(route):
        # The cookies of each case are its own: nothing a page set lingers in the client.
        world.client.cookies.clear()
        form = None if method in ("GET", "HEAD") else {**(body.form or {})}
        if form is not None:
            form["_csrf_token"] = world.csrf_field
        response = await world.client.request(
            method, path.format(**values), data=form, headers={**body.headers, **headers}
        )
        world.client.cookies.clear()
        return response
    return await world.client.request(
        method,
        path.format(**values),
        json=body.json,
        content=body.content,
        headers={**body.headers, **headers},
    )


async def credential(world: World, route: Route, caller: Caller) -> dict[str, str]:
    if caller is Caller.anonymous:
        token = None
    elif route in CONSUMES_CALLER_TOKEN:
        token = await world.api.token(Role(caller.value))
    else:
        token = world.tokens[caller]
    if is_console(route):
        # A console page reads the session cookie only. An observer has no session: its
        # device token planted in the cookie is the strongest thing it could try.
        cookies = f"{CSRF_COOKIE}={world.csrf_cookie}"
        if token is not None:
            cookies += f"; {SESSION_COOKIE}={token}"
        return {"cookie": cookies}
    return {} if token is None else bearer(token)


def page_refusal_failure(response: httpx.Response, caller: Caller) -> str | None:
    """Why ``response`` is not the console's refusal: for no session, the sign-in page (303);
    for a role that may not, a 403 page."""
    if caller is Caller.anonymous:
        location = response.headers.get("location", "")
        if response.status_code != 303 or not location.startswith("/sign-in"):
            return f"answered {response.status_code} {location!r}, not 303 to /sign-in"
        return None
    if response.status_code != 403:
        return f"answered {response.status_code}, not 403: {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("text/html"):
        return f"a 403 that is not a page: {response.headers}"
    return None


def sent_to_sign_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers.get("location", "").startswith(
        "/sign-in"
    )


def problem_failure(response: httpx.Response, status: int) -> str | None:
    """Why ``response`` is not a problem+json with ``status`` (None when it is)."""
    if response.status_code != status:
        return f"answered {response.status_code}, not {status}: {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{status} without application/problem+json: {response.headers}"
    if response.request.method == "HEAD":
        return None  # the answer to a HEAD has headers only
    problem = response.json()
    if problem.get("status") != status or not all(
        isinstance(problem.get(key), str) and problem[key]
        for key in ("type", "title", "detail", "code")
    ):
        return f"{status} is not a complete problem: {problem}"
    return None


# --- the matrix itself ----------------------------------------------------------------------


def test_the_matrix_has_a_column_for_every_role_and_anonymous() -> None:
    assert {c.value for c in COLUMNS} == {r.value for r in Role} | {Caller.anonymous.value}
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_the_matrix_states_a_coherent_policy() -> None:
    problems = []
    for route, rule in MATRIX.items():
        if is_public(route) and set(rule) != {Access.YES}:
            problems.append(f"{route}: open to anonymous callers, so open to every role")
        if access(route, Caller.anonymous) is Access.OWN:
            problems.append(f"{route}: an anonymous caller owns nothing")
        if access(route, Caller.admin) is Access.NO and route not in ACCOUNTS_HAVE_NO_DEVICE:
            problems.append(f"{route}: the contract lets admins do everything")
    assert not problems, "\n".join(problems)


async def test_every_route_of_the_app_has_a_row_and_every_row_a_route(world: World) -> None:
    served = app_routes(world.app)
    # The parametrized cases below were collected from an app built the same way.
    assert served == APP_ROUTES
    missing = sorted(served - set(MATRIX))
    stale = sorted(set(MATRIX) - served)
    lines = [f"  {method} {path}: served, but no row in the matrix" for method, path in missing]
    lines += [f"  {method} {path}: a row, but the app has no such route" for method, path in stale]
    assert not lines, "tests/support/access_matrix.py and the app's routes disagree:\n" + "\n".join(
        lines
    )


# --- every route for every caller -----------------------------------------------------------

CASES: Final = [(route, caller) for route in EVERY_ROUTE for caller in COLUMNS]


def case_id(case: object) -> str:
    if isinstance(case, Caller):
        return f"as {case.value}"
    method, path = cast(Route, case)
    return f"{method} {path}"


@pytest.mark.parametrize(("route", "caller"), CASES, ids=case_id)
async def test_route_answers_the_caller_as_the_matrix_says(
    world: World, route: Route, caller: Caller
) -> None:
    method, path = route
    if route not in MATRIX:
        pytest.fail(
            f"{method} {path} has no row in tests/support/access_matrix.py: "
            "decide who may call it and add the row"
        )
    if route not in APP_ROUTES:
        pytest.fail(f"{method} {path} is in the matrix but the app has no such route")
    expected = access(route, caller)
    response = await request(
        world,
        route,
        headers=await credential(world, route, caller),
        owner=caller if expected is Access.OWN else None,
        body_for=caller,
    )
    what = f"{method} {path} as {caller.value}"
    if expected is Access.NO:
        if is_console(route):
            failure = page_refusal_failure(response, caller)
        else:
            failure = problem_failure(response, 401 if caller is Caller.anonymous else 403)
        assert failure is None, f"{what} (matrix: never): {failure}"
    else:
        answer = f"{what} (matrix: {expected.value}) answered {response.status_code}"
        assert response.status_code not in (401, 403, 404), f"{answer}: {response.text[:300]}"
        assert response.status_code < 500, f"{answer}: {response.text[:300]}"
        if is_console(route) and caller is not Caller.anonymous and route not in SIGN_IN_ROUTES:
            # A page that let the caller in does not send it to sign in.
            assert not sent_to_sign_in(response), f"{answer}: sent to the sign-in page"


OWN_CASES: Final = [
    (route, caller)
    for route in EVERY_ROUTE
    if route in MATRIX and route in APP_ROUTES and path_parameters(route[1])
    for caller in COLUMNS
    if access(route, caller) is Access.OWN
]


@pytest.mark.parametrize(("route", "caller"), OWN_CASES, ids=case_id)
async def test_someone_elses_resource_is_not_found(
    world: World, route: Route, caller: Caller
) -> None:
    """OWN: the role may use the route, but another caller's resource answers 404, not 403."""
    response = await request(
        world, route, headers=bearer(world.tokens[caller]), owner=None, body_for=caller
    )
    failure = problem_failure(response, 404)
    assert failure is None, f"{route[0]} {route[1]} as {caller.value}, a stranger's: {failure}"


# --- expiry and revocation ----------------------------------------------------------------


async def refusals(world: World, headers: dict[str, str]) -> list[str]:
    """Every protected route called with ``headers``; what did not answer 401 problem+json
    (a console page: the sign-in page, with the credential as its session cookie). Resources
    are someone else's and bodies valid for an admin, so an accepted credential would show as
    another status."""
    failures = []
    made: dict[str, str] = {}  # nothing is accepted, so one of each resource does
    for route in PROTECTED:
        sent = headers
        if is_console(route):
            _, _, token = headers.get("Authorization", "").partition(" ")
            sent = {"cookie": f"{CSRF_COOKIE}={world.csrf_cookie}; {SESSION_COOKIE}={token}"}
        response = await request(
            world, route, headers=sent, owner=None, body_for=Caller.admin, made=made
        )
        if is_console(route):
            failure = page_refusal_failure(response, Caller.anonymous)
        else:
            failure = problem_failure(response, 401)
        if failure is not None:
            failures.append(f"{route[0]} {route[1]}: {failure}")
    return failures


async def account_session(world: World, role: Role) -> tuple[uuid.UUID, str]:
    """(account id, session token) of a new account of ``role``."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    token = await world.api.account_token(role, email)
    account_id = await world.db.fetchval("select id from accounts where email = $1", email)
    return account_id, token


def is_cached(app: Litestar, token: str) -> bool:
    return app.state.principals.get(token_hash(token)) is not None


async def seconds_until_refused(client: httpx.AsyncClient, token: str, limit: float) -> float:
    """Seconds until ``token`` gets 401 from ``client``'s service (200 until then)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        response = await client.get("/v1/reports", headers=bearer(token))
        if response.status_code == 401:
            return loop.time() - started
        assert response.status_code == 200, response.text
        if loop.time() - started > limit:
            pytest.fail(f"the token was still accepted {limit} s after it stopped being valid")
        await asyncio.sleep(POLL_S)


SET_EXPIRY = """
update sessions set expires_at = now() + make_interval(secs => $2) where token_hash = $1
"""


async def test_a_session_past_its_expiry_is_refused_everywhere(world: World) -> None:
    """No clock is injectable (the database compares ``expires_at > now()``), so the session's
    expiry is moved into the past in the database."""
    _, token = await account_session(world, Role.admin)
    await world.db.execute(SET_EXPIRY, token_hash(token), -1.0)
    assert await refusals(world, bearer(token)) == []


async def test_a_device_token_past_its_expiry_is_refused_everywhere(world: World) -> None:
    """Device tokens expire when unused for PLAINSIGHT_DEVICE_TOKEN_DAYS (README); moved into
    the past in the database as above, before the token is ever looked up (and cached)."""
    _, token = await new_device(world)
    await world.db.execute(
        "update devices set expires_at = now() - interval '1 second' where token_hash = $1",
        token_hash(token),
    )
    assert await refusals(world, bearer(token)) == []


async def test_the_token_cache_keeps_a_session_no_longer_than_its_expiry(world: World) -> None:
    """A session that expires while its lookup is cached (the cache lives CACHE_SECONDS) is
    refused from its expiry on: the cache caps each entry at the session's own expires_at."""
    _, token = await account_session(world, Role.admin)
    await world.db.execute(SET_EXPIRY, token_hash(token), SHORT_SESSION_S)
    expires_at = await world.db.fetchval(
        "select expires_at from sessions where token_hash = $1", token_hash(token)
    )
    response = await world.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert is_cached(world.app, token)

    # The database's clock decides; the margin covers the two clocks' reading apart.
    await asyncio.sleep((expires_at - datetime.now(UTC)).total_seconds() + 0.25)

    assert await refusals(world, bearer(token)) == []


async def test_the_token_cache_serves_a_stale_lookup_no_longer_than_its_lifetime(
    world: World,
) -> None:
    """What the cache is not told about (no notification: a session expired or a device revoked
    behind the service's back, or a lost listener) it may serve for PLAINSIGHT_AUTH_CACHE_SECONDS
    at most. A second service with a 1 s cache shows the bound."""
    async with service(
        world.dsn, world.data_dir, world.photo_workers, cache_seconds=SHORT_CACHE_SECONDS
    ) as (app, client):
        _, session = await account_session(world, Role.moderator)
        device_id, device = await new_device(world)
        for token in (session, device):
            response = await client.get("/v1/reports", headers=bearer(token))
            assert response.status_code == 200, response.text
            assert is_cached(app, token)

        await world.db.execute(SET_EXPIRY, token_hash(session), -1.0)
        await world.db.execute(
            "update devices set revoked_at = now() where id = $1", uuid.UUID(device_id)
        )

        loop = asyncio.get_running_loop()
        changed = loop.time()
        for token in (session, device):
            await seconds_until_refused(client, token, SHORT_CACHE_SECONDS + 1.0)
        assert loop.time() - changed <= SHORT_CACHE_SECONDS + 0.5


async def test_a_disabled_accounts_token_is_refused_at_once(world: World) -> None:
    """Disabled through the admin endpoint while its token's lookup is cached."""
    account_id, token = await account_session(world, Role.moderator)
    response = await world.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert is_cached(world.app, token)

    disabled = await world.client.post(
        f"/v1/accounts/{account_id}/disable", headers=bearer(world.tokens[Caller.admin])
    )
    assert disabled.status_code == 200, disabled.text

    assert await refusals(world, bearer(token)) == []


async def test_a_disable_made_elsewhere_reaches_the_service_through_notifications(
    world: World,
) -> None:
    """Disabled by another process (here: the storage layer on another connection, as the CLI
    or another worker would): only the PostgreSQL notification can tell this service's cache,
    which would otherwise keep the lookup for CACHE_SECONDS."""
    account_id, token = await account_session(world, Role.officer)
    response = await world.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert is_cached(world.app, token)

    async with world.db.transaction():
        await accounts.disable_account(world.db, account_id)

    await seconds_until_refused(world.client, token, NOTIFICATION_WAIT_S)
    assert await refusals(world, bearer(token)) == []


async def test_a_revoked_device_is_refused(world: World) -> None:
    """Revoked in the database directly for now (the moderation endpoint is being written):
    a device revoked before its token was ever used, and one whose lookup was cached, with the
    notification the endpoint will have to send (storage.accounts.store.notify_revoked)."""
    device_id, token = await new_device(world)
    await world.db.execute(
        "update devices set revoked_at = now() where id = $1", uuid.UUID(device_id)
    )
    assert await refusals(world, bearer(token)) == []

    device_id, token = await new_device(world)
    response = await world.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert is_cached(world.app, token)
    async with world.db.transaction():
        await world.db.execute(
            "update devices set revoked_at = now() where id = $1", uuid.UUID(device_id)
        )
        await accounts.notify_revoked(world.db, uuid.UUID(device_id))

    await seconds_until_refused(world.client, token, NOTIFICATION_WAIT_S)
    assert await refusals(world, bearer(token)) == []


async def test_a_logged_out_session_is_refused_everywhere(world: World) -> None:
    _, token = await account_session(world, Role.admin)
    response = await world.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text

    logout = await world.client.delete("/v1/sessions/current", headers=bearer(token))
    assert logout.status_code == 204, logout.text

    assert await refusals(world, bearer(token)) == []


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer psd_" + "A" * 43,  # shaped like a device token, never issued
        "Bearer pss_" + "A" * 43,  # shaped like a session token, never issued
        "Bearer not-a-token",
        "Basic YWRtaW46cGFzc3dvcmQ=",  # another scheme
        "Bearer",  # no token at all
    ],
)
async def test_unknown_or_malformed_credentials_are_refused_everywhere(
    world: World, authorization: str
) -> None:
    assert await refusals(world, {"Authorization": authorization}) == []
