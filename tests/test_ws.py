"""GraphQL over WebSocket on /graphql, through a real client: graphql-transport-ws and legacy graphql-ws.

These tests are about the transport (handshake, protocols, limits, authentication); queries
and mutations serve as operations, which strawberry runs over the socket as single results
(`next`/`data`, then `complete`). The `inbox` subscription itself is tested in test_live.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

import resolvers.lifecycle
from db.base import utcnow
from db.models import Role
from resolvers.lifecycle import principal_of
from schema.context import Context
from services.auth import issue_token
from services.principal import Principal
from tests.conftest import GraphQLClient, Server, make_settings
from tests.factories import Factory, gid, priced
from tests.ws import (
    LEGACY_WS,
    RECEIVE_TIMEOUT,
    TRANSPORT_WS,
    Message,
    bearer,
    closed,
    execute,
    init,
    open_socket,
    receive,
    send,
    subscribe,
)

ME = "query { me { id name } }"
ME_ID = "query { me { id } }"
CREATE_TEAM = """
mutation ($name: String!) {
  createTeam(input: {name: $name}) { team { id name } userErrors { field code } }
}
"""
TEAMS = "query { teams { nodes { id name } } }"
DEACTIVATE_USER = "mutation ($id: ID!) { deactivateUser(id: $id) { user { active } userErrors { code } } }"
UNKNOWN_FIELD = "query { me { nope } }"
UNPARSABLE = "query { me { id }"
OVER_TOKEN_LIMIT = "query { me { " + "id " * 10_000 + "} }"

# --- helpers -------------------------------------------------------------------------------------


class Gate:
    """Holds every operation at its start (loading the principal) until opened: a deterministic long operation."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def principal_of(self, ctx: Context) -> Principal | None:
        self.entered.set()
        await self.opened.wait()
        return await principal_of(ctx)

    async def wait_entered(self) -> None:
        async with asyncio.timeout(RECEIVE_TIMEOUT):
            await self.entered.wait()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """Operations (not connection_init, which loads the principal in cartera.ws) wait at the gate."""
    held = Gate()
    monkeypatch.setattr(resolvers.lifecycle, "principal_of", held.principal_of)
    yield held
    held.opened.set()  # nothing stays held past the test


async def refused_init_payload(case: str, factory: Factory) -> dict[str, Any] | None:
    """A connection_init payload that must not open a connection; None sends no payload at all."""
    user = await factory.user(active=case != "deactivated user")
    match case:
        case "no payload":
            return None
        case "no authorization":
            return {}
        case "not a bearer":
            return {"authorization": f"Token {factory.token(user)}"}
        case "malformed token":
            return bearer("not-a-jwt")
        case "forged token":
            return bearer(issue_token(secret_key="another-secret-" + "y" * 32, user_id=user.id, ttl_seconds=3600))
        case "expired token":
            return bearer(factory.token(user, ttl_seconds=60, now=utcnow() - timedelta(hours=1)))
        case "unknown user":
            return bearer(issue_token(secret_key=factory.secret_key, user_id=user.id + 1000, ttl_seconds=3600))
        case "deactivated user":
            return bearer(factory.token(user))
    raise AssertionError(case)


REFUSED_INIT_CASES = [
    "no payload",
    "no authorization",
    "not a bearer",
    "malformed token",
    "forged token",
    "expired token",
    "unknown user",
    "deactivated user",
]


# --- graphql-transport-ws ------------------------------------------------------------------------


