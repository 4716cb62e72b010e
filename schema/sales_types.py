"""The sales panel's types (S1): catalogue entries and commercial attentions.

An attention's client fields (fullName, phone, email) are read live from its contact (C8), for a
whole page through one loader. Only admins and supervisors read attentions (S2): every way to
one (the panel, `node`, a payload) goes through scopes.sales_attentions, and no other type links
to them, so nothing of the panel reaches an agent.
"""

from datetime import datetime

import strawberry

from db import keyset, models
from db.keyset import PageRequest
from db.models import SalesAttentionStatus, SalesCatalogKind
from schema import docs, sales_inputs, sql_map  # noqa: F401  (registers the panel's enums before they are used here)
from schema.connection import Connection, connection
from schema.contact_types import Contact
from schema.conversation_types import Conversation
from schema.node import Node, to_global_id
from schema.types import CursorArg, Info, PageArg, Team, User, nested_connection
from services import sales_attentions
from services.sales_attentions import AttentionOrder
from services.sales_panel import SalesFilter


@strawberry.type(description="An interest, origin or close reason of the sales panel (S1), managed by admins.")
class SalesCatalogEntry(Node):
    kind: SalesCatalogKind = strawberry.field(description="Which catalogue it belongs to.")
    name: str = strawberry.field(description=docs.NAME)
    position: int = strawberry.field(description="Catalogues list by position, then name.")
    active: bool = strawberry.field(description="Inactive entries are no longer offered; attentions keep theirs.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.SalesCatalogEntry) -> "SalesCatalogEntry":
        return cls(
            id=to_global_id("SalesCatalogEntry", row.id),
            kind=SalesCatalogKind(row.kind),
            name=row.name,
            position=row.position,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


async def _entry(info: Info, pk: int | None) -> SalesCatalogEntry | None:
    if pk is None:
        return None
    row = await info.context.loaders.sales_entry_by_id.load(pk)
    return SalesCatalogEntry.from_row(row) if row else None


@strawberry.type(description="A contact's commercial attention (S1): one row of the sales panel.")
class SalesAttention(Node):
    pk: strawberry.Private[int]
    contact_pk: strawberry.Private[int]
    interest_pk: strawberry.Private[int | None]
    origin_pk: strawberry.Private[int | None]
    close_reason_pk: strawberry.Private[int | None]
    agent_pk: strawberry.Private[int | None]
    team_pk: strawberry.Private[int]
    status: SalesAttentionStatus = strawberry.field(description="OPEN, PENDING or CLOSED.")
    pending_since: datetime | None = strawberry.field(description="When it became PENDING; null unless it is.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    closed_at: datetime | None = strawberry.field(description="When it was closed; null unless CLOSED.")
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.SalesAttention) -> "SalesAttention":
        return cls(
            id=to_global_id("SalesAttention", row.id),
            pk=row.id,
            contact_pk=row.contact_id,
            interest_pk=row.interest_id,
            origin_pk=row.origin_id,
            close_reason_pk=row.close_reason_id,
            agent_pk=row.agent_id,
            team_pk=row.team_id,
            status=SalesAttentionStatus(row.status),
            pending_since=row.pending_since,
            created_at=row.created_at,
            closed_at=row.closed_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The client, as the contact is now; null when you cannot see it.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_row(row) if row else None

    @strawberry.field(description="The client's name, read from the contact now (C8).")
    async def full_name(self, info: Info) -> str:
        line = await info.context.loaders.sales_contact_line.load(self.contact_pk)
        return line.full_name if line else ""

    @strawberry.field(description="The client's first phone or WhatsApp number (E.164), read from the contact now.")
    async def phone(self, info: Info) -> str | None:
        line = await info.context.loaders.sales_contact_line.load(self.contact_pk)
        return line.phone if line else None

    @strawberry.field(description="The client's first e-mail address, read from the contact now.")
    async def email(self, info: Info) -> str | None:
        line = await info.context.loaders.sales_contact_line.load(self.contact_pk)
        return line.email if line else None

    @strawberry.field(description="What the contact is interested in; null when none was given.")
    async def interest(self, info: Info) -> SalesCatalogEntry | None:
        return await _entry(info, self.interest_pk)

    @strawberry.field(description="Where the contact came from; null when none was given.")
    async def origin(self, info: Info) -> SalesCatalogEntry | None:
        return await _entry(info, self.origin_pk)

    @strawberry.field(description="Why it was closed; null unless CLOSED.")
    async def close_reason(self, info: Info) -> SalesCatalogEntry | None:
        return await _entry(info, self.close_reason_pk)

    @strawberry.field(description="Its agent; null when nobody has it (or you cannot see them).")
    async def agent(self, info: Info) -> User | None:
        if self.agent_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.agent_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="Its group, whose supervisors see it; null when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        row = await info.context.loaders.team_by_id.load(self.team_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="The conversations marked commercial into it (that you can see), newest first.")
    async def conversations(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Conversation]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info,
            loaders.attention_conversations,
            loaders.attention_conversation_count,
            self.pk,
            request,
            Conversation.from_row,
        )


async def attentions_page(
    info: Info,
    flt: SalesFilter,
    request: PageRequest,
    order: AttentionOrder = AttentionOrder.CREATED_AT,
    descending: bool = True,
) -> Connection[SalesAttention]:
    """The panel's rows for a filter: salesAttentions' and a saved view's, the same call."""
    ctx = info.context
    page, stmt = await sales_attentions.list_attentions(
        ctx.session,
        ctx.principal,
        flt,
        request,
        zone=ctx.settings.zone,
        order=order,
        descending=descending,
        max_page_size=ctx.settings.max_page_size,
    )
    session = ctx.session
    return connection(page, SalesAttention.from_row, lambda: keyset.count(session, stmt))


# Compiled reads (schema/sql_map.py).
def _first_channel(kinds: str, column: str) -> sql_map.Scalar:
    """The client's first channel of these kinds (as sales_batches.contact_lines reads it)."""
    return sql_map.Scalar(
        f"(SELECT to_json(c.{column})::text FROM contact_channels c WHERE c.contact_id = {{t}}.contact_id"
        f" AND c.kind IN ({kinds}) ORDER BY c.id LIMIT 1)"
    )


def _entry_field(column: str) -> sql_map.Nested:
    return sql_map.Nested("SalesCatalogEntry", "sales_catalog_entries", f"{{a}}.id = {{t}}.{column}")


sql_map.declare(
    "SalesCatalogEntry",
    {
        "id": sql_map.global_id("SalesCatalogEntry"),
        "kind": sql_map.text("kind"),
        "name": sql_map.text("name"),
        "position": sql_map.number("position"),
        "active": sql_map.boolean("active"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
    },
)
sql_map.declare(
    "SalesAttention",
    {
        "id": sql_map.global_id("SalesAttention"),
        "status": sql_map.text("status"),
        "pendingSince": sql_map.instant("pending_since"),
        "createdAt": sql_map.instant("created_at"),
        "closedAt": sql_map.instant("closed_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "contact": sql_map.Nested(
            "Contact", "contacts", "{a}.id = {t}.contact_id", visible=sql_map.seen_as_loaded(models.Contact)
        ),
        "fullName": sql_map.Scalar(
            "coalesce((SELECT to_json(c.first_names || ' ' || c.last_names)::text FROM contacts c"
            " WHERE c.id = {t}.contact_id), '\"\"')"
        ),
        "phone": _first_channel("'PHONE', 'WHATSAPP'", "normalized"),
        "email": _first_channel("'EMAIL'", "value"),
        "interest": _entry_field("interest_id"),
        "origin": _entry_field("origin_id"),
        "closeReason": _entry_field("close_reason_id"),
        "agent": sql_map.Nested("User", "users", "{a}.id = {t}.agent_id", visible=sql_map.seen_as_loaded(models.User)),
        "team": sql_map.Nested("Team", "teams", "{a}.id = {t}.team_id", visible=sql_map.seen_as_loaded(models.Team)),
    },
)
