"""Routing across API processes (A5): real `cartera serve` processes on one PostgreSQL database.

A burst of new conversations sent to three processes at once still takes strict turns (the turn
is a row each routing locks, not a counter in a process), each conversation is assigned once,
and no agent goes past the capacity. Needs what tests/test_live_processes.py needs
(CARTERA_TEST_POSTGRES_URL and a redis-server binary), and skips without them the same way.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from db.models import Role, User
from tests.conftest import GraphQLClient
from tests.factories import Factory
from tests.intake import conversations, loads, message, online, phone, pk, settings
from tests.test_intake_concurrency import LEAN, created_audit_rows
from tests.test_live_processes import MISSING, RedisProcess, ServeProcess, writing_to

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {' and '.join(MISSING)}")
PROCESSES = 3
AGENTS = 5


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    """A Redis of its own, as tests/test_live_processes.py starts one per test."""
    process = RedisProcess()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def processes(database_url: str, redis: RedisProcess) -> Iterator[list[ServeProcess]]:
    started = [ServeProcess(database_url, redis.url) for _ in range(PROCESSES)]
    yield started
    for process in started:
        process.stop()


@pytest.fixture
async def clients(processes: list[ServeProcess]) -> AsyncIterator[list[GraphQLClient]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(writing_to(p)) for p in processes]


@pytest.fixture
async def agents(factory: Factory) -> list[User]:
    team = await factory.team("Ventas")
    found = [await factory.user(Role.AGENT, name=f"Agente {i}", teams=[team]) for i in range(AGENTS)]
    await online(factory, *found)
    return found


async def across(clients: list[GraphQLClient], token: str, count: int) -> list[dict[str, Any]]:
    """`count` messages from new senders, dealt to the processes in turn, all sent at once."""

    async def one(client: GraphQLClient, n: int) -> dict[str, Any]:
        payload: dict[str, Any] = (await client.data(LEAN, {"input": message(phone(n))}, token))["receiveMessage"]
        assert payload["userErrors"] == [], payload
        return payload

    dealt = zip(itertools.cycle(clients), range(count), strict=False)
    return await asyncio.gather(*(one(client, n) for client, n in dealt))


async def test_a_burst_through_several_processes_takes_strict_turns_and_assigns_each_once(
    clients: list[GraphQLClient], factory: Factory, agents: list[User]
) -> None:
    token = factory.token(await factory.user(Role.ADMIN))
    answers = await across(clients, token, 60)
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 60}
    rows = await conversations(factory)
    assert sorted(pk(a["conversation"]["id"]) for a in answers) == [r.id for r in rows]
    assert all(r.status == "OPEN" for r in rows)
    # In id order (drawn under the ring's lock) the agents follow the turn order, whichever
    # process routed each one; so per-agent counts are equal (60 over 5).
    order = [a.id for a in agents]
    assert [r.agent_id for r in rows] == [order[i % AGENTS] for i in range(60)]
    assert await loads(factory) == dict.fromkeys(order, 12)
    assert set((await created_audit_rows(factory, "CONVERSATION")).values()) == {1}


async def test_no_agent_goes_past_capacity_however_many_processes_route(
    clients: list[GraphQLClient], factory: Factory, agents: list[User]
) -> None:
    token = factory.token(await factory.user(Role.ADMIN))
    await settings(clients[0], token, capacity=3)
    answers = await across(clients, token, 30)
    assert Counter(a["outcome"] for a in answers) == {"OPENED": 30}
    rows = await conversations(factory)
    per_agent = Counter(r.agent_id for r in rows if r.status == "OPEN")
    assert per_agent == dict.fromkeys((a.id for a in agents), 3)
    assert sum(1 for r in rows if r.status == "UNASSIGNED") == 30 - 3 * AGENTS
    assert await loads(factory) == dict.fromkeys((a.id for a in agents), 3)
