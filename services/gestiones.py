"""Gestiones (G2, G3): the operator panel, bulk add, distribution, transfer and reopening.

Working one (attend, save, save-and-next) is services.gestion_work. Every bulk write is
set-based: the rows chosen travel as one parameter (db.sets) into INSERT … SELECT and
UPDATE … FROM, and each gestión's history entry is written the same way
(audit.record_entries). At most one open gestión per client and campaign is the database's
rule (the partial unique index uq_gestiones_open_contact), not a check here.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Select, String, func, literal, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db import scopes
from db.base import utcnow
from db.keyset import Page, PageRequest, SortKey, order_by, paginate
from db.models import (
    Campaign,
    CampaignStatus,
    Contact,
    Gestion,
    GestionStatus,
    NotificationKind,
    Role,
    TypologyResult,
    User,
)
from db.search import search_terms, storable
from db.sets import execute_counting, in_ids, insert_skipping_existing, int_table, json_object
from services import audit, campaigns, contacts, events, notifications, typologies
from services.audit import AuditAction, ResourceType
from services.contacts import ContactFilter, Refusal
from services.errors import ConcurrentChange, ErrorCode, fail, forbidden, not_found
from services.principal import Principal

MIN_PRIORITY, MAX_PRIORITY = -1000, 1000


class GestionOrder(enum.StrEnum):
    # The order save-and-next hands them out: priority first, fewer attempts, oldest.
    PRIORITY = "PRIORITY"
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@dataclass(frozen=True)
class GestionFilter:
    campaign_ids: tuple[int, ...] = ()
    # Last and/or first names, accents and case ignored (G3: the panel's own search).
    search: str | None = None
    result_codes: tuple[str, ...] = ()
    statuses: tuple[GestionStatus, ...] = ()
    operator_ids: tuple[int, ...] = ()
    # True: nobody's yet; False: someone's.
    unassigned: bool | None = None
    contact_ids: tuple[int, ...] = ()


def queue_keys(descending: bool = False) -> tuple[SortKey, ...]:
    return (
        SortKey(Gestion.priority, "priority", "int", not descending),
        SortKey(Gestion.attempts, "attempts", "int", descending),
        SortKey(Gestion.id, "id", "int", descending),
    )


def sort_keys(order: GestionOrder, descending: bool) -> tuple[SortKey, ...]:
    if order is GestionOrder.PRIORITY:
        return queue_keys(descending)
    first = {
        GestionOrder.NAME: SortKey(Contact.sort_name, "sort_name", "str", descending),
        GestionOrder.CREATED_AT: SortKey(Gestion.created_at, "created_at", "datetime", descending),
        GestionOrder.UPDATED_AT: SortKey(Gestion.updated_at, "updated_at", "datetime", descending),
    }[order]
    return (first, SortKey(Gestion.id, "id", "int", descending))


def filtered(viewer: Principal, flt: GestionFilter) -> Select[Any]:
    stmt = scopes.gestiones(select(Gestion), viewer)
    if flt.campaign_ids:
        stmt = stmt.where(Gestion.campaign_id.in_(flt.campaign_ids))
    if flt.statuses:
        stmt = stmt.where(Gestion.status.in_([s.value for s in flt.statuses]))
    if flt.operator_ids:
        stmt = stmt.where(Gestion.operator_id.in_(flt.operator_ids))
    if flt.unassigned is not None:
        stmt = stmt.where(Gestion.operator_id.is_(None) if flt.unassigned else Gestion.operator_id.is_not(None))
    if flt.contact_ids:
        stmt = stmt.where(Gestion.contact_id.in_(flt.contact_ids))
    if flt.result_codes:
        # A code no result can have is left out (an empty IN matches nothing).
        codes = [c.strip().upper() for c in flt.result_codes if storable(c)]
        stmt = stmt.where(Gestion.result_id.in_(select(TypologyResult.id).where(TypologyResult.code.in_(codes))))
    if flt.search and not storable(flt.search):
        # Text no contact could hold matches none (db.search.storable).
        return stmt.where(literal(False))
    terms = search_terms(flt.search) if flt.search else []
    if terms:
        # The name holds every term; search_text (which starts with the name) is there for
        # PostgreSQL's trigram index, so a name is not looked for by reading every contact.
        named = select(Contact.id).where(
            *(Contact.search_text.contains(t, autoescape=True) for t in terms),
            *(Contact.search_name.contains(t, autoescape=True) for t in terms),
        )
        stmt = stmt.where(Gestion.contact_id.in_(named))
    return stmt


async def list_gestiones(
    session: AsyncSession,
    viewer: Principal,
    flt: GestionFilter,
    page: PageRequest,
    *,
    order: GestionOrder = GestionOrder.PRIORITY,
    descending: bool = False,
    max_page_size: int,
) -> tuple[Page[Gestion], Select[Any]]:
    """A page of the panel (G3) and the statement for totalCount."""
    stmt = filtered(viewer, flt)
    keys = sort_keys(order, descending)
    if order is not GestionOrder.NAME:
        return await paginate(session, stmt, keys=keys, request=page, max_page_size=max_page_size), stmt
    # By the client's name: the contact's folded "last first", read beside each row for its cursor.
    by_name = stmt.join(Contact, Contact.id == Gestion.contact_id).add_columns(
        Contact.sort_name.label("sort_name"), Gestion.id.label("id")
    )
    found = await paginate(session, by_name, keys=keys, request=page, max_page_size=max_page_size, scalars=False)
    rows = [row[0] for row in found.rows]
    return Page(rows, found.cursors, found.has_next_page, found.has_previous_page), stmt


async def get_visible(
    session: AsyncSession, viewer: Principal, gestion_id: int, field: str = "id", *, lock: bool = False
) -> Gestion:
    stmt = scopes.gestiones(select(Gestion).where(Gestion.id == gestion_id), viewer)
    if lock:
        stmt = stmt.with_for_update()
    gestion = (await session.execute(stmt)).scalar_one_or_none()
    if gestion is None:
        raise not_found("Gestión", field)
    return gestion


# --- audit and events ----------------------------------------------------------------------------


def snapshot(gestion: Gestion, result_code: str | None) -> dict[str, Any]:
    return {
        "status": gestion.status,
        "operatorId": gestion.operator_id,
        "result": result_code,
        "priority": gestion.priority,
    }


_CLIENT_NAMES = "cartera_client_names"


def client_name_column() -> Any:
    return contacts.full_name().label("client_name")


def remember_client(session: AsyncSession, contact_id: int, name: str) -> None:
    """A client's name read along with its gestión, so its audit rows need not read it again."""
    session.info.setdefault(_CLIENT_NAMES, {})[contact_id] = name


