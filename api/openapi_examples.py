"""Examples for every request body and response of the OpenAPI document.

Each media type gets an ``examples`` map of named Example objects: valid in OpenAPI 3.0 and
3.1 alike, so the 3.0 rendering can keep them (or pick one as ``example``). Reports are built
from the codebook's own values; the receipt is really signed (with a published demo seed, not
the service's key), so a client can practise verifying it against the example key set. Any
other JSON body is sampled from its schema with realistic values per field name;
tests/integration/api/test_openapi_examples.py validates every example against its schema.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from nacl.bindings import crypto_sign_seed_keypair

from api.problems import PROBLEM_MEDIA_TYPE, TITLES
from schemas.codebook import build_codebook
from schemas.codes import (
    Agency,
    AskedResponse,
    Attire,
    LocalPoliceRole,
    Masked,
    MisidentificationType,
    ReportKind,
    ReportStatus,
    Tristate,
    Vehicles,
    YesNoUnknown,
)
from schemas.receipts import receipt_fields
from schemas.report import ObserverReportView, OfficerNoteView, ReportIn, minimise
from storage.reports.receipts import ALGORITHM, ReceiptSigner, b64url, canonical_json, key_id_of

RECEIVED_AT: Final = datetime(2026, 11, 28, 22, 47, 12, 304000, tzinfo=UTC)
OCCURRED_AT: Final = "2026-11-28T17:40:00-05:00"
# A demo signing key, derived from a public phrase: never the service's own.
DEMO_SEED: Final = hashlib.sha256(b"plainsight openapi example key").digest()


def uuid7(name: str, at: datetime = RECEIVED_AT) -> str:
    """A UUIDv7 with ``at``'s millisecond timestamp and bits derived from ``name``: stable
    across builds, so the snapshot does not change on every run."""
    millis = int(at.timestamp() * 1000)
    rand = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    value = (millis & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 68) & 0xFFF) << 64
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


def token(kind: str, name: str) -> str:
    """A token shaped like storage.accounts.tokens.new_token's: prefix and 32 random bytes."""
    return f"{kind}_{b64url(hashlib.sha256(name.encode()).digest())}"


CLIENT_ID: Final = uuid7("client observer report", datetime(2026, 11, 28, 22, 41, tzinfo=UTC))
OFFICER_CLIENT_ID: Final = uuid7("client officer note", datetime(2026, 11, 28, 23, 5, tzinfo=UTC))
REPORT_ID: Final = uuid7("report")
DEVICE_ID: Final = uuid7("device", datetime(2026, 11, 2, 9, 12, tzinfo=UTC))
ACCOUNT_ID: Final = uuid7("account", datetime(2026, 10, 1, 8, 0, tzinfo=UTC))

