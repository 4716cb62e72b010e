"""The router (A2, A3, A5, P7): who takes a conversation, and the trace of why.

Portfolio first: a contact in an active portfolio goes to its agent owner, or is routed within
its team. Otherwise the account's method over the active agents who may see the contact (R3).
Agents take turns in rings ("team:<id>", "channel:<kind>", "channel:<kind>:team:<id>"), each
ring a `routing_turns` row holding who got the last one. Choosing among agents locks that row
(FOR UPDATE) and reads their presence and loads after taking it, so turns stay strict and
capacity holds however many API processes route at once; SQLite's single writer (BEGIN
IMMEDIATE) gives the same order. Nobody able to take it leaves it UNASSIGNED in the queue of
the team it was routed to (A3), and the trace says who was passed over and why.

The turn row is held until the transaction commits: whatever the caller writes after `decide`
(the conversation, the audit row, the events) delays the next conversation of that ring, so
callers route last and write little after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, literal, select, true, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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
    # The chosen agent was picked from several under `capacity` (agent_loads.moved enforces it).
    capacity: int | None = None

    @property
    def status(self) -> ConversationStatus:
        return ConversationStatus.OPEN if self.agent_id is not None else ConversationStatus.UNASSIGNED


@dataclass(frozen=True)
class Agent:
    """One candidate as the router weighs it, read under the ring's lock."""

    id: int
    name: str
    usable: bool  # an active AGENT
    presence: PresenceStatus
    open_conversations: int
    last_assigned_at: datetime | None
    sees: bool = True

    def refusal(self, *, online_only: bool, capacity: int | None) -> SkipReason | None:
        """Why this agent cannot take it now, if it cannot; the first reason that applies."""
        if not self.usable:
            return SkipReason.INACTIVE
        if not self.sees:
            return SkipReason.CANNOT_SEE
        if online_only and self.presence is not PresenceStatus.ONLINE:
            return SkipReason.AWAY if self.presence is PresenceStatus.AWAY else SkipReason.OFFLINE
        if capacity is not None and self.open_conversations >= capacity:
            return SkipReason.AT_CAPACITY
        return None


@dataclass
class _Pick:
    """The outcome of choosing among a ring's agents."""

    candidate_ids: list[int]
    skipped: list[Skip] = field(default_factory=list)
    chosen: Agent | None = None


# --- reading ------------------------------------------------------------------------------------


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


def _agent_columns(subject: Subject, user_id: Any, *, sees: bool) -> list[Any]:
    columns = [
        User.id,
        User.name,
        and_(User.is_active, User.role == Role.AGENT.value).label("usable"),
        Presence.status,
        AgentLoad.open_conversations,
        AgentLoad.last_assigned_at,
    ]
    if sees:
        columns.append(scopes.agent_sees_contact(user_id, subject.contact_id, subject.team_id).label("sees"))
    return columns


def _agents_of(rows: Sequence[Any], *, sees: bool) -> list[Agent]:
    return [
        Agent(
            id=r[0],
            name=r[1],
            usable=bool(r[2]),
            presence=PresenceStatus(r[3] or PresenceStatus.OFFLINE.value),
            open_conversations=r[4] or 0,
            last_assigned_at=r[5],
            sees=bool(r[6]) if sees else True,
        )
        for r in rows
        if r[0] is not None
    ]


def _with_state(stmt: Select[Any], user_id: Any) -> Select[Any]:
    return (
        stmt.outerjoin(User, User.id == user_id)
        .outerjoin(Presence, Presence.user_id == User.id)
        .outerjoin(AgentLoad, AgentLoad.user_id == User.id)
    )


async def _lock(session: AsyncSession, ring: str) -> int | None:
    """Take the ring's turn (its row, created on first use); who got the last one."""
    stmt = select(RoutingTurn.last_user_id).where(RoutingTurn.ring == ring).with_for_update()
    found = (await session.execute(stmt)).first()
    if found is None:
        await _create_ring(session, ring)
        found = (await session.execute(stmt)).one()
    return found[0]


async def _create_ring(session: AsyncSession, ring: str) -> None:
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        make(RoutingTurn).values(ring=ring, last_user_id=None, updated_at=utcnow()).on_conflict_do_nothing()
    )


