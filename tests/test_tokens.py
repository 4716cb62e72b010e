"""Tokens signed with the server's own key whose claims are out of range or of the wrong kind.

Only this server can sign such a token (a bug, a leaked key, a hand-made one), so each is
refused the way a forged or expired token is: over HTTP the request runs anonymously and a
field that needs a user answers UNAUTHENTICATED; over WebSocket connection_init closes with
4403 (graphql-transport-ws) or gets connection_error and a close (legacy graphql-ws); never
a masked error, a 500 or a dropped socket.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from db.models import AuditEvent, LiveConnection, User
from tests.conftest import SECRET, GraphQLClient, Server
from tests.factories import Factory
from tests.ws import LEGACY_WS, bearer, closed, open_socket, receive, send

ME = "query { me { id } }"
SET_PRESENCE = "mutation { setPresence(status: ONLINE) { status userErrors { code } } }"
HOUR = 3600


def _claims(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": "cartera", "sub": str(user_id), "iat": now, "exp": now + HOUR}
    claims.update(overrides)
    return claims


# Each case overrides claims of an otherwise valid token for an active user (a function: of its id).
UNUSABLE = [
    pytest.param({"sub": str(2**70)}, id="sub 2^70"),
    pytest.param({"sub": str(2**63)}, id="sub past BIGINT"),
    pytest.param({"sub": "9" * 5000}, id="sub of 5000 digits"),
    pytest.param({"sub": "0"}, id="sub 0"),
    # Other spellings of the user's own id, which int() would take.
    pytest.param({"sub": lambda user_id: f"00{user_id}"}, id="sub with leading zeros"),
    pytest.param({"sub": lambda user_id: f"+{user_id}"}, id="sub with a sign"),
    pytest.param({"sub": lambda user_id: f" {user_id} "}, id="sub with spaces"),
    pytest.param({"sub": "-1"}, id="sub negative"),
    pytest.param({"sub": "1.5"}, id="sub a decimal string"),
    pytest.param({"sub": 1.5}, id="sub a float"),
    pytest.param({"sub": "ana"}, id="sub not a number"),
    pytest.param({"exp": 10**20}, id="exp 10^20"),
    pytest.param({"exp": 1e300}, id="exp a huge float"),
    pytest.param({"exp": float("inf")}, id="exp infinite"),
    pytest.param({"exp": -1}, id="exp negative"),
    pytest.param({"exp": "later"}, id="exp not a number"),
    pytest.param({"exp": "9" * 5000}, id="exp of 5000 digits"),
    pytest.param({"iat": 10**20}, id="iat 10^20"),
    pytest.param({"iat": float("inf")}, id="iat infinite"),
]


async def _token(factory: Factory, overrides: dict[str, Any]) -> str:
    user = await factory.user()
    claims = {name: value(user.id) if callable(value) else value for name, value in overrides.items()}
    return jwt.encode(_claims(user.id, **claims), SECRET, algorithm="HS256")


async def _nothing_written(factory: Factory, users: int) -> None:
    assert await factory.count(User) == users
    assert await factory.count(AuditEvent) == 0
    assert await factory.count(LiveConnection) == 0


class TestHTTP:
    @pytest.mark.parametrize("overrides", UNUSABLE)
    @pytest.mark.parametrize("document", [ME, SET_PRESENCE], ids=["query", "mutation"])
    async def test_an_unusable_token_is_unauthenticated(
        self, client: GraphQLClient, factory: Factory, overrides: dict[str, Any], document: str
    ) -> None:
        token = await _token(factory, overrides)
        body = await client.gql(document, token=token)
        # Root Query fields are nullable (a refused one is null beside the rest); a mutation's are not.
        assert body["data"] == ({"me": None} if document is ME else None)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
        assert error["message"] == "Sign in first: send a valid bearer token"
        await _nothing_written(factory, users=1)

    async def test_the_same_claims_in_range_are_served(self, client: GraphQLClient, factory: Factory) -> None:
        """The cases above differ from a usable token only in the claim they override."""
        user = await factory.user()
        token = jwt.encode(_claims(user.id), SECRET, algorithm="HS256")
        assert (await client.data(ME, token=token))["me"]["id"]


class TestWebSocket:
    @pytest.mark.parametrize("overrides", UNUSABLE)
    async def test_connection_init_with_an_unusable_token_closes_4403(
        self, server: Server, factory: Factory, overrides: dict[str, Any]
    ) -> None:
        token = await _token(factory, overrides)
        async with open_socket(server) as ws:
            await send(ws, {"type": "connection_init", "payload": bearer(token)})
            assert await closed(ws) == (4403, "Forbidden")
        await _nothing_written(factory, users=1)

    @pytest.mark.parametrize("overrides", UNUSABLE)
    async def test_legacy_connection_init_with_an_unusable_token_gets_connection_error(
        self, server: Server, factory: Factory, overrides: dict[str, Any]
    ) -> None:
        token = await _token(factory, overrides)
        async with open_socket(server, LEGACY_WS) as ws:
            await send(ws, {"type": "connection_init", "payload": bearer(token)})
            assert await receive(ws) == {
                "type": "connection_error",
                "payload": {"message": "A valid bearer token is required in connection_init"},
            }
            # As for any refused token (test_ws.py): strawberry closes a refused graphql-ws connection with 1011.
            assert await closed(ws) == (1011, "")
        await _nothing_written(factory, users=1)
