"""WebSocket sessions as an operator sees them: a log line when one signs in (user, client,
subprotocol), when one closes (close code, duration), and when each operation on it starts and
ends (id, name); the open-connections gauge.

The close code is read from the ASGI messages themselves: strawberry's adapter swallows the
client's disconnect (and its code), and the server closes from several places.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from graphql import GraphQLError, get_operation_ast, parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartera import metrics

log = logging.getLogger("cartera.ws")
# A document longer than this is left unnamed in the log rather than parsed for its name.
_MAX_TOKENS = 4000


@dataclass
class Session:
    client: str | None
    started: float
    subprotocol: str | None = None
    user_id: int | None = None
    code: int | None = None
    accepted: bool = False


# The socket this task serves; the protocol handler's tasks (one per operation) inherit it.
_session: ContextVar[Session | None] = ContextVar("cartera_ws_session", default=None)


class WebSocketSessions:
    """ASGI wrapper around the WebSocket endpoint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        session = Session(client=client[0] if client else None, started=time.monotonic())
        _session.set(session)

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect" and session.code is None:
                session.code = message.get("code", 1005)
            return message

        async def watched_send(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.accept":
                session.accepted = True
                session.subprotocol = message.get("subprotocol")
                metrics.WEBSOCKETS.inc()
            elif kind == "websocket.close" and session.code is None:
                session.code = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            if session.accepted:
                metrics.WEBSOCKETS.dec()
                log.info(
                    "websocket closed",
                    extra={
                        "user_id": session.user_id,
                        "client": session.client,
                        "subprotocol": session.subprotocol,
                        "code": session.code,
                        "duration_s": round(time.monotonic() - session.started, 3),
                    },
                )


def signed_in(user_id: int) -> None:
    """connection_init was accepted for this user (again, for a legacy client sending a newer token)."""
    session = _session.get()
    if session is None:
        return
    session.user_id = user_id
    log.info(
        "websocket opened",
        extra={"user_id": user_id, "client": session.client, "subprotocol": session.subprotocol},
    )


def _name(query: str, name: str | None) -> str | None:
    """The operation's name: the client's operationName, else the document's one operation's own."""
    if isinstance(name, str):
        return name[:100]
    try:
        # Once per operation, mostly long-lived subscriptions; strawberry bounds what it parses itself.
        found = get_operation_ast(parse(query, no_location=True, max_tokens=_MAX_TOKENS))
    except GraphQLError:
        return None
    return found.name.value if found is not None and found.name is not None else None


@contextmanager
def operation(operation_id: str, query: str, name: str | None) -> Iterator[None]:
    """Around one operation of a socket (a subscription, mostly): its start and end."""
    session = _session.get()
    fields = {
        "operation_id": operation_id[:100],
        "operation": _name(query, name),
        "user_id": session.user_id if session else None,
    }
    started = time.monotonic()
    log.info("websocket operation started", extra=fields)
    try:
        yield
    finally:
        log.info("websocket operation ended", extra={**fields, "duration_s": round(time.monotonic() - started, 3)})
