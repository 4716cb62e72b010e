"""Automatic persisted queries over HTTP (cartera/persisted_queries.py), exactly as Apollo's
persisted-query link speaks them: the hash alone first, PERSISTED_QUERY_NOT_FOUND, then the
hash with the query, then the hash alone again; GET with a hash, and what it lets browsers keep.

Every document carries a comment unique to the test: the servers of a run (and, on Redis, the
runs themselves) share what they stored, and a hash names its text forever.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cartera.persisted_queries import PersistedQueries, local_queries
from db.models import Role, User
from services.settings import Settings, SettingsError
from tests import differential
from tests.conftest import (
    JSON,
    MEDIA_TYPES,
    REDIS_URL,
    REQUEST_ERROR_STATUS,
    GraphQLClient,
    Server,
    auth,
    post_body,
    running,
)
from tests.differential import STRAWBERRY
from tests.factories import Factory

USERS = "query Users {{ users(first: 5) {{ nodes {{ id name }} }} }} # {tag}"
ME = "query Me {{ me {{ name }} }} # {tag}"
CREATE_USER = """
mutation CreateUser($email: String!) {{
  createUser(input: {{email: $email, name: "Nueva", role: AGENT, password: "long enough"}}) {{
    user {{ name }}
    userErrors {{ code }}
  }}
}}
# {tag}
"""

NOT_FOUND = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}
NOT_SUPPORTED = {
    "errors": [{"message": "PersistedQueryNotSupported", "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}}]
}


ADA = {"me": {"name": "Ada Admin"}}
CREATED = {"createUser": {"user": {"name": "Nueva"}, "userErrors": []}}


def data_of(response: httpx.Response) -> Any:
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def unique(document: str) -> str:
    return document.format(tag=uuid.uuid4().hex)


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(digest: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post_persisted(
    http: httpx.AsyncClient,
    digest: str,
    query: str | None = None,
    *,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    accept: str = JSON,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A POST as the link sends it: the hash in `extensions`, the query only when asked for it."""
    body: dict[str, Any] = {"extensions": persisted(digest), "variables": variables or {}}
    if query is not None:
        body["query"] = query
    return await post_body(http, json.dumps(body), accept=accept, token=token, headers=headers)


async def get_persisted(
    http: httpx.AsyncClient,
    digest: str,
    *,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    accept: str = JSON,
    operation_name: str | None = None,
) -> httpx.Response:
    """A GET as the link sends it with useGETForHashedQueries."""
    params = {"extensions": json.dumps(persisted(digest)), "variables": json.dumps(variables or {})}
    if operation_name:
        params["operationName"] = operation_name
    return await http.get("/graphql", params=params, headers={"accept": accept, **auth(token)})


@pytest.fixture
async def admin_token(factory: Factory) -> str:
    admin = await factory.user(Role.ADMIN, name="Ada Admin")
    return factory.token(admin)


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_the_apollo_flow_not_found_then_registered_then_served_by_hash(
    client: GraphQLClient, server: Server, admin_token: str, media: str
) -> None:
    query = unique(USERS)
    digest = sha256(query)

    first = await post_persisted(client.http, digest, token=admin_token, accept=media)
    # What the link retries on: 200 whatever the media type, that message, that code, no `data`.
    assert first.status_code == 200
    assert first.headers["content-type"] == f"{media}; charset=utf-8"
    assert first.json() == NOT_FOUND
    assert first.headers["cache-control"] == "no-store"

    registered = await post_persisted(client.http, digest, query, token=admin_token, accept=media)
    assert registered.status_code == 200
    assert [n["name"] for n in registered.json()["data"]["users"]["nodes"]] == ["Ada Admin"]
    assert registered.headers["cache-control"] == "no-store"

    by_hash = await post_persisted(client.http, digest, token=admin_token, accept=media)
    assert by_hash.status_code == 200
    assert by_hash.content == registered.content
    # Both read paths run the stored text: the compiled one where the server has it, and
    # strawberry's answer to the same hash is the same bytes.
    assert differential.compiled(by_hash) == server.compiles
    strawberry = await post_persisted(client.http, digest, token=admin_token, accept=media, headers=STRAWBERRY)
    assert not differential.compiled(strawberry)
    differential.assert_same(by_hash, strawberry)


