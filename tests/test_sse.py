"""GraphQL over Server-Sent Events (issue 25, point 4): /graphql/stream, graphql-sse's distinct connections mode.

Through the running app over HTTP with httpx streaming: authentication, queries, mutations and the
inbox as `next`/`complete` messages, each inbox message's `id:` resuming it as Last-Event-ID, the
WebSocket's limits and endings, keep-alives, and a client that leaves taking its inbox with it.
The last test runs the real graphql-sse client, cut while events are committed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.models import EventLogState, Role
from schema.node import to_global_id
from services.auth import issue_token
from subscriptions.feed import SLOW_CONSUMER
from tests.conftest import SECRET, GraphQLClient, Server, auth, eventually, running
from tests.factories import Factory, gid
from tests.stock_clients import StockClient, stock_clients  # noqa: F401  (the fixture)
from tests.vip_world import SET_VIP, World, build, commit_while_cut, toggle, vip_events
from tests.ws import INBOX, init, open_socket, receive, send, subscribe


@pytest.fixture
async def world(factory: Factory) -> World:
    return await build(factory)


EVENT_STREAM = "text/event-stream"
DEACTIVATE_USER = "mutation($id: ID!) { deactivateUser(id: $id) { userErrors { code } } }"
ME = "{ me { name } }"
# Every read of a stream is bounded: a missing message fails the test instead of hanging it.
READ_TIMEOUT = 5


@dataclass
class Message:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        assert self.event == "next", self
        assert self.data is not None
        payload: dict[str, Any] = json.loads(self.data)
        return payload


class Stream:
    """A text/event-stream response read message by message (a message ends at a blank line)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def message(self, *, skip_comments: bool = True) -> Message | None:
        """The next message (None at the end of the stream); keep-alive comments skipped unless asked for."""
        message = Message()
        async with asyncio.timeout(READ_TIMEOUT):
            async for line in self._lines:
                if line == "":
                    if message.event is None and message.data is None and (skip_comments or not message.comments):
                        message = Message()
                        continue
                    return message
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    message.comments.append(value)
                elif name == "event":
                    message.event = value
                elif name == "id":
                    message.id = value
                elif name == "data":
                    message.data = value if message.data is None else message.data + "\n" + value
        assert message == Message(), f"the stream ended inside a message: {message}"
        return None

    async def next(self) -> Message:
        message = await self.message()
        assert message is not None, "the stream ended"
        assert message.event == "next", message
        return message

    async def inbox_event(self) -> Message:
        message = await self.next()
        assert "errors" not in message.payload, message.payload
        assert message.id == message.payload["data"]["inbox"]["id"]
        return message

    async def complete(self) -> None:
        message = await self.message()
        assert message is not None, "the stream ended without complete"
        assert (message.event, message.data) == ("complete", ""), message
        assert await self.message() is None, "the stream went on after complete"

    async def ended(self) -> list[Message]:
        """What it sends until it ends (comments included)."""
        rest = []
        while (message := await self.message(skip_comments=False)) is not None:
            rest.append(message)
        return rest

    async def quiet(self, seconds: float = 1.0) -> None:
        try:
            async with asyncio.timeout(seconds):
                message = await self.message()
        except TimeoutError:
            return
        pytest.fail(f"expected nothing, got {message}")


def request_headers(token: str | None, **more: str) -> dict[str, str]:
    return {"accept": EVENT_STREAM, **auth(token), **more}


@asynccontextmanager
async def streaming(
    server: Server,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Stream]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        all_headers = request_headers(token, **(headers or {}))
        if method == "GET":
            params = {"query": query, **({"variables": json.dumps(variables)} if variables else {})}
            request = http.stream("GET", "/graphql/stream", params=params, headers=all_headers)
        else:
            body = {"query": query, "variables": variables}
            request = http.stream("POST", "/graphql/stream", json=body, headers=all_headers)
        async with request as response:
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith(EVENT_STREAM)
            assert response.headers["cache-control"] == "no-cache"
            yield Stream(response)


