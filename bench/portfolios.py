"""Benchmark: portfolios at a million contacts (P3-P5, P8), through the real app under uvicorn.

The selection is everything matching one contacts filter: a team's contacts with a WhatsApp
(about 100,000 of a million). Before it is assigned, the same team's contacts with an email
(about 108,000) go to another portfolio, "Origen": about half of the selection is then in
another portfolio, which is the conflict P4 is about. Measured:
  - assigning the "Origen" share (all free): wall time;
  - the preview of the selection (free / already / elsewhere, grouped): p50/p95;
  - assigning the selection with KEEP (the free half joins, the rest stays), then with MOVE
    (the free half joins, the other half moves from "Origen"): wall time of each call;
  - removing the selection again, and deleting a portfolio of ~100,000 (releasing them);
  - the server process's peak memory (VmHWM) before and after the bulk calls;
  - a page of 50 contacts with their badges: SQL statements per request, p50/p95 at one
    client, requests/s at 16 clients; the same page as an agent (whose scope includes the
    contacts of the portfolios it owns).
Before it runs, the audit trail is topped up to --trail rows of synthetic history (a trail's size
sets what each contact's entry costs); at the end, every portfolio it created is deleted and the
audit rows and events it wrote too, so every run meets the same database. Each bulk call is
timed from right after a CHECKPOINT (its dearest case: see _after_checkpoint), so that runs compare.

    python bench/portfolios.py --help
    python bench/portfolios.py --postgres postgresql://postgres@127.0.0.1:5432/test --reuse-database cartera_1m

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

import httpx
from sqlalchemy import delete, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SECRET,
    Seeded,
    admin_token,
    latency,
    outside_a_transaction,
    percentiles,
    seeded_database,
    start_server,
    statements_per_request,
    throughput,
    vacuum,
)
from contacts_page import add_database_arguments

from db.engine import create_engine
from db.models import AuditEvent, AuditEventTeam, Contact, Event, Role, TeamMember, User
from schema.node import to_global_id
from services.auth import issue_token

CREATE = """
mutation($name: String!, $team: ID!) {
  createPortfolio(input: {name: $name, teamId: $team}) { portfolio { id } userErrors { code message } }
}
"""
ASSIGN = """
mutation($p: ID!, $filter: ContactFilter!, $policy: ConflictPolicy!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {filter: $filter}, onConflict: $policy) {
    assignedCount movedCount keptCount alreadyInPortfolioCount rejectedCount userErrors { code message }
  }
}
"""
REMOVE = """
mutation($p: ID!, $filter: ContactFilter!) {
  removeContactsFromPortfolio(portfolioId: $p, contacts: {filter: $filter}) { removedCount userErrors { code } }
}
"""
DELETE = "mutation($id: ID!) { deletePortfolio(id: $id) { releasedContactCount userErrors { code } } }"
PREVIEW = """
query($p: ID!, $filter: ContactFilter!) {
  portfolioAssignmentPreview(portfolioId: $p, contacts: {filter: $filter}) {
    selectedCount freeCount alreadyInPortfolioCount conflictCount movableConflictCount
    conflicts(first: 10) { nodes { contactCount badge { portfolioName ownerName } } }
    free(first: 20) { nodes { id fullName } }
  }
}
"""
NODE = "id fullName initials isVip company { name } channelKinds badge { portfolioName ownerName ownerKind }"
PAGE = f"query Page($filter: ContactFilter) {{ contacts(first: 50, filter: $filter) {{ nodes {{ {NODE} }} }} }}"


# Synthetic history the trail is topped up with before a run: a contact centre's trail holds
# millions of rows, and every entry a bulk call writes lands at a random place in its indexes
# (per contact), so the cost of those entries depends on the trail's size, not only the call's.
TOP_UP = text(
    """
    INSERT INTO audit_events (occurred_at, actor_id, actor_name, action, resource_type, resource_id,
                              resource_name, changes, team_id, search_text)
    SELECT now() - (random() * interval '365 days'), NULL, 'bench history', 'UPDATED', 'CONTACT',
           contacts.id, 'bench contact', '{}'::json, contacts.team_id, 'bench history | bench contact'
    FROM (SELECT 1 + floor(random() * :contacts)::bigint AS id FROM generate_series(1, :count)) AS drawn
    JOIN contacts ON contacts.id = drawn.id
    """
)


async def _trail(url: str, size: int, contacts: int) -> dict[str, int]:
    """Top the audit trail up to `size` rows; what the run will write starts after the marks returned."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            have = int(await conn.scalar(select(func.count()).select_from(AuditEvent)) or 0)
            for start in range(have, size, 500_000):
                await conn.execute(TOP_UP, {"count": min(500_000, size - start), "contacts": contacts})
    finally:
        await engine.dispose()
    return {**await run_marks(url), "trail_rows": max(have, size)}