OBSERVER_REPORT: Final[dict[str, Any]] = {
    "client_id": CLIENT_ID,
    "kind": ReportKind.OBSERVER_REPORT.value,
    "occurred_at": OCCURRED_AT,
    "occurred_at_uncertainty_min": 10,
    "location": {
        "lat": 40.7191,
        "lon": -74.0017,
        "accuracy_m": 25,
        "description": "Outside the laundromat on Canal Street",
    },
    "agents": {
        "count": 4,
        "masked": Masked.ALL.value,
        "attire": Attire.PLAINCLOTHES.value,
        "agencies_claimed": [Agency.ICE.value],
        "agencies_suspected": [Agency.ICE.value, Agency.HSI.value],
        "vehicles": Vehicles.UNMARKED.value,
    },
    "identification": {
        "verbal": Tristate.NO.value,
        "badge_shown": Tristate.NO.value,
        "insignia_visible": Tristate.NO.value,
        "names_or_badge_numbers_given": Tristate.NO.value,
        "asked": Tristate.YES.value,
        "response_when_asked": AskedResponse.REFUSED.value,
        "identified_only_after_local_police_arrived": Tristate.NO.value,
    },
    "misidentification": [MisidentificationType.AGENTS_TAKEN_FOR_CRIMINALS_OR_KIDNAPPERS.value],
    "outcome": {
        "people_detained": 1,
        "force_used": Tristate.YES.value,
        "injuries": 0,
        "local_police_present": Tristate.NO.value,
        "local_police_role": LocalPoliceRole.NONE.value,
        "called_911": Tristate.YES.value,
    },
    "narrative": (
        "Four masked people in plain clothes took a man into an unmarked van. Bystanders "
        "called 911 thinking it was a kidnapping; nobody showed a badge when asked."
    ),
}
OFFICER_NOTE: Final[dict[str, Any]] = {
    **OBSERVER_REPORT,
    "client_id": OFFICER_CLIENT_ID,
    "kind": ReportKind.OFFICER_NOTE.value,
    "misidentification": [MisidentificationType.FEDERAL_AGENTS_TAKEN_FOR_LOCAL_POLICE.value],
    "identification": {
        **OBSERVER_REPORT["identification"],
        "identified_only_after_local_police_arrived": Tristate.YES.value,
    },
    "outcome": {
        "people_detained": 1,
        "force_used": Tristate.NO.value,
        "local_police_present": Tristate.YES.value,
        "local_police_role": LocalPoliceRole.OBSERVED.value,
        "called_911": Tristate.YES.value,
    },
    "narrative": "Responded to a 911 call about an abduction; the men were federal agents.",
    "officer": {
        "command": "Precinct 7",
        "agents_identified_to_officers": Tristate.NO.value,
        "prior_notification": YesNoUnknown.NO.value,
        "officers_injured": 0,
        "incident_reference": "2026-004217",
    },
}


def _demo_receipt(report: dict[str, Any], report_id: str) -> dict[str, Any]:
    """A receipt as POST /v1/reports gives it, signed with the demo key."""
    signer = ReceiptSigner(DEMO_SEED)
    body_hash = hashlib.sha256(canonical_json(report)).hexdigest()
    fields = receipt_fields(
        uuid.UUID(report_id), uuid.UUID(report["client_id"]), body_hash, RECEIVED_AT
    )
    wire: dict[str, Any] = msgspec_roundtrip(fields)
    return {**wire, "signature": signer.sign(fields), "key_id": signer.key_id}


def msgspec_roundtrip(value: object) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


DEMO_PUBLIC_KEY: Final = b64url(crypto_sign_seed_keypair(DEMO_SEED)[0])
DEMO_KEY_ID: Final = key_id_of(DEMO_PUBLIC_KEY)
RECEIPT: Final = _demo_receipt(OBSERVER_REPORT, REPORT_ID)
RECEIPT_KEY: Final[dict[str, Any]] = {
    "key_id": DEMO_KEY_ID,
    "algorithm": ALGORITHM,
    "public_key": DEMO_PUBLIC_KEY,
    "not_before": "2026-01-05T09:00:00Z",
    "not_after": None,
    "endorsed_by": None,
    "endorsement": None,
}


def _view(report: dict[str, Any], view: type[ObserverReportView | OfficerNoteView]) -> Any:
    """The report as GET /v1/reports/{id} shows it: through the service's own minimisation
    (the coordinates become an H3 cell)."""
    content = minimise(msgspec.convert(report, ReportIn))
    stored = view(
        **msgspec.structs.asdict(content),
        id=uuid.UUID(REPORT_ID),
        status=ReportStatus.PENDING,
        received_at=RECEIVED_AT,
        device_id=uuid.UUID(DEVICE_ID),
    )
    return msgspec_roundtrip(stored)


def _codebook() -> dict[str, Any]:
    """The real English codebook, its field lists cut to the first few."""
    codebook: dict[str, Any] = msgspec_roundtrip(build_codebook("en"))
    for key in ("fields", "view_fields"):
        codebook[key] = codebook[key][:3]
    return codebook


REPORT_CREATED: Final[dict[str, Any]] = {
    "id": REPORT_ID,
    "client_id": CLIENT_ID,
    "kind": ReportKind.OBSERVER_REPORT.value,
    "status": ReportStatus.PENDING.value,
    "received_at": RECEIPT["received_at"],
    "receipt": RECEIPT,
}

