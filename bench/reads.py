"""Benchmark: hot reads through the API against PostgreSQL answering the compiled statement alone
(issue 24, "Performance").

On one PostgreSQL database (`cartera seed-demo --contacts 100000`'s data, plus --bench-users
agents in the demo's teams and a third of the contacts in portfolios, so that a page of 100
users has teams and the contacts' badges are there), one API process (uvicorn with httptools,
`--workers 1`, the app as `cartera serve` runs it, with Redis) answers five operations, sent as a
client sends them (a document, variables, signed in as the demo's admin):

  contacts_first  a page of 50 contacts with company, channels and badge, the list's first page;
  contacts_deep   the same page after the cursor of row 90,000 (found by walking the list once);
  users           100 users with their teams;
  me              `{ me { id } }`;
  typename        `{ __typename }`.

--clients keep-alive HTTP/1.1 connections (about 30 microseconds of CPU a request, on uvloop:
httpx costs about a millisecond and would measure itself) send one case without pause for
--seconds, then the next: every case in turn, for --rounds rounds, so that the machine's drift
falls on all alike.
Right after each case's API run, in the same round, PostgreSQL alone answers the statement the
compiled path would send for it (`ReadCompiler.statement`, resolvers/compiled.py): pgbench
(`-n -M prepared -c <clients> -j 2 -T <seconds>`) runs it from a script file on the same
database. A case the compiler does not cover has no statement: it says "not compiled" (or,
answered compiled with no statement, as `{ __typename }` is, "no statement") and has no pgbench
run. The statement's $1... parameters are sent as pgbench variables by default (`--params
variables`: `-D pN=value`, bound to the prepared statement as the API's driver binds them, so
PostgreSQL chooses between custom and generic plans as it does for the API; a NULL is inlined),
or inlined as literals (`--params inline`: the statement planned once with its values).

Per case and round: requests (transactions) per second, p50 and p99 latency, errors (any answer
that is not 200 or carries `errors`; there must be none: the exit status is 1 otherwise), the
API process's CPU per request (its utime+stime from /proc over the run / requests), PostgreSQL's
(the backends serving the bench's database, sampled through the run: other databases on the
server are not counted), the client's (this process, or pgbench), the machine's busy share, and
the share of answers that came from the compiled path (header `x-cartera-read: compiled`).
Every answer is checked cheaply (status, no `errors`) and one of each case in full before the
clock starts.

    python bench/reads.py --help
    python bench/reads.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --redis redis://127.0.0.1:6379/0 --reuse-database cartera_reads

Prints a table; with --json a JSON summary on stdout (the table then goes to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SECRET,
    RawClient,
    Seeded,
    admin_id,
    cuts,
    database_arguments,
    machine_busy,
    proc_cpu_seconds,
    seeded_database,
    start_server,
)
from contacts_page import deep_cursor

from cartera.app import create_app
from db.base import utcnow
from db.engine import create_engine
from db.models import Portfolio, PortfolioMember, Role, Team, TeamMember, User
from db.search import fold
from resolvers.compiled import ReadCompiler
from schema.node import to_global_id
from services.auth import hash_password, issue_token
from services.principal import load_principal
from services.settings import Settings

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
DEEP_ROW = 90_000
BENCH_USER = "lector.{:03d}@bench.example"
BENCH_PORTFOLIO = "Cartera lectura {:02d}"

CONTACTS = """
query ContactsPage($first: Int, $after: String) {
  contacts(first: $first, after: $after) {
    edges {
      cursor
      node {
        id fullName initials isVip
        company { id name }
        channels { kind value }
        badge { portfolioName ownerName ownerKind }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
USERS = """
query UsersPage($first: Int) {
  users(first: $first) {
    edges { cursor node { id name email role teams(first: 10) { nodes { id name } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ME = "{ me { id } }"
TYPENAME = "{ __typename }"
# Only the cursors: the cheapest way through the list to row DEEP_ROW, as a client would walk it.
WALK = "query Walk($after: String) { contacts(first: 100, after: $after) { pageInfo { endCursor hasNextPage } } }"

AIMS = {  # requests a second at 16 clients, one process (issue 24)
    "contacts_first": 1_500,
    "contacts_deep": 1_500,
    "me": 5_000,
    "typename": 10_000,
}
SHARE_OF_POSTGRES = 0.5  # the contacts page: at least half of what PostgreSQL alone serves


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    check: Callable[[dict[str, Any]], None]

    def body(self) -> bytes:
        found: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            found["variables"] = self.variables
        if self.operation_name is not None:
            found["operationName"] = self.operation_name
        return json.dumps(found).encode()


# --- the database -------------------------------------------------------------------------------


async def seed_reads(url: str, users: int) -> dict[str, int]:
    """What seed-demo leaves out: `users` agents dealt to the demo's leaf teams (every third in a
    second team), and portfolios (half agent-owned, half team-owned) holding every third contact."""
    engine = create_engine(url)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            present = int(
                await conn.scalar(
                    select(func.count()).select_from(User).where(User.email.like("lector.%@bench.example"))
                )
                or 0
            )
            leaves = list(
                await conn.scalars(
                    select(Team.id)
                    .where(~Team.id.in_(select(Team.parent_id).where(Team.parent_id.isnot(None))))
                    .order_by(Team.id)
                )
            )
            if present < users:
                password = hash_password("bench-password")
                rows = [
                    {
                        "email": BENCH_USER.format(i),
                        "name": f"Lector {i:03d}",
                        "role": Role.AGENT.value,
                        "password_hash": password,
                        "is_active": True,
                        "search_text": fold(f"Lector {i:03d} {BENCH_USER.format(i)}"),
                        "sort_name": fold(f"Lector {i:03d}"),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(present, users)
                ]
                ids = list(await conn.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), rows))
                members = [
                    {"team_id": leaves[n % len(leaves)], "user_id": u, "created_at": now} for n, u in enumerate(ids)
                ]
                members += [
                    {"team_id": leaves[(n + 1) % len(leaves)], "user_id": u, "created_at": now}
                    for n, u in enumerate(ids)
                    if n % 3 == 0 and len(leaves) > 1
                ]
                await conn.execute(insert(TeamMember), members)
            held = int(await conn.scalar(select(func.count()).select_from(PortfolioMember)) or 0)
            if not held:
                agents = list(
                    await conn.scalars(
                        select(User.id)
                        .where(User.role == Role.AGENT.value, User.email.like("%@cartera.demo"))
                        .order_by(User.id)
                    )
                )
                portfolios = []
                for i in range(10):
                    owner = (
                        {"agent_id": agents[i % len(agents)], "team_id": None}
                        if i % 2
                        else {"agent_id": None, "team_id": leaves[i % len(leaves)]}
                    )
                    name = BENCH_PORTFOLIO.format(i)
                    portfolios.append(
                        await conn.scalar(
                            insert(Portfolio)
                            .values(
                                name=name, search_name=fold(name), active=True, created_at=now, updated_at=now, **owner
                            )
                            .returning(Portfolio.id)
                        )
                    )
                await conn.execute(
                    text(
                        "INSERT INTO portfolio_members (contact_id, portfolio_id, assigned_at) "
                        "SELECT id, (CAST(:ids AS bigint[]))[1 + (id / 3) % :n], :now FROM contacts WHERE id % 3 = 0"
                    ),
                    {"ids": portfolios, "n": len(portfolios), "now": now},
                )
            counts = {
                "users": int(await conn.scalar(select(func.count()).select_from(User)) or 0),
                "portfolio_members": int(await conn.scalar(select(func.count()).select_from(PortfolioMember)) or 0),
            }
    finally:
        await engine.dispose()
    return counts


# --- the cases ------------------------------------------------------------------------------------


def _no_errors(answer: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in answer, answer["errors"]
    data: dict[str, Any] = answer["data"]
    return data


def _contacts_page(answer: dict[str, Any]) -> None:
    page = _no_errors(answer)["contacts"]
    assert len(page["edges"]) == 50, len(page["edges"])
    assert page["pageInfo"]["hasNextPage"], page["pageInfo"]
    nodes = [e["node"] for e in page["edges"]]
    assert any(n["company"] for n in nodes), "no company"
    assert any(n["channels"] for n in nodes), "no channels"
    assert any(n["badge"] for n in nodes), "no badge: the bench's portfolios are missing"


def _users_page(answer: dict[str, Any]) -> None:
    edges = _no_errors(answer)["users"]["edges"]
    assert len(edges) == 100, len(edges)
    assert sum(1 for e in edges if e["node"]["teams"]["nodes"]) >= 90, "users without teams"


def cases(deep_cursor: str, me: str) -> list[Case]:
    def me_check(answer: dict[str, Any]) -> None:
        assert _no_errors(answer) == {"me": {"id": me}}, answer

    def typename_check(answer: dict[str, Any]) -> None:
        assert _no_errors(answer) == {"__typename": "Query"}, answer

    return [
        Case("contacts_first", CONTACTS, {"first": 50, "after": None}, "ContactsPage", _contacts_page),
        Case("contacts_deep", CONTACTS, {"first": 50, "after": deep_cursor}, "ContactsPage", _contacts_page),
        Case("users", USERS, {"first": 100}, "UsersPage", _users_page),
        Case("me", ME, None, None, me_check),
        Case("typename", TYPENAME, None, None, typename_check),
    ]


async def walk_to(base: str, token: str, row: int) -> str:
    """The end cursor after `row` rows of the contact list, walking it 100 at a time."""
    client = RawClient(base, token)
    after: str | None = None
    try:
        for _ in range(row // 100):
            status, _, raw = await client.post(json.dumps({"query": WALK, "variables": {"after": after}}).encode())
            assert status == 200, raw[:300]
            info = _no_errors(json.loads(raw))["contacts"]["pageInfo"]
            assert info["hasNextPage"], f"the list ends before row {row}"
            after = info["endCursor"]
    finally:
        await client.close()
    assert after is not None
    return after


async def check_answers(base: str, token: str, all_cases: list[Case]) -> dict[str, bool]:
    """One full check of each case's answer outside the timings: whether it came compiled."""
    compiled = {}
    client = RawClient(base, token)
    try:
        for case in all_cases:
            status, head, raw = await client.post(case.body())
            assert status == 200, (case.name, raw[:300])
            case.check(json.loads(raw))
            compiled[case.name] = b"\r\nx-cartera-read: compiled" in head
    finally:
        await client.close()
    return compiled


# --- the compiled statements ------------------------------------------------------------------------


async def statements(url: str, user_id: int, all_cases: list[Case]) -> dict[str, tuple[str, tuple[Any, ...]] | None]:
    """For each case, the SQL and parameters the compiled path would send (None: not compiled),
    from a ReadCompiler built the way the app builds it."""
    app = create_app(Settings(database_url=url, secret_key=SECRET))
    state = app.state.cartera
    compiler = ReadCompiler(app.state.schema, state)
    try:
        async with state.sessionmaker() as session:
            principal = await load_principal(session, user_id)
        return {
            case.name: await compiler.statement(case.query, case.variables, case.operation_name, principal)
            for case in all_cases
        }
    finally:
        await app.state.engine.dispose()


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$(\d+)(?!\d)")


def _text_form(value: Any) -> str:
    """A parameter's value as PostgreSQL reads it from text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if item is None:
                items.append("NULL")
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                items.append(repr(item))
            else:
                items.append('"' + _text_form(item).replace("\\", "\\\\").replace('"', '\\"') + '"')
        return "{" + ",".join(items) + "}"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _literal(value: Any) -> str:
    """A parameter as a literal standing where it stood: numbers bare, everything else a quoted
    literal of unknown type, which PostgreSQL types from its context as it does a parameter."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + _text_form(value).replace("'", "''") + "'"


def pgbench_script(sql: str, params: tuple[Any, ...], mode: str) -> tuple[str, dict[str, str]]:
    """The script (one statement) and its -D variables: $N inlined as literals, or `:pN` variables."""
    variables: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)  # a quoted literal or identifier: left as it is
        value = params[int(match.group(1)) - 1]
        if mode == "inline" or value is None:
            return _literal(value)
        variables[f"p{match.group(1)}"] = _text_form(value)
        return f":p{match.group(1)}"

    script = _PLACEHOLDER.sub(replace, sql.strip().rstrip(";"))
    return script + ";\n", variables


# --- measuring ------------------------------------------------------------------------------------------


class PostgresCpu:
    """CPU seconds the backends serving one database use over a window, sampled while it runs:
    pgbench's backends end with their run, taking their counters with them. Only that database's
    backends count (their process title names it): other databases on the server are not ours."""

    def __init__(self, database: str) -> None:
        self.title = f" {database} ".encode()
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.task: asyncio.Task[None] | None = None
        self.ours: dict[int, bool] = {}  # pid: whether it serves the database, read once per pid

    def _read(self) -> dict[int, float]:
        found = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid not in self.ours:
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                self.ours[pid] = title.startswith(b"postgres: ") and self.title in title
            if self.ours[pid]:
                found[pid] = proc_cpu_seconds(pid)
        return found

    async def __aenter__(self) -> PostgresCpu:
        self.start = self._read()
        self.last = dict(self.start)

        async def sample() -> None:
            while True:
                await asyncio.sleep(0.2)
                self.last.update({pid: cpu for pid, cpu in self._read().items() if cpu})

        self.task = asyncio.create_task(sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.task is not None
        self.task.cancel()
        self.last.update({pid: cpu for pid, cpu in self._read().items() if cpu})

    @property
    def seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


@dataclass
class Window:
    """What the machine spent over one run."""

    started: float
    server: float
    client: float
    busy: tuple[float, float]

    @classmethod
    def open(cls, server_pid: int | None) -> Window:
        return cls(
            time.perf_counter(),
            proc_cpu_seconds(server_pid) if server_pid else 0.0,
            time.process_time(),
            machine_busy(),
        )

    def close(self, server_pid: int | None, postgres: PostgresCpu, done: int) -> dict[str, Any]:
        wall = time.perf_counter() - self.started
        busy, total = (a - b for a, b in zip(machine_busy(), self.busy, strict=True))
        per = 1000 / max(1, done)
        found = {
            "seconds": round(wall, 2),
            "requests": done,
            "requests_per_second": round(done / wall, 1),
            "postgres_cpu_ms": round(postgres.seconds * per, 3),
            "client_cpu_ms": round((time.process_time() - self.client) * per, 3),
            "machine_busy_percent": round(100 * busy / total, 1) if total else None,
        }
        if server_pid:
            found["server_cpu_ms"] = round((proc_cpu_seconds(server_pid) - self.server) * per, 3)
        return found


async def api_run(
    base: str,
    token: str,
    case: Case,
    clients: int,
    seconds: float,
    server_pid: int,
    database: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`clients` connections sending the case without pause for `seconds`."""
    body = case.body()
    connections = [RawClient(base, token, headers) for _ in range(clients)]
    for connection in connections:
        await connection.connect()
    latencies: list[float] = []
    errors: list[str] = []
    compiled = 0

    async def client(connection: RawClient, until: float) -> None:
        nonlocal compiled
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                status, head, raw = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(f"http: {type(exc).__name__}")
                await connection.close()
                await connection.connect()
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200 or not raw.startswith(b'{"data":') or b'"errors"' in raw:
                errors.append(f"{status}: {raw[:200]!r}")
            elif b"\r\nx-cartera-read: compiled" in head:
                compiled += 1

    try:
        async with PostgresCpu(database) as postgres:
            window = Window.open(server_pid)
            until = time.perf_counter() + seconds
            await asyncio.gather(*(client(c, until) for c in connections))
        found = window.close(server_pid, postgres, len(latencies))
    finally:
        for connection in connections:
            await connection.close()
    return {
        **found,
        **cuts(latencies, digits=2),
        "errors": len(errors),
        "first_errors": errors[:3],
        "compiled_share": round(compiled / max(1, len(latencies)), 3),
    }


def _logged_latencies(folder: Path) -> list[float]:
    """Milliseconds per transaction from pgbench's --log files (one per thread; the third field
    is the transaction's latency in microseconds)."""
    return [
        int(line.split()[2]) / 1000
        for log in folder.glob("log*")
        for line in log.read_text().splitlines()
        if line.strip()
    ]


async def pgbench_run(
    url: str, script: str, variables: dict[str, str], clients: int, threads: int, seconds: float, binary: str
) -> dict[str, Any]:
    """pgbench on the script: tps, latency from its per-transaction log, failures, CPU."""
    place = make_url(url)
    folder = Path(tempfile.mkdtemp(prefix="cartera-pgbench-"))
    try:
        (folder / "statement.sql").write_text(script)
        command = [
            binary,
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(max(1, round(seconds))),
            "-f",
            str(folder / "statement.sql"),
            "--log",
            f"--log-prefix={folder / 'log'}",
            "-h",
            place.host or "127.0.0.1",
            "-p",
            str(place.port or 5432),
            "-U",
            place.username or "postgres",
        ]
        command += [f"-D{name}={value}" for name, value in variables.items()]
        command.append(place.database or "postgres")
        env = {**os.environ, **({"PGPASSWORD": str(place.password)} if place.password else {})}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        async with PostgresCpu(make_url(url).database or "") as postgres:
            window = Window.open(None)
            process = await asyncio.create_subprocess_exec(
                *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
            out, err = await process.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = out.decode() + err.decode()
        if process.returncode != 0:
            return {"error": output.strip().splitlines()[-5:]}
        latencies = _logged_latencies(folder)
        found = window.close(None, postgres, len(latencies))
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
        failed = re.search(r"number of failed transactions: (\d+)", output)
        pgbench_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
        return {
            **found,
            "requests_per_second": float(tps.group(1)) if tps else found["requests_per_second"],
            **cuts(latencies, digits=2),
            "errors": int(failed.group(1)) if failed else 0,
            # The client here is pgbench, not this process.
            "client_cpu_ms": round(1000 * pgbench_cpu / max(1, len(latencies)), 3),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------------------


COLUMNS = [
    ("case", 15, "case"),
    ("path", 10, "path"),
    ("round", 5, "round"),
    ("req/s", 8, "requests_per_second"),
    ("p50 ms", 7, "p50_ms"),
    ("p99 ms", 7, "p99_ms"),
    ("errors", 6, "errors"),
    ("API ms/req", 10, "server_cpu_ms"),
    ("PG ms/req", 9, "postgres_cpu_ms"),
    ("client ms/req", 13, "client_cpu_ms"),
    ("busy %", 6, "machine_busy_percent"),
    ("compiled", 8, "compiled_share"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(summary: dict[str, Any], out: TextIO) -> None:
    header = " ".join(
        f"{title:>{width}}" if i > 1 else f"{title:<{width}}" for i, (title, width, _) in enumerate(COLUMNS)
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, case in summary["cases"].items():
        for path, runs in case["runs"].items():
            for number, run in enumerate([*runs, case["median"].get(path)], start=1):
                if run is None:
                    continue
                row = {"case": name, "path": path, "round": str(number) if number <= len(runs) else "med", **run}
                if "error" in run:
                    print(
                        f"{name:<15} {path:<10} {row['round']:>5} pgbench failed: {' | '.join(run['error'])}", file=out
                    )
                    continue
                print(
                    " ".join(
                        f"{_cell(row.get(key)):>{width}}" if i > 1 else f"{_cell(row.get(key)):<{width}}"
                        for i, (_, width, key) in enumerate(COLUMNS)
                    ),
                    file=out,
                )
        if case["statement"] is None:
            why = "answered compiled with no statement" if case["compiled_answer"] else "not compiled"
            print(f"{name:<15} {'pgbench':<10} {why}: no PostgreSQL-alone run", file=out)
    print(file=out)
    for aim in summary["aims"]:
        print(f"aim {aim['case']}: {aim['what']} -> {aim['verdict']}", file=out)
    print(
        f"load average before/after: {summary['load_average']['before']} / {summary['load_average']['after']}", file=out
    )


def _median(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each figure's median over the rounds, column by column; errors and requests summed."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return None
    keys = [k for k, v in good[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    found: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in good if r.get(key) is not None]
        if len(values) == len(good):
            found[key] = sum(values) if key in ("errors", "requests") else round(statistics.median(values), 3)
    return found


def aims(summary: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, floor in AIMS.items():
        case = summary["cases"].get(name)
        if case is None:
            continue
        api = (case["median"].get("api") or {}).get("requests_per_second", 0.0)
        verdict = "met" if api >= floor else "not met"
        what = f"API {api:,.0f} req/s >= {floor:,}"
        alone = (case["median"].get("pgbench") or {}).get("requests_per_second")
        if name.startswith("contacts"):
            if alone:
                share = api / alone
                what += f" and >= {SHARE_OF_POSTGRES:.0%} of PostgreSQL alone ({alone:,.0f}/s: {share:.0%})"
                verdict = "met" if verdict == "met" and share >= SHARE_OF_POSTGRES else "not met"
            else:
                what += " and half of PostgreSQL alone (no statement to measure)"
                verdict = "not met" if verdict == "not met" else "unknown"
        found.append({"case": name, "what": what, "verdict": verdict})
    return found


# --- the run --------------------------------------------------------------------------------------------


async def measure(seeded: Seeded, args: argparse.Namespace) -> dict[str, Any]:
    extra = await seed_reads(seeded.url, args.bench_users)
    admin = await admin_id(seeded.url)
    token = issue_token(secret_key=SECRET, user_id=admin, ttl_seconds=6 * 3600)
    load_before = os.getloadavg()
    # As many pooled connections as clients: past the pool, each request opens one of its own.
    pool = {"CARTERA_DB_POOL_SIZE": str(max(10, args.clients))}
    proc, base = start_server(seeded.url, redis_url=args.redis, extra_env=pool, http="httptools")
    try:
        row = min(DEEP_ROW, seeded.contacts * 9 // 10 // 100 * 100)
        started = time.perf_counter()
        deep = await walk_to(base, token, row) if not args.cases or "contacts_deep" in args.cases else ""
        walked = time.perf_counter() - started
        if deep:
            # The API's walk and the database's own OFFSET must land on the same contact.
            assert deep == (await deep_cursor(seeded.url, seeded.contacts, row))[1], "the walk lost its way"
        every = cases(deep, to_global_id("User", admin))
        chosen = [c for c in every if not args.cases or c.name in args.cases]
        compiled = await check_answers(base, token, chosen)
        found = await statements(seeded.url, admin, chosen)
        scripts = {name: None if sql is None else pgbench_script(*sql, args.params) for name, sql in found.items()}
        paths: dict[str, dict[str, str] | None] = {"api": None}
        if args.also_strawberry:
            paths["strawberry"] = {"x-cartera-read": "strawberry"}
        for case in chosen:  # warm-up: pools, prepared statements, plans, the caches
            await api_run(base, token, case, args.clients, args.warmup, proc.pid, seeded.name)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            c.name: {p: [] for p in [*paths, "pgbench"]} for c in chosen
        }
        for number in range(args.rounds):
            for case in chosen:
                for path, headers in paths.items():
                    result = await api_run(
                        base, token, case, args.clients, args.seconds, proc.pid, seeded.name, headers
                    )
                    runs[case.name][path].append(result)
                    rate, errors = result["requests_per_second"], result["errors"]
                    _say(f"round {number + 1} {case.name} {path}: {rate:,.0f}/s, {errors} errors")
                script = scripts[case.name]
                if script is not None:
                    result = await pgbench_run(
                        seeded.url, *script, args.clients, args.pgbench_threads, args.seconds, args.pgbench
                    )
                    runs[case.name]["pgbench"].append(result)
                    rate = result.get("requests_per_second", result.get("error"))
                    _say(f"round {number + 1} {case.name} pgbench: {rate}")
    finally:
        proc.terminate()
        proc.wait()
    summary: dict[str, Any] = {
        "database": seeded.name,
        "contacts": seeded.contacts,
        "seed_seconds": round(seeded.seed_seconds, 1) if seeded.seed_seconds is not None else None,
        **extra,
        "deep_after_row": row,
        "walk_seconds": round(walked, 1),
        "server": {"processes": 1, "http": "httptools", "redis": bool(args.redis)},
        "clients": args.clients,
        "rounds": args.rounds,
        "seconds_per_run": args.seconds,
        "pgbench": {"threads": args.pgbench_threads, "params": args.params, "mode": "-M prepared"},
        "machine_cores": os.cpu_count(),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "cases": {
            case.name: {
                "operation": case.operation_name or case.query,
                "variables": case.variables,
                "compiled_answer": compiled[case.name],
                "statement": _statement(found[case.name]),
                "runs": {path: results for path, results in runs[case.name].items() if results or path != "pgbench"},
                "median": {path: _median(results) for path, results in runs[case.name].items() if results},
            }
            for case in chosen
        },
    }
    summary["aims"] = aims(summary)
    summary["errors"] = sum(r.get("errors", 0) for c in runs.values() for rs in c.values() for r in rs) + sum(
        1 for c in runs.values() for r in c["pgbench"] if "error" in r
    )
    return summary


def _statement(found: tuple[str, tuple[Any, ...]] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    plain = (str, int, float, bool, type(None))
    return {"sql": found[0], "parameters": [p if isinstance(p, plain) else _text_form(p) for p in found[1]]}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arguments(parser, contacts=100_000)
    parser.add_argument("--redis", required=True, help="Redis URL for the API process (as production runs it)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections, API and pgbench (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case in turn (default 3)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=10,
        help="seconds each case runs in a round, API and pgbench alike (default 10)",
    )
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of each case before the first round (default 3)"
    )
    parser.add_argument(
        "--cases",
        type=lambda v: v.split(","),
        help="only these cases, comma-separated (contacts_first, contacts_deep, users, me, typename)",
    )
    parser.add_argument("--bench-users", type=int, default=120, help="agents added to the demo's teams (default 120)")
    parser.add_argument(
        "--params",
        choices=["variables", "inline"],
        default="variables",
        help="how pgbench gets the statement's parameters: bound as the API sends them, or inlined (default variables)",
    )
    parser.add_argument("--pgbench", default=PGBENCH, help=f"pgbench binary (default {PGBENCH})")
    parser.add_argument("--pgbench-threads", type=int, default=2, help="pgbench -j (default 2)")
    parser.add_argument(
        "--also-strawberry",
        action="store_true",
        help="also run each case with `x-cartera-read: strawberry` (the other path)",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON summary on stdout (the table on stderr)")
    args = parser.parse_args()
    async with seeded_database(args) as seeded:
        summary = await measure(seeded, args)
    if args.json:
        table(summary, sys.stderr)
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        table(summary, sys.stdout)
    return 1 if summary["errors"] else 0


def run() -> int:
    """main() on uvloop when it is there (uvicorn[standard] brings it): the clients then take about
    a quarter less CPU than on asyncio's own loop (28 against 35-41 microseconds a request), CPU
    the server would otherwise not have on two cores."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


if __name__ == "__main__":
    sys.exit(run())
