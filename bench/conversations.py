"""Benchmark: intake (A1) and routing (A2, A5) — integrators calling receiveMessage as fast as they can.

On its own database (a scratch one, or --reuse-database's) the benchmark seeds once: a team of
--agents agents (one password hash shared by all), all ONLINE, an admin user for the integrators,
and --contacts contacts of that team with a WhatsApp number each, half of them in portfolios
(a quarter of all in portfolios owned by agents, a quarter in portfolios of the team with no
agent owner). Every run starts from the same state: earlier runs' conversations, messages,
turns, agent loads, the contacts intake created, and their audit rows and events are deleted,
and the routing settings are set to --method (and --capacity).

The app runs under uvicorn in --workers processes behind one port (as `cartera serve --workers`
runs it), with Redis for live events. Integrator clients (--clients connections in
--client-processes processes, each a small keep-alive HTTP/1.1 client so that the clients take
little of the machine) call receiveMessage for --seconds: a share --new-share of the messages from
senders nobody knows (a new contact, a new conversation), the rest from a seeded contact picked at
random (a new conversation, or one more message of its open one).

Measured: messages received per second, conversations routed per second (OPENED answers), the
latency of receiveMessage (p50/p95/p99/max), errors, the CPU of the API processes, the clients and
the machine. Checked after the run, from the clients' records and the database:
  - every acknowledged message is in the database, in the conversation its answer named;
  - no conversation was opened twice (two OPENED answers, two CREATED audit rows or events) and
    none was lost (an OPENED answer without its conversation, or one left UNASSIGNED while every
    agent was ONLINE with no capacity reached);
  - each agent's open count (agent_loads) equals its OPEN conversations;
  - under ROUND_ROBIN, the conversations the team's ring routed (by the method or within a
    team-owned portfolio), in id order (ids are drawn under the ring's lock), go to the agents in
    strict turn order, and per-agent counts differ by at most 1.
Exits with status 1 if any check fails.

    python bench/conversations.py --help
    python bench/conversations.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --redis redis://127.0.0.1:6379/0

--profile SECONDS records one API process with py-spy (`pip install py-spy`) for that long in
the middle of the run and prints where its time went (functions by own and total samples).

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SECRET,
    RawClient,
    bench_database,
    client_processes,
    cuts,
    machine_busy,
    postgres_cpu_seconds,
    proc_cpu_seconds,
    run_in_client_process,
    start_server,
    vacuum,
)

from db import migrate
from db.base import utcnow
from db.engine import create_engine
from db.models import (
    AgentLoad,
    AuditEvent,
    Contact,
    ContactChannel,
    Conversation,
    ConversationMessage,
    Event,
    Portfolio,
    PortfolioMember,
    Presence,
    Role,
    RoutingMethod,
    RoutingSettings,
    Team,
    TeamMember,
    User,
)
from db.search import fold
from schema.node import from_global_id
from services.auth import hash_password, issue_token
from services.contacts import search_name, search_text, sort_name

TEAM = "Bench intake"
AGENT_EMAIL = "bench-intake-agent-{:03d}@bench.example"
ADMIN_EMAIL = "bench-integrator@bench.example"
SEEDED = "Sembrado"  # the seeded contacts' last names: intake's own contacts are deleted between runs
RECEIVE = """
mutation($input: ReceiveMessageInput!) {
  receiveMessage(input: $input) { outcome conversation { id } message { id } userErrors { code message } }
}
"""


def seeded_phone(n: int) -> str:
    return f"+54911{5000_0000 + n:08d}"


def new_phone(client: int, n: int) -> str:
    return f"+54911{2000_0000 + client * 100_000 + n:08d}"


# --- seeding ---------------------------------------------------------------------------------------


async def _seed(url: str, agents: int, contacts: int, teams: int = 1) -> dict[str, Any]:
    """The teams, agents (agent i in team i mod `teams`), integrator and contacts (created once)."""
    engine = create_engine(url)
    now = utcnow()
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            team_ids = [await _team(conn, TEAM if k == 0 else f"{TEAM} {k + 1}", now) for k in range(teams)]
            emails = [AGENT_EMAIL.format(i) for i in range(agents)]
            present = set(await conn.scalars(select(User.email).where(User.email.in_([*emails, ADMIN_EMAIL]))))
            missing = [e for e in [*emails, ADMIN_EMAIL] if e not in present]
            if missing:
                password = hash_password("bench-password")
                await conn.execute(
                    insert(User),
                    [
                        {
                            "email": email,
                            "name": "Integración bench" if email == ADMIN_EMAIL else f"Agente {email[19:22]}",
                            "role": (Role.ADMIN if email == ADMIN_EMAIL else Role.AGENT).value,
                            "password_hash": password,
                            "is_active": True,
                            "search_text": fold(email),
                            "sort_name": fold(email),
                            "created_at": now,
                            "updated_at": now,
                        }
                        for email in missing
                    ],
                )
            by_email = dict((await conn.execute(select(User.email, User.id).where(User.email.in_(emails)))).all())
            agent_ids = [int(by_email[e]) for e in emails]
            admin = int(await conn.scalar(select(User.id).where(User.email == ADMIN_EMAIL)) or 0)
            rings: dict[int, list[int]] = {t: sorted(agent_ids[k :: len(team_ids)]) for k, t in enumerate(team_ids)}
            await conn.execute(delete(TeamMember).where(TeamMember.user_id.in_(agent_ids)))
            await conn.execute(
                insert(TeamMember),
                [{"team_id": t, "user_id": a, "created_at": now} for t, members in rings.items() for a in members],
            )
            seeded = int(
                await conn.scalar(select(func.count()).select_from(Contact).where(Contact.last_names == SEEDED)) or 0
            )
            if seeded < contacts:
                await _seed_contacts(conn, team_ids, sorted(agent_ids), seeded, contacts, now)
            contact_ids = list(
                await conn.scalars(select(Contact.id).where(Contact.last_names == SEEDED).order_by(Contact.id))
            )
    finally:
        await engine.dispose()
    return {
        "team": team_ids[0],
        "teams": team_ids,
        "rings": rings,
        "agents": sorted(agent_ids),
        "admin": admin,
        "contacts": len(contact_ids),
    }


async def _team(conn: Any, name: str, now: Any) -> int:
    team = await conn.scalar(select(Team.id).where(Team.name == name, Team.parent_id.is_(None)))
    if team is None:
        team = await conn.scalar(
            insert(Team)
            .values(name=name, path="", sort_name=fold(name), created_at=now, updated_at=now)
            .returning(Team.id)
        )
        await conn.execute(text("UPDATE teams SET path = '/' || id || '/' WHERE id = :id"), {"id": team})
    return int(team)


async def _seed_contacts(conn: Any, teams: list[int], agents: list[int], start: int, end: int, now: Any) -> None:
    """Contacts start..end-1: a WhatsApp number each, contact n in team n mod len(teams); every
    2nd in a portfolio (agent-owned, or of the first team)."""
    team = teams[0]
    portfolios = []
    for i in range(20):
        name = f"Cartera bench {i:02d}"
        exists = await conn.scalar(select(Portfolio.id).where(Portfolio.name == name))
        if exists is None:
            owner = (
                {"agent_id": agents[i * 7 % len(agents)], "team_id": None}
                if i < 10
                else {"agent_id": None, "team_id": team}
            )
            exists = await conn.scalar(
                insert(Portfolio)
                .values(name=name, search_name=fold(name), active=True, created_at=now, updated_at=now, **owner)
                .returning(Portfolio.id)
            )
        portfolios.append(int(exists))
    batch = 5_000
    for low in range(start, end, batch):
        numbers = range(low, min(end, low + batch))
        rows = []
        for n in numbers:
            first = f"Cliente{n:06d}"
            rows.append(
                {
                    "first_names": first,
                    "last_names": SEEDED,
                    "is_vip": False,
                    "team_id": teams[n % len(teams)],
                    "custom_fields": {},
                    "search_name": search_name(first, SEEDED),
                    "sort_name": sort_name(first, SEEDED),
                    "search_text": search_text(
                        first_names=first,
                        last_names=SEEDED,
                        document=None,
                        company=None,
                        channels=[("WHATSAPP", seeded_phone(n))],
                    ),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        ids = list(await conn.scalars(insert(Contact).returning(Contact.id, sort_by_parameter_order=True), rows))
        await conn.execute(
            insert(ContactChannel),
            [
                {
                    "contact_id": c,
                    "kind": "WHATSAPP",
                    "value": seeded_phone(n),
                    "normalized": seeded_phone(n),
                    "created_at": now,
                }
                for c, n in zip(ids, numbers, strict=True)
            ],
        )
        held = [
            {"contact_id": c, "portfolio_id": portfolios[(n // 2) % len(portfolios)], "assigned_at": now}
            for c, n in zip(ids, numbers, strict=True)
            if n % 2 == 0
        ]
        await conn.execute(insert(PortfolioMember), held)


async def _reset(url: str, cast: dict[str, Any], method: RoutingMethod, capacity: int | None) -> None:
    """Forget earlier runs: conversations, turns, loads, intake's contacts and their history."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            # sales_attention_conversations (0017) links conversations: TRUNCATE needs it listed too.
            await conn.execute(
                text(
                    "TRUNCATE sales_attention_conversations, conversation_messages, conversations,"
                    " agent_loads, routing_turns"
                )
            )
            made = select(Contact.id).where(Contact.last_names != SEEDED)
            await conn.execute(delete(PortfolioMember).where(PortfolioMember.contact_id.in_(made)))
            await conn.execute(delete(ContactChannel).where(ContactChannel.contact_id.in_(made)))
            await conn.execute(delete(Contact).where(Contact.last_names != SEEDED))
            await conn.execute(delete(AuditEvent).where(AuditEvent.resource_type.in_(["CONVERSATION", "CONTACT"])))
            kinds = ["CONVERSATION_CHANGED", "CONVERSATION_MESSAGE", "AGENT_LOAD_CHANGED"]
            await conn.execute(delete(Event).where(Event.kind.in_(kinds)))
            await conn.execute(delete(Presence).where(Presence.user_id.in_(cast["agents"])))
            await conn.execute(
                insert(Presence), [{"user_id": a, "status": "ONLINE", "changed_at": utcnow()} for a in cast["agents"]]
            )
            await conn.execute(
                update(RoutingSettings)
                .where(RoutingSettings.id == 1)
                .values(
                    method=method.value, capacity=capacity, intake_team_id=cast["team"], default_team_id=cast["team"]
                )
            )
    finally:
        await engine.dispose()
    await vacuum(
        url,
        "conversations",
        "conversation_messages",
        "contacts",
        "contact_channels",
        "audit_events",
        "events",
        "agent_loads",
        "routing_turns",
        "presences",
    )


