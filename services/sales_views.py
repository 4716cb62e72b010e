"""Saved views of the sales panel (S4): per user and named, their columns in order and their
filters, one of them the user's default.

A view's filters are a services.sales_panel.SalesFilter as stored (to_stored), read back with
from_stored, and its rows are the panel's own (services.sales_attentions.list_attentions). The
panel is for admins and supervisors (S2), so views are too. "One default per user" is the
partial unique index uq_sales_views_user_default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import SalesView
from db.search import SearchTooLong, bounded
from services import audit, sales_columns, sales_panel
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique, require_storable
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal
from services.sales_panel import CUSTOM_FIELD_PREFIX, DEFAULT_COLUMNS, MAX_FILTERS, Column, SalesFilter

# What a column is called in a view's header and an export's first row.
COLUMN_LABELS: dict[Column, str] = {
    Column.FULL_NAME: "Full name",
    Column.PHONE: "Phone",
    Column.EMAIL: "E-mail",
    Column.INTEREST: "Interest",
    Column.ORIGIN: "Origin",
    Column.AGENT: "Agent",
    Column.GROUP: "Group",
    Column.STATUS: "Status",
    Column.CLOSE_REASON: "Close reason",
    Column.PENDING_SINCE: "Pending since",
    Column.CREATED_AT: "Created at",
    Column.CLOSED_AT: "Closed at",
    Column.UPDATED_AT: "Updated at",
    Column.COMPANY: "Company",
    Column.DOCUMENT_NUMBER: "Document number",
    Column.VIP: "VIP",
}
_UNIQUE = {
    "uq_sales_views_user_name": ("You already have a view with that name", "name"),
    "uq_sales_views_user_default": ("Another default view was set at the same time; try again", "isDefault"),
}
VIEW_KEYS = (SortKey(SalesView.search_name, "search_name", "str"), SortKey(SalesView.id, "id", "int"))


def column_label(column_id: str, labels: dict[str, str]) -> str:
    """A column's header: the panel's own, or its custom field's label (`labels` by key)."""
    if column_id.startswith(CUSTOM_FIELD_PREFIX):
        key = column_id.removeprefix(CUSTOM_FIELD_PREFIX)
        return labels.get(key, key)
    return COLUMN_LABELS[Column(column_id)]


async def validate_columns(session: AsyncSession, columns: Sequence[str], field: str = "columns") -> list[str]:
    """The columns an export would write (sales_columns.specs: the one check), kept as given."""
    await sales_columns.specs(session, columns, field)
    return list(columns)


def check_filter(flt: SalesFilter, *, zone: ZoneInfo, field: str = "filter") -> SalesFilter:
    """At most MAX_FILTERS at once, a period the panel can read, text it can store and match."""
    if flt.count() > MAX_FILTERS:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"A view holds at most {MAX_FILTERS} filters at once", field)
    sales_panel.period_of(flt, zone=zone, now=utcnow())
    for path, text in [
        ("text", flt.text or ""),
        *((f"customFields.{i}", k + v) for i, (k, v) in enumerate(flt.custom_fields)),
    ]:
        require_storable(text, f"{field}.{path}")
    try:
        bounded(flt.text or "")
    except SearchTooLong as error:
        raise fail(ErrorCode.TOO_LONG, str(error), f"{field}.text") from None
    return flt


def view_filter(view: SalesView) -> SalesFilter:
    return SalesFilter.from_stored(view.filters)


def snapshot(view: SalesView) -> dict[str, Any]:
    return {
        "name": view.name,
        "columns": list(view.columns),
        "filter": dict(view.filters),
        "isDefault": view.is_default,
    }


async def _record(session: AsyncSession, actor: Principal, view: SalesView, action: AuditAction, changed: Any) -> None:
    # A user's own view: no team's supervisors are told (the audit trail shows it to admins).
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.SALES_VIEW,
        resource_id=view.id,
        resource_name=view.name,
        changed=changed,
    )


async def _clear_default(session: AsyncSession, actor: Principal, but: int | None = None) -> None:
    stmt = update(SalesView).where(SalesView.user_id == actor.user_id, SalesView.is_default.is_(True))
    if but is not None:
        stmt = stmt.where(SalesView.id != but)
    await session.execute(stmt.values(is_default=False).execution_options(synchronize_session=False))


