"""The account's routing settings (A2): the method, its team or agents, the intake team, capacity.

One row (id 1, written by migration 0015) and BY_CHANNEL's agents per channel kind
(`routing_channel_agents`). Admins read and change them; every change is validated as a whole
before anything is written, and audited with each changed field's whole value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import ChannelKind, Role, RoutingChannelAgent, RoutingMethod, RoutingSettings, Team, User
from services import audit
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, require_admin
from services.contacts import Problems
from services.errors import ErrorCode
from services.principal import Principal

# Bounds that keep a typo from becoming a setting: a capacity of a million, a window of years.
MAX_CAPACITY = 1_000
MAX_REOPEN_WINDOW_MINUTES = 60 * 24 * 90
# BY_CHANNEL's agents per kind: read by the router under the turn's lock, listed whole by the API.
MAX_CHANNEL_AGENTS = 500
SETTINGS_ID = 1
NAME = "Routing settings"


@dataclass(frozen=True)
class ChannelAgents:
    """BY_CHANNEL: the agents who take one channel kind's conversations, in id order."""

    kind: ChannelKind
    agent_ids: tuple[int, ...]


@dataclass(frozen=True)
class Snapshot:
    """The settings as they are: the row and BY_CHANNEL's agents, kinds in their enum order."""

    row: RoutingSettings
    channel_agents: tuple[ChannelAgents, ...]


@dataclass(frozen=True)
class SettingsChanges:
    """Only the given fields change; None clears a team or the capacity (no limit)."""

    method: Maybe[RoutingMethod] = UNSET
    default_team_id: Maybe[int | None] = UNSET
    # The whole list: a kind left out has no agents afterwards.
    channel_agents: Maybe[Sequence[ChannelAgents]] = UNSET
    intake_team_id: Maybe[int | None] = UNSET
    capacity: Maybe[int | None] = UNSET
    reopen_window_minutes: Maybe[int] = UNSET


async def read(session: AsyncSession, *, for_update: bool = False) -> Snapshot:
    """The settings, for the services that act on them (no permission check: the router reads them)."""
    stmt = select(RoutingSettings).where(RoutingSettings.id == SETTINGS_ID)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one()
    rows = (await session.execute(select(RoutingChannelAgent.kind, RoutingChannelAgent.user_id))).all()
    return Snapshot(row=row, channel_agents=_grouped(rows))


def _grouped(rows: Sequence[tuple[str, int]]) -> tuple[ChannelAgents, ...]:
    by_kind: dict[str, list[int]] = {}
    for kind, user_id in rows:
        by_kind.setdefault(kind, []).append(user_id)
    return tuple(ChannelAgents(k, tuple(sorted(by_kind[k.value]))) for k in ChannelKind if k.value in by_kind)


async def get_settings(session: AsyncSession, actor: Principal) -> Snapshot:
    require_admin(actor, "read the routing settings")
    return await read(session)


def _audited(snapshot: Snapshot) -> dict[str, Any]:
    """The settings as the audit trail holds them: one field per setting, agents per kind under
    `<kind>AgentIds` (a reference list, shown as global ids)."""
    row = snapshot.row
    agents = {a.kind: list(a.agent_ids) for a in snapshot.channel_agents}
    return {
        "method": row.method,
        "defaultTeamId": row.default_team_id,
        "intakeTeamId": row.intake_team_id,
        "capacity": row.capacity,
        "reopenWindowMinutes": row.reopen_window_minutes,
        **{channel_agents_field(kind): agents.get(kind, []) for kind in ChannelKind},
    }


def channel_agents_field(kind: ChannelKind) -> str:
    """The audit field of one kind's BY_CHANNEL agents: whatsappAgentIds, emailAgentIds…"""
    return f"{kind.value.lower()}AgentIds"


