"""Jinja2 through Litestar: one environment, and ``render`` for every console page.

Autoescaping is on for everything; templates get ``t`` (words), ``label`` (codebook labels),
``static`` (a versioned URL of a static file) and ``user`` (the signed-in principal, if any).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from api.web.i18n import Translator, request_language
from api.web.navigation import menu

HERE: Final = Path(__file__).parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"
STATIC_PATH: Final = "/static"


@functools.cache
def static_url(name: str) -> str:
    """``/static/name?v=<content hash>``: files are cached for a year and a new release changes
    the URL, so browsers never mix an old script with a new page."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt variable fails the test that renders it
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.globals["menu"] = menu
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    public: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Template:
    """A page in the request's language. ``public`` pages do not read the language cookie, so
    a shared cache may keep them by URL and Accept-Language alone."""
    lang = request_language(request, use_cookie=not public)
    translator = Translator(lang)
    user = request.scope.get("user")
    page_context = {
        "t": translator,
        "label": translator.label,
        "lang": lang,
        "user": user,
        "path": request.url.path,
        "public": public,
        **(context or {}),
    }
    return Template(
        template_name=template,
        context=page_context,
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="text/html",
    )