async def run_marks(url: str) -> dict[str, int]:
    """The newest audit row and event: what a run writes after this, forget_run deletes."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                "audit_events": int(await conn.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0),
                "events": int(await conn.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0),
            }
    finally:
        await engine.dispose()


async def forget_run(url: str, marks: dict[str, int]) -> None:
    """Delete the audit rows and events the run wrote, so the next run meets the same trail.

    Only a benchmark does this: through the API the trail is never edited or deleted (AU1).
    """
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(AuditEventTeam).where(AuditEventTeam.event_id > marks["audit_events"]))
            await conn.execute(delete(AuditEvent).where(AuditEvent.id > marks["audit_events"]))
            await conn.execute(delete(Event).where(Event.id > marks["events"]))
    finally:
        await engine.dispose()


async def team_and_agent(url: str) -> tuple[int, int]:
    """The team with the most contacts, and one of its agents."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            team = await conn.scalar(
                select(Contact.team_id).group_by(Contact.team_id).order_by(func.count().desc()).limit(1)
            )
            agent = await conn.scalar(
                select(User.id)
                .join(TeamMember, TeamMember.user_id == User.id)
                .where(TeamMember.team_id == team, User.role == Role.AGENT.value)
                .order_by(User.id)
                .limit(1)
            )
    finally:
        await engine.dispose()
    assert team is not None, "no contacts: not a database seeded by services.demo"
    assert agent is not None, "no agents: not a database seeded by services.demo"
    return int(team), int(agent)


def _peak_memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


