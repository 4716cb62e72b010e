"""CORS for HTTP (/graphql, /graphql/stream, /attachments/{id}, /files/{id}): pages on
CARTERA_ALLOWED_ORIGINS, the origins WebSockets accept too (cartera.ws), may call the API; any other
origin gets no CORS header.

No credentials mode (`Access-Control-Allow-Credentials` is never sent): the API reads a bearer token
from the Authorization header, which a page sets itself and a cross-origin fetch carries without it;
cookies, the ambient credentials credentials mode would let an allowed origin's page spend, are
neither set nor read. It also keeps `*` usable as "any origin", as it is for WebSockets.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Send
from strawberry.http.websocket_origin import normalize_allowed_origins

from resolvers.attachments import CSRF_HEADER
from services.settings import Settings

# What the API's own clients and the stock ones send beyond the CORS-safelisted headers:
# Apollo Client names itself with apollographql-client-*; apollo-upload-client sends multipart
# with the CSRF header an app adds; graphql-sse's single-connection mode sends its stream token,
# a fetch-based event stream resumes with Last-Event-ID; traceparent/tracestate are W3C trace
# context (OpenTelemetry's browser fetch instrumentation); x-cartera-read asks for strawberry's answer.
# (Starlette always allows the safelisted ones, Content-Type and Accept among them, whatever their value.)
ALLOWED_HEADERS = (
    "authorization",
    CSRF_HEADER.lower(),
    "x-request-id",
    "x-cartera-read",
    "apollographql-client-name",
    "apollographql-client-version",
    "x-graphql-event-stream-token",
    "last-event-id",
    "traceparent",
    "tracestate",
)
# What a page may read: the request id to quote in a report, a download's file name.
EXPOSED_HEADERS = ("x-request-id", "content-disposition")
# Chromium caps a cached preflight at 7200 s (Firefox at 86400): two hours, one preflight per
# endpoint and header set in that time.
PREFLIGHT_MAX_AGE = 7200


class _CORS(CORSMiddleware):
    """Starlette's, saying nothing to an origin it refuses: its refused preflight still lists the
    allowed methods and headers, and every response to a request with an Origin, allowed or not,
    names the exposed headers."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(request_headers["origin"]):
            return PlainTextResponse("Disallowed CORS origin", status_code=400, headers={"vary": "Origin"})
        return super().preflight_response(request_headers)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if message["type"] == "http.response.start" and origin is not None and not self.is_allowed_origin(origin):
            message.setdefault("headers", [])
            MutableHeaders(scope=message).add_vary_header("Origin")
            await send(message)
            return
        await super().send(message, send, request_headers)


def install(app: Starlette, settings: Settings) -> None:
    """The outermost middleware (added last): a preflight is answered before anything else runs."""
    # Normalised as the WebSocket check normalises them (lower case, no default port), which is
    # how browsers write Origin: one setting, the same origins on both transports.
    origins = sorted(normalize_allowed_origins(settings.allowed_origins))
    app.add_middleware(
        _CORS,
        allow_origins=origins,
        allow_methods=("GET", "POST", "OPTIONS"),
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=False,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
