"""Root fields of the sales panel (S1-S3): its catalogues, the panel, and writing attentions."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.keyset import PageRequest
from db.models import SalesAttention as SalesAttentionRow
from db.models import SalesCatalogKind
from resolvers.given import given, given_or_null
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.connection import Connection
from schema.conversation_types import Conversation
from schema.ids import optional_pk, require_pk
from schema.sales_attention_inputs import (
    CreateSalesAttentionInput,
    CreateSalesCatalogEntryInput,
    MarkConversationCommercialInput,
    MarkConversationCommercialPayload,
    SalesAttentionOrder,
    SalesAttentionPayload,
    SalesCatalogEntryPayload,
    UpdateSalesAttentionInput,
    UpdateSalesCatalogEntryInput,
)
from schema.sales_inputs import SalesAttentionFilter
from schema.sales_types import SalesAttention, SalesCatalogEntry, attentions_page
from schema.types import CursorArg, Info, PageArg
from services import sales_attentions, sales_catalog
from services.common import UNSET, Maybe
from services.principal import Principal

ENTRY = "SalesCatalogEntry"


def _pk_or_null(value: strawberry.ID | None, type_name: str, field: str) -> Maybe[int | None]:
    """An id of a partial update: absent stays UNSET, null clears."""
    chosen = given_or_null(value)
    return chosen if chosen is UNSET or chosen is None else require_pk(chosen, type_name, field)


async def visible_attention(info: Info, row: SalesAttentionRow | None) -> SalesAttention | None:
    """The attention as the actor reads it after a change: through the panel's scope (null for agents)."""
    if row is None:
        return None
    found = await info.context.loaders.sales_attention_by_id.load(row.id)
    return SalesAttention.from_row(found) if found else None


