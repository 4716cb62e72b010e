"""Resuming the inbox with stock clients (issue 25, point 3): the last event id in connection_init.

graphql-ws's reconnection subscribes again with the first subscription's variables, but evaluates
a function-valued `connectionParams` on every connection: a `lastEventId` there makes an inbox
subscribed without `after` resume exactly as `inbox(after:)` would, on both WebSocket subprotocols.
The last test runs the real graphql-ws client, cut while events are committed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from db.models import Event, EventLogState
from schema.node import to_global_id
from tests.conftest import GraphQLClient, Server, eventually
from tests.factories import Factory, gid
from tests.stock_clients import StockClient, stock_clients  # noqa: F401  (the fixture)
from tests.vip_world import SET_VIP, World, build, commit_while_cut, toggle, vip_events
from tests.ws import INBOX, LEGACY_WS, QUIET, TRANSPORT_WS, open_socket, receive, send, subscribe


@pytest.fixture
async def world(factory: Factory) -> World:
    return await build(factory)


# A stock client's subscription: the same document on every reconnection, no `after`.
PLAIN_INBOX = "subscription { inbox { id payload { __typename ... on ContactVipChanged { contactId isVip } } } }"


async def last_event(factory: Factory) -> int:
    """The last event id of this test so far (0 before its first: every test starts with an empty log)."""
    async with factory.sessionmaker() as session:
        return int(await session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0)


def init_payload(token: str, last_event_id: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"authorization": f"Bearer {token}"}
    if last_event_id is not None:
        payload["lastEventId"] = last_event_id
    return payload


async def connect(ws: ClientConnection, protocol: Subprotocol, payload: dict[str, Any]) -> None:
    await send(ws, {"type": "connection_init", "payload": payload})
    assert (await receive(ws))["type"] == "connection_ack"


async def start_inbox(ws: ClientConnection, protocol: Subprotocol, variables: dict[str, Any] | None = None) -> None:
    if protocol == TRANSPORT_WS:
        await send(ws, subscribe("inbox", INBOX, variables))
    else:
        await send(ws, {"id": "inbox", "type": "start", "payload": {"query": INBOX, "variables": variables or {}}})


async def next_result(ws: ClientConnection, protocol: Subprotocol) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == ("next" if protocol == TRANSPORT_WS else "data"), message
    payload: dict[str, Any] = message["payload"]
    return payload


async def events_of(ws: ClientConnection, protocol: Subprotocol, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        payload = await next_result(ws, protocol)
        assert "errors" not in payload, payload
        ids.append(payload["data"]["inbox"]["id"])
    return ids


@pytest.fixture(params=[TRANSPORT_WS, LEGACY_WS])
def protocol(request: pytest.FixtureRequest) -> Subprotocol:
    value: Subprotocol = request.param
    return value


@pytest.fixture
async def away(client: GraphQLClient, factory: Factory, world: World) -> tuple[str, list[str]]:
    """Ana saw one event, then three more were committed: (the id she saw, the three she missed)."""
    before = await last_event(factory)
    await toggle(client, factory, world, 4)
    seen, *missed = await vip_events(factory, before)
    return seen, missed


class TestConnectionInitResume:
    async def test_an_inbox_without_after_resumes_from_the_last_event_id(
        self,
        server: Server,
        client: GraphQLClient,
        factory: Factory,
        world: World,
        protocol: Subprotocol,
        away: tuple[str, list[str]],
    ) -> None:
        seen, missed = away
        feed = server.app.state.hub.feed
        async with open_socket(server, protocol) as ws:
            await connect(ws, protocol, init_payload(factory.token(world.ana), seen))
            inboxes = feed.inbox_count
            await start_inbox(ws, protocol)
            assert await events_of(ws, protocol, 3) == missed
            await eventually(lambda: feed.inbox_count > inboxes, "the inbox went live")
            # Then live, nothing repeated at the seam.
            before = await last_event(factory)
            await toggle(client, factory, world, 1)
            assert await events_of(ws, protocol, 1) == await vip_events(factory, before)
            await quiet(ws)

    async def test_after_wins_over_the_connections_last_event_id(
        self, server: Server, factory: Factory, world: World, protocol: Subprotocol, away: tuple[str, list[str]]
    ) -> None:
        seen, missed = away
        async with open_socket(server, protocol) as ws:
            await connect(ws, protocol, init_payload(factory.token(world.ana), seen))
            await start_inbox(ws, protocol, {"after": missed[1]})
            assert await events_of(ws, protocol, 1) == missed[2:]
            await quiet(ws)

    async def test_a_last_event_id_older_than_the_retention_is_expired(
        self, server: Server, factory: Factory, world: World, protocol: Subprotocol
    ) -> None:
        async with factory.sessionmaker() as session:
            session.add(EventLogState(id=1, pruned_through=1_000_000))
            await session.commit()
        async with open_socket(server, protocol) as ws:
            await connect(ws, protocol, init_payload(factory.token(world.ana), to_global_id("Event", 10)))
            await start_inbox(ws, protocol)
            (error,) = (await next_result(ws, protocol))["errors"]
            assert error["extensions"] == {"code": "EXPIRED", "field": "lastEventId", "path": ["lastEventId"]}
            assert "connect again without a last event id" in error["message"]

    @pytest.mark.parametrize("value", ["nonsense", 17, "VXNlcjox"])  # the last: User:1, not an event
    async def test_a_last_event_id_that_is_not_an_events_is_invalid(
        self, server: Server, factory: Factory, world: World, protocol: Subprotocol, value: Any
    ) -> None:
        async with open_socket(server, protocol) as ws:
            await connect(ws, protocol, init_payload(factory.token(world.ana), value))
            await start_inbox(ws, protocol)
            (error,) = (await next_result(ws, protocol))["errors"]
            assert error["extensions"] == {"code": "INVALID", "field": "lastEventId", "path": ["lastEventId"]}

    async def test_visibility_holds_in_the_resumed_replay(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        ventas = await factory.team("Ventas")
        (theirs,) = await factory.contacts(ventas, "Cliente Ventas")
        await toggle(client, factory, world, 1)
        await client.data(SET_VIP, {"id": gid(theirs), "vip": True}, factory.token(world.admin))
        await toggle(client, factory, world, 1, start=False)
        seen, _theirs, hers = await vip_events(factory, 0)
        async with open_socket(server) as ws:
            await connect(ws, TRANSPORT_WS, init_payload(factory.token(world.ana), seen))
            await start_inbox(ws, TRANSPORT_WS)
            # Ventas' change, before hers in the log, is not hers to see.
            assert await events_of(ws, TRANSPORT_WS, 1) == [hers]
            await quiet(ws)


async def quiet(ws: ClientConnection) -> None:
    try:
        message = await asyncio.wait_for(ws.recv(), QUIET)
    except TimeoutError:
        return
    pytest.fail(f"expected nothing, got {message!r}")


async def test_graphql_ws_retry_loses_nothing(
    server: Server,
    client: GraphQLClient,
    factory: Factory,
    world: World,
    stock_clients: Path,  # noqa: F811
) -> None:
    """The real graphql-ws client, cut every third event by itself and once by the server while
    events are committed, receives every event exactly once, in order."""
    feed = server.app.state.hub.feed
    before = await last_event(factory)
    total = 16
    node = await StockClient.start(
        stock_clients, "ws", server.ws_url, factory.token(world.ana), expected=total, cut_every=3
    )
    try:
        await eventually(lambda: feed.inbox_count > 0, "the stock client subscribed", 30)
        await commit_while_cut(client, factory, world, feed, total)
        received = await node.finished()
    finally:
        await node.stop()
    assert received == await vip_events(factory, before)
    # It did reconnect: five cuts of its own, one by the server.
    assert node.count("cutting") == 5
    assert node.count("connected") >= 3
    await eventually(lambda: feed.inbox_count == 0, "the stock client's inboxes were unregistered")
