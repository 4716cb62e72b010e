"""Benchmark: the sales panel (S1-S3), its first page of 50 attentions with every column a view
shows, at a million commercial attentions, with the default view and with the text filter.

On a database seeded by `services.demo` (as `cartera seed-demo` does; see bench/contacts_page.py
for --reuse-database), the benchmark gives the first --attentions contacts one attention each
(once; kept with --reuse-database): created over the last 60 days, in the contact's team, to one
of its members for four in five, 60% OPEN, 20% PENDING, 20% CLOSED, with interests, origins and
close reasons from small catalogues. Then, through the real app served by uvicorn in its own
process, it measures for an admin and for a demo supervisor:
  - SQL statements per request (counted in-process on the app's engine);
  - p50/p95 latency of the default view (the last 7 days, newest first) and of the text filter
    (a surname, over name, phones and e-mails), one client at a time;
  - the PostgreSQL plan of the page's statement (EXPLAIN ANALYZE), whose time is the database's share.

    python bench/sales_panel.py --help
    python bench/sales_panel.py --postgres postgresql://postgres@127.0.0.1:5432/test --reuse-database cartera_panel

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET, latency, percentiles, start_server, statements_per_request, vacuum
from contacts_page import add_database_arguments, seeded_database

from db.engine import create_engine
from db.models import Role, SalesAttention, TeamSupervisor, User
from db.search import fold
from services.auth import issue_token

ROW = """
  id status pendingSince createdAt fullName phone email
  interest { name } origin { name } closeReason { name } agent { name } team { name }
"""
PAGE = f"""
query Panel($f: SalesAttentionFilter) {{
  salesAttentions(filter: $f, first: 50) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {ROW} }} }}
}}
"""
CATALOGUES = {
    "INTEREST": ("Auto 0km", "Usado", "Moto", "Plan de ahorro", "Seguro"),
    "ORIGIN": ("Web form", "WhatsApp", "Referral", "Campaign", "Walk-in"),
    "CLOSE_REASON": ("Sold", "No interest", "Unreachable"),
}


async def _entries(conn: Any) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for kind, names in CATALOGUES.items():
        found = list(
            (
                await conn.execute(
                    text("SELECT id FROM sales_catalog_entries WHERE kind = :k ORDER BY id"), {"k": kind}
                )
            ).scalars()
        )
        if not found:
            for i, name in enumerate(names):
                await conn.execute(
                    text(
                        "INSERT INTO sales_catalog_entries (kind, name, search_name, position, active, created_at,"
                        " updated_at) VALUES (:k, :n, :s, :p, true, now(), now())"
                    ),
                    {"k": kind, "n": name, "s": fold(name), "p": i},
                )
            found = list(
                (
                    await conn.execute(
                        text("SELECT id FROM sales_catalog_entries WHERE kind = :k ORDER BY id"), {"k": kind}
                    )
                ).scalars()
            )
        ids[kind] = found
    return ids


async def ensure_attentions(url: str, wanted: int) -> tuple[int, float | None]:
    """One attention for each of the first `wanted` contacts, set-based, unless already there."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            present = int(await conn.scalar(select(func.count()).select_from(SalesAttention)) or 0)
            if present >= wanted:
                return present, None
            started = time.perf_counter()
            await conn.execute(text("DELETE FROM sales_attention_conversations"))
            await conn.execute(text("DELETE FROM sales_attentions"))
            ids = await _entries(conn)
            interests, origins, reasons = ids["INTEREST"], ids["ORIGIN"], ids["CLOSE_REASON"]
            # A spread of 60 days by a multiplicative hash of the id, so that time and id do not
            # run together (as they would not where attentions come and go).
            await conn.execute(
                text(
                    """
                    WITH picked AS (
                      SELECT c.id, c.team_id,
                             now() - ((c.id * 7919) % 5184000) * interval '1 second' AS at,
                             c.id % 10 AS bucket,
                             (SELECT min(tm.user_id) FROM team_members tm WHERE tm.team_id = c.team_id) AS member
                      FROM contacts c ORDER BY c.id LIMIT :wanted
                    )
                    INSERT INTO sales_attentions (contact_id, interest_id, origin_id, agent_id, team_id, status,
                      close_reason_id, pending_since, created_by_id, created_at, closed_at, updated_at)
                    SELECT id, (CAST(:interests AS bigint[]))[1 + id % 5], (CAST(:origins AS bigint[]))[1 + id % 5],
                           CASE WHEN id % 5 = 0 THEN NULL ELSE member END, team_id,
                           CASE WHEN bucket < 6 THEN 'OPEN' WHEN bucket < 8 THEN 'PENDING' ELSE 'CLOSED' END,
                           CASE WHEN bucket >= 8 THEN (CAST(:reasons AS bigint[]))[1 + id % 3] END,
                           CASE WHEN bucket IN (6, 7) THEN at + interval '1 hour' END,
                           NULL, at,
                           CASE WHEN bucket >= 8 THEN at + interval '2 days' END,
                           at + interval '2 days'
                    FROM picked
                    """
                ),
                {"wanted": wanted, "interests": interests, "origins": origins, "reasons": reasons},
            )
        await vacuum(url, "sales_attentions", "sales_catalog_entries")
        return wanted, time.perf_counter() - started
    finally:
        await engine.dispose()


