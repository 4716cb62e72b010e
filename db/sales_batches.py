"""Scoped batch queries behind the sales panel's loaders (S1, S4): one statement per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.batches import NestedList, by_id_statement
from db.keyset import SortKey
from db.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    Conversation,
    SalesAttention,
    SalesAttentionConversation,
    SalesCatalogEntry,
    SalesView,
)
from db.scopes import Viewer


async def attentions_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, SalesAttention]:
    return {row.id: row for row in await session.scalars(by_id_statement(SalesAttention, ids, viewer))}


async def entries_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, SalesCatalogEntry]:
    stmt = select(SalesCatalogEntry).where(SalesCatalogEntry.id.in_(list(ids)))
    return {row.id: row for row in await session.scalars(stmt)}


async def views_by_id(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> dict[int, SalesView]:
    stmt = scopes.sales_views(select(SalesView).where(SalesView.id.in_(list(ids))), viewer)
    return {row.id: row for row in await session.scalars(stmt)}


@dataclass(frozen=True)
class ContactLine:
    """What a panel row shows of its client, read live from the contact (C8)."""

    full_name: str
    phone: str | None
    email: str | None


def _first(kinds: tuple[ChannelKind, ...], column: str) -> Any:
    c = ContactChannel
    return (
        select(getattr(c, column))
        .where(c.contact_id == Contact.id, c.kind.in_([k.value for k in kinds]))
        .order_by(c.id)
        .limit(1)
        .scalar_subquery()
    )


async def contact_lines(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, ContactLine]:
    """Name, first phone-like channel (E.164) and first e-mail of contacts whose attentions the
    caller resolved through the attentions scope (whoever sees one sees its client)."""
    stmt = select(
        Contact.id,
        Contact.first_names + literal(" ") + Contact.last_names,
        _first((ChannelKind.PHONE, ChannelKind.WHATSAPP), "normalized"),
        _first((ChannelKind.EMAIL,), "value"),
    ).where(Contact.id.in_(list(contact_ids)))
    return {cid: ContactLine(name, phone, email) for cid, name, phone, email in (await session.execute(stmt)).all()}


# The conversations marked commercial into an attention (S1), newest first, as the viewer sees them.
ATTENTION_CONVERSATIONS = NestedList(
    Conversation,
    (SortKey(Conversation.created_at, "created_at", "datetime", True), SortKey(Conversation.id, "id", "int", True)),
    SalesAttentionConversation.attention_id,
    lambda viewer: scopes.conversations(
        select(Conversation).join(
            SalesAttentionConversation, SalesAttentionConversation.conversation_id == Conversation.id
        ),
        viewer,
    ),
)