class TestTransportWS:
    async def test_query_over_the_socket(self, server: Server, factory: Factory) -> None:
        user = await factory.user(name="Ana")
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            assert await execute(ws, "1", ME) == {
                "data": {"me": {"id": gid(user), "name": "Ana"}},
                "extensions": priced(1),
            }

    async def test_mutation_over_the_socket_is_committed(
        self, server: Server, client: GraphQLClient, factory: Factory
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        async with open_socket(server) as ws:
            await init(ws, factory.token(admin))
            payload = await execute(ws, "1", CREATE_TEAM, {"name": "Ventas"})
        created = payload["data"]["createTeam"]
        assert created["userErrors"] == []
        assert created["team"]["name"] == "Ventas"
        # Read back over HTTP, on another connection: the socket's transaction was committed.
        data = await client.data(TEAMS, token=factory.token(admin))
        assert data["teams"]["nodes"] == [{"id": created["team"]["id"], "name": "Ventas"}]

    async def test_an_id_is_free_again_once_its_operation_completed(self, server: Server, factory: Factory) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            # `complete` frees the id, so the next operation may take it.
            assert await execute(ws, "1", ME_ID) == {"data": {"me": {"id": gid(user)}}, "extensions": priced(1)}
            assert await execute(ws, "1", ME_ID) == {"data": {"me": {"id": gid(user)}}, "extensions": priced(1)}

    async def test_ping_is_answered_with_pong_before_and_after_init(self, server: Server, factory: Factory) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await send(ws, {"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
            await init(ws, factory.token(user))
            await send(ws, {"type": "ping", "payload": {"at": "now"}})
            assert await receive(ws) == {"type": "pong"}

    @pytest.mark.parametrize("case", REFUSED_INIT_CASES)
    async def test_connection_init_without_a_valid_token_closes_4403(
        self, server: Server, factory: Factory, case: str
    ) -> None:
        payload = await refused_init_payload(case, factory)
        message: Message = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        async with open_socket(server) as ws:
            await send(ws, message)
            assert await closed(ws) == (4403, "Forbidden")

    async def test_user_deactivated_after_connecting_is_unauthenticated_on_the_next_operation(
        self, server: Server, client: GraphQLClient, factory: Factory
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        agent = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(agent))
            assert await execute(ws, "1", ME_ID) == {"data": {"me": {"id": gid(agent)}}, "extensions": priced(1)}

            data = await client.data(DEACTIVATE_USER, {"id": gid(agent)}, factory.token(admin))
            assert data["deactivateUser"] == {"user": {"active": False}, "userErrors": []}

            # The principal is loaded per operation, not once per connection.
            payload = await execute(ws, "2", ME_ID)
            assert payload["data"] == {"me": None}
            assert [e["extensions"]["code"] for e in payload["errors"]] == ["UNAUTHENTICATED"]

    async def test_subscribe_before_connection_init_closes_4401(self, server: Server) -> None:
        async with open_socket(server) as ws:
            await send(ws, subscribe("1", ME_ID))
            assert await closed(ws) == (4401, "Unauthorized")

    async def test_second_connection_init_closes_4429(self, server: Server, factory: Factory) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, {"type": "connection_init", "payload": bearer(factory.token(user))})
            assert await closed(ws) == (4429, "Too many initialisation requests")

    async def test_no_connection_init_in_time_closes_4408(self, database_url: str) -> None:
        impatient = Server(make_settings(database_url, ws_init_timeout_seconds=1))
        await impatient.start()
        try:
            async with open_socket(impatient) as ws:
                assert await closed(ws) == (4408, "Connection initialisation timeout")
        finally:
            await impatient.stop()

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param('{"type": "subscribe_all"}', id="unknown type"),
            pytest.param('{"id": "1"}', id="no type"),
            pytest.param("hello", id="not JSON"),
            pytest.param(b'{"type": "ping"}', id="binary frame"),
            pytest.param("[1, 2]", id="JSON array"),
            pytest.param("null", id="JSON null"),
            pytest.param('{"type": "subscribe", "id": "1"}', id="subscribe without payload"),
            pytest.param('{"type": "subscribe", "id": "1", "payload": "query { me { id } }"}', id="payload a string"),
            pytest.param('{"type": "subscribe", "id": ["1"], "payload": {"query": "{ me { id } }"}}', id="id a list"),
        ],
    )
    async def test_invalid_message_closes_4400(self, server: Server, factory: Factory, raw: str | bytes) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await ws.send(raw)
            code, _ = await closed(ws)
            assert code == 4400

    @pytest.mark.parametrize(
        ("query", "reason"),
        [
            pytest.param(UNPARSABLE, "Syntax Error: Expected Name, found <EOF>.", id="syntax error"),
            pytest.param(OVER_TOKEN_LIMIT, "Syntax Error: Document contains more than", id="over the token limit"),
        ],
    )
    async def test_unparsable_document_closes_4400(
        self, server: Server, factory: Factory, query: str, reason: str
    ) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, subscribe("1", query))
            code, sent_reason = await closed(ws)
            assert code == 4400
            assert sent_reason.startswith(reason)

    async def test_invalid_document_gets_an_error_and_the_socket_stays_open(
        self, server: Server, factory: Factory
    ) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, subscribe("1", UNKNOWN_FIELD))
            error = await receive(ws)
            assert (error["type"], error["id"]) == ("error", "1"), error
            [problem] = error["payload"]
            assert problem["message"].startswith("Cannot query field 'nope' on type 'User'.")
            assert await execute(ws, "2", ME_ID) == {"data": {"me": {"id": gid(user)}}, "extensions": priced(1)}

    async def test_operation_name_matching_no_operation_closes_4400(self, server: Server, factory: Factory) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": ME_ID, "operationName": "Other"}})
            assert await closed(ws) == (4400, 'Unknown operation named "Other".')

    async def test_unexpected_error_is_masked_and_logged(
        self, server: Server, factory: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def broken(ctx: Context) -> Principal | None:
            raise RuntimeError("connection string with a password in it")

        user = await factory.user()
        monkeypatch.setattr(resolvers.lifecycle, "principal_of", broken)
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))  # connection_init loads the principal in cartera.ws: unaffected
            await send(ws, subscribe("1", ME_ID))
            error = await receive(ws)
        assert (error["type"], error["id"]) == ("error", "1"), error
        [problem] = error["payload"]
        request_id = problem["extensions"]["requestId"]
        assert problem == {
            "message": f"Unexpected error (request id {request_id})",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        }
        logged = [r for r in caplog.records if r.name == "cartera.graphql" and r.levelname == "ERROR"]
        assert [(r.getMessage(), getattr(r, "request_id", None)) for r in logged] == [("unexpected error", request_id)]

    async def test_duplicate_id_while_the_first_runs_closes_4409(
        self, server: Server, factory: Factory, gate: Gate
    ) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, subscribe("1", ME_ID))
            await gate.wait_entered()  # operation 1 is registered and held at its start
            await send(ws, subscribe("1", ME_ID))
            assert await closed(ws) == (4409, "Subscriber for 1 already exists")

    async def test_complete_from_the_client_cancels_a_running_operation(
        self, server: Server, factory: Factory, gate: Gate
    ) -> None:
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            await send(ws, subscribe("1", ME_ID))
            await gate.wait_entered()
            await send(ws, {"id": "1", "type": "complete"})
            gate.opened.set()
            # Operation 1 sends nothing more; the next message on the socket is operation 2's.
            assert await execute(ws, "2", ME_ID) == {"data": {"me": {"id": gid(user)}}, "extensions": priced(1)}


