"""The event log's ids follow commit order on PostgreSQL (RT4): a writer holds the others off
from taking ids until it commits, so a reader that saw id N has missed nothing below N."""

from __future__ import annotations

import asyncio

import pytest

from db.engine import create_engine, create_sessionmaker
from services import events
from services.events import EventKind


async def test_a_second_writer_takes_its_ids_only_after_the_first_commits(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time")
        sessions = create_sessionmaker(engine)
        async with sessions() as first, sessions() as second:
            events.emit(first, EventKind.PRESENCE_CHANGED, {"n": 1})
            (early,) = await events.write_pending(first)
            events.emit(second, EventKind.PRESENCE_CHANGED, {"n": 2})
            waiting = asyncio.create_task(events.write_pending(second))
            await asyncio.sleep(0.3)
            # Still waiting for the first to commit: it has not drawn an id that could commit first.
            assert not waiting.done()
            await first.commit()
            (late,) = await waiting
            await second.commit()
        assert late.id > early.id
    finally:
        await engine.dispose()
