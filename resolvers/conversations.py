"""Root fields for conversations (A1, A3, C9): the list, starting one, messages, and moving them by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest
from db.models import Conversation as ConversationRow
from resolvers.uow import mutate
from schema import docs
from schema.connection import Connection, connection
from schema.conversation_inputs import (
    ConversationFilter,
    ConversationOrder,
    ConversationPayload,
    SendMessageInput,
    SendMessagePayload,
    StartConversationInput,
    TakeNextConversationPayload,
    TransferConversationInput,
)
from schema.conversation_types import Conversation, ConversationMessage
from schema.ids import optional_pk, require_pk
from schema.types import CursorArg, Info, PageArg
from services import conversation_messages, conversation_queue, conversations
from services.principal import Principal


@strawberry.type
class ConversationQueries:
    @strawberry.field(
        description=(
            "Conversations you can see, newest first unless orderBy says: all (ADMIN), your teams' subtrees' "
            "(SUPERVISOR); an agent's own and its teams' queue, the ones it may take."
        )
    )
    async def conversations(
        self,
        info: Info,
        filter: Annotated[ConversationFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[ConversationOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Conversation] | None:
        ctx = info.context
        order, descending = (order_by or ConversationOrder()).to_service()
        page, stmt = await conversations.list_conversations(
            ctx.session,
            ctx.principal,
            (filter or ConversationFilter()).to_service(),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order,
            descending=descending,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Conversation.from_row, lambda: keyset.count(session, stmt))


def _given(value: strawberry.ID | None) -> strawberry.ID | None:
    """A @oneOf member: the one given, or None for the others."""
    return None if value is strawberry.UNSET else value


async def _visible(info: Info, row: ConversationRow | None) -> Conversation | None:
    """The conversation as the actor sees it after the change: read again through its scope."""
    if row is None:
        return None
    found = await info.context.loaders.conversation_by_id.load(row.id)
    return Conversation.from_row(found) if found else None


async def _conversation(
    info: Info, work: Callable[[AsyncSession, Principal], Awaitable[ConversationRow]]
) -> ConversationPayload:
    result = await mutate(info.context, work)
    if isinstance(result, list):
        return ConversationPayload(user_errors=result)
    return ConversationPayload(conversation=await _visible(info, result))


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(
        description=(
            "Open a conversation with a contact on one of its channels, assigned to you (C9: call, WhatsApp…). "
            "Your own open one on that channel is answered as it is; anyone else's is a CONFLICT."
        )
    )
    async def start_conversation(
        self, info: Info, input: Annotated[StartConversationInput, strawberry.argument(description=docs.INPUT)]
    ) -> ConversationPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            contact_id = require_pk(input.contact_id, "Contact", "contactId")
            channel_id = require_pk(input.channel_id, "ContactChannel", "channelId")
            return await conversations.start(session, actor, contact_id, channel_id)

        return await _conversation(info, work)

    @strawberry.mutation(
        description=(
            "Reply to the client (REPLY, on an OPEN conversation: take one waiting in the queue first) or leave "
            "an internal note (NOTE, on any conversation you see)."
        )
    )
    async def send_message(
        self, info: Info, input: Annotated[SendMessageInput, strawberry.argument(description=docs.INPUT)]
    ) -> SendMessagePayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await conversation_messages.send_message(
                session,
                actor,
                require_pk(input.conversation_id, "Conversation", "conversationId"),
                text=input.text,
                kind=input.kind,
                duration_seconds=input.duration_seconds,
            )

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return SendMessagePayload(user_errors=result)
        loaders = info.context.loaders
        message = await loaders.message_by_id.load(result.id)
        conversation = await loaders.conversation_by_id.load(result.conversation_id)
        return SendMessagePayload(
            message=ConversationMessage.from_row(message) if message else None,
            conversation=Conversation.from_row(conversation) if conversation else None,
        )

    @strawberry.mutation(
        description="Give a conversation to an active agent who may see its contact (A3; admins, supervisors)."
    )
    async def assign_conversation(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The conversation to give (admins and its supervisors).")
        ],
        agent_id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The agent who gets it; they must be able to see its contact."),
        ],
    ) -> ConversationPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            pk = require_pk(id, "Conversation", "id")
            return await conversations.assign(session, actor, pk, require_pk(agent_id, "User", "agentId"))

        return await _conversation(info, work)

    @strawberry.mutation(
        description=(
            "Hand a conversation to another agent, or to a team, whose agents it is routed among by the "
            "routing method, never back to its agent (UNASSIGNED in the team's queue when nobody may take it; "
            "its agent, its team's supervisors, admins)."
        )
    )
    async def transfer_conversation(
        self, info: Info, input: Annotated[TransferConversationInput, strawberry.argument(description=docs.INPUT)]
    ) -> ConversationPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await conversations.transfer(
                session,
                actor,
                require_pk(input.conversation_id, "Conversation", "conversationId"),
                agent_id=optional_pk(_given(input.to.agent_id), "User", "to.agentId"),
                team_id=optional_pk(_given(input.to.team_id), "Team", "to.teamId"),
            )

        return await _conversation(info, work)

    @strawberry.mutation(description="Resolve a conversation (its agent, its team's supervisors, admins).")
    async def resolve_conversation(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The conversation to resolve.")]
    ) -> ConversationPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await conversations.resolve(session, actor, require_pk(id, "Conversation", "id"))

        return await _conversation(info, work)

    @strawberry.mutation(
        description=(
            "The dispenser (A3): take the oldest conversation waiting in your teams' queues, yours at once; "
            "null when none is waiting. At the routing capacity you take none (LIMIT_EXCEEDED)."
        )
    )
    async def take_next_conversation(self, info: Info) -> TakeNextConversationPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await conversation_queue.take_next(session, actor)

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return TakeNextConversationPayload(user_errors=result)
        return TakeNextConversationPayload(conversation=await _visible(info, result))
