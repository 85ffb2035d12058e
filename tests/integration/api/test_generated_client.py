"""An observer's whole life through a Python client generated from the served OpenAPI document
(openapi-python-client), so the description and the behaviour cannot drift apart: the client is
generated once per run from the running service, and every step below goes through its typed
models and its ``asyncio_detailed`` functions, over real HTTP, against real PostgreSQL.

A step the generated client cannot express is a defect of the document: it is asserted as such
(the test fails until the document is fixed), never worked around with hand-written requests."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from nacl.signing import VerifyKey
from uuid_utils import uuid7

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import load_settings
from tests.conftest import TEST_RECEIPT_SEED
from tests.support import photo_fixtures as fx
from tests.support.generated_client import GeneratedClient, forget, generate, parse_messages
from tests.support.helpers import observer_report
from tests.support.live_server import live_server
from tests.support.photo_api import tiny_jpeg

# The operations an observer's app uses, as the document names them.
OBSERVER_OPERATIONS = [
    ("POST", "/v1/devices"),
    ("POST", "/v1/reports"),
    ("GET", "/v1/reports"),
    ("GET", "/v1/reports/{report_id}"),
    ("DELETE", "/v1/reports/{report_id}"),
    ("POST", "/v1/reports/{report_id}/photos"),
    ("DELETE", "/v1/devices/current"),
]
SIGNED_RECEIPT_FIELDS = ("report_id", "client_id", "payload_sha256", "received_at")
# Generation from the served document, including the generator's start-up, on CI's 2 cores.
GENERATION_BUDGET_SECONDS = 30.0


@pytest.fixture(scope="session")
async def generated(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    data_dir: Path,
    photo_workers: PhotoWorkers,
) -> AsyncIterator[GeneratedClient]:
    """The client generated once per run from the document a running service serves (its own
    pool on the run's database: the per-test app lives only as long as one test)."""
    settings = load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
    )
    workspace = tmp_path_factory.mktemp("generated-client")
    async with live_server(create_app(settings, photo_workers=photo_workers)) as base_url:
        client = await generate(f"{base_url}/schema/openapi.json", workspace)
    try:
        yield client
    finally:
        forget(workspace)


