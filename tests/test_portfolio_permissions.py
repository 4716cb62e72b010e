"""Who may do what with a portfolio (P6), every mutation for every role and kind of owner.

Seeing one is enough to fill or empty it; editing it (name, owners, state) takes managing it
(an admin, or a supervisor who sees it) or owning it as its agent; deleting takes managing it.
A portfolio one does not see reads as missing; one it sees but may not edit is FORBIDDEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent, Contact, Portfolio, PortfolioMember, Role, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

UPDATE = """
mutation($id: ID!, $input: UpdatePortfolioInput!) {
  updatePortfolio(id: $id, input: $input) { portfolio { name } userErrors { code field message } }
}
"""
ACTIVATE = "mutation($id: ID!) { activatePortfolio(id: $id) { portfolio { active } userErrors { code field } } }"
DEACTIVATE = "mutation($id: ID!) { deactivatePortfolio(id: $id) { portfolio { active } userErrors { code field } } }"
DELETE = "mutation($id: ID!) { deletePortfolio(id: $id) { deletedPortfolioId userErrors { code field } } }"
ASSIGN = """
mutation($id: ID!, $contacts: ContactSelection!) {
  assignContactsToPortfolio(portfolioId: $id, contacts: $contacts, onConflict: KEEP) {
    assignedCount userErrors { code field }
  }
}
"""
REMOVE = """
mutation($id: ID!, $contacts: ContactSelection!) {
  removeContactsFromPortfolio(portfolioId: $id, contacts: $contacts) { removedCount userErrors { code field } }
}
"""


@dataclass
class Owned:
    portfolio: Portfolio
    member: Contact  # in it from the start
    free: Contact  # in no portfolio, of the same team


@dataclass
class World:
    users: dict[str, User]
    portfolios: dict[str, Owned]


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    norte = await factory.team("Norte", parent=cobranzas)
    ventas = await factory.team("Ventas")
    users = {
        "admin": await factory.user(Role.ADMIN, name="Ada"),
        "sofia": await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas]),
        "victor": await factory.user(Role.SUPERVISOR, name="Víctor", supervises=[ventas]),
        "ana": await factory.user(Role.AGENT, name="Ana", teams=[norte]),
        "beto": await factory.user(Role.AGENT, name="Beto", teams=[norte]),
        "carla": await factory.user(Role.AGENT, name="Carla", teams=[ventas]),
    }
    owners = {
        "norte's": ({"team": norte}, norte),
        "ana's": ({"agent": users["ana"]}, norte),
        "ana's in norte": ({"team": norte, "agent": users["ana"]}, norte),
        "beto's in norte": ({"team": norte, "agent": users["beto"]}, norte),
        "ventas'": ({"team": ventas}, ventas),
    }
    portfolios = {}
    for name, (owner, team) in owners.items():
        member, free = await factory.contacts(team, f"Miembro {len(portfolios)}", f"Libre {len(portfolios)}")
        portfolio = await factory.portfolio(name, contacts=[member], **owner)
        portfolios[name] = Owned(portfolio, member, free)
    return World(users, portfolios)


# Who sees which portfolio (db.scopes.portfolios): the rule the matrix below starts from.
SEES = {
    "admin": {"norte's", "ana's", "ana's in norte", "beto's in norte", "ventas'"},
    "sofia": {"norte's", "ana's", "ana's in norte", "beto's in norte"},
    "victor": {"ventas'"},
    "ana": {"norte's", "ana's", "ana's in norte"},
    "carla": {"ventas'"},
}
AGENT_OWNS = {"ana": {"ana's", "ana's in norte"}, "carla": set()}


def expected(role: str, portfolio: str, action: str) -> str | None:
    """The code `action` answers, None when it is done."""
    if portfolio not in SEES[role]:
        return "NOT_FOUND"
    manager = role not in AGENT_OWNS
    if action == "fill":
        return None
    if action == "delete":
        return None if manager else "FORBIDDEN"
    if action == "owners":
        # Only managers choose owners; an agent may not, even of its own portfolios.
        return None if manager else "FORBIDDEN"
    return None if manager or portfolio in AGENT_OWNS[role] else "FORBIDDEN"


async def _snapshot(factory: Factory) -> tuple[Any, ...]:
    async with factory.sessionmaker() as session:
        portfolios = (
            await session.execute(
                select(Portfolio.id, Portfolio.name, Portfolio.active, Portfolio.team_id, Portfolio.agent_id)
            )
        ).all()
        members = (await session.execute(select(PortfolioMember.contact_id, PortfolioMember.portfolio_id))).all()
        audit = (await session.execute(select(AuditEvent.id))).all()
    return sorted(portfolios), sorted(members), sorted(audit)


def _code(payload: dict[str, Any]) -> str | None:
    errors = payload["userErrors"]
    assert len(errors) <= 1, errors
    return errors[0]["code"] if errors else None


def _actions(name: str, owned: Owned) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Each action as its calls (query, payload field, variables): the action, then what undoes
    it when it is allowed, so the next one starts from the same state."""
    pid = gid(owned.portfolio)
    member, free = {"ids": [gid(owned.member)]}, {"ids": [gid(owned.free)]}
    return {
        "rename": [
            (UPDATE, "updatePortfolio", {"id": pid, "input": {"name": "Otro nombre"}}),
            (UPDATE, "updatePortfolio", {"id": pid, "input": {"name": name}}),
        ],
        "state": [(DEACTIVATE, "deactivatePortfolio", {"id": pid}), (ACTIVATE, "activatePortfolio", {"id": pid})],
        "owners": [(UPDATE, "updatePortfolio", {"id": pid, "input": {"teamId": None}})],
        "fill": [
            (ASSIGN, "assignContactsToPortfolio", {"id": pid, "contacts": free}),
            (REMOVE, "removeContactsFromPortfolio", {"id": pid, "contacts": free}),
            (REMOVE, "removeContactsFromPortfolio", {"id": pid, "contacts": member}),
            (ASSIGN, "assignContactsToPortfolio", {"id": pid, "contacts": member}),
        ],
        "delete": [(DELETE, "deletePortfolio", {"id": pid})],
    }


@pytest.mark.parametrize("role", list(SEES))
async def test_each_mutation_for_each_owner(client: GraphQLClient, factory: Factory, world: World, role: str) -> None:
    token = factory.token(world.users[role])
    for name, owned in world.portfolios.items():
        for action, calls in _actions(name, owned).items():
            want = expected(role, name, action)
            if action == "owners" and want is None:
                continue  # owner changes by managers: tests/test_portfolios.py
            before = await _snapshot(factory)
            codes = [_code((await client.data(query, variables, token))[field]) for query, field, variables in calls]
            if want is None:
                assert codes == [None] * len(calls), (role, name, action)
            else:
                # Every call refuses alike, and none changed anything.
                assert codes == [want] * len(calls), (role, name, action)
                assert await _snapshot(factory) == before, (role, name, action)


async def test_an_agent_is_told_why_it_may_not_edit_its_teams_portfolio(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    refused = await client.data(
        UPDATE,
        {"id": gid(world.portfolios["norte's"].portfolio), "input": {"name": "Mía"}},
        factory.token(world.users["ana"]),
    )
    (error,) = refused["updatePortfolio"]["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert "own" in error["message"]