async def contact_name(session: AsyncSession, contact_id: int) -> str:
    known: dict[int, str] = session.info.get(_CLIENT_NAMES, {})
    if contact_id in known:
        return known[contact_id]
    name: str = (await session.execute(select(contacts.full_name()).where(Contact.id == contact_id))).scalar_one()
    return name


async def record(
    session: AsyncSession,
    actor: Principal,
    gestion: Gestion,
    campaign: Campaign,
    action: AuditAction,
    changed: Mapping[str, Any],
) -> int:
    """Audit an event in the gestión's history, seen by its campaign team's supervisors."""
    return await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.GESTION,
        resource_id=gestion.id,
        resource_name=await contact_name(session, gestion.contact_id),
        team_ids=[campaign.team_id],
        changed=changed,
    )


class GestionChange(enum.StrEnum):
    ATTENDED = "ATTENDED"
    COMMENTED = "COMMENTED"
    RESULT_RECORDED = "RESULT_RECORDED"
    FINISHED = "FINISHED"
    RELEASED = "RELEASED"
    REOPENED = "REOPENED"


def announce_change(
    session: AsyncSession, gestion: Gestion, campaign: Campaign, change: GestionChange, result_code: str | None
) -> None:
    """A gestión's state changed: its operator and its campaign's supervisors hear it (RT)."""
    events.emit(
        session,
        events.EventKind.GESTION_CHANGED,
        {
            "gestionId": gestion.id,
            "campaignId": campaign.id,
            "change": change.value,
            "status": gestion.status,
            "resultCode": result_code,
            "operatorId": gestion.operator_id,
        },
        users=[gestion.operator_id],
        managers_of=[campaign.team_id],
    )


