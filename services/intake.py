"""Intake (A1, A3, A5): an integrator hands over each incoming message; it joins its conversation.

The sender is found by the channel value normalised as contact channels are (E.164, folded
e-mail, handle), or filed as a new contact in the intake team. The message joins the contact's
conversation on that address that is not RESOLVED; else a RESOLVED one within the reopen
window is reopened (back to its agent while it may take it, else routed again); else a new
conversation is opened and routed (services.routing). Each message's externalId is unique: a
webhook sent again finds its message and changes nothing.

The hot path of the API (hundreds a second): one statement reads everything the decision
needs, the router takes its ring's turn as late as it can, and the writes are Core statements
with RETURNING (on PostgreSQL the conversation and its message in one).

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
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import UTCDateTime, utcnow
from db.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageDirection,
    Portfolio,
    PortfolioMember,
    Role,
    RoutingSettings,
    Team,
    User,
)
from services import agent_loads, audit, contacts, conversation_events, routing, validation
from services.audit import AuditAction, ResourceType
from services.common import clean_name, require_admin, require_storable
from services.conversation_events import ConversationChange
from services.errors import ConcurrentChange, ErrorCode, fail
from services.principal import Principal
from services.routing_settings import SETTINGS_ID
from services.routing_trace import Trace

MAX_TEXT = 20_000
MAX_EXTERNAL_ID = 200
# Where a contact created by intake is filed when the settings name no intake team: the oldest
# top-level team, the root of the account's tree (documented in the field's description).
_ADDRESS_LOCK = 4_237_710_002


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
    sent_at: datetime
    contact_name: str | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: ConversationMessage
    outcome: Outcome
    # The routing decision this message caused (OPENED, REOPENED), None otherwise.
    trace: Trace | None = None


@dataclass(frozen=True)
class _Checked:
    kind: ChannelKind
    address: str
    text: str
    external_id: str
    sent_at: datetime
    first_names: str
    last_names: str
    duration_seconds: int | None


def _check(data: IncomingMessage, default_region: str) -> _Checked:
    address = validation.normalise_channel(data.kind, data.value, default_region=default_region, field="channel.value")
    text = require_storable(data.text, "text").strip()
    if not text:
        raise fail(ErrorCode.REQUIRED, "Must not be blank", "text")
    if len(text) > MAX_TEXT:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_TEXT} characters", "text")
    external_id = require_storable(data.external_id, "externalId").strip()
    if not external_id:
        raise fail(ErrorCode.REQUIRED, "Must not be blank", "externalId")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_EXTERNAL_ID} characters", "externalId")
    if data.duration_seconds is not None:
        if data.kind is not ChannelKind.PHONE:
            raise fail(ErrorCode.INVALID, "Only a call (PHONE) has a duration", "durationSeconds")
        if data.duration_seconds < 0:
            raise fail(ErrorCode.INVALID, "Must not be negative", "durationSeconds")
    first, last = split_name(data.contact_name, address)
    return _Checked(data.kind, address, text, external_id, data.sent_at, first, last, data.duration_seconds)


def split_name(name: str | None, address: str) -> tuple[str, str]:
    """A sender's display name as (first names, last names): its first word, then the rest. With
    no name, the address stands for it until someone edits the contact."""
    if name is None or not name.strip():
        return address, ""
    cleaned = clean_name(name, "contactName")
    first, _, last = cleaned.partition(" ")
    return first, last


# --- the lookup -----------------------------------------------------------------------------------

_K: BindParameter[str] = bindparam("kind")
_A: BindParameter[str] = bindparam("address")
_X: BindParameter[str] = bindparam("external_id")
_CONVERSATION = cast(Table, Conversation.__table__)
_MESSAGE = cast(Table, ConversationMessage.__table__)


def _lookup() -> Select[Any]:
    """Everything intake decides on, in one statement: the settings, a message already received
    with this externalId, the contact on this address (the oldest one not archived, where
    several share it), its portfolio and owner, its conversation there not RESOLVED, and its
    last RESOLVED one."""
    sender = (
        select(
            ContactChannel.contact_id,
            ContactChannel.id.label("channel_id"),
            Contact.team_id,
            Contact.first_names,
            Contact.last_names,
        )
        .join(Contact, Contact.id == ContactChannel.contact_id)
        .where(ContactChannel.kind == _K, ContactChannel.normalized == _A)
        .order_by(Contact.archived_at.is_not(None), ContactChannel.contact_id)
        .limit(1)
        .subquery("sender")
    )
    on_address = and_(
        _CONVERSATION.c.contact_id == sender.c.contact_id,
        _CONVERSATION.c.channel_kind == _K,
        _CONVERSATION.c.channel_address == _A,
    )
    current = _CONVERSATION.alias("current")
    resolved = _CONVERSATION.alias("resolved")
    last_resolved = (
        select(_CONVERSATION.c.id)
        .where(on_address, _CONVERSATION.c.status == ConversationStatus.RESOLVED.value)
        .order_by(_CONVERSATION.c.resolved_at.desc(), _CONVERSATION.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    owner = User.__table__.alias("owner")
    root_team = select(Team.id).where(Team.parent_id.is_(None)).order_by(Team.id).limit(1).scalar_subquery()
    known = _MESSAGE.alias("known")
    return (
        select(
            RoutingSettings.method,
            RoutingSettings.default_team_id,
            RoutingSettings.intake_team_id,
            RoutingSettings.capacity,
            RoutingSettings.reopen_window_minutes,
            root_team.label("root_team_id"),
            known.c.id.label("known_id"),
            sender.c.contact_id,
            sender.c.channel_id,
            sender.c.team_id,
            sender.c.first_names,
            sender.c.last_names,
            Portfolio.id.label("portfolio_id"),
            Portfolio.active.label("portfolio_active"),
            Portfolio.team_id.label("portfolio_team_id"),
            Portfolio.agent_id.label("portfolio_agent_id"),
            owner.c.name.label("owner_name"),
            and_(owner.c.is_active, owner.c.role == Role.AGENT.value).label("owner_usable"),
            *(c.label(f"current_{c.name}") for c in current.c),
            resolved.c.id.label("resolved_id"),
            resolved.c.resolved_at.label("resolved_at"),
            resolved.c.agent_id.label("resolved_agent_id"),
            resolved.c.team_id.label("resolved_team_id"),
            resolved.c.status.label("resolved_status"),
        )
        .select_from(RoutingSettings)
        .outerjoin(known, known.c.external_id == _X)
        .outerjoin(sender, true())
        .outerjoin(PortfolioMember, PortfolioMember.contact_id == sender.c.contact_id)
        .outerjoin(Portfolio, Portfolio.id == PortfolioMember.portfolio_id)
        .outerjoin(owner, owner.c.id == Portfolio.agent_id)
        .outerjoin(
            current,
            and_(
                current.c.contact_id == sender.c.contact_id,
                current.c.channel_kind == _K,
                current.c.channel_address == _A,
                current.c.status != ConversationStatus.RESOLVED.value,
            ),
        )
        .outerjoin(resolved, resolved.c.id == last_resolved)
        .where(RoutingSettings.id == SETTINGS_ID)
    )


_LOOKUP = _lookup()


async def _look_up(session: AsyncSession, checked: _Checked) -> Any:
    params = {"kind": checked.kind.value, "address": checked.address, "external_id": checked.external_id}
    return (await session.execute(_LOOKUP, params)).one()


def _current(found: Any) -> Conversation | None:
    if found.current_id is None:
        return None
    return Conversation(**{c.name: getattr(found, f"current_{c.name}") for c in _CONVERSATION.c})


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


# --- receiving --------------------------------------------------------------------------------------


async def receive_message(
    session: AsyncSession, actor: Principal, data: IncomingMessage, *, default_region: str
) -> Received:
    """File one incoming message (ADMIN: integrators sign in as admin users)."""
    require_admin(actor, "receive messages")
    checked = _check(data, default_region)
    found = await _look_up(session, checked)
    if found.known_id is not None:
        return await _duplicate(session, found.known_id)
    if found.contact_id is None:
        found = await _new_sender(session, actor, checked, found)
        if found.known_id is not None:
            return await _duplicate(session, found.known_id)
    try:
        current = _current(found)
        if current is not None:
            return await _append(session, checked, current)
        window = timedelta(minutes=found.reopen_window_minutes)
        if found.resolved_id is not None and found.resolved_at >= utcnow() - window:
            return await _reopen(session, actor, checked, found)
        return await _open(session, actor, checked, found)
    except IntegrityError as error:
        # A concurrent intake opened a conversation on this address, or filed this externalId,
        # first: run again, and join it (or find it).
        raise ConcurrentChange(str(error.orig)) from None


async def _duplicate(session: AsyncSession, message_id: int) -> Received:
    row = (
        await session.execute(
            select(_CONVERSATION, *(c.label(f"m_{c.name}") for c in _MESSAGE.c))
            .join(_MESSAGE, _MESSAGE.c.conversation_id == _CONVERSATION.c.id)
            .where(_MESSAGE.c.id == message_id)
        )
    ).one()
    conversation = Conversation(**{c.name: getattr(row, c.name) for c in _CONVERSATION.c})
    message = ConversationMessage(**{c.name: getattr(row, f"m_{c.name}") for c in _MESSAGE.c})
    return Received(conversation, message, Outcome.DUPLICATE)


async def _new_sender(session: AsyncSession, actor: Principal, checked: _Checked, found: Any) -> Any:
    """File an unknown sender as a contact of the intake team (audited as createContact does),
    unless a concurrent intake of the same sender did first; the lookup again, with it."""
    if session.get_bind().dialect.name == "postgresql":
        key = f"{checked.kind.value}:{checked.address}"
        await session.execute(select(func.pg_advisory_xact_lock(_ADDRESS_LOCK, func.hashtext(key))))
        found = await _look_up(session, checked)
        if found.contact_id is not None or found.known_id is not None:
            return found
    team_id = found.intake_team_id or found.root_team_id
    if team_id is None:
        raise fail(ErrorCode.CONFLICT, "There is no team to file a new contact in: create one first", "channel")
    channel = {"kind": checked.kind.value, "value": checked.address, "normalized": checked.address}
    prepared = contacts.Prepared(
        contact={
            "first_names": checked.first_names,
            "last_names": checked.last_names,
            "is_vip": False,
            "document_type_id": None,
            "document_number": None,
            "company_id": None,
            "team_id": team_id,
            "custom_fields": {},
        },
        channels=[channel],
        addresses=[],
    )
    (contact_id,) = await contacts.insert_prepared(session, actor, [prepared])
    # What the lookup would now read, without reading it: a new contact has nothing else yet.
    return SimpleNamespace(
        **{
            **found._mapping,
            "contact_id": contact_id,
            "channel_id": _channel_of(contact_id, checked),
            "team_id": team_id,
            "first_names": checked.first_names,
            "last_names": checked.last_names,
        }
    )


def _channel_of(contact_id: int, checked: _Checked) -> Any:
    """The new contact's channel, read inside the statement that files its conversation."""
    return (
        select(ContactChannel.id)
        .where(
            ContactChannel.contact_id == contact_id,
            ContactChannel.kind == checked.kind.value,
            ContactChannel.normalized == checked.address,
        )
        .scalar_subquery()
    )


