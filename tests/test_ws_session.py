"""A WebSocket connection's session: it ends with its token, refuses malformed operations, and
closes deliberately when connection_init cannot reach the database.

Both protocols: graphql-transport-ws runs queries, mutations and subscriptions; legacy graphql-ws
runs subscriptions only (test_ws.py), so over it an operation sent after the token expired is
closed 4403 before strawberry would refuse it as "not a subscription".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from websockets.typing import Subprotocol

import cartera.ws
from db.base import utcnow
from db.engine import create_engine
from db.models import Role
from tests.conftest import Server, running
from tests.factories import Factory, gid, nothing_written, priced
from tests.ws import (
    INBOX,
    LEGACY_WS,
    TRANSPORT_WS,
    Listener,
    Message,
    bearer,
    closed,
    init,
    open_socket,
    receive,
    send,
)

ME = "query { me { id role } }"
CREATE_TEAM = 'mutation { createTeam(input: {name: "Ventas"}) { team { id } userErrors { code } } }'
EXPIRED = (4403, "The token expired: sign in again, then resume with inbox(after: <last id>)")
PROTOCOLS = [pytest.param(TRANSPORT_WS, id="graphql-transport-ws"), pytest.param(LEGACY_WS, id="graphql-ws")]


def operation(protocol: Subprotocol, op_id: Any, payload: Any) -> Message:
    """A subscribe (legacy: start) message, as is: the tests send ids and payloads of any type."""
    return {"id": op_id, "type": "subscribe" if protocol == TRANSPORT_WS else "start", "payload": payload}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Move the clock cartera.ws reads ahead: to it the token has expired, though it still signs
    in (services.auth keeps the real time); a timer already running has not fired yet."""

    def advance(by: timedelta) -> None:
        moment = utcnow() + by

        def now() -> datetime:
            return moment

        monkeypatch.setattr(cartera.ws, "utcnow", now)

    return advance