# --- the handshake -------------------------------------------------------------------------------


class TestHandshake:
    @pytest.mark.parametrize("offered", [[Subprotocol("foo")], None], ids=["unknown subprotocol", "no subprotocol"])
    async def test_unsupported_subprotocol_closes_4406(self, server: Server, offered: list[Subprotocol] | None) -> None:
        # Strawberry accepts the handshake without choosing a subprotocol, then closes the socket.
        async with connect(server.ws_url, subprotocols=offered) as ws:
            assert ws.subprotocol is None
            assert await closed(ws) == (4406, "Subprotocol not acceptable")

    async def test_page_on_another_origin_is_refused(self, server: Server) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("https://evil.example")):
                pass
        assert refused.value.response.status_code == 403


# --- legacy graphql-ws ---------------------------------------------------------------------------


class TestLegacyGraphQLWS:
    async def test_start_with_a_query_is_refused_as_not_a_subscription(self, server: Server, factory: Factory) -> None:
        """Strawberry's graphql-ws handler runs subscriptions only; there is no subscription field yet."""
        user = await factory.user()
        async with open_socket(server, LEGACY_WS) as ws:
            await init(ws, factory.token(user))
            await send(ws, {"id": "1", "type": "start", "payload": {"query": ME_ID}})
            assert await receive(ws) == {"id": "1", "type": "error", "payload": {"message": "queries are not allowed"}}
            await send(ws, {"type": "connection_terminate"})
            assert await closed(ws) == (1000, "")

    async def test_start_before_connection_init_closes_4401(self, server: Server) -> None:
        async with open_socket(server, LEGACY_WS) as ws:
            await send(ws, {"id": "1", "type": "start", "payload": {"query": ME_ID}})
            assert await closed(ws) == (4401, "Unauthorized")

    @pytest.mark.parametrize("case", REFUSED_INIT_CASES)
    async def test_connection_init_without_a_valid_token_gets_connection_error_then_close(
        self, server: Server, factory: Factory, case: str
    ) -> None:
        payload = await refused_init_payload(case, factory)
        message: Message = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        async with open_socket(server, LEGACY_WS) as ws:
            await send(ws, message)
            error = await receive(ws)
            reason = (
                "This user cannot sign in"
                if case in {"unknown user", "deactivated user"}
                else "A valid bearer token is required in connection_init"
            )
            assert error == {"type": "connection_error", "payload": {"message": reason}}
            # Strawberry closes a refused graphql-ws connection with 1011 (internal error).
            assert await closed(ws) == (1011, "")

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param("[1, 2]", id="JSON array"),
            pytest.param('{"type": "start", "id": "1", "payload": "query { me { id } }"}', id="payload a string"),
            pytest.param('{"type": "start", "payload": {"query": "query { me { id } }"}}', id="start without id"),
        ],
    )
    async def test_malformed_message_closes_1002(self, server: Server, factory: Factory, raw: str) -> None:
        user = await factory.user()
        async with open_socket(server, LEGACY_WS) as ws:
            await init(ws, factory.token(user))
            await ws.send(raw)
            assert await closed(ws) == (1002, "Failed to parse message")
