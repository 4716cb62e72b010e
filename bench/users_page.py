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
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SECRET,
    latency,
    percentiles,
    scratch_postgres,
    start_server,
    statements_per_request,
    throughput,
)

from db import migrate
from db.base import utcnow
from db.engine import create_engine
from db.models import Role, Team, TeamMember, User
from services.auth import hash_password, issue_token
from services.settings import normalise_database_url

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


@asynccontextmanager
async def database(postgres: str | None) -> AsyncIterator[str]:
    if postgres:
        async with scratch_postgres(postgres) as url:
            yield url
    else:
        yield normalise_database_url(f"sqlite:///{tempfile.mkdtemp()}/bench.db")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", help="PostgreSQL server URL; a fresh database is created there (default: SQLite)")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--teams", type=int, default=100)
    p.add_argument("--requests", type=int, default=300, help="requests for the latency run")
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()
    async with database(args.postgres) as url:
        admin_id = await seed(url, args.users, args.teams)
        token = issue_token(secret_key=SECRET, user_id=admin_id, ttl_seconds=3600)
        statements = await statements_per_request(url, token, QUERY)
        proc, base = start_server(url)
        body = {"query": QUERY}
        try:
            await latency(base, token, body, 20)  # warm-up: caches, pools
            samples = await latency(base, token, body, args.requests)
            rps = await throughput(base, token, body, args.requests * 2, args.concurrency)
        finally:
            proc.terminate()
            proc.wait()
    summary = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "users": args.users,
        "statements_per_request": statements,
        **percentiles(samples),
        "requests_per_second": round(rps, 1),
        "concurrency": args.concurrency,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