class Observer:
    """The generated modules an observer's app uses, and clients for one served app."""

    def __init__(self, generated: GeneratedClient, base_url: str) -> None:
        self.base_url = base_url
        self.models = generated.module("models")
        self.register = generated.module("api.auth.v1_devices_register_device")
        self.revoke = generated.module("api.auth.v1_devices_current_revoke_current_device")
        self.submit = generated.module("api.reports.v1_reports_submit_report")
        self.read = generated.module("api.reports.v1_reports_report_id_get_report")
        self.list = generated.module("api.reports.v1_reports_list_reports")
        self.withdraw = generated.module("api.reports.v1_reports_report_id_withdraw_report")
        self.public_key = generated.module(
            "api.reference.v1_receipts_public_key_receipt_public_key"
        )
        self.upload = generated.module("api.photos.v1_reports_report_id_photos_upload_photo")
        self.download = generated.module("api.photos.v1_photos_photo_id_get_photo")
        self.File = generated.module("types").File
        self.Client = generated.package.Client
        self.AuthenticatedClient = generated.package.AuthenticatedClient

    def anonymous(self) -> Any:
        # An undocumented status code raises instead of parsing to None: drift fails loudly.
        return self.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def as_device(self, token: str) -> Any:
        return self.AuthenticatedClient(
            base_url=self.base_url, token=token, raise_on_unexpected_status=True
        )

    async def new_device(self) -> Any:
        async with self.anonymous() as client:
            response = await self.register.asyncio_detailed(client=client)
        assert response.status_code == HTTPStatus.CREATED, response.content
        assert isinstance(response.parsed, self.models.DeviceCreated), response.parsed
        return response.parsed

    def report(self, **changes: Any) -> Any:
        """The contract's example report, built from the generated models."""
        m = self.models
        fields: dict[str, Any] = {
            "client_id": uuid.UUID(str(uuid7())),
            "kind": m.ObserverReportInKind.OBSERVER_REPORT,
            "occurred_at": datetime.now(UTC) - timedelta(hours=3),
            "location": m.LocationIn(lat=40.7191, lon=-74.0017, accuracy_m=25),
            "agents": m.Agents(
                count=4,
                masked=m.Masked.ALL,
                attire=m.Attire.PLAINCLOTHES,
                agencies_claimed=[m.Agency.ICE],
                agencies_suspected=[m.Agency.ICE],
                vehicles=m.Vehicles.UNMARKED,
            ),
            "identification": m.Identification(
                verbal=m.Tristate.NO,
                badge_shown=m.Tristate.NO,
                insignia_visible=m.Tristate.NO,
                asked=m.YesNoUnknown.YES,
                response_when_asked=m.AskedResponse.REFUSED,
            ),
            "narrative": "Four masked people in plain clothes took a man into an unmarked van.",
        }
        return m.ObserverReportIn(**{**fields, **changes})


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RawBody:
    """A body the generated models refuse to build (a code the app's copy of the codebook does
    not have), handed to the generated function as it would hand any model: by ``to_dict``."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        return self.body


@pytest.fixture
async def observer(generated: GeneratedClient, app: Litestar) -> AsyncIterator[Observer]:
    async with live_server(app) as base_url:
        yield Observer(generated, base_url)


async def test_generation_is_fast_enough_for_ci(generated: GeneratedClient) -> None:
    assert generated.seconds < GENERATION_BUDGET_SECONDS, generated.seconds
    assert hasattr(generated.package, "AuthenticatedClient")


async def test_observer_life_through_the_generated_client(observer: Observer) -> None:
    m = observer.models
    device = await observer.new_device()
    body = observer.report()
    # The typed model writes exactly the contract's example (tests/support/helpers.py).
    assert body.to_dict() == observer_report(
        client_id=str(body.client_id), occurred_at=body.occurred_at.isoformat()
    )

    async with observer.as_device(device.token) as client:
        created = await observer.submit.asyncio_detailed(client=client, body=body)
        assert created.status_code == HTTPStatus.CREATED, created.content
        report = created.parsed
        assert isinstance(report, m.ReportCreated), report
        assert report.client_id == body.client_id
        assert report.kind == m.ReportKind.OBSERVER_REPORT
        assert report.status == m.ReportStatus.PENDING
        assert isinstance(report.receipt, m.Receipt), report.receipt
        assert report.receipt.report_id == report.id
        assert report.receipt.client_id == body.client_id
        assert report.receipt.received_at == report.received_at
        assert report.receipt.signature

        # The offline queue re-sends the same body until it sees a 2xx: same answer, 200.
        replay = await observer.submit.asyncio_detailed(client=client, body=body)
        assert replay.status_code == HTTPStatus.OK, replay.content
        assert replay.parsed == report

        # The receipt verifies with the published key. The signature covers the fields exactly
        # as sent, so an app keeps the receipt's JSON as received: the typed model re-writes
        # received_at ("+00:00" for the service's "Z") and would no longer verify.
        published = await observer.public_key.asyncio_detailed(client=client)
        assert published.status_code == HTTPStatus.OK, published.content
        key = published.parsed
        assert isinstance(key, m.ReceiptPublicKey), key
        assert key.algorithm == "Ed25519"
        assert report.receipt.key_id == key.key_id
        kept = json.loads(created.content)["receipt"]
        assert m.Receipt.from_dict(kept) == report.receipt
        signed = {name: kept[name] for name in SIGNED_RECEIPT_FIELDS}
        VerifyKey(b64url_decode(key.public_key)).verify(
            json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
            b64url_decode(report.receipt.signature),
        )

        changed = observer.report(client_id=body.client_id, narrative="A different account.")
        conflict = await observer.submit.asyncio_detailed(client=client, body=changed)
        assert conflict.status_code == HTTPStatus.CONFLICT, conflict.content
        assert isinstance(conflict.parsed, m.Problem), conflict.parsed
        assert conflict.parsed.status == HTTPStatus.CONFLICT
        assert conflict.parsed.code == "conflict"

        jpeg = tiny_jpeg(seed=17, size=(64, 48))
        photo_body = m.V1ReportsReportIdPhotosUploadPhotoBody(
            file=observer.File(
                payload=io.BytesIO(jpeg), file_name="photo.jpg", mime_type="image/jpeg"
            )
        )
        uploaded = await observer.upload.asyncio_detailed(report.id, client=client, body=photo_body)
        assert uploaded.status_code == HTTPStatus.CREATED, uploaded.content
        photo = uploaded.parsed
        assert isinstance(photo, m.PhotoView), photo
        assert photo.report_id == report.id
        assert photo.content_type == m.PhotoViewContentType.IMAGEJPEG
        assert (photo.width, photo.height) == (64, 48)
        assert len(photo.sha256) == 64
        assert isinstance(photo.provenance, m.Provenance)
        assert photo.provenance.had_gps is False

        # The download is typed as a File (the config reads image/jpeg as bytes): the
        # sanitised photo, whose sha256 the upload's answer gave.
        fetched = await observer.download.asyncio_detailed(photo.id, client=client)
        assert fetched.status_code == HTTPStatus.OK, fetched.content
        assert isinstance(fetched.parsed, observer.File), fetched.parsed
        stored = fetched.parsed.payload.read()
        assert hashlib.sha256(stored).hexdigest() == photo.sha256
        assert len(stored) == photo.bytes_  # "bytes" shadows a builtin: the generator renames it
        assert stored.startswith(b"\xff\xd8")

        read = await observer.read.asyncio_detailed(report.id, client=client)
        assert read.status_code == HTTPStatus.OK, read.content
        view = read.parsed
        # The tagged union parses to the observer's kind, never the officer's.
        assert isinstance(view, m.ObserverReportView), view
        assert not isinstance(view, m.OfficerNoteView)
        assert view.kind == "observer_report"
        assert view.id == report.id
        assert view.client_id == body.client_id
        assert view.status == m.ReportStatus.PENDING
        assert view.occurred_at == body.occurred_at
        assert view.agents == body.agents
        # Optional answers not given come back as null rather than absent.
        assert view.identification.to_dict() == {
            **body.identification.to_dict(),
            "names_or_badge_numbers_given": None,
            "identified_only_after_local_police_arrived": None,
        }
        assert view.narrative == body.narrative
        # Never the exact place: the H3 cell only.
        assert isinstance(view.location, m.LocationOut)
        assert len(view.location.h3_cell) == 15
        assert not hasattr(view.location, "lat")

        listed = await observer.list.asyncio_detailed(client=client)
        assert listed.status_code == HTTPStatus.OK, listed.content
        page = listed.parsed
        assert isinstance(page, m.ReportPage), page
        assert page.items == [view]
        assert page.next_cursor is None

        withdrawn = await observer.withdraw.asyncio_detailed(report.id, client=client)
        assert withdrawn.status_code == HTTPStatus.NO_CONTENT, withdrawn.content
        assert withdrawn.parsed is None

        again = await observer.submit.asyncio_detailed(client=client, body=body)
        assert again.status_code == HTTPStatus.GONE, again.content
        assert isinstance(again.parsed, m.Problem), again.parsed
        assert (again.parsed.status, again.parsed.code) == (HTTPStatus.GONE, "gone")

        gone = await observer.read.asyncio_detailed(report.id, client=client)
        assert gone.status_code == HTTPStatus.GONE, gone.content
        assert isinstance(gone.parsed, m.Problem), gone.parsed
        assert gone.parsed.code == "gone"

        revoked = await observer.revoke.asyncio_detailed(client=client)
        assert revoked.status_code == HTTPStatus.NO_CONTENT, revoked.content

        after = await observer.list.asyncio_detailed(client=client)
        assert after.status_code == HTTPStatus.UNAUTHORIZED, after.content
        assert isinstance(after.parsed, m.Problem), after.parsed
        assert after.parsed.status == HTTPStatus.UNAUTHORIZED
        assert after.parsed.code == "unauthenticated"


def problem_fields(problem: Any) -> set[str]:
    """Every field a parsed Problem names: its ``field`` and those of its ``errors``."""
    named = {problem.field} if isinstance(problem.field, str) else set()
    if isinstance(problem.errors, list):
        named |= {error.field for error in problem.errors}
    return named


def with_unknown_code(body: dict[str, Any]) -> dict[str, Any]:
    body["agents"]["masked"] = "sometimes"
    return body


def with_unknown_field(body: dict[str, Any]) -> dict[str, Any]:
    body["colour"] = "red"
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [(with_unknown_code, "agents.masked"), (with_unknown_field, "colour")],
    ids=["unknown-code", "unknown-field"],
)
async def test_what_the_models_refuse_the_service_refuses_naming_the_field(
    observer: Observer, change: Any, field: str
) -> None:
    """An app whose copy of the document is older or newer than the service's sends what its
    models cannot build: the generated models refuse it too, and the service answers 422
    naming the field, parsed into the generated Problem."""
    m = observer.models
    bad = change(observer.report().to_dict())
    if field == "agents.masked":
        with pytest.raises(ValueError, match="sometimes"):
            m.ObserverReportIn.from_dict(bad)
    else:
        # Closed models drop what they do not know: the body would go out without it.
        assert "colour" not in m.ObserverReportIn.from_dict(bad).to_dict()
    device = await observer.new_device()
    async with observer.as_device(device.token) as client:
        response = await observer.submit.asyncio_detailed(client=client, body=RawBody(bad))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    assert isinstance(response.parsed, m.Problem), response.parsed
    assert response.parsed.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert any(named.endswith(field) for named in problem_fields(response.parsed)), response.parsed


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"location": {"lat": 91.0, "lon": -74.0017, "accuracy_m": 25}}, "location.lat"),
        ({"narrative": "x" * 100_000}, "narrative"),
        ({"occurred_at": datetime.now(UTC) + timedelta(days=2)}, "occurred_at"),
    ],
    ids=["latitude-out-of-range", "narrative-too-long", "occurred-in-the-future"],
)
async def test_typed_but_invalid_reports_answer_422_naming_the_field(
    observer: Observer, changes: dict[str, Any], field: str
) -> None:
    """Values the generated types allow but the contract does not: a 422 naming the field."""
    m = observer.models
    if "location" in changes:
        changes = {"location": m.LocationIn(**changes["location"])}
    device = await observer.new_device()
    async with observer.as_device(device.token) as client:
        response = await observer.submit.asyncio_detailed(
            client=client, body=observer.report(**changes)
        )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    assert isinstance(response.parsed, m.Problem), response.parsed
    assert any(named.endswith(field) for named in problem_fields(response.parsed)), response.parsed


async def test_an_observer_may_not_submit_an_officer_note(observer: Observer) -> None:
    """The union's other kind, built from its own generated model: 403 for a device."""
    m = observer.models
    fields = observer.report().to_dict()
    note = m.OfficerNoteIn.from_dict(
        {**fields, "kind": "officer_note", "officer": {"command": "Precinct 7"}}
    )
    assert isinstance(note.officer, m.OfficerDetails)
    device = await observer.new_device()
    async with observer.as_device(device.token) as client:
        response = await observer.submit.asyncio_detailed(client=client, body=note)
    assert response.status_code == HTTPStatus.FORBIDDEN, response.content
    assert isinstance(response.parsed, m.Problem), response.parsed
    assert response.parsed.code == "kind_not_allowed"


