"""Debian's nginx in front of test replicas, loaded from the configuration the package ships
(api/deploy/nginx.conf, the README's block): only the replicas' addresses, the listen ports,
the certificate paths and server_name are changed. It runs in the foreground with its own
prefix, pid file and temporary directories, wrapped in a main file that stands for Debian's
/etc/nginx/nginx.conf (which includes conf.d/*.conf inside its http block)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NGINX = Path("/usr/sbin/nginx")
READY_TIMEOUT_S = 15.0
# The upstream block's consecutive `server ADDRESS OPTIONS;` lines.
SHIPPED_UPSTREAM = re.compile(r"(?:^    server \S+ (max_fails=[^\n]*)\n)+", re.M)
SHIPPED_HTTPS = "    listen 443 ssl http2;\n"
SHIPPED_HTTP = "    listen 80;\n"
SHIPPED_NAME = "server_name plainsight.example.org;"
SHIPPED_CERT = "/etc/letsencrypt/live/plainsight.example.org/fullchain.pem"
SHIPPED_KEY = "/etc/letsencrypt/live/plainsight.example.org/privkey.pem"


def shipped_config() -> str:
    return (resources.files("api") / "deploy" / "nginx.conf").read_text()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate only (and checks the host name against it)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> Certificate:
    """A P-256 certificate for ``host`` (an IP address), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plainsight test proxy")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(directory / "proxy.crt", directory / "proxy.key")
    paths.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key.chmod(0o600)
    return paths


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the shipped configuration no longer has {old!r} once"
    return text.replace(old, new)


def site_config(
    *,
    upstreams: Sequence[str],
    https_port: int,
    http_port: int,
    certificate: Certificate,
    host: str = "127.0.0.1",
) -> str:
    """The shipped file with this run's replicas (``host:port``), ports, certificate and name;
    everything else byte for byte."""
    text = shipped_config()
    block = SHIPPED_UPSTREAM.search(text)
    assert block is not None, "the shipped configuration has no upstream server lines"
    servers = "".join(f"    server {address} {block.group(1)}\n" for address in upstreams)
    text = text[: block.start()] + servers + text[block.end() :]
    text = _replace_once(text, SHIPPED_HTTPS, f"    listen {host}:{https_port} ssl http2;\n")
    text = _replace_once(text, SHIPPED_HTTP, f"    listen {host}:{http_port};\n")
    text = text.replace(SHIPPED_NAME, f"server_name {host};")
    text = _replace_once(text, SHIPPED_CERT, str(certificate.cert))
    return _replace_once(text, SHIPPED_KEY, str(certificate.key))


def main_config(directory: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf does, in this directory: its http-level access log
    and main error log are kept (files here), so a test can see that the site's own settings
    keep client addresses out of both."""
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    # As root, workers would otherwise run as nobody and could not use this private directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"daemon off;\n{user}worker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'main-error.log'};\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
        + f"    access_log {directory / 'access.log'};\n"
        f"    include {site};\n"
        "}\n"
    )


def write_configs(directory: Path, site: str) -> Path:
    """The site file and the main file around it; returns the main file."""
    directory.mkdir(parents=True, exist_ok=True)
    site_path = directory / "plainsight.conf"
    site_path.write_text(site)
    main = directory / "nginx.conf"
    main.write_text(main_config(directory, site_path))
    return main


@dataclass
class Nginx:
    process: asyncio.subprocess.Process
    directory: Path
    https_url: str
    http_url: str
    stderr: Path

    def logs(self) -> dict[str, str]:
        """Every log nginx wrote: its stderr, the main error log, the http access log."""
        names = {"stderr": self.stderr}
        names |= {p.name: p for p in (self.directory / "main-error.log", self.access_log)}
        return {
            name: path.read_text(errors="replace") if path.exists() else ""
            for name, path in names.items()
        }

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"


@asynccontextmanager
async def running_nginx(
    directory: Path,
    *,
    upstreams: Sequence[str],
    https_port: int,
    http_port: int,
    certificate: Certificate,
) -> AsyncIterator[Nginx]:
    """nginx in the foreground until the block ends (then stopped gracefully)."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: apt-get install nginx (.ci/run installs it)")
    site = site_config(
        upstreams=upstreams, https_port=https_port, http_port=http_port, certificate=certificate
    )
    main = write_configs(directory, site)
    stderr = directory / "stderr.log"
    with stderr.open("wb") as error_file:
        process = await asyncio.create_subprocess_exec(
            str(NGINX), "-e", "stderr", "-p", str(directory), "-c", str(main),
            stdin=subprocess.DEVNULL, stdout=error_file, stderr=error_file,
        )  # fmt: skip
    nginx = Nginx(
        process,
        directory,
        f"https://127.0.0.1:{https_port}",
        f"http://127.0.0.1:{http_port}",
        stderr,
    )
    try:
        await _wait_for_port(nginx, https_port)
        yield nginx
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish the open requests
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_for_port(nginx: Nginx, port: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    while loop.time() < deadline:
        if nginx.process.returncode is not None:
            pytest.fail(f"nginx exited with {nginx.process.returncode}:\n{nginx.logs()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    pytest.fail(f"nginx did not listen on {port} within {READY_TIMEOUT_S} s:\n{nginx.logs()}")
