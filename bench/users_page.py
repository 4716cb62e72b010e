"""Benchmark: a page of 50 users with their teams, the platform's nested-list path.

Measures SQL statements per request (in-process), latency p50/p95 at one client and
requests per second at N concurrent clients against `cartera serve`'s app running in
a separate uvicorn process. Creates its own database (SQLite file, or a fresh
PostgreSQL database on the given server, dropped afterwards).

    python bench/users_page.py --help
    python bench/users_page.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartera.app import create_app  # noqa: E402
from db import migrate  # noqa: E402
from db.base import utcnow  # noqa: E402
from db.engine import create_engine  # noqa: E402
from db.models import Role, Team, TeamMember, User  # noqa: E402
from services.auth import hash_password, issue_token  # noqa: E402
from services.settings import Settings, normalise_database_url  # noqa: E402

SECRET = "bench-secret-" + "x" * 40
QUERY = """
query Page { users(first: 50) { totalCount nodes { id name email role
  teams(first: 5) { nodes { id name } } supervisedTeams { totalCount } } } }
"""


async def seed(url: str, users: int, teams: int) -> int:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = utcnow()
    password = hash_password("bench-password")
    async with engine.begin() as conn:
        await conn.execute(
            insert(Team),
            [
                {"id": i, "name": f"Equipo {i:04d}", "path": f"/{i}/", "created_at": now, "updated_at": now}
                for i in range(1, teams + 1)
            ],
        )
        await conn.execute(
            insert(User),
            [
                {
                    "id": i,
                    "email": f"agente{i}@example.com",
                    "name": f"Agente {i:06d}",
                    "role": (Role.ADMIN if i == 1 else Role.AGENT).value,
                    "password_hash": password,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, users + 1)
            ],
        )
        await conn.execute(
            insert(TeamMember),
            [{"team_id": (i % teams) + 1, "user_id": i, "created_at": now} for i in range(1, users + 1)]
            + [{"team_id": ((i + 7) % teams) + 1, "user_id": i, "created_at": now} for i in range(1, users + 1, 3)],
        )
        if conn.dialect.name == "postgresql":
            for table in ("teams", "users"):
                await conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    await engine.dispose()
    return 1


async def statements_per_request(url: str, token: str) -> int:
    app = create_app(Settings(database_url=url, secret_key=SECRET))
    counted: list[str] = []
    event.listen(app.state.engine.sync_engine, "before_cursor_execute", lambda *a: counted.append(a[2]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token}"})
        counted.clear()
        response = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token}"})
        assert "errors" not in response.json(), response.text
    await app.state.engine.dispose()
    return len([s for s in counted if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))])


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "CARTERA_SECRET_KEY": SECRET, "CARTERA_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "cartera.asgi:create",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
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


async def latency(base: str, token: str, n: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = await client.post("/graphql", json={"query": QUERY})
            samples.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    return samples


async def throughput(base: str, token: str, n: int, concurrency: int) -> float:
    remaining = n
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                r = await client.post("/graphql", json={"query": QUERY})
                assert r.status_code == 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", help="PostgreSQL server URL; a fresh database is created there (default: SQLite)")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--teams", type=int, default=100)
    p.add_argument("--requests", type=int, default=300, help="requests for the latency run")
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()

    drop: str | None = None
    if args.postgres:
        admin_url = normalise_database_url(args.postgres)
        name = f"cartera_bench_{uuid.uuid4().hex[:10]}"
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url, drop = make_url(admin_url).set(database=name).render_as_string(hide_password=False), name
    else:
        url = normalise_database_url(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    try:
        admin_id = await seed(url, args.users, args.teams)
        token = issue_token(secret_key=SECRET, user_id=admin_id, ttl_seconds=3600)
        statements = await statements_per_request(url, token)
        proc, base = start_server(url)
        try:
            await latency(base, token, 20)  # warm-up: caches, pools
            samples = await latency(base, token, args.requests)
            rps = await throughput(base, token, args.requests * 2, args.concurrency)
        finally:
            proc.terminate()
            proc.wait()
    finally:
        if drop:
            admin = create_async_engine(normalise_database_url(args.postgres), isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
            await admin.dispose()
    qs = statistics.quantiles(samples, n=100)
    print(
        json.dumps(
            {
                "backend": "postgresql" if args.postgres else "sqlite",
                "users": args.users,
                "statements_per_request": statements,
                "latency_ms_p50": round(qs[49], 1),
                "latency_ms_p95": round(qs[94], 1),
                "requests_per_second": round(rps, 1),
                "concurrency": args.concurrency,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