async def test_no_token_and_another_devices_report(observer: Observer) -> None:
    """Without a token: 401. Another device's report: 404 (its existence is not revealed)."""
    m = observer.models
    async with observer.anonymous() as client:
        anonymous = await observer.submit.asyncio_detailed(client=client, body=observer.report())
    assert anonymous.status_code == HTTPStatus.UNAUTHORIZED, anonymous.content
    assert isinstance(anonymous.parsed, m.Problem), anonymous.parsed
    assert anonymous.parsed.code == "unauthenticated"

    owner, stranger = await observer.new_device(), await observer.new_device()
    async with observer.as_device(owner.token) as client:
        created = await observer.submit.asyncio_detailed(client=client, body=observer.report())
    assert created.status_code == HTTPStatus.CREATED, created.content
    report_id = created.parsed.id
    async with observer.as_device(stranger.token) as client:
        read = await observer.read.asyncio_detailed(report_id, client=client)
        withdrawn = await observer.withdraw.asyncio_detailed(report_id, client=client)
        listed = await observer.list.asyncio_detailed(client=client)
    for response in (read, withdrawn):
        assert response.status_code == HTTPStatus.NOT_FOUND, response.content
        assert isinstance(response.parsed, m.Problem), response.parsed
        assert response.parsed.code == "not_found"
    assert listed.status_code == HTTPStatus.OK, listed.content
    assert listed.parsed.items == []


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (fx.gif_bytes(), HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        (tiny_jpeg(seed=3)[:200], HTTPStatus.UNPROCESSABLE_ENTITY),
    ],
    ids=["gif", "truncated-jpeg"],
)
async def test_bad_photos_through_the_generated_upload(
    observer: Observer, data: bytes, status: HTTPStatus
) -> None:
    """Unsupported and undecodable uploads: documented problems, parsed into Problem."""
    m = observer.models
    device = await observer.new_device()
    async with observer.as_device(device.token) as client:
        created = await observer.submit.asyncio_detailed(client=client, body=observer.report())
        assert created.status_code == HTTPStatus.CREATED, created.content
        body = m.V1ReportsReportIdPhotosUploadPhotoBody(
            file=observer.File(payload=io.BytesIO(data), file_name="photo.jpg")
        )
        response = await observer.upload.asyncio_detailed(
            created.parsed.id, client=client, body=body
        )
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, m.Problem), response.parsed
    assert response.parsed.status == status


