"""Working a gestión (G4, G5): attend it, save a comment or a result, and save-and-next.

An operator works the gestiones it sees (db.scopes.gestiones): those it was given and, in the
campaigns it operates, those nobody was given yet (the pool). Claiming one is a row lock:
attending waits for the row, and save-and-next's hand-out takes the first row nobody holds
(FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer at a time), so two operators
never get the same gestión.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.keyset import order_by
from db.models import (
    Campaign,
    CampaignStatus,
    Contact,
    Gestion,
    GestionComment,
    GestionStatus,
    Role,
)
from services import audit, gestiones, typologies
from services.audit import AuditAction
from services.common import require_storable
from services.errors import ErrorCode, fail, forbidden, not_found
from services.gestiones import GestionChange, queue_keys
from services.principal import Principal

MAX_COMMENT = 4000


@dataclass(frozen=True)
class Saved:
    gestion: Gestion
    # Save-and-next: the operator's next gestión, already claimed; None when none is waiting.
    next: Gestion | None = None


def _require_operator(actor: Principal) -> None:
    if actor.role is not Role.AGENT:
        raise forbidden("Only operators (agents) work gestiones")


async def _locked(session: AsyncSession, actor: Principal, gestion_id: int) -> tuple[Gestion, Campaign]:
    """The gestión locked for this operator, with its campaign: one it sees (its own, or one of
    its campaigns' pool), else it reads as missing, whoever holds it (R3); seen by someone who
    is no operator, it is FORBIDDEN.

    On PostgreSQL a row another operator claimed while this call waited for its lock is read
    again as it is then, so it no longer matches and is missing too."""
    stmt = scopes.gestiones(select(Gestion).where(Gestion.id == gestion_id), actor)
    gestion = await _with_client(session, stmt)
    if gestion is None:
        raise not_found("Gestión", "id")
    _require_operator(actor)
    return gestion, await session.get_one(Campaign, gestion.campaign_id)


async def _claim(session: AsyncSession, actor: Principal, gestion: Gestion, campaign: Campaign) -> Gestion:
    before = gestiones.snapshot(gestion, None)
    gestion.status = GestionStatus.IN_PROGRESS.value
    gestion.operator_id = actor.user_id
    gestion.claimed_at = utcnow()
    await session.flush()
    changed = audit.changes(before, gestiones.snapshot(gestion, None))
    await gestiones.record(session, actor, gestion, campaign, AuditAction.ATTENDED, changed)
    gestiones.announce_change(session, gestion, campaign, GestionChange.ATTENDED, None)
    return gestion


async def attend(session: AsyncSession, actor: Principal, gestion_id: int) -> Gestion:
    """PENDING → IN_PROGRESS for this operator (G4); attending one's own in-progress one is a no-op."""
    gestion, campaign = await _locked(session, actor, gestion_id)
    if gestion.status == GestionStatus.FINISHED.value:
        raise fail(ErrorCode.CONFLICT, "This gestión is finished", "id")
    if gestion.status == GestionStatus.IN_PROGRESS.value:
        return gestion
    if CampaignStatus(campaign.status) is not CampaignStatus.ACTIVE:
        raise fail(ErrorCode.INACTIVE, f"Its campaign is {campaign.status.lower()}: it hands out no work", "id")
    return await _claim(session, actor, gestion, campaign)


def _comment(value: str | None) -> str | None:
    if value is None:
        return None
    text = require_storable(value.strip(), "comment")
    if len(text) > MAX_COMMENT:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_COMMENT} characters", "comment")
    return text or None


