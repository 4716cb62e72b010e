"""Conversation types (A1, A2): conversations, their messages, and the routing decision."""

from datetime import datetime
from typing import Any

import strawberry

from db import batches, models
from db.keyset import PageRequest
from db.models import ChannelKind, ConversationStatus, MessageDirection, RoutingMethod
from schema import docs, sql_map
from schema.connection import Connection
from schema.contact_types import Contact, ContactChannel
from schema.gestion_types import Gestion
from schema.node import Node, to_global_id
from schema.types import CursorArg, Info, PageArg, Team, User, nested_connection
from services.routing_trace import RoutingRule, SkipReason, Trace

docs.enum(
    RoutingRule,
    name="RoutingRule",
    description="What decided where a conversation went: the contact's portfolio (P7), the method (A2) or a person.",
    values={
        "PORTFOLIO_AGENT": "The agent who owns the contact's portfolio, straight.",
        "PORTFOLIO_TEAM": "The team of the contact's portfolio, by the method within that team.",
        "ROUND_ROBIN": "Strict turns over the ONLINE agents.",
        "LOAD_BALANCED": "The ONLINE agent with the fewest open conversations.",
        "LAST_RESPONSIBLE": "The agent who last interacted with the contact.",
        "DEFAULT_GROUP": "The queue of the chosen team.",
        "BY_CHANNEL": "The agents chosen for the channel kind.",
        "MANUAL": "A person assigned, transferred or took it, or its agent started it.",
        "REOPENED": "The client wrote again within the reopen window: back to the agent who had it.",
    },
)
docs.enum(
    SkipReason,
    name="RoutingSkipReason",
    description="Why the router passed an agent over.",
    values={
        "OFFLINE": "The agent was OFFLINE.",
        "AWAY": "The agent was AWAY.",
        "AT_CAPACITY": "The agent had the most open conversations the capacity allows.",
        "CANNOT_SEE": "The contact is outside what the agent may see (R3).",
        "INACTIVE": "The user is deactivated.",
        "TRANSFERRED_FROM": "The agent who transferred it to the team.",
    },
)


@strawberry.type(description="An agent the router passed over, and why.")
class RoutingSkip:
    user_pk: strawberry.Private[int]
    user_name: str = strawberry.field(description="As it was when the decision was made.")
    reason: SkipReason = strawberry.field(description="Why the router passed them over.")

    @strawberry.field(description="Null when you cannot see that user.")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row else None


