"""Benchmark: the sales panel (S3-S5) over 1,000,000 commercial attentions on PostgreSQL.

On a database seeded by `services.demo` (as `cartera seed-demo` does; --contacts, default
200,000), the benchmark writes (once, or again with --reseed) the catalogues and --attentions
attentions, set-based: attention g belongs to contact (g - 1) mod contacts, in the contact's team,
with one of the team's agents (every tenth nobody's), created (g - 1) / attentions of a year ago,
so the newest `contacts` attentions are one per contact and not CLOSED (every fifth PENDING) and
the rest CLOSED with a reason. The app runs under uvicorn in its own process, as `cartera serve`
runs it, and is measured through HTTP:

- the panel's first page (50 rows, every column of the default view, as the admin and as a
  supervisor) with no filter (LAST_7_DAYS), through the admin's default saved view, and with the
  text filter: p50/p95 over --requests, and the SQL statements one request runs;
- bulk close and bulk transfer of the newest 100,000 (a custom range ending now): wall time of
  the one call (the attentions are written again before each);
- the export of all of them (a range of the whole year): rows per second from the job's start to
  its end, as the job records them, and the server's memory before (VmRSS) and at its peak (VmHWM).

    python bench/sales.py --help
    python bench/sales.py --postgres postgresql://postgres@127.0.0.1:5432/test --reuse-database cartera_sales

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET, admin_token, latency, percentiles, seeded_database, start_server, statements_per_request
from contacts_page import add_database_arguments

from db.engine import create_engine
from db.models import Role, SalesAttention, TeamMember, TeamSupervisor, User
from db.search import fold
from schema.node import to_global_id
from services.auth import issue_token

INTERESTS = ("Plan hogar", "Seguro auto", "Préstamo personal", "Tarjeta de crédito", "Inversiones")
ORIGINS = ("Formulario web", "WhatsApp", "Referido", "Campaña", "Llamada entrante", "Redes sociales")
CLOSE_REASONS = ("Venta concretada", "Sin interés", "Precio", "No contesta", "Eligió a la competencia")
BULK_ROWS = 100_000

ROW = """id fullName phone email status pendingSince createdAt
  interest { name } origin { name } agent { name } team { name } closeReason { name }"""
PANEL = f"""
query Panel($filter: SalesAttentionFilter) {{
  salesAttentions(first: 50, filter: $filter) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {ROW} }} }}
}}
"""
DEFAULT_VIEW = f"""
query DefaultView {{
  defaultSalesView {{
    columns {{ id }}
    attentions(first: 50) {{ pageInfo {{ endCursor hasNextPage }} nodes {{ {ROW} }} }}
  }}
}}
"""
CREATE_VIEW = """
mutation($input: CreateSalesViewInput!) {
  createSalesView(input: $input) { view { id } userErrors { code field message } }
}
"""
SET_DEFAULT = """
mutation($id: ID!) {
  setDefaultSalesView(input: {id: $id}) { view { id isDefault } userErrors { code field message } }
}
"""
CLOSE = """
mutation($input: CloseSalesAttentionsInput!) {
  closeSalesAttentions(input: $input) { done: closedCount userErrors { code field message } }
}
"""
TRANSFER = """
mutation($input: TransferSalesAttentionsInput!) {
  transferSalesAttentions(input: $input) { done: transferredCount userErrors { code field message } }
}
"""
EXPORT = """
mutation($input: ExportSalesAttentionsInput!) {
  exportSalesAttentions(input: $input) { job { id status } userErrors { code field message } }
}
"""
JOB = """
query($id: ID!) { node(id: $id) { ... on Job { status doneCount totalCount startedAt finishedAt error } } }
"""


# --- seeding -------------------------------------------------------------------------------------


async def seed_attentions(url: str, attentions: int, *, force: bool) -> float | None:
    """The catalogues and the attentions, unless already there (and not --reseed)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            present = int(await conn.scalar(select(func.count()).select_from(SalesAttention)) or 0)
            if present == attentions and not force:
                return None
            started = time.perf_counter()
            await conn.execute(text("TRUNCATE sales_attention_conversations, sales_attentions"))
            await conn.execute(
                text("DELETE FROM audit_events WHERE resource_type = 'SALES_ATTENTION' OR action = 'EXPORTED'")
            )
            for kind, names in (("INTEREST", INTERESTS), ("ORIGIN", ORIGINS), ("CLOSE_REASON", CLOSE_REASONS)):
                for position, name in enumerate(names):
                    await conn.execute(
                        text(
                            "INSERT INTO sales_catalog_entries (kind, name, search_name, position, active, "
                            "created_at, updated_at) VALUES (:kind, :name, :folded, :position, true, now(), now()) "
                            "ON CONFLICT DO NOTHING"
                        ),
                        {"kind": kind, "name": name, "folded": fold(name), "position": position},
                    )
            await conn.execute(text(_SEED), {"n": attentions})
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('sales_attentions', 'id'), :n)"), {"n": attentions}
            )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE sales_attentions"))
        return time.perf_counter() - started
    finally:
        await engine.dispose()


