"""The event log (RT1, RT4): services emit events in the transaction that makes the change.

A service calls `emit(...)`; the events wait in the session until the unit of work commits,
which writes them (`write_pending`) as the last statements before COMMIT, under a lock that
makes ids follow commit order. A rolled-back change writes none. After the commit they are
announced on the broadcaster (subscriptions.hub); a relay announces any that a crash
left unannounced, and old ones are pruned after the retention.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Row, Text, bindparam, cast, delete, func, insert, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import UTCDateTime, utcnow
from db.models import Event, EventLogState
from db.sets import execute_counting, in_ids

_PENDING = "cartera_pending_events"
# Taken by every transaction that writes events, until it commits: ids are then given out in
# commit order, so a reader that saw id N missed nothing below N (PostgreSQL; SQLite has one writer).
_EVENT_LOCK = 4_237_710_001
# The most contacts one event lists; a bulk change becomes several events (RT3).
BATCH = 1_000


class EventKind(enum.StrEnum):
    PORTFOLIO_CONTACTS = "PORTFOLIO_CONTACTS"
    CONTACT_VIP = "CONTACT_VIP"
    PORTFOLIO_CHANGED = "PORTFOLIO_CHANGED"
    PRESENCE_CHANGED = "PRESENCE_CHANGED"
    CAMPAIGN_CHANGED = "CAMPAIGN_CHANGED"
    GESTIONES_ASSIGNED = "GESTIONES_ASSIGNED"
    GESTION_CHANGED = "GESTION_CHANGED"
    CONVERSATION_CHANGED = "CONVERSATION_CHANGED"
    CONVERSATION_MESSAGE = "CONVERSATION_MESSAGE"
    AGENT_LOAD_CHANGED = "AGENT_LOAD_CHANGED"
    # A notification for its one user (S6), and a background job's progress for its requester.
    NOTIFICATION = "NOTIFICATION"
    JOB_PROGRESS = "JOB_PROGRESS"
    # Sales attentions closed or transferred in bulk (S5), for the supervisors of their groups.
    SALES_ATTENTIONS_CHANGED = "SALES_ATTENTIONS_CHANGED"
    # Not shown to anyone: who sees what changed for these users (or everyone), so live
    # subscriptions look again at what their users may see.
    ACCESS_CHANGED = "ACCESS_CHANGED"


# Addressed to their users alone: not even an admin, who sees everything else, receives someone
# else's notification or job progress (db.scopes.may_receive's `personal`).
PERSONAL = frozenset({EventKind.NOTIFICATION, EventKind.JOB_PROGRESS})


@dataclass(frozen=True)
class PendingEvent:
    kind: EventKind
    payload: dict[str, Any]
    user_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()
    manager_team_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoggedEvent:
    """An event as the log holds it."""

    id: int
    occurred_at: datetime
    kind: EventKind
    user_ids: frozenset[int]
    team_ids: frozenset[int]
    manager_team_ids: frozenset[int]
    payload: dict[str, Any] = field(hash=False, compare=False)

    @classmethod
    def from_row(cls, row: Event | Row[Any]) -> LoggedEvent:
        """From an Event, or a row of its columns (services.events._locked_insert returns them)."""
        return cls(
            id=row.id,
            occurred_at=row.occurred_at,
            kind=EventKind(row.kind),
            user_ids=frozenset(row.user_ids or ()),
            team_ids=frozenset(row.team_ids or ()),
            manager_team_ids=frozenset(row.manager_team_ids or ()),
            payload=dict(row.payload or {}),
        )


def emit(
    session: AsyncSession,
    kind: EventKind,
    payload: dict[str, Any],
    *,
    users: Iterable[int | None] = (),
    teams: Iterable[int | None] = (),
    managers_of: Iterable[int | None] = (),
) -> None:
    """Queue an event for these users, for whoever sees these `teams`, and for the admins and
    supervisors who see these `managers_of` teams (not their agents); written at commit."""
    event = PendingEvent(
        kind=kind,
        payload=payload,
        user_ids=_ids(users),
        team_ids=_ids(teams),
        manager_team_ids=_ids(managers_of),
    )
    session.info.setdefault(_PENDING, []).append(event)


def _ids(values: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(sorted({v for v in values if v is not None}))


def access_changed(session: AsyncSession, user_ids: Iterable[int] | None) -> None:
    """What these users (None: everyone) may see has changed: live subscriptions look again."""
    if user_ids is None:
        emit(session, EventKind.ACCESS_CHANGED, {"everyone": True})
    else:
        ids = sorted(set(user_ids))
        if ids:
            emit(session, EventKind.ACCESS_CHANGED, {"userIds": ids}, users=ids)


def access_changed_for(event: LoggedEvent) -> frozenset[int] | None:
    """Whose access an ACCESS_CHANGED event changed: these users, or None for everyone."""
    if event.payload.get("everyone"):
        return None
    return frozenset(event.payload.get("userIds", ()))


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)


async def write_pending(session: AsyncSession) -> list[LoggedEvent]:
    """Write the queued events; the caller commits at once (the lock is held until then)."""
    pending: list[PendingEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return []
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        locked = (await (await session.connection()).execute(_locked_insert(), _locked_params(pending, now))).all()
        return [LoggedEvent.from_row(row) for row in sorted(locked, key=lambda row: row.id)]
    rows = [
        {
            "occurred_at": now,
            "kind": e.kind.value,
            "user_ids": list(e.user_ids),
            "team_ids": list(e.team_ids),
            "manager_team_ids": list(e.manager_team_ids),
            "payload": e.payload,
        }
        for e in pending
    ]
    # RETURNING with executemany keeps the input order (SQLAlchemy sorts it); SQLite has one
    # writer at a time, so ids follow commit order without a lock.
    written = await session.scalars(insert(Event).returning(Event, sort_by_parameter_order=True), rows)
    return [LoggedEvent.from_row(row) for row in written]


@cache
def _locked_insert() -> Any:
    """One statement that takes the ordering lock and inserts the events (PostgreSQL).

    The lock is held until COMMIT, so every round trip inside it delays every other writer of
    events: as a separate statement it cost one more, and 50 operators saving at once queued
    on it (bench/gestiones.py). The one-row lock subquery is read before any row is inserted,
    so the ids are still drawn under the lock. Built once with its parameters bound
    (`_locked_params`), and RETURNING plain columns: built per call, and returning ORM rows,
    it took 1 ms of every mutation's CPU (bench/conversations.py).
    """

    def array(name: str) -> Any:
        return bindparam(name, type_=postgresql.ARRAY(Text))

    lock = select(func.pg_advisory_xact_lock(_EVENT_LOCK).label("locked")).subquery()
    each = (
        func.unnest(
            array("ev_kinds"),
            array("ev_user_ids"),
            array("ev_team_ids"),
            array("ev_manager_team_ids"),
            array("ev_payloads"),
        )
        .table_valued("kind", "user_ids", "team_ids", "manager_team_ids", "payload", with_ordinality="n")
        .render_derived()
    )
    source = (
        select(
            bindparam("ev_now", type_=UTCDateTime),
            each.c.kind,
            cast(each.c.user_ids, JSON),
            cast(each.c.team_ids, JSON),
            cast(each.c.manager_team_ids, JSON),
            cast(each.c.payload, JSON),
        )
        .select_from(lock)
        .join(each, true())
        .order_by(each.c.n)
    )
    columns = ["occurred_at", "kind", "user_ids", "team_ids", "manager_team_ids", "payload"]
    table = Event.__table__
    returned = [table.c[name] for name in ("id", *columns)]
    return insert(Event).from_select(columns, source).returning(*returned)


def _locked_params(pending: Sequence[PendingEvent], now: datetime) -> dict[str, Any]:
    return {
        "ev_now": now,
        "ev_kinds": [e.kind.value for e in pending],
        "ev_user_ids": [json.dumps(list(e.user_ids)) for e in pending],
        "ev_team_ids": [json.dumps(list(e.team_ids)) for e in pending],
        "ev_manager_team_ids": [json.dumps(list(e.manager_team_ids)) for e in pending],
        "ev_payloads": [json.dumps(e.payload) for e in pending],
    }


async def after(session: AsyncSession, last_id: int, *, limit: int, until: int | None = None) -> list[LoggedEvent]:
    """Events after `last_id` (up to `until`), oldest first."""
    stmt = select(Event).where(Event.id > last_id).order_by(Event.id).limit(limit)
    if until is not None:
        stmt = stmt.where(Event.id <= until)
    return [LoggedEvent.from_row(row) for row in await session.scalars(stmt)]


async def last_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Event.id))) or 0)


async def pruned_through(session: AsyncSession) -> int:
    """The highest id pruned: a subscription cannot resume after an id below it."""
    return int(await session.scalar(select(func.max(EventLogState.pruned_through))) or 0)


async def unpublished(session: AsyncSession, *, older_than: datetime, limit: int) -> list[LoggedEvent]:
    """Committed events nobody announced (their writer stopped between commit and publish)."""
    stmt = (
        select(Event)
        .where(Event.published_at.is_(None), Event.occurred_at < older_than)
        .order_by(Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [LoggedEvent.from_row(row) for row in await session.scalars(stmt)]


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        dialect = session.get_bind().dialect.name
        published = update(Event).where(in_ids(Event.id, ids, dialect)).values(published_at=utcnow())
        await execute_counting(session, published)


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete events older than `before`; remember the highest id deleted."""
    highest = await session.scalar(select(func.max(Event.id)).where(Event.occurred_at < before))
    if highest is None:
        return 0
    deleted = await execute_counting(session, delete(Event).where(Event.id <= highest))
    state = await session.get(EventLogState, 1)
    if state is None:
        session.add(EventLogState(id=1, pruned_through=highest))
    else:
        state.pruned_through = max(state.pruned_through, highest)
    await session.flush()
    return deleted


def batches(ids: Sequence[int], size: int = BATCH) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
