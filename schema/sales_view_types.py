"""Saved views of the sales panel (S4): the type, its columns and filter as read back, and the
inputs and payloads that write them."""

from datetime import datetime
from typing import Annotated

import strawberry

from db import models
from db.keyset import PageRequest
from db.models import SalesAttentionStatus
from schema import docs
from schema.connection import Connection
from schema.enums import Period
from schema.errors import UserError
from schema.node import Node, to_global_id
from schema.sales_attention_inputs import SalesAttentionOrder
from schema.sales_inputs import SalesAttentionFilter, SalesColumnInput
from schema.sales_types import SalesAttention, attentions_page
from schema.types import CursorArg, Info, PageArg
from services import sales_panel, sales_views
from services.sales_panel import CUSTOM_FIELD_PREFIX, SalesFilter


@strawberry.type(description="A column of a saved view: one of the panel's own, or a contact custom field (C7).")
class SalesViewColumn:
    id: str = strawberry.field(description='The column\'s id: a SalesColumn name, or "customField:<key>".')
    field: sales_panel.Column | None = strawberry.field(description="The panel's own column; null for a custom field.")
    custom_field_key: str | None = strawberry.field(
        description="The custom field's key; null for the panel's own column."
    )
    label: str = strawberry.field(description="The column's heading.")


@strawberry.type(description="A custom field condition of a saved filter.")
class SalesCustomFieldConditionValue:
    key: str = strawberry.field(description="The custom field's key.")
    value: str = strawberry.field(description="The value it must equal.")


@strawberry.type(description="A saved SalesAttentionFilter, field for field.")
class SalesAttentionFilterValue:
    text: str | None = strawberry.field(description="Over the contact's name, phones and e-mails.")
    period: Period | None = strawberry.field(description="The date preset; null for a custom range.")
    from_: datetime | None = strawberry.field(name="from", description="A custom range's start.")
    to: datetime | None = strawberry.field(description="A custom range's end.")
    team_id: strawberry.ID | None = strawberry.field(description="The group; null: the highest you can access.")
    agent_ids: list[strawberry.ID] = strawberry.field(description="These users' attentions.")
    unassigned: bool = strawberry.field(description="Also the attentions nobody has.")
    statuses: list[SalesAttentionStatus] = strawberry.field(description="With any of these statuses.")
    interest_ids: list[strawberry.ID] = strawberry.field(description="With any of these interests.")
    origin_ids: list[strawberry.ID] = strawberry.field(description="With any of these origins.")
    close_reason_ids: list[strawberry.ID] = strawberry.field(description="Closed with any of these reasons.")
    custom_fields: list[SalesCustomFieldConditionValue] = strawberry.field(description="Custom field conditions.")

    @classmethod
    def of(cls, flt: SalesFilter) -> "SalesAttentionFilterValue":
        entry = "SalesCatalogEntry"
        return cls(
            text=flt.text,
            period=flt.period,
            from_=flt.since,
            to=flt.until,
            team_id=to_global_id("Team", flt.team_id) if flt.team_id is not None else None,
            agent_ids=[to_global_id("User", i) for i in flt.agent_ids],
            unassigned=flt.unassigned,
            statuses=list(flt.statuses),
            interest_ids=[to_global_id(entry, i) for i in flt.interest_ids],
            origin_ids=[to_global_id(entry, i) for i in flt.origin_ids],
            close_reason_ids=[to_global_id(entry, i) for i in flt.close_reason_ids],
            custom_fields=[SalesCustomFieldConditionValue(key=k, value=v) for k, v in flt.custom_fields],
        )


@strawberry.type(description="A saved view of the sales panel (S4): yours only.")
class SalesView(Node):
    pk: strawberry.Private[int]
    column_ids: strawberry.Private[list[str]]
    stored_filter: strawberry.Private[SalesFilter]
    name: str = strawberry.field(description="Its name, unique among your views.")
    is_default: bool = strawberry.field(description="Whether it is your default view (at most one is).")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.SalesView) -> "SalesView":
        return cls(
            id=to_global_id("SalesView", row.id),
            pk=row.id,
            column_ids=list(row.columns),
            stored_filter=sales_views.view_filter(row),
            name=row.name,
            is_default=row.is_default,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Its columns, in order.")
    async def columns(self, info: Info) -> list[SalesViewColumn]:
        labels: dict[str, str] = {}
        if any(c.startswith(CUSTOM_FIELD_PREFIX) for c in self.column_ids):
            definitions = await info.context.loaders.custom_field_definitions.load(True) or []
            labels = {d.key: d.label for d in definitions}
        return [
            SalesViewColumn(
                id=c,
                field=None if c.startswith(CUSTOM_FIELD_PREFIX) else sales_panel.Column(c),
                custom_field_key=c.removeprefix(CUSTOM_FIELD_PREFIX) if c.startswith(CUSTOM_FIELD_PREFIX) else None,
                label=sales_views.column_label(c, labels),
            )
            for c in self.column_ids
        ]

    @strawberry.field(description="Its filters, as saved (a period stays a preset: LAST_7_DAYS is always the last 7).")
    def filter(self) -> SalesAttentionFilterValue:
        return SalesAttentionFilterValue.of(self.stored_filter)

    @strawberry.field(description="The panel's rows with this view's filters (what salesAttentions answers for them).")
    async def attentions(
        self,
        info: Info,
        order_by: Annotated[SalesAttentionOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[SalesAttention]:
        order, descending = (order_by or SalesAttentionOrder()).to_service()
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await attentions_page(info, self.stored_filter, request, order, descending)


@strawberry.input(description="A new saved view of yours (admins and supervisors).")
class CreateSalesViewInput:
    name: str = strawberry.field(description="Unique among your views (ALREADY_EXISTS).")
    columns: list[SalesColumnInput] | None = strawberry.field(
        default=None, description="In order, any number, each once; the seed's default set when absent."
    )
    filter: SalesAttentionFilter | None = strawberry.field(default=None, description="At most 12 filters at once.")
    is_default: bool = strawberry.field(default=False, description="Make it your default view.")


@strawberry.input(description="What to change in a view; absent fields stay, given ones are replaced whole.")
class UpdateSalesViewInput:
    id: strawberry.ID = strawberry.field(description="The view to change (yours).")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    columns: list[SalesColumnInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The new columns, in order."
    )
    filter: SalesAttentionFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The new filter, at most 12 filters at once (LIMIT_EXCEEDED)."
    )


@strawberry.input(description="Make a view your default (the one you had stops being it), or stop it being so.")
class SetDefaultSalesViewInput:
    id: strawberry.ID = strawberry.field(description="The view (yours).")
    is_default: bool = strawberry.field(
        default=True, description="True (the default) makes it your default; false stops it being so."
    )


@strawberry.input(description="Delete one of your saved views.")
class DeleteSalesViewInput:
    id: strawberry.ID = strawberry.field(description="The view (yours).")


@strawberry.type(description="Result of a saved view mutation.")
class SalesViewPayload:
    view: SalesView | None = strawberry.field(default=None, description="The view; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of deleteSalesView.")
class DeleteSalesViewPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id the view had; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
