"""The audit trail (AU1, AU2): one call every mutating service makes, in its own transaction."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import BigId, UTCDateTime, utcnow
from db.ids import allocate_ids
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import AuditEvent, AuditEventTeam, Folded
from db.search import fold, matches
from db.sets import execute_counting
from services.errors import ErrorCode, fail
from services.principal import Principal

# Set by the HTTP/WebSocket layer so every audit row names the request that wrote it.
request_id_var: ContextVar[str | None] = ContextVar("cartera_request_id", default=None)


class AuditAction(enum.StrEnum):
    CREATED = "CREATED"
    BULK_CREATED = "BULK_CREATED"
    ARCHIVED = "ARCHIVED"
    UPDATED = "UPDATED"
    ACTIVATED = "ACTIVATED"
    DEACTIVATED = "DEACTIVATED"
    DELETED = "DELETED"
    ASSIGNED = "ASSIGNED"
    MOVED = "MOVED"
    REMOVED = "REMOVED"
    MEMBER_ADDED = "MEMBER_ADDED"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    SUPERVISOR_ADDED = "SUPERVISOR_ADDED"
    SUPERVISOR_REMOVED = "SUPERVISOR_REMOVED"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"
    OPERATOR_ADDED = "OPERATOR_ADDED"
    OPERATOR_REMOVED = "OPERATOR_REMOVED"
    TRANSFERRED = "TRANSFERRED"
    ATTENDED = "ATTENDED"
    COMMENTED = "COMMENTED"
    RESULT_RECORDED = "RESULT_RECORDED"
    FINISHED = "FINISHED"
    RELEASED = "RELEASED"
    REOPENED = "REOPENED"
    ATTACHED = "ATTACHED"
    RESOLVED = "RESOLVED"
    REPLIED = "REPLIED"
    EXPORTED = "EXPORTED"
    CANCELLED = "CANCELLED"


class ResourceType(enum.StrEnum):
    USER = "USER"
    TEAM = "TEAM"
    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    DOCUMENT_TYPE = "DOCUMENT_TYPE"
    CUSTOM_FIELD = "CUSTOM_FIELD"
    PORTFOLIO = "PORTFOLIO"
    TYPOLOGY = "TYPOLOGY"
    CAMPAIGN = "CAMPAIGN"
    GESTION = "GESTION"
    CONVERSATION = "CONVERSATION"
    ROUTING_SETTINGS = "ROUTING_SETTINGS"
    SALES_CATALOG_ENTRY = "SALES_CATALOG_ENTRY"
    SALES_ATTENTION = "SALES_ATTENTION"
    SALES_VIEW = "SALES_VIEW"
    JOB = "JOB"
    # A bulk call: the event is its own resource and lists what the call did.
    BATCH = "BATCH"


class Period(enum.StrEnum):
    TODAY = "TODAY"
    THIS_WEEK = "THIS_WEEK"
    THIS_MONTH = "THIS_MONTH"
    THIS_YEAR = "THIS_YEAR"
    # The reports' presets (A4, P9, S3): whole local days ending with today, and whole months.
    YESTERDAY = "YESTERDAY"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_MONTH = "LAST_MONTH"


# What an event's `changes` hold (AU1), the shape every producer writes:
# - one entry per changed field, named as the API names it (camelCase): {"before": …, "after": …},
#   the field's whole value before and after, null where it had none. An event that links or
#   unlinks (MEMBER_ADDED, OPERATOR_REMOVED …) names what it linked, null on the other side; a
#   bulk call's own event holds its tallies (counts), and its entries each resource's change.
# - scalars as the API shows them (text, numbers, booleans, enum names, ISO dates);
# - a reference to another resource under a name ending in Id (one) or Ids (a list): the rows
#   keep its database id, which costs a bulk statement nothing, and the API shows the global id
#   `node` takes (schema.types.audit_changes). Every such name is in REFERENCES (taxId, a
#   company's tax number, is none). Where its name helps, a field beside it without the
#   suffix holds it (`portfolio` beside `portfolioId`);
# - lists as lists (a contact's `channels` as KIND:value, its `addresses` as objects of their
#   fields), objects (custom fields, a plan) as objects.
REFERENCES: Mapping[str, ResourceType] = {
    "agentId": ResourceType.USER,
    "attentionIds": ResourceType.SALES_ATTENTION,
    "closeReasonId": ResourceType.SALES_CATALOG_ENTRY,
    "conversationId": ResourceType.CONVERSATION,
    "interestId": ResourceType.SALES_CATALOG_ENTRY,
    "originId": ResourceType.SALES_CATALOG_ENTRY,
    "companyId": ResourceType.COMPANY,
    "contactId": ResourceType.CONTACT,
    "defaultTeamId": ResourceType.TEAM,
    "documentTypeId": ResourceType.DOCUMENT_TYPE,
    "intakeTeamId": ResourceType.TEAM,
    "memberId": ResourceType.USER,
    "memberIds": ResourceType.USER,
    "operatorId": ResourceType.USER,
    "operatorIds": ResourceType.USER,
    "parentId": ResourceType.TEAM,
    "portfolioId": ResourceType.PORTFOLIO,
    "supervisorId": ResourceType.USER,
    "supervisorIds": ResourceType.USER,
    "teamId": ResourceType.TEAM,
    "typologyId": ResourceType.TYPOLOGY,
    # BY_CHANNEL's agents of each kind (services.routing_settings.channel_agents_field).
    "emailAgentIds": ResourceType.USER,
    "phoneAgentIds": ResourceType.USER,
    "whatsappAgentIds": ResourceType.USER,
    "messengerAgentIds": ResourceType.USER,
    "instagramAgentIds": ResourceType.USER,
}


def api_name(name: str) -> str:
    """The camelCase of a snake_case or UPPER_CASE name (tax_id: taxId); a camelCase one stays.

    Producers name fields so; the API reads rows written before they all did through it."""
    if "_" not in name and not name.isupper():
        return name
    first, *rest = name.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Before/after of the fields that differ."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _stamp(actor: Principal | None, action: AuditAction, resource_type: ResourceType) -> dict[str, Any]:
    """The columns every audit row of one call shares: when, who, what, and its request."""
    return {
        "occurred_at": utcnow(),
        "actor_id": actor.user_id if actor else None,
        "actor_name": actor.name if actor else "system",
        "action": action.value,
        "resource_type": resource_type.value,
        "request_id": request_id_var.get(),
    }


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: AuditAction,
    resource_type: ResourceType,
    resource_id: int,
    resource_name: str,
    team_ids: Iterable[int] = (),
    changed: Mapping[str, Any] | None = None,
) -> int:
    """Write one audit event (and its team scope) in the caller's transaction."""
    team_id, links = team_scope(team_ids)
    row = event_row(
        actor=actor, action=action, resource_type=resource_type, resource_name=resource_name, changed=changed
    )
    event_id = await session.scalar(
        insert(AuditEvent).values(**row, resource_id=resource_id, team_id=team_id).returning(AuditEvent.id)
    )
    assert isinstance(event_id, int)
    if links:
        await session.execute(insert(AuditEventTeam), [{"event_id": event_id, "team_id": t} for t in links])
    return event_id


