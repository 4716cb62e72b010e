"""Inputs and payloads of the sales panel's bulk close and transfer (S5, X2)."""

from typing import Annotated

import strawberry

from db.keyset import PageRequest, paginate_sequence
from schema import docs
from schema.connection import Connection, connection
from schema.errors import UserError
from schema.node import to_global_id
from schema.sales_inputs import SalesAttentionSelection
from schema.sales_types import SalesAttention
from schema.types import AuditEvent, CursorArg, Info, PageArg
from services.sales_bulk import AttentionOutcome, BulkOutcome, BulkRejection, BulkResult

docs.enum(
    BulkOutcome,
    name="SalesBulkOutcome",
    description="What a bulk sales call did with one attention.",
    values={
        "CLOSED": "It was closed with the reason given.",
        "TRANSFERRED": "It now belongs to the group (and agent) given.",
        "UNCHANGED": "Already with that agent in that group: nothing to do.",
        "REJECTED": "Left as it was; `rejection` says why.",
    },
)
docs.enum(
    BulkRejection,
    name="SalesBulkRejection",
    description="Why a selected attention was left as it was.",
    values={
        "NOT_FOUND": "No such attention, or one you may not see.",
        "ALREADY_CLOSED": "Closed before this call: it keeps its reason and its place.",
    },
)


@strawberry.input(description="Close these attentions with a reason (S5).")
class CloseSalesAttentionsInput:
    selection: SalesAttentionSelection = strawberry.field(description="Which attentions.")
    close_reason_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required: an active CLOSE_REASON of the catalogue."
    )


@strawberry.input(description="Give these attentions to a group and an agent of it (S5).")
class TransferSalesAttentionsInput:
    selection: SalesAttentionSelection = strawberry.field(description="Which attentions.")
    team_id: strawberry.ID = strawberry.field(description="A group you can see.")
    agent_id: strawberry.ID | None = strawberry.field(
        default=None, description="An active member of that group; null leaves them to the group, unassigned."
    )


@strawberry.type(description="What a bulk sales call did with one attention (X2).")
class SalesAttentionBulkResult:
    pk: strawberry.Private[int]
    attention_id: strawberry.ID = strawberry.field(description="The attention's global id, as given.")
    outcome: BulkOutcome = strawberry.field(description="What happened to it.")
    rejection: BulkRejection | None = strawberry.field(description="Set when the outcome is REJECTED.")

    @classmethod
    def of(cls, item: AttentionOutcome) -> "SalesAttentionBulkResult":
        return cls(
            pk=item.attention_id,
            attention_id=to_global_id("SalesAttention", item.attention_id),
            outcome=item.outcome,
            rejection=item.rejection,
        )

    @strawberry.field(description="The attention as it is now; null when it is not one you can see (NOT_FOUND).")
    async def attention(self, info: Info) -> SalesAttention | None:
        row = await info.context.loaders.sales_attention_by_id.load(self.pk)
        return SalesAttention.from_row(row) if row is not None else None


@strawberry.type(description="What closeSalesAttentions or transferSalesAttentions did (X2): counts, each outcome.")
class SalesAttentionsBulkPayload:
    done: strawberry.Private[BulkResult | None] = None
    closed_count: int = strawberry.field(default=0, description="Attentions closed.")
    transferred_count: int = strawberry.field(default=0, description="Attentions transferred.")
    unchanged_count: int = strawberry.field(default=0, description="Already with that agent in that group.")
    rejected_count: int = strawberry.field(default=0, description="Attentions rejected, each with its rejection.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)

    @classmethod
    def of(cls, done: BulkResult) -> "SalesAttentionsBulkPayload":
        counts = done.counts
        return cls(
            done=done,
            closed_count=counts[BulkOutcome.CLOSED],
            transferred_count=counts[BulkOutcome.TRANSFERRED],
            unchanged_count=counts[BulkOutcome.UNCHANGED],
            rejected_count=counts[BulkOutcome.REJECTED],
        )

    @strawberry.field(
        description="Each selected attention's outcome (ids given and not found first, then by id); narrow with "
        "`outcomes`. A page at a time: a selection by filter may hold any number."
    )
    def results(
        self,
        info: Info,
        outcomes: Annotated[list[BulkOutcome] | None, strawberry.argument(description=docs.OUTCOMES)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[SalesAttentionBulkResult]:
        everything = self.done.outcomes if self.done else []
        items = [o for o in everything if not outcomes or o.outcome in outcomes]
        request = PageRequest(first=first, after=after, last=last, before=before)
        page = paginate_sequence(items, request=request, max_page_size=info.context.settings.max_page_size)

        async def count() -> int:
            return len(items)

        return connection(page, SalesAttentionBulkResult.of, count)

    @strawberry.field(description="The call's BATCH audit event; its entries are the attentions' history rows.")
    async def audit_event(self, info: Info) -> AuditEvent | None:
        if self.done is None or self.done.event_id is None:
            return None
        row = await info.context.loaders.audit_event_by_id.load(self.done.event_id)
        return AuditEvent.from_row(row) if row else None