@strawberry.type(
    description="Why a conversation went where it went (A2): the rule, who was considered, "
    "who was skipped and why, who was chosen."
)
class ConversationRouting:
    trace: strawberry.Private[Trace]
    rule: RoutingRule = strawberry.field(description="What decided where it went.")
    method: RoutingMethod = strawberry.field(description="The account's method when it was decided.")
    decided_at: datetime = strawberry.field(description="When the decision was made.")
    fallback: str | None = strawberry.field(description="Set when the rule fell back to another, saying why.")
    skipped: list[RoutingSkip] = strawberry.field(description="In the order they were passed over.")
    chosen_name: str | None = strawberry.field(description="Null: nobody could take it, and it waits in the queue.")
    candidate_count: int = strawberry.field(description="Agents considered.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> "ConversationRouting":
        trace = Trace.of(data)
        return cls(
            trace=trace,
            rule=trace.rule,
            method=trace.method,
            decided_at=trace.decided_at,
            fallback=trace.fallback,
            skipped=[RoutingSkip(user_pk=s.user_id, user_name=s.name, reason=s.reason) for s in trace.skipped],
            chosen_name=trace.chosen_name,
            candidate_count=len(trace.candidate_ids),
        )

    @strawberry.field(description="Who was considered, in turn order; those you cannot see are left out.")
    async def candidates(self, info: Info) -> list[User]:
        rows = await info.context.loaders.user_by_id.load_many(self.trace.candidate_ids)
        return [User.from_row(r) for r in rows if r is not None]

    @strawberry.field(description="Null when nobody was chosen, or when you cannot see that user.")
    async def chosen(self, info: Info) -> User | None:
        if self.trace.chosen_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.trace.chosen_id)
        return User.from_row(row) if row else None

    @strawberry.field(description="The team whose agents were considered; null when none was, or you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        if self.trace.team_id is None:
            return None
        row = await info.context.loaders.team_by_id.load(self.trace.team_id)
        return Team.from_row(row) if row else None


@strawberry.type(description="One entry of a conversation's timeline (A1).")
class ConversationMessage(Node):
    pk: strawberry.Private[int]
    conversation_pk: strawberry.Private[int]
    author_pk: strawberry.Private[int | None]
    direction: MessageDirection = strawberry.field(
        description="IN from the client; OUT an agent's reply; NOTE internal, never delivered."
    )
    author_name: str | None = strawberry.field(description="Null for the client's own messages.")
    text: str = strawberry.field(description="The message's text, trimmed.")
    sent_at: datetime = strawberry.field(
        description="When it was sent: the integrator's time for incoming messages, else when it was written."
    )
    external_id: str | None = strawberry.field(description="The integrator's id of an incoming message.")
    duration_seconds: int | None = strawberry.field(description="A call's length (PHONE).")
    created_at: datetime = strawberry.field(description="When the API stored it.")

    @classmethod
    def from_row(cls, row: models.ConversationMessage) -> "ConversationMessage":
        return cls(
            id=to_global_id("ConversationMessage", row.id),
            pk=row.id,
            conversation_pk=row.conversation_id,
            author_pk=row.author_id,
            direction=MessageDirection(row.direction),
            author_name=row.author_name,
            text=row.text,
            sent_at=row.sent_at,
            external_id=row.external_id,
            duration_seconds=row.duration_seconds,
            created_at=row.created_at,
        )

    @strawberry.field(description="The agent who wrote it; null for the client's, or when you cannot see that user.")
    async def author(self, info: Info) -> User | None:
        if self.author_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.author_pk)
        return User.from_row(row) if row else None


