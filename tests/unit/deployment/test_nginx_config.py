"""The nginx configuration shipped in the package is the one the README shows, byte for byte
(tests/integration/deployment runs the shipped file), and it says what the README promises."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SECTION = "### TLS and replicas behind nginx"


def shipped_config() -> str:
    return (resources.files("api") / "deploy" / "nginx.conf").read_text()


def readme_blocks(language: str) -> list[str]:
    """The fenced blocks of ``language`` in the README's nginx subsection."""
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    return re.findall(rf"^```{language}\n(.*?)^```$", text[start:end], flags=re.S | re.M)


def test_the_readme_shows_the_shipped_configuration_verbatim() -> None:
    blocks = readme_blocks("nginx")
    assert len(blocks) == 1, "the subsection shows exactly one nginx block"
    assert blocks[0] == shipped_config()


def test_the_drift_check_would_see_a_changed_line() -> None:
    # The comparison is of whole text: a one-character change is not equal.
    config = shipped_config()
    assert config.replace("max_fails=1", "max_fails=2") != readme_blocks("nginx")[0]
    assert readme_blocks("python") == []  # another language's blocks are not taken


def test_the_package_declares_the_configuration_as_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "deploy/*.conf" in pyproject["tool"]["setuptools"]["package-data"]["api"]
    assert (ROOT / "api" / "deploy" / "nginx.conf").is_file()


def directives(name: str) -> list[str]:
    """Every value of directive ``name`` in the shipped file (comments left out)."""
    lines = [line.split("#", 1)[0].strip() for line in shipped_config().splitlines()]
    return [line[len(name) :].strip(" ;") for line in lines if line.startswith(f"{name} ")]


def test_forwarded_headers_are_overwritten_not_appended() -> None:
    assert directives("proxy_set_header") == [
        'Connection ""',
        "Host $host",
        "X-Forwarded-For $remote_addr",
        "X-Forwarded-Proto $scheme",
    ]
    assert "$proxy_add_x_forwarded_for" not in shipped_config()


def test_tls_is_modern_and_strict_transport_security_is_sent() -> None:
    assert directives("ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    assert directives("add_header") == ['Strict-Transport-Security "max-age=63072000" always']


def test_no_client_address_is_logged() -> None:
    assert set(directives("access_log")) == {"off"}
    # Below emerg, nginx's error lines carry "client: ADDR".
    assert set(directives("error_log")) == {"stderr emerg"}


def test_uploads_are_streamed_and_only_idempotent_posts_are_resent() -> None:
    assert directives("proxy_request_buffering") == ["off", "off"]
    assert directives("client_max_body_size") == ["10m", "21m", "2g"]
    assert directives("proxy_next_upstream") == [
        "error timeout",
        "error timeout non_idempotent",
    ]