@asynccontextmanager
async def listening(server: Server, token: str, *, last_event_id: str | None = None) -> AsyncIterator[Stream]:
    """The inbox over SSE, yielded once its inbox is registered; on leaving it must be gone again."""
    feed = server.app.state.hub.feed
    inboxes = feed.inbox_count
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    async with streaming(server, token, INBOX, headers=headers) as stream:
        await eventually(lambda: feed.inbox_count > inboxes, "the subscription was not registered")
        yield stream
    await eventually(lambda: feed.inbox_count <= inboxes, "the closed stream's inbox was not unregistered")


async def refusal(
    server: Server, headers: dict[str, str], body: Any = None, content: bytes | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        if content is not None:
            return await http.post("/graphql/stream", content=content, headers=headers)
        return await http.post("/graphql/stream", json=body or {"query": ME}, headers=headers)


class TestRefused:
    @pytest.mark.parametrize("token", [None, "not-a-token"])
    async def test_without_a_valid_token_it_is_401(self, server: Server, token: str | None) -> None:
        response = await refusal(server, request_headers(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "errors": [{"message": "A valid bearer token is required", "extensions": {"code": "UNAUTHENTICATED"}}]
        }

    async def test_an_expired_token_or_a_deactivated_user_is_401(self, server: Server, factory: Factory) -> None:
        gone = await factory.user(Role.AGENT, name="Ido Ido", active=False)
        ana = await factory.user(Role.AGENT, name="Ana Agente")
        expired = issue_token(secret_key=SECRET, user_id=ana.id, ttl_seconds=-1)
        for token, message in ((factory.token(gone), "This user cannot sign in"), (expired, None)):
            response = await refusal(server, request_headers(token))
            assert response.status_code == 401
            (error,) = response.json()["errors"]
            assert error["extensions"] == {"code": "UNAUTHENTICATED"}
            assert message is None or error["message"] == message

    async def test_a_client_that_does_not_accept_an_event_stream_is_406(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN, name="Ada Admin"))
        for accept in ("application/json", f"{EVENT_STREAM};q=0", ""):
            response = await refusal(server, {"accept": accept, **auth(token)})
            assert response.status_code == 406, accept

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"{", "The request body is not valid JSON"),
            (b"[]", "Batched requests are not supported: send one operation per request"),
            (b'{"query": ""}', "The `query` parameter must be a non-empty string"),
        ],
    )
    async def test_a_request_it_cannot_read_is_400_before_any_stream(
        self, server: Server, factory: Factory, content: bytes, message: str
    ) -> None:
        token = factory.token(await factory.user(Role.ADMIN, name="Ada Admin"))
        headers = request_headers(token, **{"content-type": "application/json"})
        response = await refusal(server, headers, content=content)
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == message


