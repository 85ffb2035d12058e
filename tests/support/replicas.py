"""Several ``plainsight serve`` processes sharing one database, Redis, bucket and receipt key,
each on a fixed port (so nginx's upstream block names it across a restart), each in a process
group of its own so that killing one takes its photo workers with it, as a crashed machine
would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.cli import Server, wait_until_ready


@dataclass
class Replica:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    server: Server | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.process.returncode is None

    async def start(self) -> None:
        """Start (or restart) the replica; returns once its /readyz answers 200."""
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                "--port", str(self.port),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.env["PLAINSIGHT_DATA_DIR"], start_new_session=True,
            )  # fmt: skip
        self.server = Server(process, self.base_url, self.log)
        self.starts += 1
        await wait_until_ready(self.server)

    async def kill(self) -> None:
        """SIGKILL the replica's whole process group: no shutdown of any kind."""
        assert self.server is not None
        assert self.running
        os.killpg(self.server.process.pid, signal.SIGKILL)
        await self.server.process.wait()
        self.kills.append(asyncio.get_running_loop().time())

    async def stop(self) -> None:
        if self.server is not None and self.running:
            os.killpg(self.server.process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.server.process.wait()
            except TimeoutError:
                os.killpg(self.server.process.pid, signal.SIGKILL)
                await self.server.process.wait()

    async def metrics(self, token: str) -> str:
        """The replica's own /metrics (scraped at its address, not through nginx)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.text

    def output(self) -> str:
        return self.log.read_text(errors="replace")
