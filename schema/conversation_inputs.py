"""Inputs and payloads of conversations (A1, A3, C9): the list's filter and order, moves, messages."""

import enum

import strawberry

from db.models import ChannelKind, ConversationStatus
from schema.conversation_types import Conversation, ConversationMessage
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks
from services import conversations
from services.conversation_messages import MessageKind

strawberry.enum(MessageKind, name="ConversationMessageKind", description="REPLY goes to the client; NOTE stays inside.")


@strawberry.input(description="Narrow the conversations list; all given conditions must hold.")
class ConversationFilter:
    statuses: list[ConversationStatus] | None = None
    agent_ids: list[strawberry.ID] | None = None
    team_ids: list[strawberry.ID] | None = None
    contact_ids: list[strawberry.ID] | None = None
    channel_kinds: list[ChannelKind] | None = None
    unassigned: bool | None = strawberry.field(
        default=None, description="True: no agent (waiting in a queue, or resolved from one); false: an agent's."
    )

    def to_service(self) -> conversations.ConversationFilter:
        return conversations.ConversationFilter(
            statuses=tuple(self.statuses or ()),
            agent_ids=pks(self.agent_ids, "User", "filter.agentIds"),
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            contact_ids=pks(self.contact_ids, "Contact", "filter.contactIds"),
            channel_kinds=tuple(self.channel_kinds or ()),
            unassigned=self.unassigned,
        )


@strawberry.enum
class ConversationOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input(description="Newest first unless told otherwise.")
class ConversationOrder:
    field: ConversationOrderField = ConversationOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC

    def to_service(self) -> tuple[conversations.ConversationOrder, bool]:
        return conversations.ConversationOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(one_of=True, description="Where a transfer goes: an agent, or a team's queue.")
class TransferTarget:
    agent_id: strawberry.ID | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input
class TransferConversationInput:
    conversation_id: strawberry.ID
    to: TransferTarget


@strawberry.input(description="Open a conversation with a contact on one of its channels, yours (C9).")
class StartConversationInput:
    contact_id: strawberry.ID
    channel_id: strawberry.ID = strawberry.field(description="One of the contact's channels.")


@strawberry.input
class SendMessageInput:
    conversation_id: strawberry.ID
    text: str
    kind: MessageKind = MessageKind.REPLY
    duration_seconds: int | None = strawberry.field(default=None, description="A call's length (PHONE only).")


@strawberry.type
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="As you see it now: null when the change took it out of your sight."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TakeNextConversationPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation you took, yours now; null when none is waiting."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SendMessagePayload:
    message: ConversationMessage | None = None
    conversation: Conversation | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
