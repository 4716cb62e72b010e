"""Exclusive membership under concurrency (P4): many calls on the same contacts at once.

On PostgreSQL these calls really overlap (the proof the issue asks for); on SQLite the write
lock serialises them, and the same assertions hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import await_only

from db.models import AuditEvent, Portfolio, PortfolioMember, Role
from tests.conftest import GraphQLClient, Server
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


DELETE = "mutation($id: ID!) { deletePortfolio(id: $id) { releasedContactCount userErrors { code } } }"
ASSIGN_REPORTED = """
mutation($p: ID!, $ids: [ID!]!, $policy: ConflictPolicy!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}, onConflict: $policy) {
    assignedCount movedCount keptCount
    results(first: 10) { nodes { contact { fullName } outcome otherPortfolio { portfolioName } } }
    userErrors { code }
  }
}
"""


@contextlib.contextmanager
def _meddling(
    server: Server, before: Callable[[str], bool], meddle: Callable[[], Awaitable[None]]
) -> Iterator[list[str]]:
    """Another transaction (`meddle`) commits right before the first statement that `before`
    matches; yields the matching statements run meanwhile. PostgreSQL only: on SQLite the
    call's write lock would keep the other transaction waiting."""
    if server.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing commits between two statements of a call")
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if before(statement):
            seen.append(statement)
            if len(seen) == 1:
                # Inside SQLAlchemy's greenlet: the other transaction runs and commits right here.
                await_only(meddle())

    event.listen(server.engine.sync_engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(server.engine.sync_engine, "before_cursor_execute", hook)


def _reported(payload: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Each contact's outcome, and the other portfolio it names, by contact name."""
    return {
        n["contact"]["fullName"]: (n["outcome"], (n["otherPortfolio"] or {}).get("portfolioName"))
        for n in payload["results"]["nodes"]
    }


async def test_a_move_acts_on_what_the_memberships_hold_once_locked(
    client: GraphQLClient, factory: Factory, server: Server
) -> None:
    # The selection reads each contact's portfolio without a lock; a MOVE then locks the ones
    # held and reads them again. Another call commits in between: one contact changes portfolio,
    # another is released. The MOVE reports and writes what it found locked, not what it read.
    team = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN)
    changed, released, free = await factory.contacts(team, "Ana Cambia", "Eva Sale", "Sol Libre")
    await factory.portfolio("Origen", team=team, contacts=[changed, released])
    other = await factory.portfolio("Otra", team=team)
    destination = await factory.portfolio("Destino", team=team)

    async def meddle() -> None:
        async with factory.sessionmaker() as session:
            await session.execute(
                update(PortfolioMember).where(PortfolioMember.contact_id == changed.id).values(portfolio_id=other.id)
            )
            await session.execute(delete(PortfolioMember).where(PortfolioMember.contact_id == released.id))
            await session.commit()

    def the_lock(statement: str) -> bool:
        return "FOR UPDATE" in statement and "portfolio_members" in statement

    with _meddling(server, the_lock, meddle) as locks:
        data = await client.data(
            ASSIGN_REPORTED,
            {"p": gid(destination), "ids": [gid(c) for c in (changed, released, free)], "policy": "MOVE"},
            factory.token(admin),
        )
    # Locked once: what changed before the lock needed no second run of the call.
    assert len(locks) == 1
    payload = data["assignContactsToPortfolio"]
    assert (payload["userErrors"], payload["assignedCount"], payload["movedCount"]) == ([], 2, 1)
    assert _reported(payload) == {
        "Ana Cambia": ("MOVED", "Otra"),
        "Eva Sale": ("ASSIGNED", None),
        "Sol Libre": ("ASSIGNED", None),
    }
    assert await factory.memberships() == dict.fromkeys((changed.id, released.id, free.id), destination.id)
    async with factory.sessionmaker() as session:
        # The portfolio it really left records the move; Origen, which it no longer held, does not.
        moved_out = await session.scalars(
            select(AuditEvent.resource_name).where(
                AuditEvent.resource_type == "PORTFOLIO", AuditEvent.action == "MOVED"
            )
        )
        assert list(moved_out) == ["Otra"]


async def test_a_free_contact_taken_meanwhile_runs_the_call_again(
    client: GraphQLClient, factory: Factory, server: Server
) -> None:
    # Free contacts cannot be locked: another call assigns one between the selection and the
    # INSERT. The INSERT fails on its key, and the whole call runs again on what that one
    # committed: the contact is then kept where it went, and nothing of the first run remains.
    team = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN)
    taken, free = await factory.contacts(team, "Sol Tomada", "Eva Libre")
    other = await factory.portfolio("Otra", team=team)
    destination = await factory.portfolio("Destino", team=team)

    async def meddle() -> None:
        async with factory.sessionmaker() as session:
            await session.execute(insert(PortfolioMember).values(contact_id=taken.id, portfolio_id=other.id))
            await session.commit()

    def the_insert(statement: str) -> bool:
        # The call's INSERT … SELECT, not the other call's INSERT … VALUES, on the same engine.
        return statement.lstrip().startswith("INSERT INTO portfolio_members") and "SELECT" in statement

    with _meddling(server, the_insert, meddle) as inserts:
        data = await client.data(
            ASSIGN_REPORTED,
            {"p": gid(destination), "ids": [gid(taken), gid(free)], "policy": "KEEP"},
            factory.token(admin),
        )
    # Run twice: the first run's INSERT failed on the key the other call took.
    assert len(inserts) == 2
    payload = data["assignContactsToPortfolio"]
    assert (payload["userErrors"], payload["assignedCount"], payload["keptCount"]) == ([], 1, 1)
    assert _reported(payload) == {"Sol Tomada": ("KEPT", "Otra"), "Eva Libre": ("ASSIGNED", None)}
    assert await factory.memberships() == {taken.id: other.id, free.id: destination.id}
    # The rolled-back run left no entry: one ASSIGNED, Eva's.
    assert await _entries(factory) == Counter({"ASSIGNED": 1})


