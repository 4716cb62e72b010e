"""The notification centre (S6): what a user is told, kept until read, pushed live the moment
it is created.

Every producer (an export ready or failed, attentions, conversations or gestiones transferred
to someone) calls `notify` in the transaction that makes the change: the row and its inbox
event (NOTIFICATION, addressed to the one user) commit with it or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.ids import allocate_ids
from db.models import Notification, NotificationKind
from services import events
from services.events import EventKind

MAX_MESSAGE = 500


async def notify(
    session: AsyncSession, *, user_id: int, kind: NotificationKind, message: str, payload: Mapping[str, Any]
) -> int:
    """Write one notification for `user_id` and queue its live event; returns its id."""
    (notification_id,) = await allocate_ids(session, Notification, 1)
    created_at = utcnow()
    row = {
        "id": notification_id,
        "user_id": user_id,
        "kind": kind.value,
        "message": message[:MAX_MESSAGE],
        "payload": dict(payload),
        "created_at": created_at,
    }
    # Written now, not at the next flush: on SQLite the next id is read from the table, so a
    # second notification of the same transaction must find this one there.
    await session.execute(insert(Notification).values(**row))
    events.emit(
        session,
        EventKind.NOTIFICATION,
        {
            "notificationId": notification_id,
            "kind": kind.value,
            "message": row["message"],
            "payload": row["payload"],
            "createdAt": created_at.isoformat(),
        },
        users=[user_id],
    )
    return notification_id
