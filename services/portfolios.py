"""Portfolios (P1, P2, P6, P9): create, edit, activate, delete, list, and the reports per owner.

Who may do what (P6): whoever sees a portfolio (db.scopes.portfolios) may add and remove its
contacts; ADMIN and SUPERVISOR edit and delete the ones they see and choose owners within what
they see; an AGENT edits only the name and the state of the portfolios it owns as their agent
(`_require_editor`), and creates or deletes none. One the actor does not see reads as missing;
one it sees but may not change is FORBIDDEN.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, Select, String, case, cast, delete, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db import scopes
from db.batches import badges_by_portfolio
from db.engine import after_commit, refresh_statistics
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Contact, Portfolio, PortfolioMember, Role, TeamMember
from db.search import fold, matches
from db.sets import columns, execute_counting, value_table
from services import audit, teams, users
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique
from services.contacts import Selected, full_name
from services.errors import ConcurrentChange, ErrorCode, fail, forbidden, not_found
from services.portfolio_events import PortfolioChange, announce_change, announce_removals
from services.principal import Principal


class PortfolioOrder(enum.StrEnum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@dataclass(frozen=True)
class PortfolioFilter:
    search: str | None = None
    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    active: bool | None = None


def sort_keys(order: PortfolioOrder, descending: bool) -> tuple[SortKey, ...]:
    first = {
        PortfolioOrder.NAME: SortKey(Portfolio.search_name, "search_name", "str", descending),
        PortfolioOrder.CREATED_AT: SortKey(Portfolio.created_at, "created_at", "datetime", descending),
        PortfolioOrder.UPDATED_AT: SortKey(Portfolio.updated_at, "updated_at", "datetime", descending),
    }[order]
    return (first, SortKey(Portfolio.id, "id", "int", descending))


def filtered(viewer: Principal, flt: PortfolioFilter) -> Select[Portfolio]:
    stmt = scopes.portfolios(select(Portfolio), viewer)
    if flt.search and flt.search.strip():
        stmt = stmt.where(matches(flt.search, Portfolio.search_name))
    if flt.team_ids:
        stmt = stmt.where(Portfolio.team_id.in_(flt.team_ids))
    if flt.agent_ids:
        stmt = stmt.where(Portfolio.agent_id.in_(flt.agent_ids))
    if flt.active is not None:
        stmt = stmt.where(Portfolio.active.is_(flt.active))
    return stmt


async def list_portfolios(
    session: AsyncSession,
    viewer: Principal,
    flt: PortfolioFilter,
    page: PageRequest,
    *,
    order: PortfolioOrder = PortfolioOrder.NAME,
    descending: bool = False,
    max_page_size: int,
) -> tuple[Page[Portfolio], Select[Portfolio]]:
    stmt = filtered(viewer, flt)
    result = await paginate(session, stmt, keys=sort_keys(order, descending), request=page, max_page_size=max_page_size)
    return result, stmt


async def get_visible(
    session: AsyncSession,
    viewer: Principal,
    portfolio_id: int,
    field: str = "id",
    *,
    lock: Literal["update", "share"] | None = None,
) -> Portfolio:
    """The portfolio if the viewer sees it (and so may fill or empty it); missing and hidden read the same.

    lock="update" for changing the portfolio itself, "share" for changing its membership:
    membership calls run side by side, and an edit waits for them (and they for it).
    """
    stmt = scopes.portfolios(select(Portfolio).where(Portfolio.id == portfolio_id), viewer)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    portfolio = (await session.execute(stmt)).scalar_one_or_none()
    if portfolio is None:
        raise not_found("Portfolio", field)
    return portfolio


# One portfolio per folded name and owner: uq_portfolios_team_name, uq_portfolios_agent_name.
NAME_TAKEN = "A portfolio with this name already exists for the same owner"

# Memberships one call may change before the planner is asked to look at the table again.
STATISTICS_AFTER = 5_000


def refresh_statistics_after(session: AsyncSession, changed: int) -> None:
    """After a call that changed many memberships, refresh the planner's statistics of the table."""
    if changed >= STATISTICS_AFTER:
        engine = session.bind
        assert isinstance(engine, AsyncEngine)  # sessions are made by db.engine.create_sessionmaker
        after_commit(session, lambda: refresh_statistics(engine, PortfolioMember.__tablename__))


# --- owners -------------------------------------------------------------------------------------


