"""Inputs and payloads of conversations (A1, A3, C9): the list's filter and order, moves, messages."""

import enum

import strawberry

from db.models import ChannelKind, ConversationStatus
from schema import docs
from schema.conversation_types import Conversation, ConversationMessage
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks
from services import conversations
from services.conversation_messages import MessageKind

docs.enum(
    MessageKind,
    name="ConversationMessageKind",
    description="What sendMessage writes.",
    values={
        "REPLY": "A reply to the client (OUT), for the integrator to deliver.",
        "NOTE": "An internal note (NOTE), never delivered.",
    },
)


@strawberry.input(description="Narrow the conversations list; all given conditions must hold.")
class ConversationFilter:
    statuses: list[ConversationStatus] | None = strawberry.field(
        default=None, description="With any of these statuses."
    )
    agent_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Assigned to any of these agents."
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In any of these teams.")
    contact_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="With any of these contacts.")
    channel_kinds: list[ChannelKind] | None = strawberry.field(
        default=None, description="On any of these channel kinds."
    )
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


class ConversationOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


docs.enum(
    ConversationOrderField,
    name="ConversationOrderField",
    description="What the conversations list sorts by.",
    values={
        "CREATED_AT": "When the conversation was created.",
        "UPDATED_AT": "When the conversation last changed.",
    },
)


@strawberry.input(description="Newest first unless told otherwise.")
class ConversationOrder:
    field: ConversationOrderField = strawberry.field(
        default=ConversationOrderField.CREATED_AT, description=docs.ORDER_FIELD
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC, description="DESC (the default, newest first) or ASC."
    )

    def to_service(self) -> tuple[conversations.ConversationOrder, bool]:
        return conversations.ConversationOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(one_of=True, description="Where a transfer goes: an agent, or a team's queue.")
class TransferTarget:
    agent_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An agent who may see the conversation: it becomes theirs (OPEN)."
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="A team: it waits UNASSIGNED in that team's queue, or the router picks one of its agents.",
    )


@strawberry.input(description="Hand your conversation to an agent or a team (A3).")
class TransferConversationInput:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation (yours, or one you manage).")
    to: TransferTarget = strawberry.field(description="Where it goes.")


@strawberry.input(description="Open a conversation with a contact on one of its channels, yours (C9).")
class StartConversationInput:
    contact_id: strawberry.ID = strawberry.field(description="The contact (NOT_FOUND unless you see it).")
    channel_id: strawberry.ID = strawberry.field(description="One of the contact's channels.")


@strawberry.input(description="A message on a conversation.")
class SendMessageInput:
    conversation_id: strawberry.ID = strawberry.field(
        description="The conversation: OPEN and yours for a reply (CONFLICT when resolved or queued)."
    )
    text: str = strawberry.field(
        description="The text (REQUIRED when blank; TOO_LONG past the limit), kept with its lines."
    )
    kind: MessageKind = strawberry.field(default=MessageKind.REPLY, description="REPLY (the default) or NOTE.")
    duration_seconds: int | None = strawberry.field(default=None, description="A call's length (PHONE only).")


@strawberry.type(description="Result of a conversation mutation.")
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="As you see it now: null when the change took it out of your sight."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of takeNextConversation.")
class TakeNextConversationPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation you took, yours now; null when none is waiting."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of sendMessage.")
class SendMessagePayload:
    message: ConversationMessage | None = strawberry.field(
        default=None, description="The message stored; null when refused."
    )
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation after it; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
