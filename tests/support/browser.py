"""Browser-test support: Debian's chromium through Playwright, a watch on every page for
console errors, script errors, CSP violations and third-party requests, axe-core checks,
screenshots at phone and desktop width, and reaching an element by keyboard alone.

Playwright's own browser download is not reachable from CI, so the browser is Debian's
``chromium`` package, given to Playwright as ``executable_path``."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Route,
    ViewportSize,
)

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_VARIABLE = "PLAINSIGHT_TEST_OUTPUT"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1366, height=900)
SCREEN_SIZES = {"phone": PHONE, "desktop": DESKTOP}
# Impacts axe-core ranks as minor, moderate, serious, critical; the issue forbids the top two.
FAILING_IMPACTS = frozenset({"serious", "critical"})
SCREENSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

CSP_BINDING = "__plainsightCspViolation"
# Runs before any of the page's own scripts, in every frame, and is not subject to the page's
# CSP (Playwright injects it through the DevTools protocol). Each violation is kept on window
# (read at the end of the test) and sent to the test at once (so one on a page navigated away
# from is not lost); the id lets the two copies be merged.
CSP_LISTENER = """
(() => {
  window.__plainsightCspViolations = [];
  let sequence = 0;
  const prefix = Math.random().toString(36).slice(2);
  document.addEventListener("securitypolicyviolation", (event) => {
    const violation = {
      id: prefix + "-" + (sequence += 1),
      directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI,
      source: event.sourceFile,
      line: event.lineNumber,
      sample: event.sample,
      page: document.location.href,
    };
    window.__plainsightCspViolations.push(violation);
    if (typeof window.__plainsightCspViolation === "function") {
      window.__plainsightCspViolation(violation);
    }
  });
})();
"""
READ_CSP_VIOLATIONS = "() => window.__plainsightCspViolations || []"


def chromium_executable() -> str:
    """Debian's chromium; a failure (never a skip) when it is not installed."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "browser tests need Debian's chromium package: apt-get install chromium "
            "(.ci/run installs it)",
            pytrace=False,
        )
    return path


def chromium_arguments() -> list[str]:
    """Chromium's sandbox refuses to start as root (CI and these machines run as root)."""
    arguments = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")
    return arguments


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class PageProblems:
    """What went wrong in the browser while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict[str, Any]] = field(default_factory=list)
    third_party_requests: list[str] = field(default_factory=list)
    expected_but_missing: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.console_errors
            or self.page_errors
            or self.csp_violations
            or self.third_party_requests
            or self.expected_but_missing
        )

    def report(self) -> str:
        sections = [
            ("console errors", self.console_errors),
            ("uncaught script errors", self.page_errors),
            ("CSP violations", [describe_violation(v) for v in self.csp_violations]),
            ("requests to other hosts (blocked)", self.third_party_requests),
            ("expected console errors that never came", self.expected_but_missing),
        ]
        lines = ["the browser reported problems:"]
        for title, entries in sections:
            if entries:
                lines.append(f"{title}:")
                lines.extend(f"  - {entry}" for entry in entries)
        return "\n".join(lines)


def describe_violation(violation: dict[str, Any]) -> str:
    where = violation.get("source") or violation.get("page")
    return (
        f"{violation.get('directive')} blocked {violation.get('blocked') or '(inline)'}"
        f" at {where}:{violation.get('line')}"
    )


class PageWatch:
    """Records, for one browser context, every problem a page test must not have.

    Requests to any origin but ``allowed_origin`` are aborted (nothing leaves the machine) and
    recorded; console messages of type error, uncaught exceptions and CSP violations are
    recorded as they happen. ``problems()`` gathers them at the end. ``requests`` lists every
    URL the pages asked the allowed origin for (e.g. to check that none carries report
    content)."""

    def __init__(self, context: BrowserContext, allowed_origin: str) -> None:
        self.context = context
        self.allowed_origin = origin_of(allowed_origin)
        self.requests: list[str] = []
        self.pages: list[Page] = []
        self._problems = PageProblems()
        self._violation_ids: set[str] = set()
        self._expected: dict[re.Pattern[str], int] = {}

    @classmethod
    async def install(cls, context: BrowserContext, allowed_origin: str) -> PageWatch:
        watch = cls(context, allowed_origin)
        await context.expose_binding(CSP_BINDING, watch._on_csp_binding)
        await context.add_init_script(CSP_LISTENER)
        await context.route("**/*", watch._on_request)
        context.on("page", watch.watch_page)
        return watch

    def watch_page(self, page: Page) -> None:
        if page in self.pages:
            return
        self.pages.append(page)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    async def new_page(self) -> Page:
        page = await self.context.new_page()
        self.watch_page(page)  # in case the context's "page" event has not come yet
        return page

    def expect_console_error(self, pattern: str) -> None:
        """Console errors matching ``pattern`` (searched in "TEXT (URL)") are part of the test,
        not problems; one must come, or the test fails. Chromium logs an error for every
        response with status 4xx or 5xx, a page's own included: an error page expects it."""
        self._expected.setdefault(re.compile(pattern), 0)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        location = message.location
        url = location.get("url") if location else None
        entry = f"{message.text} ({url})" if url else message.text
        for pattern in self._expected:
            if pattern.search(entry):
                self._expected[pattern] += 1
                return
        self._problems.console_errors.append(entry)

    def _on_page_error(self, error: Error) -> None:
        self._problems.page_errors.append(f"{error.name}: {error.message}")

    def _on_csp_binding(self, _source: Any, violation: dict[str, Any]) -> None:
        self._record_violation(violation)

    def _record_violation(self, violation: dict[str, Any]) -> None:
        identity = str(violation.get("id"))
        if identity not in self._violation_ids:
            self._violation_ids.add(identity)
            self._problems.csp_violations.append(violation)

    async def _on_request(self, route: Route) -> None:
        url = route.request.url
        try:
            if origin_of(url) == self.allowed_origin:
                self.requests.append(url)
                await route.continue_()
                return
            self._problems.third_party_requests.append(f"{route.request.method} {url}")
            await route.abort("blockedbyclient")
        except Error:
            # The page closed while the request was in flight (a test ending mid-load): nothing
            # is left to continue or abort, and whatever is to be reported is recorded.
            return

    async def problems(self) -> PageProblems:
        """Everything recorded so far, with the CSP violations still held by open pages."""
        for page in self.pages:
            if page.is_closed():
                continue
            try:
                held = await page.evaluate(READ_CSP_VIOLATIONS)
            except Error:
                continue  # navigating or crashed: what it had was already sent
            for violation in held:
                self._record_violation(violation)
        self._problems.expected_but_missing = [
            pattern.pattern for pattern, seen in self._expected.items() if not seen
        ]
        return self._problems

    async def assert_clean(self) -> None:
        problems = await self.problems()
        if problems:
            pytest.fail(problems.report(), pytrace=False)


