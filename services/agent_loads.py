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
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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
        # One upsert: an agent's first conversation writes its row, and two first ones at once
        # (different rings, different locks) must not collide.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(AgentLoad).values(user_id=after, open_conversations=1, last_assigned_at=assigned_at)
        changes: dict[str, Any] = {"open_conversations": AgentLoad.open_conversations + 1}
        if assigned_at is not None:
            changes["last_assigned_at"] = assigned_at
        below = AgentLoad.open_conversations < capacity if capacity is not None else None
        now = await session.scalar(
            stmt.on_conflict_do_update(index_elements=[AgentLoad.user_id], set_=changes, where=below).returning(
                AgentLoad.open_conversations
            )
        )
        if now is None:
            raise ConcurrentChange(f"agent {after} reached its capacity of {capacity} meanwhile")
        _announce(session, after, now, team_ids)


def _announce(session: AsyncSession, user_id: int, open_conversations: int, teams: list[int | None]) -> None:
    events.emit(
        session,
        EventKind.AGENT_LOAD_CHANGED,
        {"userId": user_id, "openConversations": open_conversations},
        users=[user_id],
        managers_of=teams,
    )
