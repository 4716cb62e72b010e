"""The monitoring table (A4) and the conversation reports (P9): their filters, rows and connections."""

from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry

from db.models import PresenceStatus
from schema.connection import Connection
from schema.enums import Period
from schema.ids import pks
from schema.portfolio_inputs import PortfolioFilter
from schema.portfolio_types import Portfolio
from schema.types import User
from services import monitoring
from services.monitoring import Totals, Window

T = TypeVar("T")

_FROM = "Start of a custom range, inclusive: instead of a period."
_TO = "End of a custom range, inclusive (default: now); at most 366 days after from."
_PERIOD = "A preset in the account's time zone; TODAY when neither it nor a range is given."


@strawberry.input(description="Which agents (within those you see) and which period.")
class AgentActivityFilter:
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Agents of any of these teams or of the teams below them."
    )
    agent_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Only these agents.")
    period: Period | None = strawberry.field(default=None, description=_PERIOD)
    from_: datetime | None = strawberry.field(default=None, name="from", description=_FROM)
    to: datetime | None = strawberry.field(default=None, description=_TO)

    def to_service(self) -> monitoring.ActivityFilter:
        return monitoring.ActivityFilter(
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            agent_ids=pks(self.agent_ids, "User", "filter.agentIds"),
            period=self.period,
            since=self.from_,
            until=self.to,
        )


@strawberry.input(description="Which portfolios (within those you see) and which period.")
class PortfolioActivityFilter:
    portfolios: PortfolioFilter | None = strawberry.field(
        default=None, description="Which portfolios; omitted: all you see."
    )
    period: Period | None = strawberry.field(default=None, description=_PERIOD)
    from_: datetime | None = strawberry.field(default=None, name="from", description=_FROM)
    to: datetime | None = strawberry.field(default=None, description=_TO)

    def to_service(self) -> monitoring.PortfolioActivityFilter:
        chosen = self.portfolios.to_service() if self.portfolios else monitoring.PortfolioActivityFilter().portfolios
        return monitoring.PortfolioActivityFilter(
            portfolios=chosen, period=self.period, since=self.from_, until=self.to
        )


@strawberry.type(description="The period a report counted: from start up to, not including, end.")
class ReportWindow:
    period: Period | None = strawberry.field(description="The preset; null for a custom range.")
    start: datetime = strawberry.field(description="The first instant counted.")
    end: datetime = strawberry.field(description="The first instant not counted.")

    @classmethod
    def of(cls, win: Window) -> "ReportWindow":
        return cls(period=win.period, start=win.start, end=win.end)


@strawberry.type(description="One agent in the monitoring table (A4).")
class AgentMonitoring:
    agent: User = strawberry.field(description="The agent counted (a user you can see).")
    presence: PresenceStatus = strawberry.field(description="ONLINE, AWAY or OFFLINE now.")
    presence_since: datetime | None = strawberry.field(description="When it last changed; null when never set.")
    received: int = strawberry.field(description="Conversations given to the agent in the period (it holds them).")
    open_now: int = strawberry.field(description="Its OPEN conversations now, whatever the period.")
    resolved: int = strawberry.field(description="Its conversations resolved in the period.")
    capacity: int | None = strawberry.field(description="The most OPEN conversations routing gives it; null: none.")
    at_capacity: bool = strawberry.field(description="openNow has reached capacity: routing passes it over.")

    @classmethod
    def from_row(cls, row: Any) -> "AgentMonitoring":
        return cls(
            agent=User.from_row(row),
            presence=PresenceStatus(row.presence or PresenceStatus.OFFLINE.value),
            presence_since=row.presence_since,
            received=row.received,
            open_now=row.open_now,
            resolved=row.resolved,
            capacity=row.capacity,
            at_capacity=row.capacity is not None and row.open_now >= row.capacity,
        )


@strawberry.type(description="Conversations of one agent (P9).")
class AgentConversations:
    agent: User = strawberry.field(description="The agent counted (a user you can see).")
    received: int = strawberry.field(description="Given to the agent in the period (it holds them).")
    open_now: int = strawberry.field(description="OPEN now, whatever the period.")
    resolved: int = strawberry.field(description="Resolved in the period.")

    @classmethod
    def from_row(cls, row: Any) -> "AgentConversations":
        return cls(agent=User.from_row(row), received=row.received, open_now=row.open_now, resolved=row.resolved)


@strawberry.type(description="Conversations routed through one portfolio (P7, P9).")
class PortfolioConversations:
    portfolio: Portfolio = strawberry.field(description="The portfolio.")
    received: int = strawberry.field(description="Came in through the portfolio in the period.")
    open_now: int = strawberry.field(description="OPEN now, whatever the period.")
    resolved: int = strawberry.field(description="Resolved in the period.")

    @classmethod
    def from_row(cls, row: Any) -> "PortfolioConversations":
        return cls(
            portfolio=Portfolio.from_row(row), received=row.received, open_now=row.open_now, resolved=row.resolved
        )


@strawberry.type(description="A report's sums over all its rows, not only this page's.")
class ConversationTotals:
    received: int = strawberry.field(description="Conversations received in the period.")
    open_now: int = strawberry.field(description="OPEN conversations now.")
    resolved: int = strawberry.field(description="Conversations resolved in the period.")


@strawberry.type(description="A page of a report's rows, the period it counted, and its totals.")
class Report(Connection[T], Generic[T]):
    window: ReportWindow = strawberry.field(description="The period counted.")
    sums: strawberry.Private[Callable[[], Awaitable[Totals]]]

    @strawberry.field(description="Sums over the whole report, every page (one extra query).")
    async def totals(self) -> ConversationTotals:
        found = await self.sums()
        return ConversationTotals(received=found.received, open_now=found.open_now, resolved=found.resolved)

    @classmethod
    def of(cls, page: Connection[T], win: Window, sums: Callable[[], Awaitable[Totals]]) -> "Report[T]":
        own = {f.name: getattr(page, f.name) for f in fields(page) if f.init}
        return cls(**own, window=ReportWindow.of(win), sums=sums)