class AssignmentAction(enum.StrEnum):
    ASSIGNED = "ASSIGNED"
    TRANSFERRED = "TRANSFERRED"
    UNASSIGNED = "UNASSIGNED"


def announce_assignments(
    session: AsyncSession,
    campaign: Campaign,
    operator_id: int | None,
    previous_id: int | None,
    gestion_ids: Sequence[int],
) -> None:
    """Gestiones given to an operator (or taken from one) reach both inboxes live, in parts (RT3)."""
    if operator_id is None:
        action = AssignmentAction.UNASSIGNED
    else:
        action = AssignmentAction.ASSIGNED if previous_id is None else AssignmentAction.TRANSFERRED
    for part in events.batches(sorted(gestion_ids)):
        events.emit(
            session,
            events.EventKind.GESTIONES_ASSIGNED,
            {
                "action": action.value,
                "campaignId": campaign.id,
                "campaignName": campaign.name,
                "operatorId": operator_id,
                "previousOperatorId": previous_id,
                "gestionIds": list(part),
            },
            users=[operator_id, previous_id],
            managers_of=[campaign.team_id],
        )


def _entries(ids: Sequence[int], dialect: str, changes: Any, team_id: int) -> Select[Any]:
    """History rows (audit.record_entries) of these gestiones: named after their clients, seen by
    the supervisors of the campaign's team."""
    return (
        select(
            Gestion.id.label("resource_id"),
            contacts.full_name().label("resource_name"),
            Contact.search_name.label("folded_name"),
            changes.label("changes"),
            literal(team_id, BigInteger).label("team_id"),
        )
        .join(Contact, Contact.id == Gestion.contact_id)
        .where(in_ids(Gestion.id, ids, dialect))
    )


# --- bulk add (G2) -------------------------------------------------------------------------------


class AddOutcome(enum.StrEnum):
    CREATED = "CREATED"
    # The client already has an open gestión in this campaign (reported, not duplicated).
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class AddedGestion:
    contact_id: int
    outcome: AddOutcome
    gestion_id: int | None = None
    rejection: Refusal | None = None


@dataclass(frozen=True)
class GestionLine:
    """One client line with its own plan (an import), as opposed to one plan for a selection."""

    contact_id: int
    plan: object  # checked against the typology's plan fields
    priority: int | None = None


@dataclass
class AddResult:
    campaign: Campaign
    outcomes: list[AddedGestion]
    event_id: int | None = None
    counts: Counter[AddOutcome] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = Counter(o.outcome for o in self.outcomes)


def _priority(value: int | None, field: str) -> int:
    if value is None:
        return 0
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise fail(ErrorCode.INVALID, f"Priority goes from {MIN_PRIORITY} to {MAX_PRIORITY}", field)
    return value


def _once(contact_id: int, seen: Mapping[int, object], field: str) -> None:
    if contact_id in seen:
        raise fail(ErrorCode.ALREADY_EXISTS, "This client is given twice", field)


async def _open_campaign(session: AsyncSession, actor: Principal, campaign_id: int) -> Campaign:
    # FOR SHARE: a status change waits for this call, and this call for it.
    campaign = await campaigns.get_managed(session, actor, campaign_id, "campaignId", lock="share")
    if CampaignStatus(campaign.status) is CampaignStatus.CLOSED:
        raise fail(ErrorCode.CONFLICT, "This campaign is closed: it takes no new gestiones", "campaignId")
    return campaign


