"""Intake (A1, A3, A5): an integrator hands over each incoming message; it joins its conversation.

The sender is found by the channel value normalised as contact channels are (E.164, folded
e-mail, handle), or filed as a new contact in the intake team. The message joins the contact's
conversation on that address that is not RESOLVED; else a RESOLVED one within the reopen
window is reopened (back to its agent while it may take it, else routed again); else a new
conversation is opened and routed (services.routing). Each message's externalId is unique: a
webhook sent again finds its message and changes nothing.

The hot path of the API (hundreds a second): one statement reads everything the decision
needs, the router takes its ring's turn as late as it can, and services.intake_writes writes
the rest (on PostgreSQL one statement: conversation, message, turn, load and audit row). Every
statement is built once and runs on the session's connection, not through the ORM.

Races: two first messages from one new sender meet at a PostgreSQL advisory lock on the address
(SQLite has one writer), so one contact is created; two at once for a contact with no open
conversation meet at `uq_conversations_open_address`, and the loser runs again
(ConcurrentChange) and appends to the winner's; the same externalId twice at once meets at
`uq_conversation_messages_external_id`, and the loser runs again and finds it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import utcnow
from db.models import (
    ChannelKind,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageDirection,
)
from services import (
    agent_loads,
    audit,
    conversation_events,
    conversation_messages,
    intake_writes,
    routing,
    routing_rings,
    validation,
)
from services import intake_senders as senders
from services.audit import AuditAction, ResourceType
from services.common import require_admin, require_storable
from services.conversation_events import ConversationChange
from services.errors import ConcurrentChange, ErrorCode, fail
from services.intake_writes import Change
from services.principal import Principal
from services.routing_trace import Trace

MAX_EXTERNAL_ID = 200


class Outcome(enum.StrEnum):
    APPENDED = "APPENDED"  # joined the contact's conversation on that address
    OPENED = "OPENED"  # a new conversation, routed
    REOPENED = "REOPENED"  # its RESOLVED conversation, within the window
    DUPLICATE = "DUPLICATE"  # its externalId was received before: nothing changed


@dataclass(frozen=True)
class IncomingMessage:
    kind: ChannelKind
    value: str
    text: str
    external_id: str
    # None: now, as it is received.
    sent_at: datetime | None = None
    contact_name: str | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: ConversationMessage
    outcome: Outcome
    # The routing decision this message caused (OPENED, REOPENED), None otherwise.
    trace: Trace | None = None


def check(data: IncomingMessage, default_region: str) -> senders.Checked:
    address = validation.normalise_channel(data.kind, data.value, default_region=default_region, field="channel.value")
    text = conversation_messages.message_text(data.text)
    external_id = require_storable(data.external_id, "externalId").strip()
    if not external_id:
        raise fail(ErrorCode.REQUIRED, "Must not be blank", "externalId")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_EXTERNAL_ID} characters", "externalId")
    if data.duration_seconds is not None and data.kind is not ChannelKind.PHONE:
        raise fail(ErrorCode.INVALID, "Only a call (PHONE) has a duration", "durationSeconds")
    conversation_messages.call_duration(data.duration_seconds)
    first, last = senders.split_name(data.contact_name, address)
    return senders.Checked(
        data.kind,
        data.value.strip(),
        address,
        text,
        external_id,
        data.sent_at or utcnow(),
        first,
        last,
        data.duration_seconds,
    )


def _subject(found: Any, kind: ChannelKind) -> routing.Subject:
    portfolio = None
    if found.portfolio_id is not None:
        portfolio = routing.PortfolioOwner(
            id=found.portfolio_id,
            active=bool(found.portfolio_active),
            team_id=found.portfolio_team_id,
            agent_id=found.portfolio_agent_id,
            agent_name=found.owner_name,
            agent_usable=bool(found.owner_usable),
        )
    return routing.Subject(found.contact_id, found.team_id, kind, portfolio)


_MESSAGE_BY_ID = (
    select(intake_writes.CONVERSATIONS, *(k.label(f"m_{k.name}") for k in intake_writes.MESSAGES.c))
    .join(intake_writes.MESSAGES, intake_writes.MESSAGES.c.conversation_id == intake_writes.CONVERSATIONS.c.id)
    .where(intake_writes.MESSAGES.c.id == bindparam("message_id"))
)

# --- receiving --------------------------------------------------------------------------------------


async def receive_message(
    session: AsyncSession, actor: Principal, data: IncomingMessage, *, default_region: str
) -> Received:
    """File one incoming message (ADMIN: integrators sign in as admin users)."""
    require_admin(actor, "receive messages")
    checked = check(data, default_region)
    conn = await session.connection()
    found = await senders.look_up(conn, checked)
    if found.known_id is None and found.contact_id is None:
        found = await senders.file_new(session, conn, actor, checked, found)
    if found.known_id is not None:
        return await _duplicate(conn, found.known_id)
    try:
        if found.current_id is not None:
            return await _append(session, conn, checked, found.current_id)
        window = timedelta(minutes=found.reopen_window_minutes)
        if found.resolved_id is not None and found.resolved_at >= utcnow() - window:
            return await _reopen(session, conn, actor, checked, found)
        return await _open(session, conn, actor, checked, found)
    except IntegrityError as error:
        # A concurrent intake opened a conversation on this address, or filed this externalId,
        # first: run again, and join it (or find it).
        raise ConcurrentChange(str(error.orig)) from None


async def _duplicate(conn: AsyncConnection, message_id: int) -> Received:
    row = (await conn.execute(_MESSAGE_BY_ID, {"message_id": message_id})).one()
    conversation = Conversation(**{k.name: getattr(row, k.name) for k in intake_writes.CONVERSATIONS.c})
    message = ConversationMessage(**{k.name: getattr(row, f"m_{k.name}") for k in intake_writes.MESSAGES.c})
    return Received(conversation, message, Outcome.DUPLICATE)


def _message_params(checked: senders.Checked, now: datetime) -> dict[str, Any]:
    return {
        "m_direction": MessageDirection.IN.value,
        "m_author_id": None,
        "m_author_name": None,
        "m_text": checked.text,
        "m_sent_at": checked.sent_at,
        "m_external_id": checked.external_id,
        "m_duration_seconds": checked.duration_seconds,
        "m_created_at": now,
    }


def _routed_params(decision: routing.Decision) -> dict[str, Any]:
    """The conversation's routed columns, the turn and the load, as intake_writes' parameters."""
    assigned = decision.agent_id is not None
    at = decision.trace.decided_at
    params: dict[str, Any] = {
        "c_status": decision.status.value,
        "c_agent_id": decision.agent_id,
        "c_team_id": decision.team_id,
        "c_portfolio_id": decision.portfolio_id,
        "c_routing": decision.trace.as_json(),
        "c_assigned_at": at if assigned else None,
        "load_user_id": decision.agent_id,
        "load_assigned_at": at,
        "load_capacity": decision.capacity,
    }
    if decision.turn is not None:
        params |= routing_rings.advance_params(*decision.turn, at)
    return params


def _flags(decision: routing.Decision) -> dict[str, bool]:
    return {
        "turn": decision.turn is not None,
        "load": decision.agent_id is not None,
        "capped": decision.capacity is not None,
    }


def _counted(
    session: AsyncSession, decision: routing.Decision, written: intake_writes.Written, teams: list[int | None]
) -> None:
    if decision.agent_id is not None:
        agent_loads.gained(session, decision.agent_id, written.load, capacity=decision.capacity, teams=teams)


async def _append(
    session: AsyncSession, conn: AsyncConnection, checked: senders.Checked, conversation_id: int
) -> Received:
    now = utcnow()
    params = {"c_id": conversation_id, "c_last_message_at": checked.sent_at, "c_updated_at": now}
    params |= _message_params(checked, now)
    written = await intake_writes.write(conn, Change.APPEND, params, turn=False, load=False, capped=False, audit=False)
    conversation_events.message_added(session, written.conversation, written.message)
    return Received(written.conversation, written.message, Outcome.APPENDED)


async def _open(
    session: AsyncSession, conn: AsyncConnection, actor: Principal, checked: senders.Checked, found: Any
) -> Received:
    now = utcnow()
    decision = await routing.decide(
        session, _subject(found, checked.kind), routing.Config.of(found), advance_turn=False
    )
    params: dict[str, Any] = {
        "c_contact_id": found.contact_id,
        "c_channel_id": found.channel_id,
        "c_channel_kind": checked.kind.value,
        "c_channel_address": checked.address,
        "c_created_at": now,
        "c_first_reply_at": None,
        "c_resolved_at": None,
        "c_last_message_at": checked.sent_at,
        "c_updated_at": now,
        **_routed_params(decision),
        **_message_params(checked, now),
    }
    after = _audited(found.contact_id, checked, decision)
    event = audit.event_row(
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.CONVERSATION,
        resource_name=_name(found, checked),
        changed=audit.changes({}, after),
    )
    params |= intake_writes.audit_params(event, decision.team_id)
    written = await intake_writes.write(conn, Change.OPEN, params, audit=True, **_flags(decision))
    _counted(session, decision, written, [decision.team_id])
    conversation_events.changed(session, written.conversation, ConversationChange.CREATED)
    conversation_events.message_added(session, written.conversation, written.message)
    return Received(written.conversation, written.message, Outcome.OPENED, decision.trace)


async def _reopen(
    session: AsyncSession, conn: AsyncConnection, actor: Principal, checked: senders.Checked, found: Any
) -> Received:
    now = utcnow()
    subject = _subject(found, checked.kind)
    decision = await routing.decide(
        session,
        subject,
        routing.Config.of(found),
        previous_agent=found.resolved_agent_id,
        previous_team=found.resolved_team_id,
        advance_turn=False,
    )
    params = {
        "c_id": found.resolved_id,
        "c_last_message_at": checked.sent_at,
        "c_updated_at": now,
        **_routed_params(decision),
        **_message_params(checked, now),
    }
    written = await intake_writes.write(conn, Change.REOPEN, params, audit=False, **_flags(decision))
    conversation = written.conversation
    previous = (ConversationStatus.RESOLVED.value, found.resolved_agent_id, found.resolved_team_id)
    _counted(session, decision, written, [previous[2], decision.team_id])
    before = {"status": previous[0], "agentId": previous[1], "teamId": previous[2], "routing": None}
    after = {k: v for k, v in _audited(found.contact_id, checked, decision).items() if k in before}
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.REOPENED,
        resource_type=ResourceType.CONVERSATION,
        resource_id=conversation.id,
        resource_name=_name(found, checked),
        team_ids=sorted({decision.team_id, previous[2]}),
        changed=audit.changes(before, after),
    )
    conversation_events.changed(session, conversation, ConversationChange.REOPENED, previous=previous)
    conversation_events.message_added(session, conversation, written.message)
    return Received(conversation, written.message, Outcome.REOPENED, decision.trace)


def _audited(contact_id: int, checked: senders.Checked, decision: routing.Decision) -> dict[str, Any]:
    """A routed conversation as its audit row holds it; the trace in brief (the whole of it is
    the conversation's `routing`)."""
    trace = decision.trace
    return {
        "contactId": contact_id,
        "channelKind": checked.kind.value,
        "channelAddress": checked.address,
        "status": decision.status.value,
        "agentId": decision.agent_id,
        "teamId": decision.team_id,
        "portfolioId": decision.portfolio_id,
        "routing": {"rule": trace.rule.value, "method": trace.method.value, "fallback": trace.fallback},
    }


def _name(found: Any, checked: senders.Checked) -> str:
    """How the audit trail names a conversation: its contact and the channel kind."""
    name = " ".join(n for n in (found.first_names, found.last_names) if n)
    return f"{name} ({checked.kind.value})"