async def axe_violations(page: Page, *, impacts: frozenset[str] = FAILING_IMPACTS) -> list[str]:
    """axe-core's violations on the page as it is now, of the given impacts, one line each."""
    results = await Axe().run(page)
    found: list[str] = []
    for violation in results.response["violations"]:
        if violation.get("impact") not in impacts:
            continue
        targets = "; ".join(
            f"{', '.join(map(str, node['target']))} {node.get('html', '')}"
            for node in violation["nodes"]
        )
        found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} -> {targets}")
    return found


async def assert_accessible(page: Page) -> None:
    """Fail listing every serious or critical axe-core violation on the current page."""
    found = await axe_violations(page)
    if found:
        listing = "\n".join(f"  - {line}" for line in found)
        pytest.fail(
            f"axe-core: serious or critical violations on {page.url}:\n{listing}",
            pytrace=False,
        )


def screenshot_directory() -> Path:
    """``$PLAINSIGHT_TEST_OUTPUT/screenshots``, else ``test-output/screenshots`` at the root."""
    base = os.environ.get(OUTPUT_VARIABLE) or str(ROOT / "test-output")
    return Path(base) / "screenshots"


async def screenshot(page: Page, name: str) -> list[Path]:
    """Full-page PNGs of the current page at phone and desktop width (NAME-phone.png,
    NAME-desktop.png); the page's viewport is put back afterwards."""
    if not SCREENSHOT_NAME.fullmatch(name):
        raise ValueError(f"screenshot name must match {SCREENSHOT_NAME.pattern}: {name!r}")
    directory = screenshot_directory()
    directory.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    saved: list[Path] = []
    try:
        for label, size in SCREEN_SIZES.items():
            await page.set_viewport_size(size)
            path = directory / f"{name}-{label}.png"
            await page.screenshot(path=path, full_page=True, animations="disabled")
            saved.append(path)
    finally:
        if original is not None:
            await page.set_viewport_size(original)
    return saved


async def close_watched(watches: list[PageWatch]) -> str:
    """Close each watched context, and return the report of every problem they saw ("" when
    none): what a page test's teardown fails with."""
    reports = []
    for watch in watches:
        problems = await watch.problems()
        await watch.context.close()
        if problems:
            reports.append(problems.report())
    return "\n\n".join(reports)


async def tab_to(page: Page, target: Locator, *, limit: int = 60) -> int:
    """Press Tab (from wherever focus is) until ``target`` has the focus, as a keyboard-only
    reader would reach it; the number of presses. Fails if ``limit`` presses never get there
    (the element is not in the tab order, or hidden behind too much)."""
    for presses in range(1, limit + 1):
        await page.keyboard.press("Tab")
        if await target.evaluate("(element) => element === document.activeElement"):
            return presses
    pytest.fail(f"{target} not reached with {limit} presses of Tab", pytrace=False)
