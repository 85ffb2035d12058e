"""A tiny site for testing the browser harness itself: a clean page, and pages built to have
each problem the harness must catch (console error, uncaught error, CSP violation, third-party
request, accessibility violations). Served with the console's strict CSP, except under
/open/, where a page's request to another host is left for the harness to catch."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, Response, get

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)
# Reserved top-level domain (RFC 2606): it never resolves, so nothing could leave the machine
# even if the harness failed to block it.
THIRD_PARTY = "http://assets.third-party.invalid"
CONSOLE_ERROR_TEXT = "harness: deliberate console error"
PAGE_ERROR_TEXT = "harness: deliberate uncaught error"
TALL_PAGE_PX = 2400
ONE_PIXEL_GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="

STYLESHEET = f"""
body {{ background-color: rgb(250, 250, 240); color: rgb(20, 20, 20); font-family: sans-serif; }}
.tall {{ min-height: {TALL_PAGE_PX}px; }}
"""


def page(title: str, body: str, *, head: str = "", lang: str = "en") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An icon link: without one Chromium asks for /favicon.ico, and logs its 404 as an error.
        f'<title>{title}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/site.css">{head}</head>'
        f"<body>{body}</body></html>"
    )


def html(content: str, *, csp: bool = True) -> Response[str]:
    headers = {"Content-Security-Policy": STRICT_CSP} if csp else {}
    return Response(content, media_type=MediaType.HTML, headers=headers)


def static(content: str, media_type: str) -> Response[str]:
    return Response(content, media_type=media_type)


CLEAN = page(
    "Clean page",
    "<header><p>Harness</p></header><main><h1>A clean page</h1>"
    '<p>Nothing wrong here.</p><button type="button">Go</button></main>',
    head='<script src="/static/quiet.js" defer></script>',
)


@get("/", sync_to_thread=False)
def clean() -> Response[str]:
    return html(CLEAN)


@get("/tall", sync_to_thread=False)
def tall() -> Response[str]:
    return html(page("Tall page", '<main class="tall"><h1>A tall page</h1></main>'))


@get("/language", sync_to_thread=False)
def language(request: Request[Any, Any, Any]) -> Response[str]:
    # The header is echoed into the page: set by the browser context's locale.
    accepted = request.headers.get("accept-language", "").split(",")[0]
    body = f'<main><h1>Language</h1><p id="accepted">{accepted}</p></main>'
    return html(page("Language", body))


@get("/console-error", sync_to_thread=False)
def console_error() -> Response[str]:
    body = "<main><h1>Console error</h1></main>"
    return html(page("Console error", body, head='<script src="/static/logs-error.js"></script>'))


@get("/script-error", sync_to_thread=False)
def script_error() -> Response[str]:
    body = "<main><h1>Script error</h1></main>"
    return html(page("Script error", body, head='<script src="/static/throws.js"></script>'))


@get("/inline-script", sync_to_thread=False)
def inline_script() -> Response[str]:
    # Under the strict CSP this script must not run: the title stays "Inline script".
    body = '<main><h1>Inline script</h1></main><script>document.title = "ran";</script>'
    return html(page("Inline script", body))


@get("/open/third-party", sync_to_thread=False)
def third_party() -> Response[str]:
    body = (
        f'<main><h1>Third party</h1><img id="remote" src="{THIRD_PARTY}/pixel.png" '
        'alt="A remote pixel"></main>'
    )
    head = f'<link rel="stylesheet" href="{THIRD_PARTY}/font.css">'
    return html(page("Third party", body, head=head), csp=False)


@get("/inaccessible", sync_to_thread=False)
def inaccessible() -> Response[str]:
    # An image without a text alternative and a button without a name: both "critical".
    body = (
        f'<main><h1>Inaccessible</h1><img id="no-alt" src="{ONE_PIXEL_GIF}">'
        '<button type="button" id="no-name"></button></main>'
    )
    return html(page("Inaccessible", body))


@get("/moderate-only", sync_to_thread=False)
def moderate_only() -> Response[str]:
    # No <main> landmark and no level-one heading: axe-core ranks both "moderate".
    return html(page("Moderate only", "<div><p>Content outside any landmark.</p></div>"))


@get("/keyboard", sync_to_thread=False)
def keyboard() -> Response[str]:
    # A real button (in the tab order) and a click-only <div> pretending to be one (not).
    body = (
        '<main><h1>Keyboard</h1><p><a href="/">Home</a></p>'
        '<button type="button" id="real">Mark done</button>'
        '<div id="fake" class="fake-button">Also mark done</div>'
        '<p id="result">not done</p></main>'
    )
    return html(page("Keyboard", body, head='<script src="/static/keyboard.js" defer></script>'))


@get("/gone", sync_to_thread=False)
def gone() -> Response[str]:
    # An error page: Chromium logs the document's 404 status as a console error.
    content = page("Not found", "<main><h1>Not found</h1></main>")
    return Response(
        content,
        status_code=404,
        media_type=MediaType.HTML,
        headers={"Content-Security-Policy": STRICT_CSP},
    )


@get("/static/site.css", sync_to_thread=False)
def stylesheet() -> Response[str]:
    return static(STYLESHEET, "text/css")


@get("/static/quiet.js", sync_to_thread=False)
def quiet_script() -> Response[str]:
    return static('document.documentElement.dataset.scripted = "yes";\n', "text/javascript")


@get("/static/keyboard.js", sync_to_thread=False)
def keyboard_script() -> Response[str]:
    script = (
        "for (const id of ['real', 'fake']) {\n"
        "  document.getElementById(id).addEventListener('click', () => {\n"
        "    document.getElementById('result').textContent = 'done';\n"
        "  });\n"
        "}\n"
    )
    return static(script, "text/javascript")


@get("/static/logs-error.js", sync_to_thread=False)
def logs_error() -> Response[str]:
    return static(f'console.error("{CONSOLE_ERROR_TEXT}");\n', "text/javascript")


@get("/static/throws.js", sync_to_thread=False)
def throws() -> Response[str]:
    return static(f'throw new Error("{PAGE_ERROR_TEXT}");\n', "text/javascript")


def harness_app() -> Litestar:
    return Litestar(
        route_handlers=[
            clean,
            tall,
            language,
            console_error,
            script_error,
            inline_script,
            third_party,
            inaccessible,
            moderate_only,
            keyboard,
            gone,
            stylesheet,
            quiet_script,
            keyboard_script,
            logs_error,
            throws,
        ],
        debug=False,
    )
