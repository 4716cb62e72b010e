"""GraphQL over Server-Sent Events on /graphql/stream: graphql-sse's "distinct connections mode".

For clients behind proxies that break WebSockets. One operation per request (a JSON POST, or a
GET with the query in the URL, as on /graphql), answered as `text/event-stream`: each result an
`event: next`, then `event: complete`; a query or mutation is one `next`. It runs the operation
the WebSocket runs (`schema.stream`: the same validation, depth, alias, token and cost limits,
lifecycle and `inbox`), authenticated as the WebSocket is: a valid bearer token on the request,
else 401. A user may hold at most CARTERA_WS_MAX_OPERATIONS streams open per process, the
operations one WebSocket may run at once (429 beyond).

Each inbox event's message carries `id: <the event's global id>`, so a client that reconnects
sends it back as Last-Event-ID (EventSource does by itself) and an inbox without `after` resumes
from it exactly as `inbox(after:)` does (resolvers.live). The stream ends as the WebSocket closes:
at the token's expiry or when its user may no longer sign in, a `next` with an UNAUTHENTICATED
error, then `complete`; when the inbox fell too far behind or the server shuts down, it ends with
no `complete`, so the client reconnects and resumes. An idle stream gets a comment line every
CARTERA_SSE_KEEPALIVE_SECONDS, so proxies keep it open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.schema import BaseSchema
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType

from cartera import wire
from cartera.http import JSON, MULTIPART, GraphQLRequest, RequestError, _parse, request_id_of, respond, result_payload
from cartera.ws import DATABASE_UNAVAILABLE, TOKEN_EXPIRED, UNAVAILABLE
from db.base import utcnow
from schema.context import AppState, Context
from schema.node import to_global_id
from services.auth import bearer, verify_token
from subscriptions.feed import FORBIDDEN

log = logging.getLogger("cartera.request")

EVENT_STREAM = "text/event-stream"
# A comment: sent first (some browsers wait for a first byte before they report the stream open)
# and as the keep-alive.
KEEPALIVE = ":\n\n"
# EventSource fires a listener only for a message with a data field, even an empty one.
COMPLETE = "event: complete\ndata:\n\n"


def _message(payload: dict[str, Any], event_id: int | None = None) -> str:
    # wire.encode escapes every line break inside strings: the JSON is one `data:` line.
    lines = ["event: next"]
    if event_id is not None:
        lines.append(f"id: {to_global_id('Event', event_id)}")
    lines.append("data: " + wire.encode(payload).decode())
    return "\n".join(lines) + "\n\n"


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _refusal(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"code": code}
    return respond({"errors": [error]}, JSON, status, headers)


def _accepts_event_stream(request: Request) -> bool:
    for part in request.headers.get("accept", "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if media.lower() == EVENT_STREAM and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            return True
    return False


@dataclass
class _Stream:
    """One request's operation: what the inbox said when it ended, and what the log line reports."""

    context: Context
    params: GraphQLRequest
    allowed: tuple[OperationType, ...]
    expires_at: datetime
    closing: tuple[int, str] | None = None
    results: int = 0
    outcome: str = "ok"
    started: float = field(default_factory=time.perf_counter)

    async def close(self, code: int, reason: str) -> None:
        # The inbox calls it, then returns: how the stream ends depends on why.
        self.closing = (code, reason)


class _EventStreamResponse(StreamingResponse):
    """Runs `finished` however the response ends: sent, cut off by the client, or never started."""

    def __init__(self, body: AsyncIterator[str], finished: Callable[[], None], headers: dict[str, str]) -> None:
        super().__init__(body, media_type=EVENT_STREAM, headers=headers)
        self.finished = finished

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.finished()


