"""Shared pieces of the benchmarks: a scratch database, a served app, latency and throughput runs."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartera.app import create_app  # noqa: E402
from services.settings import Settings, normalise_database_url  # noqa: E402

SECRET = "bench-secret-" + "x" * 40


@asynccontextmanager
async def scratch_postgres(server_url: str, keep: bool = False) -> AsyncIterator[str]:
    """A fresh database on the given PostgreSQL server, dropped afterwards unless kept."""
    admin_url = normalise_database_url(server_url)
    name = f"cartera_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}", file=sys.stderr)
        await admin.dispose()


async def statements_per_request(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> int:
    """SQL statements one request runs, counted in-process on the app's engine (warm caches)."""
    app = create_app(Settings(database_url=url, secret_key=SECRET))
    counted: list[str] = []
    event.listen(app.state.engine.sync_engine, "before_cursor_execute", lambda *a: counted.append(a[2]))
    body = {"query": query, "variables": variables}
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.post("/graphql", json=body, headers=headers)
        counted.clear()
        response = await client.post("/graphql", json=body, headers=headers)
        assert "errors" not in response.json(), response.text
    await app.state.engine.dispose()
    return len([s for s in counted if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))])


def start_server(
    url: str, redis_url: str | None = None, extra_env: dict[str, str] | None = None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """The app under uvicorn, as `cartera serve` runs it: one process, or `workers` behind one port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "CARTERA_SECRET_KEY": SECRET, "CARTERA_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra_env or {})
    command = [sys.executable, "-m", "uvicorn", "--factory", "cartera.asgi:create", "--port", str(port)]
    command += ["--ws", "websockets-sansio", "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


async def latency(base: str, token: str, body: dict[str, Any], n: int) -> list[float]:
    """Milliseconds per request, one client, one request at a time."""
    samples = []
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(n):
            started = time.perf_counter()
            response = await client.post("/graphql", json=body)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.text
    return samples


async def throughput(base: str, token: str, body: dict[str, Any], n: int, concurrency: int) -> float:
    """Requests per second with `concurrency` clients sharing `n` requests."""
    remaining = n
    limits = httpx.Limits(max_connections=concurrency)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await client.post("/graphql", json=body)
                assert response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1)}


async def vacuum(url: str, *tables: str) -> None:
    """VACUUM ANALYZE these tables, so that a run does not pay for the dead rows of the last one.

    Each run writes and deletes hundreds of thousands of rows; autovacuum may not have come by
    yet (seen: 520,916 dead memberships after two portfolio runs, each slower than the last).
    """
    await outside_a_transaction(url, *(f"VACUUM ANALYZE {table}" for table in tables))


async def outside_a_transaction(url: str, *statements: str) -> None:
    """Run maintenance statements (VACUUM, CHECKPOINT) that PostgreSQL refuses inside a transaction."""
    engine = create_async_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


# --- client processes and what the machine spent ----------------------------------------------


def run_in_client_process(work: Callable[[], Awaitable[Any]], ready: Any, go: Any, results: Any) -> None:
    """The body of one client process (see client_processes): signal ready, wait for the start,
    run `work()`, and report (its result, when it started and ended, this process's CPU seconds)."""

    async def run() -> tuple[Any, float, float]:
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        started = time.monotonic()
        found = await work()
        return found, started, time.monotonic()

    before = resource.getrusage(resource.RUSAGE_SELF)
    found, started, ended = asyncio.run(run())
    after = resource.getrusage(resource.RUSAGE_SELF)
    results.put((found, started, ended, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))


async def client_processes(
    target: Callable[..., None], shares: list[tuple[Any, ...]], wait_seconds: float
) -> tuple[list[Any], float, float]:
    """`target(*share, ready, go, results)` in one spawned process per share (it calls
    run_in_client_process), all started together once every one is ready: (each one's result,
    the wall seconds from the first start to the last end, their CPU seconds); each result is
    awaited at most `wait_seconds`."""
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    workers = []
    try:
        for share in shares:
            ready = context.Event()
            worker = context.Process(target=target, args=(*share, ready, go, results))
            worker.start()
            workers.append((worker, ready))
        for worker, ready in workers:
            while not ready.is_set():
                if not worker.is_alive():
                    raise RuntimeError("a client process failed to start (its traceback is above)")
                await asyncio.sleep(0.2)
        go.set()
        loop = asyncio.get_running_loop()
        found, starts, ends, cpu = [], [], [], 0.0
        for _ in workers:
            result, started, ended, used = await loop.run_in_executor(None, results.get, True, wait_seconds)
            found.append(result)
            starts.append(started)
            ends.append(ended)
            cpu += used
    finally:
        go.set()
        for worker, _ in workers:
            worker.join(30)
    return found, max(ends) - min(starts), cpu


def proc_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)
