"""The served OpenAPI documents, as a mobile team would use them: both validate, and the client
generators the README names generate from them without a message that drops a model.

openapi-python-client reads the 3.1 document (/schema/openapi.json); openapi-generator's
``kotlin`` and ``swift5`` read the 3.0.3 rendering (/schema/openapi-3.0.json). Each generator
runs once per session (generation only; the Python package is imported and type-checked, the
others are not compiled): about 25 s in all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_python_client.config import ConfigFile
from openapi_spec_validator import validate

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import load_settings
from storage.db.pool import SingleConnectionDatabase, connect
from tests.support.live_server import live_server

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[3]
PYTHON_CLIENT_CONFIG = REPOSITORY / "api" / "clients" / "openapi-python-client.yaml"
GENERATOR_TIMEOUT_S = 180
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# openapi-generator's warnings that drop nothing: swift5's own deprecation notice, a model
# renamed because its name is a Swift keyword (the model is still generated), and the one line
# ModelUtils logs when it first reads a named response example (an Example object without
# `$ref`: it asks the null reference for a schema name). With and without the examples the
# generators write the same files, the examples only filling in the API tests' sample bodies.
HARMLESS_GENERATOR_WARNINGS = (
    re.compile(r"Generator 'swift5' is considered deprecated"),
    re.compile(r"IMPORTANT: This generator has been deprecated"),
    re.compile(r"\(reserved word\) cannot be used as model name\. Renamed to \w+"),
    re.compile(r"^Failed to get the schema name: null$"),
)
_LOG_LINE = re.compile(r"^\[[^\]]*\] (ERROR|WARN) +(\S+) - (.*)$")


@dataclass(frozen=True)
class Served:
    openapi_31: Path
    openapi_30: Path
    document_31: dict[str, Any]
    document_30: dict[str, Any]


@dataclass(frozen=True)
class Generated:
    command: list[str]
    returncode: int
    output: str
    directory: Path


@pytest.fixture(scope="session")
async def served(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    data_dir: Path,
    photo_workers: PhotoWorkers,
) -> Served:
    """Both documents as a live app serves them, saved where the generators read them."""
    settings = load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        receipt_key="7n2kkfF7W6jvN4O2wtwpS8bW9c3hD-9YmVqKdc5uQiE",
        rate_limits="off",
    )
    directory = tmp_path_factory.mktemp("openapi")
    connection = await connect(database_url)
    try:
        app = create_app(
            settings, database=SingleConnectionDatabase(connection), photo_workers=photo_workers
        )
        async with live_server(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            documents = []
            for name in ("openapi.json", "openapi-3.0.json"):
                response = await client.get(f"/schema/{name}")
                assert response.status_code == 200, f"/schema/{name}: {response.text}"
                (directory / name).write_bytes(response.content)
                documents.append(response.json())
    finally:
        await connection.close()
    return Served(
        directory / "openapi.json", directory / "openapi-3.0.json", documents[0], documents[1]
    )


def _tool(name: str) -> str:
    """The console script installed beside this interpreter (the test extras), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found is not None, f"{name} is not installed: pip install -e '.[test]'"
    return found


def _run(command: list[str], directory: Path) -> Generated:
    # The venv's bin first: openapi-python-client formats its output with ruff from PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # The test's own tools, no shell.
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=GENERATOR_TIMEOUT_S,
        env=env,
        check=False,
    )
    return Generated(command, done.returncode, done.stdout + done.stderr, directory)


