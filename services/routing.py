"""The router (A2, A3, A5, P7): who takes a conversation, and the trace of why.

Portfolio first: a contact in an active portfolio goes to its agent owner, or is routed within
its team. Otherwise the account's method over the active agents who may see the contact (R3):
the contact's team's (or the default group's, where the conversation is then filed), or the
kind's BY_CHANNEL agents who see the contact; the last responsible, and a reopened
conversation's agent, while they still see it.
Agents take turns in rings ("team:<id>", "channel:<kind>", "channel:<kind>:team:<id>"), each
ring a `routing_turns` row holding who got the last one. Choosing among agents locks that row
(FOR UPDATE) and reads their presence and loads with it, so turns stay strict however many API
processes route at once; SQLite's single writer (BEGIN IMMEDIATE) gives the same order. Capacity
is checked again where the load is counted (agent_loads.gain), so a ring that read a count
before another ring's routing committed cannot push an agent over it. Nobody able to take it
leaves it UNASSIGNED in the queue of the team it was routed to (A3); the trace says who was
passed over and why.

The turn row is held until the transaction commits: whatever the caller writes after `decide`
(the conversation, the audit row, the events) delays the next conversation of that ring, so
callers route last and write little after it. This is the API's hot path (services.intake):
statements are built once with bound parameters and run on the session's connection, and on
PostgreSQL a ring's agents come back as one row of arrays.
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db import scopes
from db.base import utcnow
from db.models import (
    AgentLoad,
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    Gestion,
    Portfolio,
    PortfolioMember,
    Presence,
    PresenceStatus,
    Role,
    RoutingChannelAgent,
    RoutingMethod,
    RoutingSettings,
    RoutingTurn,
    TeamMember,
    User,
)
from services import agent_loads
from services.routing_settings import SETTINGS_ID
from services.routing_trace import RoutingRule, Skip, SkipReason, Trace

# Methods that hand conversations only to ONLINE agents (A2); the others ignore presence.
_ONLINE_ONLY = frozenset({RoutingMethod.ROUND_ROBIN, RoutingMethod.LOAD_BALANCED})


@dataclass(frozen=True)
class Config:
    """What routing reads of the account's settings."""

    method: RoutingMethod
    default_team_id: int | None
    capacity: int | None

    @classmethod
    def of(cls, row: Any) -> Config:
        return cls(RoutingMethod(row.method), row.default_team_id, row.capacity)


@dataclass(frozen=True)
class PortfolioOwner:
    """The contact's portfolio, as P7 reads it."""

    id: int
    active: bool
    team_id: int | None
    agent_id: int | None
    agent_name: str | None = None
    # Its agent owner is an active AGENT (who may take conversations).
    agent_usable: bool = False


@dataclass(frozen=True)
class Subject:
    """What routing needs to know about a conversation's contact."""

    contact_id: int
    team_id: int
    channel_kind: ChannelKind
    portfolio: PortfolioOwner | None = None


@dataclass
class Decision:
    """Where a conversation goes: the chosen agent (None: the queue), its team, its portfolio."""

    trace: Trace
    agent_id: int | None
    team_id: int
    portfolio_id: int | None = None
    # The chosen agent was picked under this capacity: agent_loads.gain must find it below.
    capacity: int | None = None
    # (ring, agent) whose turn `decide` took, when the caller writes it (advance_turn=False).
    turn: tuple[str, int] | None = None

    @property
    def status(self) -> ConversationStatus:
        return ConversationStatus.OPEN if self.agent_id is not None else ConversationStatus.UNASSIGNED


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

    def refusal(self, i: int, *, online_only: bool, capacity: int | None) -> SkipReason | None:
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
class _Pick:
    """The outcome of choosing among a ring's agents."""

    candidate_ids: list[int]
    skipped: list[Skip] = field(default_factory=list)
    chosen: tuple[int, str] | None = None


