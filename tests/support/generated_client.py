"""A Python client generated from the served OpenAPI document, as a mobile or research team
would make one: openapi-python-client's command line, reading the document over HTTP from the
running service, writing a package that is then imported by name.

The generator's messages (a warning means a response, body or whole operation was dropped from
the client) are parsed into one record each, so tests can say which operations lost what."""

from __future__ import annotations

import asyncio
import importlib
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

PACKAGE: Final = "plainsight_generated_client"
# The configuration the README tells client teams to use, as shipped with the service.
SHIPPED_CONFIG: Final = (
    Path(__file__).resolve().parents[2] / "api/clients/openapi-python-client.yaml"
)
# Added to it: a name to import, and no formatting hooks (ruff is not needed to import the
# package; skipping them saves ~1 s). YAML, so the shipped file is used as it is written.
TEST_CONFIG: Final = f"package_name_override: {PACKAGE}\npost_hooks: []\n"
_HEADER = re.compile(r"^(WARNING|ERROR) (.+)$")
# 0.29 prints some values as the repr of its internal string type, with a memory address.
_OBJECT_REPR = re.compile(r"<openapi_python_client\.[\w.]+ object at 0x[0-9a-f]+>")
_GENERATOR_FOOTER = "If you believe this was a mistake"


@dataclass(frozen=True)
class GeneratorMessage:
    """One warning or error: ``header`` names the operation, ``detail`` says what was lost."""

    level: str
    header: str
    detail: str

    def names(self, method: str, path: str) -> bool:
        """Whether the message is about the operation ``method path``."""
        return f" {method.upper()} {path} " in f" {self.header} "

    def __str__(self) -> str:
        return f"{self.level} {self.header}: {self.detail}"


@dataclass(frozen=True)
class GeneratedClient:
    """The imported package, the generator's messages and how long generation took."""

    package: ModuleType
    messages: tuple[GeneratorMessage, ...]
    seconds: float

    def module(self, name: str) -> Any:
        """A module of the package by its dotted name (``api.reports.v1_reports_submit_report``,
        ``models``): typed at run time; mypy cannot see code generated during the run."""
        return importlib.import_module(f"{PACKAGE}.{name}")

    def messages_about(self, method: str, path: str) -> list[GeneratorMessage]:
        return [message for message in self.messages if message.names(method, path)]


def parse_messages(output: str) -> tuple[GeneratorMessage, ...]:
    """The generator's WARNING/ERROR blocks: a header line, then the first non-blank line of
    its explanation (the schema it quotes after that is left out)."""
    messages: list[GeneratorMessage] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _HEADER.match(line.strip())
        if match is None:
            continue
        detail = ""
        for following in lines[index + 1 :]:
            text = following.strip()
            if _HEADER.match(text) or text.startswith(_GENERATOR_FOOTER):
                break
            if text:
                detail = _OBJECT_REPR.sub("<?>", text)
                break
        header = match.group(2).removeprefix("parsing ")
        messages.append(GeneratorMessage(match.group(1), header, detail))
    return tuple(messages)


def generator_command() -> str:
    """The ``openapi-python-client`` script installed beside this interpreter."""
    beside = Path(sys.executable).with_name("openapi-python-client")
    if beside.exists():
        return str(beside)
    found = shutil.which("openapi-python-client")
    assert found is not None, "openapi-python-client is not installed (pip install -e '.[test]')"
    return found


async def generate(document_url: str, workspace: Path) -> GeneratedClient:
    """Run the generator against ``document_url`` (in a subprocess, so this event loop keeps
    serving the document), write the package under ``workspace`` and import it."""
    config = workspace / "config.yaml"
    config.write_text(SHIPPED_CONFIG.read_text(encoding="utf-8") + "\n" + TEST_CONFIG)
    output = workspace / PACKAGE
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        generator_command(),
        "generate",
        "--url",
        document_url,
        "--meta",
        "none",
        "--config",
        str(config),
        "--output-path",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await process.communicate()
    seconds = time.perf_counter() - started
    text = stdout.decode(errors="replace")
    assert process.returncode == 0, f"openapi-python-client failed:\n{text}"
    assert (output / "__init__.py").is_file(), f"no package written:\n{text}"
    sys.path.insert(0, str(workspace))
    importlib.invalidate_caches()
    package = importlib.import_module(PACKAGE)
    return GeneratedClient(package, parse_messages(text), seconds)


def forget(workspace: Path) -> None:
    """Undo the import: the package's modules and its place on ``sys.path``."""
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]
    if str(workspace) in sys.path:
        sys.path.remove(str(workspace))