async def _call(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    seconds = time.perf_counter() - started
    body = response.json()
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert not payload.get("userErrors"), payload
    return payload, round(seconds, 3)


async def _after_checkpoint(
    url: str, client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """A bulk call timed from right after a CHECKPOINT, so that runs compare.

    The first change to a page after a checkpoint writes the whole page to the WAL, and a bulk
    call changes thousands at random (each contact's history entry): where the last checkpoint
    fell made the same call vary by 1.5 to 2 times. Right after one is its dearest case.
    """
    await outside_a_transaction(url, "CHECKPOINT")
    return await _call(client, query, variables)


# What a run writes and deletes: vacuumed before it and after it.
TABLES = ("portfolio_members", "portfolios", "audit_events", "audit_event_teams", "events")


async def measure(seeded: Seeded, requests: int, trail: int) -> dict[str, Any]:
    token = await admin_token(seeded.url)
    team, agent = await team_and_agent(seeded.url)
    agent_token = issue_token(secret_key=SECRET, user_id=agent, ttl_seconds=3600)
    team_id = to_global_id("Team", team)
    selection = {"teamIds": [team_id], "channelKinds": ["WHATSAPP"]}
    origin_share = {"teamIds": [team_id], "channelKinds": ["EMAIL"]}
    marks = await _trail(seeded.url, trail, seeded.contacts)
    result: dict[str, Any] = {"database": seeded.name, "contacts": seeded.contacts, "audit_trail": marks["trail_rows"]}
    await vacuum(seeded.url, *TABLES)
    proc, base = start_server(seeded.url)
    headers = {"authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
            made: dict[str, str] = {}
            for name in ("bench Origen", "bench Destino KEEP", "bench Destino MOVE"):
                payload, _ = await _call(client, CREATE, {"name": name, "team": team_id})
                made[name] = payload["portfolio"]["id"]
            result["memory_before_mb"] = _peak_memory_mb(proc.pid)
            origin, seconds = await _after_checkpoint(
                seeded.url, client, ASSIGN, {"p": made["bench Origen"], "filter": origin_share, "policy": "KEEP"}
            )
            result["assign_all_free"] = {"assigned": origin["assignedCount"], "seconds": seconds}

            preview_body = {"query": PREVIEW, "variables": {"p": made["bench Destino KEEP"], "filter": selection}}
            preview, _ = await _call(client, PREVIEW, preview_body["variables"])
            await latency(base, token, preview_body, 2)  # warm-up
            result["preview"] = {
                "selected": preview["selectedCount"],
                "free": preview["freeCount"],
                "in_other_portfolios": preview["conflictCount"],
                **percentiles(await latency(base, token, preview_body, max(20, requests // 10))),
            }

            keep, seconds = await _after_checkpoint(
                seeded.url, client, ASSIGN, {"p": made["bench Destino KEEP"], "filter": selection, "policy": "KEEP"}
            )
            result["assign_keep"] = {"assigned": keep["assignedCount"], "kept": keep["keptCount"], "seconds": seconds}
            removed, seconds = await _after_checkpoint(
                seeded.url, client, REMOVE, {"p": made["bench Destino KEEP"], "filter": selection}
            )
            result["remove"] = {"removed": removed["removedCount"], "seconds": seconds}

            move, seconds = await _after_checkpoint(
                seeded.url, client, ASSIGN, {"p": made["bench Destino MOVE"], "filter": selection, "policy": "MOVE"}
            )
            result["assign_move"] = {"assigned": move["assignedCount"], "moved": move["movedCount"], "seconds": seconds}
            result["memory_after_mb"] = _peak_memory_mb(proc.pid)

            page = {"query": PAGE, "variables": {"filter": {"portfolioIds": [made["bench Destino MOVE"]]}}}
            plain = {"query": PAGE, "variables": {}}
            await latency(base, token, page, 5)
            result["page_with_badges"] = {
                "statements_per_request": await statements_per_request(seeded.url, token, PAGE, page["variables"]),
                **percentiles(await latency(base, token, page, requests)),
                "requests_per_second": round(await throughput(base, token, page, requests, 16), 1),
                "concurrency": 16,
            }
            result["first_page_with_badges"] = percentiles(await latency(base, token, plain, requests))
            await latency(base, agent_token, plain, 5)
            result["first_page_as_agent"] = {
                "statements_per_request": await statements_per_request(seeded.url, agent_token, PAGE, {}),
                **percentiles(await latency(base, agent_token, plain, requests)),
            }

            deleted, seconds = await _after_checkpoint(seeded.url, client, DELETE, {"id": made["bench Destino MOVE"]})
            result["delete_releasing"] = {"released": deleted["releasedContactCount"], "seconds": seconds}
            for name in ("bench Origen", "bench Destino KEEP"):
                await _call(client, DELETE, {"id": made[name]})
    finally:
        proc.terminate()
        proc.wait()
        await forget_run(seeded.url, marks)
        await vacuum(seeded.url, *TABLES)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.add_argument(
        "--trail",
        type=int,
        default=2_000_000,
        help="audit rows the trail holds before a run, topped up with synthetic history (default 2000000)",
    )
    args = parser.parse_args()
    async with seeded_database(args) as seeded:
        summary = await measure(seeded, args.requests, args.trail)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
