"""Who may call each route: the access policy, written down independently of the code.

Source: /work/shared/api-contract.md ("Roles and credentials" and each endpoint's "who") and
the README's API overview. It is deliberately NOT derived from the handlers'
``opt={ROLES_OPT: ...}``: test_access_matrix.py compares what the running app does with what
this table says, so a wrong rule in the code fails the build instead of being copied here.

Reading the table
-----------------
One row per (HTTP method, path template). The path is written as Litestar formats it: the
route decorator's path without converters (``{report_id}``, not ``{report_id:uuid}``). One
column per caller; ``anon`` is a request without any token.

    YES  allowed, whoever's resource the path names.
    OWN  allowed, on the caller's own resources only. Someone else's resource answers 404, as
         if it did not exist (contract: "a resource owned by someone else answers 404 (its
         existence is not revealed)"); on a route without a path parameter (a list) it means
         "sees only its own". The test fills the path with the caller's own resource, and
         separately checks that someone else's gives 404.
    NO   never: 401 without a token, 403 for a role (contract: "No token → 401 ... an endpoint
         the caller's role may never use answers 403").

Invariants the test also checks: a row open to ``anon`` is open to everyone; ``anon`` is never
OWN; ``admin`` is never NO (contract: admins may do "everything"), except on the routes of
ACCOUNTS_HAVE_NO_DEVICE, which act on the caller's own device token.

Adding a route (moderation, incidents, device revocation, ...)
----------------------------------------------------------------
1. Add one row to MATRIX in the section it belongs to, columns aligned, e.g.

       ("POST",   "/v1/devices/{device_id}/revoke"):       (NO,  NO,  NO,  NO,  YES, YES),

   and a comment when the contract leaves room for judgement.
2. If the path has a parameter the test cannot make yet, add a maker to PATH_PARAMETERS in
   test_access_matrix.py (report_id, photo_id, account_id, device_id and incident_id exist);
   the test fails naming the parameter until then.
3. If a successful call ends the caller's own credential (as logging out does), add the route
   to CONSUMES_CALLER_TOKEN there, so each case gets a fresh credential.
4. Optionally add a minimal valid body to REQUEST_BODIES there. Without one the request has no
   body; an allowed caller then gets a 4xx validation error, which still counts as "allowed".

The build fails when the app has a route without a row, or a row names a route the app no
longer has.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Final


class Caller(StrEnum):
    """The columns: no token, then every role (the test checks these match ``Role``)."""

    anonymous = "anonymous"
    observer = "observer"
    officer = "officer"
    researcher = "researcher"
    moderator = "moderator"
    admin = "admin"


class Access(Enum):
    NO = "no"
    YES = "yes"
    OWN = "own"


NO, YES, OWN = Access.NO, Access.YES, Access.OWN

Route = tuple[str, str]
"""(HTTP method, path template)."""
Rule = tuple[Access, Access, Access, Access, Access, Access]
"""One entry per caller, in the order of COLUMNS."""

COLUMNS: Final = (
    Caller.anonymous,
    Caller.observer,
    Caller.officer,
    Caller.researcher,
    Caller.moderator,
    Caller.admin,
)

# fmt: off
MATRIX: Final[dict[Route, Rule]] = {
    #  method    path                                       anon obs  off  res  mod  admin

    # Operations (contract "Operations", README "operations"): probes and the API document
    # carry no report data and are not behind a token. (/metrics answers to no role: only to
    # the operator's metrics token; test_access_matrix.SKIPPED.)
    ("GET",    "/healthz"):                                 (YES, YES, YES, YES, YES, YES),
    ("GET",    "/readyz"):                                  (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/openapi.json"):                     (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/openapi-3.0.json"):                 (YES, YES, YES, YES, YES, YES),
    # The interactive reference (api/reference): the document's page and its own assets.
    ("GET",    "/schema/swagger"):                          (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/swagger/init.js"):                  (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/swagger/swagger-ui-bundle.js"):     (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/swagger/swagger-ui.css"):           (YES, YES, YES, YES, YES, YES),
    ("GET",    "/schema/redoc"):                            (YES, YES, YES, YES, YES, YES),

    # Reference material, "no auth".
    ("GET",    "/v1/codebook"):                             (YES, YES, YES, YES, YES, YES),
    ("GET",    "/v1/receipts/public-key"):                  (YES, YES, YES, YES, YES, YES),
    ("GET",    "/v1/receipts/keys"):                        (YES, YES, YES, YES, YES, YES),
    # The live public statistics answer 410 to everyone; releases are "no auth".
    ("GET",    "/v1/public/stats/identification"):          (YES, YES, YES, YES, YES, YES),
    ("GET",    "/v1/public/releases"):                      (YES, YES, YES, YES, YES, YES),
    ("GET",    "/v1/public/releases/{month}"):              (YES, YES, YES, YES, YES, YES),
    ("GET",    "/v1/public/releases/{month}/{version}"):    (YES, YES, YES, YES, YES, YES),

    # Getting a credential: a device needs nothing; logging in is how a token is obtained.
    ("POST",   "/v1/devices"):                              (YES, YES, YES, YES, YES, YES),
    ("POST",   "/v1/sessions"):                             (YES, YES, YES, YES, YES, YES),
    # Staff log out (README: "staff"); a device token is not a session.
    ("DELETE", "/v1/sessions/current"):                     (NO,  NO,  YES, YES, YES, YES),
    # "An observer device revokes its own token"; rotating it is the same device's act. An
    # account has no device, so for these two even admins are NO (see ACCOUNTS_HAVE_NO_DEVICE).
    ("DELETE", "/v1/devices/current"):                      (NO,  YES, NO,  NO,  NO,  NO),
    ("POST",   "/v1/devices/current/token"):                (NO,  YES, NO,  NO,  NO,  NO),

    # Account management: admins only.
    ("POST",   "/v1/accounts"):                             (NO,  NO,  NO,  NO,  NO,  YES),
    ("GET",    "/v1/accounts"):                             (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/v1/accounts/{account_id}/disable"):        (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/v1/accounts/{account_id}/enable"):         (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/v1/accounts/{account_id}/reset"):          (NO,  NO,  NO,  NO,  NO,  YES),
    ("DELETE", "/v1/accounts/{account_id}/totp"):           (NO,  NO,  NO,  NO,  NO,  YES),
    # One's own account's security (issue 11): every account holder; devices have none.
    ("POST",   "/v1/accounts/current/totp"):                (NO,  NO,  YES, YES, YES, YES),
    ("POST",   "/v1/accounts/current/totp/confirm"):        (NO,  NO,  YES, YES, YES, YES),
    ("POST",   "/v1/accounts/current/totp/disable"):        (NO,  NO,  YES, YES, YES, YES),
    ("POST",   "/v1/accounts/current/password"):            (NO,  NO,  YES, YES, YES, YES),
    # Redeeming an admin-issued reset code: the holder has no working credential by then.
    ("POST",   "/v1/password-resets"):                      (YES, YES, YES, YES, YES, YES),

    # Reports. Submitting: "observer or officer", and admins ("everything"). Reading: "the
    # owner, moderators, admins"; researchers "never raw reports". Withdrawing: "the owner"
    # (an admin too, but only its own: withdrawal is the reporter's act, not a moderation one).
    ("POST",   "/v1/reports"):                              (NO,  YES, YES, NO,  NO,  YES),
    ("GET",    "/v1/reports"):                              (NO,  OWN, OWN, NO,  YES, YES),
    ("GET",    "/v1/reports/{report_id}"):                  (NO,  OWN, OWN, NO,  YES, YES),
    ("DELETE", "/v1/reports/{report_id}"):                  (NO,  OWN, OWN, NO,  NO,  OWN),

    # Photos. Upload: "the report's owner". Read: "the owner, moderators, admins".
    # Near-duplicates: "moderator, admin" (README).
    ("POST",   "/v1/reports/{report_id}/photos"):           (NO,  OWN, OWN, NO,  NO,  OWN),
    ("GET",    "/v1/photos/{photo_id}"):                    (NO,  OWN, OWN, NO,  YES, YES),
    ("GET",    "/v1/photos/{photo_id}/similar"):            (NO,  NO,  NO,  NO,  YES, YES),

    # Resumable (tus) uploads of photos and videos: the photo upload's rule, "the report's
    # owner"; an upload is its creator's alone. OPTIONS is the protocol's discovery of the
    # server's limits (tus clients may send it without credentials): no data, public.
    ("OPTIONS", "/v1/uploads"):                             (YES, YES, YES, YES, YES, YES),
    ("POST",   "/v1/uploads"):                              (NO,  YES, YES, NO,  NO,  YES),
    ("POST",   "/v1/reports/{report_id}/uploads"):          (NO,  OWN, OWN, NO,  NO,  OWN),
    ("HEAD",   "/v1/uploads/{upload_id}"):                  (NO,  OWN, OWN, NO,  NO,  OWN),
    ("PATCH",  "/v1/uploads/{upload_id}"):                  (NO,  OWN, OWN, NO,  NO,  OWN),
    # The same PATCH sent as POST with X-HTTP-Method-Override (tus-java-client's fallback).
    ("POST",   "/v1/uploads/{upload_id}"):                  (NO,  OWN, OWN, NO,  NO,  OWN),
    ("DELETE", "/v1/uploads/{upload_id}"):                  (NO,  OWN, OWN, NO,  NO,  OWN),

    # Statistics and exports: "researchers, moderators, admins".
    ("GET",    "/v1/stats/identification"):                 (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/v1/exports/identification.csv"):           (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/v1/exports/identification.json"):          (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/v1/exports/identification.parquet"):       (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/v1/exports/identification.dta"):           (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/v1/exports/identification.geojson"):       (NO,  NO,  NO,  YES, YES, YES),

    # Moderation: moderators "review, group incidents"; admins "everything".
    ("POST",   "/v1/reports/{report_id}/review"):           (NO,  NO,  NO,  NO,  YES, YES),
    # The queue shows report content and photos' provenance: "read all reports and photos".
    ("GET",    "/v1/moderation/queue"):                     (NO,  NO,  NO,  NO,  YES, YES),
    # Revoking a device is moderation (issue 5), not account management: moderators too.
    ("POST",   "/v1/devices/{device_id}/revoke"):           (NO,  NO,  NO,  NO,  YES, YES),
    # Incidents group reports: "group incidents"; researchers see them only as statistics.
    ("GET",    "/v1/incidents/{incident_id}"):              (NO,  NO,  NO,  NO,  YES, YES),
    ("POST",   "/v1/incidents/{incident_id}/merge"):        (NO,  NO,  NO,  NO,  YES, YES),
    ("POST",   "/v1/incidents/{incident_id}/split"):        (NO,  NO,  NO,  NO,  YES, YES),

    # --- The web console (issue 14): the same policy, credential in a session cookie. ---
    # For a console page NO means: without a session, the sign-in page (303); with a session
    # (or a device token planted in the cookie) whose role may not, a 403 page.
    # Signing in and the start page are for everyone; the start page sends each to its own.
    ("GET",    "/"):                                        (YES, YES, YES, YES, YES, YES),
    ("GET",    "/sign-in"):                                 (YES, YES, YES, YES, YES, YES),
    ("POST",   "/sign-in"):                                 (YES, YES, YES, YES, YES, YES),
    ("GET",    "/language"):                                (YES, YES, YES, YES, YES, YES),
    ("GET",    "/static/{file_path}"):                      (YES, YES, YES, YES, YES, YES),
    ("HEAD",   "/static/{file_path}"):                      (YES, YES, YES, YES, YES, YES),
    # Sessions are for accounts; a device has none to end.
    ("POST",   "/sign-out"):                                (NO,  NO,  YES, YES, YES, YES),
    # What an account without console pages (an officer's) sees after signing in.
    ("GET",    "/no-pages"):                                (NO,  NO,  YES, YES, YES, YES),
    # Moderation pages: the API's moderation routes' policy (STAFF), page for page. The photo
    # route serves any report's photo, so only those who may read all photos.
    ("GET",    "/moderation"):                              (NO,  NO,  NO,  NO,  YES, YES),
    ("GET",    "/moderation/reports/{report_id}"):          (NO,  NO,  NO,  NO,  YES, YES),
    ("POST",   "/moderation/reports/{report_id}/review"):   (NO,  NO,  NO,  NO,  YES, YES),
    ("GET",    "/moderation/photos/{photo_id}"):            (NO,  NO,  NO,  NO,  YES, YES),
    ("GET",    "/moderation/incidents/{incident_id}"):      (NO,  NO,  NO,  NO,  YES, YES),
    ("POST",   "/moderation/incidents/{incident_id}/merge"): (NO, NO,  NO,  NO,  YES, YES),
    ("POST",   "/moderation/incidents/{incident_id}/split"): (NO, NO,  NO,  NO,  YES, YES),
    ("POST",   "/moderation/devices/{device_id}/revoke"):   (NO,  NO,  NO,  NO,  YES, YES),
    # The statistics explorer and its downloads: the API's statistics policy (ANALYSTS).
    ("GET",    "/statistics"):                              (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/statistics/export.csv"):                   (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/statistics/export.json"):                  (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/statistics/export.parquet"):               (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/statistics/export.dta"):                   (NO,  NO,  NO,  YES, YES, YES),
    ("GET",    "/statistics/export.geojson"):               (NO,  NO,  NO,  YES, YES, YES),
    # Admin pages: the API's account management (ADMIN_ONLY) and the audit log, admins only.
    ("GET",    "/admin/accounts"):                          (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/admin/accounts"):                          (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/admin/accounts/{account_id}/disable"):     (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/admin/accounts/{account_id}/enable"):      (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/admin/accounts/{account_id}/reset"):       (NO,  NO,  NO,  NO,  NO,  YES),
    ("GET",    "/admin/audit"):                             (NO,  NO,  NO,  NO,  NO,  YES),
    ("POST",   "/admin/audit/verify"):                      (NO,  NO,  NO,  NO,  NO,  YES),
    # Redeeming a reset code an admin issued: for anyone, as POST /v1/password-resets.
    ("GET",    "/reset-password"):                          (YES, YES, YES, YES, YES, YES),
    ("POST",   "/reset-password"):                          (YES, YES, YES, YES, YES, YES),
    # The public page: the public releases, in words, for everyone ("no auth" as the files).
    ("GET",    "/public"):                                  (YES, YES, YES, YES, YES, YES),
    ("GET",    "/public/releases/{month}"):                 (YES, YES, YES, YES, YES, YES),
    ("GET",    "/public/releases/{month}/{version}"):       (YES, YES, YES, YES, YES, YES),
}
# fmt: on

API_PREFIXES: Final = ("/v1/", "/schema", "/healthz", "/readyz", "/metrics")


def is_console(route: Route) -> bool:
    """A page of the web console (HTML, session cookie) rather than an API route."""
    return not route[1].startswith(API_PREFIXES)


# Routes about the calling device's own credential, which no account (an admin's included)
# has: the one exception to "admin is never NO".
ACCOUNTS_HAVE_NO_DEVICE: Final[frozenset[Route]] = frozenset(
    {("DELETE", "/v1/devices/current"), ("POST", "/v1/devices/current/token")}
)


def access(route: Route, caller: Caller) -> Access:
    return MATRIX[route][COLUMNS.index(caller)]


def is_public(route: Route) -> bool:
    return access(route, Caller.anonymous) is Access.YES
