"""GraphQL over WebSocket on /graphql: graphql-transport-ws, and legacy graphql-ws.

Strawberry runs both protocols; this view supplies the context and authentication.
Both protocols refuse any operation before an acknowledged connection_init
(4401 / close), and connection_init must carry a valid bearer token (4403).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from cartera import wire
from schema.context import AppState, Context
from services.auth import bearer, verify_token
from services.principal import load_principal

log = logging.getLogger("cartera.ws")

# Strawberry's handlers trust a message's shape (the transport one catches a missing key, the
# legacy one nothing): JSON that is not an object, or an id or payload of the wrong type, raised
# out of the connection handler, dropping the socket without a close frame and logging a traceback.


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle(self) -> None:
        await _serve(self.context, self.websocket.close, super().handle, unusable_json=4400)

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        except TypeError:
            await self.handle_invalid_message("Failed to parse message")


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle(self) -> None:
        await _serve(self.context, self.websocket.close, super().handle, unusable_json=1002)

    async def handle_message(self, message: OperationMessage) -> None:
        try:
            await super().handle_message(message)
        except (KeyError, TypeError):
            await self.websocket.close(code=1002, reason="Failed to parse message")


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
        return Context(app=self.app, request_id=uuid.uuid4().hex, transport="ws")

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        token = bearer(raw) if isinstance(raw, str) else None
        verified = verify_token(token, secret_key=self.app.settings.secret_key) if token else None
        if verified is None:
            raise ConnectionRejectionError({"message": "A valid bearer token is required in connection_init"})
        async with self.app.sessionmaker() as session:
            principal = await load_principal(session, verified.user_id)
        if principal is None:
            raise ConnectionRejectionError({"message": "This user cannot sign in"})
        context.token_user_id = verified.user_id
        context.token_expires_at = verified.expires_at
        context.connection_id = await self.app.hub.connection_opened(verified.user_id)
        return None
