"""The inbox subscription (RT1-RT4, P8 live), through real WebSockets on the running app.

Each test listens as an agent or supervisor, changes things through HTTP as another user, and
asserts exactly which messages arrive, in which order, and which never do.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from graphql.execution.collect_fields import CollectedFields
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

from db.models import Contact, Event, EventLogState, LiveConnection, Portfolio, Role, Team, User
from schema.node import to_global_id
from services.auth import issue_token
from tests.conftest import SECRET, GraphQLClient, Server, running
from tests.factories import Factory, gid
from tests.test_ws import closed, init, open_socket, receive, send, subscribe

INBOX = """
subscription($after: ID) {
  inbox(after: $after) {
    id occurredAt
    payload {
      __typename
      ... on PortfolioContactsChanged {
        action contactIds contactCount
        portfolio { portfolioName ownerName } previousPortfolio { portfolioName }
      }
      ... on ContactVipChanged { contactId isVip }
      ... on PortfolioChanged { change badge { portfolioName active } }
      ... on PresenceChanged { userId userName status }
    }
  }
}
"""
ASSIGN = """
mutation($p: ID!, $c: ContactSelection!, $policy: ConflictPolicy!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: $c, onConflict: $policy) {
    assignedCount movedCount userErrors { code }
  }
}
"""
SET_VIP = "mutation($id: ID!, $vip: Boolean!) { setContactVip(id: $id, vip: $vip) { userErrors { code } } }"
RENAME = "mutation($id: ID!, $name: String!) { updatePortfolio(id: $id, input: {name: $name}) { userErrors { code } } }"
DEACTIVATE_PORTFOLIO = "mutation($id: ID!) { deactivatePortfolio(id: $id) { userErrors { code } } }"
DEACTIVATE_USER = "mutation($id: ID!) { deactivateUser(id: $id) { userErrors { code } } }"
ADD_MEMBER = """
mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { userErrors { code } } }
"""
REMOVE_MEMBER = """
mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) { userErrors { code } } }
"""
SET_PRESENCE = "mutation($s: PresenceStatus!) { setPresence(status: $s) { status userErrors { code } } }"
PRESENCE = "query($id: ID!) { node(id: $id) { ... on User { presence { status } } } }"

# How long a test waits to be sure nothing more arrives.
QUIET = 1.0


@dataclass
class World:
    admin: User
    ana: User  # agent of Norte
    beto: User  # agent of Norte
    carla: User  # agent of Ventas
    sofia: User  # supervises Norte
    norte: Team
    ventas: Team


@pytest.fixture
async def world(factory: Factory) -> World:
    norte = await factory.team("Norte")
    ventas = await factory.team("Ventas")
    return World(
        admin=await factory.user(Role.ADMIN, name="Ada Admin"),
        ana=await factory.user(Role.AGENT, name="Ana Agente", teams=[norte]),
        beto=await factory.user(Role.AGENT, name="Beto Agente", teams=[norte]),
        carla=await factory.user(Role.AGENT, name="Carla Agente", teams=[ventas]),
        sofia=await factory.user(Role.SUPERVISOR, name="Sofía Supervisora", supervises=[norte]),
        norte=norte,
        ventas=ventas,
    )


class Listener:
    """One inbox subscription over graphql-transport-ws."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, wait: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(wait):
            message = await receive(self.ws)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message["payload"]
        event: dict[str, Any] = message["payload"]["data"]["inbox"]
        return event

    async def quiet(self, seconds: float = QUIET) -> None:
        """Nothing arrives for a while."""
        try:
            async with asyncio.timeout(seconds):
                message = await self.ws.recv()
        except TimeoutError:
            return
        pytest.fail(f"expected nothing, got {message!r}")


@asynccontextmanager
async def listening(server: Server, token: str, after: str | None = None) -> AsyncIterator[Listener]:
    async with open_socket(server) as ws:
        await init(ws, token)
        await send(ws, subscribe("inbox", INBOX, {"after": after}))
        listener = Listener(ws)
        # The subscription is registered once the server has read the message; a ping round trip
        # after it proves the server got that far in the socket's order.
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
        await asyncio.sleep(0.05)
        yield listener


