"""Where one bulk portfolio call spends its time: each SQL statement's wall time and WAL bytes.

bench/portfolios.py times whole calls through the served app; this runs the same calls
in-process through services.portfolio_assignment, on a database bench/portfolios.py seeded,
and splits them by statement, so that a change aimed at one part can be measured on that part.
As there, "Origen" takes the team's contacts with an email, committed and analysed (the app
refreshes the statistics after a bulk call); a CHECKPOINT runs; then the measured call (KEEP
or MOVE) assigns the team's contacts with a WhatsApp to "Destino", in a transaction rolled
back: its commit is not measured (the served bench's figures include it). Afterwards the two
portfolios go, and the audit rows and events the run wrote, as bench/portfolios.py does.

    python bench/portfolio_split.py --postgres postgresql://postgres@127.0.0.1:5432/cartera_1m --policy MOVE

Prints a JSON summary on stdout: per statement, its first words, seconds and WAL written (the
server's, so other sessions' writes count too), and the call's time outside its statements
(Python, and the probe's own round trips, a few milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.util import await_only

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.engine import create_engine, create_sessionmaker
from db.models import ChannelKind
from services import portfolio_assignment
from services.contacts import ContactFilter
from services.portfolios import create_portfolio
from services.principal import load_principal
from services.settings import normalise_database_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import admin_id, vacuum
from portfolios import TABLES, forget_run, run_marks, team_and_agent


def _label(statement: str) -> str:
    words = " ".join(statement.split())
    for keyword in ("INSERT INTO", "UPDATE", "DELETE FROM", "SELECT"):
        if words.startswith(keyword):
            return " ".join(words.split()[: 3 if keyword == "INSERT INTO" else 2])[:60]
    return words[:40]


async def measure(url: str, policy: portfolio_assignment.ConflictPolicy) -> dict[str, Any]:
    url = normalise_database_url(url)
    engine = create_engine(url)
    # The WAL position is read on a connection of its own: reading it costs the measured one nothing.
    probe = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql", 1))
    statements: list[dict[str, Any]] = []
    recording = False

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if recording:
            # Runs inside SQLAlchemy's greenlet, so the async probe can be awaited from here.
            lsn = await_only(probe.fetchval("SELECT pg_current_wal_insert_lsn()"))
            context._split = (time.perf_counter(), lsn)

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if recording:
            started, lsn = context._split
            seconds = time.perf_counter() - started
            wal = await_only(probe.fetchval("SELECT pg_current_wal_insert_lsn() - $1::pg_lsn", lsn))
            mb = round(int(wal) / 2**20, 1)
            statements.append({"statement": _label(statement), "seconds": round(seconds, 3), "wal_mb": mb})

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    sessions = create_sessionmaker(engine)
    before_run = await run_marks(url)
    made: list[int] = []
    try:
        team, _ = await team_and_agent(url)
        async with sessions() as session:
            actor = await load_principal(session, await admin_id(url))
            assert actor is not None
            for name in ("split Origen", "split Destino"):
                made.append((await create_portfolio(session, actor, name=name, team_id=team, agent_id=None)).id)
            await portfolio_assignment.assign(
                session,
                actor,
                made[0],
                ContactFilter(team_ids=(team,), channel_kinds=(ChannelKind.EMAIL,)),
                policy=portfolio_assignment.ConflictPolicy.KEEP,
            )
            await session.commit()
        # Committed and analysed, as the served bench's "Origen" is (the app refreshes the
        # statistics after a bulk call): the selection's join plans on what it will meet.
        await vacuum(url, *TABLES)
        await probe.execute("CHECKPOINT")
        async with sessions() as session:
            recording = True
            started = time.perf_counter()
            result = await portfolio_assignment.assign(
                session,
                actor,
                made[1],
                ContactFilter(team_ids=(team,), channel_kinds=(ChannelKind.WHATSAPP,)),
                policy=policy,
            )
            total = time.perf_counter() - started
            recording = False
            await session.rollback()
    finally:
        await probe.execute("DELETE FROM portfolio_members WHERE portfolio_id = ANY($1)", made)
        await probe.execute("DELETE FROM portfolios WHERE id = ANY($1)", made)
        await probe.close()
        await engine.dispose()
        await forget_run(url, before_run)
        await vacuum(url, *TABLES)
    in_sql = sum(s["seconds"] for s in statements)
    return {
        "policy": policy.value,
        "counts": {k.value: v for k, v in result.counts.items()},
        "seconds": round(total, 3),
        "outside_sql_seconds": round(total - in_sql, 3),
        "wal_mb": round(sum(s["wal_mb"] for s in statements), 1),
        "statements": statements,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="URL of a database bench/portfolios.py seeded")
    parser.add_argument("--policy", choices=[p.value for p in portfolio_assignment.ConflictPolicy], default="MOVE")
    parser.add_argument("--runs", type=int, default=1, help="measure the call this many times (default 1)")
    args = parser.parse_args()
    runs = [await measure(args.postgres, portfolio_assignment.ConflictPolicy(args.policy)) for _ in range(args.runs)]
    print(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