# One INSERT … SELECT over generate_series: a million rows in seconds, no Python per row.
_SEED = """
WITH c AS (SELECT id, team_id, row_number() OVER (ORDER BY id) - 1 AS i FROM contacts),
     total AS (SELECT count(*) AS n FROM c),
     members AS (SELECT team_id, array_agg(user_id ORDER BY user_id) AS agents FROM team_members GROUP BY team_id),
     cat AS (
       SELECT array_agg(id ORDER BY id) FILTER (WHERE kind = 'INTEREST') AS interests,
              array_agg(id ORDER BY id) FILTER (WHERE kind = 'ORIGIN') AS origins,
              array_agg(id ORDER BY id) FILTER (WHERE kind = 'CLOSE_REASON') AS reasons
       FROM sales_catalog_entries WHERE active
     ),
     g AS (
       SELECT g, now() - (g - 1) * (interval '365 days' / :n) AS at, g <= (SELECT n FROM total) AS newest
       FROM generate_series(1, :n) AS g
     )
INSERT INTO sales_attentions (id, contact_id, interest_id, origin_id, agent_id, team_id, status, close_reason_id,
                              pending_since, created_by_id, created_at, closed_at, updated_at)
SELECT g.g, c.id,
       cat.interests[1 + g.g % cardinality(cat.interests)],
       cat.origins[1 + g.g % cardinality(cat.origins)],
       CASE WHEN g.g % 10 = 7 OR m.agents IS NULL THEN NULL ELSE m.agents[1 + g.g % cardinality(m.agents)] END,
       c.team_id,
       CASE WHEN NOT g.newest THEN 'CLOSED' WHEN g.g % 5 = 0 THEN 'PENDING' ELSE 'OPEN' END,
       CASE WHEN g.newest THEN NULL ELSE cat.reasons[1 + g.g % cardinality(cat.reasons)] END,
       CASE WHEN g.newest AND g.g % 5 = 0 THEN g.at END,
       NULL, g.at,
       CASE WHEN g.newest THEN NULL ELSE g.at + interval '1 day' END,
       g.at
FROM g
JOIN c ON c.i = (g.g - 1) % (SELECT n FROM total)
LEFT JOIN members m ON m.team_id = c.team_id
CROSS JOIN cat
"""


