"""Benchmark: the contact list and keyword search at a million contacts (issue: contacts C1-C8).

Measures, through the real app served by uvicorn in its own process:
  - a page of 50 contacts with company, channels, addresses and custom fields:
    SQL statements per request, p50/p95 at one client, requests/s at 16 clients;
  - the same page at a cursor past row 900,000, and its ratio to the first page;
  - keyword search p50/p95: a name fragment, an accented full name, phone digits, a document.

    python bench/contacts.py --help
    python bench/contacts.py --postgres postgresql://postgres@127.0.0.1:5432/test --contacts 1000000
    python bench/contacts.py --database-url postgresql://…/already_seeded   # reuse a seeded database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
from db.models import Contact, ContactChannel, Role, User
from services import demo
from services.auth import issue_token
from services.contacts import ContactOrder, _keys
from services.settings import normalise_database_url

PAGE = """
query Page($after: String) { contacts(first: 50, after: $after) { pageInfo { endCursor } nodes {
  id fullName initials isVip document { number } company { name } channels { kind value }
  addresses { city isPrimary } customFields { value } } } }
"""
SEARCH = """
query Search($q: String!) { contacts(filter: {search: $q}, first: 20) { nodes { id fullName company { name } } } }
"""


async def prepare(url: str, contacts: int | None) -> tuple[str, str, dict[str, str]]:
    """Seed if asked; return an admin token, the cursor past row 900,000 and search keywords."""
    engine = create_engine(url)
    await migrate.upgrade(engine)
    if contacts:
        await demo.seed(engine, contacts=contacts)
    async with engine.connect() as conn:
        admin = await conn.scalar(select(User.id).where(User.role == Role.ADMIN.value).limit(1))
        total = await conn.scalar(select(Contact.id).order_by(Contact.id.desc()).limit(1)) or 0
        keys = _keys(ContactOrder.NAME, False)
        deep = (
            await conn.execute(
                select(Contact.sort_name, Contact.id)
                .order_by(Contact.sort_name, Contact.id)
                .offset(int(total * 0.9))
                .limit(1)
            )
        ).one()
        sample = (
            await conn.execute(select(Contact.id, Contact.document_number).where(Contact.id >= total // 2).limit(1))
        ).one()
        phone = await conn.scalar(
            select(ContactChannel.normalized).where(
                ContactChannel.contact_id == sample.id, ContactChannel.kind == "PHONE"
            )
        )
    await engine.dispose()
    assert admin is not None
    token = issue_token(secret_key=SECRET, user_id=admin, ttl_seconds=3600)
    keywords = {
        "name fragment": "perez",
        "accented full name": "josé pérez",
        "phone digits": (phone or "")[-10:],
        "document": sample.document_number or "",
    }
    return token, encode_cursor(deep, keys), keywords


async def measure(url: str, contacts: int | None, requests: int, concurrency: int) -> dict[str, Any]:
    token, deep_cursor, keywords = await prepare(url, contacts)
    result: dict[str, Any] = {"statements_per_page": await statements_per_request(url, token, PAGE)}
    proc, base = start_server(url)
    try:
        first = {"query": PAGE, "variables": {"after": None}}
        deep = {"query": PAGE, "variables": {"after": deep_cursor}}
        await latency(base, token, first, 10)
        result["first_page"] = percentiles(await latency(base, token, first, requests))
        result["deep_page"] = percentiles(await latency(base, token, deep, requests))
        result["deep_to_first_p50"] = round(result["deep_page"]["p50_ms"] / result["first_page"]["p50_ms"], 2)
        result[f"page_rps_at_{concurrency}_clients"] = round(
            await throughput(base, token, first, requests * 2, concurrency), 1
        )
        result["search"] = {}
        for label, keyword in keywords.items():
            body = {"query": SEARCH, "variables": {"q": keyword}}
            await latency(base, token, body, 3)
            result["search"][label] = {"keyword": keyword, **percentiles(await latency(base, token, body, requests))}
    finally:
        proc.terminate()
        proc.wait()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--postgres", help="PostgreSQL server URL: seed a fresh database there")
    where.add_argument("--database-url", help="an already seeded database to measure as it is")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to seed (with --postgres)")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    if args.database_url:
        summary = await measure(normalise_database_url(args.database_url), None, args.requests, args.concurrency)
    else:
        async with scratch_postgres(args.postgres, keep=args.keep) as url:
            summary = await measure(url, args.contacts, args.requests, args.concurrency)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
