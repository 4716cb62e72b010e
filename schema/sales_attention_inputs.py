"""Inputs and payloads of the sales catalogues and attentions (S1, S3)."""

import enum

import strawberry

from db.models import SalesAttentionStatus, SalesCatalogKind
from schema import docs
from schema.conversation_types import Conversation
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.sales_types import SalesAttention, SalesCatalogEntry
from services.sales_attentions import AttentionOrder


@strawberry.input(description="A new entry of one of the sales catalogues (admins).")
class CreateSalesCatalogEntryInput:
    kind: SalesCatalogKind = strawberry.field(description="Which catalogue.")
    name: str = strawberry.field(description="Unique within its catalogue (ALREADY_EXISTS).")
    position: int | None = strawberry.field(default=None, description="Last in its catalogue when absent.")


@strawberry.input(description="What to change in a catalogue entry (admins); absent fields stay.")
class UpdateSalesCatalogEntryInput:
    id: strawberry.ID = strawberry.field(description="The entry to change.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    position: int | None = strawberry.field(default=strawberry.UNSET, description="New position in its catalogue.")
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Deactivate (false) or activate (true)."
    )


@strawberry.type(description="Result of a sales catalogue mutation.")
class SalesCatalogEntryPayload:
    entry: SalesCatalogEntry | None = strawberry.field(default=None, description="The entry; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="A contact's new commercial attention (S1).")
class CreateSalesAttentionInput:
    contact_id: strawberry.ID = strawberry.field(description="The contact the attention is for (one you can see).")
    interest_id: strawberry.ID | None = strawberry.field(default=None, description="An active INTEREST entry.")
    origin_id: strawberry.ID | None = strawberry.field(default=None, description="An active ORIGIN entry.")
    agent_id: strawberry.ID | None = strawberry.field(
        default=None, description="A member of the group; you, when you are an agent and give none."
    )
    team_id: strawberry.ID | None = strawberry.field(default=None, description="The contact's team when absent.")
    status: SalesAttentionStatus = strawberry.field(
        default=SalesAttentionStatus.OPEN, description="OPEN or PENDING; closing takes updateSalesAttention."
    )


@strawberry.input(description="What to change in an attention; absent fields stay, null clears where allowed.")
class UpdateSalesAttentionInput:
    id: strawberry.ID = strawberry.field(description="The attention to change.")
    interest_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An active INTEREST entry; null clears it."
    )
    origin_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An active ORIGIN entry; null clears it."
    )
    status: SalesAttentionStatus | None = strawberry.field(
        default=strawberry.UNSET,
        description="CLOSED needs closeReasonId; reopening a CLOSED one clears its reason.",
    )
    close_reason_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An active CLOSE_REASON entry, with status CLOSED."
    )
    agent_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Null: nobody's. The agent must belong to the group."
    )
    team_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="A new group you can see.")


@strawberry.type(description="The attention as the panel shows it to you: null for agents, who do not read it (S2).")
class SalesAttentionPayload:
    attention: SalesAttention | None = strawberry.field(
        default=None, description="The attention; null when refused or for agents."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="Mark a conversation you work commercial (S1).")
class MarkConversationCommercialInput:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation: yours, or one you manage.")
    interest_id: strawberry.ID | None = strawberry.field(default=None, description="For an attention it opens.")
    origin_id: strawberry.ID | None = strawberry.field(default=None, description="For an attention it opens.")


@strawberry.type(description="The conversation, and its attention as the panel shows it to you (null for agents).")
class MarkConversationCommercialPayload:
    attention: SalesAttention | None = strawberry.field(
        default=None, description="The contact's open attention, made or found; null for agents."
    )
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation, marked commercial."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


class SalesAttentionOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    PENDING_SINCE = "PENDING_SINCE"
    CLOSED_AT = "CLOSED_AT"


docs.enum(
    SalesAttentionOrderField,
    name="SalesAttentionOrderField",
    description="What the sales panel sorts by.",
    values={
        "CREATED_AT": "When the attention was created (the default).",
        "UPDATED_AT": "When it last changed.",
        "PENDING_SINCE": "When it became PENDING.",
        "CLOSED_AT": "When it was closed.",
    },
)


@strawberry.input(description="Newest attention first unless said (S1); rows without the instant go last.")
class SalesAttentionOrder:
    field: SalesAttentionOrderField = strawberry.field(
        default=SalesAttentionOrderField.CREATED_AT, description=docs.ORDER_FIELD
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="DESC (the default, newest first) or ASC."
    )

    def to_service(self) -> tuple[AttentionOrder, bool]:
        return AttentionOrder(self.field.value), self.direction is OrderDirection.DESC
