"""The dispenser (A3): an agent takes the oldest conversation waiting in its teams' queues.

Taking one is a row lock, as handing out gestiones is (services.gestion_work): the first
UNASSIGNED row nobody holds (FOR UPDATE SKIP LOCKED on PostgreSQL, walking the partial index
ix_conversations_queue; SQLite has one writer at a time), so two agents never take the same
conversation. The routing capacity (A2) holds here too: the agent's own load row is locked
first, so two takes of one agent at once count one after the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AgentLoad, Conversation, ConversationStatus, Role, RoutingSettings
from services import conversations
from services.conversations import Located
from services.errors import ErrorCode, fail, forbidden
from services.principal import Principal


def _queue(team_id: int) -> Any:
    return (
        select(Conversation)
        .where(Conversation.status == ConversationStatus.UNASSIGNED.value, Conversation.team_id == team_id)
        .order_by(Conversation.created_at, Conversation.id)
    )


async def _by_first_in_queue(session: AsyncSession, team_ids: list[int]) -> list[int]:
    """The teams with a conversation waiting, in the order of the oldest in each (read without locking).

    One head per team, each a walk of its queue index: as one query over all the teams,
    ordered, the database would sort every waiting conversation of them all."""
    if len(team_ids) <= 1:
        return team_ids
    heads = [
        _queue(t).with_only_columns(Conversation.team_id, Conversation.created_at, Conversation.id).limit(1).subquery()
        for t in team_ids
    ]
    rows = (await session.execute(union_all(*(select(h) for h in heads)))).all()
    return [row.team_id for row in sorted(rows, key=lambda r: (r.created_at, r.id))]


async def _load(session: AsyncSession, user_id: int) -> int:
    """The agent's OPEN conversations, its load row locked (written first if it has none)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AgentLoad).values(user_id=user_id, open_conversations=0)
    # A no-op update: the upsert locks the row, existing or new, and returns its count.
    locked = stmt.on_conflict_do_update(
        index_elements=[AgentLoad.user_id], set_={"open_conversations": AgentLoad.open_conversations}
    ).returning(AgentLoad.open_conversations)
    return int(await session.scalar(locked) or 0)


async def take_next(session: AsyncSession, actor: Principal) -> Conversation | None:
    """Take the oldest conversation waiting in the agent's teams' queues, OPEN and its own now;
    None when none is waiting. At its capacity an agent takes none (LIMIT_EXCEEDED)."""
    if actor.role is not Role.AGENT:
        raise forbidden("Only agents take conversations from the queue")
    capacity = await session.scalar(select(RoutingSettings.capacity).where(RoutingSettings.id == 1))
    if capacity is not None:
        held = await _load(session, actor.user_id)
        if held >= capacity:
            raise fail(
                ErrorCode.LIMIT_EXCEEDED,
                f"You hold {held} open conversations, the most an agent may (capacity {capacity}): resolve one first",
            )
    for team_id in await _by_first_in_queue(session, sorted(actor.member_team_ids)):
        stmt = conversations.located_rows(_queue(team_id).limit(1))
        found = (await session.execute(stmt.with_for_update(of=Conversation, skip_locked=True))).first()
        if found is not None:
            located = Located(found[0], found.contact_name, found.agent_name)
            return await conversations.take(session, actor, located)
    return None