async def save(
    session: AsyncSession,
    actor: Principal,
    gestion_id: int,
    *,
    comment: str | None,
    result_code: str | None,
    next: bool,
) -> Saved:
    """Leave a comment (it stays open) and/or give a result from the typology's catalogue (G5).

    A result that finishes closes it; one that does not (no answer, call back) puts it back in
    the operator's queue, after the ones tried fewer times. With `next`, the same call claims
    and returns the operator's next gestión; the one saved, if still open, goes back to pending.
    """
    text = _comment(comment)
    if text is None and result_code is None:
        raise fail(ErrorCode.REQUIRED, "Leave a comment or finish it with a result", "comment")
    gestion, campaign = await _locked(session, actor, gestion_id)
    if gestion.status == GestionStatus.FINISHED.value:
        raise fail(ErrorCode.CONFLICT, "This gestión is finished", "id")
    if gestion.status != GestionStatus.IN_PROGRESS.value:
        raise fail(ErrorCode.CONFLICT, "Attend this gestión before saving it", "id")
    result = None
    if result_code is not None:
        result = await typologies.result_by_code(session, campaign.typology_id, result_code, "finish.resultCode")
        if result.requires_comment and text is None:
            raise fail(ErrorCode.REQUIRED, f"A comment is required with {result.label}", "comment")
    before = gestiones.snapshot(gestion, await gestiones.result_code(session, gestion.result_id))
    now = utcnow()
    if text is not None:
        session.add(GestionComment(gestion_id=gestion.id, author_id=actor.user_id, author_name=actor.name, body=text))
    if result is not None:
        gestion.result_id = result.id
        if result.finishes:
            gestion.status = GestionStatus.FINISHED.value
            gestion.finished_at = now
            action, change = AuditAction.FINISHED, GestionChange.FINISHED
        else:
            gestion.status = GestionStatus.PENDING.value
            gestion.attempts += 1
            gestion.claimed_at = None
            action, change = AuditAction.RESULT_RECORDED, GestionChange.RESULT_RECORDED
    elif next:
        gestion.status = GestionStatus.PENDING.value
        gestion.claimed_at = None
        action, change = AuditAction.COMMENTED, GestionChange.RELEASED
    else:
        action, change = AuditAction.COMMENTED, GestionChange.COMMENTED
    gestion.updated_at = now
    await session.flush()
    code = result.code if result is not None else before["result"]
    changed: dict[str, Any] = audit.changes(before, gestiones.snapshot(gestion, code))
    if text is not None:
        changed["comment"] = {"before": None, "after": text}
    await gestiones.record(session, actor, gestion, campaign, action, changed)
    gestiones.announce_change(session, gestion, campaign, change, code)
    following = await claim_next(session, actor, exclude=gestion.id) if next else None
    return Saved(gestion=gestion, next=following)


async def _first_free(session: AsyncSession, stmt: Select[Any], exclude: int | None) -> Gestion | None:
    """The first row of `stmt` in queue order that nobody else holds, locked."""
    if exclude is not None:
        stmt = stmt.where(Gestion.id != exclude)
    return await _with_client(session, stmt.order_by(*order_by(queue_keys())).limit(1), skip_locked=True)


async def _with_client(session: AsyncSession, stmt: Select[Any], *, skip_locked: bool = False) -> Gestion | None:
    """The gestión `stmt` selects, locked, its client's name read in the same statement."""
    locked = (
        stmt.join(Contact, Contact.id == Gestion.contact_id)
        .add_columns(gestiones.client_name_column())
        .with_for_update(of=Gestion, skip_locked=skip_locked)
    )
    row = (await session.execute(locked)).first()
    if row is None:
        return None
    gestion: Gestion = row[0]
    gestiones.remember_client(session, gestion.contact_id, row.client_name)
    return gestion


async def _by_first_in_queue(
    session: AsyncSession, pool: Select[Any], campaign_ids: list[int], exclude: int | None
) -> list[int]:
    """The campaigns in the order of the first gestión waiting in each (read without locking)."""
    if len(campaign_ids) <= 1:
        return campaign_ids
    heads = []
    for campaign_id in campaign_ids:
        stmt = pool.where(Gestion.campaign_id == campaign_id)
        if exclude is not None:
            stmt = stmt.where(Gestion.id != exclude)
        head = (
            await session.execute(
                stmt.with_only_columns(Gestion.priority, Gestion.attempts, Gestion.id)
                .order_by(*order_by(queue_keys()))
                .limit(1)
            )
        ).first()
        if head is not None:
            heads.append(((-head.priority, head.attempts, head.id), campaign_id))
    return [campaign_id for _, campaign_id in sorted(heads)]


async def claim_next(session: AsyncSession, actor: Principal, *, exclude: int | None = None) -> Gestion | None:
    """Claim the operator's next gestión: its own pending ones first, then the pool of the active
    campaigns it operates; each in queue order. Rows another operator is claiming are skipped."""
    _require_operator(actor)
    pending = Gestion.status == GestionStatus.PENDING.value
    active = select(Campaign.id).where(Campaign.status == CampaignStatus.ACTIVE.value)
    own = select(Gestion).where(pending, Gestion.operator_id == actor.user_id, Gestion.campaign_id.in_(active))
    found = await _first_free(session, own, exclude)
    if found is None:
        # The pool is read one campaign at a time (the active ones an operator sees are those it
        # operates), its id a plain condition: with the campaigns as a subquery, PostgreSQL sorted
        # the whole pool instead of walking the partial index ix_gestiones_campaign_pool (673 ms
        # against 0.4 ms at 200,000 pending).
        campaign_ids = sorted(await session.scalars(scopes.campaigns(active, actor)))
        pool = select(Gestion).where(pending, Gestion.operator_id.is_(None))
        for campaign_id in await _by_first_in_queue(session, pool, campaign_ids, exclude):
            found = await _first_free(session, pool.where(Gestion.campaign_id == campaign_id), exclude)
            if found is not None:
                break
    if found is None:
        return None
    campaign = await session.get_one(Campaign, found.campaign_id)
    return await _claim(session, actor, found, campaign)
