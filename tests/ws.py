"""WebSocket helpers for the tests: graphql-transport-ws messages, and listening to the `inbox` subscription."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import Server, eventually

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
# Every wait on the server is bounded: a missing message fails the test instead of hanging it.
RECEIVE_TIMEOUT = 5

Message = dict[str, Any]


class Endpoint(Protocol):
    """Where to connect: the in-process Server, or a `cartera serve` process."""

    ws_url: str


@asynccontextmanager
async def open_socket(endpoint: Endpoint, protocol: Subprotocol = TRANSPORT_WS) -> AsyncIterator[ClientConnection]:
    async with connect(endpoint.ws_url, subprotocols=[protocol]) as ws:
        assert ws.subprotocol == protocol
        yield ws


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def send(ws: ClientConnection, message: Message) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> Message:
    async with asyncio.timeout(RECEIVE_TIMEOUT):
        raw = await ws.recv()
    message = json.loads(raw)
    assert isinstance(message, dict), message
    return message


async def closed(ws: ClientConnection) -> tuple[int, str]:
    """The code and reason of the close frame the server sends next; any message before it fails the test."""
    async with asyncio.timeout(RECEIVE_TIMEOUT):
        try:
            message = await ws.recv()
        except ConnectionClosed as exc:
            frame = exc.rcvd
        else:
            pytest.fail(f"expected the server to close the socket, got {message!r}")
    assert frame is not None, "the server dropped the connection without a close frame"
    return frame.code, frame.reason


async def init(ws: ClientConnection, token: str) -> None:
    """connection_init with a bearer token, acknowledged."""
    await send(ws, {"type": "connection_init", "payload": bearer(token)})
    ack = await receive(ws)
    assert ack["type"] == "connection_ack", ack


def subscribe(op_id: str, query: str, variables: dict[str, Any] | None = None) -> Message:
    return {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}


async def execute(ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any] | None = None) -> Message:
    """One query or mutation over graphql-transport-ws: the payload of its `next`, which `complete` follows."""
    await send(ws, subscribe(op_id, query, variables))
    result = await receive(ws)
    assert (result["type"], result["id"]) == ("next", op_id), result
    assert await receive(ws) == {"id": op_id, "type": "complete"}
    payload: Message = result["payload"]
    return payload


# --- the inbox subscription ----------------------------------------------------------------------

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
      ... on GestionesAssigned { assignment campaignName operatorId previousOperatorId gestionIds gestionCount }
      ... on GestionChanged { gestionChange gestionId gestionStatus resultCode operatorId }
      ... on CampaignChanged { campaignName campaignStatus }
      ... on ConversationChanged {
        conversationChange conversationId conversationStatus agentId previousAgentId teamId previousTeamId
      }
      ... on ConversationMessageAdded { conversationId direction authorName text }
      ... on AgentLoadChanged { userId openConversations }
      ... on NotificationAdded { notificationKind message }
      ... on SalesAttentionsChanged { attentionChange attentionIds attentionCount groupIds }
      ... on JobProgress { jobId jobKind jobStatus doneCount totalCount }
    }
  }
}
"""
# How long a test waits to be sure nothing more arrives.
QUIET = 1.0


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
async def listening(endpoint: Endpoint, token: str, after: str | None = None) -> AsyncIterator[Listener]:
    """An inbox subscription, yielded once nothing committed from then on can be missed.

    On the in-process Server that is once its feed holds the new inbox (and, on leaving, the
    inbox must be gone again). Another process cannot be looked into: there `after` is
    required, an event id from before subscribing, so the replay covers whatever commits
    before the inbox registers.
    """
    feed = endpoint.app.state.hub.feed if isinstance(endpoint, Server) else None
    if feed is None and after is None:
        raise TypeError("listening to another process needs `after`: its registration cannot be seen")
    async with open_socket(endpoint) as ws:
        await init(ws, token)
        inboxes = feed.inbox_count if feed is not None else 0
        await send(ws, subscribe("inbox", INBOX, {"after": after}))
        if feed is not None:
            await eventually(lambda: feed.inbox_count > inboxes, "the subscription was not registered")
        yield Listener(ws)
    if feed is not None:
        await eventually(lambda: feed.inbox_count <= inboxes, "the closed subscription was not unregistered")
