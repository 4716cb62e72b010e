"""The monitoring table (A4) and the conversation reports (P9): who received, holds and resolved what.

Both are for admins and supervisors; an agent is refused (FORBIDDEN), as with the portfolio
reports and the audit trail. What the numbers mean:

- received: conversations given to the agent in the period (`assigned_at`, the moment it was
  given to the agent that holds it now: routed, assigned by hand, taken from the queue or
  transferred to it). One transferred away counts for the agent it went to, not for the one
  that had it: a conversation keeps one assignment time, its latest.
- open now: the agent's OPEN conversations (`agent_loads`, the count AGENT_LOAD_CHANGED
  announces), whatever the period.
- resolved: conversations RESOLVED now whose `resolved_at` falls in the period, by the agent
  that holds them; one reopened since counts again once resolved again.

The counts are the agent's whole workload, whichever team's conversations it works: a
supervisor watches its agents, and the load events it already receives carry the same totals.
Per portfolio (P9), the counts are of the conversations it routed (`portfolio_id`), received
meaning came in (`created_at`), over the portfolios the viewer sees, as the contacts per
portfolio report counts all of a visible portfolio's contacts.

Every page is one statement: the rows with their counts as correlated subqueries, each one
walking an index of the conversations (ix_conversations_agent_assigned, _agent_resolved,
_portfolio_created, _portfolio_resolved, _portfolio_open), so a page of 50 agents costs 100
short index ranges and never a scan of the period's conversations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Select, cast, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db import keyset, scopes
from db.base import utcnow
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import (
    AgentLoad,
    Conversation,
    ConversationStatus,
    Presence,
    Role,
    RoutingSettings,
    Team,
    TeamMember,
    User,
)
from services import portfolios
from services.audit import Period, period_bounds
from services.errors import ErrorCode, fail, forbidden
from services.principal import Principal

# The longest custom range: a year, leap day included, as the longest preset (THIS_YEAR).
MAX_RANGE = timedelta(days=366)
RESOLVED = ConversationStatus.RESOLVED
# A custom `to` is inclusive; stored instants have microseconds, so one more is the first one after.
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    """The period counted: [start, end)."""

    start: datetime
    end: datetime
    period: Period | None  # None: a custom range


def window(
    period: Period | None,
    since: datetime | None,
    until: datetime | None,
    *,
    zone: ZoneInfo,
    now: datetime,
    default: Period = Period.TODAY,
) -> Window:
    """A preset in the account's time zone (`default` unless a range is given), or a custom
    range, both ends inclusive (`until` defaults to now)."""
    if period is not None and (since is not None or until is not None):
        raise fail(ErrorCode.INVALID, "Give a period or a from/to range, not both", "filter.period")
    if since is None and until is None:
        chosen = period or default
        start, end = period_bounds(chosen, now, zone)
        return Window(start, end, chosen)
    if since is None:
        raise fail(ErrorCode.REQUIRED, "A range needs its start (from)", "filter.from")
    until = until if until is not None else now
    if since > until:
        raise fail(ErrorCode.INVALID, "from must not be after to", "filter.from")
    if until - since > MAX_RANGE:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"A range spans at most {MAX_RANGE.days} days", "filter.to")
    return Window(since, until + _TICK, None)


@dataclass(frozen=True)
class ActivityFilter:
    """Which agents: of these teams (each with its subtree) and/or these agents, within what the
    viewer sees; and the period."""

    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    period: Period | None = None
    since: datetime | None = None
    until: datetime | None = None


def _in_subtrees(viewer: Principal, team_ids: tuple[int, ...]) -> Select[Any]:
    """The teams under any of these (themselves included) that the viewer sees: a team it may
    not see narrows to nothing, as a missing one would (R3)."""
    chosen = aliased(Team)
    under = exists().where(chosen.id.in_(team_ids), Team.path.startswith(chosen.path))
    return scopes.teams(select(Team.id).where(under), viewer)


def _agents(viewer: Principal, flt: ActivityFilter) -> Select[Any]:
    """The AGENT users the viewer sees (admins: all of them; supervisors: the members of its
    teams), narrowed by the filter; selects nothing yet."""
    stmt = scopes.users(select().select_from(User), viewer).where(User.role == Role.AGENT.value)
    if flt.team_ids:
        member = exists().where(
            TeamMember.user_id == User.id, TeamMember.team_id.in_(_in_subtrees(viewer, flt.team_ids))
        )
        stmt = stmt.where(member)
    if flt.agent_ids:
        stmt = stmt.where(User.id.in_(flt.agent_ids))
    return stmt


def _count(*conditions: ColumnElement[bool]) -> Any:
    """How many conversations meet these conditions: a correlated subquery, one index range."""
    return select(func.count()).select_from(Conversation).where(*conditions).scalar_subquery()


def _is(status: ConversationStatus) -> ColumnElement[bool]:
    """The status as SQL text, not a parameter: the partial indexes' WHERE must be seen to hold,
    and PostgreSQL's generic plan of a prepared statement cannot see that through a parameter."""
    return Conversation.status == literal_column(f"'{status.value}'")


def _received_by(agent_id: Any, win: Window) -> Any:
    c = Conversation
    return _count(c.agent_id == agent_id, c.assigned_at >= win.start, c.assigned_at < win.end)


def _resolved_by(agent_id: Any, win: Window) -> Any:
    c = Conversation
    return _count(c.agent_id == agent_id, _is(RESOLVED), c.resolved_at >= win.start, c.resolved_at < win.end)