async def assign(
    client: GraphQLClient, token: str, portfolio: Portfolio, contacts: list[Contact], policy: str = "KEEP"
) -> dict[str, Any]:
    variables = {"p": gid(portfolio), "c": {"ids": [gid(c) for c in contacts]}, "policy": policy}
    data = await client.data(ASSIGN, variables, token)
    payload: dict[str, Any] = data["assignContactsToPortfolio"]
    assert payload["userErrors"] == [], payload
    return payload


async def event_rows(factory: Factory) -> int:
    async with factory.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


class TestDelivery:
    async def test_an_assignment_reaches_the_portfolios_agent_live(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz")
        mine = await factory.portfolio("De Ana", team=world.norte, agent=world.ana)
        async with listening(server, factory.token(world.ana)) as ana:
            await assign(client, factory.token(world.sofia), mine, people)
            event = await ana.next()
            assert event["payload"] == {
                "__typename": "PortfolioContactsChanged",
                "action": "ASSIGNED",
                "contactIds": [gid(p) for p in sorted(people, key=lambda c: c.id)],
                "contactCount": 2,
                "portfolio": {"portfolioName": "De Ana", "ownerName": "Ana Agente"},
                "previousPortfolio": None,
            }
            await ana.quiet()

    async def test_a_bulk_assignment_arrives_in_batches(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, *(f"Cliente N{i:05d}" for i in range(10_000)))
        mine = await factory.portfolio("De Ana", agent=world.ana)
        async with listening(server, factory.token(world.ana)) as ana:
            variables = {"p": gid(mine), "c": {"filter": {"teamIds": [gid(world.norte)]}}, "policy": "KEEP"}
            result = await client.data(ASSIGN, variables, factory.token(world.admin))
            assert result["assignContactsToPortfolio"]["assignedCount"] == 10_000
            counts = [(await ana.next(wait=30))["payload"]["contactCount"] for _ in range(10)]
            assert counts == [1_000] * 10
            await ana.quiet()
        assert len(people) == 10_000

    async def test_an_agent_never_hears_of_contacts_it_cannot_see(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (theirs,) = await factory.contacts(world.ventas, "Cliente Ventas")
        (ours,) = await factory.contacts(world.norte, "Cliente Norte")
        ventas = await factory.portfolio("Ventas", team=world.ventas, agent=world.carla)
        norte = await factory.portfolio("Norte", team=world.norte)
        admin = factory.token(world.admin)
        async with (
            listening(server, factory.token(world.ana)) as ana,
            listening(server, factory.token(world.carla)) as carla,
        ):
            await assign(client, admin, ventas, [theirs])
            await client.data(SET_VIP, {"id": gid(theirs), "vip": True}, admin)
            await assign(client, admin, norte, [ours])
            # Ana's first message is about her team's contact: the two before it were not for her.
            first = await ana.next()
            assert first["payload"]["contactIds"] == [gid(ours)]
            await ana.quiet()
            seen = [await carla.next(), await carla.next()]
            assert [e["payload"]["__typename"] for e in seen] == ["PortfolioContactsChanged", "ContactVipChanged"]
            await carla.quiet()

    async def test_vip_and_portfolio_changes_are_badge_changes(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (person,) = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Cartera", team=world.norte, contacts=[person])
        admin = factory.token(world.admin)
        async with listening(server, factory.token(world.beto)) as beto:
            await client.data(SET_VIP, {"id": gid(person), "vip": True}, admin)
            await client.data(RENAME, {"id": gid(portfolio), "name": "Cartera Julio"}, admin)
            await client.data(DEACTIVATE_PORTFOLIO, {"id": gid(portfolio)}, admin)
            payloads = [(await beto.next())["payload"] for _ in range(3)]
        assert payloads == [
            {"__typename": "ContactVipChanged", "contactId": gid(person), "isVip": True},
            {
                "__typename": "PortfolioChanged",
                "change": "RENAMED",
                "badge": {"portfolioName": "Cartera Julio", "active": True},
            },
            {
                "__typename": "PortfolioChanged",
                "change": "DEACTIVATED",
                "badge": {"portfolioName": "Cartera Julio", "active": False},
            },
        ]

    async def test_a_refused_change_announces_nothing(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Cartera", team=world.norte)
        await client.data(DEACTIVATE_PORTFOLIO, {"id": gid(portfolio)}, factory.token(world.admin))
        before = await event_rows(factory)
        async with listening(server, factory.token(world.ana)) as ana:
            data = await client.data(
                ASSIGN,
                {"p": gid(portfolio), "c": {"ids": [gid(people[0])]}, "policy": "KEEP"},
                factory.token(world.admin),
            )
            assert data["assignContactsToPortfolio"]["userErrors"] == [{"code": "INACTIVE"}]
            await ana.quiet()
        assert await event_rows(factory) == before

    async def test_a_long_lived_subscription_keeps_nothing_per_event(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        # An agent's inbox lives for a shift and receives thousands of events: memory must not
        # grow with them. graphql-core's per-event executors shared one memo of collected
        # fields, keyed by lists made afresh for each event, so every event stayed in memory.
        (person,) = await factory.contacts(world.norte, "Juan Pérez")
        admin = factory.token(world.admin)
        events = 40
        async with listening(server, factory.token(world.ana)) as ana:
            await client.data(SET_VIP, {"id": gid(person), "vip": True}, admin)
            await ana.next()
            before = _instances_of(CollectedFields)
            for i in range(events):
                await client.data(SET_VIP, {"id": gid(person), "vip": i % 2 == 1}, admin)
                await ana.next()
            grown = _instances_of(CollectedFields) - before
        assert grown < events / 4, f"{grown} collected-field sets kept after {events} events"


def _instances_of(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


class TestResume:
    async def test_a_client_that_comes_back_gets_exactly_what_it_missed(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, *(f"Cliente {i}" for i in range(5)))
        mine = await factory.portfolio("De Ana", agent=world.ana)
        admin, ana_token = factory.token(world.admin), factory.token(world.ana)
        async with listening(server, ana_token) as ana:
            await assign(client, admin, mine, people[:1])
            last_seen = (await ana.next())["id"]
        # Away: three changes for her, one not.
        (elsewhere,) = await factory.contacts(world.ventas, "Otro Cliente")
        await assign(client, admin, await factory.portfolio("Ventas", team=world.ventas), [elsewhere])
        for person in people[1:4]:
            await assign(client, admin, mine, [person])
        async with listening(server, ana_token, after=last_seen) as ana:
            missed = [await ana.next() for _ in range(3)]
            assert [e["payload"]["contactIds"] for e in missed] == [[gid(p)] for p in people[1:4]]
            assert len({e["id"] for e in missed}) == 3
            # And then it goes on live, with nothing repeated at the seam.
            await assign(client, admin, mine, people[4:5])
            assert (await ana.next())["payload"]["contactIds"] == [gid(people[4])]
            await ana.quiet()

    async def test_an_id_older_than_the_retention_asks_for_a_reload(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        async with factory.sessionmaker() as session:
            session.add(EventLogState(id=1, pruned_through=1_000_000))
            await session.commit()
        async with open_socket(server) as ws:
            await init(ws, factory.token(world.ana))
            await send(ws, subscribe("inbox", INBOX, {"after": to_global_id("Event", 10)}))
            message = await receive(ws)
            assert message["type"] == "next"
            (error,) = message["payload"]["errors"]
            assert error["extensions"] == {"code": "EXPIRED", "field": "after"}
            assert await receive(ws) == {"id": "inbox", "type": "complete"}

    async def test_an_id_that_is_not_an_event_is_refused(self, server: Server, factory: Factory, world: World) -> None:
        async with open_socket(server) as ws:
            await init(ws, factory.token(world.ana))
            await send(ws, subscribe("inbox", INBOX, {"after": gid(world.ana)}))
            message = await receive(ws)
            assert message["payload"]["errors"][0]["extensions"]["code"] == "INVALID"


class TestClosing:
    async def test_a_deactivated_user_is_cut_off_with_4403(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        async with listening(server, factory.token(world.ana)) as ana:
            await client.data(DEACTIVATE_USER, {"id": gid(world.ana)}, factory.token(world.admin))
            assert await closed(ana.ws) == (4403, "This user can no longer sign in")

    async def test_an_expiring_token_ends_the_subscription_with_4403(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        token = issue_token(secret_key=SECRET, user_id=world.ana.id, ttl_seconds=2)
        async with listening(server, token) as ana:
            code, reason = await closed(ana.ws)
        assert code == 4403
        assert "expired" in reason

    async def test_losing_a_team_stops_its_events(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (person,) = await factory.contacts(world.ventas, "Cliente Ventas")
        portfolio = await factory.portfolio("Ventas", team=world.ventas)
        admin = factory.token(world.admin)
        await client.data(ADD_MEMBER, {"t": gid(world.ventas), "u": gid(world.ana)}, admin)
        async with listening(server, factory.token(world.ana)) as ana:
            await client.data(SET_VIP, {"id": gid(person), "vip": True}, admin)
            assert (await ana.next())["payload"]["__typename"] == "ContactVipChanged"
            await client.data(REMOVE_MEMBER, {"t": gid(world.ventas), "u": gid(world.ana)}, admin)
            await client.data(SET_VIP, {"id": gid(person), "vip": False}, admin)
            await ana.quiet()
        assert portfolio.id

    async def test_a_subscriber_too_far_behind_is_closed_with_4410(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        async with running(database_url, inbox_queue=2) as (server, client):
            await factory.contacts(world.norte, *(f"Cliente {i:04d}" for i in range(3_000)))
            mine = await factory.portfolio("De Ana", agent=world.ana)
            async with listening(server, factory.token(world.ana)) as ana:
                # One call, three events of 1,000 contacts, read by the feed in one go: the third
                # finds her queue of two full.
                variables = {"p": gid(mine), "c": {"filter": {"teamIds": [gid(world.norte)]}}, "policy": "KEEP"}
                await client.data(ASSIGN, variables, factory.token(world.admin))
                code, reason = await closed(ana.ws)
            assert code == 4410
            assert "inbox(after:" in reason


class TestRelay:
    async def test_events_a_crashed_writer_never_announced_are_relayed(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        # No periodic reading: only a doorbell makes the feed read, and the writer rings none.
        async with running(database_url, event_poll_seconds=3600, relay_seconds=0.3) as (server, client):
            hub = server.app.state.hub
            people = await factory.contacts(world.norte, "Juan Pérez")
            mine = await factory.portfolio("De Ana", agent=world.ana)
            async with listening(server, factory.token(world.ana)) as ana:
                hub.announcing = False  # the process "dies" between commit and publish
                await assign(client, factory.token(world.admin), mine, people)
                event = await ana.next(wait=10)
                assert event["payload"]["contactIds"] == [gid(people[0])]
            async with factory.sessionmaker() as session:
                unpublished = await session.scalar(select(func.count()).where(Event.published_at.is_(None)))
            assert unpublished == 0


class TestPresence:
    async def test_presence_is_set_seen_live_and_dropped_after_the_grace(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        async with running(database_url, presence_grace_seconds=0.5, relay_seconds=0.2) as (server, client):
            ana = factory.token(world.ana)
            async with listening(server, factory.token(world.sofia)) as sofia:
                async with open_socket(server) as ws:
                    await init(ws, ana)
                    data = await client.data(SET_PRESENCE, {"s": "ONLINE"}, ana)
                    assert data["setPresence"] == {"status": "ONLINE", "userErrors": []}
                    online = await sofia.next()
                    assert online["payload"] == {
                        "__typename": "PresenceChanged",
                        "userId": gid(world.ana),
                        "userName": "Ana Agente",
                        "status": "ONLINE",
                    }
                    seen = await client.data(PRESENCE, {"id": gid(world.ana)}, factory.token(world.sofia))
                    assert seen["node"]["presence"]["status"] == "ONLINE"
                # Her last connection closed: OFFLINE once the grace has passed.
                offline = await sofia.next(wait=10)
                assert offline["payload"]["status"] == "OFFLINE"
            seen = await client.data(PRESENCE, {"id": gid(world.ana)}, factory.token(world.admin))
            assert seen["node"]["presence"]["status"] == "OFFLINE"
            async with factory.sessionmaker() as session:
                # Hers only: Sofía's socket has just closed, and its row may still be on its way out.
                mine = select(func.count()).select_from(LiveConnection).where(LiveConnection.user_id == world.ana.id)
                assert await session.scalar(mine) == 0

    async def test_coming_back_within_the_grace_keeps_presence(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        async with running(database_url, presence_grace_seconds=1.5, relay_seconds=0.2) as (server, client):
            ana = factory.token(world.ana)
            async with open_socket(server) as ws:
                await init(ws, ana)
                await client.data(SET_PRESENCE, {"s": "AWAY"}, ana)
            async with open_socket(server) as ws:
                await init(ws, ana)
                await asyncio.sleep(2.5)
                seen = await client.data(PRESENCE, {"id": gid(world.ana)}, ana)
                assert seen["node"]["presence"]["status"] == "AWAY"
