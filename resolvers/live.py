"""Live fields: the `inbox` subscription (RT1-RT4) and presence (R4).

A subscription outlives the operation that started it: its events are resolved with no
operation session, so the inbox opens short sessions of its own for the few reads it needs
(the principal, the replay), and every message is built from the event alone.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PresenceStatus
from db.scopes import may_receive
from resolvers.uow import mutate
from schema.context import Context
from schema.errors import UserError
from schema.inbox_types import SHOWN, InboxEvent
from schema.node import from_global_id
from schema.types import Info
from services import events, presence
from services.errors import ErrorCode, Unauthenticated, fail
from services.events import PERSONAL, LoggedEvent
from services.principal import Principal
from subscriptions.feed import Closing, Inbox

REPLAY_PAGE = 500


@strawberry.type
class PresencePayload:
    status: PresenceStatus | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _after(after: strawberry.ID | None) -> int | None:
    if after is None:
        return None
    kind, pk = from_global_id(after)
    if kind != "Event":
        raise fail(ErrorCode.INVALID, "Not the id of an inbox event", "after")
    return pk


async def _start(ctx: Context, after: int | None) -> Principal:
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
                "Events after this id are no longer kept: reload what you show, then subscribe without `after`",
                "after",
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
            "with 4410 (resume the same way); a token that expires or a user deactivated closes it with 4403."
        )
    )
    async def inbox(self, info: Info, after: strawberry.ID | None = None) -> AsyncGenerator[InboxEvent, None]:
        ctx = info.context
        after_id = _after(after)
        principal = await _start(ctx, after_id)
        inbox = ctx.app.hub.feed.register(principal)
        try:
            if after_id is not None:
                async for event in _replay(ctx, inbox, after_id):
                    ctx.app.hub.feed.delivered(event, replayed=True)
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
                    yield InboxEvent.from_event(item)
        finally:
            ctx.app.hub.feed.unregister(inbox)


@strawberry.type
class PresenceMutations:
    @strawberry.mutation(description="Set your own presence (R4); supervisors of your teams see it change live.")
    async def set_presence(self, info: Info, status: PresenceStatus) -> PresencePayload:
        async def work(session: AsyncSession, actor: Principal) -> PresenceStatus:
            return await presence.set_presence(session, actor, status)

        result = await mutate(info.context, work)
        if isinstance(result, list):
            return PresencePayload(user_errors=result)
        return PresencePayload(status=result)