async def _ring(
    session: AsyncSession, ring: str, members: Select[Any], subject: Subject, *, sees: bool, fresh_loads: bool
) -> tuple[int | None, list[Agent]]:
    """Lock the ring's turn and read its agents (`members`: their ids, one column) in id order.

    Without `fresh_loads` the lock and the read are one statement: PostgreSQL hands the locked
    turn row back as the last holder committed it, but reads the other tables as they were when
    the statement began, before it waited, so loads (capacity, LOAD_BALANCED) are then read in
    a statement of their own after the lock. Presence and memberships may lag by that wait.
    """
    m = members.subquery("m")
    columns = _agent_columns(subject, m.c[0], sees=sees)
    if fresh_loads:
        last = await _lock(session, ring)
        rows = (await session.execute(_with_state(select(*columns).select_from(m), m.c[0]).order_by(m.c[0]))).all()
        return last, _agents_of(rows, sees=sees)
    turn = select(RoutingTurn.last_user_id).where(RoutingTurn.ring == ring).with_for_update().subquery("turn")
    stmt = _with_state(select(turn.c.last_user_id, *columns).select_from(turn).outerjoin(m, true()), m.c[0])
    stmt = stmt.order_by(m.c[0])
    rows = (await session.execute(stmt)).all()
    if not rows:
        await _create_ring(session, ring)
        rows = (await session.execute(stmt)).all()
    return rows[0][0], _agents_of([r[1:] for r in rows], sees=sees)


def _team_agents(team_id: int) -> Select[Any]:
    """The active agents of a team, who take its conversations (R3: they see its contacts)."""
    return (
        select(TeamMember.user_id)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, User.is_active.is_(True), User.role == Role.AGENT.value)
    )


def _channel_agents(kind: ChannelKind, team_id: int | None) -> Select[Any]:
    """BY_CHANNEL's agents for a kind (deactivated ones included: the trace names them), within a team if given."""
    stmt = select(RoutingChannelAgent.user_id).where(RoutingChannelAgent.kind == kind.value)
    if team_id is not None:
        member = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
        stmt = stmt.where(RoutingChannelAgent.user_id.in_(member))
    return stmt


async def _one_agent(session: AsyncSession, subject: Subject, user_id: int) -> Agent | None:
    stmt = _with_state(select(*_agent_columns(subject, literal(user_id), sees=True)), literal(user_id))
    rows = (await session.execute(stmt.where(User.id == user_id))).all()
    agents = _agents_of(rows, sees=True)
    return agents[0] if agents else None


async def _last_responsible(session: AsyncSession, contact_id: int) -> int | None:
    """The agent who last handled the contact: the newest conversation or gestión someone had."""
    handled = union_all(
        select(Conversation.agent_id.label("agent_id"), Conversation.updated_at.label("at")).where(
            Conversation.contact_id == contact_id, Conversation.agent_id.is_not(None)
        ),
        select(Gestion.operator_id, Gestion.updated_at).where(
            Gestion.contact_id == contact_id, Gestion.operator_id.is_not(None)
        ),
    ).subquery()
    found: int | None = await session.scalar(
        select(handled.c.agent_id).order_by(handled.c.at.desc(), handled.c.agent_id).limit(1)
    )
    return found


# --- choosing -----------------------------------------------------------------------------------


def take_turn(agents: Sequence[Agent], last_id: int | None, refusal: Callable[[Agent], SkipReason | None]) -> _Pick:
    """Strict turns: the first agent after `last_id` in id order who may take it, wrapping round;
    those passed over on the way are skipped, with why."""
    after = [a for a in agents if last_id is None or a.id > last_id]
    order = after + [a for a in agents if last_id is not None and a.id <= last_id]
    pick = _Pick(candidate_ids=[a.id for a in order])
    for agent in order:
        reason = refusal(agent)
        if reason is None:
            pick.chosen = agent
            break
        pick.skipped.append(Skip(agent.id, agent.name, reason))
    return pick


def least_loaded(agents: Sequence[Agent], refusal: Callable[[Agent], SkipReason | None]) -> _Pick:
    """The agent with the fewest OPEN conversations; ties: the one who waited longest since its
    last assignment (never assigned first), then the lowest id. Every refused agent is skipped."""
    pick = _Pick(candidate_ids=[a.id for a in agents])
    able = []
    for agent in agents:
        reason = refusal(agent)
        if reason is None:
            able.append(agent)
        else:
            pick.skipped.append(Skip(agent.id, agent.name, reason))
    if able:
        pick.chosen = min(
            able,
            key=lambda a: (a.open_conversations, a.last_assigned_at is not None, a.last_assigned_at or 0, a.id),
        )
    return pick


