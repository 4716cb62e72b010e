"""GraphQL over HTTP through the real server (cartera/http.py).

Media types and request errors follow the GraphQL-over-HTTP draft: under application/json
every GraphQL response is 200; under application/graphql-response+json a request error
(nothing executed) is 400 and carries no `data`.
"""

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

import resolvers.lifecycle
import services.users
from db.base import utcnow
from db.models import Role, User
from services.auth import issue_token
from tests.conftest import (
    GRAPHQL_RESPONSE,
    JSON,
    MEDIA_TYPES,
    REQUEST_ERROR_STATUS,
    SECRET,
    GraphQLClient,
    Server,
    StatementCounter,
    auth,
    counting_sql,
    make_settings,
    post_body,
    post_query,
    running,
)
from tests.differential import STRAWBERRY
from tests.factories import Factory, gid, priced

TYPENAME_QUERY = "{ __typename }"
ME_QUERY = "query Me { me { id name } }"
ANONYMOUS_ME_QUERY = "query { me { id } }"
NODE_QUERY = "query Node($id: ID!) { node(id: $id) { id ... on User { name } } }"
TWO_OPERATIONS = """
query Typename { __typename }
query Me { me { name } }
"""
USERS_QUERY = "query Users { users(first: 5) { nodes { id } } }"
CREATE_USER_MUTATION = """
mutation CreateUser {
  createUser(input: {email: "new@example.com", name: "New", role: AGENT, password: "long enough"}) {
    user { id }
  }
}
"""
SCHEMA_QUERY = "{ __schema { queryType { name } } }"
SYNTAX_ERROR_QUERY = "{ me { id }"
UNKNOWN_FIELD_QUERY = "{ nope }"
NAMED_UNKNOWN_FIELD_QUERY = "query Nope { nope }"

# For the server with small limits: depth 3, 2 aliases, 50 tokens, 2000-byte bodies.
LIMITS = {"max_query_depth": 3, "max_aliases": 2, "max_tokens": 50, "max_body_bytes": 2000}
# Each within every limit but the one it is named for. Depth counts from 0 at the root field.
AT_DEPTH_LIMIT_QUERY = "query Deep { me { teams { nodes { name } } } }"
TOO_DEEP_QUERY = "query Deep { me { teams { nodes { members { totalCount } } } } }"
TOO_MANY_ALIASES_QUERY = "query Aliases { a: me { id } b: me { id } c: me { id } }"
TOO_MANY_TOKENS_QUERY = "query Tokens { me { " + " ".join(["id"] * 60) + " } }"

UNAUTHENTICATED_ERROR = {
    "message": "Sign in first: send a valid bearer token",
    "locations": [{"line": 1, "column": 9}],
    "path": ["me"],
    "extensions": {"code": "UNAUTHENTICATED"},
}


def assert_media(response: httpx.Response, media: str) -> None:
    assert response.headers["content-type"] == f"{media}; charset=utf-8"


def assert_request_error(response: httpx.Response, media: str, errors: list[dict[str, Any]]) -> None:
    """Nothing executed: only `errors`, with the status the media type gives a request error."""
    assert response.status_code == REQUEST_ERROR_STATUS[media], response.text
    assert_media(response, media)
    assert response.json() == {"errors": errors}


