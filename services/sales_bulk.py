"""Bulk close and transfer of commercial attentions (S5) on selected ids or on everything matching
the panel's filters.

The rows are exactly the panel's (`sales_panel.matching`): a selection by ids is that query
narrowed to them, so an id the actor cannot see reads as one that does not exist (NOT_FOUND
per item). Every write is set-based, whatever the size: one statement reads and locks the
selected rows in id order (db.sets.columns), one writes each attention's history entry, one
UPDATE … WHERE id IN (…) changes them all; the call's own BATCH event holds the tallies.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Select, String, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import Contact, NotificationKind, SalesAttention, SalesAttentionStatus, SalesCatalogKind, Team, User
from db.sets import columns, execute_counting, in_ids, json_object
from services import audit, contacts, events, notifications, sales_panel
from services.audit import AuditAction, ResourceType
from services.errors import ConcurrentChange, ErrorCode, fail
from services.principal import Principal
from services.sales_panel import SalesFilter

CLOSED = SalesAttentionStatus.CLOSED.value


class BulkOutcome(enum.StrEnum):
    CLOSED = "CLOSED"
    TRANSFERRED = "TRANSFERRED"
    # Already with that agent in that group: nothing to do.
    UNCHANGED = "UNCHANGED"
    REJECTED = "REJECTED"


class BulkRejection(enum.StrEnum):
    # Missing, or not yours to see (R3: the two read the same).
    NOT_FOUND = "NOT_FOUND"
    # Closed before this call: it keeps its reason, and a closed one stays where it was closed.
    ALREADY_CLOSED = "ALREADY_CLOSED"


@dataclass(frozen=True)
class AttentionOutcome:
    attention_id: int
    outcome: BulkOutcome
    rejection: BulkRejection | None = None


@dataclass
class BulkResult:
    counts: Counter[BulkOutcome]
    # Each attention's outcome, built when asked for (a page of results): a call on 100,000
    # attentions would otherwise build 100,000 objects for a payload that mostly reads counts.
    describe: Callable[[], list[AttentionOutcome]]
    # The call's BATCH event (None when it changed nothing); its entries are the attentions' own.
    event_id: int | None = None

    @cached_property
    def outcomes(self) -> list[AttentionOutcome]:
        return self.describe()


@dataclass(frozen=True)
class _Selected:
    """The selected rows as locked, one list per column in id order."""

    ids: list[int]
    statuses: list[str]
    team_ids: list[int]
    agent_ids: list[int | None]


async def _select(
    session: AsyncSession, actor: Principal, flt: SalesFilter, *, zone: ZoneInfo, now: datetime, max_ids: int
) -> _Selected:
    if flt.ids is not None and len(set(flt.ids)) > max_ids:
        raise fail(
            ErrorCode.LIMIT_EXCEEDED, f"Select at most {max_ids} attentions by id; use a filter", "selection.ids"
        )
    dialect = session.get_bind().dialect.name
    stmt = (
        sales_panel.matching(actor, flt, zone=zone, now=now, dialect=dialect)
        .with_only_columns(SalesAttention.id, SalesAttention.status, SalesAttention.team_id, SalesAttention.agent_id)
        # In id order (columns sorts in the locking subquery): two bulk calls never wait in a circle.
        .with_for_update()
    )
    ids, statuses, team_ids, agent_ids = await columns(session, stmt, order_by="id")
    return _Selected(ids, statuses, team_ids, agent_ids)


def _missing(flt: SalesFilter, found: Sequence[int]) -> list[AttentionOutcome]:
    """Ids given that the selection did not find: NOT_FOUND, in the order given."""
    if flt.ids is None:
        return []
    seen = set(found)
    return [
        AttentionOutcome(i, BulkOutcome.REJECTED, BulkRejection.NOT_FOUND)
        for i in dict.fromkeys(flt.ids)
        if i not in seen
    ]


def _tallies(counts: Counter[BulkOutcome], rejections: Counter[BulkRejection]) -> dict[str, Any]:
    """The BATCH event's changes: how many had each outcome (closed: 3, notFound: 1)."""
    tallies = {audit.api_name(o.value): n for o, n in sorted(counts.items()) if n and o is not BulkOutcome.REJECTED}
    tallies |= {audit.api_name(r.value): n for r, n in sorted(rejections.items()) if n}
    return {name: {"before": None, "after": n} for name, n in tallies.items()}


