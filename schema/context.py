"""The request context: what every resolver may reach (ARCHITECTURE.md, "Request context").

A Context lives as long as an HTTP request or a WebSocket connection. What belongs
to one operation (session, principal, dataloaders) sits in a ContextVar, because
one WebSocket connection runs several operations at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.attachment_store import AttachmentStore
from services.errors import Unauthenticated
from services.principal import Principal, PrincipalCache
from services.settings import Settings
from services.sign_in_limits import SignInLimits

if TYPE_CHECKING:
    from schema.loaders import Loaders
    from subscriptions.hub import Hub


@dataclass(frozen=True)
class AppState:
    """Process-wide resources, built once by the composition root."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    hub: Hub
    # Where attachments' bytes live (G7): local disk unless create_app builds another store.
    attachments: AttachmentStore
    # Failed sign-ins per account and per client address, shared through Redis when configured.
    sign_ins: SignInLimits
    # Who each signed-in user is and what it sees, kept per process.
    principals: PrincipalCache
    # Sessions for query operations where they differ (PostgreSQL: autocommit, see cartera.app).
    reads: async_sessionmaker[AsyncSession] | None = None


@dataclass
class OperationState:
    session: AsyncSession
    principal: Principal | None
    loaders: Loaders


_operation: ContextVar[OperationState | None] = ContextVar("cartera_operation", default=None)


@dataclass
class Context:
    app: AppState
    request_id: str
    # The user id a verified token names; whether that user is still active is checked per operation.
    token_user_id: int | None = None
    # Set by strawberry from the WebSocket connection_init payload.
    connection_params: dict[str, Any] | None = None
    # When the token expires: the socket closes then (WebSocket only).
    token_expires_at: datetime | None = None
    # The timer that closes it (WebSocket only).
    expiry: asyncio.Task[None] | None = None
    # Closes the WebSocket with a code and reason (WebSocket; over SSE it ends the stream saying why).
    close_socket: Callable[[int, str], Awaitable[None]] | None = None
    # The last inbox event id the client says it saw, as it sent it: connection_init's `lastEventId`
    # (WebSocket) or the Last-Event-ID header (SSE). An inbox subscribed without `after` resumes from it.
    last_event_id: object = None
    # The id of the inbox event being delivered: SSE writes it as the message's `id:` (one
    # operation per stream, so one inbox per context there).
    delivered_event_id: int | None = None
    # The open WebSocket's row in live_connections (presence, R4).
    connection_id: str | None = None
    # The executed operation's name, for the request log line.
    operation_name: str | None = None
    # "http": the endpoint logs one line per request; "ws": the lifecycle logs one per operation.
    transport: str = "http"
    # The client's host as the server saw it; login turns it into the address failed sign-ins
    # count against (services.sign_in_limits.address_key), no other operation reads it.
    client_host: str | None = None
    # Set by the lifecycle: the operation is a query (it may run again, having changed nothing),
    # and a statement of it failed on a dead connection.
    reading: bool = False
    lost_connection: bool = False

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def operation(self) -> OperationState:
        state = _operation.get()
        if state is None:
            raise RuntimeError("no operation is running in this task")
        return state

    @property
    def session(self) -> AsyncSession:
        return self.operation.session

    @property
    def loaders(self) -> Loaders:
        return self.operation.loaders

    @property
    def principal(self) -> Principal:
        principal = self.operation.principal
        if principal is None:
            raise Unauthenticated("Sign in first: send a valid bearer token")
        return principal

    @property
    def principal_or_none(self) -> Principal | None:
        return self.operation.principal

    def act_as(self, principal: Principal) -> None:
        """After sign-in, the rest of the operation sees what the new user sees."""
        self.operation.principal = principal
        self.operation.loaders.act_as(principal)


def begin_operation(state: OperationState) -> Token[OperationState | None]:
    return _operation.set(state)


def end_operation(token: Token[OperationState | None]) -> None:
    _operation.reset(token)
