"""Both read paths, compared request by request (issue 24, point 4).

On PostgreSQL a query may be answered by the compiled path (resolvers/compiled.py: one
statement builds the JSON) or by strawberry. Every query a test sends through the harness's
HTTP client (`tests.conftest.GraphQLClient`, and `post_body`/`post_query` on its `http`) is
sent a second time with `x-cartera-read: strawberry`, and the two answers must be the same
bytes with the same status and media type; the test then sees the first answer as before.

The second request is a *shadow*: the server marks its handling (`in_shadow()`), so the
statements it sends are not in `count_sql`'s count and its log lines are not in `caplog`,
and a test's assertions read as if only its own request ran.

Which queries are sent twice (CARTERA_TEST_DIFFERENTIAL):
  compiled (default)  those the compiled path answered: a strawberry answer compared with
                      strawberry's checks nothing and would only double the run's time
  always              every query, whichever path answered: to price the hook, and to find
                      what strawberry itself answers differently twice in a row
  off                 none
A test that must not be doubled (it races requests on purpose, or counts what the server
does in a way the shadow would change) says so with `@pytest.mark.one_path("why")`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import httpx
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

READ_HEADER = "x-cartera-read"
# What a test sends to get strawberry's answer, as the differential tests do.
STRAWBERRY = {READ_HEADER: "strawberry"}
SHADOW_HEADER = "x-cartera-test-shadow"

MODES = ("compiled", "always", "off")
MODE = os.environ.get("CARTERA_TEST_DIFFERENTIAL") or "compiled"
assert MODE in MODES, f"CARTERA_TEST_DIFFERENTIAL={MODE!r}: one of {', '.join(MODES)}"

_shadow: ContextVar[bool] = ContextVar("cartera_test_shadow", default=False)
# Off for the test running now when it is marked one_path (conftest's autouse fixture).
enabled = True


def in_shadow() -> bool:
    """Whether the code running now serves a shadow request (the second of a pair)."""
    return _shadow.get()


def compiled(response: httpx.Response) -> bool:
    """Whether the compiled path answered this response (else strawberry did)."""
    return response.headers.get(READ_HEADER) == "compiled"


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def marking(app: ASGIApp) -> ASGIApp:
    """The app as the test server serves it: a shadow request is handled with in_shadow() true."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == SHADOW_HEADER.encode() for name, _ in scope["headers"]):
            token = _shadow.set(True)
            try:
                await app(scope, receive, send)
            finally:
                _shadow.reset(token)
        else:
            await app(scope, receive, send)

    return served


@lru_cache(maxsize=512)
def _is_query(document: str, operation_name: str | None) -> bool:
    try:
        parsed = parse(document)
    except GraphQLError:
        return False
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    # Ambiguous (several, none named) or absent: a request error either path gives alike, and not a read.
    return len(operations) == 1 and operations[0].operation is OperationType.QUERY


def query_request(request: httpx.Request) -> bool:
    """Whether the request sends one query operation to /graphql as JSON or GET (not multipart)."""
    if request.url.path != "/graphql" or READ_HEADER in request.headers:
        return False
    if request.method == "GET":
        params = parse_qs(request.url.query.decode(), keep_blank_values=True)
        query, name = params.get("query", [None])[0], params.get("operationName", [None])[0]
    elif request.method == "POST" and request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(request.content)
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        query, name = body.get("query"), body.get("operationName")
    else:
        return False
    return isinstance(query, str) and (name is None or isinstance(name, str)) and _is_query(query, name)


def shadow_of(request: httpx.Request, answered: httpx.Response) -> httpx.Request:
    """The same request, asking strawberry, under the request id the first answer was given
    (a masked error's message names it)."""
    headers = httpx.Headers(request.headers)
    headers[READ_HEADER] = "strawberry"
    headers[SHADOW_HEADER] = "1"
    if "x-request-id" in answered.headers:
        headers["x-request-id"] = answered.headers["x-request-id"]
    return httpx.Request(request.method, request.url, headers=headers, content=request.content)


def _pretty(content: bytes) -> list[str]:
    try:
        return json.dumps(json.loads(content), indent=2, ensure_ascii=False).splitlines()
    except ValueError:
        return content.decode(errors="replace").splitlines()


def _ids(content: bytes) -> set[str]:
    """The global ids an answer shows (every `id` field, whatever its alias or depth)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "id" and isinstance(inner, str):
                    found.add(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    with contextlib.suppress(ValueError):
        walk(json.loads(content))
    return found


def difference(first: httpx.Response, second: httpx.Response) -> str | None:
    """None when both answers are the same status, media type and bytes; else what differs,
    the decoded JSON as a diff, and first the rows the first answer shows that strawberry's
    hides (a visibility leak, the worst kind of difference)."""
    lines = []
    if first.content != second.content and (leaked := _ids(first.content) - _ids(second.content)):
        lines.append(f"VISIBILITY: the first answer shows ids strawberry's does not: {sorted(leaked)}")
    if first.status_code != second.status_code:
        lines.append(f"status {first.status_code} != {second.status_code}")
    if first.headers.get("content-type") != second.headers.get("content-type"):
        lines.append(f"content-type {first.headers.get('content-type')!r} != {second.headers.get('content-type')!r}")
    if first.content != second.content:
        diff = list(
            difflib.unified_diff(
                _pretty(first.content), _pretty(second.content), "first", "strawberry", lineterm="", n=2
            )
        )
        if diff:
            lines.extend(diff)
        else:
            pairs = enumerate(zip(first.content, second.content, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), min(len(first.content), len(second.content)))
            lines.append(f"same JSON, other bytes from byte {at}:")
            lines.append(f"  first      {first.content[max(at - 40, 0) : at + 80]!r}")
            lines.append(f"  strawberry {second.content[max(at - 40, 0) : at + 80]!r}")
    if not lines:
        return None
    path = "compiled" if compiled(first) else "strawberry"
    return f"the two read paths disagree (first answer: {path}):\n" + "\n".join(lines)


def assert_same(first: httpx.Response, second: httpx.Response, what: str = "") -> None:
    problem = difference(first, second)
    assert problem is None, f"{what}\n{problem}" if what else problem


class BothPaths(httpx.AsyncClient):
    """An HTTP client to a test server that sends each query through both read paths."""

    def __init__(self, has_compiler: Callable[[], bool], **kw: Any) -> None:
        super().__init__(**kw)
        self.has_compiler = has_compiler

    async def send(self, request: httpx.Request, **kw: Any) -> httpx.Response:
        response = await super().send(request, **kw)
        if kw.get("stream") or not enabled or MODE == "off":
            return response
        if MODE == "compiled" and not compiled(response):
            return response
        if not self.has_compiler() or not query_request(request):
            return response
        other = await super().send(shadow_of(request, response))
        sent = str(request.url) if request.method == "GET" else request.content[:2000].decode(errors="replace")
        assert_same(response, other, f"{request.method} {sent}")
        return response