async def _record_batch(
    session: AsyncSession,
    actor: Principal,
    action: AuditAction,
    name: str,
    changed: dict[str, Any],
    team_ids: Sequence[int],
) -> int:
    event_id = await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.BATCH,
        resource_id=0,
        resource_name=name,
        team_ids=team_ids,
        changed=changed,
    )
    # The batch is its own resource: its entries are the attentions' history rows.
    await audit.point_to_self(session, event_id)
    return event_id


def _entries(ids: Sequence[int], dialect: str, changes: Any, team_id: Any) -> Select[Any]:
    """History rows (audit.record_entries) of these attentions, named after their contacts."""
    return (
        select(
            SalesAttention.id.label("resource_id"),
            contacts.full_name().label("resource_name"),
            Contact.search_name.label("folded_name"),
            changes.label("changes"),
            team_id.label("team_id"),
        )
        .join(Contact, Contact.id == SalesAttention.contact_id)
        .where(in_ids(SalesAttention.id, ids, dialect))
    )


def _announce(session: AsyncSession, change: AuditAction, by_team: dict[tuple[int, ...], list[int]]) -> None:
    """Supervisors of the teams concerned hear it, in parts of events.BATCH; agents never do (S2)."""
    for teams, ids in sorted(by_team.items()):
        for part in events.batches(ids):
            events.emit(
                session,
                events.EventKind.SALES_ATTENTIONS_CHANGED,
                {"change": change.value, "attentionIds": list(part), "teamIds": list(teams)},
                managers_of=teams,
            )


async def close_attentions(
    session: AsyncSession,
    actor: Principal,
    flt: SalesFilter,
    close_reason_id: int | None,
    *,
    zone: ZoneInfo,
    now: datetime,
    max_ids: int,
) -> BulkResult:
    """Close every selected attention that is not closed yet, with this reason (S5)."""
    sales_panel.require_panel(actor)
    if close_reason_id is None:
        raise fail(ErrorCode.REQUIRED, "A close reason is required", "closeReasonId")
    reason = await sales_panel.require_entry(session, close_reason_id, SalesCatalogKind.CLOSE_REASON, "closeReasonId")
    chosen = await _select(session, actor, flt, zone=zone, now=now, max_ids=max_ids)
    missing = _missing(flt, chosen.ids)
    closing = [i for i, s in zip(chosen.ids, chosen.statuses, strict=True) if s != CLOSED]
    open_ids = set(closing)

    def outcomes() -> list[AttentionOutcome]:
        return missing + [
            AttentionOutcome(i, BulkOutcome.CLOSED)
            if i in open_ids
            else AttentionOutcome(i, BulkOutcome.REJECTED, BulkRejection.ALREADY_CLOSED)
            for i in chosen.ids
        ]

    already = len(chosen.ids) - len(closing)
    counts = +Counter({BulkOutcome.CLOSED: len(closing), BulkOutcome.REJECTED: already + len(missing)})
    result = BulkResult(counts, outcomes)
    if not closing:
        return result
    rejections = Counter({BulkRejection.ALREADY_CLOSED: already, BulkRejection.NOT_FOUND: len(missing)})
    teams = sorted({t for t, s in zip(chosen.team_ids, chosen.statuses, strict=True) if s != CLOSED})
    result.event_id = await _record_batch(
        session,
        actor,
        AuditAction.CLOSED,
        f"{len(closing)} sales attentions closed",
        {**_tallies(counts, rejections), "closeReason": {"before": None, "after": reason.name}},
        teams,
    )
    dialect = session.get_bind().dialect.name
    await audit.record_entries(
        session,
        actor=actor,
        action=AuditAction.CLOSED,
        resource_type=ResourceType.SALES_ATTENTION,
        batch_id=result.event_id,
        rows=_entries(
            closing,
            dialect,
            json_object(
                "status",
                json_object("before", SalesAttention.status, "after", CLOSED),
                "closeReason",
                json_object("before", None, "after", reason.name),
                "closeReasonId",
                json_object("before", None, "after", reason.id),
            ),
            SalesAttention.team_id,
        ),
    )
    written = await execute_counting(
        session,
        update(SalesAttention)
        .where(in_ids(SalesAttention.id, closing, dialect))
        .values(status=CLOSED, close_reason_id=reason.id, closed_at=now, pending_since=None, updated_at=now),
    )
    if written != len(closing):
        raise ConcurrentChange("a locked attention changed")
    by_team: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, t, s in zip(chosen.ids, chosen.team_ids, chosen.statuses, strict=True):
        if s != CLOSED:
            by_team[(t,)].append(i)
    _announce(session, AuditAction.CLOSED, by_team)
    return result


