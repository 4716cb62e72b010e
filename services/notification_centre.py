"""The notification centre's read side (S6): a user's list, its unread count, marking read.

Writing one is services.notifications.notify, in the producer's transaction. Every role has a
centre, and each user reads only its own (db.scopes.notifications): someone else's id reads as
one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Notification
from db.sets import execute_counting, in_ids
from services.errors import ErrorCode, Problem, fail
from services.principal import Principal

# Newest first, along ix_notifications_user_created (ix_notifications_user_unread for unread ones).
KEYS = (
    SortKey(Notification.created_at, "created_at", "datetime", True),
    SortKey(Notification.id, "id", "int", True),
)


@dataclass(frozen=True)
class NotificationFilter:
    # True: only unread; False: only read; None: all.
    unread: bool | None = None


def filtered(viewer: Principal, flt: NotificationFilter) -> Select[Any]:
    stmt = scopes.notifications(select(Notification), viewer)
    if flt.unread is not None:
        stmt = stmt.where(Notification.read_at.is_(None) if flt.unread else Notification.read_at.is_not(None))
    return stmt


async def list_notifications(
    session: AsyncSession, viewer: Principal, flt: NotificationFilter, page: PageRequest, *, max_page_size: int
) -> tuple[Page[Notification], Select[Any]]:
    """A page of the viewer's notifications, newest first, and the statement for totalCount."""
    stmt = filtered(viewer, flt)
    return await paginate(session, stmt, keys=KEYS, request=page, max_page_size=max_page_size), stmt


async def unread_count(session: AsyncSession, viewer: Principal) -> int:
    stmt = filtered(viewer, NotificationFilter(unread=True)).with_only_columns(func.count())
    return int(await session.scalar(stmt) or 0)


@dataclass(frozen=True)
class MarkResult:
    updated: int
    unread: int
    # Ids given that are not the actor's notifications, by their position in the input.
    missing: tuple[Problem, ...] = ()


async def mark_read(session: AsyncSession, actor: Principal, *, ids: Sequence[int] | None, max_ids: int) -> MarkResult:
    """Mark these notifications (None: all the actor's unread ones) read. An id that is not the
    actor's is NOT_FOUND at its position (`ids.2`) and changes nothing; the others are marked."""
    dialect = session.get_bind().dialect.name
    stmt = update(Notification).where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    missing: list[Problem] = []
    if ids is not None:
        if len(ids) > max_ids:
            raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {max_ids} notifications by id; use all", "ids")
        unique = list(dict.fromkeys(ids))
        own = set(
            await session.scalars(
                scopes.notifications(select(Notification.id).where(in_ids(Notification.id, unique, dialect)), actor)
            )
        )
        missing = [
            Problem(ErrorCode.NOT_FOUND, "Notification not found", f"ids.{i}")
            for i, pk in enumerate(ids)
            if pk not in own
        ]
        if not own:
            return MarkResult(0, await unread_count(session, actor), tuple(missing))
        stmt = stmt.where(in_ids(Notification.id, sorted(own), dialect))
    updated = await execute_counting(session, stmt.values(read_at=utcnow()))
    return MarkResult(updated, await unread_count(session, actor), tuple(missing))
