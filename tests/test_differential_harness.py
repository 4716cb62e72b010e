"""The both-paths hook (tests/differential.py) is a real check: a compiled answer that differs
from strawberry's fails the test that asked, and one that agrees leaves the test's counts alone.

A stand-in compiler answers here, so these run on both backends, before the real compiler
covers anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from db.models import Role
from tests import differential
from tests.conftest import GraphQLClient, Server, StatementCounter, post_query
from tests.factories import Factory, gid

ME = "query Me { me { id name } }"
USERS = "{ users(first: 10) { nodes { id } } }"
CREATE_TEAM = 'mutation { createTeam(input: {name: "Nueva"}) { team { id } } }'


class Scripted:
    """A compiler that answers the documents it was given with the bytes given, and leaves any
    other to strawberry."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        # count_sql hands the compiler a listener for the statements it sends (none here).
        self.listeners: list[Any] = []

    async def run(self, context: Any, query: str, variables: Any, operation_name: str | None) -> bytes | None:
        self.asked.append(query)
        return self.answers.get(query)


@pytest.fixture
def scripted(server: Server) -> Iterator[Scripted]:
    endpoint = server.app.state.endpoint
    kept = endpoint.compiler
    endpoint.compiler = Scripted({})
    try:
        yield endpoint.compiler
    finally:
        endpoint.compiler = kept


def _as_compiled(strawberry_body: bytes) -> bytes:
    """What `run` returns for the endpoint to send strawberry's body byte for byte (the whole body)."""
    return strawberry_body


async def _strawberry(client: GraphQLClient, query: str, token: str) -> bytes:
    response = await client.post(query, token=token, headers=differential.STRAWBERRY)
    assert not differential.compiled(response)
    return response.content


async def _zoe_spelled(client: GraphQLClient, factory: Factory, scripted: Scripted, spelling: bytes) -> str:
    """A token of Zoë, whose `me` the compiler answers as strawberry does but for her name's bytes."""
    token = factory.token(await factory.user(name="Zoë"))
    right = await _strawberry(client, ME, token)
    scripted.answers[ME] = _as_compiled(right.replace("Zoë".encode(), spelling))
    return token


async def test_a_compiled_answer_unlike_strawberrys_fails_the_test(
    client: GraphQLClient, factory: Factory, scripted: Scripted
) -> None:
    token = await _zoe_spelled(client, factory, scripted, b"Zoe")
    with pytest.raises(AssertionError) as failure:
        await client.data(ME, token=token)
    message = str(failure.value)
    assert "the two read paths disagree (first answer: compiled)" in message
    lines = [line.replace(" ", "") for line in message.splitlines()]
    assert '-"name":"Zoe"' in lines
    assert '+"name":"Zoë"' in lines
    # post_query on the client's HTTP is checked alike.
    with pytest.raises(AssertionError, match="the two read paths disagree"):
        await post_query(client.http, ME, token=token)


async def test_a_row_strawberry_hides_is_named_first(
    client: GraphQLClient, factory: Factory, scripted: Scripted
) -> None:
    team = await factory.team("Norte")
    agent = await factory.user(Role.AGENT, teams=[team])
    hidden = await factory.user(Role.AGENT)
    token = factory.token(agent)
    right = await _strawberry(client, USERS, token)
    assert gid(hidden).encode() not in right
    scripted.answers[USERS] = _as_compiled(right.replace(b'"nodes":[', f'"nodes":[{{"id":"{gid(hidden)}"}},'.encode()))
    with pytest.raises(AssertionError) as failure:
        await client.data(USERS, token=token)
    assert f"VISIBILITY: the first answer shows ids strawberry's does not: ['{gid(hidden)}']" in str(failure.value)


async def test_the_same_json_in_other_bytes_is_a_difference(
    client: GraphQLClient, factory: Factory, scripted: Scripted
) -> None:
    token = await _zoe_spelled(client, factory, scripted, b"Zo\\u00eb")
    with pytest.raises(AssertionError, match="same JSON, other bytes from byte"):
        await client.data(ME, token=token)


async def test_an_agreeing_answer_counts_as_one_request(
    client: GraphQLClient,
    factory: Factory,
    scripted: Scripted,
    count_sql: StatementCounter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cartera.request")
    user = await factory.user(name="Zoë")
    token = factory.token(user)
    scripted.answers[ME] = _as_compiled(await _strawberry(client, ME, token))
    scripted.asked.clear()
    caplog.clear()
    before = count_sql.count

    response = await client.post(ME, token=token)

    assert differential.compiled(response)
    assert response.json()["data"] == {"me": {"id": gid(user), "name": "Zoë"}}
    # Strawberry answered the shadow: its statements are not the test's, nor its log line.
    assert scripted.asked == [ME]
    assert count_sql.count == before
    assert [r.request_id for r in caplog.records if r.name == "cartera.request"] == [response.headers["x-request-id"]]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries the hook compared, in order."""
    seen: list[str] = []
    check = differential.assert_same

    def recording(first: Any, second: Any, what: str = "") -> None:
        request = second.request
        sent = request.url.params["query"] if request.method == "GET" else json.loads(request.content)["query"]
        seen.append(sent)
        check(first, second, what)

    monkeypatch.setattr(differential, "assert_same", recording)
    return seen


async def test_a_strawberry_answer_is_sent_once_unless_asked_always(
    client: GraphQLClient, factory: Factory, scripted: Scripted, compared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = factory.token(await factory.user())
    await client.data(ME, token=token)
    assert compared == []
    monkeypatch.setattr(differential, "MODE", "always")
    await client.data(ME, token=token)
    assert compared == [ME]
    # The shadow asked strawberry, not the compiler.
    assert scripted.asked == [ME, ME]


async def test_mutations_are_sent_once(
    client: GraphQLClient, factory: Factory, scripted: Scripted, compared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(differential, "MODE", "always")
    token = factory.token(await factory.user(Role.ADMIN))
    scripted.answers[CREATE_TEAM] = b"{}"
    await client.gql(CREATE_TEAM, token=token)
    assert compared == []


@pytest.mark.one_path("checks that the marker turns the hook off")
async def test_a_one_path_test_sends_each_query_once(
    client: GraphQLClient, factory: Factory, scripted: Scripted, compared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(differential, "MODE", "always")
    token = factory.token(await factory.user())
    await client.data(ME, token=token)
    assert compared == []


async def test_get_queries_are_compared_too(
    client: GraphQLClient, factory: Factory, scripted: Scripted, compared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(differential, "MODE", "always")
    response = await client.http.get("/graphql", params={"query": ME})
    assert response.status_code == 200
    assert len(compared) == 1


@pytest.mark.parametrize(
    ("document", "operation", "query"),
    [
        ("{ me { id } }", None, True),
        ("query A { me { id } } mutation B { logout }", "A", True),
        ("query A { me { id } } mutation B { logout }", "B", False),
        ("query A { me { id } } query B { me { id } }", None, False),
        ("subscription { inbox { __typename } }", None, False),
        ("{ me { id }", None, False),
    ],
)
def test_which_documents_are_reads(document: str, operation: str | None, query: bool) -> None:
    assert differential._is_query(document, operation) is query