async def list_views(
    session: AsyncSession, viewer: Principal, page: PageRequest, *, max_page_size: int
) -> tuple[Page[SalesView], Any]:
    """The viewer's own views by name, and the statement for totalCount."""
    sales_panel.require_panel(viewer)
    stmt = scopes.sales_views(select(SalesView), viewer)
    return await paginate(session, stmt, keys=VIEW_KEYS, request=page, max_page_size=max_page_size), stmt


async def default_view(session: AsyncSession, viewer: Principal) -> SalesView | None:
    sales_panel.require_panel(viewer)
    stmt = scopes.sales_views(select(SalesView).where(SalesView.is_default.is_(True)), viewer)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _own(session: AsyncSession, actor: Principal, view_id: int) -> SalesView:
    sales_panel.require_panel(actor)
    stmt = scopes.sales_views(select(SalesView).where(SalesView.id == view_id), actor).with_for_update()
    view = (await session.execute(stmt)).scalar_one_or_none()
    if view is None:
        raise not_found("Sales view", "id")
    return view


async def create_view(
    session: AsyncSession,
    actor: Principal,
    *,
    name: str,
    columns: Sequence[str] | None,
    flt: SalesFilter | None,
    is_default: bool,
    zone: ZoneInfo,
) -> SalesView:
    """A new view of the actor's; DEFAULT_COLUMNS and no filter unless given."""
    sales_panel.require_panel(actor)
    cleaned = clean_name(name, "name")
    shown = await validate_columns(session, columns) if columns is not None else [c.value for c in DEFAULT_COLUMNS]
    stored = check_filter(flt or SalesFilter(), zone=zone).to_stored()
    if is_default:
        await _clear_default(session, actor)
    view = SalesView(user_id=actor.user_id, name=cleaned, columns=shown, filters=stored, is_default=is_default)
    session.add(view)
    await flush_unique(session, *_UNIQUE["uq_sales_views_user_name"], by_index=_UNIQUE)
    await _record(session, actor, view, AuditAction.CREATED, audit.changes({}, snapshot(view)))
    return view


@dataclass(frozen=True)
class ViewChanges:
    name: Maybe[str] = UNSET
    columns: Maybe[Sequence[str]] = UNSET
    flt: Maybe[SalesFilter] = UNSET


async def update_view(
    session: AsyncSession, actor: Principal, view_id: int, changes: ViewChanges, *, zone: ZoneInfo
) -> SalesView:
    """Rename a view, or replace its columns or its filters (each given whole)."""
    view = await _own(session, actor, view_id)
    before = snapshot(view)
    if changes.name is not UNSET:
        view.name = clean_name(changes.name, "name")
    if changes.columns is not UNSET:
        view.columns = await validate_columns(session, changes.columns)
    if changes.flt is not UNSET:
        view.filters = check_filter(changes.flt, zone=zone).to_stored()
    await flush_unique(session, *_UNIQUE["uq_sales_views_user_name"], by_index=_UNIQUE)
    changed = audit.changes(before, snapshot(view))
    if changed:
        await _record(session, actor, view, AuditAction.UPDATED, changed)
    return view


async def set_default(session: AsyncSession, actor: Principal, view_id: int, *, is_default: bool = True) -> SalesView:
    """Make a view the actor's default (the one it had stops being it), or stop it being so."""
    view = await _own(session, actor, view_id)
    if view.is_default == is_default:
        return view
    if is_default:
        await _clear_default(session, actor, but=view.id)
    view.is_default = is_default
    await flush_unique(session, *_UNIQUE["uq_sales_views_user_default"], by_index=_UNIQUE)
    changed = {"isDefault": {"before": not is_default, "after": is_default}}
    await _record(session, actor, view, AuditAction.UPDATED, changed)
    return view


async def delete_view(session: AsyncSession, actor: Principal, view_id: int) -> int:
    view = await _own(session, actor, view_id)
    await _record(session, actor, view, AuditAction.DELETED, audit.changes(snapshot(view), {}))
    await session.delete(view)
    await session.flush()
    return view_id
