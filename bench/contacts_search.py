"""Benchmark: contact keyword search at a million contacts (seeded by `services.demo`).

Measures p50/p95 latency at one client, through the real app served by uvicorn in its own
process, of `contacts(filter: {search: ...}, first: 20)` with the list's fields, for:
  - a last name: "perez" (one common term; a few percent of all contacts match);
  - a first name: "maria" (as common);
  - a fragment from inside names: "erez" (matches the same rows as "perez", but starts no name,
    so the relevance tiers cannot answer it from the name indexes: the slow case);
  - a full name typed without accents: "jose perez" (matches "José Pérez");
  - phone digits: the ten national digits of a seeded mobile, as an agent types them;
  - a document number: a seeded contact's DNI or CUIT.
The phone and document are read from the database, and the search must find their contact.
Each keyword's matches are counted in SQL for context.

Same database options as bench/contacts_page.py; with --reuse-database both share one seeded base:

    python bench/contacts_search.py --help
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

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Seeded, admin_token, latency, percentiles, seeded_database, start_server
from contacts_page import NODE, add_database_arguments, check_page

from db.engine import create_engine
from db.models import Contact, ContactChannel
from db.search import search_terms
from schema.node import to_global_id

SEARCH = f"""
query ContactSearch($q: String!) {{
  contacts(filter: {{search: $q}}, first: 20) {{ nodes {{ {NODE} }} }}
}}
"""


async def keywords(url: str, contacts: int) -> dict[str, dict[str, Any]]:
    """Each keyword, the contact it must find (if one) and how many visible contacts match it."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            # A contact two thirds down the id range, with a phone: the sample is the same on every run.
            low = int(await conn.scalar(select(func.min(Contact.id))) or 0)
            sample = (
                await conn.execute(
                    select(Contact.id, Contact.document_number, ContactChannel.normalized)
                    .join(ContactChannel, ContactChannel.contact_id == Contact.id)
                    .where(Contact.id >= low + contacts * 2 // 3, ContactChannel.kind == "PHONE")
                    .order_by(Contact.id)
                    .limit(1)
                )
            ).one()
            # +54 9 11 4444 5555: the national number without the mobile 9.
            phone = sample.normalized.removeprefix("+549")
            found: dict[str, dict[str, Any]] = {
                "last name": {"keyword": "perez", "expect": None},
                "first name": {"keyword": "maria", "expect": None},
                "fragment inside names": {"keyword": "erez", "expect": None},
                "full name without accents": {"keyword": "jose perez", "expect": None},
                "phone digits": {"keyword": phone, "expect": sample.id},
                "document number": {"keyword": sample.document_number, "expect": sample.id},
            }
            for entry in found.values():
                where = [Contact.search_text.contains(t, autoescape=True) for t in search_terms(entry["keyword"])]
                matching = select(func.count()).select_from(Contact).where(Contact.archived_at.is_(None), *where)
                entry["matches"] = int(await conn.scalar(matching) or 0)
    finally:
        await engine.dispose()
    return found


async def measure(seeded: Seeded, requests: int) -> dict[str, Any]:
    token = await admin_token(seeded.url)
    cases = await keywords(seeded.url, seeded.contacts)
    result: dict[str, Any] = {
        "database": seeded.name,
        "contacts": seeded.contacts,
        "seed_seconds": round(seeded.seed_seconds, 1) if seeded.seed_seconds is not None else None,
        "search": {},
    }
    proc, base = start_server(seeded.url)
    try:
        for label, case in cases.items():
            body = {"query": SEARCH, "variables": {"q": case["keyword"]}}
            nodes = check_page(base, token, body)
            assert nodes, f"{label}: {case['keyword']!r} found nothing"
            if case["expect"] is not None:
                assert to_global_id("Contact", case["expect"]) in {n["id"] for n in nodes}, label
            await latency(base, token, body, 5)  # warm-up
            result["search"][label] = {
                "keyword": case["keyword"],
                "matches": case["matches"],
                **percentiles(await latency(base, token, body, requests)),
            }
    finally:
        proc.terminate()
        proc.wait()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    args = parser.parse_args()
    async with seeded_database(args) as seeded:
        summary = await measure(seeded, args.requests)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