async def test_a_portfolio_deleted_while_others_assign_to_it_leaves_no_membership_behind(
    client: GraphQLClient, factory: Factory
) -> None:
    token, portfolios, contacts = await _world(factory)
    target = portfolios[0]
    calls = [client.data(ASSIGN, {"p": target, "ids": contacts, "policy": "MOVE"}, token) for _ in range(3)]
    calls.insert(1, client.data(DELETE, {"id": target}, token))
    payloads = [next(iter(answer.values())) for answer in await asyncio.gather(*calls)]
    # Every request is answered: an assignment that came after the delete finds no portfolio.
    assert payloads[1]["userErrors"] == []
    assert {e["code"] for p in payloads for e in p["userErrors"]} <= {"NOT_FOUND"}
    async with factory.sessionmaker() as session:
        left = set((await session.scalars(select(Portfolio.id))).all())
    assert set((await factory.memberships()).values()) <= left


class TestTheKeyTheTriggersKeep:
    """Migration 0008: what the foreign key to portfolios refused, its triggers refuse."""

    async def test_no_membership_of_a_portfolio_that_does_not_exist(self, factory: Factory) -> None:
        team = await factory.team("Cobranzas")
        people = await factory.contacts(team, "Ana Uno", "Eva Dos", "Sol Tres")
        portfolio = await factory.portfolio("Cartera", team=team, contacts=people[:1])
        missing = portfolio.id + 1000
        writes = [
            insert(PortfolioMember).values(contact_id=people[1].id, portfolio_id=missing),
            # One statement of several rows, as the service writes: one bad row fails all of them.
            insert(PortfolioMember).values(
                [
                    {"contact_id": people[1].id, "portfolio_id": portfolio.id},
                    {"contact_id": people[2].id, "portfolio_id": missing},
                ]
            ),
            update(PortfolioMember).values(portfolio_id=missing),
        ]
        for write in writes:
            async with factory.sessionmaker() as session:
                with pytest.raises(IntegrityError):
                    await session.execute(write)
        assert await factory.memberships() == {people[0].id: portfolio.id}

    async def test_no_portfolio_deleted_while_it_has_members(self, factory: Factory) -> None:
        team = await factory.team("Cobranzas")
        people = await factory.contacts(team, "Ana Uno")
        portfolio = await factory.portfolio("Cartera", team=team, contacts=people)
        async with factory.sessionmaker() as session:
            with pytest.raises(IntegrityError):
                await session.execute(delete(Portfolio).where(Portfolio.id == portfolio.id))
        async with factory.sessionmaker() as session:
            assert await session.get(Portfolio, portfolio.id) is not None
        assert await factory.memberships() == {people[0].id: portfolio.id}