class TestOperations:
    async def test_a_query_is_one_next_then_complete(self, server: Server, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.ADMIN, name="Ada Admin"))
        for method in ("POST", "GET"):
            async with streaming(server, token, ME, method=method) as stream:
                message = await stream.next()
                assert message.id is None
                assert message.payload["data"] == {"me": {"name": "Ada Admin"}}
                await stream.complete()

    async def test_a_mutation_runs_once_over_post_and_never_over_get(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.admin)
        variables = {"id": gid(world.contact), "vip": True}
        async with streaming(server, token, SET_VIP, variables) as stream:
            assert (await stream.next()).payload["data"] == {"setContactVip": {"userErrors": []}}
            await stream.complete()
        async with streaming(server, token, SET_VIP, {**variables, "vip": False}, method="GET") as stream:
            payload = (await stream.next()).payload
            assert "data" not in payload
            assert payload["errors"]
            await stream.complete()
        assert len(await vip_events(factory)) == 1

    async def test_a_document_that_does_not_validate_is_a_next_with_its_errors(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        async with streaming(server, factory.token(world.ana), "subscription { inbox { nope } }") as stream:
            payload = (await stream.next()).payload
            assert "data" not in payload
            assert [e["message"] for e in payload["errors"]] == ["Cannot query field 'nope' on type 'InboxEvent'."]
            await stream.complete()

    async def test_the_websockets_cost_limit_holds(self, database_url: str, factory: Factory, world: World) -> None:
        async with running(database_url, max_query_cost=2) as (server, _):
            token = factory.token(world.ana)
            async with streaming(server, token, INBOX) as stream:
                payload = (await stream.next()).payload
                await stream.complete()
            async with open_socket(server) as ws:
                await init(ws, token)
                await send(ws, subscribe("inbox", INBOX))
                over_ws = await receive(ws)
        assert over_ws["type"] == "error", over_ws
        assert payload == {"errors": over_ws["payload"]}
        assert payload["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


class TestInbox:
    async def test_events_arrive_as_next_messages_with_their_ids(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        async with listening(server, factory.token(world.ana)) as stream:
            await toggle(client, factory, world, 2)
            received = [await stream.inbox_event() for _ in range(2)]
            assert [m.id for m in received] == await vip_events(factory)
            assert [m.payload["data"]["inbox"]["payload"] for m in received] == [
                {"__typename": "ContactVipChanged", "contactId": gid(world.contact), "isVip": vip}
                for vip in (True, False)
            ]
            await stream.quiet()

    async def test_last_event_id_resumes_after_the_connection_was_cut_while_events_were_committed(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.ana)
        total, cut_after = 12, 4
        received: list[str] = []
        committing: asyncio.Task[None] | None = None
        async with listening(server, token) as stream:
            committing = asyncio.create_task(toggle(client, factory, world, total))
            for _ in range(cut_after):
                message = await stream.inbox_event()
                assert message.id is not None
                received.append(message.id)
        # Cut: the events committed meanwhile wait in the log.
        async with listening(server, token, last_event_id=received[-1]) as stream:
            await committing
            while len(received) < total:
                message = await stream.inbox_event()
                assert message.id is not None
                received.append(message.id)
            await stream.quiet()
        assert received == await vip_events(factory)

    async def test_a_last_event_id_older_than_the_retention_is_expired(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        async with factory.sessionmaker() as session:
            session.add(EventLogState(id=1, pruned_through=1_000_000))
            await session.commit()
        headers = {"last-event-id": to_global_id("Event", 10)}
        async with streaming(server, factory.token(world.ana), INBOX, headers=headers) as stream:
            (error,) = (await stream.next()).payload["errors"]
            assert error["extensions"] == {"code": "EXPIRED", "field": "lastEventId", "path": ["lastEventId"]}
            await stream.complete()

    async def test_an_expiring_token_ends_the_stream(self, server: Server, factory: Factory, world: World) -> None:
        token = issue_token(secret_key=SECRET, user_id=world.ana.id, ttl_seconds=2)
        async with listening(server, token) as stream:
            (error,) = (await stream.next()).payload["errors"]
            assert error["extensions"] == {"code": "UNAUTHENTICATED"}
            assert "expired" in error["message"]
            await stream.complete()

    async def test_a_deactivated_user_is_told_and_the_stream_completes(
        self, server: Server, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        async with listening(server, factory.token(world.ana)) as stream:
            await client.data(DEACTIVATE_USER, {"id": gid(world.ana)}, factory.token(world.admin))
            (error,) = (await stream.next()).payload["errors"]
            assert error == {"message": "This user can no longer sign in", "extensions": {"code": "UNAUTHENTICATED"}}
            await stream.complete()

    async def test_an_inbox_too_far_behind_ends_the_stream_without_complete(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        feed = server.app.state.hub.feed
        async with listening(server, factory.token(world.ana)) as stream:
            for inbox in list(feed._inboxes()):
                inbox.close(SLOW_CONSUMER, "Too far behind")
            # The first comment opened the stream. No `complete`: the client connects again and
            # resumes with Last-Event-ID.
            assert await stream.ended() == [Message(comments=[""]), Message(comments=["Too far behind"])]

    async def test_an_idle_stream_gets_keep_alive_comments(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        async with (
            running(database_url, sse_keepalive_seconds=0.05) as (server, _),
            listening(server, factory.token(world.ana)) as stream,
        ):
            comments = [await stream.message(skip_comments=False) for _ in range(3)]
            assert comments == [Message(comments=[""])] * 3

    async def test_a_client_that_leaves_stops_its_subscription(
        self, server: Server, factory: Factory, world: World
    ) -> None:
        feed = server.app.state.hub.feed
        before = feed.inbox_count
        # listening() waits for the inbox to be unregistered once the client has closed the connection.
        async with listening(server, factory.token(world.ana)):
            assert feed.inbox_count == before + 1
        assert feed.inbox_count == before
        sse = next(r for r in server.app.routes if getattr(r, "path", "") == "/graphql/stream")
        await eventually(lambda: not sse.endpoint.__self__.open, "the stream was not counted as closed")

    async def test_a_user_holds_as_many_streams_as_one_websocket_runs_operations(
        self, database_url: str, factory: Factory, world: World
    ) -> None:
        async with running(database_url, ws_max_operations=2) as (server, _):
            token = factory.token(world.ana)
            async with listening(server, token), listening(server, token):
                response = await refusal(server, request_headers(token), {"query": INBOX})
                assert response.status_code == 429
                (error,) = response.json()["errors"]
                assert error["extensions"] == {"code": "LIMIT_EXCEEDED"}
                # Another user is not held back.
                async with streaming(server, factory.token(world.admin), ME) as stream:
                    await stream.next()
            async with listening(server, token):
                pass


async def test_graphql_sse_client_retry_with_last_event_id_loses_nothing(
    server: Server,
    client: GraphQLClient,
    factory: Factory,
    world: World,
    stock_clients: Path,  # noqa: F811
) -> None:
    """The real graphql-sse client (distinct connections mode), its request cut every third event by
    itself and once by the server while events are committed, sends the last id it saw as
    Last-Event-ID and receives every event exactly once, in order."""
    feed = server.app.state.hub.feed
    total = 16
    url = f"{server.url}/graphql/stream"
    node = await StockClient.start(stock_clients, "sse", url, factory.token(world.ana), expected=total, cut_every=3)
    try:
        await eventually(lambda: feed.inbox_count > 0, "the stock client subscribed", 30)
        await commit_while_cut(client, factory, world, feed, total)
        received = await node.finished()
    finally:
        await node.stop()
    assert received == await vip_events(factory)
    assert node.count("cutting") == 5
    assert node.count("connected") >= 3
    await eventually(lambda: feed.inbox_count == 0, "the stock client's inboxes were unregistered")


async def test_a_persisted_query_runs_by_its_hash_alone(
    server: Server, factory: Factory, client: GraphQLClient
) -> None:
    """The text /graphql keeps for a hash (automatic persisted queries) serves the stream too; an
    unknown hash is refused before any stream, with /graphql's code."""
    import hashlib

    token = factory.token(await factory.user(Role.ADMIN, name="Ada Admin"))
    # A text of this run's own: with Redis the store outlives a run (a day's TTL).
    query = f"query Persisted{uuid.uuid4().hex} {{ me {{ name }} }}"
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    response = await refusal(server, request_headers(token), {"extensions": persisted})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
    registered = await client.http.post("/graphql", json={"query": query, "extensions": persisted}, headers=auth(token))
    assert registered.json()["data"] == {"me": {"name": "Ada Admin"}}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        request = http.stream("POST", "/graphql/stream", json={"extensions": persisted}, headers=request_headers(token))
        async with request as answer:
            assert answer.status_code == 200
            stream = Stream(answer)
            assert (await stream.next()).payload["data"] == {"me": {"name": "Ada Admin"}}
            await stream.complete()