class TestExpiry:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    async def test_the_socket_closes_with_4403_when_its_token_expires(
        self, server: Server, factory: Factory, clock: Callable[[timedelta], None], protocol: Subprotocol
    ) -> None:
        user = await factory.user()
        # Ahead before connection_init: the token is still valid to sign in with, and the timer
        # it starts finds its expiry already past, so the close comes at once.
        clock(timedelta(hours=2))
        async with open_socket(server, protocol) as ws:
            # Nothing runs on the socket (no inbox), and it closes anyway.
            await init(ws, factory.token(user, ttl_seconds=3600))
            assert await closed(ws) == EXPIRED

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    @pytest.mark.parametrize("document", [ME, CREATE_TEAM, INBOX], ids=["me", "createTeam", "inbox"])
    async def test_an_operation_sent_once_the_token_expired_closes_4403(
        self,
        server: Server,
        factory: Factory,
        clock: Callable[[timedelta], None],
        protocol: Subprotocol,
        document: str,
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        async with open_socket(server, protocol) as ws:
            await init(ws, factory.token(admin, ttl_seconds=3600))
            clock(timedelta(hours=2))
            await send(ws, operation(protocol, "1", {"query": document}))
            assert await closed(ws) == EXPIRED
        await nothing_written(factory)

    async def test_a_new_connection_init_on_a_legacy_socket_renews_its_expiry(
        self, server: Server, factory: Factory
    ) -> None:
        user = await factory.user()
        async with open_socket(server, LEGACY_WS) as ws:
            await init(ws, factory.token(user, ttl_seconds=2))
            await init(ws, factory.token(user, ttl_seconds=3600))
            # Past the first token's expiry the socket is still open.
            await Listener(ws).quiet(3)
            await send(ws, {"type": "connection_terminate"})
            assert await closed(ws) == (1000, "")


ID_PROBLEM = 'An operation\'s "id" must be a non-empty string'
# An id, a payload, and the reason graphql-transport-ws closes with.
MALFORMED = [
    pytest.param("1", {"query": 42}, 'The "payload.query" must be a string', id="query a number"),
    pytest.param("1", {"query": None}, 'The "payload.query" must be a string', id="query null"),
    pytest.param(1, {"query": CREATE_TEAM}, ID_PROBLEM, id="numeric id"),
    pytest.param("", {"query": CREATE_TEAM}, ID_PROBLEM, id="empty id"),
    pytest.param(None, {"query": CREATE_TEAM}, ID_PROBLEM, id="null id"),
    pytest.param(
        "1",
        {"query": CREATE_TEAM, "variables": [1]},
        'The "payload.variables" must be an object or null',
        id="variables a list",
    ),
    pytest.param(
        "1",
        {"query": CREATE_TEAM, "variables": "x"},
        'The "payload.variables" must be an object or null',
        id="variables a string",
    ),
    pytest.param(
        "1",
        {"query": CREATE_TEAM, "operationName": 5},
        'The "payload.operationName" must be a string or null',
        id="operationName a number",
    ),
    pytest.param(
        "1",
        {"query": CREATE_TEAM, "extensions": [1]},
        'The "payload.extensions" must be an object or null',
        id="extensions a list",
    ),
]


class TestMalformedOperations:
    @pytest.mark.parametrize(("op_id", "payload", "reason"), MALFORMED)
    async def test_a_malformed_subscribe_closes_4400(
        self, server: Server, factory: Factory, op_id: Any, payload: dict[str, Any], reason: str
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        async with open_socket(server) as ws:
            await init(ws, factory.token(admin))
            await send(ws, operation(TRANSPORT_WS, op_id, payload))
            assert await closed(ws) == (4400, reason)
        await nothing_written(factory)

    @pytest.mark.parametrize(("op_id", "payload", "reason"), MALFORMED)
    async def test_a_malformed_legacy_start_closes_1002(
        self, server: Server, factory: Factory, op_id: Any, payload: dict[str, Any], reason: str
    ) -> None:
        """As any message legacy graphql-ws cannot parse (test_ws.py): 1002, one reason for all."""
        admin = await factory.user(Role.ADMIN)
        async with open_socket(server, LEGACY_WS) as ws:
            await init(ws, factory.token(admin))
            await send(ws, operation(LEGACY_WS, op_id, payload))
            assert await closed(ws) == (1002, "Failed to parse message")
        await nothing_written(factory)

    @pytest.mark.parametrize(
        ("protocol", "message", "expected"),
        [
            pytest.param(TRANSPORT_WS, {"id": 1, "type": "complete"}, 4400, id="complete"),
            pytest.param(LEGACY_WS, {"id": 1, "type": "stop"}, 1002, id="legacy stop"),
        ],
    )
    async def test_ending_an_operation_by_a_numeric_id_closes_the_socket(
        self, server: Server, factory: Factory, protocol: Subprotocol, message: Message, expected: int
    ) -> None:
        user = await factory.user()
        async with open_socket(server, protocol) as ws:
            await init(ws, factory.token(user))
            await send(ws, message)
            code, _ = await closed(ws)
        assert code == expected

    async def test_well_formed_optional_members_are_served(self, server: Server, factory: Factory) -> None:
        """The same members of the right types (or null) are accepted."""
        user = await factory.user()
        async with open_socket(server) as ws:
            await init(ws, factory.token(user))
            payload = {"query": ME, "variables": None, "operationName": None, "extensions": {}}
            await send(ws, operation(TRANSPORT_WS, "1", payload))
            result = await receive(ws)
            assert result == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"me": {"id": gid(user), "role": "AGENT"}}, "extensions": priced(1)},
            }


class TestDatabaseDown:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    async def test_connection_init_closes_1013_and_logs_one_line(
        self,
        database_url: str,
        factory: Factory,
        refusing_port: int,
        caplog: pytest.LogCaptureFixture,
        protocol: Subprotocol,
    ) -> None:
        user = await factory.user()
        refusing = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port}/cartera")
        try:
            async with running(database_url, relay_seconds=3600) as (server, _):
                # Started on the real database; from now on its operations' sessions are refused.
                server.app.state.cartera.sessionmaker.configure(bind=refusing)
                with caplog.at_level(logging.WARNING):
                    async with open_socket(server, protocol) as ws:
                        await send(ws, {"type": "connection_init", "payload": bearer(factory.token(user))})
                        if protocol == LEGACY_WS:
                            assert await receive(ws) == {
                                "type": "connection_error",
                                "payload": {"message": "The service is unavailable: try again later"},
                            }
                        assert await closed(ws) == (1013, "The service is unavailable: try again later")
        finally:
            await refusing.dispose()
        logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [(r.name, r.getMessage(), r.exc_info) for r in logged] == [
            ("cartera.ws", "connection_init failed: the database is unavailable", None)
        ]
