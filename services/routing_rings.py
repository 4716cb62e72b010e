"""Rings of agents taking turns (A2, A5): their statements, their reading under the turn's lock,
and the two ways of choosing in one (strict turns, least loaded). services.routing decides
which ring and what happens when nobody in it can take a conversation.

A ring is a `routing_turns` row ("team:<id>", "channel:<kind>", "channel:<kind>:team:<id>")
holding who got its last conversation, and the agents it stands for, in id order (the turn
order). Every statement here is built once with bound parameters: this is the API's hot path.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Select, and_, bindparam, func, select, true, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from db import scopes
from db.models import (
    AgentLoad,
    ChannelKind,
    Conversation,
    Gestion,
    Presence,
    PresenceStatus,
    Role,
    RoutingChannelAgent,
    RoutingTurn,
    TeamMember,
    User,
)
from services.routing_trace import Skip, SkipReason


@dataclass(frozen=True)
class Contact:
    """The contact a conversation is for, as a ring weighs its agents against it (R3)."""

    id: int
    team_id: int


def refusal(
    *,
    usable: bool,
    sees: bool,
    presence: str | None,
    load: int | None,
    online_only: bool,
    capacity: int | None,
) -> SkipReason | None:
    """Why an agent cannot take a conversation now, if it cannot: the first reason that applies."""
    if not usable:
        return SkipReason.INACTIVE
    if not sees:
        return SkipReason.CANNOT_SEE
    if online_only and presence != PresenceStatus.ONLINE.value:
        return SkipReason.AWAY if presence == PresenceStatus.AWAY.value else SkipReason.OFFLINE
    if capacity is not None and (load or 0) >= capacity:
        return SkipReason.AT_CAPACITY
    return None


@dataclass
class Ring:
    """A ring's agents in id order, one list per column (as PostgreSQL hands them back), and who
    got its last conversation."""

    name: str
    last_id: int | None
    ids: list[int]
    names: list[str]
    usable: list[bool]
    presence: list[str | None]
    loads: list[int | None]
    assigned: list[datetime | None]
    sees: list[bool] | None = None
    # The agent a transfer to the team takes the conversation from: never handed it back.
    excluded: int | None = None

    def refusal(self, i: int, *, online_only: bool, capacity: int | None) -> SkipReason | None:
        if self.ids[i] == self.excluded:
            return SkipReason.TRANSFERRED_FROM
        sees = self.sees[i] if self.sees is not None else True
        return refusal(
            usable=self.usable[i],
            sees=sees,
            presence=self.presence[i],
            load=self.loads[i],
            online_only=online_only,
            capacity=capacity,
        )


@dataclass
class Pick:
    """The outcome of choosing among a ring's agents."""

    candidate_ids: list[int]
    skipped: list[Skip] = field(default_factory=list)
    chosen: tuple[int, str] | None = None


def take_turn(ring: Ring, *, online_only: bool, capacity: int | None) -> Pick:
    """Strict turns: the first agent after the last one served, in id order, who may take it,
    wrapping round; those passed over on the way are skipped, with why."""
    start = 0 if ring.last_id is None else bisect.bisect_right(ring.ids, ring.last_id)
    order = list(range(start, len(ring.ids))) + list(range(start))
    pick = Pick(candidate_ids=ring.ids[start:] + ring.ids[:start])
    for i in order:
        reason = ring.refusal(i, online_only=online_only, capacity=capacity)
        if reason is None:
            pick.chosen = (ring.ids[i], ring.names[i])
            break
        pick.skipped.append(Skip(ring.ids[i], ring.names[i], reason))
    return pick


def least_loaded(ring: Ring, *, capacity: int | None) -> Pick:
    """The ONLINE agent with the fewest OPEN conversations; ties: the one who waited longest since
    its last assignment (never assigned first), then the lowest id. Every refused one is skipped."""
    pick = Pick(candidate_ids=list(ring.ids))
    able = []
    for i, user_id in enumerate(ring.ids):
        reason = ring.refusal(i, online_only=True, capacity=capacity)
        if reason is None:
            last = ring.assigned[i]
            able.append((ring.loads[i] or 0, last is not None, last.timestamp() if last else 0.0, user_id, i))
        else:
            pick.skipped.append(Skip(user_id, ring.names[i], reason))
    if able:
        i = min(able)[-1]
        pick.chosen = (ring.ids[i], ring.names[i])
    return pick


# --- statements, built once ---------------------------------------------------------------------------

_RING: BindParameter[str] = bindparam("turn_ring")
_RING_TEAM: BindParameter[int] = bindparam("ring_team")
_RING_KIND: BindParameter[str] = bindparam("ring_kind")
_CONTACT: BindParameter[int] = bindparam("contact_id")
_CONTACT_TEAM: BindParameter[int] = bindparam("contact_team")