async def _cast(url: str) -> dict[str, Any]:
    """Who measures and where a transfer goes: a supervisor, and an agent with one of its teams."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            supervisor = await conn.scalar(
                select(TeamSupervisor.user_id).join(User, User.id == TeamSupervisor.user_id).order_by(User.id).limit(1)
            )
            member = (
                await conn.execute(
                    select(TeamMember.user_id, TeamMember.team_id)
                    .join(User, User.id == TeamMember.user_id)
                    .where(User.role == Role.AGENT.value, User.is_active.is_(True))
                    .order_by(TeamMember.user_id.desc())
                    .limit(1)
                )
            ).one()
            reason = await conn.scalar(text("SELECT min(id) FROM sales_catalog_entries WHERE kind = 'CLOSE_REASON'"))
            # The newest BULK_ROWS attentions begin at this instant.
            since = await conn.scalar(
                select(SalesAttention.created_at)
                .order_by(SalesAttention.created_at.desc(), SalesAttention.id.desc())
                .offset(BULK_ROWS - 1)
                .limit(1)
            )
    finally:
        await engine.dispose()
    assert supervisor is not None
    assert reason is not None
    assert since is not None
    return {
        "supervisor": issue_token(secret_key=SECRET, user_id=int(supervisor), ttl_seconds=6 * 3600),
        "agent_id": to_global_id("User", member.user_id),
        "team_id": to_global_id("Team", member.team_id),
        "reason_id": to_global_id("SalesCatalogEntry", int(reason)),
        "since": since,
    }


# --- measuring -----------------------------------------------------------------------------------


async def _call(base: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=600) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert response.status_code == 200, response.text
    assert "errors" not in body, response.text
    data: dict[str, Any] = body["data"]
    return data


def _memory_mb(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


async def _page(base: str, url: str, token: str, query: str, variables: dict[str, Any], n: int) -> dict[str, Any]:
    body = {"query": query, "variables": variables}
    await latency(base, token, body, 5)
    cuts = percentiles(await latency(base, token, body, n))
    return {**cuts, "statements": await statements_per_request(url, token, query, variables)}


async def _wall(base: str, token: str, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
    started = time.perf_counter()
    data = await _call(base, token, query, variables)
    seconds = time.perf_counter() - started
    payload = data[field]
    assert not payload["userErrors"], payload["userErrors"]
    return {"seconds": round(seconds, 2), "done": payload["done"]}


async def _export(base: str, token: str, pid: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    selection = {"filter": {"from": (now - timedelta(days=366)).isoformat(), "to": now.isoformat()}}
    memory_before = _memory_mb(pid)
    data = await _call(base, token, EXPORT, {"input": {"selection": selection, "delimiter": ";"}})
    payload = data["exportSalesAttentions"]
    assert not payload["userErrors"], payload["userErrors"]
    job_id = payload["job"]["id"]
    while True:
        job = (await _call(base, token, JOB, {"id": job_id}))["node"]
        if job["status"] in ("DONE", "FAILED", "CANCELLED"):
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "DONE", job
    seconds = (datetime.fromisoformat(job["finishedAt"]) - datetime.fromisoformat(job["startedAt"])).total_seconds()
    memory_after = _memory_mb(pid)
    return {
        "rows": job["doneCount"],
        "seconds": round(seconds, 2),
        "rows_per_second": round(job["doneCount"] / seconds),
        "server_memory_mb": {
            "before_rss": memory_before["VmRSS"],
            "peak_hwm": memory_after["VmHWM"],
            "growth": round(memory_after["VmHWM"] - memory_before["VmRSS"], 1),
        },
    }


async def _panel(base: str, url: str, admin: str, cast: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    view = await _call(
        base, admin, CREATE_VIEW, {"input": {"name": f"Bench {time.time_ns()}", "columns": [{"field": "FULL_NAME"}]}}
    )
    await _call(base, admin, SET_DEFAULT, {"id": view["createSalesView"]["view"]["id"]})
    n = args.requests
    return {
        "admin_default": await _page(base, url, admin, PANEL, {}, n),
        "supervisor_default": await _page(base, url, cast["supervisor"], PANEL, {}, n),
        "admin_default_view": await _page(base, url, admin, DEFAULT_VIEW, {}, n),
        "admin_text": await _page(base, url, admin, PANEL, {"filter": {"text": args.text}}, n),
        "admin_phone": await _page(base, url, admin, PANEL, {"filter": {"text": args.phone}}, n),
    }


# The exports' files go here, not into the working directory (the default ./attachments).
FILES_DIR = tempfile.mkdtemp(prefix="cartera-bench-files-")


def _serve(url: str) -> tuple[Any, str]:
    return start_server(url, extra_env={"CARTERA_ATTACHMENTS_DIR": FILES_DIR})


async def _fresh(proc: Any, url: str, args: argparse.Namespace) -> tuple[Any, str]:
    """The attentions as seeded again (an earlier part changed them), under a new server."""
    proc.terminate()
    proc.wait()
    await seed_attentions(url, args.attentions, force=True)
    return _serve(url)


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    seed_seconds = await seed_attentions(url, args.attentions, force=args.reseed)
    admin = await admin_token(url)
    cast = await _cast(url)
    parts = set(args.only.split(","))
    summary: dict[str, Any] = {}
    proc, base = _serve(url)
    try:
        if "panel" in parts:
            summary["panel_first_page"] = await _panel(base, url, admin, cast, args)
        now = datetime.now(UTC)
        newest = {"filter": {"from": cast["since"].isoformat(), "to": now.isoformat()}}
        if "close" in parts:
            summary["bulk_close_100k"] = await _wall(
                base,
                admin,
                CLOSE,
                {"input": {"selection": newest, "closeReasonId": cast["reason_id"]}},
                "closeSalesAttentions",
            )
        if "transfer" in parts:
            if "close" in parts:
                proc, base = await _fresh(proc, url, args)
            summary["bulk_transfer_100k"] = await _wall(
                base,
                admin,
                TRANSFER,
                {"input": {"selection": newest, "agentId": cast["agent_id"], "teamId": cast["team_id"]}},
                "transferSalesAttentions",
            )
        if "export" in parts:
            if parts & {"close", "transfer"}:
                proc, base = await _fresh(proc, url, args)
            summary["export"] = await _export(base, admin, proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    if parts & {"close", "transfer"}:
        # Leave the attentions as seeded for the next run.
        await seed_attentions(url, args.attentions, force=True)
    return {
        "database": url.rsplit("/", 1)[-1],
        "attentions": args.attentions,
        "attentions_seed_seconds": round(seed_seconds, 1) if seed_seconds is not None else None,
        **summary,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser)
    parser.set_defaults(contacts=200_000)
    parser.add_argument("--attentions", type=int, default=1_000_000, help="attentions (default 1000000)")
    parser.add_argument(
        "--only", default="panel,close,transfer,export", help="which parts, comma-separated (default all four)"
    )
    parser.add_argument("--reseed", action="store_true", help="write the attentions again even if they are there")
    parser.add_argument("--text", default="gonzalez", help="the text filter's keyword (default gonzalez)")
    parser.add_argument(
        "--phone", default="0341 15", help="a phone typed with spaces for the text filter (default 0341 15)"
    )
    args = parser.parse_args()
    try:
        async with seeded_database(args) as seeded:
            summary = await measure(args, seeded.url)
    finally:
        shutil.rmtree(FILES_DIR, ignore_errors=True)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
