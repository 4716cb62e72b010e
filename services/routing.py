"""The router (A2, A3, A5, P7): who takes a conversation, and the trace of why.

Portfolio first: a contact in an active portfolio goes to its agent owner, or is routed within
its team. Otherwise the account's method over the active agents who may see the contact (R3):
the contact's team's (or the default group's, where the conversation is then filed), or the
kind's BY_CHANNEL agents who see the contact; the last responsible, and a reopened
conversation's agent, while they still see it.

Agents take turns in rings (services.routing_rings), each a `routing_turns` row holding who
got the last one. Choosing among agents locks that row (FOR UPDATE) and reads their presence
and loads with it, so turns stay strict however many API processes route at once; SQLite's
single writer (BEGIN IMMEDIATE) gives the same order. Capacity
is checked again where the load is counted (agent_loads.gain), so a ring that read a count
before another ring's routing committed cannot push an agent over it. Nobody able to take it
leaves it UNASSIGNED in the queue of the team it was routed to (A3); the trace says who was
passed over and why.

The turn row is held until the transaction commits: whatever the caller writes after `decide`
(the conversation, the audit row, the events) delays the next conversation of that ring, so
callers route last and write little after it. This is the API's hot path (services.intake):
its statements are built once and run on the session's connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import utcnow
from db.models import (
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    Portfolio,
    PortfolioMember,
    Role,
    RoutingMethod,
    RoutingSettings,
    User,
)
from services import agent_loads
from services import routing_rings as rings
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
    # An agent no ring may choose (the one a transfer takes it from).
    exclude: int | None = None

    @property
    def contact(self) -> rings.Contact:
        return rings.Contact(self.subject.contact_id, self.subject.team_id)

    async def turns(self, ring: str, source: str, *, online_only: bool, team: int | None = None) -> rings.Pick:
        # A team's ring hands it to the team it is filed in, whose agents see what is theirs and
        # their queue's (A3) and its contact through it; BY_CHANNEL's agents must see the contact.
        sees = source != "team"
        found = await rings.read_ring(
            self.conn,
            self.contact,
            ring,
            source,
            team=team,
            kind=self.subject.channel_kind,
            sees=sees,
            fresh_loads=False,
        )
        found.excluded = self.exclude
        return await self._chosen(ring, rings.take_turn(found, online_only=online_only, capacity=self.config.capacity))

    async def least_loaded(self, team: int) -> rings.Pick:
        ring = f"team:{team}"
        found = await rings.read_ring(self.conn, self.contact, ring, "team", team=team, sees=False, fresh_loads=True)
        found.excluded = self.exclude
        return await self._chosen(ring, rings.least_loaded(found, capacity=self.config.capacity))

    async def _chosen(self, ring: str, pick: rings.Pick) -> rings.Pick:
        self.trace.candidate_ids = pick.candidate_ids
        self.trace.skipped += pick.skipped
        if pick.chosen is not None:
            self.choose(*pick.chosen)
            self.turn = (ring, pick.chosen[0])
            if self.advance_turn:
                advance = rings.advance_params(ring, pick.chosen[0], self.trace.decided_at)
                await self.conn.execute(rings.advance_statement(), advance)
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
    previous_team: int | None = None,
    advance_turn: bool = True,
    exclude: int | None = None,
) -> Decision:
    """Where a conversation of `subject` goes, and why (the trace). `within_team`: route among
    that team's agents by the method, whatever the portfolio (a transfer to a team).
    `previous_agent`, `previous_team`: a reopened conversation's agent, who gets it back while it
    may take it, and its team, where it then stays. `exclude`: an agent no ring chooses (skipped
    TRANSFERRED_FROM: the one a transfer takes it from).

    Takes the turn of the ring it chooses in (held until commit) and advances it, unless
    `advance_turn` is False: then Decision.turn names it and the caller writes
    `routing_rings.advance_statement()`
    with its own statements. The caller writes the conversation (`apply`, or its own
    statements) and counts it against the agent (agent_loads.moved / gain with the decision's
    capacity)."""
    conn = await session.connection()
    trace = Trace(rule=RoutingRule(settings.method.value), method=settings.method, decided_at=utcnow())
    route = _Route(conn, subject, settings, trace, advance_turn, exclude=exclude)
    if previous_agent is not None:
        team = within_team or previous_team
        back = await _back_to(route, previous_agent, team, within=within_team is not None)
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
    SkipReason.TRANSFERRED_FROM: "is the one passing it on",
}


async def _back_to(route: _Route, agent_id: int, team: int | None, *, within: bool) -> Decision | None:
    """A reopened conversation back to its agent, in its team, while that agent may take one
    (the method's rule on presence, capacity, and seeing it: a member of its team sees it, anyone
    else must see its contact; `within`: only a member of `team` may); else None, the reason in
    the trace."""
    online_only = route.config.method in _ONLINE_ONLY
    agent = await rings.one_agent(
        route.conn, route.contact, agent_id, online_only=online_only, capacity=route.config.capacity
    )
    if agent is None:
        return None
    home = team or route.subject.team_id
    reason = agent.reason
    if reason in (None, SkipReason.CANNOT_SEE):
        if await rings.is_member(route.conn, agent.id, home):
            reason = None
        elif within:
            reason = SkipReason.CANNOT_SEE
    if reason is None:
        route.trace.rule, route.trace.candidate_ids = RoutingRule.REOPENED, [agent.id]
        route.choose(agent.id, agent.name)
        return route.decision(home)
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
    last = await rings.last_responsible(conn, subject.contact_id)
    agent = (
        await rings.one_agent(conn, route.contact, last, online_only=False, capacity=route.config.capacity)
        if last is not None
        else None
    )
    reason = agent.reason if agent is not None else None
    if agent is not None and agent.id == route.exclude:
        reason = SkipReason.TRANSFERRED_FROM
    if agent is not None and reason is None and within and not await rings.is_member(conn, agent.id, team):
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
    contact as routing reads it (read here when not given). `within_team`: among that team's
    agents by the method (a transfer to a team; it stays its portfolio's). `previous_agent`: back
    to that agent, in the conversation's team, while it may take it (a reopening)."""
    subject = contact or await subject_of(session, conversation)
    settings = await config(session)
    previous_team = conversation.team_id
    decision = await decide(
        session,
        subject,
        settings,
        within_team=within_team,
        previous_agent=previous_agent,
        previous_team=previous_team if previous_agent is not None else None,
    )
    before = agent_loads.holds(conversation.status, conversation.agent_id)
    portfolio = conversation.portfolio_id
    apply(conversation, decision)
    if within_team is not None:
        # Moved to a team by hand: it stays its portfolio's for the reports (P9).
        conversation.portfolio_id = portfolio
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
