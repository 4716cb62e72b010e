"""What portfolio changes announce live (P8, RT1): badges gained, moved and lost, portfolios changed.

Each event is addressed to the teams whose members see the contacts it lists (their own
team) and to the agents owning the portfolios involved, who see their portfolios' contacts
whatever their team: the same rule as db.scopes.contacts.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.batches import Badge, badges_by_portfolio
from db.models import Contact, Portfolio, PortfolioMember
from services import events
from services.audit import AuditAction
from services.events import EventKind


class PortfolioChange(enum.StrEnum):
    RENAMED = "RENAMED"
    OWNER_CHANGED = "OWNER_CHANGED"
    ACTIVATED = "ACTIVATED"
    DEACTIVATED = "DEACTIVATED"
    DELETED = "DELETED"


def badge_payload(badge: Badge) -> dict[str, Any]:
    """A badge as events carry it (schema: PortfolioBadge.from_payload reads it back)."""
    return {
        "portfolioId": badge.portfolio_id,
        "portfolioName": badge.portfolio_name,
        "active": badge.active,
        "agentName": badge.agent_name,
        "teamName": badge.team_name,
    }


async def announce_memberships(
    session: AsyncSession,
    action: str,
    *,
    destination: Portfolio | None,
    teams: Mapping[int, int],
    sources: Mapping[int, int | None],
    agents: Mapping[int, int | None],
    badges: Mapping[int, Badge] | None = None,
) -> None:
    """Contacts entered (`destination`), moved between or left portfolios: events of at most
    events.BATCH contacts, one group per (contact team, previous portfolio).

    `teams`: each contact's team; `sources`: its previous portfolio (None: none); `agents`: the
    owning agent of each portfolio involved; `badges`: theirs, when the caller has read them.
    """
    groups: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    for contact_id, source in sources.items():
        groups[(teams[contact_id], source)].append(contact_id)
    if badges is None:
        involved = {p for p in sources.values() if p is not None} | ({destination.id} if destination else set())
        badges = await badges_by_portfolio(session, sorted(involved))
    after = badge_payload(badges[destination.id]) if destination else None
    for (team, source), contact_ids in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or 0)):
        before = badge_payload(badges[source]) if source is not None and source in badges else None
        owners = [
            agents.get(source) if source is not None else None,
            agents.get(destination.id) if destination else None,
        ]
        for chunk in events.batches(sorted(contact_ids)):
            events.emit(
                session,
                EventKind.PORTFOLIO_CONTACTS,
                {"action": action, "portfolio": after, "previous": before, "contactIds": list(chunk)},
                users=owners,
                teams=[team],
            )


async def announce_removals(
    session: AsyncSession,
    portfolio: Portfolio,
    contact_ids: Iterable[int],
    teams: Mapping[int, int],
    *,
    badge: Badge | None = None,
) -> None:
    """These contacts left `portfolio` (removed, or released by its deletion; `badge`: its badge, if read)."""
    await announce_memberships(
        session,
        AuditAction.REMOVED.value,
        destination=None,
        teams=teams,
        sources=dict.fromkeys(contact_ids, portfolio.id),
        agents={portfolio.id: portfolio.agent_id},
        badges={portfolio.id: badge} if badge is not None else None,
    )


async def contact_teams(session: AsyncSession, portfolio_id: int) -> list[int]:
    """The teams of a portfolio's contacts: whose members see its badge on them."""
    stmt = (
        select(Contact.team_id)
        .join(PortfolioMember, PortfolioMember.contact_id == Contact.id)
        .where(PortfolioMember.portfolio_id == portfolio_id)
        .distinct()
    )
    return list(await session.scalars(stmt))


async def announce_change(
    session: AsyncSession,
    portfolio: Portfolio,
    change: PortfolioChange,
    *,
    previous_owners: Iterable[tuple[int | None, int | None]] = (),
    badge: Badge | None = None,
    member_teams: Iterable[int] | None = None,
) -> None:
    """A portfolio's name, owners or state changed: every badge of it changed (P8).

    Announced while the portfolio exists (a deletion, before it), so its badge can be read; a
    caller that has read it, or its contacts' teams (`member_teams`), passes them in.
    """
    if badge is None:
        badge = (await badges_by_portfolio(session, [portfolio.id]))[portfolio.id]
    if member_teams is None:
        member_teams = await contact_teams(session, portfolio.id)
    owners = [(portfolio.team_id, portfolio.agent_id), *previous_owners]
    events.emit(
        session,
        EventKind.PORTFOLIO_CHANGED,
        {"change": change.value, "portfolio": badge_payload(badge)},
        users=[agent for _, agent in owners],
        teams=[*(team for team, _ in owners), *member_teams],
    )
