"""The inbox subscription (RT1-RT4, P8 live), through real WebSockets on the running app.

Each test listens as an agent or supervisor, changes things through HTTP as another user, and
asserts exactly which messages arrive, in which order, and which never do.
"""

from __future__ import annotations

import asyncio
import gc
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pytest
from graphql.execution.collect_fields import CollectedFields
from sqlalchemy import func, select

from db.models import Contact, Event, EventLogState, LiveConnection, Portfolio, Role, Team, User
from schema.node import to_global_id
from services import presence
from services.auth import issue_token
from tests.conftest import SECRET, GraphQLClient, Server, eventually, running
from tests.factories import Factory, gid
from tests.ws import INBOX, closed, init, listening, open_socket, receive, send, subscribe

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


async def assign(
    client: GraphQLClient, token: str, portfolio: Portfolio, contacts: list[Contact], policy: str = "KEEP"
) -> dict[str, Any]:
    variables = {"p": gid(portfolio), "c": {"ids": [gid(c) for c in contacts]}, "policy": policy}
    data = await client.data(ASSIGN, variables, token)
    payload: dict[str, Any] = data["assignContactsToPortfolio"]
    assert payload["userErrors"] == [], payload
    return payload


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
            batches = [(await ana.next(wait=30))["payload"] for _ in range(10)]
            assert [b["contactCount"] for b in batches] == [1_000] * 10
            delivered = [c for b in batches for c in b["contactIds"]]
            assert len(delivered) == 10_000
            assert set(delivered) == {gid(p) for p in people}
            await ana.quiet()

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
            # A change for each of them: what each receives next is its own, so Norte's assignment
            # never reached Carla, nor Ventas' change Ana.
            await client.data(SET_VIP, {"id": gid(theirs), "vip": False}, admin)
            await client.data(SET_VIP, {"id": gid(ours), "vip": True}, admin)
            assert (await carla.next())["payload"] == {
                "__typename": "ContactVipChanged",
                "contactId": gid(theirs),
                "isVip": False,
            }
            assert (await ana.next())["payload"] == {
                "__typename": "ContactVipChanged",
                "contactId": gid(ours),
                "isVip": True,
            }
            await asyncio.gather(ana.quiet(), carla.quiet())

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
        before = await factory.count(Event)
        async with listening(server, factory.token(world.ana)) as ana:
            data = await client.data(
                ASSIGN,
                {"p": gid(portfolio), "c": {"ids": [gid(people[0])]}, "policy": "KEEP"},
                factory.token(world.admin),
            )
            assert data["assignContactsToPortfolio"]["userErrors"] == [{"code": "INACTIVE"}]
            await ana.quiet()
        assert await factory.count(Event) == before

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
            assert error["extensions"] == {"code": "EXPIRED", "field": "after", "path": ["after"]}
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
        (hers,) = await factory.contacts(world.norte, "Cliente Norte")
        admin = factory.token(world.admin)
        await client.data(ADD_MEMBER, {"t": gid(world.ventas), "u": gid(world.ana)}, admin)
        async with listening(server, factory.token(world.ana)) as ana:
            await client.data(SET_VIP, {"id": gid(person), "vip": True}, admin)
            assert (await ana.next())["payload"]["__typename"] == "ContactVipChanged"
            await client.data(REMOVE_MEMBER, {"t": gid(world.ventas), "u": gid(world.ana)}, admin)
            await client.data(SET_VIP, {"id": gid(person), "vip": False}, admin)
            # Still listening to Norte: the next thing she receives is Norte's, not Ventas' change before it.
            await client.data(SET_VIP, {"id": gid(hers), "vip": True}, admin)
            assert (await ana.next())["payload"] == {
                "__typename": "ContactVipChanged",
                "contactId": gid(hers),
                "isVip": True,
            }
            await ana.quiet()

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


def record_relays(monkeypatch: pytest.MonkeyPatch, server: Server) -> list[int]:
    """How many unannounced events each turn of this server's relay found (and rang for)."""
    hub = server.app.state.hub
    relay = hub.relay_unpublished
    found: list[int] = []

    async def relay_unpublished() -> int:
        count: int = await relay()
        found.append(count)
        return count

    monkeypatch.setattr(hub, "relay_unpublished", relay_unpublished)
    return found


def record_offline(monkeypatch: pytest.MonkeyPatch, server: Server) -> list[list[int]]:
    """The users each turn of this server's presence step turned OFFLINE.

    The hub's step returns nothing, so services.presence's answer is recorded, and only when
    this server's hub asked (the patch reaches every server in the process).
    """
    hub = server.app.state.hub
    step, decide = hub.go_offline_when_due, presence.go_offline_when_due
    in_step: ContextVar[bool] = ContextVar("in_step", default=False)
    turns: list[list[int]] = []

    async def go_offline_when_due() -> None:
        entered = in_step.set(True)
        try:
            await step()
        finally:
            in_step.reset(entered)

    async def deciding(*args: Any, **kwargs: Any) -> list[int]:
        users: list[int] = await decide(*args, **kwargs)
        if in_step.get():
            turns.append(list(users))
        return users

    monkeypatch.setattr(hub, "go_offline_when_due", go_offline_when_due)
    monkeypatch.setattr(presence, "go_offline_when_due", deciding)
    return turns