def event_row(
    *,
    actor: Principal | None,
    action: AuditAction,
    resource_type: ResourceType,
    resource_name: str,
    changed: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """An event's columns but its resource id and team (what `record` writes), search text
    included: for a statement that writes the event beside the row it is about, whose id it
    does not know yet (services.intake). Seen by one team only: several need `record`'s links."""
    row = {**_stamp(actor, action, resource_type), "resource_name": resource_name[:400], "changes": dict(changed or {})}
    row["search_text"] = _SEARCH_TEXT.of(row)
    return row


# The column's own default (db.models.Folded), applied here since such a statement inserts from a SELECT.
_SEARCH_TEXT: Folded = AuditEvent.__table__.c.search_text.default.arg


def team_scope(team_ids: Iterable[int]) -> tuple[int | None, list[int]]:
    """Where an event's teams go: the one team on its row (team_id), several as links (audit_event_teams)."""
    teams = sorted(set(team_ids))
    return (teams[0], []) if len(teams) == 1 else (None, teams)


@dataclass(frozen=True)
class AuditFilter:
    text: str | None = None
    actions: tuple[AuditAction, ...] = ()
    resource_types: tuple[ResourceType, ...] = ()
    period: Period | None = None
    since: datetime | None = None
    until: datetime | None = None


def period_bounds(period: Period, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a preset in the account's time zone; weeks start on Monday, LAST_7_DAYS
    and LAST_30_DAYS end with today. Bounds are local midnights, so a day is 23 or 25 hours
    long where the clocks change."""
    today = now.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    if period is Period.TODAY:
        start, end = today, tomorrow
    elif period is Period.YESTERDAY:
        start, end = today - timedelta(days=1), today
    elif period is Period.LAST_7_DAYS:
        start, end = tomorrow - timedelta(days=7), tomorrow
    elif period is Period.LAST_30_DAYS:
        start, end = tomorrow - timedelta(days=30), tomorrow
    elif period is Period.THIS_WEEK:
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    elif period is Period.THIS_MONTH:
        start, end = today.replace(day=1), _next_month(today)
    elif period is Period.LAST_MONTH:
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    else:
        start, end = date(today.year, 1, 1), date(today.year + 1, 1, 1)
    return (datetime.combine(start, time(), zone), datetime.combine(end, time(), zone))


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


AUDIT_KEYS = (
    SortKey(AuditEvent.occurred_at, "occurred_at", "datetime", descending=True),
    SortKey(AuditEvent.id, "id", "int", descending=True),
)


def filtered(viewer: Principal, flt: AuditFilter, zone: ZoneInfo) -> Select[AuditEvent]:
    if flt.since and flt.until and flt.since > flt.until:
        raise fail(ErrorCode.INVALID, "from must not be after to", "filter.from")
    stmt = scopes.audit_events(select(AuditEvent), viewer)
    if flt.text and flt.text.strip():
        stmt = stmt.where(matches(flt.text, AuditEvent.search_text))
    if flt.actions:
        stmt = stmt.where(AuditEvent.action.in_([a.value for a in flt.actions]))
    if flt.resource_types:
        stmt = stmt.where(AuditEvent.resource_type.in_([r.value for r in flt.resource_types]))
    if flt.period is not None:
        start, end = period_bounds(flt.period, utcnow(), zone)
        stmt = stmt.where(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
    if flt.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at <= flt.until)
    return stmt


def require_reader(viewer: Principal) -> None:
    if viewer.role.value == "AGENT":
        raise fail(ErrorCode.FORBIDDEN, "Only admins and supervisors read the audit trail")


async def list_events(
    session: AsyncSession,
    viewer: Principal,
    flt: AuditFilter,
    page: PageRequest,
    *,
    zone: ZoneInfo,
    max_page_size: int,
) -> tuple[Page[AuditEvent], Select[AuditEvent]]:
    """A page of the events the viewer may see, newest first, and the statement for totalCount."""
    require_reader(viewer)
    stmt = filtered(viewer, flt, zone)
    return await paginate(session, stmt, keys=AUDIT_KEYS, request=page, max_page_size=max_page_size), stmt


async def point_to_self(session: AsyncSession, event_id: int) -> None:
    """Make an event its own resource (a bulk call's record, whose entries list what the call did)."""
    await session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(resource_id=event_id))


async def record_contact_entries(
    session: AsyncSession, *, actor: Principal | None, action: AuditAction, batch_id: int, rows: Select[Any]
) -> int:
    """One entry in each contact's history (record_entries of CONTACT resources)."""
    return await record_entries(
        session, actor=actor, action=action, resource_type=ResourceType.CONTACT, batch_id=batch_id, rows=rows
    )


async def record_entries(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: AuditAction,
    resource_type: ResourceType,
    batch_id: int,
    rows: Select[Any],
) -> int:
    """One entry in each resource's history, set-based: tens of thousands in one statement.

    `rows` selects, one row per resource, the labelled columns resource_id, resource_name,
    folded_name (fold(resource_name), e.g. a contact's search_name, which the text filter
    matches), changes (JSON, e.g. built with db.sets.json_object) and team_id, the team whose
    supervisors see the entry (on the entry's own row: see AuditEvent.team_id); and, where one
    call's entries differ in action, `action`, which then stands for `action` row by row.
    """
    found = rows.subquery()
    stamp = _stamp(actor, action, resource_type)
    typed: dict[str, Any] = {"occurred_at": UTCDateTime, "actor_id": BigId, "request_id": String}
    columns: dict[str, Any] = {name: literal(value, typed.get(name)) for name, value in stamp.items()}
    columns |= {
        "resource_id": found.c.resource_id,
        "resource_name": func.substr(found.c.resource_name, 1, 400),
        "changes": found.c.changes,
        "team_id": found.c.team_id,
        "batch_id": literal(batch_id, BigId),
        # The Folded default, in SQL: the actor's part is the call's, the name each row's.
        "search_text": literal(f"{fold(stamp['actor_name'])} | ", String) + found.c.folded_name,
    }
    if "action" in found.c:
        columns["action"] = found.c.action
    return await execute_counting(session, insert(AuditEvent).from_select(list(columns), select(*columns.values())))


@dataclass(frozen=True)
class Entry:
    """One row of a set-based audit write (see record_many)."""

    resource_id: int
    resource_name: str
    team_ids: tuple[int, ...] = ()
    changed: Mapping[str, Any] | None = None


async def record_many(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: AuditAction,
    resource_type: ResourceType,
    entries: Sequence[Entry],
    batch_id: int | None = None,
) -> list[int]:
    """Write one audit event per entry: one statement, and a second for the links of any seen by several teams."""
    if not entries:
        return []
    stamp = _stamp(actor, action, resource_type)
    ids = await allocate_ids(session, AuditEvent, len(entries))
    scopes = [team_scope(e.team_ids) for e in entries]
    rows = [
        {
            **stamp,
            "id": event_id,
            "resource_id": e.resource_id,
            "resource_name": e.resource_name[:400],
            "changes": dict(e.changed or {}),
            "team_id": team_id,
            "batch_id": batch_id,
        }
        for event_id, e, (team_id, _) in zip(ids, entries, scopes, strict=True)
    ]
    await session.execute(insert(AuditEvent), rows)
    links = [{"event_id": i, "team_id": t} for i, (_, teams) in zip(ids, scopes, strict=True) for t in teams]
    if links:
        await session.execute(insert(AuditEventTeam), links)
    return ids