def test_generator_messages_are_read_one_per_warning() -> None:
    """The clean-generation test above relies on this reading of the generator's output (0.29's
    layout): a header per warning, its first line of explanation, the quoted schema left out."""
    output = (
        "Generating /tmp/x\n"
        "Warning(s) encountered while generating. Client was generated, but some pieces may be"
        " missing\n\n"
        "WARNING parsing GET /v1/reports within reports.\n\n"
        "Cannot parse response for status code <openapi_python_client.schema.untrusted_string."
        "UntrustedString object at 0x7f7953d65a90> (Invalid property in union), response will be"
        " omitted from generated client\n\n"
        '{\n  "type": "array"\n}\n\n'
        "WARNING parsing PATCH /v1/uploads/{upload_id} within uploads. Endpoint will not be"
        " generated.\n\n"
        "Unsupported content type application/offset+octet-stream\n\n\n"
        "If you believe this was a mistake or this tool is missing a feature you need, please"
        " open an issue\n"
    )
    messages = parse_messages(output)
    assert [(m.level, m.header) for m in messages] == [
        ("WARNING", "GET /v1/reports within reports."),
        (
            "WARNING",
            "PATCH /v1/uploads/{upload_id} within uploads. Endpoint will not be generated.",
        ),
    ]
    assert messages[0].detail.startswith("Cannot parse response for status code <?> (Invalid")
    assert messages[1].detail == "Unsupported content type application/offset+octet-stream"
    assert messages[0].names("get", "/v1/reports")
    assert not messages[0].names("GET", "/v1/reports/{report_id}")
    assert messages[1].names("PATCH", "/v1/uploads/{upload_id}")


