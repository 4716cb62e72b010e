"""Root fields of the sales panel's saved views (S4; admins and supervisors, each its own)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest
from resolvers.given import given
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.ids import require_pk
from schema.node import to_global_id
from schema.sales_inputs import SalesColumnInput
from schema.sales_view_types import (
    CreateSalesViewInput,
    DeleteSalesViewInput,
    DeleteSalesViewPayload,
    SalesView,
    SalesViewPayload,
    SetDefaultSalesViewInput,
    UpdateSalesViewInput,
)
from schema.types import CursorArg, Info, PageArg
from services import sales_views
from services.common import UNSET
from services.principal import Principal

VIEW = "SalesView"


def _columns(columns: list[SalesColumnInput]) -> list[str]:
    return [c.to_service() for c in columns]


@strawberry.type
class SalesViewQueries:
    @strawberry.field(description="Your saved views of the sales panel, by name (admins and supervisors).")
    async def sales_views(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[SalesView] | None:
        ctx = info.context
        request = PageRequest(first=first, after=after, last=last, before=before)
        page, stmt = await sales_views.list_views(
            ctx.session, ctx.principal, request, max_page_size=ctx.settings.max_page_size
        )
        session = ctx.session
        return connection(page, SalesView.from_row, lambda: keyset.count(session, stmt))

    @strawberry.field(description="Your default view of the sales panel; null when you have none.")
    async def default_sales_view(self, info: Info) -> SalesView | None:
        ctx = info.context
        row = await sales_views.default_view(ctx.session, ctx.principal)
        return SalesView.from_row(row) if row else None


@strawberry.type
class SalesViewMutations:
    @strawberry.mutation(description="Save a view of the sales panel: its columns in order and its filters.")
    async def create_sales_view(
        self, info: Info, input: Annotated[CreateSalesViewInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesViewPayload:
        zone = info.context.settings.zone

        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await sales_views.create_view(
                session,
                actor,
                name=input.name,
                columns=_columns(input.columns) if input.columns is not None else None,
                flt=input.filter.to_service() if input.filter is not None else None,
                is_default=input.is_default,
                zone=zone,
            )

        return await mutate_into(info.context, work, SalesViewPayload, "view", SalesView.from_row)

    @strawberry.mutation(description="Rename a view, or replace its columns or its filters.")
    async def update_sales_view(
        self, info: Info, input: Annotated[UpdateSalesViewInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesViewPayload:
        zone = info.context.settings.zone

        async def work(session: AsyncSession, actor: Principal) -> Any:
            columns = given(input.columns, "columns")
            flt = given(input.filter, "filter")
            changes = sales_views.ViewChanges(
                name=given(input.name, "name"),
                columns=UNSET if columns is UNSET else _columns(columns),
                flt=UNSET if flt is UNSET else flt.to_service(),
            )
            pk = require_pk(input.id, VIEW, "id")
            return await sales_views.update_view(session, actor, pk, changes, zone=zone)

        return await mutate_into(info.context, work, SalesViewPayload, "view", SalesView.from_row)

    @strawberry.mutation(description="Make a view your default, or (isDefault: false) stop it being so.")
    async def set_default_sales_view(
        self, info: Info, input: Annotated[SetDefaultSalesViewInput, strawberry.argument(description=docs.INPUT)]
    ) -> SalesViewPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            pk = require_pk(input.id, VIEW, "id")
            return await sales_views.set_default(session, actor, pk, is_default=input.is_default)

        return await mutate_into(info.context, work, SalesViewPayload, "view", SalesView.from_row)

    @strawberry.mutation(description="Delete one of your views.")
    async def delete_sales_view(
        self, info: Info, input: Annotated[DeleteSalesViewInput, strawberry.argument(description=docs.INPUT)]
    ) -> DeleteSalesViewPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await sales_views.delete_view(session, actor, require_pk(input.id, VIEW, "id"))

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return DeleteSalesViewPayload(user_errors=result)
        return DeleteSalesViewPayload(deleted_id=to_global_id(VIEW, result))
