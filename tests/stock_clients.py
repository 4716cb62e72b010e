"""The real npm clients (graphql-ws, graphql-sse) driven from tests: tests/live_clients/resume.mjs.

Their packages, pinned in tests/live_clients/package.json, are installed once per run into a
scratch directory with npm, as tests/http_audit/run.sh installs graphql-http. Without node and npm
(or the registry) the tests that need them skip, unless CARTERA_TEST_REQUIRE_ALL=1 (CI's
PostgreSQL + Redis run) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "live_clients"
REQUIRED = os.environ.get("CARTERA_TEST_REQUIRE_ALL") == "1"
# Every wait on the script is bounded: it exits by itself after 60 s without its events.
SCRIPT_TIMEOUT = 90


def _unavailable(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"CARTERA_TEST_REQUIRE_ALL=1 but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def stock_clients() -> Path:
    """A directory where `node resume.mjs` finds graphql-ws, graphql-sse and ws."""
    if not (shutil.which("node") and shutil.which("npm")):
        _unavailable("the stock-client tests need node and npm")
    work = Path(tempfile.mkdtemp(prefix="cartera-stock-clients-"))
    for name in ("package.json", "resume.mjs"):
        shutil.copy(HERE / name, work / name)
    done = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        _unavailable(f"npm install of the stock clients failed: {done.stderr.strip()[-500:]}")
    return work


class StockClient:
    """One run of resume.mjs: the JSON lines it printed, read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, directory: Path, transport: str, url: str, token: str, *, expected: int, cut_every: int
    ) -> StockClient:
        process = await asyncio.create_subprocess_exec(
            "node",
            "resume.mjs",
            transport,
            url,
            token,
            str(expected),
            str(cut_every),
            cwd=directory,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(json.loads(raw))

    def received(self) -> list[str]:
        return [line["received"] for line in self.lines if "received" in line]

    def count(self, key: str) -> int:
        return sum(1 for line in self.lines if key in line)

    async def finished(self) -> list[str]:
        """The event ids it received, once it has all it expected (failing the test otherwise)."""
        try:
            async with asyncio.timeout(SCRIPT_TIMEOUT):
                code = await self.process.wait()
                await self._reader
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"the stock client did not finish: {self.lines}")
        assert self.process.stderr is not None
        errors = (await self.process.stderr.read()).decode()
        assert code == 0, f"exit {code}: {self.lines} {errors}"
        return self.received()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
