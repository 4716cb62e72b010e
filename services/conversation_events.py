"""What the inbox hears about conversations (A1-A5, RT1): one event per change, with its audience.

Every service that changes a conversation calls `changed` (or `message_added`) in the
transaction that makes the change. The audience follows db.scopes.conversations: the agent it
is assigned to (and the one it was taken from), and the supervisors of its team; while it
waits UNASSIGNED in a team's queue, that team's agents too, since they may take it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, ConversationMessage, ConversationStatus
from services import events
from services.events import EventKind


class ConversationChange(enum.StrEnum):
    CREATED = "CREATED"  # came in (routed, or queued when nobody could take it) or was started
    ASSIGNED = "ASSIGNED"  # given to an agent by hand, or routed again
    TAKEN = "TAKEN"  # an agent took it from the queue (the dispenser)
    TRANSFERRED = "TRANSFERRED"  # to another agent or team
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"  # the client wrote again within the reopen window


def _audience(
    rows: Iterable[tuple[str, int | None, int]],
) -> tuple[list[int | None], list[int | None], list[int | None]]:
    """(users, teams, managers_of) for a conversation's states (status, agent, team), before and after."""
    users: list[int | None] = []
    teams: list[int | None] = []
    managers: list[int | None] = []
    for status, agent_id, team_id in rows:
        users.append(agent_id)
        (teams if status == ConversationStatus.UNASSIGNED.value else managers).append(team_id)
    return users, teams, managers


def changed(
    session: AsyncSession,
    row: Conversation,
    change: ConversationChange,
    *,
    previous: tuple[str, int | None, int] | None = None,
) -> None:
    """`row` as it is now; `previous`: its (status, agent_id, team_id) before the change, if it had any."""
    states = [(row.status, row.agent_id, row.team_id)] + ([previous] if previous else [])
    users, teams, managers = _audience(states)
    payload: dict[str, Any] = {
        "conversationId": row.id,
        "contactId": row.contact_id,
        "change": change.value,
        "status": row.status,
        "channelKind": row.channel_kind,
        "agentId": row.agent_id,
        "teamId": row.team_id,
        "previousAgentId": previous[1] if previous else None,
        "previousTeamId": previous[2] if previous else None,
    }
    events.emit(session, EventKind.CONVERSATION_CHANGED, payload, users=users, teams=teams, managers_of=managers)


def message_added(session: AsyncSession, row: Conversation, message: ConversationMessage) -> None:
    """A message joined the timeline: the agent sees it come in, an integrator sees replies to deliver."""
    users, teams, managers = _audience([(row.status, row.agent_id, row.team_id)])
    payload = {
        "conversationId": row.id,
        "contactId": row.contact_id,
        "messageId": message.id,
        "direction": message.direction,
        "channelKind": row.channel_kind,
        "authorName": message.author_name,
        "text": message.text,
        "sentAt": message.sent_at.isoformat(),
    }
    events.emit(session, EventKind.CONVERSATION_MESSAGE, payload, users=users, teams=teams, managers_of=managers)
