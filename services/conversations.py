"""Conversations (A1, A3, C9): the list, and moving them by hand: start, assign, transfer, resolve.

Routing them as they come in is intake's (services.routing, services.intake); replies and
notes are services.conversation_messages; the dispenser is services.conversation_queue. Every
change of a conversation's status, agent or team goes through `_apply`, which keeps the rest in
step in the caller's transaction: the agents' open counts (agent_loads.moved), the inbox event
(conversation_events.changed), the MANUAL routing trace of a hand move, and the audit row.

Who may do what, once the conversation is visible (db.scopes.conversations): its agent works it
(transfer, resolve, reply); admins and the supervisors who see it (its team's subtree) manage
it (assign, transfer, resolve). An agent sees the queue of its teams but works only what it
takes from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db import scopes
from db.base import utcnow
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    Conversation,
    ConversationStatus,
    NotificationKind,
    Role,
    Team,
    User,
)
from services import agent_loads, audit, contacts, conversation_events, notifications, routing, teams, users
from services.audit import AuditAction, ResourceType
from services.conversation_events import ConversationChange
from services.errors import ConcurrentChange, ErrorCode, fail, forbidden, not_found
from services.principal import Principal, load_principal
from services.routing_trace import RoutingRule, Trace


class ConversationOrder(enum.StrEnum):
    CREATED_AT = "CREATED_AT"
    # Changed last: a message, an assignment, a transfer.
    UPDATED_AT = "UPDATED_AT"


@dataclass(frozen=True)
class ConversationFilter:
    statuses: tuple[ConversationStatus, ...] = ()
    agent_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()
    contact_ids: tuple[int, ...] = ()
    channel_kinds: tuple[ChannelKind, ...] = ()
    # True: no agent (waiting in a queue, or resolved from it); False: an agent's.
    unassigned: bool | None = None


def sort_keys(order: ConversationOrder, descending: bool) -> tuple[SortKey, ...]:
    first = {
        ConversationOrder.CREATED_AT: SortKey(Conversation.created_at, "created_at", "datetime", descending),
        ConversationOrder.UPDATED_AT: SortKey(Conversation.updated_at, "updated_at", "datetime", descending),
    }[order]
    return (first, SortKey(Conversation.id, "id", "int", descending))


def filtered(viewer: Principal, flt: ConversationFilter) -> Select[Any]:
    stmt = scopes.conversations(select(Conversation), viewer)
    if flt.statuses:
        stmt = stmt.where(Conversation.status.in_([s.value for s in flt.statuses]))
    if flt.agent_ids:
        stmt = stmt.where(Conversation.agent_id.in_(flt.agent_ids))
    if flt.team_ids:
        stmt = stmt.where(Conversation.team_id.in_(flt.team_ids))
    if flt.contact_ids:
        stmt = stmt.where(Conversation.contact_id.in_(flt.contact_ids))
    if flt.channel_kinds:
        stmt = stmt.where(Conversation.channel_kind.in_([k.value for k in flt.channel_kinds]))
    if flt.unassigned is not None:
        stmt = stmt.where(Conversation.agent_id.is_(None) if flt.unassigned else Conversation.agent_id.is_not(None))
    return stmt


async def list_conversations(
    session: AsyncSession,
    viewer: Principal,
    flt: ConversationFilter,
    page: PageRequest,
    *,
    order: ConversationOrder = ConversationOrder.CREATED_AT,
    descending: bool = True,
    max_page_size: int,
) -> tuple[Page[Conversation], Select[Any]]:
    """A page of the conversations the viewer sees (newest first unless asked), and the statement for totalCount."""
    stmt = filtered(viewer, flt)
    keys = sort_keys(order, descending)
    return await paginate(session, stmt, keys=keys, request=page, max_page_size=max_page_size), stmt


# --- one conversation, located for a change --------------------------------------------------


@dataclass
class Located:
    """A conversation locked for a change, with the names its audit row and trace need."""

    row: Conversation
    contact_name: str
    agent_name: str | None


def located_rows(stmt: Select[Any]) -> Select[Any]:
    """`stmt` (selecting Conversation) with its contact's and its agent's names, locked for a change."""
    agent = aliased(User)
    return (
        stmt.join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(agent, agent.id == Conversation.agent_id)
        .add_columns(contacts.full_name().label("contact_name"), agent.name.label("agent_name"))
        .with_for_update(of=Conversation)
    )


async def locate(session: AsyncSession, viewer: Principal, conversation_id: int, field: str = "id") -> Located:
    """The conversation if the viewer sees it, locked; missing and hidden read the same (R3).

    On PostgreSQL a row another call changed while this one waited for its lock is read as it
    is then: one the viewer no longer sees (taken by another agent) is missing too."""
    stmt = scopes.conversations(select(Conversation).where(Conversation.id == conversation_id), viewer)
    found = (await session.execute(located_rows(stmt))).first()
    if found is None:
        raise not_found("Conversation", field)
    return Located(found[0], found.contact_name, found.agent_name)


def _require_worker(actor: Principal, row: Conversation, what: str) -> None:
    """Its agent, an admin, or a supervisor who sees it: an agent may not act on its team's queue."""
    if actor.role is Role.AGENT and row.agent_id != actor.user_id:
        raise forbidden(f"Only its agent, its team's supervisors and admins {what} a conversation")