def take_turn(ring: Ring, *, online_only: bool, capacity: int | None) -> _Pick:
    """Strict turns: the first agent after the last one served, in id order, who may take it,
    wrapping round; those passed over on the way are skipped, with why."""
    start = 0 if ring.last_id is None else bisect.bisect_right(ring.ids, ring.last_id)
    order = list(range(start, len(ring.ids))) + list(range(start))
    pick = _Pick(candidate_ids=ring.ids[start:] + ring.ids[:start])
    for i in order:
        reason = ring.refusal(i, online_only=online_only, capacity=capacity)
        if reason is None:
            pick.chosen = (ring.ids[i], ring.names[i])
            break
        pick.skipped.append(Skip(ring.ids[i], ring.names[i], reason))
    return pick


def least_loaded(ring: Ring, *, capacity: int | None) -> _Pick:
    """The ONLINE agent with the fewest OPEN conversations; ties: the one who waited longest since
    its last assignment (never assigned first), then the lowest id. Every refused one is skipped."""
    pick = _Pick(candidate_ids=list(ring.ids))
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
    """The agent who last handled the contact: the newest conversation or gestión someone had."""
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


# --- reading ------------------------------------------------------------------------------------------


async def config(session: AsyncSession) -> Config:
    row = (await session.execute(select(RoutingSettings).where(RoutingSettings.id == SETTINGS_ID))).scalar_one()
    return Config.of(row)


async def subject_of(session: AsyncSession, conversation: Conversation) -> Subject:
    """A conversation's contact as routing needs it (its team and portfolio), in one statement."""
    owner = User.__table__.alias("owner")
    row = (
        await session.execute(
            select(
                Contact.team_id,
                Portfolio.id,
                Portfolio.active,
                Portfolio.team_id,
                Portfolio.agent_id,
                owner.c.name,
                and_(owner.c.is_active, owner.c.role == Role.AGENT.value),
            )
            .outerjoin(PortfolioMember, PortfolioMember.contact_id == Contact.id)
            .outerjoin(Portfolio, Portfolio.id == PortfolioMember.portfolio_id)
            .outerjoin(owner, owner.c.id == Portfolio.agent_id)
            .where(Contact.id == conversation.contact_id)
        )
    ).one()
    team_id, portfolio_id, active, portfolio_team, agent_id, agent_name, usable = row
    portfolio = (
        PortfolioOwner(portfolio_id, bool(active), portfolio_team, agent_id, agent_name, bool(usable))
        if portfolio_id is not None
        else None
    )
    return Subject(conversation.contact_id, team_id, ChannelKind(conversation.channel_kind), portfolio)


def _params(subject: Subject, ring: str, team: int | None, kind: ChannelKind | None) -> dict[str, Any]:
    return {
        "turn_ring": ring,
        "ring_team": team,
        "ring_kind": kind.value if kind else None,
        "contact_id": subject.contact_id,
        "contact_team": subject.team_id,
    }