async def add_gestiones(
    session: AsyncSession,
    actor: Principal,
    campaign_id: int,
    *,
    selection: ContactFilter | None = None,
    plan: object = None,
    priority: int | None = None,
    lines: Sequence[GestionLine] | None = None,
    max_lines: int,
) -> AddResult:
    """One gestión per selected client (one plan for all), or per line (each with its plan).

    A plan that does not fit the typology refuses the whole call and writes nothing; clients
    that already have an open gestión here, or that cannot be selected, are reported per item.
    """
    campaign = await _open_campaign(session, actor, campaign_id)
    typology = await typologies.get(session, campaign.typology_id)
    dialect = session.get_bind().dialect.name
    plans: dict[int, tuple[dict[str, Any], int]] = {}
    if lines is not None:
        if len(lines) > max_lines:
            raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {max_lines} lines per call", "lines")
        problems = contacts.Problems()
        for i, line in enumerate(lines):
            problems.check(_once, line.contact_id, plans, f"lines.{i}.contactId")
            cleaned = problems.check(typologies.validate_plan, typology, line.plan, field=f"lines.{i}.plan")
            line_priority = problems.check(_priority, line.priority, f"lines.{i}.priority")
            if cleaned is not None and line_priority is not None:
                plans[line.contact_id] = (cleaned, line_priority)
        problems.raise_any()
        selection = ContactFilter(ids=tuple(plans))
    else:
        common = typologies.validate_plan(typology, {} if plan is None else plan, field="plan")
        default_priority = _priority(priority, "priority")
    assert selection is not None
    chosen, refused = await contacts.selected(session, actor, selection)
    outcomes = [AddedGestion(c, AddOutcome.REJECTED, rejection=why) for c, why in refused.items()]
    open_ = (
        select(Gestion.contact_id, Gestion.id)
        .where(Gestion.campaign_id == campaign.id, Gestion.status != GestionStatus.FINISHED.value)
        .where(in_ids(Gestion.contact_id, chosen.ids, dialect))
    )
    duplicates = dict((await session.execute(open_)).all())
    outcomes += [AddedGestion(c, AddOutcome.DUPLICATE, gestion_id=g) for c, g in duplicates.items()]
    new = [c for c in chosen.ids if c not in duplicates]
    result = AddResult(campaign=campaign, outcomes=outcomes)
    if not new:
        return result
    now = utcnow()
    stamp = {"campaign_id": campaign.id, "status": GestionStatus.PENDING.value, "attempts": 0}
    if lines is not None:
        rows = [
            {
                **stamp,
                "contact_id": c,
                "plan": plans[c][0],
                "priority": plans[c][1],
                "created_at": now,
                "updated_at": now,
            }
            for c in new
        ]
        inserted = await session.execute(
            insert_skipping_existing(Gestion, dialect).returning(Gestion.contact_id, Gestion.id), rows
        )
    else:
        picked = int_table(dialect, contact_id=new).subquery()
        columns = {
            "campaign_id": literal(campaign.id, BigInteger),
            "contact_id": picked.c.contact_id,
            "status": literal(GestionStatus.PENDING.value, String),
            "attempts": literal(0),
            "priority": literal(default_priority),
            "plan": literal(common, Gestion.plan.type),
            "created_at": literal(now, Gestion.created_at.type),
            "updated_at": literal(now, Gestion.updated_at.type),
        }
        statement = (
            insert_skipping_existing(Gestion, dialect)
            # WHERE true: SQLite reads "SELECT … ON CONFLICT" as a join's ON clause without it.
            .from_select(list(columns), select(*columns.values()).where(true()))
            .returning(Gestion.contact_id, Gestion.id)
        )
        inserted = await session.execute(statement)
    created: dict[int, int] = {contact: gestion for contact, gestion in inserted.all()}
    if len(created) != len(new):
        # Another call opened some of these meanwhile: decide again on what it committed.
        raise ConcurrentChange("an open gestión appeared for a selected client")
    result.outcomes += [AddedGestion(c, AddOutcome.CREATED, gestion_id=created[c]) for c in new]
    result.counts = Counter(o.outcome for o in result.outcomes)
    result.event_id = await campaigns.record(
        session,
        actor,
        campaign,
        AuditAction.BULK_CREATED,
        {
            "gestiones": {"before": None, "after": len(new)},
            "duplicates": {"before": None, "after": len(duplicates)},
            "rejected": {"before": None, "after": len(refused)},
        },
    )
    await audit.record_entries(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.GESTION,
        batch_id=result.event_id,
        rows=_entries(
            list(created.values()),
            dialect,
            json_object(
                "status",
                json_object("before", None, "after", GestionStatus.PENDING.value),
                "campaign",
                json_object("before", None, "after", campaign.name),
            ),
            campaign.team_id,
        ),
    )
    return result


# --- distribution and transfer ---------------------------------------------------------------


class Strategy(enum.StrEnum):
    # Deal the unassigned ones so that every operator ends with as many open gestiones as possible
    # alike: the least loaded get theirs first.
    EVEN = "EVEN"
    # Deal them one each in turn, in the order the operators are given, whatever they hold already.
    ROUND_ROBIN = "ROUND_ROBIN"