@dataclass
class _Route:
    """One routing in progress: what it was given, and the trace it builds."""

    session: AsyncSession
    subject: Subject
    config: Config
    trace: Trace

    def refusal(self, *, online_only: bool) -> Callable[[Agent], SkipReason | None]:
        capacity = self.config.capacity
        return lambda agent: agent.refusal(online_only=online_only, capacity=capacity)

    async def turns(self, ring: str, members: Select[Any], *, online_only: bool, sees: bool) -> _Pick:
        # Loads read with the lock may miss what the holders before us committed while we
        # waited, but they gave their turns to the agents before ours: only a ring smaller than
        # the queue wraps onto a stale count, and agent_loads.moved refuses that one (a retry).
        last, agents = await _ring(self.session, ring, members, self.subject, sees=sees, fresh_loads=False)
        return await self._chosen(ring, take_turn(agents, last, self.refusal(online_only=online_only)))

    async def least_loaded(self, ring: str, members: Select[Any], *, sees: bool) -> _Pick:
        # Every waiter would read the same stale counts and pile onto one agent: read after the lock.
        _, agents = await _ring(self.session, ring, members, self.subject, sees=sees, fresh_loads=True)
        return await self._chosen(ring, least_loaded(agents, self.refusal(online_only=True)))

    async def _chosen(self, ring: str, pick: _Pick) -> _Pick:
        self.trace.candidate_ids = pick.candidate_ids
        self.trace.skipped += pick.skipped
        if pick.chosen is not None:
            self.choose(pick.chosen)
            await self.session.execute(
                update(RoutingTurn)
                .where(RoutingTurn.ring == ring)
                .values(last_user_id=pick.chosen.id, updated_at=self.trace.decided_at)
            )
        return pick

    def choose(self, agent: Agent) -> None:
        self.trace.chosen_id, self.trace.chosen_name = agent.id, agent.name

    def fall_back(self, rule: RoutingRule, sentence: str, skipped: Skip | None = None) -> None:
        self.trace.rule = rule
        self.trace.fallback = sentence if self.trace.fallback is None else f"{self.trace.fallback} {sentence}"
        if skipped is not None:
            self.trace.skipped.append(skipped)

    def decision(self, pick: _Pick | Agent | None, team: int) -> Decision:
        chosen = pick.chosen if isinstance(pick, _Pick) else pick
        return Decision(self.trace, chosen.id if chosen else None, team, capacity=self.config.capacity)


async def decide(
    session: AsyncSession,
    subject: Subject,
    settings: Config,
    *,
    within_team: int | None = None,
    previous_agent: int | None = None,
) -> Decision:
    """Where a conversation of `subject` goes, and why (the trace). `within_team`: route among
    that team's agents by the method, whatever the portfolio (a transfer to a team).
    `previous_agent`: a reopened conversation's agent, who gets it back while it may take it.

    Takes the turn of the ring it chooses in (held until commit) and advances it; the caller
    writes the conversation (`apply`, or its own statements) and moves its agent's load with
    the decision's capacity."""
    trace = Trace(rule=RoutingRule(settings.method.value), method=settings.method, decided_at=utcnow())
    route = _Route(session, subject, settings, trace)
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
            trace.chosen_id, trace.chosen_name = portfolio.agent_id, portfolio.agent_name
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


async def _back_to(route: _Route, agent_id: int, within_team: int | None) -> Decision | None:
    """A reopened conversation back to its agent while it may take one (the method's rule on
    presence, capacity, seeing the contact); else None, the reason in the trace."""
    agent = await _one_agent(route.session, route.subject, agent_id)
    if agent is None:
        return None
    reason = agent.refusal(online_only=route.config.method in _ONLINE_ONLY, capacity=route.config.capacity)
    if reason is None and within_team is not None and not await _member(route.session, agent.id, within_team):
        reason = SkipReason.CANNOT_SEE
    if reason is None:
        route.trace.rule, route.trace.candidate_ids = RoutingRule.REOPENED, [agent.id]
        route.choose(agent)
        return route.decision(agent, within_team or route.subject.team_id)
    route.fall_back(
        route.trace.rule,
        f"{agent.name}, who had it, {_CANNOT[reason]}: routed again.",
        Skip(agent.id, agent.name, reason),
    )
    return None


_CANNOT = {
    SkipReason.INACTIVE: "is not an active agent",
    SkipReason.CANNOT_SEE: "can no longer see the contact",
    SkipReason.AT_CAPACITY: "is at capacity",
    SkipReason.AWAY: "is away",
    SkipReason.OFFLINE: "is offline",
}


async def _member(session: AsyncSession, user_id: int, team_id: int) -> bool:
    stmt = select(TeamMember.user_id).where(TeamMember.user_id == user_id, TeamMember.team_id == team_id)
    return await session.scalar(stmt) is not None