_USER_COLUMNS = (User.id, User.email, User.name, User.role, User.is_active, User.created_at, User.updated_at)


def _with_counts(agents: Select[Any], win: Window) -> Select[Any]:
    """The agents' columns, and what each received, holds (open_now) and resolved."""
    return agents.add_columns(
        *_USER_COLUMNS,
        func.coalesce(AgentLoad.open_conversations, 0).label("open_now"),
        _received_by(User.id, win).label("received"),
        _resolved_by(User.id, win).label("resolved"),
    ).outerjoin(AgentLoad, AgentLoad.user_id == User.id)


def _window(
    viewer: Principal, what: str, period: Period | None, since: datetime | None, until: datetime | None, zone: ZoneInfo
) -> Window:
    """The period a report covers, once the viewer may read it."""
    if viewer.role is Role.AGENT:
        raise forbidden(f"Only admins and supervisors read {what}")
    return window(period, since, until, zone=zone, now=utcnow())


_NAME_ORDER = (SortKey(User.sort_name, "sort_name", "str"), SortKey(User.id, "id", "int"))


@dataclass(frozen=True)
class Report:
    """A report's page; its rows (with received, open_now and resolved) for the totals, the
    cheaper statement that counts them, and the period it covered."""

    page: Page[Any]
    rows: Select[Any]
    listed: Select[Any]
    window: Window

    async def count(self, session: AsyncSession) -> int:
        return await keyset.count(session, self.listed)

    async def totals(self, session: AsyncSession) -> Totals:
        """The sums of received, open_now and resolved over all the rows."""
        found = self.rows.order_by(None).subquery()
        # PostgreSQL sums bigints as numeric; the API wants an integer.
        sums = [cast(func.coalesce(func.sum(found.c[n]), 0), BigInteger) for n in ("received", "open_now", "resolved")]
        result = (await session.execute(select(*sums))).one()
        return Totals(*(int(v) for v in result))


@dataclass(frozen=True)
class Totals:
    received: int
    open_now: int
    resolved: int


async def agent_monitoring(
    session: AsyncSession,
    viewer: Principal,
    flt: ActivityFilter,
    page: PageRequest,
    *,
    zone: ZoneInfo,
    max_page_size: int,
) -> Report:
    """The monitoring table (A4): one row per active agent, by name, with its presence and since
    when, what it received and resolved in the period, what it holds now, and whether that is
    the account's capacity."""
    win = _window(viewer, "the monitoring table", flt.period, flt.since, flt.until, zone)
    agents = _agents(viewer, flt).where(User.is_active.is_(True))
    capacity = select(RoutingSettings.capacity).where(RoutingSettings.id == 1).scalar_subquery()
    stmt = (
        _with_counts(agents, win)
        .add_columns(
            User.sort_name,
            Presence.status.label("presence"),
            Presence.changed_at.label("presence_since"),
            capacity.label("capacity"),
        )
        .outerjoin(Presence, Presence.user_id == User.id)
    )
    found = await paginate(session, stmt, keys=_NAME_ORDER, request=page, max_page_size=max_page_size, scalars=False)
    return Report(found, stmt, agents.add_columns(User.id), win)


def _by_most_received(grouped: Any) -> tuple[SortKey, ...]:
    return (SortKey(grouped.c.received, "received", "int", True), SortKey(grouped.c.id, "id", "int"))


async def conversations_per_agent(
    session: AsyncSession,
    viewer: Principal,
    flt: ActivityFilter,
    page: PageRequest,
    *,
    zone: ZoneInfo,
    max_page_size: int,
) -> Report:
    """Conversations per agent (P9), most received first: the agents the monitoring table shows,
    and those deactivated since who received, hold or resolved some in the period."""
    win = _window(viewer, "conversation reports", flt.period, flt.since, flt.until, zone)
    counted = _with_counts(_agents(viewer, flt), win).subquery()
    c = counted.c
    worked = or_(c.is_active.is_(True), c.received > 0, c.open_now > 0, c.resolved > 0)
    rows = select(counted).where(worked)
    found = await portfolios.report_page(session, rows, _by_most_received(counted), page, max_page_size=max_page_size)
    return Report(found, rows, rows, win)


@dataclass(frozen=True)
class PortfolioActivityFilter:
    portfolios: portfolios.PortfolioFilter = field(default_factory=portfolios.PortfolioFilter)
    period: Period | None = None
    since: datetime | None = None
    until: datetime | None = None


async def conversations_per_portfolio(
    session: AsyncSession,
    viewer: Principal,
    flt: PortfolioActivityFilter,
    page: PageRequest,
    *,
    zone: ZoneInfo,
    max_page_size: int,
) -> Report:
    """Conversations per portfolio (P9), most received first, over the portfolios the viewer sees:
    those that came in through each in the period, are OPEN now, or were resolved in the period."""
    win = _window(viewer, "conversation reports", flt.period, flt.since, flt.until, zone)
    visible = portfolios.filtered(viewer, flt.portfolios).subquery()
    c = Conversation
    mine = c.portfolio_id == visible.c.id
    counted = select(
        visible,
        _count(mine, c.created_at >= win.start, c.created_at < win.end).label("received"),
        _count(mine, _is(ConversationStatus.OPEN)).label("open_now"),
        _count(mine, _is(RESOLVED), c.resolved_at >= win.start, c.resolved_at < win.end).label("resolved"),
    ).subquery()
    rows = select(counted)
    found = await portfolios.report_page(session, rows, _by_most_received(counted), page, max_page_size=max_page_size)
    return Report(found, rows, select(visible.c.id), win)