@dataclass
class Distribution:
    campaign: Campaign
    # Operator id -> how many gestiones it was given.
    given: dict[int, int]
    event_id: int | None = None

    @property
    def total(self) -> int:
        return sum(self.given.values())


def deal(strategy: Strategy, operators: Sequence[int], loads: Mapping[int, int], count: int) -> list[int]:
    """The operator of each of `count` gestiones, in queue order (operators given once each).

    ROUND_ROBIN: one each in the given order. EVEN: shares that raise the lowest open loads
    to a common level (the first ones by load, then as given, take the remainder), dealt in
    turns among those still owed some, least loaded first. Linear in `count`, whatever the loads.
    """
    if strategy is Strategy.ROUND_ROBIN:
        rounds, rest = divmod(count, len(operators))
        return list(operators) * rounds + list(operators[:rest])
    order = sorted(operators, key=lambda op: (loads.get(op, 0), operators.index(op)))
    owed = _even_shares([loads.get(op, 0) for op in order], count)
    sequence: list[int] = []
    # Round r deals one to each operator owed more than r: a prefix of `order` sorted by owed.
    dealt = 0
    for threshold in sorted(set(owed)):
        rounds = threshold - dealt
        if rounds > 0:
            sequence += [op for op, n in zip(order, owed, strict=True) if n >= threshold] * rounds
        dealt = threshold
    return sequence


def _even_shares(sorted_loads: Sequence[int], count: int) -> list[int]:
    """How many each gets (loads ascending) so the lowest rise together: water-filling."""
    n = len(sorted_loads)
    level, remaining, raised = sorted_loads[0], count, 1
    while raised < n and raised * (sorted_loads[raised] - level) <= remaining:
        remaining -= raised * (sorted_loads[raised] - level)
        level = sorted_loads[raised]
        raised += 1
    add, extra = divmod(remaining, raised)
    return [(level + add - load + (1 if i < extra else 0)) if i < raised else 0 for i, load in enumerate(sorted_loads)]


async def _operators_of(session: AsyncSession, actor: Principal, campaign: Campaign, ids: Sequence[int]) -> list[User]:
    users = await campaigns.check_operators(session, actor, ids, "operatorIds")
    working = set(await campaigns.operator_ids(session, campaign.id))
    by_id = {user.id: user for user in users}
    for i, user_id in enumerate(ids):
        if user_id not in working:
            raise fail(ErrorCode.INVALID, f"{by_id[user_id].name} does not operate this campaign", f"operatorIds.{i}")
    return users


