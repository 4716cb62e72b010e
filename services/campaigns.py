"""Campaigns (G1): a typology, a team, a status and the operators who work it.

Admins manage every campaign, supervisors those of the teams they see; agents see the
campaigns they operate. Only ACTIVE campaigns hand out work (services.gestion_work).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Campaign, CampaignOperator, CampaignStatus, Role, User
from db.search import matches
from db.sets import insert_skipping_existing
from services import audit, events, teams, typologies
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name
from services.errors import ErrorCode, fail, forbidden, not_found
from services.principal import Principal

# Where a campaign may go from each status; CLOSED is final.
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.ACTIVE, CampaignStatus.CLOSED}),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.CLOSED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.ACTIVE, CampaignStatus.CLOSED}),
    CampaignStatus.CLOSED: frozenset(),
}
_ACTIONS = {
    CampaignStatus.ACTIVE: AuditAction.ACTIVATED,
    CampaignStatus.PAUSED: AuditAction.PAUSED,
    CampaignStatus.CLOSED: AuditAction.CLOSED,
}
MAX_OPERATORS_PER_CALL = 500


class CampaignOrder(enum.StrEnum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"


@dataclass(frozen=True)
class CampaignFilter:
    search: str | None = None
    statuses: tuple[CampaignStatus, ...] = ()
    team_ids: tuple[int, ...] = ()
    typology_ids: tuple[int, ...] = ()
    operator_ids: tuple[int, ...] = ()


def filtered(viewer: Principal, flt: CampaignFilter) -> Select[Campaign]:
    stmt = scopes.campaigns(select(Campaign), viewer)
    if flt.search and flt.search.strip():
        stmt = stmt.where(matches(flt.search, Campaign.search_name))
    if flt.statuses:
        stmt = stmt.where(Campaign.status.in_([s.value for s in flt.statuses]))
    if flt.team_ids:
        stmt = stmt.where(Campaign.team_id.in_(flt.team_ids))
    if flt.typology_ids:
        stmt = stmt.where(Campaign.typology_id.in_(flt.typology_ids))
    if flt.operator_ids:
        operated = select(CampaignOperator.campaign_id).where(CampaignOperator.user_id.in_(flt.operator_ids))
        stmt = stmt.where(Campaign.id.in_(operated))
    return stmt


def _keys(order: CampaignOrder, descending: bool) -> tuple[SortKey, ...]:
    first = {
        CampaignOrder.NAME: SortKey(Campaign.search_name, "search_name", "str", descending),
        CampaignOrder.CREATED_AT: SortKey(Campaign.created_at, "created_at", "datetime", descending),
    }[order]
    return (first, SortKey(Campaign.id, "id", "int", descending))


async def list_campaigns(
    session: AsyncSession,
    viewer: Principal,
    flt: CampaignFilter,
    page: PageRequest,
    *,
    order: CampaignOrder = CampaignOrder.NAME,
    descending: bool = False,
    max_page_size: int,
) -> tuple[Page[Campaign], Select[Campaign]]:
    stmt = filtered(viewer, flt)
    result = await paginate(session, stmt, keys=_keys(order, descending), request=page, max_page_size=max_page_size)
    return result, stmt


async def get_visible(
    session: AsyncSession,
    viewer: Principal,
    campaign_id: int,
    field: str = "id",
    *,
    lock: Literal["update", "share"] | None = None,
) -> Campaign:
    """The campaign if the viewer sees it; missing and hidden read the same.

    lock="update" to change the campaign, "share" to change its gestiones: those calls run
    side by side, and a status change waits for them (and they for it)."""
    stmt = scopes.campaigns(select(Campaign).where(Campaign.id == campaign_id), viewer)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    campaign = (await session.execute(stmt)).scalar_one_or_none()
    if campaign is None:
        raise not_found("Campaign", field)
    return campaign


async def get_managed(
    session: AsyncSession,
    actor: Principal,
    campaign_id: int,
    field: str = "id",
    *,
    lock: Literal["update", "share"] | None = None,
) -> Campaign:
    """A campaign the actor manages: admins, and supervisors of its team (agents only work them)."""
    campaign = await get_visible(session, actor, campaign_id, field, lock=lock)
    require_manager(actor)
    return campaign


def require_manager(actor: Principal) -> None:
    if actor.role is Role.AGENT:
        raise forbidden("Only admins and supervisors manage campaigns")


def snapshot(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "typologyId": campaign.typology_id,
        "teamId": campaign.team_id,
        "status": campaign.status,
        "startsOn": campaign.starts_on.isoformat() if campaign.starts_on else None,
        "endsOn": campaign.ends_on.isoformat() if campaign.ends_on else None,
    }


async def record(
    session: AsyncSession, actor: Principal, campaign: Campaign, action: AuditAction, changed: dict[str, Any]
) -> int:
    """Audit an event on a campaign, seen by its team's supervisors."""
    return await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.CAMPAIGN,
        resource_id=campaign.id,
        resource_name=campaign.name,
        team_ids=[campaign.team_id],
        changed=changed,
    )


