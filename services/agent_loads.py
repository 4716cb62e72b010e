"""How many OPEN conversations each agent holds (LOAD_BALANCED, capacity, A4), kept as they change.

Counted on write rather than with COUNT(*) at routing time: the router reads every candidate's
load under the turn's lock, and a count over the conversations would be read once per candidate
per conversation routed. Every change of a conversation's agent or status goes through
`moved`, in the transaction that makes it, so the counts and the conversations never disagree;
each new count is announced (AGENT_LOAD_CHANGED) to the agent and to the supervisors of the
conversation's teams, which keeps the monitoring table (A4) live.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import Insert, Integer, bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import UTCDateTime
from db.models import AgentLoad, ConversationStatus
from services import events
from services.errors import ConcurrentChange
from services.events import EventKind


def holds(status: str | ConversationStatus, agent_id: int | None) -> int | None:
    """The agent an OPEN conversation counts against, if it does."""
    return agent_id if ConversationStatus(status) is ConversationStatus.OPEN else None


async def moved(
    session: AsyncSession,
    *,
    before: int | None,
    after: int | None,
    teams: Iterable[int | None],
    assigned_at: datetime | None = None,
    capacity: int | None = None,
) -> None:
    """One OPEN conversation stopped counting against `before` and counts against `after` now
    (either may be None: opened, resolved). `teams`: the conversation's team, before and after,
    whose supervisors watch these agents. `assigned_at`: `after` was just given it by routing or
    by hand, which LOAD_BALANCED's tie-break reads. `capacity`: the router chose `after` below
    it; if `after` already holds that many (a concurrent routing in another ring filled it since
    the router read its load), ConcurrentChange: the unit of work routes again."""
    if before == after:
        return
    team_ids = list(teams)
    if before is not None:
        left = await session.scalar(
            update(AgentLoad)
            .where(AgentLoad.user_id == before)
            .values(open_conversations=AgentLoad.open_conversations - 1)
            .returning(AgentLoad.open_conversations)
        )
        _announce(session, before, left or 0, team_ids)
    if after is not None:
        params = {"load_user_id": after, "load_assigned_at": assigned_at, "load_capacity": capacity}
        now = await session.scalar(gain(session.get_bind().dialect.name, capped=capacity is not None), params)
        gained(session, after, now, capacity=capacity, teams=team_ids)


@cache
def gain(dialect: str, *, capped: bool) -> Insert:
    """The upsert that counts one more OPEN conversation against bindparam `load_user_id`
    (`load_assigned_at`: when it was given it, or null; `load_capacity` when `capped`: only
    while it holds fewer), RETURNING its new count: no row when capped and full. Built once,
    so a caller may also write it as one part of a larger statement (intake does)."""
    # One upsert: an agent's first conversation writes its row, and two first ones at once
    # (different rings, different locks) must not collide.
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    assigned = bindparam("load_assigned_at", type_=UTCDateTime)
    stmt = make(AgentLoad).values(user_id=bindparam("load_user_id"), open_conversations=1, last_assigned_at=assigned)
    changes = {
        "open_conversations": AgentLoad.open_conversations + 1,
        "last_assigned_at": func.coalesce(stmt.excluded.last_assigned_at, AgentLoad.last_assigned_at),
    }
    below = AgentLoad.open_conversations < bindparam("load_capacity", type_=Integer) if capped else None
    return stmt.on_conflict_do_update(index_elements=[AgentLoad.user_id], set_=changes, where=below).returning(
        AgentLoad.open_conversations
    )


def gained(
    session: AsyncSession, user_id: int, count: int | None, *, capacity: int | None, teams: Iterable[int | None]
) -> None:
    """What `gain` returned for `user_id`: announced, or (None) ConcurrentChange when it found
    the agent full: a concurrent routing in another ring filled it since the router read its
    load, and the unit of work routes again."""
    if count is None:
        raise ConcurrentChange(f"agent {user_id} reached its capacity of {capacity} meanwhile")
    _announce(session, user_id, count, list(teams))


def _announce(session: AsyncSession, user_id: int, open_conversations: int, teams: list[int | None]) -> None:
    events.emit(
        session,
        EventKind.AGENT_LOAD_CHANGED,
        {"userId": user_id, "openConversations": open_conversations},
        users=[user_id],
        managers_of=teams,
    )
