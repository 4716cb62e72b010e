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
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Seeded,
    admin_token,
    database_arguments,
    latency,
    percentiles,
    seeded_database,
    start_server,
    statements_per_request,
    throughput,
)

from db.engine import create_engine
from db.keyset import encode_cursor
from db.models import Contact
from services.contacts import ContactOrder, sort_keys

NODE = "id fullName initials isVip company { name } channels { kind value } addresses { city } customFields { value }"
PAGE = f"""
query ContactsPage($after: String) {{
  contacts(first: 50, after: $after) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {NODE} }} }}
}}
"""
DEEP_ROW = 900_000


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    database_arguments(parser, contacts=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per latency run (default 200)")


async def deep_cursor(url: str, contacts: int, row: int | None = None) -> tuple[int, str]:
    """The cursor of the contact at `row` (default DEEP_ROW, or 90% down a smaller list) in the list's order."""
    keys = sort_keys(ContactOrder.NAME, False)  # the order `contacts` lists in without a search
    row = row or min(DEEP_ROW, int(contacts * 0.9))
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
