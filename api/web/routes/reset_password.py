"""Redeeming a one-time reset code in the browser: the form an admin's reset page points to,
for a holder who has no other way in. The same checks and audit entries as
POST /v1/password-resets (api.password_reset); no sign-in needed, CSRF as every form."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from api import password_reset
from api.middleware.auth import PUBLIC_OPT
from api.web.templating import render
from schemas.auth import Email, NewPassword, ResetCode

RESET_PATH: Final = "/reset-password"
MAX_FIELD: Final = 1024
FIELD_TYPES: Final[dict[str, Any]] = {"email": Email, "code": ResetCode, "password": NewPassword}
FIELD_ERRORS: Final = {
    "email": "admin.invalid_email",
    "code": "admin.redeem_bad_code",
    "password": "admin.invalid_password",
}


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _page(
    request: Request[Any, Any, Any],
    *,
    email: str = "",
    errors: dict[str, str] | None = None,
    done: bool = False,
    status_code: int = 200,
) -> Template:
    return render(
        request,
        "admin/reset_password.html",
        {"email": email, "errors": errors or {}, "done": done},
        status_code=status_code,
    )


@get(RESET_PATH, opt={PUBLIC_OPT: True}, include_in_schema=False)
async def reset_password_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, done=request.query_params.get("done") == "1")


@post(RESET_PATH, opt={PUBLIC_OPT: True}, include_in_schema=False, status_code=303)
async def reset_password_form(request: Request[Any, Any, Any], state: State) -> Template | Redirect:
    form = await request.form()
    values = {name: _form_text(form, name) for name in FIELD_TYPES}
    values["email"] = values["email"].strip()
    errors = {}
    for name, field_type in FIELD_TYPES.items():
        try:
            msgspec.convert(values[name], field_type)
        except msgspec.ValidationError:
            errors[name] = FIELD_ERRORS[name]
    if values["password"] != _form_text(form, "confirm"):
        errors["confirm"] = "admin.passwords_differ"
    if errors:
        return _page(request, email=values["email"], errors=errors, status_code=422)
    redeemed = await password_reset.redeem(
        state, email=values["email"], code=values["code"], new_password=values["password"]
    )
    if redeemed is None:  # as the API: 400, whichever of code or address was wrong
        return _page(
            request, email=values["email"], errors={"code": "admin.redeem_refused"}, status_code=400
        )
    return Redirect(f"{RESET_PATH}?done=1", status_code=303)


ROUTES = [reset_password_page, reset_password_form]
