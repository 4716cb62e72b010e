"""A job whose process is killed mid-export is finished by another process, and the file holds
every row exactly once (S5): two real `cartera serve` processes on one PostgreSQL database and
one files directory. Skipped on SQLite (one process there by design)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from db.models import Job, Role
from tests.conftest import POSTGRES_URL, SECRET
from tests.factories import Factory
from tests.test_live_processes import _free_port, _wait_for

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs CARTERA_TEST_POSTGRES_URL")

ROWS = 20_000
EXPORT = """
mutation { exportSalesAttentions(input: {selection: {filter: {period: LAST_30_DAYS}}, columns: [{field: FULL_NAME}]}) {
  job { id } userErrors { code field } } }
"""
JOB = "query($id: ID!) { node(id: $id) { ... on Job { status attempts doneCount file { url } } } }"


class Serve:
    def __init__(self, database_url: str, files: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CARTERA_SECRET_KEY": SECRET,
            "CARTERA_ATTACHMENTS_DIR": str(files),
            "CARTERA_LOG_LEVEL": "WARNING",
            **env,
        }
        environment.pop("REDIS_URL", None)
        cartera = Path(sys.executable).with_name("cartera")
        self.proc = subprocess.Popen([str(cartera), "serve", "--port", str(self.port)], env=environment)
        _wait_for(lambda: httpx.get(f"{self.url}/healthz").status_code == 200, "cartera serve")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


async def test_a_killed_export_is_finished_by_another_process_with_every_row_once(
    database_url: str, factory: Factory, tmp_path: Path
) -> None:
    await factory.sales_attentions_bulk(await factory.team("Ventas"), ROWS)
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    headers = {"authorization": f"Bearer {token}"}
    lease = {"CARTERA_JOB_LEASE_SECONDS": "3", "CARTERA_JOB_POLL_SECONDS": "0.5"}
    # The first process writes slowly (a pause per chunk, a test-only setting) so it can be
    # killed mid-file; the second runs no jobs until the first one has claimed it.
    first = Serve(
        database_url,
        tmp_path,
        CARTERA_EXPORT_CHUNK_DELAY_SECONDS="0.3",
        CARTERA_JOB_PROGRESS_SECONDS="0.1",
        **lease,
    )
    second: Serve | None = None
    try:
        async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=30) as http:
            body = (await http.post("/graphql", json={"query": EXPORT})).json()
            job_id = body["data"]["exportSalesAttentions"]["job"]["id"]
            deadline = time.monotonic() + 30
            while True:
                job = (await http.post("/graphql", json={"query": JOB, "variables": {"id": job_id}})).json()
                node = job["data"]["node"]
                if node["status"] == "RUNNING" and node["doneCount"] > 0:
                    break
                assert time.monotonic() < deadline, node
                await asyncio.sleep(0.05)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        async with factory.sessionmaker() as session:
            row = (await session.scalars(select(Job))).one()
            assert (row.status, row.attempts) == ("RUNNING", 1)
        second = Serve(database_url, tmp_path, **lease)
        async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                job = (await http.post("/graphql", json={"query": JOB, "variables": {"id": job_id}})).json()
                node = job["data"]["node"]
                if node["status"] == "DONE":
                    break
                assert node["status"] == "RUNNING", node
                assert time.monotonic() < deadline, node
                await asyncio.sleep(0.2)
            assert node["attempts"] == 2
            content = (await http.get(node["file"]["url"])).content
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content[3:].decode(), newline=""), delimiter=";"))
    assert rows[0] == ["Nombre completo"]
    names = [r[0] for r in rows[1:]]
    assert len(names) == ROWS
    assert sorted(names) == sorted(f"Cliente{i:05d} Ñandú" for i in range(ROWS))
    # Newest first: the attentions were created a second apart, Cliente00000 the newest.
    assert names[:2] == ["Cliente00000 Ñandú", "Cliente00001 Ñandú"]