async def test_listing_pages_through_the_generated_client(observer: Observer) -> None:
    """Own reports, newest first, followed page by page with ``next_cursor``."""
    m = observer.models
    device = await observer.new_device()
    submitted = []
    async with observer.as_device(device.token) as client:
        for hours in (5, 4, 3):
            body = observer.report(occurred_at=datetime.now(UTC) - timedelta(hours=hours))
            created = await observer.submit.asyncio_detailed(client=client, body=body)
            assert created.status_code == HTTPStatus.CREATED, created.content
            submitted.append(created.parsed.id)
        seen: list[uuid.UUID] = []
        cursor: str | None = None  # the generated function leaves a None parameter out
        pages = 0
        while True:
            listed = await observer.list.asyncio_detailed(client=client, limit=2, cursor=cursor)
            assert listed.status_code == HTTPStatus.OK, listed.content
            page = listed.parsed
            assert isinstance(page, m.ReportPage), page
            assert all(isinstance(item, m.ObserverReportView) for item in page.items)
            assert len(page.items) <= 2
            seen.extend(item.id for item in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert pages == 2
    assert seen == list(reversed(submitted))


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1_000_000}, "limit"), ({"cursor": "nonsense"}, "cursor")],
    ids=["limit-zero", "limit-huge", "cursor-garbage"],
)
async def test_bad_listing_queries_answer_422_naming_the_parameter(
    observer: Observer, query: dict[str, Any], field: str
) -> None:
    m = observer.models
    device = await observer.new_device()
    async with observer.as_device(device.token) as client:
        listed = await observer.list.asyncio_detailed(client=client, **query)
    assert listed.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, listed.content
    assert isinstance(listed.parsed, m.Problem), listed.parsed
    assert field in problem_fields(listed.parsed), listed.parsed
