"""Benchmark: what every operation pays before its fields do anything, measured in one process.

Runs the app in-process (httpx's ASGI transport, no network) on a database bench/conversations.py
seeded (`--reuse-database NAME` there), signed in as its integrator admin, and prints the CPU and
wall time per call of `{ __typename }` signed in and anonymously, `{ me { id } }`, and
`receiveMessage` for the seeded contacts (mostly messages appended to open conversations; left
out with `--no-receive`, for a database with users only). Three rounds each, after warming. The
client's CPU is in the figures (same process): for the server's alone, run uvicorn and measure
its process. To compare two versions, run each checkout's copy of this file in turn:

    python bench/spine.py --postgres postgresql://postgres@127.0.0.1:5432/test --database spine_bench
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET
from conversations import RECEIVE, seeded_phone

from cartera.app import create_app
from services.auth import issue_token
from services.settings import Settings, normalise_database_url


async def _rounds(
    client: httpx.AsyncClient, make: Callable[[int], dict[str, Any]], headers: dict[str, str], calls: int
) -> list[tuple[float, float]]:
    for n in range(100):
        response = await client.post("/graphql", json=make(-n - 1), headers=headers)
    rounds = []
    for r in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(calls):
            response = await client.post("/graphql", json=make(r * calls + n), headers=headers)
        rounds.append(((time.process_time() - cpu) / calls * 1000, (time.perf_counter() - wall) / calls * 1000))
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise SystemExit(f"the last call failed: {response.text[:300]}")
    return rounds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="PostgreSQL server URL")
    parser.add_argument("--database", required=True, help="a database bench/conversations.py seeded")
    parser.add_argument("--calls", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--contacts", type=int, default=20_000, help="seeded contacts to write as (default 20000)")
    parser.add_argument("--no-receive", action="store_true", help="leave receiveMessage out")
    args = parser.parse_args()
    url = make_url(normalise_database_url(args.postgres)).set(database=args.database)
    app = create_app(Settings(database_url=url.render_as_string(hide_password=False), secret_key=SECRET))
    async with app.state.engine.connect() as conn:
        admin = (await conn.execute(text("SELECT id FROM users WHERE role = 'ADMIN' ORDER BY id LIMIT 1"))).scalar()
    signed_in = {"authorization": f"Bearer {issue_token(secret_key=SECRET, user_id=admin, ttl_seconds=3600)}"}
    tag = time.time_ns()

    def receive(n: int) -> dict[str, Any]:
        channel = {"kind": "WHATSAPP", "value": seeded_phone(n % args.contacts)}
        message = {
            "channel": channel,
            "text": "hola",
            "externalId": f"spine-{tag}-{n}",
            "sentAt": "2026-12-01T20:00:00Z",
        }
        return {"query": RECEIVE, "variables": {"input": message}}

    def typename(_n: int) -> dict[str, Any]:
        return {"query": "{ __typename }"}

    def me(_n: int) -> dict[str, Any]:
        return {"query": "{ me { id } }"}

    cases = [
        ("typename signed in", typename, signed_in),
        ("typename anonymous", typename, {}),
        ("me signed in", me, signed_in),
    ]
    if not args.no_receive:
        cases.append(("receiveMessage", receive, signed_in))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, make, headers in cases:
                rounds = await _rounds(client, make, headers, args.calls)
                cpu = ", ".join(f"{c:.2f}" for c, _ in rounds)
                wall = ", ".join(f"{w:.2f}" for _, w in rounds)
                print(f"{label}: CPU ms per call {cpu}; wall {wall}")


if __name__ == "__main__":
    asyncio.run(main())
