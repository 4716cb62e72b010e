"""GraphQL over WebSocket on /graphql: graphql-transport-ws, and legacy graphql-ws.

Strawberry runs both protocols; this view supplies the context and authentication.
Both protocols refuse any operation before an acknowledged connection_init
(4401 / close), and connection_init must carry a valid bearer token (4403). A connection
lives no longer than that token: at its expiry the socket closes with 4403, whatever runs
on it, and an operation asked for once it has expired is refused the same way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage as LegacyConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage, StopMessage

from cartera import sessions, wire
from db.base import utcnow
from resolvers.live import LAST_EVENT_ID
from schema.context import AppState, Context
from services.auth import bearer, verify_token
from subscriptions.feed import FORBIDDEN

log = logging.getLogger("cartera.ws")

TOKEN_EXPIRED = "The token expired: sign in again, then resume with inbox(after: <last id>)"
# When connection_init cannot reach the database. graphql-ws's client gives up for good on
# every 1000-1999 close code except 1000, 1001, 1005, 1006, 1012, 1013 and 1014 (1011, internal
# error, is fatal there) and on 4500; 1013 (Try Again Later) says what happened and makes a
# stock client reconnect with its back-off until the database is back.
TRY_AGAIN_LATER = 1013
UNAVAILABLE = "The service is unavailable: try again later"
# What a database that refuses or drops connections raises: the driver's socket error (a
# timeout included), SQLAlchemy's wrapping of it, or a pool with no connection to give in time.
DATABASE_UNAVAILABLE = (OSError, OperationalError, InterfaceError, PoolTimeoutError)

# Strawberry's handlers trust a message's shape (the transport one catches a missing key, the
# legacy one nothing): JSON that is not an object, or an id or payload of the wrong type, raised
# out of the connection handler, dropping the socket without a close frame and logging a traceback.
# What is not caught that way (a numeric id, a query that is not a string, variables that are not
# an object) was served or masked; _operation_problem checks what the protocols require.


class Unavailable(Exception):
    """connection_init could not be completed for want of the database: the client should retry."""


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle(self) -> None:
        await _serve(self.context, self.websocket.close, super().handle, unusable_json=4400)

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        except TypeError:
            await self.handle_invalid_message("Failed to parse message")

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unavailable:
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=UNAVAILABLE)
        else:
            _watch_expiry(self.context)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if (problem := _operation_problem(message)) is not None:
            await self.handle_invalid_message(problem)
        elif not await _refused_as_expired(self.context):
            await super().handle_subscribe(message)

    async def handle_complete(self, message: CompleteMessage) -> None:
        if not _is_operation_id(message.get("id")):
            await self.handle_invalid_message(_ID_PROBLEM)
        else:
            await super().handle_complete(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        with sessions.operation(operation.id, operation.query, operation.operation_name):
            await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle(self) -> None:
        await _serve(self.context, self.websocket.close, super().handle, unusable_json=1002)

    async def handle_message(self, message: OperationMessage) -> None:
        try:
            await super().handle_message(message)
        except (KeyError, TypeError):
            await self.websocket.close(code=1002, reason="Failed to parse message")

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unavailable:
            await self.send_message({"type": "connection_error", "payload": {"message": UNAVAILABLE}})
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=UNAVAILABLE)
        else:
            _watch_expiry(self.context)

    async def handle_start(self, message: StartMessage) -> None:
        if _operation_problem(message) is not None:
            await self._malformed()
        elif not await _refused_as_expired(self.context):
            await super().handle_start(message)

    async def handle_stop(self, message: StopMessage) -> None:
        if not _is_operation_id(message.get("id")):
            await self._malformed()
        else:
            await super().handle_stop(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        with sessions.operation(operation_id, query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)

    async def _malformed(self) -> None:
        await self.websocket.close(code=1002, reason="Failed to parse message")


_ID_PROBLEM = 'An operation\'s "id" must be a non-empty string'


def _is_operation_id(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _operation_problem(message: Mapping[str, Any]) -> str | None:
    """Why a subscribe (legacy: start) message is not one the protocol allows, or None.

    The rules graphql-ws's own server validates a subscribe message by.
    """
    if not _is_operation_id(message.get("id")):
        return _ID_PROBLEM
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return 'The "payload" must be an object'
    if not isinstance(payload.get("query"), str):
        return 'The "payload.query" must be a string'
    for key in ("variables", "extensions"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f'The "payload.{key}" must be an object or null'
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return 'The "payload.operationName" must be a string or null'
    return None


async def _refused_as_expired(context: Context) -> bool:
    """Close the socket if its token has expired: an operation asked for at the boundary,
    before the expiry timer has run, is refused too."""
    if context.token_expires_at is None or context.token_expires_at > utcnow():
        return False
    await _close(context, FORBIDDEN, TOKEN_EXPIRED)
    return True


def _watch_expiry(context: Context) -> None:
    """Once connection_init is acknowledged (not before: the ack must go out first), the
    connection's one timer, not one per operation. A legacy client may send connection_init
    again with a newer token: its expiry replaces the old one."""
    if context.token_expires_at is None:
        return
    if context.expiry is not None:
        context.expiry.cancel()
    context.expiry = asyncio.create_task(_close_at_expiry(context, context.token_expires_at))


async def _close_at_expiry(context: Context, expires_at: datetime) -> None:
    """At the token's expiry the socket closes, which ends every operation on it, a live `inbox` included."""
    await asyncio.sleep(max((expires_at - utcnow()).total_seconds(), 0))
    await _close(context, FORBIDDEN, TOKEN_EXPIRED)