def _message_values(checked: _Checked, now: datetime) -> dict[str, Any]:
    return {
        "direction": MessageDirection.IN.value,
        "author_id": None,
        "author_name": None,
        "text": checked.text,
        "sent_at": checked.sent_at,
        "external_id": checked.external_id,
        "duration_seconds": checked.duration_seconds,
        "created_at": now,
    }


async def _append(session: AsyncSession, checked: _Checked, current: Conversation) -> Received:
    now = utcnow()
    last = _CONVERSATION.c.last_message_at
    sent = literal(checked.sent_at, UTCDateTime)
    changes = {"last_message_at": case((last.is_(None) | (last < sent), sent), else_=last), "updated_at": now}
    where = and_(_CONVERSATION.c.id == current.id, _CONVERSATION.c.status != ConversationStatus.RESOLVED.value)
    conversation, message = await _update_with_message(session, where, changes, _message_values(checked, now))
    conversation_events.message_added(session, conversation, message)
    return Received(conversation, message, Outcome.APPENDED)


async def _reopen(session: AsyncSession, actor: Principal, checked: _Checked, found: Any) -> Received:
    now = utcnow()
    subject = _subject(found, checked.kind)
    decision = await routing.decide(session, subject, routing.Config.of(found), previous_agent=found.resolved_agent_id)
    changes = {
        **_routed(decision),
        "resolved_at": None,
        "last_message_at": checked.sent_at,
        "updated_at": now,
    }
    where = and_(_CONVERSATION.c.id == found.resolved_id, _CONVERSATION.c.status == ConversationStatus.RESOLVED.value)
    conversation, message = await _update_with_message(session, where, changes, _message_values(checked, now))
    await _moved(session, decision, before_team=found.resolved_team_id)
    previous = (ConversationStatus.RESOLVED.value, found.resolved_agent_id, found.resolved_team_id)
    await _audit(
        session,
        actor,
        AuditAction.REOPENED,
        conversation,
        found,
        decision,
        before={"status": previous[0], "agentId": previous[1], "teamId": previous[2]},
    )
    conversation_events.changed(session, conversation, ConversationChange.REOPENED, previous=previous)
    conversation_events.message_added(session, conversation, message)
    return Received(conversation, message, Outcome.REOPENED, decision.trace)