class TestMediaTypes:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_typename_without_token(self, client: GraphQLClient, media: str) -> None:
        response = await post_query(client.http, TYPENAME_QUERY, accept=media)
        assert response.status_code == 200
        assert_media(response, media)
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_query_with_token_and_variables(self, client: GraphQLClient, factory: Factory, media: str) -> None:
        user = await factory.user(name="Ñandú Pérez")
        response = await post_query(
            client.http, NODE_QUERY, variables={"id": gid(user)}, accept=media, token=factory.token(user)
        )
        assert response.status_code == 200
        assert_media(response, media)
        assert response.json() == {"data": {"node": {"id": gid(user), "name": "Ñandú Pérez"}}, "extensions": priced(1)}
        # Text goes out as UTF-8, not as \u escapes.
        assert "Ñandú Pérez".encode() in response.content

    async def test_no_accept_header_gets_json(self, client: GraphQLClient) -> None:
        request = client.http.build_request("POST", "/graphql", json={"query": TYPENAME_QUERY})
        del request.headers["accept"]
        response = await client.http.send(request)
        assert response.status_code == 200
        assert_media(response, JSON)
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}

    @pytest.mark.parametrize(
        ("accept", "media"),
        [
            (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
            (f"{JSON};q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
            (f"{JSON}, {GRAPHQL_RESPONSE}", JSON),
            (f"{GRAPHQL_RESPONSE};q=0, {JSON}", JSON),
            ("text/html, application/*;q=0.8", JSON),
            ("*/*", JSON),
        ],
    )
    async def test_accept_negotiation(self, client: GraphQLClient, accept: str, media: str) -> None:
        response = await post_query(client.http, TYPENAME_QUERY, accept=accept)
        assert response.status_code == 200
        assert_media(response, media)

    async def test_request_content_type_may_name_a_charset(self, client: GraphQLClient) -> None:
        response = await post_body(
            client.http, json.dumps({"query": TYPENAME_QUERY}), content_type="application/json; charset=utf-8"
        )
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}


class TestRequestErrors:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize(
        "body", [b'{"query": "{ __typename }"', b"", b'{"query": "\xff"}'], ids=["truncated", "empty", "not-utf8"]
    )
    async def test_invalid_json_is_400_under_both_media_types(
        self, client: GraphQLClient, media: str, body: bytes
    ) -> None:
        response = await post_body(client.http, body, accept=media)
        assert response.status_code == 400
        assert_media(response, media)
        assert response.json() == {"errors": [{"message": "The request body is not valid JSON"}]}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "The `query` parameter must be a non-empty string"),
            ({"query": 1}, "The `query` parameter must be a non-empty string"),
            ({"query": None}, "The `query` parameter must be a non-empty string"),
            ({"query": "  "}, "The `query` parameter must be a non-empty string"),
            ({"query": TYPENAME_QUERY, "variables": []}, "The `variables` parameter must be an object"),
            ({"query": TYPENAME_QUERY, "variables": "{}"}, "The `variables` parameter must be an object"),
            ({"query": TYPENAME_QUERY, "operationName": 3}, "The `operationName` parameter must be a string"),
            ({"query": TYPENAME_QUERY, "extensions": 1}, "The `extensions` parameter must be an object"),
            ([{"query": TYPENAME_QUERY}], "Batched requests are not supported: send one operation per request"),
            (TYPENAME_QUERY, "The request body must be a JSON object"),
        ],
        ids=[
            "missing-query",
            "numeric-query",
            "null-query",
            "blank-query",
            "array-variables",
            "string-variables",
            "numeric-operation-name",
            "numeric-extensions",
            "batch",
            "json-string",
        ],
    )
    async def test_malformed_request(self, client: GraphQLClient, media: str, body: Any, message: str) -> None:
        response = await post_body(client.http, json.dumps(body), accept=media)
        assert_request_error(response, media, [{"message": message}])

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_parse_error(self, client: GraphQLClient, media: str) -> None:
        response = await post_query(client.http, SYNTAX_ERROR_QUERY, accept=media)
        assert_request_error(
            response,
            media,
            [{"message": "Syntax Error: Expected Name, found <EOF>.", "locations": [{"line": 1, "column": 12}]}],
        )

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_validation_error(self, client: GraphQLClient, media: str) -> None:
        response = await post_query(client.http, UNKNOWN_FIELD_QUERY, accept=media)
        assert_request_error(
            response,
            media,
            [
                {
                    "message": "Cannot query field 'nope' on type 'Query'. Did you mean 'node' or 'nodes'?",
                    "locations": [{"line": 1, "column": 3}],
                }
            ],
        )

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_missing_required_variable(self, client: GraphQLClient, media: str) -> None:
        response = await post_query(client.http, NODE_QUERY, accept=media)
        assert_request_error(
            response,
            media,
            [
                {
                    "message": "Variable '$id' has invalid value: "
                    "Expected a value of non-null type 'ID!' to be provided.",
                    "locations": [{"line": 1, "column": 12}],
                }
            ],
        )

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_unknown_operation_name(self, client: GraphQLClient, media: str) -> None:
        body = {"query": TWO_OPERATIONS, "operationName": "Other"}
        response = await post_body(client.http, json.dumps(body), accept=media)
        assert_request_error(response, media, [{"message": 'Unknown operation named "Other".'}])

    async def test_operation_name_picks_the_operation(self, client: GraphQLClient) -> None:
        body = {"query": TWO_OPERATIONS, "operationName": "Typename"}
        response = await post_body(client.http, json.dumps(body))
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}


