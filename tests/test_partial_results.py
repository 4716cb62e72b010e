"""Partial results: a root field that is refused is null with its own error, and the rest of
the response stands, over HTTP with both media types (GraphQL over HTTP: a response with data
is 200 even with application/graphql-response+json)."""

from __future__ import annotations

from typing import Any

import pytest

from db.models import Role, User
from tests.conftest import MEDIA_TYPES, GraphQLClient
from tests.factories import Factory, gid

ROOT_FIELDS = "{ __schema { queryType { fields { name type { kind } } } } }"

# Each refused root field beside `me`, which stands: (document, the refused field, its code).
REFUSALS = [
    ("{ me { name } contacts { totalCount } auditEvents { totalCount } }", "auditEvents", "FORBIDDEN"),
    ("{ me { name } contactsPerPortfolio { totalCount } }", "contactsPerPortfolio", "FORBIDDEN"),
    ("{ me { name } contactsPerPortfolioOwner { totalCount } }", "contactsPerPortfolioOwner", "FORBIDDEN"),
    ("{ me { name } users(first: 100000) { totalCount } }", "users", "BAD_USER_INPUT"),
    ('{ me { name } teams(after: "not a cursor") { totalCount } }', "teams", "BAD_USER_INPUT"),
    ("{ me { name } contacts(first: 1, last: 1) { totalCount } }", "contacts", "BAD_USER_INPUT"),
    ("{ me { name } companies(first: -1) { totalCount } }", "companies", "BAD_USER_INPUT"),
    ('{ me { name } portfolios(before: "x") { totalCount } }', "portfolios", "BAD_USER_INPUT"),
    ('{ me { name } campaigns(after: "x") { totalCount } }', "campaigns", "BAD_USER_INPUT"),
    ('{ me { name } gestiones(filter: {campaignIds: ["x"]}) { totalCount } }', "gestiones", "NOT_FOUND"),
    ('{ me { name } users(filter: {teamIds: ["x"]}) { totalCount } }', "users", "NOT_FOUND"),
    (
        '{ me { name } portfolioAssignmentPreview(portfolioId: "x", contacts: {ids: []}) { selectedCount } }',
        "portfolioAssignmentPreview",
        "NOT_FOUND",
    ),
]


@pytest.fixture
async def agent(factory: Factory) -> User:
    team = await factory.team("Cobranzas")
    await factory.contacts(team, "Juan Pérez", "María Gómez")
    return await factory.user(Role.AGENT, name="Ana", teams=[team])


async def _ask(
    client: GraphQLClient, query: str, media: str, token: str | None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(query, variables, token, headers={"accept": media})
    # Data came back (partly): 200 with either media type.
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    body: dict[str, Any] = response.json()
    return body


def _errors(body: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return sorted((e["path"], e["extensions"]["code"]) for e in body["errors"])


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_a_forbidden_root_field_is_null_and_its_siblings_stand(
    client: GraphQLClient, factory: Factory, agent: User, media: str
) -> None:
    body = await _ask(client, "{ contacts { totalCount } auditEvents { totalCount } }", media, factory.token(agent))
    assert body["data"] == {"contacts": {"totalCount": 2}, "auditEvents": None}
    assert _errors(body) == [(["auditEvents"], "FORBIDDEN")]
    assert body["errors"][0]["message"] == "Only admins and supervisors read the audit trail"


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_every_kind_of_refusal_nulls_only_its_own_field(
    client: GraphQLClient, factory: Factory, agent: User, media: str
) -> None:
    token = factory.token(agent)
    for query, refused, code in REFUSALS:
        body = await _ask(client, query, media, token)
        assert body["data"]["me"] == {"name": "Ana"}, query
        assert body["data"][refused] is None, query
        assert _errors(body) == [([refused], code)], query
    too_many = [gid(agent)] * (client.server.settings.max_page_size + 1)
    body = await _ask(
        client, "query($ids: [ID!]!) { me { name } nodes(ids: $ids) { id } }", media, token, {"ids": too_many}
    )
    assert body["data"] == {"me": {"name": "Ana"}, "nodes": None}
    assert _errors(body) == [(["nodes"], "BAD_USER_INPUT")]


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_without_a_token_each_root_field_is_refused_on_its_own(
    client: GraphQLClient, agent: User, media: str
) -> None:
    body = await _ask(client, "{ __typename me { name } typologies { code } contacts { totalCount } }", media, None)
    assert body["data"] == {"__typename": "Query", "me": None, "typologies": None, "contacts": None}
    assert _errors(body) == [
        (["contacts"], "UNAUTHENTICATED"),
        (["me"], "UNAUTHENTICATED"),
        (["typologies"], "UNAUTHENTICATED"),
    ]


async def test_every_root_query_field_may_be_null(client: GraphQLClient, factory: Factory, agent: User) -> None:
    """Any of them can be refused (no token at least), and a refusal must not null its siblings."""
    fields = (await client.data(ROOT_FIELDS, token=factory.token(agent)))["__schema"]["queryType"]["fields"]
    assert [f["name"] for f in fields if f["type"]["kind"] == "NON_NULL"] == []
