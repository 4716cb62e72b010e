"""The five methods (A2) through receiveMessage: who gets each new conversation, and the trace of why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from db.base import utcnow
from db.models import AgentLoad, ChannelKind, Contact, Gestion, PresenceStatus, Role, Team, TeamMember, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid
from tests.intake import (
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
    snapshot,
)


@dataclass
class World:
    factory: Factory
    client: GraphQLClient
    ventas: Team
    cobranzas: Team
    admin: User
    ana: User
    beto: User
    carla: User
    dario: User
    token: str
    sent: int = 0

    async def send(self, value: str | None = None, **extra: Any) -> dict[str, Any]:
        """A message from `value` (a new sender each time when not given)."""
        self.sent += 1
        return await receive(self.client, self.token, message(value or phone(self.sent), **extra))

    async def agents_of(self, count: int) -> list[str | None]:
        """Who got each of `count` conversations from new senders."""
        got = []
        for _ in range(count):
            routed = await self.send()
            agent = routed["conversation"]["agent"]
            got.append(agent["name"] if agent else None)
        return got


@pytest.fixture
async def world(client: GraphQLClient, factory: Factory) -> World:
    # Ventas is the oldest top-level team: where intake files unknown senders (no intake team set).
    ventas = await factory.team("Ventas")
    cobranzas = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Integración")
    ana, beto, carla, dario = [
        await factory.user(Role.AGENT, name=n, teams=[ventas]) for n in ("Ana", "Beto", "Carla", "Darío")
    ]
    await online(factory, ana, beto, carla, dario)
    return World(factory, client, ventas, cobranzas, admin, ana, beto, carla, dario, factory.token(admin))


def skipped(routing: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["userName"], s["reason"]) for s in routing["skipped"]]


class TestRoundRobin:
    async def test_strict_turns_in_a_stable_order_wrapping_round(self, world: World) -> None:
        assert await world.agents_of(6) == ["Ana", "Beto", "Carla", "Darío", "Ana", "Beto"]

    async def test_the_trace_says_who_was_considered_in_turn_order_and_who_was_skipped(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.AWAY, world.beto)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.carla)
        assert await world.agents_of(1) == ["Ana"]
        routing = (await world.send())["routing"]
        assert routing["rule"] == "ROUND_ROBIN"
        assert routing["method"] == "ROUND_ROBIN"
        assert routing["fallback"] is None
        assert names(routing["candidates"]) == ["Beto", "Carla", "Darío", "Ana"]
        assert routing["candidateCount"] == 4
        assert skipped(routing) == [("Beto", "AWAY"), ("Carla", "OFFLINE")]
        assert [s["user"]["name"] for s in routing["skipped"]] == ["Beto", "Carla"]
        assert routing["chosen"] == {"name": "Darío"}
        assert routing["chosenName"] == "Darío"
        assert routing["team"] == {"name": "Ventas"}

    async def test_only_active_agents_of_the_contacts_team_take_turns(self, world: World) -> None:
        await world.factory.user(Role.AGENT, name="Elena", teams=[world.ventas], active=False)
        await world.factory.user(Role.SUPERVISOR, name="Sofía", teams=[world.ventas])
        await online(world.factory, await world.factory.user(Role.AGENT, name="Fabián", teams=[world.cobranzas]))
        routing = (await world.send())["routing"]
        assert names(routing["candidates"]) == ["Ana", "Beto", "Carla", "Darío"]

    async def test_an_agent_going_away_mid_burst_stops_receiving_and_comes_back_in_turn(self, world: World) -> None:
        assert await world.agents_of(3) == ["Ana", "Beto", "Carla"]
        await set_presence(world.factory, PresenceStatus.AWAY, world.ana)
        assert await world.agents_of(4) == ["Darío", "Beto", "Carla", "Darío"]
        await online(world.factory, world.ana)
        assert await world.agents_of(2) == ["Ana", "Beto"]

    async def test_nobody_online_leaves_it_unassigned_in_the_contacts_teams_queue(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana, world.beto, world.carla)
        await set_presence(world.factory, PresenceStatus.AWAY, world.dario)
        before = await snapshot(world.factory)
        routed = await world.send()
        conversation, routing = routed["conversation"], routed["routing"]
        assert conversation["status"] == "UNASSIGNED"
        assert conversation["agent"] is None
        assert conversation["team"] == {"name": "Ventas"}
        assert routing["chosen"] is None
        assert routing["chosenName"] is None
        assert skipped(routing) == [("Ana", "OFFLINE"), ("Beto", "OFFLINE"), ("Carla", "OFFLINE"), ("Darío", "AWAY")]
        after = await snapshot(world.factory)
        # Nobody's load moved and nobody's turn was taken.
        assert after.loads == before.loads
        assert [last for _, last in after.turns] == [None]
        (row,) = await conversations(world.factory)
        assert (row.status, row.agent_id, row.team_id, row.assigned_at) == ("UNASSIGNED", None, world.ventas.id, None)

    async def test_the_turn_outlives_an_unassigned_one(self, world: World) -> None:
        assert await world.agents_of(2) == ["Ana", "Beto"]
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana, world.beto, world.carla, world.dario)
        assert await world.agents_of(1) == [None]
        await online(world.factory, world.ana, world.beto, world.carla, world.dario)
        assert await world.agents_of(1) == ["Carla"]

    async def test_an_empty_team_queues_it(self, world: World) -> None:
        await settings(world.client, world.token, intakeTeamId=gid(world.cobranzas))
        routed = await world.send()
        assert routed["conversation"]["status"] == "UNASSIGNED"
        assert routed["conversation"]["team"] == {"name": "Cobranzas"}
        assert routed["routing"]["candidateCount"] == 0
        assert routed["routing"]["skipped"] == []


class TestLoadBalanced:
    async def test_the_fewest_open_conversations_then_who_waited_longest(self, world: World) -> None:
        await settings(world.client, world.token, method="LOAD_BALANCED")
        now = utcnow()
        async with world.factory.sessionmaker() as session:
            session.add_all(
                [
                    AgentLoad(user_id=world.ana.id, open_conversations=2, last_assigned_at=now),
                    AgentLoad(
                        user_id=world.beto.id, open_conversations=0, last_assigned_at=now - timedelta(minutes=10)
                    ),
                    AgentLoad(
                        user_id=world.carla.id, open_conversations=0, last_assigned_at=now - timedelta(minutes=20)
                    ),
                ]
            )
            await session.commit()
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.dario)
        first = await world.send()
        assert first["conversation"]["agent"] == {"name": "Carla"}
        routing = first["routing"]
        assert routing["rule"] == "LOAD_BALANCED"
        assert names(routing["candidates"]) == ["Ana", "Beto", "Carla", "Darío"]
        assert skipped(routing) == [("Darío", "OFFLINE")]
        # Beto 0; then Beto and Carla 1 each, Carla served first: Carla; then Ana, Beto, Carla tie at 2.
        assert await world.agents_of(4) == ["Beto", "Carla", "Beto", "Ana"]
        assert await loads(world.factory) == {world.ana.id: 3, world.beto.id: 2, world.carla.id: 2}

    async def test_never_assigned_waits_longest(self, world: World) -> None:
        await settings(world.client, world.token, method="LOAD_BALANCED")
        async with world.factory.sessionmaker() as session:
            session.add(AgentLoad(user_id=world.ana.id, open_conversations=0, last_assigned_at=utcnow()))
            await session.commit()
        assert await world.agents_of(3) == ["Beto", "Carla", "Darío"]

    async def test_away_agents_get_none(self, world: World) -> None:
        await settings(world.client, world.token, method="LOAD_BALANCED")
        await set_presence(world.factory, PresenceStatus.AWAY, world.ana, world.beto, world.carla, world.dario)
        routed = await world.send()
        assert routed["conversation"]["status"] == "UNASSIGNED"
        assert [r for _, r in skipped(routed["routing"])] == ["AWAY"] * 4


class TestLastResponsible:
    async def returning(self, world: World, value: str) -> dict[str, Any]:
        """A contact that wrote before (its conversation then resolved) writes again."""
        await settings(world.client, world.token, reopenWindowMinutes=0)
        first = await world.send(value)
        await resolve_directly(world.factory, pk(first["conversation"]["id"]))
        await settings(world.client, world.token, method="LAST_RESPONSIBLE")
        return first

    async def test_back_to_the_agent_who_handled_it_online_or_not(self, world: World) -> None:
        first = await self.returning(world, phone(500))
        assert first["conversation"]["agent"] == {"name": "Ana"}
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana)
        again = await world.send(phone(500))
        assert again["outcome"] == "OPENED"
        assert again["conversation"]["agent"] == {"name": "Ana"}
        routing = again["routing"]
        assert routing["rule"] == "LAST_RESPONSIBLE"
        assert names(routing["candidates"]) == ["Ana"]
        assert routing["fallback"] is None

    async def test_the_operator_of_its_latest_gestion_counts_too(self, world: World) -> None:
        await self.returning(world, phone(501))
        (row,) = await conversations(world.factory)
        campaign = await world.factory.campaign("Mora", world.ventas, operators=[world.carla])
        async with world.factory.sessionmaker() as session:
            contact = await session.get(Contact, row.contact_id)
        assert contact is not None
        (gestion,) = await world.factory.gestiones(campaign, [contact], operator=world.carla)
        async with world.factory.sessionmaker() as session:
            later = utcnow() + timedelta(seconds=5)
            await session.execute(update(Gestion).where(Gestion.id == gestion.id).values(updated_at=later))
            await session.commit()
        assert (await world.send(phone(501)))["conversation"]["agent"] == {"name": "Carla"}

    async def test_nobody_before_round_robin_decides(self, world: World) -> None:
        await settings(world.client, world.token, method="LAST_RESPONSIBLE")
        routed = await world.send()
        routing = routed["routing"]
        assert routed["conversation"]["agent"] == {"name": "Ana"}
        assert routing["rule"] == "ROUND_ROBIN"
        assert routing["method"] == "LAST_RESPONSIBLE"
        assert routing["fallback"] == "Nobody handled this contact before: ROUND_ROBIN decided."

    async def test_a_deactivated_one_round_robin_decides(self, world: World) -> None:
        await self.returning(world, phone(502))
        async with world.factory.sessionmaker() as session:
            await session.execute(update(User).where(User.id == world.ana.id).values(is_active=False))
            await session.commit()
        routing = (await world.send(phone(502)))["routing"]
        assert routing["rule"] == "ROUND_ROBIN"
        assert routing["fallback"] == "Ana, who handled it last, is not an active agent: ROUND_ROBIN decided."
        assert skipped(routing)[0] == ("Ana", "INACTIVE")
        assert routing["chosen"] == {"name": "Beto"}

    async def test_one_who_can_no_longer_see_the_contact_round_robin_decides(self, world: World) -> None:
        await self.returning(world, phone(503))
        async with world.factory.sessionmaker() as session:
            await session.execute(delete(TeamMember).where(TeamMember.user_id == world.ana.id))
            await session.commit()
        routing = (await world.send(phone(503)))["routing"]
        assert skipped(routing)[0] == ("Ana", "CANNOT_SEE")
        assert routing["fallback"] == "Ana, who handled it last, can no longer see the contact: ROUND_ROBIN decided."

    async def test_one_at_capacity_round_robin_decides(self, world: World) -> None:
        await self.returning(world, phone(504))
        await settings(world.client, world.token, capacity=1)
        async with world.factory.sessionmaker() as session:
            await session.execute(
                update(AgentLoad).where(AgentLoad.user_id == world.ana.id).values(open_conversations=1)
            )
            await session.commit()
        routing = (await world.send(phone(504)))["routing"]
        assert skipped(routing)[0] == ("Ana", "AT_CAPACITY")
        assert routing["chosen"] == {"name": "Beto"}


class TestDefaultGroup:
    async def test_turns_among_the_chosen_team_online_or_not(self, world: World) -> None:
        eva = await world.factory.user(Role.AGENT, name="Eva", teams=[world.cobranzas])
        fede = await world.factory.user(Role.AGENT, name="Fede", teams=[world.cobranzas])
        await online(world.factory, fede)
        await settings(
            world.client,
            world.token,
            method="DEFAULT_GROUP",
            defaultTeamId=gid(world.cobranzas),
            intakeTeamId=gid(world.cobranzas),
        )
        assert await world.agents_of(3) == ["Eva", "Fede", "Eva"]
        routing = (await world.send())["routing"]
        assert routing["rule"] == "DEFAULT_GROUP"
        assert routing["team"] == {"name": "Cobranzas"}
        assert names(routing["candidates"]) == ["Fede", "Eva"]
        (first, *_) = await conversations(world.factory)
        assert first.team_id == world.cobranzas.id
        assert eva.id != fede.id

    async def test_a_contact_of_another_team_is_filed_in_the_default_group(self, world: World) -> None:
        await online(world.factory, await world.factory.user(Role.AGENT, name="Eva", teams=[world.cobranzas]))
        await settings(world.client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.cobranzas))
        routed = await world.send()
        # A Ventas contact: the conversation is Cobranzas', whose agents see their team's conversations.
        assert routed["conversation"]["agent"] == {"name": "Eva"}
        assert routed["conversation"]["team"] == {"name": "Cobranzas"}
        (row,) = await conversations(world.factory)
        assert row.team_id == world.cobranzas.id

    async def test_nobody_in_the_group_queues_it_there(self, world: World) -> None:
        await settings(world.client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.cobranzas))
        routed = await world.send()
        assert routed["conversation"]["status"] == "UNASSIGNED"
        assert routed["conversation"]["team"] == {"name": "Cobranzas"}


class TestByChannel:
    async def test_turns_among_each_kinds_agents_online_or_not(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.dario)
        agents = [
            {"kind": "WHATSAPP", "agentIds": [gid(world.beto), gid(world.dario)]},
            {"kind": "EMAIL", "agentIds": [gid(world.ana)]},
        ]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        assert await world.agents_of(3) == ["Beto", "Darío", "Beto"]
        routed = await world.send("ana.cliente@example.com", kind=ChannelKind.EMAIL)
        assert routed["conversation"]["agent"] == {"name": "Ana"}
        routing = routed["routing"]
        assert routing["rule"] == "BY_CHANNEL"
        assert routing["team"] is None
        assert names(routing["candidates"]) == ["Ana"]

    async def test_a_deactivated_agent_is_skipped_and_named(self, world: World) -> None:
        agents = [{"kind": "WHATSAPP", "agentIds": [gid(world.beto), gid(world.dario)]}]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        async with world.factory.sessionmaker() as session:
            await session.execute(update(User).where(User.id == world.beto.id).values(is_active=False))
            await session.commit()
        routing = (await world.send())["routing"]
        assert skipped(routing) == [("Beto", "INACTIVE")]
        assert routing["chosen"] == {"name": "Darío"}

    async def test_an_agent_who_cannot_see_the_contact_is_passed_over(self, world: World) -> None:
        eva = await world.factory.user(Role.AGENT, name="Eva", teams=[world.cobranzas])
        agents = [{"kind": "WHATSAPP", "agentIds": [gid(eva), gid(world.dario)]}]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        assert await world.agents_of(1) == ["Darío"]
        routed = await world.send()
        # A Ventas contact: the conversation stays Ventas', where Eva sees nothing of it.
        assert skipped(routed["routing"]) == [("Eva", "CANNOT_SEE")]
        assert routed["conversation"]["agent"] == {"name": "Darío"}
        assert routed["conversation"]["team"] == {"name": "Ventas"}

    async def test_a_kind_with_no_agents_round_robin_decides(self, world: World) -> None:
        agents = [{"kind": "EMAIL", "agentIds": [gid(world.ana)]}]
        await settings(world.client, world.token, method="BY_CHANNEL", channelAgents=agents)
        routing = (await world.send())["routing"]
        assert routing["rule"] == "ROUND_ROBIN"
        assert routing["method"] == "BY_CHANNEL"
        assert routing["fallback"] == "No agents are chosen for WHATSAPP: ROUND_ROBIN decided."
        assert routing["chosen"] == {"name": "Ana"}
