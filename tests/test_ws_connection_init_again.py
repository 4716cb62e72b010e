"""A legacy graphql-ws socket may send connection_init again (a newer token): it stays one live connection.

Strawberry runs on_ws_connect for every connection_init of graphql-ws; graphql-transport-ws
closes the socket on a second one (4429, tests/test_ws.py). Presence (R4) counts a user's live
connections, so a row per connection_init would keep the user ONLINE after the socket closed,
until the heartbeat sweep buried the extra rows.
"""

from __future__ import annotations

from sqlalchemy import select

from db.models import LiveConnection, Role
from tests.conftest import Server
from tests.factories import Factory
from tests.ws import LEGACY_WS, init, open_socket


async def _live_connections(factory: Factory) -> list[tuple[str, int]]:
    async with factory.sessionmaker() as session:
        return [tuple(row) for row in (await session.execute(select(LiveConnection.id, LiveConnection.user_id))).all()]


async def test_a_second_connection_init_keeps_one_live_connection(server: Server, factory: Factory) -> None:
    user = await factory.user()
    async with open_socket(server, LEGACY_WS) as ws:
        await init(ws, factory.token(user, ttl_seconds=60))
        [first] = await _live_connections(factory)
        await init(ws, factory.token(user, ttl_seconds=3600))
        # The same row: closing the socket removes the one it holds.
        assert await _live_connections(factory) == [first]
        assert first[1] == user.id


async def test_a_connection_init_for_another_user_moves_the_live_connection(server: Server, factory: Factory) -> None:
    first_user = await factory.user()
    second_user = await factory.user(Role.SUPERVISOR)
    async with open_socket(server, LEGACY_WS) as ws:
        await init(ws, factory.token(first_user))
        await init(ws, factory.token(second_user))
        # The socket now acts for the second user only: the first one's connection is closed.
        assert [user_id for _, user_id in await _live_connections(factory)] == [second_user.id]