async def _people(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            admin = await conn.scalar(select(func.min(User.id)).where(User.role == Role.ADMIN.value))
            supervisor = await conn.scalar(select(func.min(TeamSupervisor.user_id)))
            # A surname of a recent client: the text filter a seller types.
            surname = await conn.scalar(
                text(
                    "SELECT c.last_names FROM sales_attentions a JOIN contacts c ON c.id = a.contact_id"
                    " WHERE a.created_at > now() - interval '1 day' ORDER BY a.id LIMIT 1"
                )
            )
    finally:
        await engine.dispose()
    return {"admin": admin, "supervisor": supervisor, "surname": str(surname).split()[0]}


async def _plan(url: str, surname: str | None) -> list[str]:
    """The plan of the admin's page statement as services.sales_panel.matching writes it."""
    where = "a.created_at >= now() - interval '7 days'"
    if surname:
        where += f" AND a.contact_id IN (SELECT id FROM contacts WHERE search_text LIKE '%{surname.lower()}%')"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"EXPLAIN (ANALYZE, BUFFERS) SELECT a.* FROM sales_attentions a WHERE {where}"
                    " ORDER BY a.created_at DESC, a.id DESC LIMIT 51"
                )
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


async def measure(url: str, attentions: int, requests: int) -> dict[str, Any]:
    people = await _people(url)
    result: dict[str, Any] = {"attentions": attentions, "text": people["surname"]}
    views = {"default_view": None, "text_filter": {"text": people["surname"]}}
    proc, base = start_server(url)
    try:
        for role in ("admin", "supervisor"):
            token = issue_token(secret_key=SECRET, user_id=int(people[role]), ttl_seconds=6 * 3600)
            for name, flt in views.items():
                body = {"query": PAGE, "variables": {"f": flt}}
                await latency(base, token, body, 10)  # warm-up
                result[f"{role}_{name}"] = {
                    "statements_per_request": await statements_per_request(url, token, PAGE, {"f": flt}),
                    **percentiles(await latency(base, token, body, requests)),
                }
    finally:
        proc.terminate()
        proc.wait()
    result["plan_default"] = [line for line in await _plan(url, None) if "Execution Time" in line or "Index" in line]
    result["plan_text"] = [line for line in await _plan(url, people["surname"]) if "Execution Time" in line]
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument("--attentions", type=int, default=1_000_000, help="attentions to seed (default 1000000)")
    args = parser.parse_args()
    async with seeded_database(args) as seeded:
        count, seconds = await ensure_attentions(seeded.url, min(args.attentions, seeded.contacts))
        summary = {"database": seeded.name, "contacts": seeded.contacts, "attention_seed_seconds": seconds}
        summary |= await measure(seeded.url, count, args.requests)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