async def _check_owner(session: AsyncSession, actor: Principal, *, team_id: int | None, agent_id: int | None) -> None:
    """An owning team the actor sees, an active AGENT it sees, a member of that team if both."""
    if team_id is None and agent_id is None:
        raise fail(ErrorCode.REQUIRED, "Give an owning team, an owning agent or both", "teamId")
    if team_id is not None:
        await teams.get_visible(session, actor, team_id, "teamId")
    if agent_id is None:
        return
    agent = await users.get_visible(session, actor, agent_id, "agentId")
    if agent.role != Role.AGENT.value or not agent.is_active:
        raise fail(ErrorCode.INVALID, "The owning agent must be an active user with the AGENT role", "agentId")
    if team_id is not None and not await session.scalar(
        select(exists().where(TeamMember.team_id == team_id, TeamMember.user_id == agent_id))
    ):
        raise fail(ErrorCode.INVALID, "The owning agent must be a member of the owning team", "agentId")


async def owner_team_ids_by_portfolio(
    session: AsyncSession, portfolios: Iterable[Portfolio]
) -> dict[Portfolio, list[int]]:
    """Per portfolio, the teams whose supervisors see its audit events: the owning team, else the
    agent's (all agents' teams in one query)."""
    portfolios = list(portfolios)
    agents = {p.agent_id for p in portfolios if p.team_id is None and p.agent_id is not None}
    agent_teams: defaultdict[int | None, set[int]] = defaultdict(set)
    if agents:
        found = await session.execute(
            select(TeamMember.user_id, TeamMember.team_id).where(TeamMember.user_id.in_(agents))
        )
        for agent, team in found:
            agent_teams[agent].add(team)
    return {p: sorted({p.team_id} if p.team_id is not None else agent_teams[p.agent_id]) for p in portfolios}


async def owner_team_ids(session: AsyncSession, portfolios: Iterable[Portfolio]) -> list[int]:
    """The teams whose supervisors see any of these portfolios' audit events."""
    by_portfolio = await owner_team_ids_by_portfolio(session, portfolios)
    return sorted({team for owners in by_portfolio.values() for team in owners})


def snapshot(portfolio: Portfolio) -> dict[str, Any]:
    return {
        "name": portfolio.name,
        "teamId": portfolio.team_id,
        "agentId": portfolio.agent_id,
        "active": portfolio.active,
    }


async def record(
    session: AsyncSession,
    actor: Principal,
    portfolio: Portfolio,
    action: AuditAction,
    changed: dict[str, Any],
    *,
    also: Iterable[Portfolio] = (),
) -> int:
    """Audit an event on a portfolio, seen by the supervisors of its owners (and of `also`'s)."""
    return await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.PORTFOLIO,
        resource_id=portfolio.id,
        resource_name=portfolio.name,
        team_ids=await owner_team_ids(session, [portfolio, *also]),
        changed=changed,
    )


# --- writes ------------------------------------------------------------------------------------


def _require_manager(actor: Principal, what: str) -> None:
    if actor.role is Role.AGENT:
        raise forbidden(f"Only admins and supervisors {what}")


def _require_editor(actor: Principal, portfolio: Portfolio) -> None:
    """May change a portfolio it sees (P6): a manager, or the agent that owns it. In its team's
    portfolios an agent only adds and removes contacts."""
    if actor.role is Role.AGENT and portfolio.agent_id != actor.user_id:
        raise forbidden("Agents edit only the portfolios they own")


async def create_portfolio(
    session: AsyncSession, actor: Principal, *, name: str, team_id: int | None, agent_id: int | None
) -> Portfolio:
    _require_manager(actor, "can create portfolios")
    name = clean_name(name, "name")
    await _check_owner(session, actor, team_id=team_id, agent_id=agent_id)
    portfolio = Portfolio(name=name, team_id=team_id, agent_id=agent_id, active=True)
    session.add(portfolio)
    await flush_unique(session, NAME_TAKEN, "name")
    await record(session, actor, portfolio, AuditAction.CREATED, audit.changes({}, snapshot(portfolio)))
    return portfolio


async def update_portfolio(
    session: AsyncSession,
    actor: Principal,
    portfolio_id: int,
    *,
    name: Maybe[str] = UNSET,
    team_id: Maybe[int | None] = UNSET,
    agent_id: Maybe[int | None] = UNSET,
) -> Portfolio:
    """Change the given fields; a supervisor's new owners must be within what it sees, too."""
    portfolio = await get_visible(session, actor, portfolio_id, lock="update")
    _require_editor(actor, portfolio)
    before = snapshot(portfolio)
    previous = Portfolio(team_id=portfolio.team_id, agent_id=portfolio.agent_id)
    if name is not UNSET:
        portfolio.name = clean_name(name, "name")
    if team_id is not UNSET or agent_id is not UNSET:
        if actor.role is Role.AGENT:
            raise forbidden(
                "Agents cannot change who owns a portfolio", "teamId" if team_id is not UNSET else "agentId"
            )
        new_team = portfolio.team_id if team_id is UNSET else team_id
        new_agent = portfolio.agent_id if agent_id is UNSET else agent_id
        await _check_owner(session, actor, team_id=new_team, agent_id=new_agent)
        portfolio.team_id, portfolio.agent_id = new_team, new_agent
    changed = audit.changes(before, snapshot(portfolio))
    if changed:
        await flush_unique(session, NAME_TAKEN, "name")
        # The previous owners' supervisors see that it left them.
        await record(session, actor, portfolio, AuditAction.UPDATED, changed, also=[previous])
        owners_changed = "teamId" in changed or "agentId" in changed
        change = PortfolioChange.OWNER_CHANGED if owners_changed else PortfolioChange.RENAMED
        await announce_change(session, portfolio, change, previous_owners=[(previous.team_id, previous.agent_id)])
    return portfolio