# Whole components whose sampled form would be unrealistic.
COMPONENTS: Final[dict[str, Any]] = {
    "ObserverReportIn": OBSERVER_REPORT,
    "OfficerNoteIn": OFFICER_NOTE,
    "Receipt": RECEIPT,
    "ReceiptKey": RECEIPT_KEY,
    "ReportCreated": REPORT_CREATED,
    "ObserverReportView": _view(OBSERVER_REPORT, ObserverReportView),
    "OfficerNoteView": _view(OFFICER_NOTE, OfficerNoteView),
    "Codebook": _codebook(),
}

# Field values by property name, used wherever the property appears.
PROPERTIES: Final[dict[str, Any]] = {
    "client_id": CLIENT_ID,
    "report_id": REPORT_ID,
    "device_id": DEVICE_ID,
    "account_id": ACCOUNT_ID,
    "reviewed_by": ACCOUNT_ID,
    "email": "moderator@example.org",
    "password": "correct horse battery staple",
    "current_password": "correct horse battery staple",
    "new_password": "tulip anvil orbit seventeen",
    "totp": "492039",
    "sha256": hashlib.sha256(b"example photo").hexdigest(),
    "payload_sha256": RECEIPT["payload_sha256"],
    "phash": "c3d4e1f0a5b69788",
    "h3_cell": "892a1072c3bffff",
    "public_key": DEMO_PUBLIC_KEY,
    "key_id": DEMO_KEY_ID,
    "algorithm": ALGORITHM,
    "signature": RECEIPT["signature"],
    "narrative": OBSERVER_REPORT["narrative"],
    "description": "Outside the laundromat on Canal Street",
    "command": "Precinct 7",
    "incident_reference": "2026-004217",
    "kind": ReportKind.OBSERVER_REPORT.value,
    "status": ReportStatus.PENDING.value,
    "month": "2026-11",
    "cursor": "eyJhdCI6IjIwMjYtMTEtMjhUMjI6NDc6MTJaIn0",
    "next_cursor": None,
    "otpauth_uri": (
        "otpauth://totp/Plainsight:moderator%40example.org"
        "?secret=JBSWY3DPEHPK3PXP&issuer=Plainsight"
    ),
    "secret": "JBSWY3DPEHPK3PXP",
    "content_type": "image/jpeg",
    "width": 3024,
    "height": 4032,
    "bytes": 2_481_733,
    "duration_ms": None,
    "agency": Agency.ICE.value,
    "masked": Masked.ALL.value,
    "area": "872a1072cffffff",
    "week": "2026-W47",
    "dataset_version": "5c1f0e9a42d7b3e8a6f10c2d",
    "time_zone": "America/New_York",
    "url": "/v1/public/releases/2026-11/1",
    "version": 1,
    "corrects_version": None,
    "classification": "not_identified",
    "verified_classification": "not_identified",
    "lang": "en",
    "languages": ["en", "es"],
    "library": "opendp 0.16",
    "mechanism": "laplace",
    "composition": "basic",
    "table": "national",
    "role": "moderator",
    "reports": 42,  # = identified + not_identified + unclear
    "asked": Tristate.YES.value,
    "response_when_asked": AskedResponse.REFUSED.value,
    "total": 42,
    "identified": 9,
    "not_identified": 28,
    "unclear": 5,
    "incident_id": 4182,
    "id": 4182,  # an incident's; UUID ids are strings and take their own sample
    "area_resolution": 7,
    "publication_delay_days": 14,
    "threshold": 5,
    "suppression_threshold": 5,
    "rate_not_identified": 0.67,
    "ci_low": 0.52,
    "ci_high": 0.79,
    "epsilon": 1.0,
    "delta": 0.0,
    "month_epsilon": 1.0,
    "month_delta": 0.0,
    "release_epsilon": 2.0,
    "release_delta": 0.0,
    "total_epsilon": 12.0,
    "total_delta": 0.0,
    "noise_scale": 10.0,
    "noise_standard_deviation": 14.14,
    "signing_key": DEMO_PUBLIC_KEY,
    "signing_key_id": DEMO_KEY_ID,
    "unit": "incident",
    "phash_distance": 4,
    "dhash_distance": 6,
}