@strawberry.type(description="A client's conversation on one of its channels (A1); a call is one on PHONE.")
class Conversation(Node):
    pk: strawberry.Private[int]
    contact_pk: strawberry.Private[int]
    channel_pk: strawberry.Private[int | None]
    agent_pk: strawberry.Private[int | None]
    team_pk: strawberry.Private[int]
    routing_data: strawberry.Private[dict[str, Any] | None]
    status: ConversationStatus = strawberry.field(description="UNASSIGNED, OPEN or RESOLVED.")
    channel_kind: ChannelKind = strawberry.field(description="The channel kind it runs on (a call is PHONE).")
    channel_address: str = strawberry.field(description="Normalised, as it came in (E.164, folded e-mail, handle).")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    assigned_at: datetime | None = strawberry.field(
        description="When it was last given to an agent; null while it never was."
    )
    first_reply_at: datetime | None = strawberry.field(description="When an agent first replied; null until then.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved; null while not resolved.")
    last_message_at: datetime | None = strawberry.field(
        description="When the last message came or went; null without messages."
    )
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Conversation) -> "Conversation":
        return cls(
            id=to_global_id("Conversation", row.id),
            pk=row.id,
            contact_pk=row.contact_id,
            channel_pk=row.channel_id,
            agent_pk=row.agent_id,
            team_pk=row.team_id,
            routing_data=row.routing,
            status=ConversationStatus(row.status),
            channel_kind=ChannelKind(row.channel_kind),
            channel_address=row.channel_address,
            created_at=row.created_at,
            assigned_at=row.assigned_at,
            first_reply_at=row.first_reply_at,
            resolved_at=row.resolved_at,
            last_message_at=row.last_message_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The client (C8: name and channels read from the contact).")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_row(row) if row else None

    @strawberry.field(description="The contact channel it came in on; null once the contact no longer has it.")
    async def channel(self, info: Info) -> ContactChannel | None:
        if self.channel_pk is None:
            return None
        row = await info.context.loaders.channel_by_id.load(self.channel_pk)
        return ContactChannel.from_row(row) if row else None

    @strawberry.field(description="The agent it is assigned to; null while UNASSIGNED or when you cannot see them.")
    async def agent(self, info: Info) -> User | None:
        if self.agent_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.agent_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The team it belongs to; null when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        row = await info.context.loaders.team_by_id.load(self.team_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="Why it went where it went (A2); null for one never routed.")
    def routing(self) -> ConversationRouting | None:
        return ConversationRouting.of(self.routing_data) if self.routing_data else None

    @strawberry.field(description="Its timeline, in the order it happened: the client's messages, replies and notes.")
    async def messages(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[ConversationMessage]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info,
            loaders.conversation_messages,
            loaders.conversation_message_count,
            self.pk,
            request,
            ConversationMessage.from_row,
        )

    @strawberry.field(description="Its latest timeline entry (an inbox row's preview); null while it has none.")
    async def last_message(self, info: Info) -> ConversationMessage | None:
        page = await info.context.loaders.conversation_latest_messages.load((self.pk, PageRequest(first=1)))
        return ConversationMessage.from_row(page.rows[0]) if page.rows else None


def history_item(row: Any) -> Conversation | Gestion:
    """A row of db.batches.ContactHistory's pages: the conversation or the gestión it joined."""
    return Conversation.from_row(row.Conversation) if row.Conversation is not None else Gestion.from_row(row.Gestion)


# Compiled reads (schema/sql_map.py).
_USERS = sql_map.seen_as_loaded(models.User)
sql_map.declare(
    "ConversationMessage",
    {
        "id": sql_map.global_id("ConversationMessage"),
        "direction": sql_map.text("direction"),
        "authorName": sql_map.text("author_name"),
        "text": sql_map.text("text"),
        "sentAt": sql_map.instant("sent_at"),
        "externalId": sql_map.text("external_id"),
        "durationSeconds": sql_map.number("duration_seconds"),
        "createdAt": sql_map.instant("created_at"),
        "author": sql_map.Nested("User", "users", "{a}.id = {t}.author_id", visible=_USERS),
    },
)
sql_map.declare(
    "Conversation",
    {
        "id": sql_map.global_id("Conversation"),
        "status": sql_map.text("status"),
        "channelKind": sql_map.text("channel_kind"),
        "channelAddress": sql_map.text("channel_address"),
        "createdAt": sql_map.instant("created_at"),
        "assignedAt": sql_map.instant("assigned_at"),
        "firstReplyAt": sql_map.instant("first_reply_at"),
        "resolvedAt": sql_map.instant("resolved_at"),
        "lastMessageAt": sql_map.instant("last_message_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "contact": sql_map.Nested(
            "Contact", "contacts", "{a}.id = {t}.contact_id", visible=sql_map.seen_as_loaded(models.Contact)
        ),
        "channel": sql_map.Nested(
            "ContactChannel",
            "contact_channels",
            "{a}.id = {t}.channel_id",
            visible=sql_map.seen_as_loaded(models.ContactChannel),
        ),
        "agent": sql_map.Nested("User", "users", "{a}.id = {t}.agent_id", visible=_USERS),
        "team": sql_map.Nested("Team", "teams", "{a}.id = {t}.team_id", visible=sql_map.seen_as_loaded(models.Team)),
        "messages": sql_map.Paged(batches.CONVERSATION_MESSAGES),
        # The conversation is seen, so its messages are (db.scopes.conversation_details).
        "lastMessage": sql_map.Nested(
            "ConversationMessage",
            "conversation_messages",
            "{a}.conversation_id = {t}.id",
            order="{a}.sent_at DESC, {a}.id DESC",
        ),
    },
)