class TestMethodsAndContentTypes:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize("content_type", ["text/plain", "application/graphql", "application/x-www-form-urlencoded"])
    async def test_unsupported_content_type_is_415(self, client: GraphQLClient, media: str, content_type: str) -> None:
        response = await post_body(client.http, TYPENAME_QUERY, accept=media, content_type=content_type)
        assert response.status_code == 415
        assert_media(response, media)
        assert response.json() == {"errors": [{"message": "Send the request as application/json"}]}

    @pytest.mark.parametrize("method", ["POST", "GET"])
    async def test_no_acceptable_media_type_is_406(self, client: GraphQLClient, method: str) -> None:
        response = await client.http.request(
            method,
            "/graphql",
            params={"query": TYPENAME_QUERY} if method == "GET" else None,
            json={"query": TYPENAME_QUERY} if method == "POST" else None,
            headers={"accept": "text/csv"},
        )
        assert response.status_code == 406
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text == f"Accept {JSON} or {GRAPHQL_RESPONSE}"

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    async def test_other_methods_are_405(self, client: GraphQLClient, method: str) -> None:
        response = await client.http.request(method, "/graphql", json={"query": TYPENAME_QUERY})
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.content == b""


class TestGet:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_query(self, client: GraphQLClient, media: str) -> None:
        response = await client.http.get("/graphql", params={"query": TYPENAME_QUERY}, headers={"accept": media})
        assert response.status_code == 200
        assert_media(response, media)
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}

    async def test_variables_and_operation_name(self, client: GraphQLClient, factory: Factory) -> None:
        user = await factory.user(name="Ana")
        params = {"query": NODE_QUERY, "variables": json.dumps({"id": gid(user)}), "operationName": "Node"}
        response = await client.http.get("/graphql", params=params, headers=auth(factory.token(user)))
        assert response.status_code == 200
        assert response.json() == {"data": {"node": {"id": gid(user), "name": "Ana"}}, "extensions": priced(1)}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_variables_that_are_not_json(self, client: GraphQLClient, media: str) -> None:
        params = {"query": NODE_QUERY, "variables": "{id: 1}"}
        response = await client.http.get("/graphql", params=params, headers={"accept": media})
        assert_request_error(response, media, [{"message": "The `variables` parameter must be URL-encoded JSON"}])

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_without_query(self, client: GraphQLClient, media: str) -> None:
        response = await client.http.get("/graphql", headers={"accept": media})
        assert_request_error(response, media, [{"message": "The `query` parameter must be a non-empty string"}])

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_mutation_is_405_and_runs_nothing(
        self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter, media: str
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        users_before = await factory.count(User)
        count_sql.statements.clear()  # the factory's own statements
        response = await client.http.get(
            "/graphql",
            params={"query": CREATE_USER_MUTATION},
            headers={"accept": media, **auth(factory.token(admin))},
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert_media(response, media)
        assert response.json() == {"errors": [{"message": "Only queries may be sent with GET; use POST"}]}
        assert count_sql.count == 0
        assert await factory.count(User) == users_before

    async def test_same_mutation_over_post_runs(self, client: GraphQLClient, factory: Factory) -> None:
        admin = await factory.user(Role.ADMIN)
        users_before = await factory.count(User)
        data = await client.data(CREATE_USER_MUTATION, token=factory.token(admin))
        assert data["createUser"]["user"]["id"]
        assert await factory.count(User) == users_before + 1


class TestGraphiQL:
    async def test_browser_gets_the_ide(self, client: GraphQLClient) -> None:
        response = await client.http.get("/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "<title>Cartera · GraphiQL</title>" in response.text

    async def test_browser_with_a_query_gets_the_result(self, client: GraphQLClient) -> None:
        response = await client.http.get(
            "/graphql", params={"query": TYPENAME_QUERY}, headers={"accept": "text/html,*/*;q=0.8"}
        )
        assert response.status_code == 200
        assert_media(response, JSON)
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}

    async def test_disabled_is_404(self, database_url: str) -> None:
        async with running(database_url, graphiql=False) as (_, client):
            http = client.http
            response = await http.get("/graphql", headers={"accept": "text/html"})
            assert response.status_code == 404
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.text == "GraphiQL is disabled on this server"
            # The API itself is unaffected.
            response = await http.get("/graphql", params={"query": TYPENAME_QUERY})
            assert response.status_code == 200
            assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}


class TestIntrospection:
    async def test_enabled_by_default(self, client: GraphQLClient) -> None:
        assert await client.data(SCHEMA_QUERY) == {"__schema": {"queryType": {"name": "Query"}}}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_disabled_refuses_schema(self, database_url: str, media: str) -> None:
        async with running(database_url, introspection=False) as (_, client):
            http = client.http
            response = await post_query(http, SCHEMA_QUERY, accept=media)
            assert_request_error(
                response,
                media,
                [
                    {
                        "message": "GraphQL introspection has been disabled, but the requested query contained "
                        "the field '__schema'.",
                        "locations": [{"line": 1, "column": 3}],
                    },
                    {
                        "message": "GraphQL introspection has been disabled, but the requested query contained "
                        "the field 'queryType'.",
                        "locations": [{"line": 1, "column": 14}],
                    },
                ],
            )
            # __typename is not introspection of the schema.
            response = await post_query(http, TYPENAME_QUERY, accept=media)
            assert response.status_code == 200
            assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}