def _problem(status: int, code: str, detail: str, field: str | None = None) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        problem["field"] = field
        problem["errors"] = [{"field": field, "message": detail}]
    return problem


# Whole answers of one operation and status, where the schema is too loose to sample.
ANSWERS: Final[dict[tuple[str, str, str], Any]] = {
    ("/healthz", "get", "200"): {"status": "ok"},
    ("/readyz", "get", "200"): {"status": "ready"},
    ("/v1/accounts/{account_id}/reset", "post", "201"): {
        "code": "MFRG-GZDF-MZTW-Q2LK",
        "expires_at": "2026-11-29T22:47:12Z",
    },
    # Documented as a 200 Problem; the service answers 410 with exactly this.
    ("/v1/public/stats/identification", "get", "200"): _problem(
        410,
        "gone",
        "live public statistics were replaced by monthly releases: see /v1/public/releases",
    ),
    ("/v1/sessions", "post", "201"): {
        "token": token("pss", "example session"),
        "role": "moderator",
        "expires_at": "2026-11-29T06:47:12Z",
        "totp_enrolment_required": False,
    },
}


# (status, code, detail, field): the codes the service answers with (api.errors, storage.errors
# and their subclasses), each with a message it really sends.
PROBLEMS: Final[list[tuple[int, str, str, str | None]]] = [
    (400, "malformed_json", "the request body is not valid JSON", None),
    (400, "malformed_multipart", "the multipart body is malformed: no `file` part", "$"),
    (400, "invalid_header", "`Upload-Offset` must be a whole number", "Upload-Offset"),
    (401, "unauthenticated", "a valid bearer token is required", None),
    (
        401,
        "totp_required",
        "a valid code from the account's authenticator app is required (`totp`)",
        None,
    ),
    (403, "forbidden", "your role may not do this", None),
    (403, "kind_not_allowed", "an observer device may not submit an officer_note", "$.kind"),
    (403, "totp_enrolment_required", "enrol a second factor first", None),
    (
        403,
        "totp_required_for_role",
        "the moderator role must use a second factor (PLAINSIGHT_REQUIRE_TOTP)",
        None,
    ),
    (404, "not_found", "there is nothing at this address", None),
    (405, "method_not_allowed", "POST is not allowed here", None),
    (
        409,
        "conflict",
        "a different report was already submitted with this client_id; "
        "use a new client_id for a new report",
        None,
    ),
    (409, "photo_limit", "this report already has the most photos it may have", None),
    (409, "upload_offset_mismatch", "`Upload-Offset` is 0 but the upload is at 524288", None),
    (
        409,
        "upload_busy",
        "another request is writing to this upload; try again when it has finished",
        None,
    ),
    (410, "gone", "this report was withdrawn by its reporter and cannot be submitted again", None),
    (410, "upload_expired", "the upload expired; start a new one", None),
    (412, "tus_version_unsupported", "only tus 1.0.0 is supported", "Tus-Resumable"),
    (413, "payload_too_large", "the request body is too large", None),
    (413, "video_too_big", "the video is 2147483904 bytes; at most 2147483648 are accepted", None),
    (415, "unsupported_media_type", "send JPEG, PNG, WebP, HEIC, MP4, MOV or WebM", None),
    (416, "range_not_satisfiable", "the range is outside the 482113 bytes stored", None),
    (422, "validation_failed", "Expected `int` >= 1", "$.agents.count"),
    (422, "undecodable_image", "the image could not be decoded", None),
    (422, "image_too_large", "the image has 48000000 pixels, more than the 40000000 allowed", None),
    (422, "undecodable_video", "the file has no video stream", None),
    (422, "video_too_long", "the video lasts 612.4 s; at most 600 s are accepted", None),
    (
        422,
        "video_resolution_too_large",
        "the video is 7680x4320; at most 8294400 pixels per frame",
        None,
    ),
    (429, "rate_limited", "too many requests; retry in 12 seconds", None),
    (
        429,
        "too_many_uploads",
        "this device already has 4 unfinished uploads (at most 4): finish or delete one first, "
        "or wait for it to expire",
        None,
    ),
    (460, "checksum_mismatch", "the chunk's checksum does not match `Upload-Checksum`", None),
    (500, "internal_error", "something went wrong on our side", None),
    (
        503,
        "database_unavailable",
        "the database is not reachable right now; try again shortly",
        None,
    ),
    (503, "migrations_pending", "migrations not applied yet: ['0042_example.sql']", None),
    (503, "unavailable", "every database connection is busy; try again shortly", None),
    (503, "photo_workers_busy", "every photo worker is busy; retry shortly", None),
]
# Where an upload's bytes are checked: a single-request upload, and a tus upload's last
# append (PATCH or POST /v1/uploads/{upload_id}), which hands the file to the same checks.
MEDIA_CHECKED: Final = ("/v1/reports/{report_id}/photos", "/v1/uploads/")
# Codes that only one family of operations answers with, by path prefix.
_ONLY_UNDER: Final[dict[str, tuple[str, ...]]] = {
    "malformed_multipart": ("/v1/reports/{report_id}/photos",),
    "invalid_header": ("/v1/uploads", "/v1/reports/{report_id}/uploads"),
    "kind_not_allowed": ("/v1/reports",),
    "photo_limit": (
        "/v1/reports/{report_id}/photos",
        "/v1/uploads",
        "/v1/reports/{report_id}/uploads",
    ),
    "upload_offset_mismatch": ("/v1/uploads",),
    "upload_expired": ("/v1/uploads",),
    "undecodable_image": MEDIA_CHECKED,
    "image_too_large": MEDIA_CHECKED,
    "undecodable_video": MEDIA_CHECKED,
    "video_too_long": MEDIA_CHECKED,
    "video_resolution_too_large": MEDIA_CHECKED,
    "video_too_big": MEDIA_CHECKED,
    "upload_busy": ("/v1/uploads/",),
    "photo_workers_busy": ("/v1/reports/{report_id}/photos", "/v1/uploads"),
    "migrations_pending": ("/readyz",),
    "conflict": ("/v1/reports", "/v1/accounts", "/v1/uploads"),
}
# Codes that only the operations at these exact paths answer with.
_ONLY_AT: Final[dict[str, tuple[str, ...]]] = {
    "too_many_uploads": ("/v1/uploads", "/v1/reports/{report_id}/uploads"),
    "totp_required": ("/v1/sessions",),
    "totp_required_for_role": ("/v1/accounts/current/totp/disable",),
}