# --- the clients -------------------------------------------------------------------------------------


@dataclass
class Integrator:
    index: int
    # (latency ms, outcome, conversation pk, message pk, new sender)
    calls: list[tuple[float, str, int, int, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _integrate(
    me: Integrator, base: str, token: str, until: float, contacts: int, new_share: float, seed: int
) -> None:
    rng = random.Random(seed * 1_000 + me.index)
    client = RawClient(base, token)
    n = 0
    try:
        while time.monotonic() < until:
            n += 1
            new = rng.random() < new_share
            number = new_phone(me.index, n) if new else seeded_phone(rng.randrange(contacts))
            body: dict[str, Any] = {
                "query": RECEIVE,
                "variables": {
                    "input": {
                        "channel": {"kind": "WHATSAPP", "value": number},
                        "text": "Hola, quisiera saber el saldo de mi cuenta",
                        "externalId": f"bench-{seed}-{me.index}-{n}",
                        "sentAt": utcnow().isoformat(),
                        **({"contactName": f"Nuevo Cliente{me.index:03d}x{n:06d}"} if new else {}),
                    }
                },
            }
            encoded = json.dumps(body).encode()
            started = time.perf_counter()
            try:
                status, _, raw = await client.post(encoded)
            except (OSError, asyncio.IncompleteReadError) as exc:
                me.errors.append(f"http: {type(exc).__name__}")
                await client.close()
                client = RawClient(base, token)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                me.errors.append(f"status {status}")
                continue
            data = json.loads(raw)
            if data.get("errors"):
                me.errors.append("graphql: " + "; ".join(e.get("message", "?") for e in data["errors"])[:200])
                continue
            payload = data["data"]["receiveMessage"]
            if payload["userErrors"]:
                me.errors.append("userErrors: " + ",".join(e["code"] for e in payload["userErrors"]))
                continue
            conversation = from_global_id(payload["conversation"]["id"])[1]
            message = from_global_id(payload["message"]["id"])[1]
            me.calls.append((elapsed, payload["outcome"], conversation, message, new))
    finally:
        await client.close()


def _client_worker(
    base: str,
    token: str,
    indexes: list[int],
    seconds: float,
    contacts: int,
    new_share: float,
    seed: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One process of integrators: wait for the start, send for `seconds`, report each one's calls."""

    async def work() -> list[dict[str, Any]]:
        integrators = [Integrator(i) for i in indexes]
        until = time.monotonic() + seconds
        await asyncio.gather(*(_integrate(i, base, token, until, contacts, new_share, seed) for i in integrators))
        return [asdict(i) for i in integrators]

    run_in_client_process(work, ready, go, results)


async def _load(
    base: str, token: str, args: argparse.Namespace, contacts: int
) -> tuple[list[Integrator], float, float]:
    """The integrators in --client-processes processes: (integrators, wall seconds, client CPU seconds)."""
    shares = [
        (
            base,
            token,
            list(range(share, args.clients, args.client_processes)),
            args.seconds,
            contacts,
            args.new_share,
            args.seed,
        )
        for share in range(args.client_processes)
    ]
    found, wall, cpu = await client_processes(_client_worker, shares, args.seconds + 300)
    return [Integrator(**i) for share in found for i in share], wall, cpu


# --- checks ------------------------------------------------------------------------------------------


async def _check(
    url: str, cast: dict[str, Any], integrators: list[Integrator], method: RoutingMethod
) -> dict[str, Any]:
    calls = [c for i in integrators for c in i.calls]
    opened = Counter(c[2] for c in calls if c[1] == "OPENED")
    told = {c[3]: c[2] for c in calls}
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            messages = dict(
                (await conn.execute(select(ConversationMessage.id, ConversationMessage.conversation_id))).all()
            )
            rows = (
                await conn.execute(
                    select(Conversation.id, Conversation.status, Conversation.agent_id, Conversation.routing).order_by(
                        Conversation.id
                    )
                )
            ).all()
            created = Counter(
                (
                    await conn.scalars(
                        select(AuditEvent.resource_id).where(
                            AuditEvent.resource_type == "CONVERSATION", AuditEvent.action == "CREATED"
                        )
                    )
                ).all()
            )
            created_events = Counter(
                int(p["conversationId"])
                for p in (await conn.scalars(select(Event.payload).where(Event.kind == "CONVERSATION_CHANGED"))).all()
                if p.get("change") == "CREATED"
            )
            loads = dict((await conn.execute(select(AgentLoad.user_id, AgentLoad.open_conversations))).all())
    finally:
        await engine.dispose()
    conversations = {r.id: r for r in rows}
    open_per_agent = Counter(r.agent_id for r in rows if r.status == "OPEN")
    # The conversations each team's ring routed (by the method, or within a team-owned portfolio).
    by_ring: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        if (r.routing or {}).get("rule") in ("ROUND_ROBIN", "PORTFOLIO_TEAM"):
            by_ring[r.routing["teamId"]].append(r)
    out_of_turn, spreads = 0, []
    for team, ring in by_ring.items():
        order = cast["rings"][team]
        for previous, current in itertools.pairwise(ring):
            out_of_turn += current.agent_id != order[(order.index(previous.agent_id) + 1) % len(order)]
        per_agent = Counter(r.agent_id for r in ring)
        counts = [per_agent.get(a, 0) for a in order]
        spreads.append((min(counts), max(counts)))
    return {
        "acknowledged_messages": len(told),
        "acknowledged_messages_missing": sum(1 for m in told if m not in messages),
        "acknowledged_in_another_conversation": sum(1 for m, c in told.items() if messages.get(m, c) != c),
        "conversations": len(rows),
        "opened_answers": sum(opened.values()),
        "opened_twice": sum(1 for n in opened.values() if n > 1),
        "opened_but_missing": sum(1 for c in opened if c not in conversations),
        "created_audit_rows_not_one": sum(1 for r in rows if created[r.id] != 1),
        "created_events_not_one": sum(1 for r in rows if created_events[r.id] != 1),
        "left_unassigned": sum(1 for r in rows if r.status != "OPEN"),
        "loads_not_matching_open_conversations": sum(
            1 for a in set(loads) | set(open_per_agent) if loads.get(a, 0) != open_per_agent.get(a, 0)
        ),
        "rules": dict(Counter((r.routing or {}).get("rule") for r in rows)),
        "round_robin": {
            "rings": len(by_ring),
            "ring_conversations": sum(len(r) for r in by_ring.values()),
            "out_of_turn": out_of_turn if method is RoutingMethod.ROUND_ROBIN else None,
            "per_agent_min": min((lo for lo, _ in spreads), default=0),
            "per_agent_max": max((hi for _, hi in spreads), default=0),
            "largest_spread_in_a_ring": max((hi - lo for lo, hi in spreads), default=0),
        },
    }


def _failures(check: dict[str, Any], method: RoutingMethod) -> list[str]:
    keys = [
        "acknowledged_messages_missing",
        "acknowledged_in_another_conversation",
        "opened_twice",
        "opened_but_missing",
        "created_audit_rows_not_one",
        "created_events_not_one",
        "left_unassigned",
        "loads_not_matching_open_conversations",
    ]
    failed = [k for k in keys if check[k]]
    rr = check["round_robin"]
    if method is RoutingMethod.ROUND_ROBIN and (rr["out_of_turn"] or rr["largest_spread_in_a_ring"] > 1):
        failed.append("round_robin")
    return failed


# --- measuring ---------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker beside them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid and b"resource_tracker" not in command:
                found.append(int(entry.name))
    return sorted(found)


async def _wal(url: str) -> int:
    """Bytes of WAL PostgreSQL has written so far (the whole server's)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")) or 0)
    finally:
        await engine.dispose()


async def _profile(pid: int, seconds: float, delay: float) -> list[str]:
    """py-spy on one API process for `seconds`, `delay` into the run: where its time went."""
    await asyncio.sleep(delay)
    out = Path(tempfile.mkdtemp(prefix="cartera-profile-")) / "profile.txt"
    command = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await process.wait()
    if not out.exists():
        return ["py-spy produced nothing (is it installed, and may it attach?)"]
    return [f"raw stacks: {out}", *_summarise(out.read_text().splitlines())]


def _summarise(lines: list[str]) -> list[str]:
    """py-spy's raw (collapsed) stacks: the modules and functions taking the most samples, by
    total (the function or what it called) and by package."""
    total = 0
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        leaf = frames[-1] if frames else "?"
        packages[_package(leaf)] += n
    report = [f"samples: {total}"]
    report += [f"own time by package: {name} {100 * n / total:.1f}%" for name, n in packages.most_common(12)]
    interesting = [(f, n) for f, n in inclusive.most_common(400) if any(k in f for k in _OURS)]
    report += [f"total: {frame} {100 * n / total:.1f}%" for frame, n in interesting[:40]]
    return report


_OURS = (
    "services/",
    "resolvers/",
    "schema/",
    "db/",
    "cartera/",
    "strawberry/",
    "graphql/",
    "sqlalchemy/",
    "asyncpg",
    "uvicorn",
    "starlette",
)


def _package(frame: str) -> str:
    location = frame[frame.find("(") + 1 : frame.rfind(")")] if "(" in frame else frame
    for marker in ("site-packages/", "lib/python3"):
        if marker in location:
            rest = location.split(marker, 1)[1]
            return rest.split("/", 1)[0] if marker == "site-packages/" else "stdlib"
    for ours in ("services", "resolvers", "schema", "db", "cartera", "subscriptions"):
        if f"/{ours}/" in location:
            return f"cartera:{ours}"
    return location or "?"


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    method = RoutingMethod(args.method)
    cast = await _seed(url, args.agents, args.contacts, args.teams)
    await _reset(url, cast, method, args.capacity)
    token = issue_token(secret_key=SECRET, user_id=cast["admin"], ttl_seconds=3600)
    proc, base = start_server(url, redis_url=args.redis, workers=args.workers)
    try:
        await asyncio.sleep(1)
        servers = _children(proc.pid) if args.workers > 1 else [proc.pid]
        # Warm every process (statement caches, prepared statements) before the clock starts.
        warm = RawClient(base, token)
        for n in range(20 * args.workers):
            body = {
                "query": RECEIVE,
                "variables": {
                    "input": {
                        "channel": {"kind": "WHATSAPP", "value": new_phone(999, n)},
                        "text": "warm",
                        "externalId": f"warm-{args.seed}-{n}",
                        "sentAt": utcnow().isoformat(),
                    }
                },
            }
            await warm.post(json.dumps(body).encode())
            await warm.close()
            warm = RawClient(base, token)
        await warm.close()
        await _reset(url, cast, method, args.capacity)
        before = {pid: proc_cpu_seconds(pid) for pid in servers}
        wal_before = await _wal(url)
        pg_before, machine_before = postgres_cpu_seconds(), machine_busy()
        profiling = (
            asyncio.create_task(_profile(servers[0], args.profile, max(0.0, (args.seconds - args.profile) / 2)))
            if args.profile
            else None
        )
        integrators, wall, client_cpu = await _load(base, token, args, cast["contacts"])
        server_cpu = sum(proc_cpu_seconds(pid) - before[pid] for pid in servers)
        pg_cpu = postgres_cpu_seconds() - pg_before
        busy, total = (a - b for a, b in zip(machine_busy(), machine_before, strict=True))
        wal = await _wal(url) - wal_before
        profile = await profiling if profiling else None
    finally:
        proc.terminate()
        proc.wait()
    calls = [c for i in integrators for c in i.calls]
    errors = Counter(e for i in integrators for e in i.errors)
    check = await _check(url, cast, integrators, method)
    outcomes = Counter(c[1] for c in calls)
    summary = {
        "database": make_url(url).database,
        "method": method.value,
        "capacity": args.capacity,
        "agents_online": len(cast["agents"]),
        "teams": len(cast["teams"]),
        "seeded_contacts": cast["contacts"],
        "api_processes": args.workers,
        "clients": args.clients,
        "client_processes": args.client_processes,
        "new_sender_share": args.new_share,
        "seconds": round(wall, 2),
        "messages": len(calls),
        "messages_per_second": round(len(calls) / wall, 1),
        "conversations_routed": outcomes["OPENED"],
        "conversations_routed_per_second": round(outcomes["OPENED"] / wall, 1),
        "outcomes": dict(outcomes),
        "receive_message": cuts([c[0] for c in calls]),
        "receive_message_new_sender": cuts([c[0] for c in calls if c[4]]),
        "receive_message_known_sender": cuts([c[0] for c in calls if not c[4]]),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "cpu": {
            "api_processes_cores": round(server_cpu / wall, 2),
            "postgres_cores": round(pg_cpu / wall, 2),
            "clients_cores": round(client_cpu / wall, 2),
            "machine_busy_percent": round(100 * busy / total, 1) if total else None,
            "machine_cores": os.cpu_count(),
            "api_cpu_ms_per_message": round(1000 * server_cpu / max(1, len(calls)), 2),
            "postgres_cpu_ms_per_message": round(1000 * pg_cpu / max(1, len(calls)), 2),
        },
        "wal_kb_per_message": round(wal / 1024 / max(1, len(calls)), 1),
        "checks": check,
    }
    summary["failed_checks"] = _failures(check, method)
    if profile is not None:
        summary["profile"] = profile
    return summary


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="PostgreSQL server URL (any database on it)")
    parser.add_argument("--redis", help="Redis URL for the API processes (required with --workers above 1)")
    parser.add_argument("--reuse-database", metavar="NAME", help="use (and seed once) this database; never dropped")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (printed on stderr)")
    parser.add_argument("--agents", type=int, default=200, help="ONLINE agents of the team (default 200)")
    parser.add_argument(
        "--teams", type=int, default=1, help="teams the agents and contacts are dealt to, one ring each (default 1)"
    )
    parser.add_argument(
        "--contacts", type=int, default=20_000, help="seeded contacts, half in portfolios (default 20000)"
    )
    parser.add_argument("--method", default="ROUND_ROBIN", choices=[m.value for m in RoutingMethod])
    parser.add_argument("--capacity", type=int, help="the routing settings' capacity (default: none)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the integrators send (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="API processes behind the port (default 2)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent integrator connections (default 24)")
    parser.add_argument("--client-processes", type=int, default=1, help="processes the clients share (default 1)")
    parser.add_argument(
        "--new-share", type=float, default=0.5, help="share of messages from unknown senders (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()), help="random seed (default: the clock)")
    parser.add_argument("--profile", type=float, default=0, help="py-spy one API process for this many seconds")
    args = parser.parse_args()
    if args.workers > 1 and not args.redis:
        raise SystemExit("--workers above 1 needs --redis: the processes share live events through it")
    async with bench_database(args) as url:
        summary = await measure(args, url)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["failed_checks"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