async def _open(session: AsyncSession, actor: Principal, checked: _Checked, found: Any) -> Received:
    now = utcnow()
    decision = await routing.decide(session, _subject(found, checked.kind), routing.Config.of(found))
    values = {
        "contact_id": found.contact_id,
        "channel_id": found.channel_id,
        "channel_kind": checked.kind.value,
        "channel_address": checked.address,
        **_routed(decision),
        "created_at": now,
        "first_reply_at": None,
        "resolved_at": None,
        "last_message_at": checked.sent_at,
        "updated_at": now,
    }
    conversation, message = await _insert_with_message(session, values, _message_values(checked, now))
    await _moved(session, decision, before_team=None)
    await _audit(session, actor, AuditAction.CREATED, conversation, found, decision, before={})
    conversation_events.changed(session, conversation, ConversationChange.CREATED)
    conversation_events.message_added(session, conversation, message)
    return Received(conversation, message, Outcome.OPENED, decision.trace)


def _routed(decision: routing.Decision) -> dict[str, Any]:
    assigned = decision.agent_id is not None
    return {
        "status": decision.status.value,
        "agent_id": decision.agent_id,
        "team_id": decision.team_id,
        "portfolio_id": decision.portfolio_id,
        "routing": decision.trace.as_json(),
        "assigned_at": decision.trace.decided_at if assigned else None,
    }