def problem_examples(path: str, status: int) -> dict[str, Any]:
    chosen = [
        (code, _problem(s, code, detail, field))
        for s, code, detail, field in PROBLEMS
        if s == status
        and (code not in _ONLY_UNDER or any(path.startswith(p) for p in _ONLY_UNDER[code]))
        and (code not in _ONLY_AT or path in _ONLY_AT[code])
    ]
    if not chosen:
        detail = "the request could not be handled"
        chosen = [("bad_request", _problem(status, "bad_request", detail))]
    return {code: {"summary": f"{status} {code}", "value": value} for code, value in chosen}


class Sampler:
    """A realistic value for a JSON Schema (2020-12, as OpenAPI 3.1 embeds it)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def sample(self, schema: dict[str, Any], name: str | None = None, depth: int = 0) -> Any:
        if "$ref" in schema:
            component = schema["$ref"].rsplit("/", 1)[-1]
            if component in COMPONENTS:
                return COMPONENTS[component]
            return self.sample(self.schemas[component], name, depth + 1)
        if name in PROPERTIES:
            hinted = PROPERTIES[name]
            if self._fits(schema, hinted):
                return hinted
        if schema.get("examples"):
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                variants = [v for v in schema[key] if v.get("type") != "null"] or schema[key]
                return self.sample(variants[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in schema:
            return {
                prop: self.sample(sub, prop, depth + 1)
                for prop, sub in schema.get("properties", {}).items()
            }
        if kind == "array":
            count = max(1, schema.get("minItems", 1))
            return [self.sample(schema.get("items", {}), _singular(name), depth + 1)] * count
        if kind == "integer":
            return max(schema.get("minimum", 1), min(3, schema.get("maximum", 3)))
        if kind == "number":
            return float(max(schema.get("minimum", 0.5), min(1.5, schema.get("maximum", 1.5))))
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        if kind == "string":
            return _string(schema, name)
        return {} if not schema else None

    @staticmethod
    def _fits(schema: dict[str, Any], value: Any) -> bool:
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "$ref" in schema or "oneOf" in schema or "anyOf" in schema:
            return True
        if value is None:
            return "null" in kinds
        if isinstance(value, str):
            return "string" in kinds and "enum" not in schema
        if isinstance(value, bool):
            return "boolean" in kinds
        if isinstance(value, int):
            return bool({"integer", "number"} & set(kinds))
        if isinstance(value, float):
            return "number" in kinds
        return isinstance(value, list) and "array" in kinds


def _singular(name: str | None) -> str | None:
    return name[:-1] if name and name.endswith("s") else name


def _string(schema: dict[str, Any], name: str | None) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return uuid7(name or "id")
    if fmt == "date-time":
        return "2026-11-28T22:47:12Z"
    if fmt == "date":
        return "2026-11-01"
    if fmt == "binary":
        return ""
    pattern = schema.get("pattern", "")
    if pattern == "^[0-9a-f]{64}$":
        return hashlib.sha256((name or "").encode()).hexdigest()
    if pattern == "^[0-9]{6}$":
        return "492039"
    if name in {"token"}:
        return token("psd", "example device")
    return (name or "text").replace("_", " ")


def examples_for(
    sampler: Sampler,
    path: str,
    method: str,
    status: str | None,
    media: str,
    content: dict[str, Any],
) -> dict[str, Any]:
    schema = content.get("schema", {})
    if media == PROBLEM_MEDIA_TYPE:
        return problem_examples(path, int(status or 400))
    if status is None and path == "/v1/reports" and method == "post":
        return {
            "observer_report": {"summary": "An observer's report", "value": OBSERVER_REPORT},
            "officer_note": {"summary": "An officer's note", "value": OFFICER_NOTE},
        }
    if media == "application/json" or media.endswith("+json"):
        value = ANSWERS.get((path, method, status or "request"))
        if value is None:
            value = sampler.sample(schema)
        return {"example": {"summary": _summary(method, path, status), "value": value}}
    if media == "text/csv":
        return {"example": {"summary": "Counts as CSV", "value": CSV}}
    # Binary bodies (images, videos, tus chunks, parquet, Stata): no inline value, a description.
    return {
        "example": {
            "summary": f"A {media} body",
            "description": f"The raw bytes of a `{media}` file.",
        }
    }


CSV: Final = (
    "month,source,reports,identified_share,lower,upper\n2026-11,observer,128,0.21,0.15,0.28\n"
)


def _summary(method: str, path: str, status: str | None) -> str:
    return f"{method.upper()} {path}" + ("" if status is None else f" → {status}")


def add_examples(document: dict[str, Any]) -> None:
    """Give every request body and response content an ``examples`` map (in place)."""
    sampler = Sampler(document)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            body = operation.get("requestBody")
            if body is not None:
                operation["requestBody"] = _with_examples(sampler, path, method, None, body)
            operation["responses"] = {
                status: _with_examples(sampler, path, method, status, response)
                for status, response in operation["responses"].items()
            }


def _with_examples(
    sampler: Sampler, path: str, method: str, status: str | None, part: dict[str, Any]
) -> dict[str, Any]:
    # A copy: some response objects are shared between operations (api.openapi's 429).
    content = {
        media: {**value, "examples": examples_for(sampler, path, method, status, media, value)}
        for media, value in part.get("content", {}).items()
    }
    return {**part, "content": content} if content else dict(part)
