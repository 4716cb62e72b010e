"""Exclusive membership under concurrency (P4): many calls on the same contacts at once.

On PostgreSQL these calls really overlap (the proof the issue asks for); on SQLite the write
lock serialises them, and the same assertions hold.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from db.models import AuditEvent, Role
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

ASSIGN = """
mutation($p: ID!, $ids: [ID!]!, $policy: ConflictPolicy!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}, onConflict: $policy) {
    assignedCount movedCount keptCount
    results(first: 100) { nodes { contactId outcome } }
    userErrors { code message }
  }
}
"""
CALLS = 8
CONTACTS = 60


async def _world(factory: Factory) -> tuple[str, list[str], list[str]]:
    team = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN)
    people = await factory.contacts(team, *(f"Cliente N{i:03d}" for i in range(CONTACTS)))
    portfolios = [await factory.portfolio(f"Cartera {i}", team=team) for i in range(CALLS)]
    return factory.token(admin), [gid(p) for p in portfolios], [gid(c) for c in people]


async def _entries(factory: Factory) -> Counter[str]:
    async with factory.sessionmaker() as session:
        rows = await session.execute(
            select(AuditEvent.action, func.count())
            .where(AuditEvent.resource_type == "CONTACT")
            .group_by(AuditEvent.action)
        )
        return Counter({action: n for action, n in rows.all()})


async def test_concurrent_moves_leave_every_contact_in_one_portfolio(client: GraphQLClient, factory: Factory) -> None:
    token, portfolios, contacts = await _world(factory)
    calls = [
        client.data(ASSIGN, {"p": portfolio, "ids": contacts, "policy": "MOVE"}, token) for portfolio in portfolios
    ]
    payloads = [r["assignContactsToPortfolio"] for r in await asyncio.gather(*calls)]
    # Every request gets its answer, and each call moved all sixty at once.
    assert [p["userErrors"] for p in payloads] == [[]] * CALLS
    assert all(p["assignedCount"] + p["movedCount"] == CONTACTS for p in payloads)
    assert sum(p["assignedCount"] for p in payloads) == CONTACTS
    members = await factory.memberships()
    assert len(members) == CONTACTS
    # The calls ran as if one after another: all sixty end where the last one put them.
    assert len(set(members.values())) == 1
    # Each contact's history holds one entry per call that changed it, no more.
    assert await _entries(factory) == Counter({"ASSIGNED": CONTACTS, "MOVED": CONTACTS * (CALLS - 1)})


async def test_concurrent_keeps_give_each_free_contact_to_exactly_one(client: GraphQLClient, factory: Factory) -> None:
    token, portfolios, contacts = await _world(factory)
    # Each call brings its own share of the contacts first, so the calls overlap partly.
    calls = [
        client.data(ASSIGN, {"p": portfolio, "ids": contacts[i * 5 :] + contacts[: i * 5], "policy": "KEEP"}, token)
        for i, portfolio in enumerate(portfolios)
    ]
    payloads = [r["assignContactsToPortfolio"] for r in await asyncio.gather(*calls)]
    assert [p["userErrors"] for p in payloads] == [[]] * CALLS
    winners: Counter[str] = Counter()
    for payload in payloads:
        assert payload["assignedCount"] + payload["keptCount"] == CONTACTS
        winners.update(n["contactId"] for n in payload["results"]["nodes"] if n["outcome"] == "ASSIGNED")
    assert winners == Counter(dict.fromkeys(contacts, 1))
    assert len(await factory.memberships()) == CONTACTS
    assert await _entries(factory) == Counter({"ASSIGNED": CONTACTS})
