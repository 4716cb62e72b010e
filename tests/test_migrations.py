"""The migrations build exactly the schema the models describe, on each backend."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate
from db.base import Base
from db.engine import create_engine


# SQLite cannot reflect expression indexes (lower(email)); alembic says so and skips them.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_migrated_database_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
                    # PostgreSQL-only accelerations (trigram indexes) are absent on SQLite by design.
                    info = getattr(obj, "info", {}) if kind == "index" else {}
                    # SQLite reflects a DESC key as an expression alembic cannot compare; PostgreSQL checks it.
                    checked_on_postgresql = info.get("postgresql_only") or info.get("descending_key")
                    return not (checked_on_postgresql and sync_conn.dialect.name != "postgresql")

                opts = {"compare_type": True, "include_object": include}
                context = MigrationContext.configure(sync_conn, opts=opts)
                return list(compare_metadata(context, Base.metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_event_ids_are_never_given_out_again_on_sqlite(database_url: str) -> None:
    """Pruned events' ids stay used (AUTOINCREMENT), or a resuming subscriber would miss events."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                pytest.skip("PostgreSQL sequences never go back")
            sql = await conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"))
    finally:
        await engine.dispose()
    assert "AUTOINCREMENT" in sql


async def test_one_team_links_move_onto_their_events(blank_engine: AsyncEngine) -> None:
    """0010: an event with one team carries it on its row; one seen by several keeps its links."""
    await migrate.upgrade(blank_engine, "0009")
    async with blank_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, actor_name, action, resource_type, resource_id,"
                " resource_name, changes) VALUES (:id, CURRENT_TIMESTAMP, 'a', 'UPDATED', 'TEAM', 1, 'x', '{}')"
            ),
            [{"id": event_id} for event_id in (1, 2, 3)],
        )
        links = [{"e": 1, "t": 10}, {"e": 2, "t": 10}, {"e": 2, "t": 20}]
        await conn.execute(text("INSERT INTO audit_event_teams (event_id, team_id) VALUES (:e, :t)"), links)
    await migrate.upgrade(blank_engine)
    async with blank_engine.connect() as conn:
        teams = (await conn.execute(text("SELECT id, team_id FROM audit_events ORDER BY id"))).all()
        left = (await conn.execute(text("SELECT event_id, team_id FROM audit_event_teams ORDER BY 1, 2"))).all()
    assert [tuple(r) for r in teams] == [(1, 10), (2, None), (3, None)]
    assert [tuple(r) for r in left] == [(2, 10), (2, 20)]