async def distribute(
    session: AsyncSession, actor: Principal, campaign_id: int, operator_ids: Sequence[int], strategy: Strategy
) -> Distribution:
    """Give the campaign's unassigned pending gestiones to these operators (G2), set-based."""
    # FOR UPDATE: one distribution of a campaign at a time.
    campaign = await campaigns.get_managed(session, actor, campaign_id, "campaignId", lock="update")
    if CampaignStatus(campaign.status) is CampaignStatus.CLOSED:
        raise fail(ErrorCode.CONFLICT, "This campaign is closed", "campaignId")
    if not operator_ids:
        raise fail(ErrorCode.REQUIRED, "Name at least one operator", "operatorIds")
    users = await _operators_of(session, actor, campaign, operator_ids)
    dialect = session.get_bind().dialect.name
    # Those an operator is claiming from the pool right now are skipped, not waited for.
    pool = (
        select(Gestion.id)
        .where(
            Gestion.campaign_id == campaign.id,
            Gestion.status == GestionStatus.PENDING.value,
            Gestion.operator_id.is_(None),
        )
        .order_by(*order_by(queue_keys()))
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(pool))
    ops = [u.id for u in users]
    result = Distribution(campaign=campaign, given=dict.fromkeys(ops, 0))
    if not ids:
        return result
    loads: dict[int, int] = {}
    if strategy is Strategy.EVEN:
        held = (
            select(Gestion.operator_id, func.count())
            .where(
                Gestion.campaign_id == campaign.id,
                Gestion.status != GestionStatus.FINISHED.value,
                Gestion.operator_id.in_(ops),
            )
            .group_by(Gestion.operator_id)
        )
        loads = {op: int(n) for op, n in (await session.execute(held)).all() if op is not None}
    sequence = deal(strategy, ops, loads, len(ids))
    plan = int_table(dialect, id=ids, operator_id=sequence).subquery()
    updated = await execute_counting(
        session,
        update(Gestion)
        .where(Gestion.id == plan.c.id, Gestion.operator_id.is_(None))
        .values(operator_id=plan.c.operator_id, updated_at=utcnow()),
    )
    if updated != len(ids):
        raise ConcurrentChange("a locked gestión changed")
    by_operator: dict[int, list[int]] = defaultdict(list)
    for gestion_id, op in zip(ids, sequence, strict=True):
        by_operator[op].append(gestion_id)
    result.given.update({op: len(g) for op, g in by_operator.items()})
    names = {u.id: u.name for u in users}
    result.event_id = await campaigns.record(
        session,
        actor,
        campaign,
        AuditAction.ASSIGNED,
        {
            "strategy": {"before": None, "after": strategy.value},
            "given": {"before": None, "after": {names[op]: n for op, n in result.given.items()}},
        },
    )
    operator = aliased(User)
    await audit.record_entries(
        session,
        actor=actor,
        action=AuditAction.ASSIGNED,
        resource_type=ResourceType.GESTION,
        batch_id=result.event_id,
        rows=_entries(
            ids,
            dialect,
            json_object(
                "operator",
                json_object("before", None, "after", operator.name),
                "operatorId",
                json_object("before", None, "after", operator.id),
            ),
            campaign.team_id,
        ).join(operator, operator.id == Gestion.operator_id),
    )
    for op, given in by_operator.items():
        announce_assignments(session, campaign, op, None, given)
        await notify_given(session, actor, op, given, "assigned")
    return result


class TransferOutcome(enum.StrEnum):
    TRANSFERRED = "TRANSFERRED"
    UNCHANGED = "UNCHANGED"
    REJECTED = "REJECTED"


class TransferRejection(enum.StrEnum):
    NOT_VISIBLE = "NOT_VISIBLE"
    # Someone is attending it: it moves once they save it.
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"
    NOT_AN_OPERATOR = "NOT_AN_OPERATOR"


@dataclass(frozen=True)
class Transferred:
    gestion_id: int
    outcome: TransferOutcome
    rejection: TransferRejection | None = None


