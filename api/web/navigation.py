"""The console's menu and each role's first page, from the same role sets the routes use."""

from __future__ import annotations

from typing import Final, NamedTuple

from api.middleware.auth import STAFF
from api.routes.accounts import ADMIN_ONLY
from api.routes.stats import ANALYSTS
from schemas.auth import Principal, Role


class NavItem(NamedTuple):
    message: str
    path: str
    roles: frozenset[Role]


NAV: Final = (
    NavItem("common.nav_moderation", "/moderation", STAFF),
    NavItem("common.nav_statistics", "/statistics", ANALYSTS),
    NavItem("common.nav_accounts", "/admin/accounts", ADMIN_ONLY),
    NavItem("common.nav_audit", "/admin/audit", ADMIN_ONLY),
)
HOME_OF_ROLE: Final = {
    Role.moderator: "/moderation",
    Role.researcher: "/statistics",
    Role.admin: "/admin/accounts",
}
NO_PAGES: Final = "/no-pages"  # officers (and anyone else) have the app and the API only


def menu(user: Principal | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAV if user.role in item.roles]


def home_of(user: Principal) -> str:
    return HOME_OF_ROLE.get(user.role, NO_PAGES)