async def set_active(session: AsyncSession, actor: Principal, portfolio_id: int, *, active: bool) -> Portfolio:
    """Activate or deactivate (P2); an inactive portfolio keeps its contacts but takes no new ones."""
    portfolio = await get_visible(session, actor, portfolio_id, lock="update")
    _require_editor(actor, portfolio)
    if portfolio.active == active:
        return portfolio
    portfolio.active = active
    await session.flush()
    action = AuditAction.ACTIVATED if active else AuditAction.DEACTIVATED
    await record(session, actor, portfolio, action, {"active": {"before": not active, "after": active}})
    await announce_change(session, portfolio, PortfolioChange.ACTIVATED if active else PortfolioChange.DEACTIVATED)
    return portfolio


async def delete_portfolio(session: AsyncSession, actor: Principal, portfolio_id: int) -> tuple[int, int]:
    """Delete a portfolio and release its contacts, each with a REMOVED entry in its history.

    Returns (the portfolio id, how many contacts were released).
    """
    portfolio = await get_visible(session, actor, portfolio_id, lock="update")
    _require_manager(actor, "can delete portfolios")
    members = select(PortfolioMember.contact_id).where(PortfolioMember.portfolio_id == portfolio.id)
    # The memberships are locked in id order, as remove() does: a MOVE out of this portfolio
    # locks only them, so it either went first (and they are no longer read here) or waits.
    locked = (
        members.add_columns(Contact.team_id, full_name().label("name"))
        .join(Contact, Contact.id == PortfolioMember.contact_id)
        .with_for_update(of=PortfolioMember)
    )
    found = Selected.of(*await columns(session, locked, order_by="contact_id"))
    released = len(found.ids)
    # Announced while the portfolio and its memberships still exist to name them.
    badge = (await badges_by_portfolio(session, [portfolio.id]))[portfolio.id]
    await announce_change(session, portfolio, PortfolioChange.DELETED, badge=badge, member_teams=found.teams.values())
    await announce_removals(session, portfolio, found.ids, found.teams, badge=badge)
    event_id = await record(
        session,
        actor,
        portfolio,
        AuditAction.DELETED,
        {**audit.changes(snapshot(portfolio), {}), "releasedContacts": {"before": released, "after": 0}},
    )
    if released:
        await audit.record_contact_entries(
            session,
            actor=actor,
            action=AuditAction.REMOVED,
            batch_id=event_id,
            rows=membership_entries(session.get_bind().dialect.name, found.ids, found, before=portfolio, after=None),
        )
        deleted = await execute_counting(
            session, delete(PortfolioMember).where(PortfolioMember.portfolio_id == portfolio.id)
        )
        if deleted != released:
            raise ConcurrentChange("a locked membership changed")
        refresh_statistics_after(session, released)
    await session.delete(portfolio)
    await session.flush()
    return portfolio.id, released


@dataclass(frozen=True)
class Leaving:
    """Contacts each leaving its own portfolio: that portfolio's id by contact (none: a contact
    in no portfolio, entering), and those portfolios by id."""

    portfolio_of: Mapping[int, int]
    portfolios: Mapping[int, Portfolio]