def _require_not_resolved(row: Conversation, field: str = "id") -> None:
    if row.status == ConversationStatus.RESOLVED.value:
        raise fail(ErrorCode.CONFLICT, "This conversation is resolved", field)


# --- the audit trail -------------------------------------------------------------------------


def snapshot(row: Conversation, agent_name: str | None) -> dict[str, Any]:
    return {"status": row.status, "agentId": row.agent_id, "agent": agent_name, "teamId": row.team_id}


async def record(
    session: AsyncSession,
    actor: Principal,
    row: Conversation,
    contact_name: str,
    action: AuditAction,
    changed: Mapping[str, Any],
    *,
    teams: Iterable[int] = (),
) -> int:
    """Audit an event of the conversation, named after its client, seen by its team's supervisors
    (and by those of `teams`, the team it left)."""
    return await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.CONVERSATION,
        resource_id=row.id,
        resource_name=contact_name,
        team_ids=[row.team_id, *teams],
        changed=changed,
    )


async def manual_trace(session: AsyncSession, *, team_id: int, chosen: User | Principal, now: datetime) -> Trace:
    """The routing decision of a hand move (RoutingRule.MANUAL): who took it or was given it;
    the audit trail says by whom. The method is read as the router reads it (routing.config)."""
    method = (await routing.config(session)).method
    chosen_id = chosen.id if isinstance(chosen, User) else chosen.user_id
    return Trace(
        rule=RoutingRule.MANUAL,
        method=method,
        decided_at=now,
        team_id=team_id,
        candidate_ids=[chosen_id],
        chosen_id=chosen_id,
        chosen_name=chosen.name,
    )


# --- changing one --------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """Where a conversation goes: its new status, agent (id and name) and team."""

    status: ConversationStatus
    agent_id: int | None
    agent_name: str | None
    team_id: int


async def _apply(
    session: AsyncSession,
    actor: Principal,
    located: Located,
    move: Move,
    *,
    change: ConversationChange,
    action: AuditAction,
    trace: Trace | None,
    now: datetime,
    capacity: int | None = None,
) -> Conversation:
    """Give the conversation its new state, and keep loads, live event and audit in step.
    `capacity`: the router chose its agent below it (agent_loads.moved checks it still is)."""
    row = located.row
    previous = (row.status, row.agent_id, row.team_id)
    before = snapshot(row, located.agent_name)
    given = move.status is ConversationStatus.OPEN and move.agent_id != row.agent_id
    row.status, row.agent_id, row.team_id = move.status.value, move.agent_id, move.team_id
    if given:
        row.assigned_at = now
    elif move.status is ConversationStatus.UNASSIGNED:
        row.assigned_at = None
    if move.status is ConversationStatus.RESOLVED:
        row.resolved_at = now
    if trace is not None:
        row.routing = trace.as_json()
    await session.flush()
    await agent_loads.moved(
        session,
        before=agent_loads.holds(previous[0], previous[1]),
        after=agent_loads.holds(row.status, row.agent_id),
        teams=[previous[2], row.team_id],
        assigned_at=now if given else None,
        capacity=capacity if given else None,
    )
    conversation_events.changed(session, row, change, previous=previous)
    changed = audit.changes(before, snapshot(row, move.agent_name))
    await record(session, actor, row, located.contact_name, action, changed, teams=[previous[2]])
    located.agent_name = move.agent_name
    if given and move.agent_id is not None and move.agent_id != actor.user_id:
        # Given to an agent by someone else (an assignment, a transfer, a transfer's routing):
        # its notification centre says so (S6). Taking one is the agent's own doing.
        verb = "assigned" if change is ConversationChange.ASSIGNED else "transferred"
        await notifications.notify(
            session,
            user_id=move.agent_id,
            kind=NotificationKind.CONVERSATION_TRANSFERRED,
            message=f"{actor.name} {verb} you the conversation with {located.contact_name}",
            payload={"conversationId": row.id},
        )
    return row