async def update_settings(session: AsyncSession, actor: Principal, changes: SettingsChanges) -> Snapshot:
    """Validate the settings as they would be, then write only what changed; ADMIN only."""
    require_admin(actor, "change the routing settings")
    current = await read(session, for_update=True)
    row = current.row
    problems = Problems()
    method = RoutingMethod(row.method) if changes.method is UNSET else changes.method
    default_team = row.default_team_id if changes.default_team_id is UNSET else changes.default_team_id
    intake_team = row.intake_team_id if changes.intake_team_id is UNSET else changes.intake_team_id
    capacity = row.capacity if changes.capacity is UNSET else changes.capacity
    window = row.reopen_window_minutes if changes.reopen_window_minutes is UNSET else changes.reopen_window_minutes
    agents = current.channel_agents if changes.channel_agents is UNSET else tuple(changes.channel_agents)

    await _check_teams(
        session, problems, {"defaultTeamId": changes.default_team_id, "intakeTeamId": changes.intake_team_id}
    )
    if changes.channel_agents is not UNSET:
        agents = await _check_agents(session, problems, agents)
    if method is RoutingMethod.DEFAULT_GROUP and default_team is None:
        problems.add(ErrorCode.REQUIRED, "DEFAULT_GROUP routes to a team: give defaultTeamId", "defaultTeamId")
    if method is RoutingMethod.BY_CHANNEL and not any(a.agent_ids for a in agents):
        problems.add(ErrorCode.REQUIRED, "BY_CHANNEL needs agents for at least one channel kind", "channelAgents")
    if capacity is not None and not 0 < capacity <= MAX_CAPACITY:
        problems.add(ErrorCode.INVALID, f"Must be between 1 and {MAX_CAPACITY}, or null for no limit", "capacity")
    if not 0 <= window <= MAX_REOPEN_WINDOW_MINUTES:
        problems.add(ErrorCode.INVALID, f"Must be between 0 and {MAX_REOPEN_WINDOW_MINUTES}", "reopenWindowMinutes")
    problems.raise_any()

    before = _audited(current)
    row.method, row.default_team_id, row.intake_team_id = method.value, default_team, intake_team
    row.capacity, row.reopen_window_minutes = capacity, window
    after = Snapshot(row=row, channel_agents=tuple(a for a in agents if a.agent_ids))
    changed = audit.changes(before, _audited(after))
    if not changed:
        return current
    row.updated_at = utcnow()
    if changes.channel_agents is not UNSET and current.channel_agents != after.channel_agents:
        await session.execute(delete(RoutingChannelAgent))
        rows = [{"kind": a.kind.value, "user_id": u} for a in after.channel_agents for u in a.agent_ids]
        if rows:
            await session.execute(insert(RoutingChannelAgent), rows)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATED,
        resource_type=ResourceType.ROUTING_SETTINGS,
        resource_id=SETTINGS_ID,
        resource_name=NAME,
        changed=changed,
    )
    return after


async def _check_teams(session: AsyncSession, problems: Problems, given: Mapping[str, Maybe[int | None]]) -> None:
    wanted = {field: team for field, team in given.items() if team is not UNSET and team is not None}
    if not wanted:
        return
    found = set(await session.scalars(select(Team.id).where(Team.id.in_(set(wanted.values())))))
    for field, team in wanted.items():
        if team not in found:
            problems.add(ErrorCode.NOT_FOUND, "Team not found", field)


async def _check_agents(
    session: AsyncSession, problems: Problems, given: tuple[ChannelAgents, ...]
) -> tuple[ChannelAgents, ...]:
    """Each kind once, each agent an active AGENT; the list cleaned (ids once each, in order)."""
    ids = {u for a in given for u in a.agent_ids}
    users = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    seen: set[ChannelKind] = set()
    cleaned = []
    for i, entry in enumerate(given):
        if entry.kind in seen:
            problems.add(ErrorCode.INVALID, "Each channel kind may be listed once", f"channelAgents.{i}.kind")
        seen.add(entry.kind)
        if len(set(entry.agent_ids)) > MAX_CHANNEL_AGENTS:
            problems.add(
                ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_CHANNEL_AGENTS} agents per kind", f"channelAgents.{i}.agentIds"
            )
        for j, user_id in enumerate(entry.agent_ids):
            field = f"channelAgents.{i}.agentIds.{j}"
            user = users.get(user_id)
            if user is None:
                problems.add(ErrorCode.NOT_FOUND, "User not found", field)
            elif not user.is_active:
                problems.add(ErrorCode.INACTIVE, "This user is deactivated", field)
            elif user.role != Role.AGENT.value:
                problems.add(ErrorCode.INVALID, "Only agents take conversations", field)
        cleaned.append(ChannelAgents(entry.kind, tuple(sorted(set(entry.agent_ids)))))
    return tuple(sorted(cleaned, key=lambda a: list(ChannelKind).index(a.kind)))