class TestRelay:
    async def test_events_a_crashed_writer_never_announced_are_relayed(
        self, database_url: str, factory: Factory, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # No periodic reading: only a doorbell makes the feed read, and the writer rings none.
        async with running(database_url, event_poll_seconds=3600, relay_seconds=0.3) as (server, client):
            hub = server.app.state.hub
            relayed = record_relays(monkeypatch, server)
            people = await factory.contacts(world.norte, "Juan Pérez")
            mine = await factory.portfolio("De Ana", agent=world.ana)
            before = await factory.count(Event)
            async with listening(server, factory.token(world.ana)) as ana:
                hub.announcing = False  # the process "dies" between commit and publish
                await assign(client, factory.token(world.admin), mine, people)
                event = await ana.next(wait=10)
                assert event["payload"]["contactIds"] == [gid(people[0])]
            # This server's relay rang for every event the call wrote (its turn ends a moment after
            # the delivery its doorbell caused), and nothing else did.
            written = await factory.count(Event) - before
            assert written > 0
            await eventually(lambda: sum(relayed) >= written, "this server's relay did not relay the events")
            assert sum(relayed) == written
            async with factory.sessionmaker() as session:
                unpublished = await session.scalar(select(func.count()).where(Event.published_at.is_(None)))
            assert unpublished == 0

    @pytest.mark.parametrize("loop", ["relay", "feed"])
    async def test_a_server_stops_even_when_a_cancelled_steps_cleanup_fails(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch, loop: str
    ) -> None:
        entered = asyncio.Event()

        async def step() -> int:
            first = not entered.is_set()
            entered.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if first:
                    # What SQLAlchemy raises when closing a cancelled session fails: not the cancellation.
                    raise RuntimeError("could not close the session") from None
                raise
            return 0

        # A loop that took the error for a failed step would go on and the server never stop: the
        # test fails instead of hanging (and the cancellation at the end of the run ends the loop).
        async with asyncio.timeout(10):
            async with running(database_url, relay_seconds=0.05, event_poll_seconds=0.05) as (server, _):
                hub = server.app.state.hub
                if loop == "relay":
                    monkeypatch.setattr(hub, "relay_unpublished", step)
                else:
                    monkeypatch.setattr(hub.feed, "catch_up", step)
                await entered.wait()


class TestPresence:
    async def test_presence_is_set_seen_live_and_dropped_after_the_grace(
        self, database_url: str, factory: Factory, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with running(database_url, presence_grace_seconds=0.5, relay_seconds=0.2) as (server, client):
            turns = record_offline(monkeypatch, server)
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
            # This server's relay turned her OFFLINE, once.
            assert [users for users in turns if users] == [[world.ana.id]]
            seen = await client.data(PRESENCE, {"id": gid(world.ana)}, factory.token(world.admin))
            assert seen["node"]["presence"]["status"] == "OFFLINE"
            async with factory.sessionmaker() as session:
                # Hers only: Sofía's socket has just closed, and its row may still be on its way out.
                mine = select(func.count()).select_from(LiveConnection).where(LiveConnection.user_id == world.ana.id)
                assert await session.scalar(mine) == 0

    async def test_coming_back_within_the_grace_keeps_presence(
        self, database_url: str, factory: Factory, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with running(database_url, presence_grace_seconds=1.5, relay_seconds=0.2) as (server, client):
            turns = record_offline(monkeypatch, server)
            ana = factory.token(world.ana)
            async with listening(server, factory.token(world.sofia)) as sofia:
                async with open_socket(server) as ws:
                    await init(ws, ana)
                    await client.data(SET_PRESENCE, {"s": "AWAY"}, ana)
                    assert (await sofia.next())["payload"]["status"] == "AWAY"
                async with open_socket(server) as ws:
                    await init(ws, ana)
                    looked = len(turns)
                    await asyncio.sleep(2.5)
                    seen = await client.data(PRESENCE, {"id": gid(world.ana)}, ana)
                    assert seen["node"]["presence"]["status"] == "AWAY"
                    # The relay looked meanwhile, past the grace, and found no one due.
                    assert len(turns) > looked
                    assert not any(turns)
                # Her last connection closed: now she does go OFFLINE, and nothing came before it.
                offline = await sofia.next(wait=10)
                assert offline["payload"] == {
                    "__typename": "PresenceChanged",
                    "userId": gid(world.ana),
                    "userName": "Ana Agente",
                    "status": "OFFLINE",
                }
            assert [users for users in turns if users] == [[world.ana.id]]
