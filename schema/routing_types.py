"""Routing settings (A2) and intake (A1): their types, inputs and payloads."""

from datetime import datetime

import strawberry

from db.models import ChannelKind, RoutingMethod
from schema import docs
from schema.contact_inputs import ChannelInput
from schema.conversation_types import Conversation, ConversationMessage, ConversationRouting
from schema.errors import UserError
from schema.types import Info, Team, User
from services import intake
from services.intake import Outcome
from services.routing_settings import Snapshot

docs.enum(
    Outcome,
    name="IntakeOutcome",
    description="What receiving a message did.",
    values={
        "APPENDED": "It joined the contact's open conversation on that address.",
        "OPENED": "A new conversation was opened and routed.",
        "REOPENED": "The contact's conversation resolved within the reopen window was reopened.",
        "DUPLICATE": "Its externalId was received before: nothing changed.",
    },
)


@strawberry.type(description="BY_CHANNEL: the agents who take one channel kind's conversations, in turn order.")
class RoutingChannelAgents:
    kind: ChannelKind = strawberry.field(description="The channel kind.")
    agent_pks: strawberry.Private[tuple[int, ...]]

    @strawberry.field(description="In turn order (by id); those you cannot see are left out.")
    async def agents(self, info: Info) -> list[User]:
        rows = await info.context.loaders.user_by_id.load_many(list(self.agent_pks))
        return [User.from_row(r) for r in rows if r is not None]


@strawberry.type(description="How incoming conversations are routed (A2); admins only.")
class RoutingSettings:
    default_team_pk: strawberry.Private[int | None]
    intake_team_pk: strawberry.Private[int | None]
    method: RoutingMethod = strawberry.field(
        description="Used for contacts in no portfolio, and within the team of a portfolio no agent owns (P7)."
    )
    channel_agents: list[RoutingChannelAgents] = strawberry.field(
        description="BY_CHANNEL's agents per channel kind; kinds with none are left out."
    )
    capacity: int | None = strawberry.field(
        description="The most OPEN conversations an agent holds before every method passes it over; null: no limit."
    )
    reopen_window_minutes: int = strawberry.field(
        description="A client writing again within this long after its conversation was resolved reopens it."
    )
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def of(cls, snapshot: Snapshot) -> "RoutingSettings":
        row = snapshot.row
        return cls(
            default_team_pk=row.default_team_id,
            intake_team_pk=row.intake_team_id,
            method=RoutingMethod(row.method),
            channel_agents=[RoutingChannelAgents(kind=a.kind, agent_pks=a.agent_ids) for a in snapshot.channel_agents],
            capacity=row.capacity,
            reopen_window_minutes=row.reopen_window_minutes,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="DEFAULT_GROUP's team.")
    async def default_team(self, info: Info) -> Team | None:
        return await _team(info, self.default_team_pk)

    @strawberry.field(description="Where a contact created by intake is filed; null: the oldest top-level team.")
    async def intake_team(self, info: Info) -> Team | None:
        return await _team(info, self.intake_team_pk)


async def _team(info: Info, pk: int | None) -> Team | None:
    if pk is None:
        return None
    row = await info.context.loaders.team_by_id.load(pk)
    return Team.from_row(row) if row else None


@strawberry.input(description="One channel kind's BY_CHANNEL agents.")
class ChannelAgentsInput:
    kind: ChannelKind = strawberry.field(description="The channel kind.")
    agent_ids: list[strawberry.ID] = strawberry.field(description="Active agents (role AGENT).")


@strawberry.input(description="Only the fields you give change; null clears a team, or the capacity (no limit).")
class UpdateRoutingSettingsInput:
    method: RoutingMethod | None = strawberry.field(default=strawberry.UNSET, description="The routing method (A2).")
    default_team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="DEFAULT_GROUP's team: required with that method."
    )
    channel_agents: list[ChannelAgentsInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "BY_CHANNEL's agents, the whole list: a kind left out has none. That method needs one kind with agents."
        ),
    )
    intake_team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Where intake files a contact it creates; null: the oldest top-level team.",
    )
    capacity: int | None = strawberry.field(default=strawberry.UNSET, description="1 or more; null: no limit.")
    reopen_window_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="From 0 to 129600 (90 days); 0 never reopens."
    )


@strawberry.type(description="Result of updateRoutingSettings.")
class RoutingSettingsPayload:
    routing_settings: RoutingSettings | None = strawberry.field(
        default=None, description="The settings as they are now; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="One message an integrator received from a client (A1).")
class ReceiveMessageInput:
    channel: ChannelInput = strawberry.field(
        description="Where it came from: normalised as contact channels are (E.164, folded e-mail, handle)."
    )
    text: str = strawberry.field(description="The message's text (REQUIRED when blank).")
    external_id: str = strawberry.field(
        description="The provider's id of the message: sending it again changes nothing (a webhook's retry)."
    )
    sent_at: datetime | None = strawberry.field(
        default=None, description="When the client sent it; not given: the moment it is received."
    )
    contact_name: str | None = strawberry.field(
        default=None,
        description=(
            "The sender's display name, for a sender no contact has: its first word the first names, the rest the "
            "last names."
        ),
    )
    duration_seconds: int | None = strawberry.field(default=None, description="A call's length (PHONE only).")

    def to_service(self) -> intake.IncomingMessage:
        return intake.IncomingMessage(
            kind=self.channel.kind,
            value=self.channel.value,
            text=self.text,
            external_id=self.external_id,
            sent_at=self.sent_at,
            contact_name=self.contact_name,
            duration_seconds=self.duration_seconds,
        )


@strawberry.type(description="Result of receiveMessage.")
class ReceiveMessagePayload:
    outcome: Outcome | None = strawberry.field(default=None, description="What the message did; null when refused.")
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation it joined or opened; null when refused."
    )
    message: ConversationMessage | None = strawberry.field(
        default=None,
        description="The message stored (for DUPLICATE, the one stored the first time); null when refused.",
    )
    routing: ConversationRouting | None = strawberry.field(
        default=None, description="The routing this message caused (OPENED, REOPENED); null otherwise."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)

    @classmethod
    def of(cls, received: intake.Received) -> "ReceiveMessagePayload":
        return cls(
            outcome=received.outcome,
            conversation=Conversation.from_row(received.conversation),
            message=ConversationMessage.from_row(received.message),
            routing=ConversationRouting.of(received.trace.as_json()) if received.trace else None,
        )
