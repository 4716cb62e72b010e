"""Presence (R4): ONLINE, AWAY or OFFLINE, set by the user; OFFLINE after its last connection closed.

Stored, not kept in a process: every API process sees the same presence and the same live
connections (each kept alive by its process's heartbeat), so a user connected to two
processes is OFFLINE only when both connections are gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import LiveConnection, Presence, PresenceStatus, TeamMember, User
from services import audit, events
from services.audit import AuditAction, ResourceType
from services.events import EventKind
from services.principal import Principal


async def _announce(session: AsyncSession, changes: Sequence[tuple[int, str, PresenceStatus]]) -> None:
    """Supervisors of each user's teams watch its presence; the user sees its own. One query
    for the teams of all of them (a process that died leaves many users OFFLINE at once)."""
    teams: dict[int, list[int]] = defaultdict(list)
    user_ids = [user_id for user_id, _, _ in changes]
    rows = await session.execute(select(TeamMember.user_id, TeamMember.team_id).where(TeamMember.user_id.in_(user_ids)))
    for user_id, team_id in rows:
        teams[user_id].append(team_id)
    for user_id, name, status in changes:
        events.emit(
            session,
            EventKind.PRESENCE_CHANGED,
            {"userId": user_id, "userName": name, "status": status.value},
            users=[user_id],
            teams=teams[user_id],
        )


async def set_presence(session: AsyncSession, actor: Principal, status: PresenceStatus) -> PresenceStatus:
    """The signed-in user's own presence; audited and announced when it changes."""
    row = await session.get(Presence, actor.user_id, with_for_update=True)
    before = PresenceStatus(row.status) if row else PresenceStatus.OFFLINE
    if before is status:
        return status
    if row is None:
        session.add(Presence(user_id=actor.user_id, status=status.value, changed_at=utcnow()))
    else:
        row.status, row.changed_at = status.value, utcnow()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATED,
        resource_type=ResourceType.USER,
        resource_id=actor.user_id,
        resource_name=actor.name,
        team_ids=actor.member_team_ids,
        changed={"presence": {"before": before.value, "after": status.value}},
    )
    await _announce(session, [(actor.user_id, actor.name, status)])
    return status


# --- live connections --------------------------------------------------------------------------


async def connection_opened(session: AsyncSession, *, connection_id: str, user_id: int, process_id: str) -> None:
    now = utcnow()
    session.add(
        LiveConnection(id=connection_id, user_id=user_id, process_id=process_id, opened_at=now, heartbeat_at=now)
    )
    # Back within the grace: it never goes OFFLINE.
    await session.execute(update(Presence).where(Presence.user_id == user_id).values(offline_due_at=None))


async def connection_closed(session: AsyncSession, *, connection_id: str, grace: timedelta) -> None:
    gone = await session.scalars(
        delete(LiveConnection).where(LiveConnection.id == connection_id).returning(LiveConnection.user_id)
    )
    await _schedule_offline(session, list(gone), grace)


async def heartbeat(session: AsyncSession, *, process_id: str, stale_after: timedelta, grace: timedelta) -> None:
    """Keep this process's connections alive, and bury those of processes that stopped beating."""
    now = utcnow()
    await session.execute(
        update(LiveConnection).where(LiveConnection.process_id == process_id).values(heartbeat_at=now)
    )
    buried = await session.scalars(
        delete(LiveConnection).where(LiveConnection.heartbeat_at < now - stale_after).returning(LiveConnection.user_id)
    )
    await _schedule_offline(session, sorted(set(buried)), grace)


async def _schedule_offline(session: AsyncSession, user_ids: Sequence[int], grace: timedelta) -> None:
    """Users left without a live connection go OFFLINE once the grace has passed."""
    if not user_ids:
        return
    still_connected = exists().where(LiveConnection.user_id == Presence.user_id)
    await session.execute(
        update(Presence)
        .where(
            Presence.user_id.in_(list(user_ids)),
            Presence.status != PresenceStatus.OFFLINE.value,
            Presence.offline_due_at.is_(None),
            ~still_connected,
        )
        .values(offline_due_at=utcnow() + grace)
    )


async def go_offline_when_due(session: AsyncSession, *, now: datetime | None = None) -> list[int]:
    """OFFLINE for whoever's grace has passed without a connection coming back; announced."""
    now = now or utcnow()
    still_connected = exists().where(LiveConnection.user_id == Presence.user_id)
    due = list(
        await session.scalars(
            select(Presence).where(Presence.offline_due_at <= now, ~still_connected).with_for_update(skip_locked=True)
        )
    )
    for row in due:
        row.status, row.changed_at, row.offline_due_at = PresenceStatus.OFFLINE.value, now, None
    await session.flush()
    if due:
        names = dict(
            (await session.execute(select(User.id, User.name).where(User.id.in_([r.user_id for r in due])))).all()
        )
        await _announce(session, [(r.user_id, names.get(r.user_id, ""), PresenceStatus.OFFLINE) for r in due])
    return [row.user_id for row in due]
