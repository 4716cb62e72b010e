"""Root fields for supervision: the monitoring table (A4) and the conversation reports (P9)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.keyset import PageRequest
from schema.connection import connection
from schema.monitoring_types import (
    AgentActivityFilter,
    AgentConversations,
    AgentMonitoring,
    PortfolioActivityFilter,
    PortfolioConversations,
    Report,
)
from schema.types import CursorArg, Info, PageArg
from services import monitoring
from services.principal import Principal

T = TypeVar("T")

Build = Callable[..., Awaitable[monitoring.Report]]

# How a client keeps the table live (A4), told in the field's description.
LIVE = (
    " Live: subscribe to `inbox`. AgentLoadChanged (userId, openConversations) is that agent's new"
    " openNow, and atCapacity is openConversations >= capacity; PresenceChanged (userId, status) its new"
    " presence, the InboxEvent's occurredAt its presenceSince. A ConversationChanged naming an agent"
    " (agentId, previousAgentId) may move its received and resolved: read those rows again with"
    " filter.agentIds, as the whole page when a preset's day ends at local midnight. Supervisors get"
    " these events for the conversations of their teams and the presence of their teams' members."
)


@strawberry.type
class MonitoringQueries:
    @strawberry.field(
        description="The monitoring table (A4): each active agent you supervise, by name, with its presence, "
        "the conversations it received and resolved in the period and those it holds now "
        "(admins: every agent; supervisors: its teams'; agents may not)." + LIVE
    )
    async def agent_monitoring(
        self,
        info: Info,
        filter: Annotated[
            AgentActivityFilter | None,
            strawberry.argument(description="Which agents and period; omitted: everyone you see, TODAY."),
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Report[AgentMonitoring] | None:
        request = PageRequest(first=first, after=after, last=last, before=before)
        flt = (filter or AgentActivityFilter()).to_service()
        return await _report(info, monitoring.agent_monitoring, flt, request, AgentMonitoring.from_row)

    @strawberry.field(
        description="Conversations per agent, most received first (P9; admins and supervisors): the agents "
        "of the monitoring table, and those deactivated since who worked in the period."
    )
    async def conversations_per_agent(
        self,
        info: Info,
        filter: Annotated[
            AgentActivityFilter | None,
            strawberry.argument(description="Which agents and period; omitted: everyone you see, TODAY."),
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Report[AgentConversations] | None:
        request = PageRequest(first=first, after=after, last=last, before=before)
        flt = (filter or AgentActivityFilter()).to_service()
        return await _report(info, monitoring.conversations_per_agent, flt, request, AgentConversations.from_row)

    @strawberry.field(
        description="Conversations per portfolio, most received first (P9; admins and supervisors, over the "
        "portfolios they see): those that came in through it in the period, OPEN now, resolved in the period."
    )
    async def conversations_per_portfolio(
        self,
        info: Info,
        filter: Annotated[
            PortfolioActivityFilter | None,
            strawberry.argument(description="Which portfolios and period; omitted: all you see, TODAY."),
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Report[PortfolioConversations] | None:
        request = PageRequest(first=first, after=after, last=last, before=before)
        flt = (filter or PortfolioActivityFilter()).to_service()
        return await _report(
            info, monitoring.conversations_per_portfolio, flt, request, PortfolioConversations.from_row
        )


async def _report(info: Info, build: Build, flt: Any, request: PageRequest, convert: Callable[[Any], T]) -> Report[T]:
    ctx = info.context
    session: AsyncSession = ctx.session
    principal: Principal = ctx.principal
    found = await build(
        session, principal, flt, request, zone=ctx.settings.zone, max_page_size=ctx.settings.max_page_size
    )
    page = connection(found.page, convert, lambda: found.count(session))
    return Report.of(page, found.window, lambda: found.totals(session))