async def _moved(session: AsyncSession, decision: routing.Decision, *, before_team: int | None) -> None:
    if decision.agent_id is None:
        return
    await agent_loads.moved(
        session,
        before=None,
        after=decision.agent_id,
        teams=[before_team, decision.team_id],
        assigned_at=decision.trace.decided_at,
        capacity=decision.capacity,
    )


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: AuditAction,
    conversation: Conversation,
    found: Any,
    decision: routing.Decision,
    *,
    before: dict[str, Any],
) -> None:
    trace = decision.trace
    after = {
        "contactId": conversation.contact_id,
        "channelKind": conversation.channel_kind,
        "channelAddress": conversation.channel_address,
        "status": conversation.status,
        "agentId": conversation.agent_id,
        "teamId": conversation.team_id,
        "portfolioId": conversation.portfolio_id,
        "routing": {"rule": trace.rule.value, "method": trace.method.value, "fallback": trace.fallback},
    }
    if before:
        after = {k: v for k, v in after.items() if k in before or k == "routing"}
    name = " ".join(n for n in (found.first_names, found.last_names) if n)
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.CONVERSATION,
        resource_id=conversation.id,
        resource_name=f"{name} ({conversation.channel_kind})",
        team_ids=sorted({conversation.team_id, *([before["teamId"]] if before.get("teamId") else [])}),
        changed=audit.changes(before, after),
    )


# --- writing the conversation and its message -------------------------------------------------------


def _rows(row: Any) -> tuple[Conversation, ConversationMessage]:
    conversation = Conversation(**{c.name: getattr(row, f"c_{c.name}") for c in _CONVERSATION.c})
    message = ConversationMessage(**{c.name: getattr(row, f"m_{c.name}") for c in _MESSAGE.c})
    return conversation, message


def _message_from(written: Any, message: dict[str, Any]) -> Any:
    """INSERT the message of the conversation `written` (a CTE) returns."""
    columns = ["conversation_id", *message]
    values = [written.c.id, *(literal(v, _MESSAGE.c[k].type) for k, v in message.items())]
    return insert(_MESSAGE).from_select(columns, select(*values)).returning(*_MESSAGE.c)


async def _insert_with_message(
    session: AsyncSession, values: dict[str, Any], message: dict[str, Any]
) -> tuple[Conversation, ConversationMessage]:
    """The conversation and its first message: one statement on PostgreSQL (two CTEs)."""
    inserted = insert(_CONVERSATION).values(**values).returning(*_CONVERSATION.c)
    return await _with_message(session, inserted, message)


async def _update_with_message(
    session: AsyncSession, where: Any, changes: dict[str, Any], message: dict[str, Any]
) -> tuple[Conversation, ConversationMessage]:
    """Change the conversation (if `where` still holds: else ConcurrentChange) and add the message."""
    updated = update(_CONVERSATION).where(where).values(**changes).returning(*_CONVERSATION.c)
    return await _with_message(session, updated, message)


async def _with_message(
    session: AsyncSession, written: Any, message: dict[str, Any]
) -> tuple[Conversation, ConversationMessage]:
    if session.get_bind().dialect.name == "postgresql":
        c = written.cte("c")
        m = _message_from(c, message).cte("m")
        conversation_columns = (c.c[k.name].label(f"c_{k.name}") for k in _CONVERSATION.c)
        message_columns = (m.c[k.name].label(f"m_{k.name}") for k in _MESSAGE.c)
        row = (
            await session.execute(select(*conversation_columns, *message_columns).select_from(c).join(m, true()))
        ).first()
        if row is None:
            raise ConcurrentChange("the conversation changed meanwhile")
        return _rows(row)
    conversation_row = (await session.execute(written)).first()
    if conversation_row is None:
        raise ConcurrentChange("the conversation changed meanwhile")
    conversation = Conversation(**dict(conversation_row._mapping))
    inserted = insert(_MESSAGE).values(conversation_id=conversation.id, **message).returning(*_MESSAGE.c)
    message_row = (await session.execute(inserted)).one()
    return conversation, ConversationMessage(**dict(message_row._mapping))
