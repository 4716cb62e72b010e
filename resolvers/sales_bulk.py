"""Root fields of the sales panel's bulk actions (S5): close and transfer, on ids or a filter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from zoneinfo import ZoneInfo

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from resolvers.uow import mutate
from schema import docs
from schema.ids import optional_pk, require_pk
from schema.sales_bulk_types import CloseSalesAttentionsInput, SalesAttentionsBulkPayload, TransferSalesAttentionsInput
from schema.sales_inputs import SalesAttentionSelection
from schema.types import Info
from services import sales_bulk
from services.principal import Principal
from services.sales_bulk import BulkResult
from services.sales_panel import SalesFilter

Work = Callable[[AsyncSession, Principal, SalesFilter, ZoneInfo], Awaitable[BulkResult]]


async def _bulk(info: Info, selection: SalesAttentionSelection, work: Work) -> SalesAttentionsBulkPayload:
    zone = info.context.settings.zone

    async def run(session: AsyncSession, actor: Principal) -> BulkResult:
        # Inside the unit of work: a malformed selection is a typed error like any other.
        return await work(session, actor, selection.to_service(), zone)

    result = await mutate(info.context, run)
    if isinstance(result, list):
        return SalesAttentionsBulkPayload(user_errors=result)
    return SalesAttentionsBulkPayload.of(result)


@strawberry.type
class SalesBulkMutations:
    @strawberry.mutation(
        description="Close the selected attentions, or every one matching a filter, with a close reason (S5; "
        "admins and supervisors). Those already closed are reported, untouched."
    )
    async def close_sales_attentions(
        self, info: Info, input: Annotated[CloseSalesAttentionsInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesAttentionsBulkPayload:
        max_ids = info.context.settings.max_selection_ids

        async def work(session: AsyncSession, actor: Principal, flt: SalesFilter, zone: ZoneInfo) -> BulkResult:
            reason = optional_pk(input.close_reason_id, "SalesCatalogEntry", "closeReasonId")
            return await sales_bulk.close_attentions(
                session, actor, flt, reason, zone=zone, now=utcnow(), max_ids=max_ids
            )

        return await _bulk(info, input.selection, work)

    @strawberry.mutation(
        description="Give the selected attentions, or every one matching a filter, to a group and an agent of it "
        "(S5; admins and supervisors). Closed ones are reported, untouched; the agent is notified."
    )
    async def transfer_sales_attentions(
        self, info: Info, input: Annotated[TransferSalesAttentionsInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesAttentionsBulkPayload:
        max_ids = info.context.settings.max_selection_ids

        async def work(session: AsyncSession, actor: Principal, flt: SalesFilter, zone: ZoneInfo) -> BulkResult:
            return await sales_bulk.transfer_attentions(
                session,
                actor,
                flt,
                team_id=require_pk(input.team_id, "Team", "teamId"),
                agent_id=optional_pk(input.agent_id, "User", "agentId"),
                zone=zone,
                now=utcnow(),
                max_ids=max_ids,
            )

        return await _bulk(info, input.selection, work)
