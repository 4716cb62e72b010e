"""Real time in one process: the broadcaster, the feed, announcing committed events, and the relay.

Every API process runs one Hub (cartera.app's lifespan starts and stops it):
- `announce(events)`: right after a commit, wake the local feed and ring the doorbell on the
  broadcaster so the other processes read the log; the events are marked published a moment
  later, in one statement for many commits.
- the relay loop: rings for events committed but never announced (their writer stopped
  between commit and publish), prunes events past the retention, keeps this process's live
  connections alive and turns users OFFLINE whose grace has passed (R4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.engine import SQLITE_WRITE, unless_cancelled
from services import events, presence
from services.events import LoggedEvent
from subscriptions.broadcast import create_broadcast
from subscriptions.feed import EventFeed, ring

log = logging.getLogger("cartera.hub")

HEARTBEAT_SECONDS = 5.0
STALE_BEATS = 4
# Pruning the log is a matter of days, not seconds.
PRUNE_TURNS = 300


@dataclass(frozen=True)
class HubSettings:
    broadcast_url: str
    inbox_queue: int
    poll_seconds: float
    relay_seconds: float
    retention: timedelta
    presence_grace: timedelta


class Hub:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: HubSettings) -> None:
        self._sessionmaker = sessionmaker
        self.settings = settings
        self.process_id = str(uuid.uuid4())
        self.broadcast: Broadcast = create_broadcast(settings.broadcast_url, on_reconnect=self._resync)
        self.feed = EventFeed(
            sessionmaker, self.broadcast, queue_size=settings.inbox_queue, poll_seconds=settings.poll_seconds
        )
        self._unmarked: set[int] = set()
        self._marked = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Tests switch announcing off to play a writer that died between commit and publish.
        self.announcing = True

    async def start(self) -> None:
        await self.broadcast.connect()
        await self.feed.start()
        self._tasks = [
            asyncio.create_task(self._relay_forever(), name="cartera-relay"),
            asyncio.create_task(self._mark_forever(), name="cartera-mark-published"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.feed.stop()
        await self.broadcast.disconnect()

    async def _resync(self) -> None:
        """Redis came back: what was announced meanwhile is in the log."""
        self.feed.wake()

    # --- announcing ----------------------------------------------------------------------------

    async def announce(self, written: Sequence[LoggedEvent]) -> None:
        """After the commit that wrote `written`: tell this process's feed and the others."""
        if not written or not self.announcing:
            return
        self.feed.wake()
        try:
            await ring(self.broadcast, max(e.id for e in written))
        except Exception as error:  # noqa: BLE001  (the change is committed; the relay announces it)
            log.warning("could not announce events; the relay will", extra={"error": repr(error)})
            return
        self._unmarked.update(e.id for e in written)
        self._marked.set()

    async def _mark_forever(self) -> None:
        while True:
            await self._marked.wait()
            await asyncio.sleep(0.2)  # gather the ids of the commits around this one
            self._marked.clear()
            ids, self._unmarked = sorted(self._unmarked), set()
            try:
                async with self._write() as session:
                    await events.mark_published(session, ids)
            except Exception:
                unless_cancelled()
                # The relay rings again for the unmarked ones: harmless.
                log.exception("could not mark events published")

    # --- the relay -----------------------------------------------------------------------------

    async def _relay_forever(self) -> None:
        turns = 0
        # Heartbeats every few seconds are plenty: a connection is stale after STALE_BEATS of them.
        beat_every = max(1, round(HEARTBEAT_SECONDS / self.settings.relay_seconds))
        while True:
            await asyncio.sleep(self.settings.relay_seconds)
            steps = [self.relay_unpublished, self.go_offline_when_due]
            if turns % beat_every == 0:
                steps.append(self.heartbeat)
            if turns % PRUNE_TURNS == 0:
                steps.append(self.prune)
            turns += 1
            for step in steps:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    unless_cancelled()
                    # Each step retries at its next turn.
                    log.exception("relay step failed", extra={"step": step.__name__})

    async def relay_unpublished(self) -> int:
        """Ring for committed events nobody announced; returns how many."""
        older_than = utcnow() - timedelta(seconds=self.settings.relay_seconds)
        async with self._write() as session:
            found = await events.unpublished(session, older_than=older_than, limit=1000)
            if not found:
                return 0
            await ring(self.broadcast, max(e.id for e in found))
            await events.mark_published(session, [e.id for e in found])
        self.feed.wake()
        log.info("relayed unannounced events", extra={"count": len(found)})
        return len(found)

    async def prune(self) -> int:
        async with self._write() as session:
            return await events.prune(session, before=utcnow() - self.settings.retention)

    async def heartbeat(self) -> None:
        """Keep this process's connections alive; bury those of processes that stopped beating."""
        async with self._write() as session:
            await presence.heartbeat(
                session,
                process_id=self.process_id,
                stale_after=timedelta(seconds=HEARTBEAT_SECONDS * STALE_BEATS),
                grace=self.settings.presence_grace,
            )

    async def go_offline_when_due(self) -> None:
        async with self._write() as session:
            await presence.go_offline_when_due(session)
            written = await events.write_pending(session)
        await self.announce(written)

    # --- live connections ------------------------------------------------------------------------

    async def connection_opened(self, user_id: int) -> str:
        connection_id = str(uuid.uuid4())
        async with self._write() as session:
            await presence.connection_opened(
                session, connection_id=connection_id, user_id=user_id, process_id=self.process_id
            )
        return connection_id

    async def connection_closed(self, connection_id: str) -> None:
        async with self._write() as session:
            await presence.connection_closed(session, connection_id=connection_id, grace=self.settings.presence_grace)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A short write transaction of the hub's own (SQLite: taking the write lock up front)."""
        async with self._sessionmaker() as session:
            await session.connection(execution_options={SQLITE_WRITE: True})
            yield session
            await session.commit()