@strawberry.type
class SalesQueries:
    @strawberry.field(description="One of the sales catalogues, by position then name; anyone signed in may read it.")
    async def sales_catalog(
        self,
        info: Info,
        kind: Annotated[SalesCatalogKind, strawberry.argument(description="Which catalogue.")],
        include_inactive: Annotated[bool, strawberry.argument(description=docs.INCLUDE_INACTIVE)] = False,
    ) -> list[SalesCatalogEntry] | None:
        ctx = info.context
        rows = await sales_catalog.list_entries(ctx.session, ctx.principal, kind, include_inactive=include_inactive)
        return [SalesCatalogEntry.from_row(r) for r in rows]

    @strawberry.field(
        description=(
            "The sales panel (S1-S3; admins and supervisors, agents are FORBIDDEN): commercial attentions matching "
            "the filter, newest first unless orderBy says. The period defaults to the last 7 days in the account's "
            "time zone, the group to everything you can access (subgroups included)."
        )
    )
    async def sales_attentions(
        self,
        info: Info,
        filter: Annotated[
            SalesAttentionFilter | None,
            strawberry.argument(
                description="Which attentions; omitted: LAST_7_DAYS in the highest group you can access (S3)."
            ),
        ] = None,
        order_by: Annotated[SalesAttentionOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[SalesAttention] | None:
        flt = (filter or SalesAttentionFilter()).to_service()
        request = PageRequest(first=first, after=after, last=last, before=before)
        order, descending = (order_by or SalesAttentionOrder()).to_service()
        return await attentions_page(info, flt, request, order, descending)


@strawberry.type
class SalesMutations:
    @strawberry.mutation(description="Add an interest, origin or close reason (admins).")
    async def create_sales_catalog_entry(
        self, info: Info, input: Annotated[CreateSalesCatalogEntryInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesCatalogEntryPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await sales_catalog.create_entry(
                session, actor, kind=input.kind, name=input.name, position=input.position
            )

        return await mutate_into(info.context, work, SalesCatalogEntryPayload, "entry", SalesCatalogEntry.from_row)

    @strawberry.mutation(description="Rename, move or (de)activate a catalogue entry (admins).")
    async def update_sales_catalog_entry(
        self, info: Info, input: Annotated[UpdateSalesCatalogEntryInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesCatalogEntryPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            changes = sales_catalog.EntryChanges(
                name=given(input.name, "name"),
                position=given(input.position, "position"),
                active=given(input.active, "active"),
            )
            return await sales_catalog.update_entry(session, actor, require_pk(input.id, ENTRY, "id"), changes)

        return await mutate_into(info.context, work, SalesCatalogEntryPayload, "entry", SalesCatalogEntry.from_row)

    @strawberry.mutation(
        description=(
            "Open a contact's commercial attention (any role: agents and integrators write them). A contact has at "
            "most one that is not CLOSED (ALREADY_EXISTS on contactId)."
        )
    )
    async def create_sales_attention(
        self, info: Info, input: Annotated[CreateSalesAttentionInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesAttentionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            data = sales_attentions.NewAttention(
                contact_id=require_pk(input.contact_id, "Contact", "contactId"),
                interest_id=optional_pk(input.interest_id, ENTRY, "interestId"),
                origin_id=optional_pk(input.origin_id, ENTRY, "originId"),
                agent_id=optional_pk(input.agent_id, "User", "agentId"),
                team_id=optional_pk(input.team_id, "Team", "teamId"),
                status=input.status,
            )
            return await sales_attentions.create_attention(session, actor, data)

        return await _attention(info, work)

    @strawberry.mutation(
        description=(
            "Change an attention: an agent only those assigned to it, admins and supervisors those they see. "
            "Giving it to another agent notifies them (S6)."
        )
    )
    async def update_sales_attention(
        self, info: Info, input: Annotated[UpdateSalesAttentionInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesAttentionPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            team = given(input.team_id, "teamId")
            changes = sales_attentions.AttentionChanges(
                interest_id=_pk_or_null(input.interest_id, ENTRY, "interestId"),
                origin_id=_pk_or_null(input.origin_id, ENTRY, "originId"),
                status=given(input.status, "status"),
                close_reason_id=_pk_or_null(input.close_reason_id, ENTRY, "closeReasonId"),
                agent_id=_pk_or_null(input.agent_id, "User", "agentId"),
                team_id=team if team is UNSET else require_pk(team, "Team", "teamId"),
            )
            pk = require_pk(input.id, "SalesAttention", "id")
            return await sales_attentions.update_attention(session, actor, pk, changes)

        return await _attention(info, work)

    @strawberry.mutation(
        description=(
            "Mark a conversation commercial (S1): it joins its contact's attention that is not closed, or opens one "
            "in the conversation's team for its agent. Marking it again answers the same attention."
        )
    )
    async def mark_conversation_commercial(
        self, info: Info, input: Annotated[MarkConversationCommercialInput, strawberry.argument(description=docs.INPUT)]
    ) -> MarkConversationCommercialPayload:
        conversation_id: list[int] = []

        async def work(session: AsyncSession, actor: Principal) -> Any:
            pk = require_pk(input.conversation_id, "Conversation", "conversationId")
            conversation_id[:] = [pk]
            return await sales_attentions.mark_conversation_commercial(
                session,
                actor,
                pk,
                interest_id=optional_pk(input.interest_id, ENTRY, "interestId"),
                origin_id=optional_pk(input.origin_id, ENTRY, "originId"),
            )

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return MarkConversationCommercialPayload(user_errors=result)
        conversation = await info.context.loaders.conversation_by_id.load(conversation_id[0])
        return MarkConversationCommercialPayload(
            attention=await visible_attention(info, result),
            conversation=Conversation.from_row(conversation) if conversation else None,
        )


async def _attention(info: Info, work: Any) -> SalesAttentionPayload:
    result = await mutate(info.context, work)
    if isinstance(result, list):
        return SalesAttentionPayload(user_errors=result)
    return SalesAttentionPayload(attention=await visible_attention(info, result))