@pytest.fixture(scope="module")
async def limited_server(database_url: str) -> AsyncIterator[Server]:
    server = Server(make_settings(database_url, **LIMITS))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def limited(limited_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as http:
        yield http


@pytest.fixture
def limited_sql(limited_server: Server) -> Iterator[StatementCounter]:
    with counting_sql(limited_server) as counter:
        yield counter


class TestLimits:
    """A refused document runs no SQL, though its valid token would otherwise load the principal."""

    async def test_within_limits_runs_and_loads_the_principal(
        self, limited: httpx.AsyncClient, limited_sql: StatementCounter, factory: Factory
    ) -> None:
        user = await factory.user()
        response = await post_query(limited, AT_DEPTH_LIMIT_QUERY, token=factory.token(user))
        assert response.status_code == 200
        assert response.json() == {"data": {"me": {"teams": {"nodes": []}}}, "extensions": priced(1 + 1 + 100)}
        assert limited_sql.count > 0

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize(
        ("query", "error"),
        [
            (
                TOO_DEEP_QUERY,
                {"message": "'Deep' exceeds maximum operation depth of 3", "locations": [{"line": 1, "column": 45}]},
            ),
            (TOO_MANY_ALIASES_QUERY, {"message": "3 aliases found. Allowed: 2"}),
            (
                TOO_MANY_TOKENS_QUERY,
                {
                    "message": "Syntax Error: Document contains more than 50 tokens. Parsing aborted.",
                    "locations": [{"line": 1, "column": 156}],
                },
            ),
        ],
        ids=["depth", "aliases", "tokens"],
    )
    async def test_document_over_a_limit_is_refused_without_sql(
        self,
        limited: httpx.AsyncClient,
        limited_sql: StatementCounter,
        factory: Factory,
        media: str,
        query: str,
        error: dict[str, Any],
    ) -> None:
        user = await factory.user()
        response = await post_query(limited, query, accept=media, token=factory.token(user))
        assert_request_error(response, media, [error])
        assert limited_sql.count == 0

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_body_just_under_the_limit_runs(
        self, limited: httpx.AsyncClient, factory: Factory, media: str
    ) -> None:
        user = await factory.user()
        body = json.dumps({"query": ANONYMOUS_ME_QUERY, "variables": {"padding": "x" * 1900}})
        assert len(body) <= LIMITS["max_body_bytes"]
        response = await post_body(limited, body, accept=media, headers=auth(factory.token(user)))
        assert response.status_code == 200
        assert response.json() == {"data": {"me": {"id": gid(user)}}, "extensions": priced(1)}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    async def test_body_over_the_limit_is_413_without_sql(
        self, limited: httpx.AsyncClient, limited_sql: StatementCounter, factory: Factory, media: str, chunked: bool
    ) -> None:
        user = await factory.user()
        body = json.dumps({"query": ANONYMOUS_ME_QUERY, "variables": {"padding": "x" * 2100}}).encode()

        async def stream() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        headers = {"content-type": JSON, "accept": media, **auth(factory.token(user))}
        # Without a declared length (chunked), the server counts while it reads.
        content: bytes | AsyncIterator[bytes] = stream() if chunked else body
        response = await limited.post("/graphql", content=content, headers=headers)
        assert response.status_code == 413
        assert_media(response, media)
        assert response.json() == {"errors": [{"message": "Request body larger than 2000 bytes"}]}
        assert limited_sql.count == 0


async def _no_token(factory: Factory) -> str | None:
    return None


async def _garbage_token(factory: Factory) -> str | None:
    return "not.a.token"


async def _expired_token(factory: Factory) -> str | None:
    user = await factory.user()
    return factory.token(user, ttl_seconds=60, now=utcnow() - timedelta(hours=2))


async def _foreign_token(factory: Factory) -> str | None:
    user = await factory.user()
    return issue_token(secret_key="another-secret-" + "y" * 32, user_id=user.id, ttl_seconds=3600)


async def _unknown_user_token(factory: Factory) -> str | None:
    return issue_token(secret_key=SECRET, user_id=999_999, ttl_seconds=3600)


async def _deactivated_user_token(factory: Factory) -> str | None:
    user = await factory.user(active=False)
    return factory.token(user)


TokenMaker = Callable[[Factory], Awaitable[str | None]]


class TestAuthentication:
    async def test_valid_token(self, client: GraphQLClient, factory: Factory) -> None:
        user = await factory.user(name="Ana")
        assert await client.data(ME_QUERY, token=factory.token(user)) == {"me": {"id": gid(user), "name": "Ana"}}

    @pytest.mark.parametrize("media", MEDIA_TYPES)
    @pytest.mark.parametrize(
        "make_token",
        [
            _no_token,
            _garbage_token,
            _expired_token,
            _foreign_token,
            _unknown_user_token,
            _deactivated_user_token,
        ],
        ids=["none", "garbage", "expired", "other-secret", "unknown-user", "deactivated-user"],
    )
    async def test_me_is_unauthenticated(
        self, client: GraphQLClient, factory: Factory, media: str, make_token: TokenMaker
    ) -> None:
        token = await make_token(factory)
        response = await post_query(client.http, ANONYMOUS_ME_QUERY, accept=media, token=token)
        # The operation executed (a field error, not a request error): 200 with `data` under both.
        assert response.status_code == 200
        assert_media(response, media)
        assert response.json() == {"data": {"me": None}, "errors": [UNAUTHENTICATED_ERROR], "extensions": priced(1)}

    @pytest.mark.parametrize("make_token", [_garbage_token, _expired_token, _foreign_token], ids=lambda f: f.__name__)
    async def test_a_token_that_does_not_verify_costs_no_sql(
        self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter, make_token: TokenMaker
    ) -> None:
        token = await make_token(factory)
        count_sql.statements.clear()
        response = await post_query(client.http, ANONYMOUS_ME_QUERY, token=token)
        assert response.json() == {"data": {"me": None}, "errors": [UNAUTHENTICATED_ERROR], "extensions": priced(1)}
        assert count_sql.count == 0

    async def test_non_bearer_scheme_is_no_token(self, client: GraphQLClient, factory: Factory) -> None:
        user = await factory.user()
        response = await post_query(
            client.http, ANONYMOUS_ME_QUERY, headers={"authorization": f"Basic {factory.token(user)}"}
        )
        assert response.json() == {"data": {"me": None}, "errors": [UNAUTHENTICATED_ERROR], "extensions": priced(1)}


def _fail_with_secret(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom secret")


class TestErrorMasking:
    @pytest.fixture
    def failing_users_list(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(services.users, "list_users", _fail_with_secret)

    @pytest.mark.usefixtures("failing_users_list")
    async def test_resolver_failure_is_masked_and_logged(
        self, client: GraphQLClient, factory: Factory, caplog: pytest.LogCaptureFixture
    ) -> None:
        user = await factory.user()
        # The patched service is strawberry's resolver's (compiled reads build on users.filtered).
        response = await client.post(USERS_QUERY, token=factory.token(user), headers=STRAWBERRY)
        assert "boom secret" not in response.text
        request_id = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        assert response.status_code == 200
        assert response.json() == {
            "data": {"users": None},
            "errors": [
                {
                    "message": f"Unexpected error (request id {request_id})",
                    "locations": [{"line": 1, "column": 15}],
                    "path": ["users"],
                    "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                }
            ],
            "extensions": priced(1 + 5),
        }
        (record,) = [r for r in caplog.records if r.name == "cartera.graphql"]
        assert record.levelno == logging.ERROR
        assert record.request_id == request_id
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        # The full traceback, down to the failing function, is in the log.
        assert "RuntimeError: boom secret" in caplog.text
        assert "in _fail_with_secret" in caplog.text

    @pytest.mark.usefixtures("failing_users_list")
    async def test_client_request_id_is_echoed_and_named(self, client: GraphQLClient, factory: Factory) -> None:
        user = await factory.user()
        headers = {"x-request-id": "req-42", **STRAWBERRY}
        response = await client.post(USERS_QUERY, token=factory.token(user), headers=headers)
        assert response.headers["x-request-id"] == "req-42"
        (error,) = response.json()["errors"]
        assert error["message"] == "Unexpected error (request id req-42)"
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}

    @pytest.mark.parametrize(("media", "status"), [(JSON, 200), (GRAPHQL_RESPONSE, 500)])
    async def test_failure_before_execution_is_masked_and_logged(
        self,
        client: GraphQLClient,
        factory: Factory,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        media: str,
        status: int,
    ) -> None:
        # The lifecycle loads the principal before any resolver runs (a database outage, say).
        monkeypatch.setattr(resolvers.lifecycle, "principal_of", _fail_with_secret)
        user = await factory.user()
        response = await post_query(client.http, ANONYMOUS_ME_QUERY, accept=media, token=factory.token(user))
        assert "boom secret" not in response.text
        request_id = response.headers["x-request-id"]
        assert response.status_code == status
        assert_media(response, media)
        assert response.json() == {
            "errors": [
                {
                    "message": f"Unexpected error (request id {request_id})",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                }
            ]
        }
        (record,) = [r for r in caplog.records if r.name == "cartera.graphql"]
        assert record.request_id == request_id
        assert "RuntimeError: boom secret" in caplog.text

    @pytest.mark.parametrize("sent", ["", "x" * 65])
    async def test_unusable_request_id_is_replaced(self, client: GraphQLClient, sent: str) -> None:
        response = await post_query(client.http, TYPENAME_QUERY, headers={"x-request-id": sent})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    async def test_request_id_on_responses_that_execute_nothing(self, client: GraphQLClient) -> None:
        refused = [
            await client.http.put("/graphql", headers={"x-request-id": "put-1"}),
            await post_body(client.http, b"{", headers={"x-request-id": "json-1"}),
            await post_body(client.http, TYPENAME_QUERY, content_type="text/plain", headers={"x-request-id": "ct-1"}),
        ]
        assert [r.headers["x-request-id"] for r in refused] == ["put-1", "json-1", "ct-1"]


class TestRequestLog:
    async def test_one_line_per_request(
        self, client: GraphQLClient, factory: Factory, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="cartera.request")
        user = await factory.user()
        token = factory.token(user)
        await post_query(client.http, ME_QUERY, token=token, headers={"x-request-id": "ok-1"})
        await post_query(client.http, ME_QUERY, headers={"x-request-id": "partial-1"})
        await post_query(client.http, NAMED_UNKNOWN_FIELD_QUERY, headers={"x-request-id": "invalid-1"})
        await post_body(client.http, b"{", accept=GRAPHQL_RESPONSE, headers={"x-request-id": "json-1"})
        await client.http.get("/graphql", params={"query": CREATE_USER_MUTATION}, headers={"x-request-id": "get-1"})
        await client.http.put("/graphql", headers={"x-request-id": "put-1"})

        records = [r for r in caplog.records if r.name == "cartera.request"]
        assert [(r.request_id, r.method, r.operation, r.status, r.outcome) for r in records] == [
            ("ok-1", "POST", "Me", 200, "ok"),
            ("partial-1", "POST", "Me", 200, "partial"),
            ("invalid-1", "POST", "Nope", 200, "rejected"),
            ("json-1", "POST", None, 400, "rejected"),
            ("get-1", "GET", "CreateUser", 405, "rejected"),
            ("put-1", "PUT", None, 405, "rejected"),
        ]
        for record in records:
            assert record.levelno == logging.INFO
            assert record.getMessage() == "graphql request"
            assert isinstance(record.duration_ms, float)
            assert record.duration_ms >= 0

    async def test_masked_failure_is_logged_as_error(
        self, client: GraphQLClient, factory: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="cartera.request")
        monkeypatch.setattr(resolvers.lifecycle, "principal_of", _fail_with_secret)
        user = await factory.user()
        await post_query(client.http, ME_QUERY, accept=GRAPHQL_RESPONSE, token=factory.token(user))
        (record,) = [r for r in caplog.records if r.name == "cartera.request"]
        assert (record.operation, record.status, record.outcome) == ("Me", 500, "error")


A_AND_B = "query A { __typename } query B { __typename }"


class TestSeveralOperations:
    async def test_without_operation_name_is_a_request_error(self, client: GraphQLClient) -> None:
        response = await client.http.post(
            "/graphql", json={"query": A_AND_B}, headers={"accept": "application/graphql-response+json"}
        )
        assert response.status_code == 400
        assert response.json() == {
            "errors": [{"message": "Must provide operationName when the document has several operations"}]
        }

    async def test_operation_name_picks_one(self, client: GraphQLClient) -> None:
        response = await client.http.post("/graphql", json={"query": A_AND_B, "operationName": "B"})
        assert response.json() == {"data": {"__typename": "Query"}, "extensions": priced(0)}