def _members(source: str) -> Select[Any]:
    """A ring's agents, one column of user ids: a team's active agents (who see its contacts),
    or BY_CHANNEL's agents for a kind (deactivated ones too: the trace names them), or those of
    them in a team."""
    if source == "team":
        return (
            select(TeamMember.user_id)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id == _RING_TEAM, User.is_active.is_(True), User.role == Role.AGENT.value)
        )
    stmt = select(RoutingChannelAgent.user_id).where(RoutingChannelAgent.kind == _RING_KIND)
    if source == "channel_in_team":
        stmt = stmt.where(
            RoutingChannelAgent.user_id.in_(select(TeamMember.user_id).where(TeamMember.team_id == _RING_TEAM))
        )
    return stmt


def _agent_columns(user_id: Any, *, sees: bool) -> list[Any]:
    columns = [
        user_id.label("id"),
        User.name.label("name"),
        and_(User.is_active, User.role == Role.AGENT.value).label("usable"),
        Presence.status.label("presence"),
        AgentLoad.open_conversations.label("load"),
        AgentLoad.last_assigned_at.label("assigned"),
    ]
    if sees:
        columns.append(scopes.agent_sees_contact(user_id, _CONTACT, _CONTACT_TEAM).label("sees"))
    return columns


def _with_state(stmt: Select[Any], user_id: Any) -> Select[Any]:
    return (
        stmt.join(User, User.id == user_id)
        .outerjoin(Presence, Presence.user_id == User.id)
        .outerjoin(AgentLoad, AgentLoad.user_id == User.id)
    )


@cache
def _ring_statement(dialect: str, source: str, *, sees: bool, locked: bool) -> Select[Any]:
    """A ring's agents in id order with their presence and load (and whether each sees the
    contact), and, `locked`, first the ring's last_user_id, its row locked by the same statement
    (no row at all: the ring has no row yet).

    PostgreSQL answers one row of arrays, which the driver decodes in C (200 agents as rows
    cost more in Python than the query did); SQLite answers rows (its FOR UPDATE is the write
    lock BEGIN IMMEDIATE took)."""
    m = _members(source).subquery("m")
    agents = _with_state(select(*_agent_columns(m.c.user_id, sees=sees)).select_from(m), m.c.user_id)
    turn = select(RoutingTurn.last_user_id).where(RoutingTurn.ring == _RING).with_for_update().subquery("turn")
    if dialect == "postgresql":
        ordered = agents.order_by(m.c.user_id).subquery("a")
        arrays = select(*(func.array_agg(c).label(c.name) for c in ordered.c)).subquery("arrays")
        if not locked:
            return select(arrays)
        return select(turn.c.last_user_id, arrays).select_from(turn).join(arrays, true())
    if not locked:
        return agents.order_by(m.c.user_id)
    rows = agents.subquery("a")
    return select(turn.c.last_user_id, rows).select_from(turn).outerjoin(rows, true()).order_by(rows.c.id)


_LOCK = select(RoutingTurn.last_user_id).where(RoutingTurn.ring == _RING).with_for_update()
_ADVANCE = (
    update(RoutingTurn)
    .where(RoutingTurn.ring == _RING)
    .values(last_user_id=bindparam("turn_user"), updated_at=bindparam("turn_at"))
)


@cache
def _new_ring(dialect: str) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return make(RoutingTurn).values(ring=_RING, last_user_id=None, updated_at=func.now()).on_conflict_do_nothing()


def advance_statement() -> Any:
    """The statement that records who a ring served last (parameters: `advance_params`)."""
    return _ADVANCE


def advance_params(ring: str, user_id: int, at: datetime) -> dict[str, Any]:
    return {"turn_ring": ring, "turn_user": user_id, "turn_at": at}


_ONE_AGENT = (
    select(*_agent_columns(User.id, sees=True))
    .outerjoin(Presence, Presence.user_id == User.id)
    .outerjoin(AgentLoad, AgentLoad.user_id == User.id)
    .where(User.id == bindparam("agent_id"))
)


def _last_responsible_statement() -> Select[Any]:
    handled = union_all(
        select(Conversation.agent_id.label("agent_id"), Conversation.updated_at.label("at")).where(
            Conversation.contact_id == _CONTACT, Conversation.agent_id.is_not(None)
        ),
        select(Gestion.operator_id, Gestion.updated_at).where(
            Gestion.contact_id == _CONTACT, Gestion.operator_id.is_not(None)
        ),
    ).subquery()
    return select(handled.c.agent_id).order_by(handled.c.at.desc(), handled.c.agent_id).limit(1)


