"""Agents' replies and internal notes (A1): `send_message`. The client's messages come in through intake.

A reply (OUT) goes to the client: the integrator delivers it, hearing it in its inbox
(conversation_events.message_added), so it needs an OPEN conversation, one somebody attends.
A note (NOTE) is never delivered, and may be left on any conversation its writer sees (a
call's wrap-up after it was resolved, a word on one waiting in the queue).
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import ChannelKind, ConversationMessage, ConversationStatus, MessageDirection
from services import conversation_events, conversations
from services.audit import AuditAction
from services.common import require_storable
from services.errors import ErrorCode, fail
from services.principal import Principal

# One limit for every message, the client's (intake) and the agents': an e-mail thread fits.
MAX_TEXT = 20_000
# A call's length, at most a day.
MAX_DURATION_SECONDS = 86_400


class MessageKind(enum.StrEnum):
    REPLY = "REPLY"
    NOTE = "NOTE"


def message_text(value: str) -> str:
    # Trimmed, not collapsed: a message keeps its lines.
    text = require_storable(value.strip(), "text")
    if not text:
        raise fail(ErrorCode.REQUIRED, "Must not be blank", "text")
    if len(text) > MAX_TEXT:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_TEXT} characters", "text")
    return text


def call_duration(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_DURATION_SECONDS:
        raise fail(ErrorCode.INVALID, f"A call lasts from 0 to {MAX_DURATION_SECONDS} seconds", "durationSeconds")
    return value


async def send_message(
    session: AsyncSession,
    actor: Principal,
    conversation_id: int,
    *,
    text: str,
    kind: MessageKind,
    duration_seconds: int | None = None,
) -> ConversationMessage:
    """Add a reply or a note to a conversation the actor sees (its agent; a supervisor or admin
    stepping in). A reply on one waiting in a queue must be taken (or assigned) first."""
    body = message_text(text)
    duration = call_duration(duration_seconds)
    located = await conversations.locate(session, actor, conversation_id, "conversationId")
    row = located.row
    if kind is MessageKind.REPLY:
        if row.status == ConversationStatus.RESOLVED.value:
            raise fail(
                ErrorCode.CONFLICT, "This conversation is resolved: a reply would reach nobody", "conversationId"
            )
        if row.status == ConversationStatus.UNASSIGNED.value:
            raise fail(ErrorCode.CONFLICT, "This conversation is waiting in the queue: take it first", "conversationId")
    if duration is not None and row.channel_kind != ChannelKind.PHONE.value:
        raise fail(ErrorCode.INVALID, "Only calls (conversations on PHONE) have a duration", "durationSeconds")
    now = utcnow()
    direction = MessageDirection.OUT if kind is MessageKind.REPLY else MessageDirection.NOTE
    message = ConversationMessage(
        conversation_id=row.id,
        direction=direction.value,
        author_id=actor.user_id,
        author_name=actor.name,
        text=body,
        sent_at=now,
        duration_seconds=duration,
        created_at=now,
    )
    session.add(message)
    if kind is MessageKind.REPLY:
        # The first reply is the agent's response time; a note is no message to the client.
        row.first_reply_at = row.first_reply_at or now
        row.last_message_at = now
    row.updated_at = now
    await session.flush()
    conversation_events.message_added(session, row, message)
    changed: dict[str, Any] = {"text": {"before": None, "after": body}}
    if duration is not None:
        changed["durationSeconds"] = {"before": None, "after": duration}
    action = AuditAction.REPLIED if kind is MessageKind.REPLY else AuditAction.COMMENTED
    await conversations.record(session, actor, row, located.contact_name, action, changed)
    return message
