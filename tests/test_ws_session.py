"""A WebSocket connection's session: it ends with its token.

Both protocols: graphql-transport-ws runs queries, mutations and subscriptions; legacy graphql-ws
runs subscriptions only (test_ws.py), so over it an operation sent after the token expired is
closed 4403 before strawberry would refuse it as "not a subscription".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from websockets.typing import Subprotocol

import cartera.ws
from db.base import utcnow
from db.models import AuditEvent, Role, Team
from tests.conftest import Server
from tests.factories import Factory
from tests.ws import (
    INBOX,
    LEGACY_WS,
    TRANSPORT_WS,
    Listener,
    Message,
    closed,
    init,
    open_socket,
    send,
)

ME = "query { me { id role } }"
CREATE_TEAM = 'mutation { createTeam(input: {name: "Ventas"}) { team { id } userErrors { code } } }'
EXPIRED = (4403, "The token expired: sign in again, then resume with inbox(after: <last id>)")
PROTOCOLS = [pytest.param(TRANSPORT_WS, id="graphql-transport-ws"), pytest.param(LEGACY_WS, id="graphql-ws")]


def operation(protocol: Subprotocol, op_id: Any, payload: Any) -> Message:
    """A subscribe (legacy: start) message, as is: the tests send ids and payloads of any type."""
    return {"id": op_id, "type": "subscribe" if protocol == TRANSPORT_WS else "start", "payload": payload}


async def nothing_written(factory: Factory) -> None:
    assert await factory.count(Team) == 0
    assert await factory.count(AuditEvent) == 0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Move the clock cartera.ws reads ahead: the token has expired, its timer has not fired yet."""

    def advance(by: timedelta) -> None:
        moment = utcnow() + by

        def now() -> datetime:
            return moment

        monkeypatch.setattr(cartera.ws, "utcnow", now)

    return advance


class TestExpiry:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    async def test_the_socket_closes_with_4403_when_its_token_expires(
        self, server: Server, factory: Factory, protocol: Subprotocol
    ) -> None:
        user = await factory.user()
        async with open_socket(server, protocol) as ws:
            # Nothing runs on the socket (no inbox), and it closes anyway.
            await init(ws, factory.token(user, ttl_seconds=3))
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
            # Past the first token's expiry the socket is still open, and serves.
            await Listener(ws).quiet(3)
            await send(ws, operation(LEGACY_WS, "inbox", {"query": INBOX}))
            await Listener(ws).quiet()
            await send(ws, {"type": "connection_terminate"})
            assert await closed(ws) == (1000, "")
