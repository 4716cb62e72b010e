"""Intake and routing under concurrency (A5): many messages at once, every conversation once, turns strict.

On PostgreSQL the calls really overlap (the ring's turn row is the lock they take turns at); on
SQLite the write lock serialises them, and the same assertions hold. tests/test_routing_processes.py
does the same across several API processes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Role, User
from tests.conftest import GraphQLClient
from tests.factories import Factory
from tests.intake import contacts_on, conversations, loads, message, messages, online, phone, pk, settings

LEAN = """
mutation($input: ReceiveMessageInput!) {
  receiveMessage(input: $input) { outcome conversation { id } message { id } userErrors { code message } }
}
"""


async def burst(client: GraphQLClient, token: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message at once; each call's payload (none refused)."""

    async def one(body: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = (await client.data(LEAN, {"input": body}, token))["receiveMessage"]
        assert payload["userErrors"] == [], payload
        return payload

    return await asyncio.gather(*(one(b) for b in bodies))


async def created_audit_rows(factory: Factory, resource_type: str) -> Counter[int]:
    async with factory.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent.resource_id).where(
                AuditEvent.resource_type == resource_type, AuditEvent.action == "CREATED"
            )
        )
        return Counter(rows.all())


@pytest.fixture
async def agents(factory: Factory) -> list[User]:
    team = await factory.team("Ventas")
    found = [await factory.user(Role.AGENT, name=f"Agente {i}", teams=[team]) for i in range(4)]
    await online(factory, *found)
    return found


@pytest.fixture
async def token(factory: Factory) -> str:
    return factory.token(await factory.user(Role.ADMIN, name="Integración"))


async def test_first_messages_of_one_new_sender_at_once_make_one_contact_and_one_conversation(
    client: GraphQLClient, factory: Factory, agents: list[User], token: str
) -> None:
    answers = await burst(client, token, [message(phone(1), text=f"mensaje {i}") for i in range(6)])
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 1, "APPENDED": 5}
    assert len({a["conversation"]["id"] for a in answers}) == 1
    assert len(await contacts_on(factory)) == 1
    assert len(await conversations(factory)) == 1
    assert len(await messages(factory)) == 6
    assert sum((await created_audit_rows(factory, "CONTACT")).values()) == 1
    assert sum((await created_audit_rows(factory, "CONVERSATION")).values()) == 1
    assert sum((await loads(factory)).values()) == 1


async def test_one_webhook_delivered_several_times_at_once_is_one_message(
    client: GraphQLClient, factory: Factory, agents: list[User], token: str
) -> None:
    answers = await burst(client, token, [message(phone(1), external_id="wamid.SAME")] * 5)
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 1, "DUPLICATE": 4}
    assert len({(a["conversation"]["id"], a["message"]["id"]) for a in answers}) == 1
    assert len(await messages(factory)) == 1
    assert len(await conversations(factory)) == 1


async def test_a_burst_of_new_conversations_takes_strict_turns_each_assigned_once(
    client: GraphQLClient, factory: Factory, agents: list[User], token: str
) -> None:
    answers = await burst(client, token, [message(phone(n)) for n in range(40)])
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 40}
    rows = await conversations(factory)
    assert sorted(pk(a["conversation"]["id"]) for a in answers) == [r.id for r in rows]
    # Ids are drawn under the ring's lock, so in id order the agents follow the turn order.
    order = [a.id for a in agents]
    assert [r.agent_id for r in rows] == [order[i % 4] for i in range(40)]
    assert await loads(factory) == dict.fromkeys(order, 10)
    assert set((await created_audit_rows(factory, "CONVERSATION")).values()) == {1}


async def test_a_burst_never_takes_an_agent_past_capacity(
    client: GraphQLClient, factory: Factory, agents: list[User], token: str
) -> None:
    await settings(client, token, capacity=2)
    answers = await burst(client, token, [message(phone(n)) for n in range(12)])
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 12}
    rows = await conversations(factory)
    per_agent = Counter(r.agent_id for r in rows if r.status == "OPEN")
    assert per_agent == dict.fromkeys((a.id for a in agents), 2)
    assert sum(1 for r in rows if r.status == "UNASSIGNED") == 4
    # The settings' change, then each new contact and each conversation once.
    async with factory.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1 + 12 + 12
