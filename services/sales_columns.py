"""The sales panel's columns as SQL (S4, S5): one expression per column id, for the export and
anything else that shows a view's columns as text.

`select_columns(matched, ids, ...)` puts the columns over the panel's own statement
(services.sales_panel.matching, as a subquery), newest first: the rows are exactly the panel's,
and each value is read live (C8): the contact's name, first phone-like channel and first e-mail
(each by channel id, phones in E.164 as gestiones show them), the catalogue, agent and group
names as they are now, a contact custom field's value for "customField:<key>".

Labels and values are Spanish, as the people who open the file in Excel read them (the seed's
column names). Instants are local text "YYYY-MM-DD HH:MM" in the account's zone: PostgreSQL
formats them in the statement (so COPY streams them as they are); SQLite has no zone database,
so `text_value` formats its rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Subquery, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import (
    ChannelKind,
    Company,
    Contact,
    ContactChannel,
    CustomFieldDefinition,
    SalesAttentionStatus,
    SalesCatalogEntry,
    Team,
    User,
)
from db.sets import json_member_text
from services.errors import DomainError, ErrorCode, Problem
from services.sales_panel import CUSTOM_FIELD_PREFIX, Column

LABELS: dict[Column, str] = {
    Column.FULL_NAME: "Nombre completo",
    Column.PHONE: "Teléfono",
    Column.EMAIL: "Correo electrónico",
    Column.INTEREST: "Interés",
    Column.ORIGIN: "Origen",
    Column.AGENT: "Agente",
    Column.GROUP: "Grupo",
    Column.STATUS: "Estado",
    Column.CLOSE_REASON: "Motivo de cierre",
    Column.PENDING_SINCE: "Pendiente desde",
    Column.CREATED_AT: "Fecha de creación",
    Column.CLOSED_AT: "Fecha de cierre",
    Column.UPDATED_AT: "Última actualización",
    Column.COMPANY: "Empresa",
    Column.DOCUMENT_NUMBER: "Número de documento",
    Column.VIP: "VIP",
}
STATUS_LABELS = {
    SalesAttentionStatus.OPEN: "Abierta",
    SalesAttentionStatus.PENDING: "Pendiente",
    SalesAttentionStatus.CLOSED: "Cerrada",
}
INSTANTS = {
    Column.PENDING_SINCE: "pending_since",
    Column.CREATED_AT: "created_at",
    Column.CLOSED_AT: "closed_at",
    Column.UPDATED_AT: "updated_at",
}
LOCAL_FORMAT = "%Y-%m-%d %H:%M"
_PG_LOCAL_FORMAT = "YYYY-MM-DD HH24:MI"


@dataclass(frozen=True)
class ColumnSpec:
    id: str
    label: str
    # "instant" values are formatted into local text (in SQL on PostgreSQL, else by text_value).
    instant: bool = False


async def specs(session: AsyncSession, column_ids: Sequence[str], field: str = "columns") -> list[ColumnSpec]:
    """The columns with their file labels: the one check of a list of columns, a view's (S4) or
    an export's. At least one; each a known column (INVALID on `<field>.<i>.field`) or a custom
    field some definition has (NOT_FOUND on `<field>.<i>.customFieldKey`), once (ALREADY_EXISTS
    on `<field>.<i>`); any number of them."""
    if not column_ids:
        raise DomainError(Problem(ErrorCode.REQUIRED, "Choose at least one column", field))
    keys = [c.removeprefix(CUSTOM_FIELD_PREFIX) for c in column_ids if c.startswith(CUSTOM_FIELD_PREFIX)]
    labels: dict[str, str] = {}
    if keys:
        rows = await session.execute(
            select(CustomFieldDefinition.key, CustomFieldDefinition.label).where(CustomFieldDefinition.key.in_(keys))
        )
        labels = {key: label for key, label in rows}
    problems: list[Problem] = []
    found: list[ColumnSpec] = []
    seen: set[str] = set()
    for index, column_id in enumerate(column_ids):
        at = f"{field}.{index}"
        if column_id in seen:
            problems.append(Problem(ErrorCode.ALREADY_EXISTS, "This column is in the list already", at))
            continue
        seen.add(column_id)
        if column_id.startswith(CUSTOM_FIELD_PREFIX):
            key = column_id.removeprefix(CUSTOM_FIELD_PREFIX)
            if key not in labels:
                problems.append(Problem(ErrorCode.NOT_FOUND, "No custom field has this key", f"{at}.customFieldKey"))
                continue
            found.append(ColumnSpec(column_id, labels[key]))
            continue
        try:
            column = Column(column_id)
        except ValueError:
            problems.append(Problem(ErrorCode.INVALID, "Not a column of the sales panel", f"{at}.field"))
            continue
        found.append(ColumnSpec(column_id, LABELS[column], instant=column in INSTANTS))
    if problems:
        raise DomainError(*problems)
    return found


# A cell Excel reads as a formula when it starts with one of these (CSV injection): such a value
# is written after an apostrophe, which Excel shows as text. Phones (E.164, "+54…") and what the
# statement itself writes (dates, status, VIP) never get one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """`value` (SQL text), with an apostrophe before it when Excel would run it as a formula."""
    first = func.substr(value, 1, 1)
    return case((first.in_([literal(c) for c in FORMULA_STARTS]), literal("'") + value), else_=value)


def select_columns(matched: Subquery, columns: Sequence[ColumnSpec], *, dialect: str, zone: ZoneInfo) -> Select[Any]:
    """The columns, as text, of the attentions `matched` (the panel's statement as a subquery),
    newest first as the panel lists them."""
    a = matched.c
    contact = aliased(Contact, name="c")
    stmt = select().select_from(matched).join(contact, contact.id == a.contact_id)
    joined: dict[str, Any] = {}

    def name_of(model: Any, alias_name: str, key: Any) -> Any:
        """The `name` of the `model` row `key` points at, outer-joined once per alias."""
        nonlocal stmt
        if alias_name not in joined:
            alias = aliased(model, name=alias_name)
            stmt = stmt.outerjoin(alias, alias.id == key)
            joined[alias_name] = alias
        return joined[alias_name].name

    def first_channel(*kinds: ChannelKind) -> Any:
        return (
            select(ContactChannel.normalized)
            .where(ContactChannel.contact_id == contact.id, ContactChannel.kind.in_([k.value for k in kinds]))
            .order_by(ContactChannel.id)
            .limit(1)
            .scalar_subquery()
        )

    def instant(name: str) -> Any:
        value = a[name]
        if dialect == "postgresql":
            return func.to_char(func.timezone(zone.key, value), _PG_LOCAL_FORMAT)
        return value

    exprs: list[Any] = []
    for spec in columns:
        if spec.id.startswith(CUSTOM_FIELD_PREFIX):
            exprs.append(
                inert(json_member_text(contact.custom_fields, spec.id.removeprefix(CUSTOM_FIELD_PREFIX), dialect))
            )
            continue
        column = Column(spec.id)
        if column is Column.FULL_NAME:
            exprs.append(inert(contact.first_names + literal(" ") + contact.last_names))
        elif column is Column.PHONE:
            exprs.append(first_channel(ChannelKind.PHONE, ChannelKind.WHATSAPP))
        elif column is Column.EMAIL:
            exprs.append(inert(first_channel(ChannelKind.EMAIL)))
        elif column is Column.INTEREST:
            exprs.append(inert(name_of(SalesCatalogEntry, "interest", a.interest_id)))
        elif column is Column.ORIGIN:
            exprs.append(inert(name_of(SalesCatalogEntry, "origin", a.origin_id)))
        elif column is Column.CLOSE_REASON:
            exprs.append(inert(name_of(SalesCatalogEntry, "close_reason", a.close_reason_id)))
        elif column is Column.AGENT:
            exprs.append(inert(name_of(User, "agent", a.agent_id)))
        elif column is Column.GROUP:
            exprs.append(inert(name_of(Team, "grp", a.team_id)))
        elif column is Column.STATUS:
            exprs.append(case(*((a.status == s.value, label) for s, label in STATUS_LABELS.items())))
        elif column is Column.COMPANY:
            exprs.append(inert(name_of(Company, "co", contact.company_id)))
        elif column is Column.DOCUMENT_NUMBER:
            exprs.append(inert(contact.document_number))
        elif column is Column.VIP:
            exprs.append(case((contact.is_vip.is_(True), "Sí"), else_="No"))
        else:
            exprs.append(instant(INSTANTS[column]))
    labelled = [e.label(f"c{i}") for i, e in enumerate(exprs)]
    return stmt.add_columns(*labelled).order_by(a.created_at.desc(), a.id.desc())


def text_value(value: Any, spec: ColumnSpec, zone: ZoneInfo) -> Any:
    """A value of an SQLite row as PostgreSQL's statement writes it (instants as local text)."""
    if spec.instant and isinstance(value, datetime):
        return value.astimezone(zone).strftime(LOCAL_FORMAT)
    return value