async def transfer_attentions(
    session: AsyncSession,
    actor: Principal,
    flt: SalesFilter,
    *,
    agent_id: int | None,
    team_id: int | None,
    zone: ZoneInfo,
    now: datetime,
    max_ids: int,
) -> BulkResult:
    """Give every selected attention that is not closed to this group and agent (S5): a group the
    actor sees, and an agent that is an active member of it (none: the group's, unassigned)."""
    sales_panel.require_panel(actor)
    if team_id is None:
        raise fail(ErrorCode.REQUIRED, "Give the group the attentions go to", "teamId")
    await sales_panel.check_group(session, actor, team_id=team_id, agent_id=agent_id)
    chosen = await _select(session, actor, flt, zone=zone, now=now, max_ids=max_ids)
    missing = _missing(flt, chosen.ids)
    kinds: list[BulkOutcome] = []
    moving: list[int] = []
    by_team: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, status, team, agent in zip(chosen.ids, chosen.statuses, chosen.team_ids, chosen.agent_ids, strict=True):
        if status == CLOSED:
            kinds.append(BulkOutcome.REJECTED)
        elif team == team_id and agent == agent_id:
            kinds.append(BulkOutcome.UNCHANGED)
        else:
            kinds.append(BulkOutcome.TRANSFERRED)
            moving.append(i)
            by_team[tuple(sorted({team, team_id}))].append(i)

    def outcomes() -> list[AttentionOutcome]:
        return missing + [
            AttentionOutcome(i, k, BulkRejection.ALREADY_CLOSED if k is BulkOutcome.REJECTED else None)
            for i, k in zip(chosen.ids, kinds, strict=True)
        ]

    counts = Counter(kinds) + Counter({BulkOutcome.REJECTED: len(missing)})
    result = BulkResult(counts, outcomes)
    if not moving:
        return result
    names = dict((await session.execute(select(Team.id, Team.name).where(Team.id == team_id))).all())
    target_name = await session.scalar(select(User.name).where(User.id == agent_id)) if agent_id else None
    already = counts[BulkOutcome.REJECTED] - len(missing)
    rejections = Counter({BulkRejection.ALREADY_CLOSED: already, BulkRejection.NOT_FOUND: len(missing)})
    teams = sorted({t for key in by_team for t in key})
    result.event_id = await _record_batch(
        session,
        actor,
        AuditAction.TRANSFERRED,
        f"{len(moving)} sales attentions transferred",
        {
            **_tallies(counts, rejections),
            "team": {"before": None, "after": names[team_id]},
            "teamId": {"before": None, "after": team_id},
            "agent": {"before": None, "after": target_name},
            "agentId": {"before": None, "after": agent_id},
        },
        teams,
    )
    dialect = session.get_bind().dialect.name
    previous_agent, previous_team = aliased(User), aliased(Team)
    await audit.record_entries(
        session,
        actor=actor,
        action=AuditAction.TRANSFERRED,
        resource_type=ResourceType.SALES_ATTENTION,
        batch_id=result.event_id,
        rows=_entries(
            moving,
            dialect,
            json_object(
                "agent",
                json_object("before", previous_agent.name, "after", literal(target_name, String)),
                "agentId",
                json_object("before", SalesAttention.agent_id, "after", literal(agent_id, BigInteger)),
                "team",
                json_object("before", previous_team.name, "after", names[team_id]),
                "teamId",
                json_object("before", SalesAttention.team_id, "after", team_id),
            ),
            # Filed under the group it goes to: whose supervisors see the attention from now on.
            literal(team_id, BigInteger),
        )
        .outerjoin(previous_agent, previous_agent.id == SalesAttention.agent_id)
        .join(previous_team, previous_team.id == SalesAttention.team_id),
    )
    written = await execute_counting(
        session,
        update(SalesAttention)
        .where(in_ids(SalesAttention.id, moving, dialect))
        .values(agent_id=agent_id, team_id=team_id, updated_at=now),
    )
    if written != len(moving):
        raise ConcurrentChange("a locked attention changed")
    _announce(session, AuditAction.TRANSFERRED, by_team)
    if agent_id is not None and agent_id != actor.user_id:
        count = len(moving)
        await notifications.notify(
            session,
            user_id=agent_id,
            kind=NotificationKind.ATTENTIONS_TRANSFERRED,
            message=f"{actor.name} transferred {count} sales attention{'' if count == 1 else 's'} to you",
            payload={"attentionIds": moving[: events.BATCH], "count": count},
        )
    return result