async def _close(context: Context, code: int, reason: str) -> None:
    assert context.close_socket is not None
    # The socket may be closing already: its client left, or an inbox closed it.
    with suppress(RuntimeError, WebSocketDisconnect):
        await context.close_socket(code, reason)


async def _serve(
    context: Context,
    close: Callable[[int, str], Awaitable[None]],
    handle: Callable[[], Awaitable[None]],
    *,
    unusable_json: int,
) -> None:
    """Run a protocol handler: its subscriptions may close the socket, its end is recorded.

    A message cartera.wire refuses ends the handler's read loop (strawberry's adapter only turns
    a JSONDecodeError into its own "not JSON" close): the socket is closed here, saying why.
    """
    context.close_socket = close
    try:
        await handle()
    except wire.UnusableJSON as error:
        await close(unusable_json, _close_reason(str(error)))
    finally:
        if context.expiry is not None:
            context.expiry.cancel()
        await _connection_closed(context)


def _close_reason(text: str) -> str:
    # A close frame's reason holds at most 123 bytes of UTF-8.
    encoded = text.encode()
    return text if len(encoded) <= 123 else encoded[:120].decode(errors="ignore") + "…"


async def _connection_closed(context: Context) -> None:
    """The socket is gone: its user may go OFFLINE after the grace (R4)."""
    if context.connection_id is not None:
        connection_id, context.connection_id = context.connection_id, None
        try:
            await context.app.hub.connection_closed(connection_id)
        except Exception:
            # The heartbeat sweep buries it later.
            log.exception("could not record a closed connection")


class GraphQLWebSocket(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: BaseSchema, app: AppState) -> None:
        settings = app.settings
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_operations,
            allowed_origins=list(settings.allowed_origins),
        )
        self.app = app

    def decode_json(self, data: str | bytes) -> object:
        # Every message strawberry reads from a socket: the same reader as HTTP bodies.
        return wire.decode(data, max_depth=self.app.settings.max_json_depth)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        host = request.client.host if request.client else None
        return Context(app=self.app, request_id=uuid.uuid4().hex, transport="ws", client_host=host)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        token = bearer(raw) if isinstance(raw, str) else None
        verified = verify_token(token, secret_key=self.app.settings.secret_key) if token else None
        if verified is None:
            raise ConnectionRejectionError({"message": "A valid bearer token is required in connection_init"})
        try:
            principal = await self.app.principals.get(verified.user_id)
            if principal is not None:
                await self._live_connection(context, verified.user_id)
        except DATABASE_UNAVAILABLE as error:
            # One line, no traceback: every client retrying would log the same one again.
            log.warning("connection_init failed: the database is unavailable", extra={"error": repr(error)})
            raise Unavailable from None
        if principal is None:
            raise ConnectionRejectionError({"message": "This user cannot sign in"})
        context.token_user_id = verified.user_id
        context.token_expires_at = verified.expires_at
        sessions.signed_in(verified.user_id)
        # Checked by the inbox that resumes from it (resolvers.live), as `after` is.
        context.last_event_id = params.get(LAST_EVENT_ID)
        return None

    async def _live_connection(self, context: Context, user_id: int) -> None:
        """The socket's one row in live_connections. Strawberry runs on_ws_connect again for a legacy
        client's second connection_init (a newer token): the row stays when it names the same user,
        and moves when another, so none is left for the heartbeat sweep to bury."""
        if context.connection_id is not None:
            if context.token_user_id == user_id:
                return
            await _connection_closed(context)
        context.connection_id = await self.app.hub.connection_opened(user_id)
