"""Portfolio first (P7), capacity, and routing within a team, through receiveMessage (and the router)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from db.models import (
    ChannelKind,
    Conversation,
    Portfolio,
    PresenceStatus,
    Role,
    Team,
    User,
)
from services import routing
from services.routing_trace import Trace
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid
from tests.intake import (
    contact_with,
    conversations,
    loads,
    message,
    names,
    online,
    phone,
    pk,
    receive,
    resolve_directly,
    set_presence,
    settings,
)


@dataclass
class World:
    factory: Factory
    client: GraphQLClient
    ventas: Team
    cobranzas: Team
    ana: User
    beto: User
    carla: User  # owns a portfolio
    eva: User  # of Cobranzas
    fede: User  # of Cobranzas and Ventas
    token: str
    sent: int = 0

    async def send(self, value: str | None = None) -> dict[str, Any]:
        self.sent += 1
        return await receive(self.client, self.token, message(value or phone(self.sent)))


@pytest.fixture
async def world(client: GraphQLClient, factory: Factory) -> World:
    ventas = await factory.team("Ventas")
    cobranzas = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Integración")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[ventas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[ventas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    eva = await factory.user(Role.AGENT, name="Eva", teams=[cobranzas])
    fede = await factory.user(Role.AGENT, name="Fede", teams=[cobranzas, ventas])
    await online(factory, ana, beto, eva, fede)
    return World(factory, client, ventas, cobranzas, ana, beto, carla, eva, fede, factory.token(admin))


async def in_portfolio(
    w: World, n: int, *, agent: User | None = None, team: Team | None = None, active: bool = True
) -> tuple[str, Portfolio]:
    """A Ventas contact with a WhatsApp number in a portfolio of `agent` and/or `team`."""
    (contact,) = await w.factory.contacts(w.ventas, f"Cliente N{n}")
    number = f"+549115555{n:04d}"
    await contact_with(w.factory, contact, ChannelKind.WHATSAPP, number)
    portfolio = await w.factory.portfolio(f"Cartera {n}", agent=agent, team=team, contacts=[contact])
    if not active:
        async with w.factory.sessionmaker() as session:
            await session.execute(update(Portfolio).where(Portfolio.id == portfolio.id).values(active=False))
            await session.commit()
    return number, portfolio


async def route_within(factory: Factory, conversation_id: int, team: Team) -> Trace:
    """routing.route(within_team=…) on a conversation, in a transaction of its own: the decision a
    transfer to a team takes (transferConversation, through the endpoint in test_conversation_moves)."""
    async with factory.writing() as session:
        row = await session.get(Conversation, conversation_id)
        assert row is not None
        trace = await routing.route(session, row, within_team=team.id)
        await session.commit()
    return trace


def skipped(routing: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["userName"], s["reason"]) for s in routing["skipped"]]


class TestPortfolioFirst:
    async def test_an_agent_owned_portfolio_goes_straight_to_its_agent_offline_and_full(self, world: World) -> None:
        await settings(world.client, world.token, capacity=1)
        number, portfolio = await in_portfolio(world, 1, agent=world.carla)
        first = await world.send(number)
        assert first["conversation"]["agent"] == {"name": "Carla"}
        routing_ = first["routing"]
        assert routing_["rule"] == "PORTFOLIO_AGENT"
        assert routing_["method"] == "ROUND_ROBIN"
        assert names(routing_["candidates"]) == ["Carla"]
        assert routing_["skipped"] == []
        # Carla is now at capacity and offline: her client's next conversation still goes to her.
        other, _ = await in_portfolio(world, 2, agent=world.carla)
        assert (await world.send(other))["conversation"]["agent"] == {"name": "Carla"}
        rows = await conversations(world.factory)
        assert [r.portfolio_id for r in rows] == [portfolio.id, rows[1].portfolio_id]
        assert await loads(world.factory) == {world.carla.id: 2}

    async def test_its_team_is_the_conversations_team(self, world: World) -> None:
        number, _ = await in_portfolio(world, 3, agent=world.carla, team=world.cobranzas)
        routed = await world.send(number)
        assert routed["conversation"]["team"] == {"name": "Cobranzas"}

    async def test_a_team_owned_portfolio_routes_within_its_team_by_the_method(self, world: World) -> None:
        numbers = [(await in_portfolio(world, 10 + i, team=world.cobranzas))[0] for i in range(3)]
        got = [await world.send(n) for n in numbers]
        assert [g["conversation"]["agent"]["name"] for g in got] == ["Eva", "Fede", "Eva"]
        routing_ = got[0]["routing"]
        assert routing_["rule"] == "PORTFOLIO_TEAM"
        assert routing_["team"] == {"name": "Cobranzas"}
        # Filed in the portfolio's team, whose agents see it (and its contact through it).
        assert got[0]["conversation"]["team"] == {"name": "Cobranzas"}
        assert names(routing_["candidates"]) == ["Eva", "Fede"]

    async def test_within_the_team_presence_counts_as_the_method_says(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.AWAY, world.eva)
        number, _ = await in_portfolio(world, 20, team=world.cobranzas)
        routed = await world.send(number)
        assert routed["conversation"]["agent"] == {"name": "Fede"}
        assert skipped(routed["routing"]) == [("Eva", "AWAY")]

    async def test_an_inactive_owner_hands_it_to_the_portfolios_team(self, world: World) -> None:
        number, _ = await in_portfolio(world, 30, agent=world.carla, team=world.cobranzas)
        async with world.factory.sessionmaker() as session:
            await session.execute(update(User).where(User.id == world.carla.id).values(is_active=False))
            await session.commit()
        routing_ = (await world.send(number))["routing"]
        assert routing_["rule"] == "PORTFOLIO_TEAM"
        assert skipped(routing_)[0] == ("Carla", "INACTIVE")
        assert routing_["fallback"] == (
            "Carla, who owns the portfolio, is not an active agent: routed within the portfolio's team."
        )
        assert routing_["chosen"] == {"name": "Eva"}

    async def test_an_inactive_owner_with_no_team_leaves_it_to_the_method(self, world: World) -> None:
        number, portfolio = await in_portfolio(world, 31, agent=world.carla)
        async with world.factory.sessionmaker() as session:
            await session.execute(update(User).where(User.id == world.carla.id).values(role=Role.SUPERVISOR.value))
            await session.commit()
        routing_ = (await world.send(number))["routing"]
        assert routing_["rule"] == "ROUND_ROBIN"
        assert routing_["fallback"] == "Carla, who owns the portfolio, is not an active agent: routed by the method."
        assert routing_["chosen"] == {"name": "Ana"}
        (row,) = await conversations(world.factory)
        assert row.portfolio_id == portfolio.id

    async def test_an_inactive_portfolio_routes_nothing(self, world: World) -> None:
        number, _ = await in_portfolio(world, 40, agent=world.carla, active=False)
        routed = await world.send(number)
        assert routed["routing"]["rule"] == "ROUND_ROBIN"
        assert routed["conversation"]["agent"] == {"name": "Ana"}
        (row,) = await conversations(world.factory)
        assert row.portfolio_id is None


class TestCapacity:
    async def test_agents_at_capacity_are_passed_over_and_then_it_waits(self, world: World) -> None:
        await settings(world.client, world.token, capacity=1)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.fede)
        got = [await world.send() for _ in range(3)]
        assert [g["conversation"]["agent"] for g in got] == [{"name": "Ana"}, {"name": "Beto"}, None]
        assert got[2]["conversation"]["status"] == "UNASSIGNED"
        assert skipped(got[2]["routing"]) == [
            ("Carla", "OFFLINE"),
            ("Fede", "OFFLINE"),
            ("Ana", "AT_CAPACITY"),
            ("Beto", "AT_CAPACITY"),
        ]
        assert await loads(world.factory) == {world.ana.id: 1, world.beto.id: 1}

    async def test_a_resolved_conversation_frees_its_place(self, world: World) -> None:
        await settings(world.client, world.token, capacity=1)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.fede)
        first = await world.send()
        await world.send()
        await resolve_directly(world.factory, pk(first["conversation"]["id"]))
        assert (await world.send())["conversation"]["agent"] == {"name": "Ana"}

    async def test_load_balanced_honours_it_too(self, world: World) -> None:
        await settings(world.client, world.token, method="LOAD_BALANCED", capacity=1)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.beto, world.fede)
        assert (await world.send())["conversation"]["agent"] == {"name": "Ana"}
        routed = await world.send()
        assert routed["conversation"]["agent"] is None
        assert ("Ana", "AT_CAPACITY") in skipped(routed["routing"])


class TestWithinTeam:
    """`routing.route(within_team=…)`: the rules of a transfer to a team, case by case."""

    async def test_a_conversation_is_routed_among_that_teams_agents_by_the_method(
        self, world: World, factory: Factory
    ) -> None:
        routed = await world.send()
        assert routed["conversation"]["agent"] == {"name": "Ana"}
        trace = await route_within(factory, pk(routed["conversation"]["id"]), world.cobranzas)
        assert (trace.rule, trace.team_id, trace.chosen_name) == ("ROUND_ROBIN", world.cobranzas.id, "Eva")
        assert trace.candidate_ids == [world.eva.id, world.fede.id]
        (stored,) = await conversations(factory)
        assert (stored.status, stored.agent_id, stored.team_id) == ("OPEN", world.eva.id, world.cobranzas.id)
        assert stored.routing == trace.as_json()
        # The load moved with it.
        assert await loads(factory) == {world.ana.id: 0, world.eva.id: 1}

    async def test_the_portfolio_does_not_decide_within_a_team(self, world: World, factory: Factory) -> None:
        number, portfolio = await in_portfolio(world, 50, agent=world.carla)
        routed = await world.send(number)
        trace = await route_within(factory, pk(routed["conversation"]["id"]), world.cobranzas)
        assert (trace.rule, trace.chosen_name, trace.portfolio_id) == ("ROUND_ROBIN", "Eva", None)
        # Still its portfolio's conversation, for the reports (P9).
        (stored,) = await conversations(factory)
        assert (stored.agent_id, stored.portfolio_id) == (world.eva.id, portfolio.id)

    async def test_nobody_there_queues_it_in_that_team(self, world: World, factory: Factory) -> None:
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.eva, world.fede)
        routed = await world.send()
        trace = await route_within(factory, pk(routed["conversation"]["id"]), world.cobranzas)
        assert trace.chosen_id is None
        (stored,) = await conversations(factory)
        assert (stored.status, stored.agent_id, stored.team_id) == ("UNASSIGNED", None, world.cobranzas.id)
        assert await loads(factory) == {world.ana.id: 0}

    async def test_by_channel_within_a_team_takes_that_teams_agents_of_the_kind(
        self, world: World, factory: Factory
    ) -> None:
        agents = [{"kind": "WHATSAPP", "agentIds": [gid(world.ana), gid(world.fede)]}]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        routed = await world.send()
        assert routed["conversation"]["agent"] == {"name": "Ana"}
        trace = await route_within(factory, pk(routed["conversation"]["id"]), world.cobranzas)
        # Of the two WhatsApp agents only Fede is of Cobranzas.
        assert (trace.rule, trace.candidate_ids, trace.chosen_name) == ("BY_CHANNEL", [world.fede.id], "Fede")

    async def test_by_channel_within_a_team_with_none_of_the_kind_its_agents_take_turns(
        self, world: World, factory: Factory
    ) -> None:
        agents = [{"kind": "WHATSAPP", "agentIds": [gid(world.ana)]}]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        routed = await world.send()
        trace = await route_within(factory, pk(routed["conversation"]["id"]), world.cobranzas)
        assert trace.fallback == "None of the WHATSAPP agents is in this team: its agents took turns."
        assert (trace.rule, trace.chosen_name, trace.team_id) == ("BY_CHANNEL", "Eva", world.cobranzas.id)
