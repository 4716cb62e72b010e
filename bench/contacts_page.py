"""Benchmark: the contact list, a page of 50 contacts with their company, channels, addresses and
custom fields, at a million contacts (seeded by `services.demo`, as `cartera seed-demo` does).

Measures, through the real app served by uvicorn in its own process (as `cartera serve` runs it):
  - SQL statements per request, counted in-process on the app's engine (first and deep page);
  - p50/p95 latency of the first page at one client, and requests/s at --concurrency clients;
  - the same page after a keyset cursor past row 900,000 of the list's order (the contact found
    there by querying the database, its cursor encoded as db.keyset.encode_cursor does), its
    p50/p95 and its ratio to the first page.

Creates a database on the --postgres server, seeds it and drops it afterwards unless --keep.
Seeding a million contacts takes a minute or two: --reuse-database NAME seeds NAME the first
time and only measures it afterwards, so this and bench/contacts_search.py can share one:

    python bench/contacts_page.py --help
    python bench/contacts_page.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/contacts_page.py --postgres postgresql://postgres@127.0.0.1:5432/test --reuse-database cartera_1m
    python bench/contacts_search.py --postgres postgresql://postgres@127.0.0.1:5432/test --reuse-database cartera_1m

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

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
from db.engine import create_engine
from db.keyset import encode_cursor
from db.models import Contact, Role, User
from services import demo
from services.auth import issue_token
from services.contacts import ContactOrder, sort_keys
from services.settings import normalise_database_url

NODE = "id fullName initials isVip company { name } channels { kind value } addresses { city } customFields { value }"
PAGE = f"""
query ContactsPage($after: String) {{
  contacts(first: 50, after: $after) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {NODE} }} }}
}}
"""
DEEP_ROW = 900_000


@dataclass(frozen=True)
class Seeded:
    url: str
    name: str
    contacts: int
    seed_seconds: float | None  # None: reused as it was


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        required=True,
        help="PostgreSQL server URL (any database on it); the benchmark database is created there",
    )
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to seed (default 1000000)")
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (default 2026)")
    parser.add_argument(
        "--reuse-database",
        metavar="NAME",
        help="measure this database on the server, creating and seeding it first if it has no contacts; never dropped",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (printed on stderr)")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency run (default 200)")


def _progress(done: int, total: int, seconds: float) -> None:
    print(f"\rseeding {done:,}/{total:,} contacts ({done / seconds:,.0f}/s)", end="", file=sys.stderr, flush=True)


async def _seed_if_empty(url: str, contacts: int, seed: int) -> tuple[int, float | None]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            present = int(await conn.scalar(select(func.count()).select_from(Contact)) or 0)
        if present:
            return present, None
        started = time.perf_counter()
        await demo.seed(engine, contacts=contacts, seed_value=seed, progress=_progress)
        print(file=sys.stderr)
        return contacts, time.perf_counter() - started
    finally:
        await engine.dispose()


@asynccontextmanager
async def _named_database(server_url: str, name: str) -> AsyncIterator[str]:
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


@asynccontextmanager
async def seeded_database(args: argparse.Namespace) -> AsyncIterator[Seeded]:
    """The benchmark's database, seeded: a scratch one, or --reuse-database's."""
    if args.reuse_database:
        place = _named_database(args.postgres, args.reuse_database)
    else:
        place = scratch_postgres(args.postgres, keep=args.keep)
    async with place as url:
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


async def deep_cursor(url: str, contacts: int) -> tuple[int, str]:
    """The cursor of the contact at row DEEP_ROW (or 90% down a smaller list) in the list's order."""
    keys = sort_keys(ContactOrder.NAME, False)  # the order `contacts` lists in without a search
    row = min(DEEP_ROW, int(contacts * 0.9))
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    select(Contact.sort_name, Contact.id)
                    .where(Contact.archived_at.is_(None))
                    .order_by(*(key.column for key in keys))
                    .offset(row - 1)
                    .limit(1)
                )
            ).one()
    finally:
        await engine.dispose()
    return row, encode_cursor(found, keys)


def check_page(base: str, token: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """One request outside the timings: the page answers without errors; its nodes."""
    response = httpx.post(f"{base}/graphql", json=body, headers={"authorization": f"Bearer {token}"}, timeout=60)
    answer = response.json()
    assert "errors" not in answer, answer
    nodes: list[dict[str, Any]] = answer["data"]["contacts"]["nodes"]
    return nodes


def _ratio(deep: dict[str, float], first: dict[str, float]) -> dict[str, float]:
    return {key: round(deep[key] / first[key], 2) for key in ("p50_ms", "p95_ms")}


async def measure(seeded: Seeded, requests: int, concurrency: int) -> dict[str, Any]:
    token = await admin_token(seeded.url)
    row, cursor = await deep_cursor(seeded.url, seeded.contacts)
    first: dict[str, Any] = {"query": PAGE, "variables": {"after": None}}
    deep: dict[str, Any] = {"query": PAGE, "variables": {"after": cursor}}
    result: dict[str, Any] = {
        "database": seeded.name,
        "contacts": seeded.contacts,
        "seed_seconds": round(seeded.seed_seconds, 1) if seeded.seed_seconds is not None else None,
        "statements_per_request": {
            "first_page": await statements_per_request(seeded.url, token, PAGE, first["variables"]),
            "deep_page": await statements_per_request(seeded.url, token, PAGE, deep["variables"]),
        },
    }
    proc, base = start_server(seeded.url)
    try:
        first_nodes, deep_nodes = check_page(base, token, first), check_page(base, token, deep)
        assert len(first_nodes) == len(deep_nodes) == 50, (len(first_nodes), len(deep_nodes))
        assert first_nodes[0]["id"] != deep_nodes[0]["id"]
        await latency(base, token, first, 10)  # warm-up: pools, caches, the server's first requests
        await latency(base, token, deep, 10)
        result["first_page"] = percentiles(await latency(base, token, first, requests))
        result["deep_page"] = {"after_row": row, **percentiles(await latency(base, token, deep, requests))}
        result["deep_to_first"] = _ratio(result["deep_page"], result["first_page"])
        rps = await throughput(base, token, first, requests * 2, concurrency)
        result["first_page"] |= {"requests_per_second": round(rps, 1), "concurrency": concurrency}
    finally:
        proc.terminate()
        proc.wait()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=16, help="clients of the throughput run (default 16)")
    args = parser.parse_args()
    async with seeded_database(args) as seeded:
        summary = await measure(seeded, args.requests, args.concurrency)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