async def target_agent(
    session: AsyncSession, actor: Principal, agent_id: int, contact_id: int, field: str = "agentId"
) -> User:
    """An agent the actor may give a conversation of this contact to: one it sees (else NOT_FOUND),
    with the AGENT role, active, and who may see the contact itself (R3)."""
    user = await users.get_visible(session, actor, agent_id, field)
    if user.role != Role.AGENT.value:
        raise fail(ErrorCode.INVALID, f"{user.name} is not an agent: conversations go to agents", field)
    if not user.is_active:
        raise fail(ErrorCode.INACTIVE, f"{user.name} is deactivated", field)
    principal = await load_principal(session, user.id)
    assert principal is not None  # active, as just read under this transaction
    sees = await session.scalar(scopes.contacts(select(Contact.id).where(Contact.id == contact_id), principal))
    if sees is None:
        raise fail(ErrorCode.INVALID, f"{user.name} cannot see this contact", field)
    return user


async def _to_agent(
    session: AsyncSession,
    actor: Principal,
    located: Located,
    agent_id: int,
    *,
    change: ConversationChange,
    action: AuditAction,
    field: str,
) -> Conversation:
    row = located.row
    target = await target_agent(session, actor, agent_id, row.contact_id, field)
    if row.agent_id == target.id:
        raise fail(ErrorCode.CONFLICT, f"This conversation is already {target.name}'s", field)
    now = utcnow()
    trace = await manual_trace(session, team_id=row.team_id, chosen=target, now=now)
    move = Move(ConversationStatus.OPEN, target.id, target.name, row.team_id)
    return await _apply(session, actor, located, move, change=change, action=action, trace=trace, now=now)


async def assign(session: AsyncSession, actor: Principal, conversation_id: int, agent_id: int) -> Conversation:
    """Give a conversation to an agent by hand (A3): admins, and supervisors of its team's subtree."""
    located = await locate(session, actor, conversation_id)
    if actor.role is Role.AGENT:
        raise forbidden("Only admins and supervisors assign conversations")
    _require_not_resolved(located.row)
    return await _to_agent(
        session,
        actor,
        located,
        agent_id,
        change=ConversationChange.ASSIGNED,
        action=AuditAction.ASSIGNED,
        field="agentId",
    )


async def transfer(
    session: AsyncSession,
    actor: Principal,
    conversation_id: int,
    *,
    agent_id: int | None = None,
    team_id: int | None = None,
) -> Conversation:
    """Hand a conversation to another agent (as `assign` would) or to a team's queue: its agent,
    its team's supervisors and admins. Exactly one of `agent_id` and `team_id` (`to.agentId`,
    `to.teamId`)."""
    if (agent_id is None) == (team_id is None):
        raise fail(ErrorCode.INVALID, "Give either an agent or a team", "to")
    located = await locate(session, actor, conversation_id, "conversationId")
    _require_worker(actor, located.row, "transfer")
    _require_not_resolved(located.row, "conversationId")
    if agent_id is not None:
        return await _to_agent(
            session,
            actor,
            located,
            agent_id,
            change=ConversationChange.TRANSFERRED,
            action=AuditAction.TRANSFERRED,
            field="to.agentId",
        )
    assert team_id is not None
    team = await teams.get_visible(session, actor, team_id, "to.teamId")
    row = located.row
    if row.status == ConversationStatus.UNASSIGNED.value and row.team_id == team.id:
        raise fail(ErrorCode.CONFLICT, f"This conversation is already waiting in {team.name}'s queue", "to.teamId")
    return await transfer_to_team(session, actor, located, team)


