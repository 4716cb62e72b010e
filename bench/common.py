"""Shared pieces of the benchmarks: a scratch database, a served app, latency and throughput runs."""

from __future__ import annotations

import argparse
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
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartera.app import create_app  # noqa: E402
from db import migrate  # noqa: E402
from db.engine import create_engine  # noqa: E402
from db.models import Contact, Role, User  # noqa: E402
from services import demo  # noqa: E402
from services.auth import issue_token  # noqa: E402
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


@asynccontextmanager
async def named_postgres(server_url: str, name: str) -> AsyncIterator[str]:
    """This database on the given PostgreSQL server, created if it is not there; never dropped."""
    admin_url = normalise_database_url(server_url)
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def bench_database(args: argparse.Namespace) -> AbstractAsyncContextManager[str]:
    """The benchmark's database (an async context manager giving its URL): --reuse-database's, or a
    scratch one dropped afterwards unless --keep."""
    if args.reuse_database:
        return named_postgres(args.postgres, args.reuse_database)
    return scratch_postgres(args.postgres, keep=args.keep)


def database_arguments(parser: argparse.ArgumentParser, contacts: int) -> None:
    """--postgres, --contacts, --seed, --reuse-database and --keep, as seeded_database reads them."""
    parser.add_argument(
        "--postgres",
        required=True,
        help="PostgreSQL server URL (any database on it); the benchmark database is created there",
    )
    parser.add_argument("--contacts", type=int, default=contacts, help=f"contacts to seed (default {contacts})")
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (default 2026)")
    parser.add_argument(
        "--reuse-database",
        metavar="NAME",
        help="measure this database on the server, creating and seeding it first if it has no contacts; never dropped",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (printed on stderr)")


@dataclass(frozen=True)
class Seeded:
    url: str
    name: str
    contacts: int
    seed_seconds: float | None  # None: reused as it was


def _progress(what: str, done: int, total: int, seconds: float) -> None:
    print(f"\rseeding {done:,}/{total:,} {what} ({done / seconds:,.0f}/s)", end="", file=sys.stderr, flush=True)


async def _seed_if_empty(url: str, contacts: int, seed: int) -> tuple[int, float | None]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            present = int(await conn.scalar(select(func.count()).select_from(Contact)) or 0)
        if present:
            return present, None
        started = time.perf_counter()
        # Contacts only, as every figure in bench/README.md was measured: each bench adds its own
        # portfolios, gestiones, conversations or attentions, and the demo's would change its
        # numbers (or collide: one attention not CLOSED per contact).
        await demo.seed(engine, contacts=contacts, seed_value=seed, progress=_progress, activity=False)
        print(file=sys.stderr)
        return contacts, time.perf_counter() - started
    finally:
        await engine.dispose()


@asynccontextmanager
async def seeded_database(args: argparse.Namespace) -> AsyncIterator[Seeded]:
    """The benchmark's database (bench_database) with `cartera seed-demo`'s data: --contacts
    contacts from --seed, seeded only when it has no contacts yet."""
    async with bench_database(args) as url:
        contacts, seconds = await _seed_if_empty(url, args.contacts, args.seed)
        yield Seeded(url=url, name=make_url(url).database or "", contacts=contacts, seed_seconds=seconds)


async def admin_id(url: str) -> int:
    """The first admin services.demo seeded."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            admin = await conn.scalar(select(func.min(User.id)).where(User.role == Role.ADMIN.value))
    finally:
        await engine.dispose()
    assert admin is not None, "no admin user: not a database seeded by services.demo"
    return int(admin)


async def admin_token(url: str) -> str:
    return issue_token(secret_key=SECRET, user_id=await admin_id(url), ttl_seconds=6 * 3600)


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
    url: str,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    http: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """The app under uvicorn, as `cartera serve` runs it: one process, or `workers` behind one port.
    `http` names uvicorn's HTTP implementation (default: uvicorn's choice, httptools when installed,
    as `cartera serve` leaves it)."""
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
    if http:
        command += ["--http", http]
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


def cuts(samples: list[float], digits: int = 1) -> dict[str, float | None]:
    """p50, p95, p99 and max of latencies in milliseconds (None with fewer than two)."""
    if len(samples) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    found = statistics.quantiles(samples, n=100)
    return {
        "p50_ms": round(found[49], digits),
        "p95_ms": round(found[94], digits),
        "p99_ms": round(found[98], digits),
        "max_ms": round(max(samples), digits),
    }


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


def postgres_cpu_seconds() -> float:
    """User and system CPU seconds every PostgreSQL process on this machine has used so far
    (backends come and go: compare two readings over a window with the same connections open)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    total += proc_cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


# --- a client that measures the server, not itself ----------------------------------------------


class RawClient:
    """One keep-alive HTTP/1.1 connection posting JSON to /graphql: 25-40 microseconds of CPU a
    request (measured against a trivial ASGI app; an asyncio.Protocol client was no cheaper), so
    the cores go to the server (httpx took about a millisecond each). `post` answers (status, the
    response's head, lower-cased, the body)."""

    def __init__(self, base: str, token: str | None, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        extra = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        self.head = (
            f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            "Accept: application/json\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in extra.items())
            + "Content-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes) -> tuple[int, bytes, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
        return status, head, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
