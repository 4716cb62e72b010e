"""One process's live feed (RT1-RT4): tails the event log and hands each event to the inboxes it is for.

The log is the source of truth and the broadcaster its doorbell. Ids follow commit order, so
reading "everything after the last id I dispatched" never skips an event and never repeats
one, whichever process wrote it and whether or not its doorbell arrived: a doorbell (or the
periodic poll, or a reconnection to Redis) only says when to read.

Each live subscription has an Inbox with a bounded queue. An inbox that falls that far behind
is closed (SLOW_CONSUMER) and its client resumes from the last id it saw, from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import unless_cancelled
from db.scopes import may_receive
from services import events
from services.events import PERSONAL, EventKind, LoggedEvent
from services.principal import Principal, load_principals

log = logging.getLogger("cartera.feed")

CHANNEL = "cartera:events"
# Close codes the client acts on: resume with inbox(after: <last id>), or sign in again.
SLOW_CONSUMER = 4410
FORBIDDEN = 4403


@dataclass(frozen=True)
class Closing:
    """The inbox is being closed: the socket closes with this code, the client knows what to do."""

    code: int
    reason: str


@dataclass(eq=False)
class Inbox:
    """A live subscription's end of the feed."""

    principal: Principal
    # The last event id dispatched when it registered: older ones come from the log (replay).
    start: int
    queue: asyncio.Queue[LoggedEvent | Closing]
    closing: Closing | None = None
    teams: frozenset[int] = field(default_factory=frozenset)

    def offer(self, event: LoggedEvent) -> None:
        if self.closing is not None:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close(SLOW_CONSUMER, "Too far behind: subscribe again with inbox(after: <the last id you saw>)")

    def close(self, code: int, reason: str) -> None:
        if self.closing is not None:
            return
        self.closing = Closing(code, reason)
        # What it has not read yet it will read again from the log when its client resumes.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(self.closing)

    async def next(self) -> LoggedEvent | Closing:
        return await self.queue.get()


class FeedWatcher(Protocol):
    """Told of inboxes opening and closing and of each event sent to a subscriber (metrics)."""

    def inbox_opened(self) -> None: ...

    def inbox_closed(self) -> None: ...

    def delivered(self, event: LoggedEvent, *, replayed: bool) -> None: ...