@pytest.fixture(scope="session")
def python_client(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    directory = tmp_path_factory.mktemp("python-client") / "client"
    command = [
        _tool("openapi-python-client"),
        "generate",
        "--path",
        str(served.openapi_31),
        "--config",
        str(PYTHON_CLIENT_CONFIG),
        "--output-path",
        str(directory),
        "--overwrite",
    ]
    return _run(command, directory)


def _openapi_generator(
    generator: str, served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Generated:
    assert shutil.which("java"), "openapi-generator needs a Java runtime (default-jre-headless)"
    directory = tmp_path_factory.mktemp(generator) / "client"
    command = [
        _tool("openapi-generator-cli"),
        "generate",
        "--generator-name",
        generator,
        "--input-spec",
        str(served.openapi_30),
        "--output",
        str(directory),
    ]
    return _run(command, directory)


@pytest.fixture(scope="session")
def kotlin_client(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return _openapi_generator("kotlin", served, tmp_path_factory)


@pytest.fixture(scope="session")
def swift_client(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return _openapi_generator("swift5", served, tmp_path_factory)


def python_client_problems(output: str) -> list[str]:
    """openapi-python-client's warnings and errors: after its "Warning(s)/Error(s)
    encountered" banner, each problem is a header line ("WARNING parsing GET /v1/... within
    tag.") and a detail line (what was dropped), then the offending schema as indented JSON,
    which is left out here."""
    lines = output.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if "encountered while generating" in line), None
    )
    if start is None:
        return []
    messages: list[str] = []
    in_schema = False
    for line in lines[start + 1 :]:
        if line.startswith("If you believe this was a mistake"):
            break
        if line in ("{", "["):
            in_schema = True
        elif in_schema:
            in_schema = line not in ("}", "]")
        elif line.strip():
            messages.append(re.sub(r"<openapi_python_client[^>]*>", "…", line.strip()))
    return messages


def generator_problems(output: str) -> list[str]:
    """openapi-generator's ERROR lines (normaliser errors among them) and its WARN lines but
    the harmless ones, each with the lines that continue it (a dumped parameter)."""
    problems: list[str] = []
    for line in output.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        level, logger, message = match.groups()
        if level == "WARN" and any(p.search(message) for p in HARMLESS_GENERATOR_WARNINGS):
            continue
        problems.append(f"{level} {logger.rsplit('.', 1)[-1]}: {message}")
    return problems


def operations(document: dict[str, Any]) -> list[str]:
    return sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    )


def test_both_served_documents_are_valid(served: Served) -> None:
    assert served.document_31["openapi"].startswith("3.1.")
    assert served.document_30["openapi"] == "3.0.3"
    validate(served.document_31)
    validate(served.document_30)
    # The same API in both: every operation, every named schema.
    assert operations(served.document_30) == operations(served.document_31)
    assert set(served.document_30["components"]["schemas"]) == set(
        served.document_31["components"]["schemas"]
    )


def test_python_client_generates_every_operation_cleanly(python_client: Generated) -> None:
    problems = python_client_problems(python_client.output)
    assert problems == [], f"openapi-python-client dropped {len(problems)} piece(s):\n" + "\n".join(
        problems
    )
    assert python_client.returncode == 0, python_client.output[-3000:]


def test_python_client_has_a_function_for_every_operation_and_types_the_download(
    python_client: Generated, served: Served
) -> None:
    modules = [
        path for path in python_client.directory.glob("*/api/*/*.py") if path.name != "__init__.py"
    ]
    assert len(modules) == len(operations(served.document_31))
    (download,) = [path for path in modules if path.name.endswith("photo_id_get_photo.py")]
    source = download.read_text(encoding="utf-8")
    # The photo download answers bytes for the whole (200) and for one range (206).
    for status in (200, 206):
        assert re.search(rf"response_{status} = File\(\s*payload\s*=\s*BytesIO", source), status


def binary_media_types(document: dict[str, Any]) -> set[str]:
    """Every media type of a request body or a response whose schema is binary."""
    found: set[str] = set()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            parts = [operation.get("requestBody", {}), *operation["responses"].values()]
            for part in parts:
                for media_type, content in part.get("content", {}).items():
                    if content.get("schema", {}).get("format") == "binary":
                        found.add(media_type)
    return found


def test_the_python_client_config_covers_every_binary_media_type(served: Served) -> None:
    """The shipped config names each binary media type the document uses, and no other: one
    missing is a body the client drops, one too many is a type the API stopped using."""
    config = ConfigFile.load_from_path(PYTHON_CLIENT_CONFIG)
    overrides = config.content_type_overrides or {}
    assert set(overrides.values()) == {"application/octet-stream"}
    assert set(overrides) == binary_media_types(served.document_31) - {"application/octet-stream"}


def test_every_python_client_module_imports(python_client: Generated) -> None:
    """A module that names something it does not import (openapi-python-client #1451 wrote
    ``| Unset`` without the import for a body with several media types) fails here twice: by
    name from ruff's undefined-name rule, and by importing every module in a fresh process."""
    (package,) = [
        path for path in python_client.directory.iterdir() if (path / "__init__.py").is_file()
    ]
    lint = subprocess.run(
        [
            _tool("ruff"),
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "F821,F822,F823",
            str(package),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    modules = sorted(
        ".".join(path.relative_to(python_client.directory).with_suffix("").parts).removesuffix(
            ".__init__"
        )
        for path in package.rglob("*.py")
    )
    importer = (
        "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    )
    imported = subprocess.run(
        [sys.executable, "-c", importer, *modules],
        cwd=python_client.directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert len(modules) > 100, modules


def test_the_python_client_type_checks_strictly(python_client: Generated, tmp_path: Path) -> None:
    """The typed models and functions hold together under mypy --strict, as a team that
    type-checks its app would run it over the generated package."""
    (package,) = [
        path for path in python_client.directory.iterdir() if (path / "__init__.py").is_file()
    ]
    checked = subprocess.run(
        [_tool("mypy"), "--strict", "--cache-dir", str(tmp_path / "mypy"), package.name],
        cwd=python_client.directory,
        capture_output=True,
        text=True,
        timeout=GENERATOR_TIMEOUT_S,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]
    assert "Success: no issues found" in checked.stdout


@pytest.mark.parametrize("generator", ["kotlin", "swift5"])
def test_openapi_generator_generates_without_errors(
    generator: str, request: pytest.FixtureRequest
) -> None:
    generated: Generated = request.getfixturevalue(
        "kotlin_client" if generator == "kotlin" else "swift_client"
    )
    problems = generator_problems(generated.output)
    assert problems == [], (
        f"openapi-generator {generator} logged {len(problems)} problem(s):\n" + "\n".join(problems)
    )
    assert generated.returncode == 0, generated.output[-3000:]
    models = list(generated.directory.rglob("*.kt" if generator == "kotlin" else "*.swift"))
    assert any("Problem" in path.stem for path in models), "no Problem model generated"
    assert any("ObserverReport" in path.stem for path in models), "no report model generated"


def test_the_message_parsers_find_what_the_generators_print() -> None:
    """The parsers above, on output as the generators print it (so a clean run is not an
    unparsed one)."""
    python_output = (
        "Generating client\n"
        "Warning(s) encountered while generating. Client was generated, but some pieces may be "
        "missing\n\n"
        "WARNING parsing GET /v1/accounts within accounts.\n\n"
        "Cannot parse response for status code <openapi_python_client.x object at 0x1> "
        "(Invalid property in union <openapi_python_client.x object at 0x2>), response will "
        "be omitted from generated client\n\n"
        '{\n  "type": "array"\n}\n\n'
        "If you believe this was a mistake or this tool is missing a feature you need, please "
        "open an issue\n"
    )
    assert python_client_problems(python_output) == [
        "WARNING parsing GET /v1/accounts within accounts.",
        "Cannot parse response for status code … (Invalid property in union …), response "
        "will be omitted from generated client",
    ]
    assert python_client_problems("Generating client\n") == []
    generator_output = (
        "[main] INFO  o.o.codegen.DefaultGenerator - Generating with dryRun=false\n"
        "[main] ERROR o.o.codegen.OpenAPINormalizer - Type array not yet supported in "
        "openapi-normalizer to process OpenAPI 3.1 spec with multiple types.\n"
        "[main] WARN  o.o.codegen.DefaultCodegen - No schema defined for Header 'Location', "
        "using a String schema\n"
        "[main] WARN  o.o.codegen.DefaultGenerator - Generator 'swift5' is considered "
        "deprecated.\n"
        "[main] WARN  o.o.c.languages.Swift5ClientCodegen - Type (reserved word) cannot be "
        "used as model name. Renamed to ModelType\n"
    )
    assert generator_problems(generator_output) == [
        "ERROR OpenAPINormalizer: Type array not yet supported in openapi-normalizer to "
        "process OpenAPI 3.1 spec with multiple types.",
        "WARN DefaultCodegen: No schema defined for Header 'Location', using a String schema",
    ]
