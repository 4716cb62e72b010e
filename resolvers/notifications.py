"""Root fields of the notification centre (S6): the list, the unread count, marking read."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest
from resolvers.uow import mutate
from schema import docs
from schema.connection import Connection, connection
from schema.errors import UserError
from schema.node import pk_of
from schema.notification_types import (
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Notification,
    NotificationFilter,
)
from schema.types import CursorArg, Info, PageArg
from services import notification_centre
from services.errors import ErrorCode, fail
from services.notification_centre import MarkResult
from services.principal import Principal


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="Your notifications (S6), newest first; every role has a centre.")
    async def notifications(
        self,
        info: Info,
        filter: Annotated[NotificationFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Notification] | None:
        ctx = info.context
        flt = notification_centre.NotificationFilter(unread=(filter or NotificationFilter()).unread)
        page, stmt = await notification_centre.list_notifications(
            ctx.session,
            ctx.principal,
            flt,
            PageRequest(first=first, after=after, last=last, before=before),
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Notification.from_row, lambda: keyset.count(session, stmt))

    @strawberry.field(description="How many of your notifications are unread (the centre's badge).")
    async def unread_notification_count(self, info: Info) -> int | None:
        ctx = info.context
        return await notification_centre.unread_count(ctx.session, ctx.principal)


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="Mark notifications read: these ids, or all yours. An id that is not one of yours is "
        "NOT_FOUND at its position and changes nothing; the others are marked."
    )
    async def mark_notifications_read(
        self, info: Info, input: Annotated[MarkNotificationsReadInput, strawberry.argument(description=docs.INPUT)]
    ) -> MarkNotificationsReadPayload:
        ctx = info.context
        given = input.ids if isinstance(input.ids, list) else None
        # An id of another type is no notification of yours: NOT_FOUND at its place, as others' are.
        parsed = [pk_of(g, "Notification") or 0 for g in given] if given is not None else None

        async def work(session: AsyncSession, actor: Principal) -> MarkResult:
            if parsed is None and input.all is not True:
                raise fail(ErrorCode.INVALID, "Give the ids to mark, or all: true", "all")
            return await notification_centre.mark_read(
                session, actor, ids=parsed, max_ids=ctx.settings.max_selection_ids
            )

        result = await mutate(ctx, work)
        if isinstance(result, list):
            return MarkNotificationsReadPayload(user_errors=result)
        return MarkNotificationsReadPayload(
            updated_count=result.updated,
            unread_count=result.unread,
            user_errors=[UserError.from_problem(p) for p in result.missing],
        )