async def test_the_hash_is_checked_against_the_query(client: GraphQLClient, admin_token: str) -> None:
    query = unique(ME)
    wrong = sha256(query + " ")

    for media in MEDIA_TYPES:
        refused = await post_persisted(client.http, wrong, query, token=admin_token, accept=media)
        assert refused.status_code == REQUEST_ERROR_STATUS[media]
        assert refused.json() == {
            "errors": [
                {
                    "message": "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query sent",
                    "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"},
                }
            ]
        }
        assert refused.headers["cache-control"] == "no-store"
    # Nothing ran, nothing was kept, under either hash.
    for digest in (wrong, sha256(query)):
        assert (await post_persisted(client.http, digest, token=admin_token)).json() == NOT_FOUND


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        (persisted("a" * 64, version=2), "Unsupported persisted query version 2: this server speaks version 1"),
        (persisted("a" * 64, version=True), "Unsupported persisted query version True: this server speaks version 1"),
        (
            persisted("A" * 64),
            "`extensions.persistedQuery.sha256Hash` must be the query's SHA-256 as 64 lowercase hex digits",
        ),
        (
            persisted("abc"),
            "`extensions.persistedQuery.sha256Hash` must be the query's SHA-256 as 64 lowercase hex digits",
        ),
        ({"persistedQuery": "abc"}, "`extensions.persistedQuery` must be an object"),
    ],
)
async def test_an_unusable_persisted_query_is_refused_clearly(
    client: GraphQLClient, extensions: dict[str, Any], message: str
) -> None:
    for media in MEDIA_TYPES:
        for body in ({"extensions": extensions}, {"query": "{ __typename }", "extensions": extensions}):
            refused = await post_body(client.http, json.dumps(body), accept=media)
            assert refused.status_code == REQUEST_ERROR_STATUS[media]
            assert refused.json() == {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_without_a_hash_or_a_query_the_request_is_still_refused(client: GraphQLClient) -> None:
    for body in ({"extensions": {}}, {"extensions": {"persistedQuery": None}}, {"query": "", "extensions": {}}):
        refused = await post_body(client.http, json.dumps(body))
        assert refused.json() == {"errors": [{"message": "The `query` parameter must be a non-empty string"}]}


async def test_get_with_a_hash_is_cacheable_by_the_browser_only(client: GraphQLClient, admin_token: str) -> None:
    query = unique(ME)
    digest = sha256(query)

    missing = await get_persisted(client.http, digest, token=admin_token)
    assert missing.status_code == 200
    assert missing.json() == NOT_FOUND
    # A kept not-found would answer every later GET of this hash with it.
    assert missing.headers["cache-control"] == "no-store"

    registered = await post_persisted(client.http, digest, query, token=admin_token)
    assert data_of(registered) == ADA
    assert registered.headers["cache-control"] == "no-store"

    for media in MEDIA_TYPES:
        hit = await get_persisted(client.http, digest, token=admin_token, accept=media, operation_name="Me")
        assert hit.status_code == 200
        assert hit.headers["content-type"] == f"{media}; charset=utf-8"
        assert data_of(hit) == ADA
        # The answer is the token's: no shared cache may keep it, a browser may for a moment,
        # and only for the same token and media type.
        assert hit.headers["cache-control"] == "private, max-age=10"
        vary = {v.strip().lower() for v in hit.headers["vary"].split(",")}
        assert {"authorization", "accept"} <= vary

    # An answer with errors is never kept, GET or not.
    anonymous = await get_persisted(client.http, digest)
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert anonymous.headers["cache-control"] == "no-store"


async def test_a_mutation_runs_by_hash_over_post_and_never_over_get(
    client: GraphQLClient, factory: Factory, admin_token: str
) -> None:
    mutation = unique(CREATE_USER)
    digest = sha256(mutation)

    registered = await post_persisted(
        client.http, digest, mutation, variables={"email": "una@example.com"}, token=admin_token
    )
    assert data_of(registered) == CREATED

    by_hash = await post_persisted(client.http, digest, variables={"email": "otra@example.com"}, token=admin_token)
    assert data_of(by_hash) == CREATED
    assert by_hash.headers["cache-control"] == "no-store"
    assert await factory.count(User) == 3

    over_get = await get_persisted(client.http, digest, variables={"email": "tercera@example.com"}, token=admin_token)
    assert over_get.status_code == 405
    assert over_get.headers["allow"] == "POST"
    assert await factory.count(User) == 3


async def test_turned_off_the_hash_alone_is_not_supported_and_get_answers_are_not_kept(
    database_url: str, factory: Factory
) -> None:
    admin = await factory.user(Role.ADMIN, name="Ada Admin")
    token = factory.token(admin)
    query = unique(ME)
    async with running(database_url, persisted_queries=False, get_max_age_seconds=0) as (_, client):
        for media in MEDIA_TYPES:
            # The link then stops sending hashes and sends queries.
            alone = await post_persisted(client.http, sha256(query), token=token, accept=media)
            assert alone.status_code == 200
            assert alone.json() == NOT_SUPPORTED
        # With the text there, the hash is ignored: the query runs, nothing is checked or kept.
        with_query = await post_persisted(client.http, "0" * 64, query, token=token)
        assert data_of(with_query) == ADA
        got = await client.http.get("/graphql", params={"query": query}, headers=auth(token))
        assert data_of(got) == ADA
        assert got.headers["cache-control"] == "no-store"


async def test_the_process_store_is_bounded_by_count_and_by_bytes(database_url: str, admin_token: str) -> None:
    # No Redis behind it, so what this process drops is gone.
    async with running(database_url, redis_url=None) as (srv, client):
        store: PersistedQueries = srv.app.state.endpoint.persisted
        store.local = local_queries(max_entries=2, max_bytes=400)
        queries = [unique(ME) for _ in range(3)]
        for query in queries:
            assert "data" in (await post_persisted(client.http, sha256(query), query, token=admin_token)).json()
        assert len(store.local) == 2
        assert (await post_persisted(client.http, sha256(queries[0]), token=admin_token)).json() == NOT_FOUND
        for query in queries[1:]:
            hit = await post_persisted(client.http, sha256(query), token=admin_token)
            assert data_of(hit) == ADA

        # A text past the byte bound is served but never kept; smaller ones make room by age.
        big = "query Big { me { name } } # " + "x" * 400
        assert "data" in (await post_persisted(client.http, sha256(big), big, token=admin_token)).json()
        assert (await post_persisted(client.http, sha256(big), token=admin_token)).json() == NOT_FOUND
        assert store.local.weight <= 400


async def test_a_document_that_does_not_validate_is_not_kept(client: GraphQLClient, admin_token: str) -> None:
    query = "query Nope { nope } # " + uuid.uuid4().hex
    for media in MEDIA_TYPES:
        refused = await post_persisted(client.http, sha256(query), query, token=admin_token, accept=media)
        assert refused.status_code == REQUEST_ERROR_STATUS[media]
        assert "data" not in refused.json()
        assert "Cannot query field 'nope'" in refused.json()["errors"][0]["message"]
    assert (await post_persisted(client.http, sha256(query), token=admin_token)).json() == NOT_FOUND


@pytest.mark.skipif(not REDIS_URL, reason="needs CARTERA_TEST_REDIS_URL")
async def test_a_hash_registered_on_one_process_is_found_by_another(database_url: str, admin_token: str) -> None:
    query = unique(ME)
    digest = sha256(query)
    async with running(database_url) as (_, one), running(database_url) as (other_server, other):
        assert (await post_persisted(other.http, digest, token=admin_token)).json() == NOT_FOUND
        registered = await post_persisted(one.http, digest, query, token=admin_token)
        assert data_of(registered) == ADA

        found = await post_persisted(other.http, digest, token=admin_token)
        assert data_of(found) == ADA
        # Read from Redis once, then from the process's own copy.
        assert other_server.app.state.endpoint.persisted.local.get(digest) == query


async def test_with_redis_unreachable_the_process_serves_from_its_own_copy(
    refusing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    store = PersistedQueries(f"redis://127.0.0.1:{refusing_port}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="cartera.persisted_queries"):
            await store.put("a" * 64, "{ __typename }")
            assert await store.get("a" * 64) == "{ __typename }"
            assert await store.get("b" * 64) is None
        assert [r.message for r in caplog.records] == [
            "persisted queries: Redis unreachable, this process uses its own copy"
        ]
    finally:
        await store.close()


def test_the_settings_read_from_the_environment(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CARTERA_SECRET_KEY": "k" * 32}
    defaults = Settings.from_env(env)
    assert (defaults.persisted_queries, defaults.get_max_age_seconds) == (True, 10)
    chosen = Settings.from_env({**env, "CARTERA_PERSISTED_QUERIES": "false", "CARTERA_GET_MAX_AGE_SECONDS": "0"})
    assert (chosen.persisted_queries, chosen.get_max_age_seconds) == (False, 0)
    with pytest.raises(SettingsError, match="CARTERA_GET_MAX_AGE_SECONDS must be at least 0"):
        Settings.from_env({**env, "CARTERA_GET_MAX_AGE_SECONDS": "-1"})
    with pytest.raises(SettingsError, match="CARTERA_PERSISTED_QUERIES must be true or false"):
        Settings.from_env({**env, "CARTERA_PERSISTED_QUERIES": "maybe"})
