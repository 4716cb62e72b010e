"""With introspection off (CARTERA_INTROSPECTION=false), no error names what introspection would show.

graphql-core answers a misspelling with "Did you mean ...?", listing the schema's fields,
arguments, types and enum values nearest to it: anyone, signed in or not, could read the
schema out of those. With introspection off they are left out, in validation and in the
coercion of variables alike, over HTTP and over WebSocket; with it on they stay, for
developers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from db.models import Role
from tests.conftest import GraphQLClient, Server, running
from tests.factories import Factory, nothing_written
from tests.ws import init, open_socket, receive, send, subscribe

# A misspelt document, its variables, and the names a suggestion would reveal (none of them is in the document).
MISSPELLINGS = [
    pytest.param("{ contactz { totalCount } }", None, ["contacts"], id="field"),
    pytest.param("{ me { id nme } }", None, ["name"], id="nested field"),
    pytest.param('{ node(id: "x") { email } }', None, ["User"], id="field of an interface"),
    pytest.param('mutation { createTeem(input: {name: "x"}) { team { id } } }', None, ["createTeam"], id="mutation"),
    pytest.param("{ contacts(frist: 1) { totalCount } }", None, ["first"], id="argument"),
    pytest.param(
        "query ($f: ContactFiltr) { contacts(filter: $f) { totalCount } }", None, ["ContactFilter"], id="variable type"
    ),
    pytest.param("{ me { ...f } } fragment f on Usr { id }", None, ["User"], id="fragment type"),
    pytest.param("{ me { ... on Usr { id } } }", None, ["User"], id="inline fragment type"),
    pytest.param("{ users(orderBy: {field: NAM}) { totalCount } }", None, ["NAME"], id="enum value"),
    pytest.param('{ contacts(filter: {serch: "x"}) { totalCount } }', None, ["search"], id="input field"),
    pytest.param(
        "query ($o: UserOrder) { users(orderBy: $o) { totalCount } }",
        {"o": {"field": "NAM"}},
        ["NAME"],
        id="enum value in variables",
    ),
    pytest.param(
        "query ($f: ContactFilter) { contacts(filter: $f) { totalCount } }",
        {"f": {"serch": "x"}},
        ["search"],
        id="input field in variables",
    ),
]
# Each over both transports; a subscription over WebSocket only (HTTP refuses one before validating it).
CASES = [
    *[
        pytest.param(transport, *case.values, id=f"{transport} {case.id}")
        for transport in ("http", "ws")
        for case in MISSPELLINGS
    ],
    pytest.param("ws", "subscription { inbx { id } }", None, ["inbox"], id="ws subscription"),
]


def suggested(messages: list[str], names: list[str]) -> list[str]:
    """The messages that make a suggestion or name any of `names`."""
    return [m for m in messages if "Did you mean" in m or any(f"'{name}'" in m for name in names)]


@pytest.fixture(scope="module")
async def hidden(database_url: str) -> AsyncIterator[Server]:
    # As the session's server: no relay acting on other tests' rows.
    async with running(database_url, introspection=False, relay_seconds=3600) as (server, _):
        yield server


async def http_errors(server: Server, document: str, variables: dict[str, Any] | None) -> list[str]:
    """The error messages of an anonymous request."""
    client = GraphQLClient(server)
    try:
        body = await client.gql(document, variables)
    finally:
        await client.http.aclose()
    assert "data" not in body or body["data"] is None, body
    return [e["message"] for e in body["errors"]]


async def ws_errors(server: Server, token: str, document: str, variables: dict[str, Any] | None) -> list[str]:
    """The error messages an operation over graphql-transport-ws ends with."""
    async with open_socket(server) as ws:
        await init(ws, token)
        await send(ws, subscribe("1", document, variables))
        message = await receive(ws)
    if message["type"] == "next":
        errors = message["payload"]["errors"]
    else:
        assert message["type"] == "error", message
        errors = message["payload"]
    return [e["message"] for e in errors]


@pytest.fixture(params=[False, True], ids=["introspection off", "introspection on"])
def endpoint(request: pytest.FixtureRequest, hidden: Server, server: Server) -> tuple[Server, bool]:
    """A server with introspection off, or the default one (on), and which it is."""
    introspection: bool = request.param
    return (server if introspection else hidden), introspection


def assert_suggestions(messages: list[str], names: list[str], introspection: bool) -> None:
    assert messages
    if introspection:
        # For developers: every error suggests, so the cases above are ones that would leak.
        assert all("Did you mean" in m for m in messages), messages
        assert suggested(messages, names) == messages
    else:
        assert suggested(messages, names) == []


@pytest.mark.parametrize(("transport", "document", "variables", "names"), CASES)
async def test_misspellings(
    endpoint: tuple[Server, bool],
    factory: Factory,
    transport: str,
    document: str,
    variables: dict[str, Any] | None,
    names: list[str],
) -> None:
    server, introspection = endpoint
    if transport == "http":
        messages = await http_errors(server, document, variables)
    else:
        admin = await factory.user(Role.ADMIN)
        messages = await ws_errors(server, factory.token(admin), document, variables)
    assert_suggestions(messages, names, introspection)
    await nothing_written(factory)