async def transfer_to_team(session: AsyncSession, actor: Principal, located: Located, team: Team) -> Conversation:
    """The conversation moves to `team` and is routed among its agents by the account's method
    (A2), as intake routes within a portfolio's team: the agent whose turn it is gets it, or it
    waits UNASSIGNED in the team's queue when nobody may take it (A3); never to the agent it is
    taken from. Its trace is the router's, and it keeps its portfolio."""
    subject = await routing.subject_of(session, located.row)
    settings = await routing.config(session)
    decision = await routing.decide(session, subject, settings, within_team=team.id, exclude=located.row.agent_id)
    move = Move(decision.status, decision.agent_id, decision.trace.chosen_name, decision.team_id)
    return await _apply(
        session,
        actor,
        located,
        move,
        change=ConversationChange.TRANSFERRED,
        action=AuditAction.TRANSFERRED,
        trace=decision.trace,
        now=decision.trace.decided_at,
        capacity=decision.capacity,
    )


async def take(session: AsyncSession, actor: Principal, located: Located) -> Conversation:
    """The agent takes a conversation from its team's queue (the dispenser, A3)."""
    now = utcnow()
    trace = await manual_trace(session, team_id=located.row.team_id, chosen=actor, now=now)
    move = Move(ConversationStatus.OPEN, actor.user_id, actor.name, located.row.team_id)
    return await _apply(
        session,
        actor,
        located,
        move,
        change=ConversationChange.TAKEN,
        action=AuditAction.ASSIGNED,
        trace=trace,
        now=now,
    )


async def resolve(session: AsyncSession, actor: Principal, conversation_id: int) -> Conversation:
    """Close a conversation: its agent, its team's supervisors and admins. Its agent stays on it
    (who handled it: LAST_RESPONSIBLE reads it) and so does its routing decision."""
    located = await locate(session, actor, conversation_id)
    _require_worker(actor, located.row, "resolve")
    _require_not_resolved(located.row)
    row = located.row
    move = Move(ConversationStatus.RESOLVED, row.agent_id, located.agent_name, row.team_id)
    return await _apply(
        session,
        actor,
        located,
        move,
        change=ConversationChange.RESOLVED,
        action=AuditAction.RESOLVED,
        trace=None,
        now=utcnow(),
    )


# --- starting one (C9) -------------------------------------------------------------------------


async def start(session: AsyncSession, actor: Principal, contact_id: int, channel_id: int) -> Conversation:
    """Open a conversation with a contact on one of its channels, assigned to the actor (C9: "Llamar",
    "WhatsApp"), in the contact's team.

    An address has at most one conversation that is not RESOLVED (uq_conversations_open_address):
    the actor's own OPEN one there is answered as it is, so starting twice opens the same one;
    anyone else's (or one waiting in a queue) is a CONFLICT and nothing is written.
    """
    contact = await contacts.get_visible(session, actor, contact_id, "contactId")
    if contact.archived_at is not None:
        raise fail(ErrorCode.CONFLICT, "This contact is archived", "contactId")
    channel = await session.scalar(
        select(ContactChannel).where(ContactChannel.id == channel_id, ContactChannel.contact_id == contact.id)
    )
    if channel is None:
        raise not_found("Contact channel", "channelId")
    current = await session.scalar(
        select(Conversation).where(
            Conversation.contact_id == contact.id,
            Conversation.channel_kind == channel.kind,
            Conversation.channel_address == channel.normalized,
            Conversation.status != ConversationStatus.RESOLVED.value,
        )
    )
    if current is not None:
        if current.status == ConversationStatus.OPEN.value and current.agent_id == actor.user_id:
            return current
        raise fail(ErrorCode.CONFLICT, "This contact already has a conversation open on this channel", "channelId")
    now = utcnow()
    trace = await manual_trace(session, team_id=contact.team_id, chosen=actor, now=now)
    row = Conversation(
        contact_id=contact.id,
        channel_id=channel.id,
        channel_kind=channel.kind,
        channel_address=channel.normalized,
        status=ConversationStatus.OPEN.value,
        agent_id=actor.user_id,
        team_id=contact.team_id,
        routing=trace.as_json(),
        created_at=now,
        assigned_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another call opened one on this address meanwhile: decide again on what it committed.
        raise ConcurrentChange("a conversation opened on this address") from None
    await agent_loads.moved(session, before=None, after=actor.user_id, teams=[row.team_id], assigned_at=now)
    conversation_events.changed(session, row, ConversationChange.CREATED)
    created = snapshot(row, actor.name) | {"channel": contacts.audited_channel(channel.kind, channel.normalized)}
    changed = {key: {"before": None, "after": value} for key, value in created.items()}
    await record(session, actor, row, f"{contact.first_names} {contact.last_names}", AuditAction.CREATED, changed)
    return row
