"""Live fields: the `inbox` subscription (RT1-RT4) and presence (R4).

A subscription outlives the operation that started it: its events are resolved with no
operation session, so the inbox opens short sessions of its own for the few reads it needs
(the principal, the replay), and every message is built from the event alone.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PresenceStatus
from db.scopes import may_receive
from resolvers.uow import mutate
from schema import docs
from schema.context import Context
from schema.errors import UserError
from schema.inbox_types import SHOWN, InboxEvent
from schema.node import InvalidGlobalId, from_global_id
from schema.types import Info
from services import events, presence
from services.errors import ErrorCode, Unauthenticated, fail
from services.events import PERSONAL, LoggedEvent
from services.principal import Principal
from subscriptions.feed import Closing, Inbox

REPLAY_PAGE = 500


@strawberry.type(description="Result of setPresence.")
class PresencePayload:
    status: PresenceStatus | None = strawberry.field(default=None, description="Your presence now; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


# Where a client's last seen event id may come from: the field's argument, or what the transport
# carries (connection_init's `lastEventId` on WebSocket, the Last-Event-ID header on SSE).
AFTER = "after"
LAST_EVENT_ID = "lastEventId"
_RELOAD = {
    AFTER: "reload what you show, then subscribe without `after`",
    LAST_EVENT_ID: "reload what you show, then connect again without a last event id",
}


def _after(after: strawberry.ID | None) -> int | None:
    if after is None:
        return None
    kind, pk = from_global_id(after)
    if kind != "Event":
        raise fail(ErrorCode.INVALID, "Not the id of an inbox event", AFTER)
    return pk


def _resume_point(ctx: Context, after: strawberry.ID | None) -> tuple[int | None, str]:
    """Where the inbox starts, and which input named it: `after`, else the transport's last event id."""
    if after is not None or ctx.last_event_id is None:
        return _after(after), AFTER
    raw = ctx.last_event_id
    try:
        kind, pk = from_global_id(raw) if isinstance(raw, str) else ("", 0)
    except InvalidGlobalId:
        kind = ""
    if kind != "Event":
        raise fail(ErrorCode.INVALID, "The last event id is not the id of an inbox event", LAST_EVENT_ID)
    return pk, LAST_EVENT_ID


async def _start(ctx: Context, after: int | None, named_by: str) -> Principal:
    if ctx.token_user_id is None:
        raise Unauthenticated("Sign in first: send a valid bearer token")
    principal = await ctx.app.principals.get(ctx.token_user_id)
    if principal is None:
        raise Unauthenticated("This user cannot sign in")
    if after is None:
        return principal
    async with ctx.app.sessionmaker() as session:
        if after < await events.pruned_through(session):
            raise fail(
                ErrorCode.EXPIRED,
                f"Events after this id are no longer kept: {_RELOAD[named_by]}",
                named_by,
            )
    return principal


def _for(inbox: Inbox, event: LoggedEvent) -> bool:
    personal = event.kind in PERSONAL
    return event.kind in SHOWN and may_receive(
        inbox.principal, event.user_ids, event.team_ids, event.manager_team_ids, personal=personal
    )


async def _replay(ctx: Context, inbox: Inbox, after: int) -> AsyncGenerator[LoggedEvent, None]:
    """What the log holds between `after` and where the live feed took over (inbox.start)."""
    cursor = after
    while cursor < inbox.start:
        async with ctx.app.sessionmaker() as session:
            page = await events.after(session, cursor, limit=REPLAY_PAGE, until=inbox.start)
        if not page:
            return
        for event in page:
            cursor = event.id
            if _for(inbox, event):
                yield event


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description=(
            "Your live events (RT1): new assignments, badge changes of contacts you see, presence. Each "
            "carries its id: after a disconnection, `inbox(after: <last id>)` first replays what you missed, "
            "then goes on live, with nothing lost or repeated. Falling too far behind closes the socket "
            "with 4410 (resume the same way); a token that expires or a user deactivated closes it with 4403. "
            "A client that reconnects by itself (graphql-ws's `retryAttempts`) resumes without changing the "
            "subscription: put the last id it saw in connection_init's payload, "
            '`{"authorization": "Bearer …", "lastEventId": "<id>"}` (graphql-ws evaluates a function-valued '
            "`connectionParams` on every reconnection), or, over Server-Sent Events (/graphql/stream), in the "
            "Last-Event-ID header, which EventSource sends from each message's `id:`; an inbox without `after` "
            "then resumes from it exactly as with `after`. An id older than the retention is EXPIRED."
        )
    )
    async def inbox(
        self,
        info: Info,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=(
                    "The id of the last event you saw: events after it are replayed first (EXPIRED when no longer "
                    "kept). Omitted: live from now."
                )
            ),
        ] = None,
    ) -> AsyncGenerator[InboxEvent, None]:
        ctx = info.context
        after_id, named_by = _resume_point(ctx, after)
        principal = await _start(ctx, after_id, named_by)
        inbox = ctx.app.hub.feed.register(principal)
        try:
            if after_id is not None:
                async for event in _replay(ctx, inbox, after_id):
                    ctx.app.hub.feed.delivered(event, replayed=True)
                    ctx.delivered_event_id = event.id
                    yield InboxEvent.from_event(event)
            seen_through = max(after_id or 0, inbox.start)
            while True:
                item = await inbox.next()
                if isinstance(item, Closing):
                    if ctx.close_socket is not None:
                        await ctx.close_socket(item.code, item.reason)
                    return
                # Already replayed, when the client resumed from an id beyond this process's start.
                if item.id > seen_through and item.kind in SHOWN:
                    ctx.app.hub.feed.delivered(item)
                    ctx.delivered_event_id = item.id
                    yield InboxEvent.from_event(item)
        finally:
            ctx.app.hub.feed.unregister(inbox)


@strawberry.type
class PresenceMutations:
    @strawberry.mutation(description="Set your own presence (R4); supervisors of your teams see it change live.")
    async def set_presence(
        self, info: Info, status: Annotated[PresenceStatus, strawberry.argument(description="ONLINE, AWAY or OFFLINE.")]
    ) -> PresencePayload:
        async def work(session: AsyncSession, actor: Principal) -> PresenceStatus:
            return await presence.set_presence(session, actor, status)

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return PresencePayload(user_errors=result)
        return PresencePayload(status=result)