class GraphQLEventStream:
    def __init__(
        self, schema: BaseSchema, app: AppState, recall: Callable[[GraphQLRequest], Awaitable[GraphQLRequest]]
    ) -> None:
        self.schema = schema
        self.app = app
        # /graphql's persisted queries (GraphQLEndpoint.recall): a hash-only request runs the text kept there.
        self.recall = recall
        # Streams open per user in this process.
        self.open: Counter[int] = Counter()

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        response = await self._handle(request, request_id)
        response.headers["x-request-id"] = request_id
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        settings = self.app.settings
        if not _accepts_event_stream(request):
            return Response(f"Accept {EVENT_STREAM}", status_code=406, media_type="text/plain")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == MULTIPART:
            return _refusal(415, "Send the request as application/json: uploads go to /graphql")
        try:
            # Read exactly as /graphql reads it: body size, JSON depth, GET's parameters.
            params = await self.recall(await _parse(request, settings))
        except RequestError as error:
            # graphql-sse's own server answers a request it cannot read this way, before any stream.
            return _refusal(error.status if error.status != 200 else 400, str(error), error.code, error.headers)

        token = bearer(request.headers.get("authorization"))
        verified = verify_token(token, secret_key=settings.secret_key) if token else None
        if verified is None:
            return _refusal(401, "A valid bearer token is required", "UNAUTHENTICATED", {"www-authenticate": "Bearer"})
        try:
            principal = await self.app.principals.get(verified.user_id)
        except DATABASE_UNAVAILABLE as error:
            log.warning("stream refused: the database is unavailable", extra={"error": repr(error)})
            return _refusal(503, UNAVAILABLE, "SERVICE_UNAVAILABLE", {"retry-after": "5"})
        if principal is None:
            return _refusal(401, "This user cannot sign in", "UNAUTHENTICATED", {"www-authenticate": "Bearer"})
        user_id = verified.user_id
        if self.open[user_id] >= settings.ws_max_operations:
            message = f"At most {settings.ws_max_operations} open streams per user: close one first"
            return _refusal(429, message, "LIMIT_EXCEEDED")

        host = request.client.host if request.client else None
        # transport "http": the operation keeps the request's id, and this endpoint logs its line.
        context = Context(app=self.app, request_id=request_id, client_host=host)
        context.token_user_id = user_id
        context.token_expires_at = verified.expires_at
        context.last_event_id = request.headers.get("last-event-id") or None
        # GraphQL over HTTP: no mutation on a GET.
        get = request.method == "GET"
        allowed = (
            (OperationType.QUERY, OperationType.SUBSCRIPTION)
            if get
            else (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION)
        )
        stream = _Stream(context, params, allowed, verified.expires_at)
        context.close_socket = stream.close
        self.open[user_id] += 1

        def finished() -> None:
            self.open[user_id] -= 1
            if self.open[user_id] <= 0:
                del self.open[user_id]
            log.info(
                "graphql stream",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "operation": context.operation_name,
                    "status": 200,
                    "outcome": stream.outcome,
                    "results": stream.results,
                    "duration_ms": round((time.perf_counter() - stream.started) * 1000, 2),
                },
            )

        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        return _EventStreamResponse(self._events(stream), finished, headers)

    async def _events(self, stream: _Stream) -> AsyncIterator[str]:
        """The response body: what the operation sends, keep-alives while it is quiet, the end at expiry."""
        # One message in flight: a client that reads slowly holds the operation back, and the inbox's
        # own bounded queue decides when it is too far behind (SLOW_CONSUMER), as on a WebSocket.
        outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1)
        producer = asyncio.create_task(self._produce(stream, outbox), name="cartera-sse-operation")
        keepalive = self.app.settings.sse_keepalive_seconds
        try:
            yield KEEPALIVE
            while True:
                left = (stream.expires_at - utcnow()).total_seconds()
                if left <= 0:
                    stream.outcome = "expired"
                    yield _message(_error(TOKEN_EXPIRED, "UNAUTHENTICATED"))
                    yield COMPLETE
                    return
                try:
                    async with asyncio.timeout(min(keepalive, left)):
                        message = await outbox.get()
                except TimeoutError:
                    if stream.expires_at > utcnow():
                        yield KEEPALIVE
                    continue
                if message is None:
                    return
                yield message
        finally:
            # The client left (Starlette cancels this body) or the stream ended: the operation
            # stops, and with it its inbox. Shielded: a cancelled scope would cancel the wait too.
            producer.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(producer, return_exceptions=True)

    async def _produce(self, stream: _Stream, outbox: asyncio.Queue[str | None]) -> None:
        context, params = stream.context, stream.params
        try:
            results = await self.schema.stream(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=stream.allowed,
            )
            async with aclosing(results):
                async for result in results:
                    if not isinstance(result, ExecutionResult):
                        # @defer/@stream frames: this schema enables neither.
                        stream.outcome = "rejected"
                        await outbox.put(_message(_error("Incremental delivery is not supported", "BAD_USER_INPUT")))
                        break
                    await outbox.put(_message(self._payload(stream, result), context.delivered_event_id))
                    context.delivered_event_id = None
                    stream.results += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream operation failed", extra={"request_id": context.request_id})
            stream.outcome = "error"
            masked = f"Unexpected error (request id {context.request_id})"
            await outbox.put(_message(_error(masked, "INTERNAL_SERVER_ERROR")))
        if stream.closing is not None:
            code, reason = stream.closing
            if code != FORBIDDEN:
                # Too far behind, or the server is going away: no `complete`, so the client
                # connects again and its Last-Event-ID resumes the inbox.
                stream.outcome = f"closed {code}"
                await outbox.put(f": {reason}\n\n")
                await outbox.put(None)
                return
            stream.outcome = "forbidden"
            await outbox.put(_message(_error(reason, "UNAUTHENTICATED")))
        await outbox.put(COMPLETE)
        await outbox.put(None)

    def _payload(self, stream: _Stream, result: ExecutionResult) -> dict[str, Any]:
        # As over HTTP: nothing executed, no `data` entry.
        payload, outcome = result_payload(result, stream.context.request_id)
        if outcome != "ok":
            stream.outcome = outcome
        return payload
