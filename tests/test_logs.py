"""What the log lines carry (cartera/http.py, cartera/sessions.py, cartera/downloads.py), read with caplog
from the running app: who asked, from where, which operation; WebSocket sessions; downloads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from db.models import Role
from tests.conftest import GraphQLClient, Server, eventually, post_query, running
from tests.factories import Factory
from tests.test_gestion_attachments import _world as attachment_world
from tests.uploads import PNG, payload, upload
from tests.ws import LEGACY_WS, TRANSPORT_WS, bearer, closed, init, open_socket, receive, send, subscribe

pytestmark = pytest.mark.one_path("reads the log lines of each request, once")

ME = "query LogMe { me { id } }"
INBOX = "subscription LogInbox { inbox { id } }"


def lines(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


def fields(record: logging.LogRecord, *names: str) -> dict[str, Any]:
    return {name: getattr(record, name, "<missing>") for name in names}


async def test_request_line_names_user_client_and_operation(
    client: GraphQLClient, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await factory.user(Role.ADMIN)
    caplog.set_level(logging.INFO, logger="cartera.request")

    signed_in = await post_query(client.http, ME, token=factory.token(admin))
    anonymous = await post_query(client.http, "query LogAnonymous { __typename }")

    assert signed_in.status_code == anonymous.status_code == 200
    first, second = lines(caplog, "graphql request")
    assert fields(first, "operation", "user_id", "client", "outcome", "status") == {
        "operation": "LogMe",
        "user_id": admin.id,
        "client": "127.0.0.1",
        "outcome": "ok",
        "status": 200,
    }
    assert first.request_id == signed_in.headers["x-request-id"]  # type: ignore[attr-defined]
    assert isinstance(first.statements, int)  # type: ignore[attr-defined]
    assert fields(second, "operation", "user_id", "client") == {
        "operation": "LogAnonymous",
        "user_id": None,
        "client": "127.0.0.1",
    }


async def test_websocket_session_and_its_subscriptions(
    server: Server, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await factory.user(Role.AGENT)
    caplog.set_level(logging.INFO, logger="cartera.ws")
    feed = server.app.state.hub.feed
    inboxes = feed.inbox_count

    async with open_socket(server) as ws:
        await init(ws, factory.token(agent))
        await send(ws, subscribe("sub-1", INBOX))
        await eventually(lambda: feed.inbox_count > inboxes, "the subscription was not registered")
        await send(ws, {"id": "sub-1", "type": "complete"})
        await eventually(lambda: feed.inbox_count == inboxes, "the subscription did not end")
        await ws.close(code=4321, reason="bye")
    await eventually(lambda: bool(lines(caplog, "websocket closed")), "no close line")

    (opened,) = lines(caplog, "websocket opened")
    assert fields(opened, "user_id", "client", "subprotocol") == {
        "user_id": agent.id,
        "client": "127.0.0.1",
        "subprotocol": "graphql-transport-ws",
    }
    (started,) = lines(caplog, "websocket operation started")
    (ended,) = lines(caplog, "websocket operation ended")
    expected = {"operation_id": "sub-1", "operation": "LogInbox", "user_id": agent.id}
    assert fields(started, *expected) == expected
    assert fields(ended, *expected) == expected
    assert ended.duration_s >= 0  # type: ignore[attr-defined]
    (closing,) = lines(caplog, "websocket closed")
    assert fields(closing, "user_id", "client", "subprotocol", "code") == {
        "user_id": agent.id,
        "client": "127.0.0.1",
        "subprotocol": "graphql-transport-ws",
        "code": 4321,
    }
    assert closing.duration_s >= 0  # type: ignore[attr-defined]


async def test_websocket_closed_by_the_server_and_legacy_operations(
    server: Server, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await factory.user(Role.AGENT)
    caplog.set_level(logging.INFO, logger="cartera.ws")
    feed = server.app.state.hub.feed
    inboxes = feed.inbox_count

    async with open_socket(server) as ws:
        await send(ws, {"type": "connection_init", "payload": bearer("not-a-token")})
        assert (await closed(ws))[0] == 4403
    async with connect(server.ws_url, subprotocols=[LEGACY_WS]) as legacy:
        await send(legacy, {"type": "connection_init", "payload": bearer(factory.token(agent))})
        assert (await receive(legacy))["type"] == "connection_ack"
        await send(legacy, {"id": "q1", "type": "start", "payload": {"query": INBOX, "operationName": "LogInbox"}})
        await eventually(lambda: feed.inbox_count > inboxes, "the subscription was not registered")
        await send(legacy, {"id": "q1", "type": "stop"})
        assert await receive(legacy) == {"id": "q1", "type": "complete"}
    await eventually(lambda: len(lines(caplog, "websocket closed")) == 2, "not both close lines")

    refused, legacy_closed = lines(caplog, "websocket closed")
    assert fields(refused, "user_id", "code", "subprotocol") == {
        "user_id": None,
        "code": 4403,
        "subprotocol": TRANSPORT_WS,
    }
    assert fields(legacy_closed, "user_id", "subprotocol") == {"user_id": agent.id, "subprotocol": LEGACY_WS}
    (opened,) = lines(caplog, "websocket opened")
    assert opened.subprotocol == LEGACY_WS  # type: ignore[attr-defined]
    (started,) = lines(caplog, "websocket operation started")
    assert fields(started, "operation_id", "operation") == {"operation_id": "q1", "operation": "LogInbox"}
    assert len(lines(caplog, "websocket operation ended")) == 1


async def test_download_lines(
    database_url: str, server: Server, factory: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(database_url, attachments_dir=str(tmp_path / "attachments"), relay_seconds=3600) as (_, client):
        world = await attachment_world(factory)
        token = factory.token(world.agent)
        attachment = payload(await upload(client, token, world.gestion_gid))["attachment"]
        caplog.set_level(logging.INFO, logger="cartera.downloads")

        ok = await client.http.get(attachment["url"], headers={"authorization": f"Bearer {token}"})
        missing = await client.http.get("/attachments/999999", headers={"authorization": f"Bearer {token}"})
        anonymous = await client.http.get(attachment["url"])

    assert (ok.status_code, missing.status_code, anonymous.status_code) == (200, 404, 401)
    pk = int(attachment["url"].rsplit("/", 1)[1])
    names = ("what", "id", "user_id", "status", "bytes")
    assert [fields(r, *names) for r in lines(caplog, "download")] == [
        {"what": "attachment", "id": pk, "user_id": world.agent.id, "status": 200, "bytes": len(PNG)},
        {
            "what": "attachment",
            "id": 999999,
            "user_id": world.agent.id,
            "status": 404,
            "bytes": len(b"Attachment not found"),
        },
        {"what": "attachment", "id": pk, "user_id": None, "status": 401, "bytes": len(anonymous.content)},
    ]
    assert lines(caplog, "download")[0].complete is True  # type: ignore[attr-defined]
