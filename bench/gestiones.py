"""Benchmark: save-and-next (G4, G5) with 50 operators hammering one campaign of 200,000 gestiones.

On a database seeded by `services.demo` (as `cartera seed-demo` does) with at least as many
contacts as gestiones, the benchmark adds (once, kept with --reuse-database) a team, N agents
(one password hash shared by all), a supervisor, and an ACTIVE campaign of the shipped COLLECTIONS
typology operated by the N agents. Every run then starts from the same state: the campaign's
gestiones, their comments and their history (GESTION audit rows, GESTION_CHANGED events) of
earlier runs are deleted, and `--gestiones` PENDING gestiones are put in the campaign's pool
(nobody's yet), one per contact, with a COLLECTIONS plan and priorities 0-4.

The app runs under uvicorn in its own process, as `cartera serve` runs it. Each operator is a
client with one HTTP connection of its own: `takeNextGestion`, then `saveGestion(id, finish,
next: true)` in a loop for --seconds, every 10th result NO_ANSWER (which does not finish it: it
goes back to the operator's own queue and comes back later), the others PAID. Clients record
every call's latency and every gestión they receive.

Measured: gestiones handed out per second (every gestión received, by takeNextGestion or as
`next`, over the wall time of the run), the latency of saveGestion(next: true) (p50/p95/p99/max),
errors (GraphQL errors, userErrors, HTTP failures), CPU used by the server, the clients and the
whole machine, and the server's peak memory (VmHWM). After the run, double hand-outs are
looked for three ways:
  - the clients' own records: a gestión received more often than 1 + the NO_ANSWER results it
    was given, or received by an operator while another still held it (it had received it and
    not yet sent its save);
  - the history: each gestión's GESTION audit rows in id order (each claim writes ATTENDED while
    holding the row's lock), two ATTENDED with no save in between is a double hand-out; and
    each gestión's ATTENDED rows per operator must equal the times the clients say that operator
    received it;
  - the final state: no operator holds more than one gestión IN_PROGRESS.
Exits with status 1 if any double hand-out is found.

    python bench/gestiones.py --help
    python bench/gestiones.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --redis redis://127.0.0.1:6379/0 --reuse-database cartera_gestiones

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, func, insert, literal, null, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SECRET,
    client_processes,
    cuts,
    machine_busy,
    proc_cpu_seconds,
    run_in_client_process,
    seeded_database,
    start_server,
    vacuum,
)

from db.base import utcnow
from db.engine import create_engine
from db.models import (
    AuditEvent,
    AuditEventTeam,
    Campaign,
    CampaignOperator,
    CampaignStatus,
    Contact,
    Event,
    Gestion,
    GestionStatus,
    Role,
    Team,
    TeamMember,
    TeamSupervisor,
    Typology,
    User,
)
from db.search import fold
from schema.node import from_global_id, to_global_id
from services.auth import hash_password, issue_token

TEAM = "Bench gestiones"
CAMPAIGN = "Bench save-and-next"
AGENT_EMAIL = "bench-operator-{:03d}@bench.example"
SUPERVISOR_EMAIL = "bench-supervisor@bench.example"
PLAN = {"planNumber": "PL-1", "product": "Auto", "instalmentsOverdue": 3, "amountDue": 1000, "dueDate": "2026-11-01"}
NO_ANSWER_EVERY = 10

TAKE = "mutation { takeNextGestion { gestion { id } userErrors { code field } } }"
SAVE = """
mutation($id: ID!, $code: String!) {
  saveGestion(id: $id, finish: {resultCode: $code}, next: true) {
    gestion { id status } next { id } userErrors { code field }
  }
}
"""


# --- seeding -------------------------------------------------------------------------------------


async def _ensure_cast(url: str, operators: int) -> tuple[int, list[int]]:
    """The bench team, agents, supervisor and campaign (created once); the campaign id and its operators."""
    engine = create_engine(url)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            team = await conn.scalar(select(Team.id).where(Team.name == TEAM, Team.parent_id.is_(None)))
            if team is None:
                team = await conn.scalar(
                    insert(Team).values(name=TEAM, path="", created_at=now, updated_at=now).returning(Team.id)
                )
                await conn.execute(text("UPDATE teams SET path = '/' || id || '/' WHERE id = :id"), {"id": team})
            emails = [AGENT_EMAIL.format(i) for i in range(operators)]
            present = set(await conn.scalars(select(User.email).where(User.email.in_([*emails, SUPERVISOR_EMAIL]))))
            missing = [e for e in [*emails, SUPERVISOR_EMAIL] if e not in present]
            if missing:
                password = hash_password("bench-password")  # slow: once for every user
                await conn.execute(
                    insert(User),
                    [
                        {
                            "email": email,
                            "name": "Supervisión bench"
                            if email == SUPERVISOR_EMAIL
                            else f"Operador {email.split('@')[0][-3:]}",
                            "role": (Role.SUPERVISOR if email == SUPERVISOR_EMAIL else Role.AGENT).value,
                            "password_hash": password,
                            "is_active": True,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for email in missing
                    ],
                )
            by_email = dict((await conn.execute(select(User.email, User.id).where(User.email.in_(emails)))).all())
            agents = [int(by_email[e]) for e in emails]
            supervisor = await conn.scalar(select(User.id).where(User.email == SUPERVISOR_EMAIL))
            members = set(await conn.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team)))
            if new := [a for a in agents if a not in members]:
                await conn.execute(
                    insert(TeamMember), [{"team_id": team, "user_id": a, "created_at": now} for a in new]
                )
            supervisors = set(await conn.scalars(select(TeamSupervisor.user_id).where(TeamSupervisor.team_id == team)))
            if supervisor not in supervisors:
                await conn.execute(insert(TeamSupervisor).values(team_id=team, user_id=supervisor, created_at=now))
            campaign = await conn.scalar(select(Campaign.id).where(Campaign.name == CAMPAIGN))
            if campaign is None:
                typology = await conn.scalar(select(Typology.id).where(Typology.code == "COLLECTIONS"))
                assert typology is not None, "no COLLECTIONS typology: is migration 0006 applied?"
                campaign = await conn.scalar(
                    insert(Campaign)
                    .values(
                        name=CAMPAIGN,
                        search_name=fold(CAMPAIGN),
                        typology_id=typology,
                        team_id=team,
                        status=CampaignStatus.ACTIVE.value,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(Campaign.id)
                )
            # Exactly this run's operators work it.
            await conn.execute(delete(CampaignOperator).where(CampaignOperator.campaign_id == campaign))
            await conn.execute(
                insert(CampaignOperator), [{"campaign_id": campaign, "user_id": a, "created_at": now} for a in agents]
            )
    finally:
        await engine.dispose()
    assert campaign is not None
    return int(campaign), agents


async def _reset_gestiones(url: str, campaign: int, gestiones: int) -> float:
    """Delete earlier runs' gestiones and their history; fill the pool again. Seconds taken."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            contacts = int(await conn.scalar(select(func.count()).select_from(Contact)) or 0)
            if contacts < gestiones:
                raise SystemExit(f"the database has {contacts:,} contacts, fewer than --gestiones {gestiones:,}")
            await conn.execute(text("TRUNCATE gestion_comments, gestion_attachments, gestiones"))
            gestion_audit = select(AuditEvent.id).where(AuditEvent.resource_type == "GESTION")
            await conn.execute(delete(AuditEventTeam).where(AuditEventTeam.event_id.in_(gestion_audit)))
            await conn.execute(delete(AuditEvent).where(AuditEvent.resource_type == "GESTION"))
            await conn.execute(delete(Event).where(Event.kind == "GESTION_CHANGED"))
            now = utcnow()
            chosen = select(Contact.id).order_by(Contact.id).limit(gestiones).subquery()
            columns = ["campaign_id", "contact_id", "operator_id", "status", "priority", "plan", "attempts"]
            rows = select(
                literal(campaign),
                chosen.c.id,
                null(),
                literal(GestionStatus.PENDING.value),
                chosen.c.id % 5,
                literal(PLAN, type_=Gestion.plan.type),
                literal(0),
            )
            await conn.execute(
                insert(Gestion).from_select(
                    [*columns, "created_at", "updated_at"],
                    rows.add_columns(
                        literal(now, type_=Gestion.created_at.type), literal(now, type_=Gestion.updated_at.type)
                    ),
                )
            )
    finally:
        await engine.dispose()
    await vacuum(url, "gestiones", "gestion_comments", "audit_events", "audit_event_teams", "events")
    return time.perf_counter() - started


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Operator:
    user_id: int
    latencies_ms: list[float] = field(default_factory=list)
    take_latencies_ms: list[float] = field(default_factory=list)
    # (gestion id, monotonic time the call was sent, monotonic time the answer arrived)
    received: list[tuple[int, float, float]] = field(default_factory=list)
    # (gestion id, result code, sent, answered): saves that succeeded
    saved: list[tuple[int, str, float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exhausted: bool = False


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        response = await client.post("/graphql", json=body)
    except httpx.HTTPError as exc:
        return None, f"http: {type(exc).__name__}"
    if response.status_code != 200:
        return None, f"status {response.status_code}"
    data = response.json()
    if data.get("errors"):
        return None, "graphql: " + "; ".join(e.get("message", "?") for e in data["errors"])
    (payload,) = data["data"].values()
    if payload.get("userErrors"):
        return payload, "userErrors: " + ",".join(e["code"] for e in payload["userErrors"])
    return payload, None


async def _operate(op: Operator, base: str, until: float) -> None:
    token = issue_token(secret_key=SECRET, user_id=op.user_id, ttl_seconds=3600)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
        current: int | None = None
        saves = 0
        while time.monotonic() < until:
            if current is None:
                sent = time.monotonic()
                payload, error = await _post(client, {"query": TAKE})
                answered = time.monotonic()
                op.take_latencies_ms.append((answered - sent) * 1000)
                if error or payload is None:
                    op.errors.append(f"takeNextGestion {error}")
                    continue
                if payload["gestion"] is None:
                    op.exhausted = True
                    return
                current = _pk(payload["gestion"]["id"])
                op.received.append((current, sent, answered))
                continue
            saves += 1
            code = "NO_ANSWER" if saves % NO_ANSWER_EVERY == 0 else "PAID"
            sent = time.monotonic()
            payload, error = await _post(
                client, {"query": SAVE, "variables": {"id": to_global_id("Gestion", current), "code": code}}
            )
            answered = time.monotonic()
            op.latencies_ms.append((answered - sent) * 1000)
            if error or payload is None:
                op.errors.append(f"saveGestion {error}")
                current = None  # take the next one afresh
                continue
            op.saved.append((current, code, sent, answered))
            if payload["next"] is None:
                op.exhausted = True
                return
            current = _pk(payload["next"]["id"])
            op.received.append((current, sent, answered))


def _client_worker(base: str, user_ids: list[int], seconds: float, ready: Any, go: Any, results: Any) -> None:
    """One process of operators: wait for the start, work for `seconds`, report what each saw."""

    async def work() -> list[dict[str, Any]]:
        operators = [Operator(u) for u in user_ids]
        until = time.monotonic() + seconds
        await asyncio.gather(*(_operate(op, base, until) for op in operators))
        return [asdict(op) for op in operators]

    run_in_client_process(work, ready, go, results)


def _peak_memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


async def _load(base: str, agents: list[int], seconds: float, processes: int) -> tuple[list[Operator], float, float]:
    """Run the operators in `processes` client processes; (operators, wall seconds, client CPU seconds)."""
    shares = [(base, agents[share::processes], seconds) for share in range(processes)]
    found, wall, cpu = await client_processes(_client_worker, shares, seconds + 300)
    return [Operator(**op) for ops in found for op in ops], wall, cpu


# --- checks --------------------------------------------------------------------------------------


def _client_check(operators: list[Operator]) -> dict[str, Any]:
    """Double hand-outs by the clients' own records."""
    receptions: Counter[int] = Counter()
    no_answers: Counter[int] = Counter()
    holds: dict[int, list[tuple[int, float, float]]] = defaultdict(list)  # gestión -> (operator, got, released)
    for op in operators:
        saved_at: dict[int, list[float]] = defaultdict(list)
        for gestion, _, sent, _ in op.saved:
            saved_at[gestion].append(sent)
        for gestion, code, _, _ in op.saved:
            if code == "NO_ANSWER":
                no_answers[gestion] += 1
        for gestion, _, answered in op.received:
            receptions[gestion] += 1
            # Held from the answer that gave it until the save of it sent next (or the end of the run).
            later = [t for t in saved_at.get(gestion, []) if t >= answered]
            holds[gestion].append((op.user_id, answered, min(later) if later else float("inf")))
    too_often = [g for g, n in receptions.items() if n > 1 + no_answers[g]]
    overlapping = set()
    for gestion, spans in holds.items():
        if len(spans) < 2:
            continue
        for i, (who, got, released) in enumerate(spans):
            for other, other_got, _ in spans[i + 1 :] + spans[:i]:
                if other != who and got < other_got < released:
                    overlapping.add(gestion)
    return {
        "gestiones_received": len(receptions),
        "received_again_after_no_answer": sum(1 for g, n in receptions.items() if n > 1 and g not in too_often),
        "received_by_several_operators": sum(1 for spans in holds.values() if len({s[0] for s in spans}) > 1),
        "received_more_often_than_released": len(too_often),
        "received_while_another_held_it": len(overlapping),
        "examples": sorted(set(too_often) | overlapping)[:10],
    }


async def _database_check(url: str, campaign: int, operators: list[Operator]) -> dict[str, Any]:
    """Double hand-outs by the history and the final state."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            attended = Counter(
                {
                    (int(g), int(a or 0)): int(n)
                    for g, a, n in (
                        await conn.execute(
                            select(AuditEvent.resource_id, AuditEvent.actor_id, func.count())
                            .where(AuditEvent.resource_type == "GESTION", AuditEvent.action == "ATTENDED")
                            .group_by(AuditEvent.resource_id, AuditEvent.actor_id)
                        )
                    ).all()
                }
            )
            # Two claims of one gestión with no save of it in between.
            twice = await conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT action, lag(action) OVER (PARTITION BY resource_id ORDER BY id) "
                    "AS previous FROM audit_events WHERE resource_type = 'GESTION') AS history "
                    "WHERE action = 'ATTENDED' AND previous = 'ATTENDED'"
                )
            )
            holding_several = await conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT operator_id FROM gestiones WHERE campaign_id = :c "
                    "AND status = 'IN_PROGRESS' GROUP BY operator_id HAVING count(*) > 1) AS several"
                ),
                {"c": campaign},
            )
            statuses = dict(
                (
                    await conn.execute(
                        select(Gestion.status, func.count())
                        .where(Gestion.campaign_id == campaign)
                        .group_by(Gestion.status)
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    by_clients: Counter[tuple[int, int]] = Counter()
    for op in operators:
        for gestion, _, _ in op.received:
            by_clients[(gestion, op.user_id)] += 1
    mismatched = [key for key in set(attended) | set(by_clients) if attended[key] != by_clients[key]]
    return {
        "attended_audit_rows": sum(attended.values()),
        "attended_rows_not_matching_clients": len(mismatched),
        "mismatch_examples": sorted(mismatched)[:10],
        "claimed_twice_without_a_save": int(twice or 0),
        "operators_holding_several": int(holding_several or 0),
        "final_statuses": {str(k): int(v) for k, v in statuses.items()},
    }


# --- main ----------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, url: str, seed_seconds: float | None) -> dict[str, Any]:
    campaign, agents = await _ensure_cast(url, args.operators)
    reset_seconds = await _reset_gestiones(url, campaign, args.gestiones)
    if args.workers > 1 and not args.redis:
        raise SystemExit("--workers above 1 needs --redis: the processes share live events through it")
    proc, base = start_server(url, redis_url=args.redis, workers=args.workers)
    try:
        memory_before = _peak_memory_mb(proc.pid)
        server_cpu, machine = proc_cpu_seconds(proc.pid), machine_busy()
        operators, wall, client_cpu = await _load(base, agents, args.seconds, args.client_processes)
        server_cpu = proc_cpu_seconds(proc.pid) - server_cpu
        busy, total = (a - b for a, b in zip(machine_busy(), machine, strict=True))
        memory_after = _peak_memory_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    handed = sum(len(op.received) for op in operators)
    latencies = [ms for op in operators for ms in op.latencies_ms]
    errors = Counter(e for op in operators for e in op.errors)
    clients = _client_check(operators)
    history = await _database_check(url, campaign, operators)
    doubles = (
        clients["received_more_often_than_released"]
        + clients["received_while_another_held_it"]
        + history["attended_rows_not_matching_clients"]
        + history["claimed_twice_without_a_save"]
        + history["operators_holding_several"]
    )
    return {
        "database": url.rsplit("/", 1)[-1],
        "operators": args.operators,
        "api_processes": args.workers,
        "client_processes": args.client_processes,
        "gestiones": args.gestiones,
        "seed_seconds": round(seed_seconds, 1) if seed_seconds is not None else None,
        "reset_seconds": round(reset_seconds, 1),
        "seconds": round(wall, 2),
        "handed_out": handed,
        "handed_out_per_second": round(handed / wall, 1),
        "save_and_next_calls": len(latencies),
        "save_and_next": cuts(latencies),
        "take_next": cuts([ms for op in operators for ms in op.take_latencies_ms]),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "operators_out_of_work": sum(op.exhausted for op in operators),
        "cpu": {
            "server_cores": round(server_cpu / wall, 2),
            "clients_cores": round(client_cpu / wall, 2),
            "machine_busy_percent": round(100 * busy / total, 1) if total else None,
            "machine_cores": os.cpu_count(),
        },
        "server_memory_mb": {"before": memory_before, "after": memory_after},
        "double_hand_out_check": {"clients": clients, "database": history},
        "double_hand_outs": doubles,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--postgres", required=True, help="PostgreSQL server URL (any database on it); the bench database goes there"
    )
    parser.add_argument("--redis", help="Redis URL for the API process (default: none, in-process broadcaster)")
    parser.add_argument(
        "--reuse-database",
        metavar="NAME",
        help="use this database on the server, seeding it first if it has no contacts; never dropped",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (printed on stderr)")
    parser.add_argument("--operators", type=int, default=50, help="concurrent operators (default 50)")
    parser.add_argument(
        "--gestiones", type=int, default=200_000, help="gestiones in the campaign's pool (default 200000)"
    )
    parser.add_argument("--contacts", type=int, help="contacts to seed in a new database (default: --gestiones)")
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (default 2026)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the operators work (default 30)")
    parser.add_argument(
        "--workers", type=int, default=1, help="API processes behind the port, as `cartera serve --workers` (default 1)"
    )
    parser.add_argument(
        "--client-processes", type=int, default=1, help="processes the operators' clients share (default 1)"
    )
    args = parser.parse_args()
    args.contacts = max(args.contacts or args.gestiones, args.gestiones)
    async with seeded_database(args) as seeded:
        summary = await measure(args, seeded.url, seeded.seed_seconds)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["double_hand_outs"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