class EventFeed:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broadcast: Broadcast,
        *,
        queue_size: int,
        poll_seconds: float,
        read_batch: int = 500,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._broadcast = broadcast
        self._queue_size = queue_size
        self._poll_seconds = poll_seconds
        self._read_batch = read_batch
        self.position = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._by_user: dict[int, set[Inbox]] = defaultdict(set)
        self._by_team: dict[int, set[Inbox]] = defaultdict(set)
        self._everything: set[Inbox] = set()
        self.dispatched = 0
        # Told of every ACCESS_CHANGED read from the log: its users, or None for everyone (the
        # composition root adds the process's principal cache).
        self.access_listeners: list[Callable[[frozenset[int] | None], None]] = []
        self.watchers: list[FeedWatcher] = []

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._sessionmaker() as session:
            self.position = await events.last_id(session)
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="cartera-feed-reader"),
            asyncio.create_task(self._listen(), name="cartera-feed-doorbell"),
            asyncio.create_task(self._poll(), name="cartera-feed-poll"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for inbox in list(self._inboxes()):
            inbox.close(1001, "Server shutting down")

    def wake(self) -> None:
        """Read the log now (a doorbell rang, Redis came back, or a write committed here)."""
        self._wake.set()

    # --- inboxes -----------------------------------------------------------------------------

    def register(self, principal: Principal) -> Inbox:
        """A new inbox, fed every event dispatched from now on. Synchronous on purpose: no event
        can be dispatched between reading `start` and joining the indexes."""
        inbox = Inbox(principal=principal, start=self.position, queue=asyncio.Queue(maxsize=self._queue_size))
        self._index(inbox)
        for watcher in self.watchers:
            watcher.inbox_opened()
        return inbox

    def unregister(self, inbox: Inbox) -> None:
        self._unindex(inbox)
        for watcher in self.watchers:
            watcher.inbox_closed()

    def delivered(self, event: LoggedEvent, *, replayed: bool = False) -> None:
        """The subscriber of an inbox was sent this event (its subscription's resolver says so)."""
        for watcher in self.watchers:
            watcher.delivered(event, replayed=replayed)

    def _index(self, inbox: Inbox) -> None:
        principal = inbox.principal
        self._by_user[principal.user_id].add(inbox)
        scope = principal.scope_team_ids
        if scope is None:
            self._everything.add(inbox)
            inbox.teams = frozenset()
        else:
            inbox.teams = scope
            for team in scope:
                self._by_team[team].add(inbox)

    def _unindex(self, inbox: Inbox) -> None:
        self._discard(self._by_user, inbox.principal.user_id, inbox)
        for team in inbox.teams:
            self._discard(self._by_team, team, inbox)
        self._everything.discard(inbox)

    @staticmethod
    def _discard(index: dict[int, set[Inbox]], key: int, inbox: Inbox) -> None:
        bucket = index.get(key)
        if bucket is not None:
            bucket.discard(inbox)
            if not bucket:
                del index[key]

    def _inboxes(self) -> Iterable[Inbox]:
        seen: set[Inbox] = set()
        for bucket in self._by_user.values():
            seen |= bucket
        return seen

    @property
    def inbox_count(self) -> int:
        return sum(len(bucket) for bucket in self._by_user.values())

    # --- reading and dispatching -----------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                async with self._broadcast.subscribe(CHANNEL) as doorbells:
                    self.wake()  # whatever committed before we listened
                    async for bell in doorbells:  # type: ignore[union-attr]
                        if bell is not None and _rung_for(bell.message) > self.position:
                            self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The poll keeps delivering meanwhile; listen again shortly.
                log.exception("feed doorbell failed; listening again")
                await asyncio.sleep(1)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            self.wake()

    async def _read_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                unless_cancelled()
                # A failed read is retried at the next wake-up.
                log.exception("feed read failed")
                await asyncio.sleep(0.5)
                self.wake()

    async def catch_up(self) -> None:
        """Dispatch every event after `position`, in id order."""
        while True:
            async with self._sessionmaker() as session:
                batch = await events.after(session, self.position, limit=self._read_batch)
            if not batch:
                return
            for event in batch:
                if event.kind is EventKind.ACCESS_CHANGED:
                    for listener in self.access_listeners:
                        listener(events.access_changed_for(event))
                    await self._reload(event)
                else:
                    self._dispatch(event)
                self.position = event.id
            if len(batch) < self._read_batch:
                return

    def _dispatch(self, event: LoggedEvent) -> None:
        candidates = set(self._everything)
        for user in event.user_ids:
            candidates |= self._by_user.get(user, set())
        for team in event.team_ids | event.manager_team_ids:
            candidates |= self._by_team.get(team, set())
        for inbox in candidates:
            personal = event.kind in PERSONAL
            if may_receive(inbox.principal, event.user_ids, event.team_ids, event.manager_team_ids, personal=personal):
                inbox.offer(event)
                self.dispatched += 1

    async def _reload(self, event: LoggedEvent) -> None:
        """Who sees what changed: look again at the principals of the inboxes concerned."""
        if event.payload.get("everyone"):
            affected = list(self._inboxes())
        else:
            affected = [i for user in event.payload.get("userIds", ()) for i in self._by_user.get(user, ())]
        if not affected:
            return
        async with self._sessionmaker() as session:
            principals = await load_principals(session, {i.principal.user_id for i in affected})
        for inbox in affected:
            principal = principals.get(inbox.principal.user_id)
            self._unindex(inbox)
            if principal is None:
                inbox.close(FORBIDDEN, "This user can no longer sign in")
                continue
            inbox.principal = principal
            self._index(inbox)


def _rung_for(message: str) -> int:
    with contextlib.suppress(ValueError, TypeError, KeyError):
        return int(json.loads(message)["id"])
    return 0


async def ring(broadcast: Broadcast, last_id: int) -> None:
    """Announce that the log holds events up to `last_id`."""
    await broadcast.publish(CHANNEL, json.dumps({"id": last_id}))
