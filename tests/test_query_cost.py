"""Query cost (X6): the objects an operation's nested lists could resolve, priced before anything runs.

The price (resolvers/cost.py): an object field counts 1 per object it is selected on; a
connection's edges and nodes its page size per connection; other lists 1 per object unless
paged lists can be selected inside their items. Every executed response says what it cost.
"""

from __future__ import annotations

from typing import Any

import pytest

from db.models import Contact, Role, Team, User
from services.settings import Settings
from tests.conftest import MEDIA_TYPES, REQUEST_ERROR_STATUS, GraphQLClient, Server, StatementCounter, running
from tests.factories import Factory, gid, priced
from tests.ws import execute, init, open_socket, receive, send, subscribe

# An agent's contacts, their portfolio, its contacts, three times: the issue's document.
NESTED = """
query Nested($n: Int) {
  contacts(first: $n) { nodes { portfolio { contacts(first: $n) { nodes { portfolio {
    contacts(first: $n) { nodes { id } }
  } } } } } }
}
"""


def nested_cost(n: int) -> int:
    # Each level: its connection, n nodes, n portfolios; then the next level under each.
    return 1 + n + n + n + n * n + n * n + n * n + n**3


ALIASED = "query Aliased {" + " ".join(f"a{i}: contacts(first: 10) {{ nodes {{ id }} }}" for i in range(30)) + "}"
FRAGMENTS = """
query Fragments {
  two: contacts(first: 2) { ...Badges }
  three: contacts(first: 3) { ...Badges }
}
fragment Badges on ContactConnection { nodes { portfolio { name } } }
"""
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id ... on Team { members(first: 4) { nodes { id } } } } }"
CREATE_CONTACTS = """
mutation Create($input: [CreateContactInput!]!, $n: Int) {
  createContacts(input: $input) {
    results { contact { id team { members(first: $n) { nodes { teams(first: $n) { nodes { id } } } } } } }
    userErrors { code }
  }
}
"""


@pytest.fixture
async def agent(factory: Factory, team: Team) -> User:
    return await factory.user(Role.AGENT, teams=[team])


def refusal(requested: int, *, limit: int = Settings.max_query_cost) -> dict[str, Any]:
    return {
        "message": f"This operation could resolve {requested} objects; the limit is {limit}. "
        "Ask for smaller pages (first/last) or fewer nested lists.",
        "extensions": {"code": "QUERY_TOO_COSTLY", **priced(requested, limit=limit)},
    }


class TestPrice:
    @pytest.mark.parametrize(
        ("query", "variables", "price"),
        [
            ("{ __typename }", None, 0),
            ("{ me { id name } }", None, 1),
            # No first/last: the page-size limit, 100.
            ("{ me { teams { nodes { id } } } }", None, 1 + 1 + 100),
            (NESTED, {"n": 2}, nested_cost(2)),
            ("query($n: Int = 3) { contacts(first: $n) { nodes { id } } }", None, 1 + 3),
            ("{ contacts(last: 7) { edges { node { id } } pageInfo { hasNextPage } } }", None, 1 + 7 + 7 + 1),
            (ALIASED, None, 30 * (1 + 10)),
            (FRAGMENTS, None, (1 + 2 + 2) + (1 + 3 + 3)),
            # A contact's own lists count one per contact: nothing paged is inside them.
            (
                "{ contacts(first: 10) { nodes { channels { value } channelsByKind { channels { value } } } } }",
                None,
                41,
            ),
        ],
        ids=[
            "typename",
            "object",
            "default-page",
            "variables",
            "variable-default",
            "last-edges",
            "aliases",
            "fragments",
            "detail-lists",
        ],
    )
    async def test_every_executed_response_says_what_it_cost(
        self,
        client: GraphQLClient,
        factory: Factory,
        agent: User,
        query: str,
        variables: dict[str, Any] | None,
        price: int,
    ) -> None:
        body = await client.gql(query, variables, factory.token(agent))
        assert "errors" not in body, body
        assert body["extensions"] == priced(price)

    async def test_nodes_count_their_ids(
        self, client: GraphQLClient, factory: Factory, agent: User, team: Team
    ) -> None:
        other = await factory.team("Ventas")
        ids = [gid(team), gid(other), gid(agent)]
        body = await client.gql(NODES, {"ids": ids}, factory.token(agent))
        assert body["extensions"] == priced(len(ids) * (1 + 1 + 4))

    async def test_over_a_websocket_the_result_says_it_too(self, server: Server, factory: Factory, agent: User) -> None:
        async with open_socket(server) as ws:
            await init(ws, factory.token(agent))
            result = await execute(ws, "1", NESTED, {"n": 2})
        assert result["extensions"] == priced(nested_cost(2))