async def transfer(
    session: AsyncSession,
    actor: Principal,
    gestion_ids: Sequence[int],
    operator_id: int | None,
    *,
    max_ids: int,
) -> list[Transferred]:
    """Give these pending gestiones to another operator of their campaigns, or to nobody (None)."""
    if actor.role is Role.AGENT:
        raise forbidden("Only admins and supervisors transfer gestiones")
    if len(gestion_ids) > max_ids:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {max_ids} gestiones at once", "gestionIds")
    ids = list(dict.fromkeys(gestion_ids))
    target: User | None = None
    if operator_id is not None:
        (target,) = await campaigns.check_operators(session, actor, [operator_id], "operatorId", listed=False)
    dialect = session.get_bind().dialect.name
    # Locked in id order, as every bulk call locks: two transfers never wait in a circle.
    found = {
        g.id: g
        for g in await session.scalars(
            scopes.gestiones(select(Gestion).where(in_ids(Gestion.id, ids, dialect)), actor)
            .order_by(Gestion.id)
            .with_for_update()
        )
    }
    campaign_ids = sorted({g.campaign_id for g in found.values()})
    by_campaign = {c.id: c for c in await session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))}
    operating: set[int] = set()
    if target is not None:
        operating = set(await campaigns.operated_among(session, target.id, campaign_ids))
    outcomes: list[Transferred] = []
    moving: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    for gestion_id in ids:
        gestion = found.get(gestion_id)
        if gestion is None:
            outcomes.append(Transferred(gestion_id, TransferOutcome.REJECTED, TransferRejection.NOT_VISIBLE))
        elif gestion.status == GestionStatus.FINISHED.value:
            outcomes.append(Transferred(gestion_id, TransferOutcome.REJECTED, TransferRejection.FINISHED))
        elif gestion.status == GestionStatus.IN_PROGRESS.value:
            outcomes.append(Transferred(gestion_id, TransferOutcome.REJECTED, TransferRejection.IN_PROGRESS))
        elif target is not None and gestion.campaign_id not in operating:
            outcomes.append(Transferred(gestion_id, TransferOutcome.REJECTED, TransferRejection.NOT_AN_OPERATOR))
        elif gestion.operator_id == operator_id:
            outcomes.append(Transferred(gestion_id, TransferOutcome.UNCHANGED))
        else:
            moving[(gestion.campaign_id, gestion.operator_id)].append(gestion_id)
            outcomes.append(Transferred(gestion_id, TransferOutcome.TRANSFERRED))
    if not moving:
        return outcomes
    previous = aliased(User)
    for (campaign_id, previous_id), group in sorted(moving.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        campaign = by_campaign[campaign_id]
        event_id = await campaigns.record(
            session,
            actor,
            campaign,
            AuditAction.TRANSFERRED,
            {
                "gestiones": {"before": None, "after": len(group)},
                "operatorId": {"before": previous_id, "after": operator_id},
            },
        )
        await audit.record_entries(
            session,
            actor=actor,
            action=AuditAction.TRANSFERRED,
            resource_type=ResourceType.GESTION,
            batch_id=event_id,
            rows=_entries(
                group,
                dialect,
                json_object(
                    "operator",
                    json_object("before", previous.name, "after", target.name if target else None),
                    "operatorId",
                    json_object("before", previous.id, "after", operator_id),
                ),
                campaign.team_id,
            ).outerjoin(previous, previous.id == Gestion.operator_id),
        )
        announce_assignments(session, campaign, operator_id, previous_id, group)
    every = [g for group in moving.values() for g in group]
    now = utcnow()
    await session.execute(
        update(Gestion)
        .where(in_ids(Gestion.id, every, dialect))
        .values(operator_id=operator_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if operator_id is not None:
        await notify_given(session, actor, operator_id, every, "transferred")
    return outcomes


async def notify_given(
    session: AsyncSession, actor: Principal, operator_id: int, gestion_ids: Sequence[int], verb: str
) -> None:
    """One notification (S6) for the operator given these gestiones by someone else, per call."""
    if operator_id == actor.user_id or not gestion_ids:
        return
    count = len(gestion_ids)
    await notifications.notify(
        session,
        user_id=operator_id,
        kind=NotificationKind.GESTIONES_TRANSFERRED,
        message=f"{actor.name} {verb} {count} gesti{'ón' if count == 1 else 'ones'} to you",
        payload={"gestionIds": sorted(gestion_ids)[: events.BATCH], "count": count},
    )


# --- reopen --------------------------------------------------------------------------------------


async def reopen(session: AsyncSession, actor: Principal, gestion_id: int) -> Gestion:
    """A supervisor (or admin) opens a finished gestión again: pending, for the same operator."""
    gestion = await get_visible(session, actor, gestion_id, lock=True)
    if actor.role is Role.AGENT:
        raise forbidden("Only admins and supervisors reopen gestiones")
    if gestion.status != GestionStatus.FINISHED.value:
        raise fail(ErrorCode.CONFLICT, "Only a finished gestión can be reopened", "id")
    campaign = await session.get_one(Campaign, gestion.campaign_id)
    if CampaignStatus(campaign.status) is CampaignStatus.CLOSED:
        raise fail(ErrorCode.CONFLICT, "Its campaign is closed", "id")
    code = await result_code(session, gestion.result_id)
    before = snapshot(gestion, code)
    gestion.status = GestionStatus.PENDING.value
    gestion.result_id = None
    gestion.finished_at = None
    gestion.claimed_at = None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise fail(ErrorCode.CONFLICT, "This client already has an open gestión in the campaign", "id") from None
    await record(
        session, actor, gestion, campaign, AuditAction.REOPENED, audit.changes(before, snapshot(gestion, None))
    )
    announce_change(session, gestion, campaign, GestionChange.REOPENED, None)
    return gestion


async def result_code(session: AsyncSession, result_id: int | None) -> str | None:
    if result_id is None:
        return None
    return await session.scalar(select(TypologyResult.code).where(TypologyResult.id == result_id))
