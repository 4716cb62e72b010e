"""The sales panel's catalogues (S1): interests, origins (web form, WhatsApp, referral, campaign…)
and close reasons, managed by admins and read by everyone signed in (agents create attentions).

Entries are never deleted, since attentions point at them: they are deactivated, and an
attention keeps one it chose before (services.sales_panel.require_entry, allow_inactive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import SalesCatalogEntry, SalesCatalogKind
from services import audit
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique, require_admin
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal

MIN_POSITION, MAX_POSITION = -1_000_000, 1_000_000
_UNIQUE = {"uq_sales_catalog_entries_kind_name": ("This catalogue already has an entry with that name", "name")}


@dataclass(frozen=True)
class EntryChanges:
    name: Maybe[str] = UNSET
    position: Maybe[int] = UNSET
    active: Maybe[bool] = UNSET


async def list_entries(
    session: AsyncSession, viewer: Principal, kind: SalesCatalogKind, *, include_inactive: bool = False
) -> list[SalesCatalogEntry]:
    """One catalogue in its order (position, then name). `viewer` is signed in: anyone may read it."""
    stmt = select(SalesCatalogEntry).where(SalesCatalogEntry.kind == kind.value)
    if not include_inactive:
        stmt = stmt.where(SalesCatalogEntry.active.is_(True))
    order = (SalesCatalogEntry.position, SalesCatalogEntry.search_name, SalesCatalogEntry.id)
    return list(await session.scalars(stmt.order_by(*order)))


def _position(value: int, field: str = "position") -> int:
    if not MIN_POSITION <= value <= MAX_POSITION:
        raise fail(ErrorCode.INVALID, f"Must be between {MIN_POSITION} and {MAX_POSITION}", field)
    return value


def snapshot(entry: SalesCatalogEntry) -> dict[str, Any]:
    return {"kind": entry.kind, "name": entry.name, "position": entry.position, "active": entry.active}


async def _record(
    session: AsyncSession, actor: Principal, entry: SalesCatalogEntry, action: AuditAction, changed: dict[str, Any]
) -> None:
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.SALES_CATALOG_ENTRY,
        resource_id=entry.id,
        resource_name=entry.name,
        changed=changed,
    )


async def create_entry(
    session: AsyncSession, actor: Principal, *, kind: SalesCatalogKind, name: str, position: int | None = None
) -> SalesCatalogEntry:
    """A new active entry, last in its catalogue unless `position` says."""
    require_admin(actor, "manage the sales catalogues")
    cleaned = clean_name(name, "name")
    if position is None:
        last = await session.scalar(
            select(func.max(SalesCatalogEntry.position)).where(SalesCatalogEntry.kind == kind.value)
        )
        position = min((last or 0) + 1, MAX_POSITION) if last is not None else 0
    entry = SalesCatalogEntry(kind=kind.value, name=cleaned, position=_position(position), active=True)
    session.add(entry)
    await flush_unique(session, *_UNIQUE["uq_sales_catalog_entries_kind_name"], by_index=_UNIQUE)
    await _record(session, actor, entry, AuditAction.CREATED, audit.changes({}, snapshot(entry)))
    return entry


async def update_entry(
    session: AsyncSession, actor: Principal, entry_id: int, changes: EntryChanges
) -> SalesCatalogEntry:
    """Rename, move or (de)activate an entry; attentions that chose it keep it."""
    require_admin(actor, "manage the sales catalogues")
    entry = (
        await session.execute(select(SalesCatalogEntry).where(SalesCatalogEntry.id == entry_id).with_for_update())
    ).scalar_one_or_none()
    if entry is None:
        raise not_found("Sales catalogue entry", "id")
    before = snapshot(entry)
    if changes.name is not UNSET:
        entry.name = clean_name(changes.name, "name")
    if changes.position is not UNSET:
        entry.position = _position(changes.position)
    if changes.active is not UNSET:
        entry.active = changes.active
    await flush_unique(session, *_UNIQUE["uq_sales_catalog_entries_kind_name"], by_index=_UNIQUE)
    changed = audit.changes(before, snapshot(entry))
    if changed:
        action = AuditAction.UPDATED
        if set(changed) == {"active"}:
            action = AuditAction.ACTIVATED if entry.active else AuditAction.DEACTIVATED
        await _record(session, actor, entry, action, changed)
    return entry
