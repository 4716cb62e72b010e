"""Commercial attentions (S1): the panel's page, creating and changing one, and marking a
conversation commercial.

Agents and integrators write attentions; only admins and supervisors read the panel (S2), so a
write's result is read back through scopes.sales_attentions (nothing, for an agent). Which rows
a filter selects is services.sales_panel.matching, never a WHERE clause written here. "One
attention not CLOSED per contact" is the partial unique index uq_sales_attentions_open_contact.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import UTCDateTime, utcnow
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import (
    Contact,
    NotificationKind,
    Role,
    SalesAttention,
    SalesAttentionConversation,
    SalesAttentionStatus,
    SalesCatalogKind,
)
from services import audit, contacts, conversations, notifications, sales_panel
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, flush_unique
from services.errors import ConcurrentChange, ErrorCode, fail, forbidden, not_found
from services.principal import Principal
from services.sales_panel import SalesFilter

CLOSED = SalesAttentionStatus.CLOSED
PENDING = SalesAttentionStatus.PENDING
_OPEN_ELSEWHERE = "This contact already has an attention that is not closed"


class AttentionOrder(enum.StrEnum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    PENDING_SINCE = "PENDING_SINCE"
    CLOSED_AT = "CLOSED_AT"


# Rows without the instant an order reads sort as if it were one of these: last, either way.
_NEVER_DESCENDING = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER_ASCENDING = datetime(9999, 1, 1, tzinfo=UTC)
_NULLABLE = {
    AttentionOrder.PENDING_SINCE: SalesAttention.pending_since,
    AttentionOrder.CLOSED_AT: SalesAttention.closed_at,
}


def sort_keys(order: AttentionOrder, descending: bool) -> tuple[SortKey, ...]:
    if order in _NULLABLE:
        never = _NEVER_DESCENDING if descending else _NEVER_ASCENDING
        at: Any = func.coalesce(_NULLABLE[order], literal(never, UTCDateTime))
        first = SortKey(at, "sort_at", "datetime", descending)
    else:
        column = SalesAttention.created_at if order is AttentionOrder.CREATED_AT else SalesAttention.updated_at
        first = SortKey(column, column.key, "datetime", descending)
    return (first, SortKey(SalesAttention.id, "id", "int", descending))


def panel(viewer: Principal, flt: SalesFilter, *, zone: ZoneInfo, dialect: str) -> Select[Any]:
    """The panel's rows for a filter, its period read at this moment (list_attentions and
    compiled reads both build on it)."""
    return sales_panel.matching(viewer, flt, zone=zone, now=utcnow(), dialect=dialect)


async def list_attentions(
    session: AsyncSession,
    viewer: Principal,
    flt: SalesFilter,
    page: PageRequest,
    *,
    zone: ZoneInfo,
    order: AttentionOrder = AttentionOrder.CREATED_AT,
    descending: bool = True,
    max_page_size: int,
) -> tuple[Page[SalesAttention], Select[Any]]:
    """A page of the panel (S3), newest attention first by default, and its statement for
    totalCount. Agents are refused (S2); the period is read in `zone` at this moment."""
    stmt = panel(viewer, flt, zone=zone, dialect=session.get_bind().dialect.name)
    keys = sort_keys(order, descending)
    if order not in _NULLABLE:
        return await paginate(session, stmt, keys=keys, request=page, max_page_size=max_page_size), stmt
    keyed = stmt.add_columns(keys[0].column.label("sort_at"), SalesAttention.id.label("id"))
    found = await paginate(session, keyed, keys=keys, request=page, max_page_size=max_page_size, scalars=False)
    return Page([r[0] for r in found.rows], found.cursors, found.has_next_page, found.has_previous_page), stmt


async def visible(session: AsyncSession, viewer: Principal, attention_id: int) -> SalesAttention | None:
    """The attention as the panel shows it to `viewer`: None for an agent, or when out of its sight."""
    stmt = scopes.sales_attentions(select(SalesAttention).where(SalesAttention.id == attention_id), viewer)
    return (await session.execute(stmt)).scalar_one_or_none()


# --- writing one -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAttention:
    contact_id: int
    interest_id: int | None = None
    origin_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    status: SalesAttentionStatus = SalesAttentionStatus.OPEN


@dataclass(frozen=True)
class AttentionChanges:
    interest_id: Maybe[int | None] = UNSET
    origin_id: Maybe[int | None] = UNSET
    status: Maybe[SalesAttentionStatus] = UNSET
    close_reason_id: Maybe[int | None] = UNSET
    agent_id: Maybe[int | None] = UNSET
    team_id: Maybe[int] = UNSET


def snapshot(row: SalesAttention) -> dict[str, Any]:
    return {
        "status": row.status,
        "interestId": row.interest_id,
        "originId": row.origin_id,
        "closeReasonId": row.close_reason_id,
        "agentId": row.agent_id,
        "teamId": row.team_id,
    }


async def _record(
    session: AsyncSession,
    actor: Principal,
    row: SalesAttention,
    contact_name: str,
    action: AuditAction,
    changed: dict[str, Any],
    *,
    teams: tuple[int, ...] = (),
) -> None:
    """Audit an event of the attention, named after its client, seen by its group's supervisors
    (and by those of `teams`, the group it left)."""
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.SALES_ATTENTION,
        resource_id=row.id,
        resource_name=contact_name,
        team_ids=[row.team_id, *teams],
        changed=changed,
    )


async def _chosen(
    session: AsyncSession, entry_id: int | None, kind: SalesCatalogKind, field: str, current: int | None = None
) -> int | None:
    """A catalogue entry an attention is given: of its kind and active, unless it already had it."""
    if entry_id is None:
        return None
    entry = await sales_panel.require_entry(session, entry_id, kind, field, allow_inactive=entry_id == current)
    return entry.id


async def _flush(session: AsyncSession, field: str) -> None:
    await flush_unique(
        session, _OPEN_ELSEWHERE, field, by_index={"uq_sales_attentions_open_contact": (_OPEN_ELSEWHERE, field)}
    )


async def create_attention(session: AsyncSession, actor: Principal, data: NewAttention) -> SalesAttention:
    """Open a contact's commercial attention (any signed-in role: agents and integrators write
    them). The group is the contact's unless given; the agent the actor when it is an agent."""
    found = (
        await session.execute(
            scopes.contacts(
                select(Contact.team_id, contacts.full_name().label("name")).where(Contact.id == data.contact_id), actor
            )
        )
    ).first()
    if found is None:
        raise not_found("Contact", "contactId")
    if data.status is CLOSED:
        raise fail(
            ErrorCode.INVALID, "A new attention is OPEN or PENDING; close it with updateSalesAttention", "status"
        )
    team_id = data.team_id if data.team_id is not None else found.team_id
    agent_id = data.agent_id
    if agent_id is None and actor.role is Role.AGENT:
        agent_id = actor.user_id
    await sales_panel.check_group(session, actor, team_id=team_id, agent_id=agent_id)
    now = utcnow()
    row = SalesAttention(
        contact_id=data.contact_id,
        interest_id=await _chosen(session, data.interest_id, SalesCatalogKind.INTEREST, "interestId"),
        origin_id=await _chosen(session, data.origin_id, SalesCatalogKind.ORIGIN, "originId"),
        agent_id=agent_id,
        team_id=team_id,
        status=data.status.value,
        pending_since=now if data.status is PENDING else None,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await _flush(session, "contactId")
    changed = audit.changes({}, {"contactId": data.contact_id, **snapshot(row)})
    await _record(session, actor, row, found.name, AuditAction.CREATED, changed)
    return row


async def _locate(session: AsyncSession, actor: Principal, attention_id: int) -> tuple[SalesAttention, str]:
    """The attention if the actor may change it (an agent: its own), locked, with its client's name."""
    stmt = scopes.sales_attention_work(select(SalesAttention).where(SalesAttention.id == attention_id), actor)
    stmt = (
        stmt.join(Contact, Contact.id == SalesAttention.contact_id)
        .add_columns(contacts.full_name().label("name"))
        .with_for_update(of=SalesAttention)
    )
    found = (await session.execute(stmt)).first()
    if found is None:
        raise not_found("Sales attention", "id")
    return found[0], found.name


def _set_status(row: SalesAttention, target: SalesAttentionStatus, reason: int | None, now: datetime) -> None:
    """CLOSED has its reason and closing time, PENDING its start (kept while it stays PENDING);
    leaving either clears them."""
    was = SalesAttentionStatus(row.status)
    row.close_reason_id = reason if target is CLOSED else None
    row.closed_at = (row.closed_at if was is CLOSED else now) if target is CLOSED else None
    row.pending_since = (row.pending_since if was is PENDING else now) if target is PENDING else None
    row.status = target.value


async def update_attention(
    session: AsyncSession, actor: Principal, attention_id: int, changes: AttentionChanges
) -> SalesAttention:
    """Change what was given. An agent changes only the attentions assigned to it; closing needs
    a reason; reopening a closed one is refused while its contact has another not closed."""
    row, contact_name = await _locate(session, actor, attention_id)
    before = snapshot(row)
    if changes.interest_id is not UNSET:
        kind = SalesCatalogKind.INTEREST
        row.interest_id = await _chosen(session, changes.interest_id, kind, "interestId", row.interest_id)
    if changes.origin_id is not UNSET:
        row.origin_id = await _chosen(session, changes.origin_id, SalesCatalogKind.ORIGIN, "originId", row.origin_id)
    if changes.team_id is not UNSET or changes.agent_id is not UNSET:
        team_id = row.team_id if changes.team_id is UNSET else changes.team_id
        agent_id = row.agent_id if changes.agent_id is UNSET else changes.agent_id
        if (team_id, agent_id) != (row.team_id, row.agent_id):
            await sales_panel.check_group(session, actor, team_id=team_id, agent_id=agent_id)
            row.team_id, row.agent_id = team_id, agent_id
    was = SalesAttentionStatus(row.status)
    target = was if changes.status is UNSET else changes.status
    reason = row.close_reason_id if changes.close_reason_id is UNSET else changes.close_reason_id
    if target is CLOSED:
        kind = SalesCatalogKind.CLOSE_REASON
        reason = await _chosen(session, reason, kind, "closeReasonId", row.close_reason_id)
        if reason is None:
            raise fail(ErrorCode.REQUIRED, "Closing an attention takes a close reason", "closeReasonId")
    elif changes.close_reason_id not in (UNSET, None):
        raise fail(ErrorCode.INVALID, "Only a closed attention has a close reason", "closeReasonId")
    _set_status(row, target, reason, utcnow())
    await _flush(session, "status")
    changed = audit.changes(before, snapshot(row))
    if not changed:
        return row
    if target is CLOSED and was is not CLOSED:
        action = AuditAction.CLOSED
    elif was is CLOSED and target is not CLOSED:
        action = AuditAction.REOPENED
    elif set(changed) <= {"agentId", "teamId"}:
        action = AuditAction.TRANSFERRED
    else:
        action = AuditAction.UPDATED
    left = (before["teamId"],) if before["teamId"] != row.team_id else ()
    await _record(session, actor, row, contact_name, action, changed, teams=left)
    if row.agent_id is not None and row.agent_id not in (before["agentId"], actor.user_id):
        await notifications.notify(
            session,
            user_id=row.agent_id,
            kind=NotificationKind.ATTENTIONS_TRANSFERRED,
            message=f"{actor.name} gave you the commercial attention of {contact_name}",
            payload={"attentionIds": [row.id], "count": 1},
        )
    return row


async def mark_conversation_commercial(
    session: AsyncSession,
    actor: Principal,
    conversation_id: int,
    *,
    interest_id: int | None = None,
    origin_id: int | None = None,
) -> SalesAttention:
    """Link a conversation the actor works (an admin or supervisor: one it sees) to its contact's
    attention not closed, opening one in the conversation's team for its agent when there is
    none. Marking it again changes nothing and answers the same attention."""
    located = await conversations.locate(session, actor, conversation_id, "conversationId")
    conversation = located.row
    if actor.role is Role.AGENT and conversation.agent_id != actor.user_id:
        raise forbidden("Only its agent, its team's supervisors and admins mark a conversation commercial")
    linked = await session.scalar(
        select(SalesAttentionConversation.attention_id).where(
            SalesAttentionConversation.conversation_id == conversation.id
        )
    )
    if linked is not None:
        return await session.get_one(SalesAttention, linked)
    interest = await _chosen(session, interest_id, SalesCatalogKind.INTEREST, "interestId")
    origin = await _chosen(session, origin_id, SalesCatalogKind.ORIGIN, "originId")
    open_one = select(SalesAttention).where(
        SalesAttention.contact_id == conversation.contact_id, SalesAttention.status != CLOSED.value
    )
    row = (await session.execute(open_one.with_for_update())).scalar_one_or_none()
    created = row is None
    if row is None:
        now = utcnow()
        row = SalesAttention(
            contact_id=conversation.contact_id,
            interest_id=interest,
            origin_id=origin,
            agent_id=conversation.agent_id,
            team_id=conversation.team_id,
            status=SalesAttentionStatus.OPEN.value,
            created_by_id=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
            session.add(SalesAttentionConversation(conversation_id=conversation.id, attention_id=row.id))
            await session.flush()
    except IntegrityError:
        # Another call opened the contact's attention or linked this conversation first: run
        # again and join what it committed.
        raise ConcurrentChange from None
    if created:
        changed = audit.changes({}, {"contactId": row.contact_id, **snapshot(row), "conversationId": conversation.id})
        await _record(session, actor, row, located.contact_name, AuditAction.CREATED, changed)
    else:
        changed = {"conversationId": {"before": None, "after": conversation.id}}
        await _record(session, actor, row, located.contact_name, AuditAction.UPDATED, changed)
    return row