async def _by_method(route: _Route, team: int | None) -> Decision:
    """The account's method among the agents of `team` (None: the method's own agents: the
    contact's team, the default group, the channel's agents)."""
    subject, settings = route.subject, route.config
    home = team or subject.team_id
    match settings.method:
        case RoutingMethod.LAST_RESPONSIBLE:
            return route.decision(await _last_or_turns(route, home, within=team is not None), home)
        case RoutingMethod.LOAD_BALANCED:
            route.trace.team_id = home
            pick = await route.least_loaded(f"team:{home}", _team_agents(home), sees=home != subject.team_id)
            return route.decision(pick, home)
        case RoutingMethod.DEFAULT_GROUP:
            group = team or settings.default_team_id
            if group is None:
                # The team was deleted since an admin chose it (the settings refuse none).
                route.fall_back(RoutingRule.ROUND_ROBIN, "No default team is set: ROUND_ROBIN decided.")
                return await _round_robin(route, subject.team_id)
            route.trace.team_id = group
            pick = await route.turns(
                f"team:{group}", _team_agents(group), online_only=False, sees=group != subject.team_id
            )
            return route.decision(pick, group)
        case RoutingMethod.BY_CHANNEL:
            return await _by_channel(route, team)
        case _:
            return await _round_robin(route, home)


async def _round_robin(route: _Route, team: int) -> Decision:
    route.trace.team_id = team
    sees = team != route.subject.team_id
    return route.decision(await route.turns(f"team:{team}", _team_agents(team), online_only=True, sees=sees), team)


async def _by_channel(route: _Route, team: int | None) -> Decision:
    """BY_CHANNEL: turns among the kind's chosen agents, online or not (within `team`: those of
    them in it). A kind with none chosen: the team's agents take turns, or, with no team,
    ROUND_ROBIN over the contact's team."""
    subject = route.subject
    kind = subject.channel_kind
    ring = f"channel:{kind.value}" + (f":team:{team}" if team is not None else "")
    route.trace.team_id = team
    pick = await route.turns(ring, _channel_agents(kind, team), online_only=False, sees=True)
    if pick.candidate_ids:
        return route.decision(pick, team or subject.team_id)
    if team is not None:
        route.fall_back(
            RoutingRule.BY_CHANNEL, f"None of the {kind.value} agents is in this team: its agents took turns."
        )
        sees = team != subject.team_id
        return route.decision(await route.turns(f"team:{team}", _team_agents(team), online_only=False, sees=sees), team)
    route.fall_back(RoutingRule.ROUND_ROBIN, f"No agents are chosen for {kind.value}: ROUND_ROBIN decided.")
    return await _round_robin(route, subject.team_id)


async def _last_or_turns(route: _Route, team: int, *, within: bool) -> Agent | None:
    """LAST_RESPONSIBLE: who last handled the contact, online or not, while it may take it; else
    ROUND_ROBIN among the team's agents, the trace saying why."""
    session, subject = route.session, route.subject
    last = await _last_responsible(session, subject.contact_id)
    agent = await _one_agent(session, subject, last) if last is not None else None
    reason = agent.refusal(online_only=False, capacity=route.config.capacity) if agent is not None else None
    if agent is not None and reason is None and within and not await _member(session, agent.id, team):
        reason = SkipReason.CANNOT_SEE
    if agent is not None and reason is None:
        route.trace.candidate_ids = [agent.id]
        route.choose(agent)
        return agent
    if agent is None or reason is None:
        route.fall_back(RoutingRule.ROUND_ROBIN, "Nobody handled this contact before: ROUND_ROBIN decided.")
    else:
        route.fall_back(
            RoutingRule.ROUND_ROBIN,
            f"{agent.name}, who handled it last, {_CANNOT[reason]}: ROUND_ROBIN decided.",
            Skip(agent.id, agent.name, reason),
        )
    route.trace.team_id = team
    sees = team != subject.team_id
    return (await route.turns(f"team:{team}", _team_agents(team), online_only=True, sees=sees)).chosen


# --- writing --------------------------------------------------------------------------------------


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
    decision = await decide(
        session, subject, await config(session), within_team=within_team, previous_agent=previous_agent
    )
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
    conversation.status = decision.status.value
    conversation.agent_id = decision.agent_id
    conversation.team_id = decision.team_id
    conversation.portfolio_id = decision.portfolio_id
    conversation.assigned_at = decision.trace.decided_at if decision.agent_id is not None else None
    conversation.routing = decision.trace.as_json()