async def _read_ring(
    conn: AsyncConnection,
    subject: Subject,
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
    params = _params(subject, ring, team, kind)
    last: int | None = None
    if fresh_loads:
        last = await _lock(conn, params)
        stmt = _ring_statement(dialect, source, sees=sees, locked=False)
        return _ring_of(ring, last, (await conn.execute(stmt, params)).all(), dialect, locked=False, sees=sees)
    stmt = _ring_statement(dialect, source, sees=sees, locked=True)
    rows = (await conn.execute(stmt, params)).all()
    if not rows:
        await conn.execute(_new_ring(dialect), params)
        rows = (await conn.execute(stmt, params)).all()
    return _ring_of(ring, rows[0][0], rows, dialect, locked=True, sees=sees)


async def _lock(conn: AsyncConnection, params: dict[str, Any]) -> int | None:
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
class _Agent:
    id: int
    name: str
    reason: SkipReason | None


async def _one_agent(
    conn: AsyncConnection, subject: Subject, agent_id: int, *, online_only: bool, capacity: int | None
) -> _Agent | None:
    row = (
        await conn.execute(
            _ONE_AGENT, {"agent_id": agent_id, "contact_id": subject.contact_id, "contact_team": subject.team_id}
        )
    ).first()
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
    return _Agent(row.id, row.name, reason)


async def _member(conn: AsyncConnection, user_id: int, team_id: int) -> bool:
    return (await conn.execute(_MEMBER, {"agent_id": user_id, "ring_team": team_id})).first() is not None


# --- deciding -----------------------------------------------------------------------------------------


@dataclass
class _Route:
    """One routing in progress: what it was given, and the trace it builds."""

    conn: AsyncConnection
    subject: Subject
    config: Config
    trace: Trace
    advance_turn: bool
    turn: tuple[str, int] | None = None

    async def turns(self, ring: str, source: str, *, online_only: bool, team: int | None = None) -> _Pick:
        # A team's ring hands it to the team it is filed in, whose agents see what is theirs and
        # their queue's (A3) and its contact through it; BY_CHANNEL's agents must see the contact.
        sees = source != "team"
        found = await _read_ring(
            self.conn,
            self.subject,
            ring,
            source,
            team=team,
            kind=self.subject.channel_kind,
            sees=sees,
            fresh_loads=False,
        )
        return await self._chosen(ring, take_turn(found, online_only=online_only, capacity=self.config.capacity))

    async def least_loaded(self, team: int) -> _Pick:
        ring = f"team:{team}"
        found = await _read_ring(self.conn, self.subject, ring, "team", team=team, sees=False, fresh_loads=True)
        return await self._chosen(ring, least_loaded(found, capacity=self.config.capacity))

    async def _chosen(self, ring: str, pick: _Pick) -> _Pick:
        self.trace.candidate_ids = pick.candidate_ids
        self.trace.skipped += pick.skipped
        if pick.chosen is not None:
            self.choose(*pick.chosen)
            self.turn = (ring, pick.chosen[0])
            if self.advance_turn:
                await self.conn.execute(_ADVANCE, advance_params(ring, pick.chosen[0], self.trace.decided_at))
        return pick

    def choose(self, user_id: int, name: str) -> None:
        self.trace.chosen_id, self.trace.chosen_name = user_id, name

    def fall_back(self, rule: RoutingRule, sentence: str, skipped: Skip | None = None) -> None:
        self.trace.rule = rule
        self.trace.fallback = sentence if self.trace.fallback is None else f"{self.trace.fallback} {sentence}"
        if skipped is not None:
            self.trace.skipped.append(skipped)

    def decision(self, team: int, *, portfolio_id: int | None = None) -> Decision:
        chosen = self.trace.chosen_id
        turn = self.turn if not self.advance_turn else None
        return Decision(self.trace, chosen, team, portfolio_id, capacity=self.config.capacity, turn=turn)


async def decide(
    session: AsyncSession,
    subject: Subject,
    settings: Config,
    *,
    within_team: int | None = None,
    previous_agent: int | None = None,
    advance_turn: bool = True,
) -> Decision:
    """Where a conversation of `subject` goes, and why (the trace). `within_team`: route among
    that team's agents by the method, whatever the portfolio (a transfer to a team).
    `previous_agent`: a reopened conversation's agent, who gets it back while it may take it.

    Takes the turn of the ring it chooses in (held until commit) and advances it, unless
    `advance_turn` is False: then Decision.turn names it and the caller writes `advance_statement()`
    with its own statements. The caller writes the conversation (`apply`, or its own
    statements) and counts it against the agent (agent_loads.moved / gain with the decision's
    capacity)."""
    conn = await session.connection()
    trace = Trace(rule=RoutingRule(settings.method.value), method=settings.method, decided_at=utcnow())
    route = _Route(conn, subject, settings, trace, advance_turn)
    if previous_agent is not None:
        back = await _back_to(route, previous_agent, within_team)
        if back is not None:
            return back
    portfolio = subject.portfolio if subject.portfolio is not None and subject.portfolio.active else None
    if within_team is not None or portfolio is None:
        return await _by_method(route, within_team)
    trace.portfolio_id = portfolio.id
    if portfolio.agent_id is not None:
        if portfolio.agent_usable:
            trace.rule, trace.candidate_ids = RoutingRule.PORTFOLIO_AGENT, [portfolio.agent_id]
            route.choose(portfolio.agent_id, portfolio.agent_name or "")
            # Its own client: straight to it, online or not, whatever its load (P7).
            return Decision(trace, portfolio.agent_id, portfolio.team_id or subject.team_id, portfolio.id)
        where = "within the portfolio's team" if portfolio.team_id is not None else "by the method"
        route.fall_back(
            trace.rule,
            f"{portfolio.agent_name}, who owns the portfolio, is not an active agent: routed {where}.",
            Skip(portfolio.agent_id, portfolio.agent_name or "", SkipReason.INACTIVE),
        )
    decision = await _by_method(route, portfolio.team_id)
    if portfolio.team_id is not None:
        trace.rule = RoutingRule.PORTFOLIO_TEAM
    decision.portfolio_id = portfolio.id
    return decision


_CANNOT = {
    SkipReason.INACTIVE: "is not an active agent",
    SkipReason.CANNOT_SEE: "can no longer see the contact",
    SkipReason.AT_CAPACITY: "is at capacity",
    SkipReason.AWAY: "is away",
    SkipReason.OFFLINE: "is offline",
}


async def _back_to(route: _Route, agent_id: int, within_team: int | None) -> Decision | None:
    """A reopened conversation back to its agent while it may take one (the method's rule on
    presence, capacity, seeing the contact); else None, the reason in the trace."""
    online_only = route.config.method in _ONLINE_ONLY
    agent = await _one_agent(
        route.conn, route.subject, agent_id, online_only=online_only, capacity=route.config.capacity
    )
    if agent is None:
        return None
    reason = agent.reason
    if reason is None and within_team is not None and not await _member(route.conn, agent.id, within_team):
        reason = SkipReason.CANNOT_SEE
    if reason is None:
        route.trace.rule, route.trace.candidate_ids = RoutingRule.REOPENED, [agent.id]
        route.choose(agent.id, agent.name)
        return route.decision(within_team or route.subject.team_id)
    route.fall_back(
        route.trace.rule,
        f"{agent.name}, who had it, {_CANNOT[reason]}: routed again.",
        Skip(agent.id, agent.name, reason),
    )
    return None


async def _by_method(route: _Route, team: int | None) -> Decision:
    """The account's method among the agents of `team` (None: the method's own agents: the
    contact's team, the default group, the channel's agents)."""
    subject, settings = route.subject, route.config
    home = team or subject.team_id
    match settings.method:
        case RoutingMethod.LAST_RESPONSIBLE:
            await _last_or_turns(route, home, within=team is not None)
            return route.decision(home)
        case RoutingMethod.LOAD_BALANCED:
            route.trace.team_id = home
            await route.least_loaded(home)
            return route.decision(home)
        case RoutingMethod.DEFAULT_GROUP:
            group = team or settings.default_team_id
            if group is None:
                # The team was deleted since an admin chose it (the settings refuse none).
                route.fall_back(RoutingRule.ROUND_ROBIN, "No default team is set: ROUND_ROBIN decided.")
                return await _round_robin(route, subject.team_id)
            route.trace.team_id = group
            await route.turns(f"team:{group}", "team", online_only=False, team=group)
            return route.decision(group)
        case RoutingMethod.BY_CHANNEL:
            return await _by_channel(route, team)
        case _:
            return await _round_robin(route, home)


async def _round_robin(route: _Route, team: int) -> Decision:
    route.trace.team_id = team
    await route.turns(f"team:{team}", "team", online_only=True, team=team)
    return route.decision(team)


async def _by_channel(route: _Route, team: int | None) -> Decision:
    """BY_CHANNEL: turns among the kind's chosen agents, online or not (within `team`: those of
    them in it). A kind with none chosen: the team's agents take turns, or, with no team,
    ROUND_ROBIN over the contact's team."""
    subject = route.subject
    kind = subject.channel_kind
    ring = f"channel:{kind.value}" + (f":team:{team}" if team is not None else "")
    route.trace.team_id = team
    source = "channel" if team is None else "channel_in_team"
    pick = await route.turns(ring, source, online_only=False, team=team)
    if pick.candidate_ids:
        return route.decision(team or subject.team_id)
    if team is not None:
        route.fall_back(
            RoutingRule.BY_CHANNEL, f"None of the {kind.value} agents is in this team: its agents took turns."
        )
        await route.turns(f"team:{team}", "team", online_only=False, team=team)
        return route.decision(team)
    route.fall_back(RoutingRule.ROUND_ROBIN, f"No agents are chosen for {kind.value}: ROUND_ROBIN decided.")
    return await _round_robin(route, subject.team_id)


async def _last_or_turns(route: _Route, team: int, *, within: bool) -> None:
    """LAST_RESPONSIBLE: who last handled the contact, online or not, while it may take it; else
    ROUND_ROBIN among the team's agents, the trace saying why."""
    conn, subject = route.conn, route.subject
    last = (await conn.execute(_LAST_RESPONSIBLE, {"contact_id": subject.contact_id})).scalar()
    agent = (
        await _one_agent(conn, subject, last, online_only=False, capacity=route.config.capacity)
        if last is not None
        else None
    )
    reason = agent.reason if agent is not None else None
    if agent is not None and reason is None and within and not await _member(conn, agent.id, team):
        reason = SkipReason.CANNOT_SEE
    if agent is not None and reason is None:
        route.trace.candidate_ids = [agent.id]
        route.choose(agent.id, agent.name)
        return
    if agent is None or reason is None:
        route.fall_back(RoutingRule.ROUND_ROBIN, "Nobody handled this contact before: ROUND_ROBIN decided.")
    else:
        route.fall_back(
            RoutingRule.ROUND_ROBIN,
            f"{agent.name}, who handled it last, {_CANNOT[reason]}: ROUND_ROBIN decided.",
            Skip(agent.id, agent.name, reason),
        )
    route.trace.team_id = team
    await route.turns(f"team:{team}", "team", online_only=True, team=team)


# --- writing ------------------------------------------------------------------------------------------


async def route(
    session: AsyncSession,
    conversation: Conversation,
    *,
    contact: Subject | None = None,
    within_team: int | None = None,
    previous_agent: int | None = None,
) -> Trace:
    """Route a conversation held in the session: decide (the turn is taken), then set its status,
    agent, team, portfolio, assigned_at and routing, and move its agent's load. `contact`: its
    contact as routing reads it (read here when not given)."""
    subject = contact or await subject_of(session, conversation)
    settings = await config(session)
    decision = await decide(session, subject, settings, within_team=within_team, previous_agent=previous_agent)
    before = agent_loads.holds(conversation.status, conversation.agent_id)
    previous_team = conversation.team_id
    apply(conversation, decision)
    await agent_loads.moved(
        session,
        before=before,
        after=decision.agent_id,
        teams=[previous_team, decision.team_id],
        assigned_at=decision.trace.decided_at if decision.agent_id is not None else None,
        capacity=decision.capacity,
    )
    return decision.trace


def apply(conversation: Conversation, decision: Decision) -> None:
    """Set a conversation's routed fields from a decision."""
    conversation.status = decision.status.value
    conversation.agent_id = decision.agent_id
    conversation.team_id = decision.team_id
    conversation.portfolio_id = decision.portfolio_id
    conversation.assigned_at = decision.trace.decided_at if decision.agent_id is not None else None
    conversation.routing = decision.trace.as_json()