def membership_entries(
    dialect: str,
    contacts: Sequence[int],
    known: Selected,
    *,
    before: Portfolio | Leaving | None,
    after: Portfolio | None,
) -> Select[Any]:
    """The audit rows (audit.record_contact_entries) of `contacts` entering, leaving or changing portfolio.

    `known` holds the contacts' names and teams as the caller read them with their rows; `before`
    is the portfolio they leave: one for all, each one's own (Leaving), or None when they were
    in none. With Leaving, each row carries its action too: MOVED, or ASSIGNED for a contact
    that was in none. Every value travels as a parameter: nothing here reads a table again.
    """
    columns: dict[str, tuple[Any, Sequence[Any]]] = {
        "resource_id": (BigInteger(), contacts),
        "resource_name": (String(), [known.names[c] for c in contacts]),
        "folded_name": (String(), [fold(known.names[c]) for c in contacts]),
        "team_id": (BigInteger(), [known.teams[c] for c in contacts]),
    }
    if isinstance(before, Leaving):
        columns["before_id"] = (BigInteger(), [before.portfolio_of.get(c) for c in contacts])
    rows = value_table(dialect, columns).subquery()
    # An entry's change depends only on the portfolios it leaves and enters: each distinct one
    # travels once, as a parameter. Built per row, it took 0.16 s of 50,000 in SQL, 0.2 s in Python.
    if not isinstance(before, Leaving):
        change = literal(_portfolio_change(before, after), JSON)
        return select(
            rows.c.resource_id, rows.c.resource_name, rows.c.folded_name, change.label("changes"), rows.c.team_id
        )
    changes = case(
        {pid: literal(_portfolio_change(source, after), JSON) for pid, source in before.portfolios.items()},
        value=rows.c.before_id,
        else_=literal(_portfolio_change(None, after), JSON),
    )
    action = case((rows.c.before_id.is_(None), AuditAction.ASSIGNED.value), else_=AuditAction.MOVED.value)
    return select(
        rows.c.resource_id,
        rows.c.resource_name,
        rows.c.folded_name,
        changes.label("changes"),
        rows.c.team_id,
        action.label("action"),
    )


def _portfolio_change(before: Portfolio | None, after: Portfolio | None) -> dict[str, Any]:
    """A membership entry's change: the portfolio it left and the one it entered, by name and id."""
    return audit.changes(_membership(before), _membership(after))


def _membership(portfolio: Portfolio | None) -> dict[str, Any]:
    return {"portfolio": portfolio.name, "portfolioId": portfolio.id} if portfolio else {}


# --- reports (P9) --------------------------------------------------------------------------------


def _require_report_reader(viewer: Principal) -> None:
    _require_manager(viewer, "read portfolio reports")


def contacts_per_portfolio(viewer: Principal, flt: PortfolioFilter) -> tuple[Select[Any], tuple[SortKey, ...]]:
    """The visible portfolios with how many contacts each holds, most first (admins and supervisors)."""
    _require_report_reader(viewer)
    return _per_portfolio(viewer, flt)


def _per_portfolio(viewer: Principal, flt: PortfolioFilter) -> tuple[Select[Any], tuple[SortKey, ...]]:
    counts = (
        select(PortfolioMember.portfolio_id, func.count().label("contact_count"))
        .group_by(PortfolioMember.portfolio_id)
        .subquery()
    )
    visible = filtered(viewer, flt).subquery()
    contact_count = func.coalesce(counts.c.contact_count, 0)
    stmt = select(visible, contact_count.label("contact_count")).outerjoin(
        counts, counts.c.portfolio_id == visible.c.id
    )
    keys = (SortKey(contact_count, "contact_count", "int", True), SortKey(visible.c.id, "id", "int"))
    return stmt, keys


class OwnerKind(enum.StrEnum):
    AGENT = "AGENT"
    TEAM = "TEAM"


def contacts_per_owner(viewer: Principal, flt: PortfolioFilter) -> tuple[Select[Any], tuple[SortKey, ...]]:
    """Per owner (the agent of agent-owned portfolios, else the team): portfolios and contacts, most
    first (admins and supervisors)."""
    _require_report_reader(viewer)
    per_portfolio = _per_portfolio(viewer, flt)[0].subquery()
    kind = case(
        (per_portfolio.c.agent_id.is_not(None), literal(OwnerKind.AGENT.value)), else_=literal(OwnerKind.TEAM.value)
    )
    owner = func.coalesce(per_portfolio.c.agent_id, per_portfolio.c.team_id)
    # PostgreSQL sums bigints as numeric; the cursor and the API want an integer.
    contact_count = cast(func.sum(per_portfolio.c.contact_count), BigInteger)
    stmt = select(
        kind.label("owner_kind"),
        owner.label("owner_id"),
        func.count().label("portfolio_count"),
        contact_count.label("contact_count"),
    ).group_by(kind, owner)
    grouped = stmt.subquery()
    keys = (
        SortKey(grouped.c.contact_count, "contact_count", "int", True),
        SortKey(grouped.c.owner_kind, "owner_kind", "str"),
        SortKey(grouped.c.owner_id, "owner_id", "int"),
    )
    return select(grouped), keys


async def report_page(
    session: AsyncSession, stmt: Select[Any], keys: tuple[SortKey, ...], page: PageRequest, *, max_page_size: int
) -> Page[Any]:
    return await paginate(session, stmt, keys=keys, request=page, max_page_size=max_page_size, scalars=False)