_LAST_RESPONSIBLE = _last_responsible_statement()
_MEMBER = select(TeamMember.user_id).where(
    TeamMember.user_id == bindparam("agent_id"), TeamMember.team_id == _RING_TEAM
)


# --- reading ----------------------------------------------------------------------------------------


def _params(contact: Contact, ring: str, team: int | None, kind: ChannelKind | None) -> dict[str, Any]:
    return {
        "turn_ring": ring,
        "ring_team": team,
        "ring_kind": kind.value if kind else None,
        "contact_id": contact.id,
        "contact_team": contact.team_id,
    }


async def read_ring(
    conn: AsyncConnection,
    contact: Contact,
    ring: str,
    source: str,
    *,
    team: int | None = None,
    kind: ChannelKind | None = None,
    sees: bool,
    fresh_loads: bool,
) -> Ring:
    """Lock the ring's turn (its row, created on first use) and read its agents.

    Without `fresh_loads` the lock and the read are one statement: PostgreSQL hands the locked
    turn row back as the last holder committed it, but reads the other tables as they were when
    the statement began, before it waited for the lock. Fine for turns (the holders ahead took
    the agents before ours; a stale count that matters is refused by agent_loads.gain); with
    `fresh_loads` (LOAD_BALANCED, where every waiter would pile onto the same least loaded
    agent) the loads are read in a statement of their own, after the lock."""
    dialect = conn.dialect.name
    params = _params(contact, ring, team, kind)
    last: int | None = None
    if fresh_loads:
        last = await _locked(conn, params)
        stmt = _ring_statement(dialect, source, sees=sees, locked=False)
        return _ring_of(ring, last, (await conn.execute(stmt, params)).all(), dialect, locked=False, sees=sees)
    stmt = _ring_statement(dialect, source, sees=sees, locked=True)
    rows = (await conn.execute(stmt, params)).all()
    if not rows:
        await conn.execute(_new_ring(dialect), params)
        rows = (await conn.execute(stmt, params)).all()
    return _ring_of(ring, rows[0][0], rows, dialect, locked=True, sees=sees)


async def lock(conn: AsyncConnection, ring: str) -> int | None:
    """Take the ring's turn (its row, created on first use) without reading its agents: who got the last one."""
    return await _locked(conn, {"turn_ring": ring})


async def _locked(conn: AsyncConnection, params: dict[str, Any]) -> int | None:
    found = (await conn.execute(_LOCK, params)).first()
    if found is None:
        await conn.execute(_new_ring(conn.dialect.name), params)
        found = (await conn.execute(_LOCK, params)).one()
    last: int | None = found[0]
    return last


def _ring_of(name: str, last: int | None, rows: Sequence[Any], dialect: str, *, locked: bool, sees: bool) -> Ring:
    skip = 1 if locked else 0
    if dialect == "postgresql":
        (row,) = rows
        columns = [list(c or ()) for c in row[skip:]]
    else:
        present = [r[skip:] for r in rows if r[skip] is not None]
        columns = [list(c) for c in zip(*present, strict=True)] if present else [[] for _ in range(7 if sees else 6)]
    ids, names, usable, presence, loads, assigned, *seen = columns
    return Ring(
        name=name,
        last_id=last,
        ids=ids,
        names=names,
        usable=[bool(u) for u in usable],
        presence=presence,
        loads=loads,
        assigned=assigned,
        sees=[bool(s) for s in seen[0]] if seen else None,
    )


@dataclass(frozen=True)
class Agent:
    """One agent weighed on its own (a last responsible, a reopened conversation's agent)."""

    id: int
    name: str
    reason: SkipReason | None


async def one_agent(
    conn: AsyncConnection, contact: Contact, agent_id: int, *, online_only: bool, capacity: int | None
) -> Agent | None:
    """The agent as the router weighs it for this contact (refused why, if it is); None: no such user."""
    params = {"agent_id": agent_id, "contact_id": contact.id, "contact_team": contact.team_id}
    row = (await conn.execute(_ONE_AGENT, params)).first()
    if row is None:
        return None
    reason = refusal(
        usable=bool(row.usable),
        sees=bool(row.sees),
        presence=row.presence,
        load=row.load,
        online_only=online_only,
        capacity=capacity,
    )
    return Agent(row.id, row.name, reason)


async def is_member(conn: AsyncConnection, user_id: int, team_id: int) -> bool:
    return (await conn.execute(_MEMBER, {"agent_id": user_id, "ring_team": team_id})).first() is not None


async def last_responsible(conn: AsyncConnection, contact_id: int) -> int | None:
    """The agent who last handled the contact: the newest conversation or gestión someone had."""
    found: int | None = (await conn.execute(_LAST_RESPONSIBLE, {"contact_id": contact_id})).scalar()
    return found