def _check_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise fail(ErrorCode.INVALID, "The campaign cannot end before it starts", "endsOn")


async def create_campaign(
    session: AsyncSession,
    actor: Principal,
    *,
    name: str,
    typology_id: int,
    team_id: int,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Campaign:
    require_manager(actor)
    name = clean_name(name, "name")
    typology = await typologies.get(session, typology_id, "typologyId")
    if not typology.active:
        raise fail(ErrorCode.INACTIVE, "This typology is inactive: it takes no new campaigns", "typologyId")
    await teams.get_visible(session, actor, team_id, "teamId")
    _check_dates(starts_on, ends_on)
    campaign = Campaign(
        name=name,
        typology_id=typology.id,
        team_id=team_id,
        status=CampaignStatus.DRAFT.value,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    session.add(campaign)
    await session.flush()
    await record(session, actor, campaign, AuditAction.CREATED, audit.changes({}, snapshot(campaign)))
    return campaign


async def update_campaign(
    session: AsyncSession,
    actor: Principal,
    campaign_id: int,
    *,
    name: Maybe[str] = UNSET,
    starts_on: Maybe[date | None] = UNSET,
    ends_on: Maybe[date | None] = UNSET,
) -> Campaign:
    """Rename or change the dates; the typology and the team are fixed once gestiones exist."""
    campaign = await get_managed(session, actor, campaign_id, lock="update")
    if CampaignStatus(campaign.status) is CampaignStatus.CLOSED:
        raise fail(ErrorCode.CONFLICT, "This campaign is closed", "id")
    before = snapshot(campaign)
    if name is not UNSET:
        campaign.name = clean_name(name, "name")
    if starts_on is not UNSET:
        campaign.starts_on = starts_on
    if ends_on is not UNSET:
        campaign.ends_on = ends_on
    _check_dates(campaign.starts_on, campaign.ends_on)
    changed = audit.changes(before, snapshot(campaign))
    if changed:
        await session.flush()
        await record(session, actor, campaign, AuditAction.UPDATED, changed)
    return campaign


async def set_status(session: AsyncSession, actor: Principal, campaign_id: int, status: CampaignStatus) -> Campaign:
    """DRAFT → ACTIVE ⇄ PAUSED → CLOSED (CLOSED is final). Only ACTIVE campaigns hand out work."""
    campaign = await get_managed(session, actor, campaign_id, lock="update")
    current = CampaignStatus(campaign.status)
    if current is status:
        return campaign
    if status not in TRANSITIONS[current]:
        raise fail(ErrorCode.CONFLICT, f"A {current.value} campaign cannot become {status.value}", "status")
    campaign.status = status.value
    await session.flush()
    await record(
        session, actor, campaign, _ACTIONS[status], {"status": {"before": current.value, "after": status.value}}
    )
    operators = await operator_ids(session, campaign.id)
    events.emit(
        session,
        events.EventKind.CAMPAIGN_CHANGED,
        {"campaignId": campaign.id, "campaignName": campaign.name, "status": status.value},
        users=operators,
        managers_of=[campaign.team_id],
    )
    return campaign


async def operator_ids(session: AsyncSession, campaign_id: int) -> list[int]:
    return list(
        await session.scalars(
            select(CampaignOperator.user_id)
            .where(CampaignOperator.campaign_id == campaign_id)
            .order_by(CampaignOperator.user_id)
        )
    )


async def operated_among(session: AsyncSession, user_id: int, campaign_ids: Sequence[int]) -> list[int]:
    """Which of these campaigns the user operates."""
    return list(
        await session.scalars(
            select(CampaignOperator.campaign_id).where(
                CampaignOperator.user_id == user_id, CampaignOperator.campaign_id.in_(list(campaign_ids))
            )
        )
    )


async def check_operators(
    session: AsyncSession, actor: Principal, user_ids: Sequence[int], field: str, *, listed: bool = True
) -> list[User]:
    """Active AGENTs the actor sees, each once; the first problem names its position in `user_ids`
    (`field.2`; `field` itself when not `listed`: one operator given alone)."""
    if len(user_ids) > MAX_OPERATORS_PER_CALL:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_OPERATORS_PER_CALL} operators at once", field)
    ids = list(dict.fromkeys(user_ids))
    found = {u.id: u for u in await session.scalars(scopes.users(select(User).where(User.id.in_(ids)), actor))}
    for i, user_id in enumerate(user_ids):
        path = f"{field}.{i}" if listed else field
        user = found.get(user_id)
        if user is None:
            raise not_found("User", path)
        if user.role != Role.AGENT.value or not user.is_active:
            raise fail(ErrorCode.INVALID, "Operators must be active users with the AGENT role", path)
    return [found[i] for i in ids]


def _operators(users: Sequence[tuple[int, str | None]]) -> dict[str, Any]:
    """Operators linked or unlinked, as the audit trail names them: their ids, and their names beside."""
    return {"operatorIds": [user_id for user_id, _ in users], "operators": [name for _, name in users]}


async def add_operators(session: AsyncSession, actor: Principal, campaign_id: int, user_ids: Sequence[int]) -> Campaign:
    campaign = await get_managed(session, actor, campaign_id, "campaignId", lock="update")
    users = await check_operators(session, actor, user_ids, "operatorIds")
    current = set(await operator_ids(session, campaign.id))
    added = [u for u in users if u.id not in current]
    if added:
        dialect = session.get_bind().dialect.name
        await session.execute(
            insert_skipping_existing(CampaignOperator, dialect),
            [{"campaign_id": campaign.id, "user_id": u.id} for u in added],
        )
        await record(
            session,
            actor,
            campaign,
            AuditAction.OPERATOR_ADDED,
            audit.changes({}, _operators([(u.id, u.name) for u in added])),
        )
    return campaign


async def remove_operators(
    session: AsyncSession, actor: Principal, campaign_id: int, user_ids: Sequence[int]
) -> Campaign:
    """Take operators off a campaign; the gestiones they hold stay theirs until transferred."""
    campaign = await get_managed(session, actor, campaign_id, "campaignId", lock="update")
    ids = list(dict.fromkeys(user_ids))
    current = set(await operator_ids(session, campaign.id))
    removed = [i for i in ids if i in current]
    if removed:
        names = dict((await session.execute(select(User.id, User.name).where(User.id.in_(removed)))).all())
        await session.execute(
            delete(CampaignOperator).where(
                CampaignOperator.campaign_id == campaign.id, CampaignOperator.user_id.in_(removed)
            )
        )
        await record(
            session,
            actor,
            campaign,
            AuditAction.OPERATOR_REMOVED,
            audit.changes(_operators([(i, names.get(i)) for i in removed]), {}),
        )
    return campaign