class TestRefused:
    @pytest.mark.parametrize("media", MEDIA_TYPES)
    async def test_nested_pages_over_the_limit_are_refused_without_sql(
        self,
        client: GraphQLClient,
        factory: Factory,
        agent: User,
        count_sql: StatementCounter,
        media: str,
    ) -> None:
        token = factory.token(agent)
        count_sql.statements.clear()
        response = await client.post(NESTED, {"n": 100}, token, headers={"accept": media})
        assert response.status_code == REQUEST_ERROR_STATUS[media]
        assert response.json() == {"errors": [refusal(nested_cost(100))]}
        # The token is valid: had anything run, the principal would have been loaded.
        assert count_sql.count == 0

    async def test_aliases_multiply_a_page_that_alone_is_allowed(
        self, server: Server, client: GraphQLClient, factory: Factory, agent: User, count_sql: StatementCounter
    ) -> None:
        limit = server.settings.max_query_cost
        # The largest page size whose three levels fit once…
        n = max(k for k in range(1, 101) if nested_cost(k) <= limit)
        token = factory.token(agent)
        alone = await client.gql(NESTED, {"n": n}, token)
        assert alone["extensions"] == priced(nested_cost(n))
        # …is refused thirty times over.
        aliased = (
            "query Aliased($n: Int) {"
            + " ".join(
                f"a{i}: contacts(first: $n) {{ nodes {{ portfolio {{ contacts(first: $n) {{ nodes {{ portfolio {{ "
                f"contacts(first: $n) {{ nodes {{ id }} }} }} }} }} }} }} }}"
                for i in range(30)
            )
            + "}"
        )
        count_sql.statements.clear()
        body = await client.gql(aliased, {"n": n}, token)
        assert body == {"errors": [refusal(30 * nested_cost(n))]}
        assert count_sql.count == 0

    async def test_over_a_websocket_the_operation_gets_the_error_and_the_socket_stays(
        self, server: Server, factory: Factory, agent: User, count_sql: StatementCounter
    ) -> None:
        async with open_socket(server) as ws:
            await init(ws, factory.token(agent))
            count_sql.statements.clear()
            await send(ws, subscribe("1", NESTED, {"n": 100}))
            error = await receive(ws)
            assert error == {"id": "1", "type": "error", "payload": [refusal(nested_cost(100))]}
            assert count_sql.count == 0
            ok = await execute(ws, "2", NESTED, {"n": 1})
            assert ok["extensions"] == priced(nested_cost(1))

    async def test_a_mutation_whose_payload_would_cost_too_much_writes_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        team: Team,
        count_sql: StatementCounter,
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        rows = [{"firstNames": f"Cliente {i}", "lastNames": "Pérez", "teamId": gid(team)} for i in range(20)]
        token = factory.token(admin)
        count_sql.statements.clear()
        body = await client.gql(CREATE_CONTACTS, {"input": rows, "n": 100}, token)
        # The payload's results count the input's 20 contacts, each with two nested pages of 100.
        price = 1 + 20 * (1 + 1 + 1 + 1 + 100 + 100 * (1 + 100)) + 1
        assert body == {"errors": [refusal(price)]}
        assert count_sql.count == 0
        assert await factory.count(Contact) == 0
        assert await factory.audit_rows() == []
        created = await client.gql(CREATE_CONTACTS, {"input": rows[:2], "n": 1}, token)
        assert created["extensions"] == priced(1 + 2 * (1 + 1 + 1 + 1 + 1 + 1 * (1 + 1)) + 1)
        assert await factory.count(Contact) == 2


async def test_the_limit_is_a_setting(database_url: str, factory: Factory) -> None:
    user = await factory.user()
    async with running(database_url, max_query_cost=5) as (_, client):
        token = factory.token(user)
        allowed = await client.gql("{ contacts(first: 4) { nodes { id } } }", token=token)
        assert allowed == {"data": {"contacts": {"nodes": []}}, "extensions": priced(5, limit=5)}
        refused = await client.gql("{ contacts(first: 5) { nodes { id } } }", token=token)
        assert refused == {"errors": [refusal(6, limit=5)]}
