"""Inputs and payloads of the sales catalogues and attentions (S1, S3)."""

import enum

import strawberry

from db.models import SalesAttentionStatus, SalesCatalogKind
from schema.conversation_types import Conversation
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.sales_types import SalesAttention, SalesCatalogEntry
from services.sales_attentions import AttentionOrder


@strawberry.input(description="A new entry of one of the sales catalogues (admins).")
class CreateSalesCatalogEntryInput:
    kind: SalesCatalogKind
    name: str
    position: int | None = strawberry.field(default=None, description="Last in its catalogue when absent.")


@strawberry.input(description="What to change in a catalogue entry (admins); absent fields stay.")
class UpdateSalesCatalogEntryInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    position: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.type
class SalesCatalogEntryPayload:
    entry: SalesCatalogEntry | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A contact's new commercial attention (S1).")
class CreateSalesAttentionInput:
    contact_id: strawberry.ID
    interest_id: strawberry.ID | None = None
    origin_id: strawberry.ID | None = None
    agent_id: strawberry.ID | None = strawberry.field(
        default=None, description="A member of the group; you, when you are an agent and give none."
    )
    team_id: strawberry.ID | None = strawberry.field(default=None, description="The contact's team when absent.")
    status: SalesAttentionStatus = strawberry.field(
        default=SalesAttentionStatus.OPEN, description="OPEN or PENDING; closing takes updateSalesAttention."
    )


@strawberry.input(description="What to change in an attention; absent fields stay, null clears where allowed.")
class UpdateSalesAttentionInput:
    id: strawberry.ID
    interest_id: strawberry.ID | None = strawberry.UNSET
    origin_id: strawberry.ID | None = strawberry.UNSET
    status: SalesAttentionStatus | None = strawberry.field(
        default=strawberry.UNSET,
        description="CLOSED needs closeReasonId; reopening a CLOSED one clears its reason.",
    )
    close_reason_id: strawberry.ID | None = strawberry.UNSET
    agent_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Null: nobody's. The agent must belong to the group."
    )
    team_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type(description="The attention as the panel shows it to you: null for agents, who do not read it (S2).")
class SalesAttentionPayload:
    attention: SalesAttention | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Mark a conversation you work commercial (S1).")
class MarkConversationCommercialInput:
    conversation_id: strawberry.ID
    interest_id: strawberry.ID | None = strawberry.field(default=None, description="For an attention it opens.")
    origin_id: strawberry.ID | None = strawberry.field(default=None, description="For an attention it opens.")


@strawberry.type(description="The conversation, and its attention as the panel shows it to you (null for agents).")
class MarkConversationCommercialPayload:
    attention: SalesAttention | None = None
    conversation: Conversation | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.enum(name="SalesAttentionOrderField")
class SalesAttentionOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    PENDING_SINCE = "PENDING_SINCE"
    CLOSED_AT = "CLOSED_AT"


@strawberry.input(description="Newest attention first unless said (S1); rows without the instant go last.")
class SalesAttentionOrder:
    field: SalesAttentionOrderField = SalesAttentionOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC

    def to_service(self) -> tuple[AttentionOrder, bool]:
        return AttentionOrder(self.field.value), self.direction is OrderDirection.DESC
