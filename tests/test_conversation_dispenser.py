"""The dispenser (A3): `takeNextConversation` gives an agent the oldest conversation waiting in its
teams' queues, atomically (two agents never get the same one), within the routing capacity.

On PostgreSQL the concurrent calls really overlap and the hand-out skips rows another agent holds
(FOR UPDATE SKIP LOCKED); on SQLite the write lock serialises them, and the same assertions hold.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from db.models import AgentLoad, AuditEvent, Conversation, ConversationStatus, Role, User
from schema.node import from_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, problems

TAKE = """
mutation {
  takeNextConversation {
    conversation { id status agent { name } team { name } contact { fullName } routing { rule chosenName } }
    userErrors { field code message }
  }
}
"""
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _take(client: GraphQLClient, factory: Factory, user: User) -> dict[str, Any]:
    data = await client.data(TAKE, token=factory.token(user))
    payload: dict[str, Any] = data["takeNextConversation"]
    return payload


async def test_an_agent_takes_the_oldest_waiting_in_any_of_its_teams(client: GraphQLClient, factory: Factory) -> None:
    cobranzas, ventas, otros = (
        await factory.team("Cobranzas"),
        await factory.team("Ventas"),
        await factory.team("Otros"),
    )
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas, ventas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    (juan,) = await factory.contacts(cobranzas, "Juan Pérez")
    (pedro,) = await factory.contacts(ventas, "Pedro Núñez")
    (lucia,) = await factory.contacts(otros, "Lucía Sosa")
    later = await factory.conversation(juan, created_at=T0 + timedelta(minutes=5))
    oldest = await factory.conversation(pedro, created_at=T0)
    # Older still, but not hers: another team's queue, and one somebody already has.
    await factory.conversation(lucia, created_at=T0 - timedelta(hours=1))
    await factory.conversation(juan, status=ConversationStatus.OPEN, agent=beto, created_at=T0 - timedelta(hours=2))

    first = await _take(client, factory, ana)
    assert first["userErrors"] == []
    assert first["conversation"] == {
        "id": gid(oldest),
        "status": "OPEN",
        "agent": {"name": "Ana"},
        "team": {"name": "Ventas"},
        "contact": {"fullName": "Pedro Núñez"},
        "routing": {"rule": "MANUAL", "chosenName": "Ana"},
    }
    assert (await _take(client, factory, ana))["conversation"]["id"] == gid(later)
    assert await factory.open_load(ana) == 2
    event = await last_audit(factory)
    assert (event.action, event.actor_id, event.resource_id) == ("ASSIGNED", ana.id, later.id)
    assert event.changes["status"] == {"before": "UNASSIGNED", "after": "OPEN"}
    # Nothing left for her: null, and nothing written.
    before = await factory.conversation_state()
    assert await _take(client, factory, ana) == {"conversation": None, "userErrors": []}
    assert await factory.conversation_state() == before


async def test_only_agents_take_from_the_queue(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[team], teams=[team])
    (juan,) = await factory.contacts(team, "Juan Pérez")
    await factory.conversation(juan)
    before = await factory.conversation_state()
    payload = await _take(client, factory, sofia)
    assert problems(payload) == [("FORBIDDEN", None)]
    assert payload["conversation"] is None
    assert await factory.conversation_state() == before


async def test_at_capacity_an_agent_takes_none(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    people = await factory.contacts(team, "Juan Pérez", "María Gómez", "José Núñez")
    await factory.conversation(people[0], status=ConversationStatus.OPEN, agent=ana)
    await factory.conversations(people[1:])
    await factory.routing_capacity(2)
    assert (await _take(client, factory, ana))["conversation"]["agent"] == {"name": "Ana"}
    before = await factory.conversation_state()
    payload = await _take(client, factory, ana)
    assert problems(payload) == [("LIMIT_EXCEEDED", None)]
    assert "capacity 2" in payload["userErrors"][0]["message"]
    assert await factory.conversation_state() == before
    # Resolving one frees a place.
    mine = await client.data("{ conversations(filter: {statuses: [OPEN]}) { nodes { id } } }", token=factory.token(ana))
    resolved = await client.data(
        "mutation($id: ID!) { resolveConversation(id: $id) { userErrors { code } } }",
        {"id": mine["conversations"]["nodes"][0]["id"]},
        factory.token(ana),
    )
    assert resolved["resolveConversation"]["userErrors"] == []
    assert (await _take(client, factory, ana))["userErrors"] == []
    assert await factory.open_load(ana) == 2


AGENTS = 8
WAITING = 40


async def _drain(client: GraphQLClient, token: str) -> list[str]:
    """Take until nothing is left; every conversation this agent received, in order."""
    received: list[str] = []
    while True:
        data = await client.data(TAKE, token=token)
        payload = data["takeNextConversation"]
        assert payload["userErrors"] == [], payload
        if payload["conversation"] is None:
            return received
        received.append(payload["conversation"]["id"])


async def test_agents_taking_at_once_never_get_the_same_conversation(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    agents = [await factory.user(Role.AGENT, teams=[team]) for _ in range(AGENTS)]
    people = await factory.contacts(team, *(f"Cliente N{i:03d}" for i in range(WAITING)))
    waiting = [await factory.conversation(p, created_at=T0 + timedelta(seconds=i)) for i, p in enumerate(people)]

    handed = await asyncio.gather(*(_drain(client, factory.token(a)) for a in agents))

    everything = Counter(c for received in handed for c in received)
    assert everything == Counter({gid(c): 1 for c in waiting})
    async with factory.sessionmaker() as session:
        owners = dict((await session.execute(select(Conversation.id, Conversation.agent_id))).all())
        statuses = dict(
            (await session.execute(select(Conversation.status, func.count()).group_by(Conversation.status))).all()
        )
        taken = Counter(
            (await session.scalars(select(AuditEvent.resource_id).where(AuditEvent.action == "ASSIGNED"))).all()
        )
        loads = dict((await session.execute(select(AgentLoad.user_id, AgentLoad.open_conversations))).all())
    assert statuses == {"OPEN": WAITING}
    # The database agrees: one take each, by the agent that received it, counted in its load.
    assert taken == Counter({c.id: 1 for c in waiting})
    for agent, received in zip(agents, handed, strict=True):
        assert {owners[from_global_id(c)[1]] for c in received} <= {agent.id}
        assert loads.get(agent.id, 0) == len(received)


async def test_one_agent_taking_many_at_once_stops_at_its_capacity(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    people = await factory.contacts(team, *(f"Cliente N{i:03d}" for i in range(6)))
    await factory.conversations(people)
    await factory.routing_capacity(2)
    token = factory.token(ana)
    answers = await asyncio.gather(*(client.data(TAKE, token=token) for _ in range(6)))
    outcomes = Counter(
        "taken" if a["takeNextConversation"]["conversation"] else a["takeNextConversation"]["userErrors"][0]["code"]
        for a in answers
    )
    assert outcomes == Counter({"taken": 2, "LIMIT_EXCEEDED": 4})
    assert await factory.open_load(ana) == 2
