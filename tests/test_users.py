"""Users through the GraphQL endpoint (R1, R3, R5): sign-in, the users list, visibility and every user mutation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient, Server, StatementCounter
from tests.factories import (
    PASSWORD,
    Factory,
    audit_count,
    audit_team_ids,
    cursor,
    gid,
    last_audit,
    priced,
    problems,
)

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on LoginSuccess { token expiresAt user { id email role teams { totalCount nodes { name } } } }
    ... on UserError { field code message }
  }
}
"""
LOGIN_SUPERVISED = """
mutation LoginSupervised($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    ... on LoginSuccess { user { supervisedTeams { totalCount nodes { name } } } }
  }
}
"""
ME = "query Me { me { id email name role active } }"
USERS = """
query Users($filter: UserFilter, $order: UserOrder, $first: Int, $after: String, $last: Int, $before: String) {
  users(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name } }
  }
}
"""
USER_NAMES = "query UserNames($filter: UserFilter) { users(filter: $filter) { totalCount nodes { name } } }"
USER_TEAMS = "query UserTeams { users { nodes { name teams { totalCount nodes { name } } } } }"
NODE = "query Node($id: ID!) { node(id: $id) { __typename id ... on User { name } } }"
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"
NESTED = "query Nested { users(first: 50) { nodes { teams { nodes { name } } supervisedTeams { totalCount } } } }"

USER_FIELDS = "user { id email name role active } userErrors { field code message }"
CREATE_USER = f"""
mutation CreateUser($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}
"""
UPDATE_USER = f"""
mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {{ updateUser(id: $id, input: $input) {{ {USER_FIELDS} }} }}
"""
DEACTIVATE_USER = f"mutation DeactivateUser($id: ID!) {{ deactivateUser(id: $id) {{ {USER_FIELDS} }} }}"
ACTIVATE_USER = f"mutation ActivateUser($id: ID!) {{ activateUser(id: $id) {{ {USER_FIELDS} }} }}"

INVALID_CREDENTIALS = {
    "__typename": "UserError",
    "field": None,
    "code": "INVALID_CREDENTIALS",
    "message": "Email or password is incorrect",
}
NEW_PASSWORD = "a brand new passphrase"


@dataclass
class Org:
    """North with North Sales below it and North Collections below that; South beside North.

    Sole supervises North (so the whole North subtree), Sam supervises North Sales only,
    Sara supervises South. Ana is in North Sales and South, Carlos in North Collections,
    Sergio in South; Dora is deactivated and in no team.
    """

    factory: Factory
    north: Team
    north_sales: Team
    north_collections: Team
    south: Team
    admin: User
    sole: User
    sam: User
    sara: User
    ana: User
    carlos: User
    sergio: User
    dora: User

    def token(self, user: User) -> str:
        return self.factory.token(user)


@pytest.fixture
async def org(factory: Factory) -> Org:
    f = factory
    north = await f.team("Norte")
    north_sales = await f.team("Ventas Norte", parent=north)
    north_collections = await f.team("Cobranzas Norte", parent=north_sales)
    south = await f.team("Sur")
    return Org(
        factory=f,
        north=north,
        north_sales=north_sales,
        north_collections=north_collections,
        south=south,
        admin=await f.user(Role.ADMIN, name="Ada Admin", email="ada@example.com"),
        sole=await f.user(Role.SUPERVISOR, name="Sole Supervisora", email="sole@example.com", supervises=[north]),
        sam=await f.user(Role.SUPERVISOR, name="Sam Supervisor", email="sam@example.com", supervises=[north_sales]),
        sara=await f.user(Role.SUPERVISOR, name="Sara Sur", email="sara@south.example", supervises=[south]),
        ana=await f.user(Role.AGENT, name="Ana Agente", email="ana@example.com", teams=[north_sales, south]),
        carlos=await f.user(Role.AGENT, name="Carlos Cobrador", email="carlos@example.com", teams=[north_collections]),
        sergio=await f.user(Role.AGENT, name="Sergio Sur", email="sergio@south.example", teams=[south]),
        dora=await f.user(Role.AGENT, name="Dora Dada de Baja", email="dora@example.com", active=False),
    )


# --- helpers -------------------------------------------------------------------------------------------------------


async def user_rows(factory: Factory) -> list[tuple[Any, ...]]:
    """Every column of every user, to prove a refused mutation changed nothing."""
    async with factory.sessionmaker() as session:
        return [tuple(r) for r in (await session.execute(select(User.__table__).order_by(User.id))).all()]


async def user_row(factory: Factory, user: User) -> User:
    async with factory.sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None
        return row


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def login(client: GraphQLClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    result: dict[str, Any] = (await client.data(LOGIN, {"email": email, "password": password}))["login"]
    return result


async def names(client: GraphQLClient, token: str, flt: dict[str, Any] | None = None) -> list[str]:
    data = await client.data(USER_NAMES, {"filter": flt}, token)
    found = [n["name"] for n in data["users"]["nodes"]]
    assert data["users"]["totalCount"] == len(found)
    return found


# --- login ---------------------------------------------------------------------------------------------------------


class TestLogin:
    async def test_success_is_case_insensitive_and_the_token_signs_in(
        self, client: GraphQLClient, org: Org, server: Server
    ) -> None:
        before = datetime.now(UTC).replace(microsecond=0)
        result = await login(client, "  ANA@Example.COM ")
        after = datetime.now(UTC)
        assert result["__typename"] == "LoginSuccess"
        # The user's nested fields resolve as the user who just signed in, in the same document.
        assert result["user"] == {
            "id": gid(org.ana),
            "email": "ana@example.com",
            "role": "AGENT",
            "teams": {"totalCount": 2, "nodes": [{"name": "Sur"}, {"name": "Ventas Norte"}]},
        }
        ttl = timedelta(seconds=server.settings.token_ttl_seconds)
        assert before + ttl <= datetime.fromisoformat(result["expiresAt"]) <= after + ttl
        me = await client.data(ME, token=result["token"])
        assert me["me"] == {
            "id": gid(org.ana),
            "email": "ana@example.com",
            "name": "Ana Agente",
            "role": "AGENT",
            "active": True,
        }

    async def test_supervisor_sees_its_subtree_teams_in_the_same_document(
        self, client: GraphQLClient, org: Org
    ) -> None:
        data = await client.data(LOGIN_SUPERVISED, {"email": "sam@example.com", "password": PASSWORD})
        assert data["login"]["user"]["supervisedTeams"] == {"totalCount": 1, "nodes": [{"name": "Ventas Norte"}]}

    @pytest.mark.parametrize(
        ("email", "password"),
        [
            pytest.param("ana@example.com", "wrong password", id="wrong-password"),
            pytest.param("ANA@example.com", PASSWORD.upper(), id="password-is-case-sensitive"),
            pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
            pytest.param("dora@example.com", PASSWORD, id="deactivated-user"),
            pytest.param("", PASSWORD, id="empty-email"),
            pytest.param("ana\u0000@example.com", PASSWORD, id="nul-in-email"),
        ],
    )
    async def test_every_failure_is_the_same_user_error(
        self, client: GraphQLClient, org: Org, email: str, password: str
    ) -> None:
        assert await login(client, email, password) == INVALID_CREDENTIALS
        assert await audit_count(org.factory) == 0

    async def test_logins_write_no_audit_row(self, client: GraphQLClient, org: Org) -> None:
        assert (await login(client, "ada@example.com"))["__typename"] == "LoginSuccess"
        assert (await login(client, "ada@example.com", "nope nope"))["__typename"] == "UserError"
        assert await org.factory.audit_rows() == []

    async def test_login_needs_no_token_and_ignores_a_stale_one(self, client: GraphQLClient, org: Org) -> None:
        stale = org.factory.token(org.sam, now=datetime.now(UTC) - timedelta(days=2))
        data = await client.data(LOGIN, {"email": "sole@example.com", "password": PASSWORD}, stale)
        assert data["login"]["user"]["id"] == gid(org.sole)


# --- me ------------------------------------------------------------------------------------------------------------


class TestMe:
    @pytest.mark.parametrize(
        ("who", "role"), [("admin", "ADMIN"), ("sole", "SUPERVISOR"), ("sam", "SUPERVISOR"), ("carlos", "AGENT")]
    )
    async def test_each_role_reads_itself(self, client: GraphQLClient, org: Org, who: str, role: str) -> None:
        user: User = getattr(org, who)
        data = await client.data(ME, token=org.token(user))
        assert data["me"] == {"id": gid(user), "email": user.email, "name": user.name, "role": role, "active": True}

    async def test_without_a_token_it_is_unauthenticated(self, client: GraphQLClient, org: Org) -> None:
        body = await client.gql(ME)
        assert error_code(body) == "UNAUTHENTICATED"
        assert body["data"] == {"me": None}


# --- the users list ------------------------------------------------------------------------------------------------


class TestUsersFilter:
    async def test_no_filter_lists_everyone_by_name(self, client: GraphQLClient, org: Org) -> None:
        assert await names(client, org.token(org.admin)) == [
            "Ada Admin",
            "Ana Agente",
            "Carlos Cobrador",
            "Dora Dada de Baja",
            "Sam Supervisor",
            "Sara Sur",
            "Sergio Sur",
            "Sole Supervisora",
        ]

    @pytest.mark.parametrize(
        ("search", "expected"),
        [
            pytest.param("sur", ["Sara Sur", "Sergio Sur"], id="name-case-insensitive"),
            pytest.param("  SUR  ", ["Sara Sur", "Sergio Sur"], id="trimmed"),
            pytest.param("south.example", ["Sara Sur", "Sergio Sur"], id="email"),
            pytest.param("ana@", ["Ana Agente"], id="email-prefix"),
            pytest.param("cobra", ["Carlos Cobrador"], id="part-of-a-word"),
            pytest.param("%", [], id="percent-is-literal"),
            pytest.param("_", [], id="underscore-is-literal"),
            pytest.param("nadie", [], id="no-match"),
            pytest.param("a\u0000", [], id="nul-matches-nothing"),
        ],
    )
    async def test_search_on_name_and_email(
        self, client: GraphQLClient, org: Org, search: str, expected: list[str]
    ) -> None:
        assert await names(client, org.token(org.admin), {"search": search}) == expected

    @pytest.mark.parametrize(
        ("roles", "expected"),
        [
            (["ADMIN"], ["Ada Admin"]),
            (["SUPERVISOR"], ["Sam Supervisor", "Sara Sur", "Sole Supervisora"]),
            (["ADMIN", "AGENT"], ["Ada Admin", "Ana Agente", "Carlos Cobrador", "Dora Dada de Baja", "Sergio Sur"]),
        ],
    )
    async def test_roles(self, client: GraphQLClient, org: Org, roles: list[str], expected: list[str]) -> None:
        assert await names(client, org.token(org.admin), {"roles": roles}) == expected

    async def test_active(self, client: GraphQLClient, org: Org) -> None:
        token = org.token(org.admin)
        assert await names(client, token, {"active": False}) == ["Dora Dada de Baja"]
        assert "Dora Dada de Baja" not in await names(client, token, {"active": True})
        assert len(await names(client, token, {"active": True})) == 7

    async def test_team_ids_are_members_of_any_of_them(self, client: GraphQLClient, org: Org) -> None:
        token = org.token(org.admin)
        # Members only: the supervisors of a team are not its members.
        assert await names(client, token, {"teamIds": [gid(org.north_sales)]}) == ["Ana Agente"]
        assert await names(client, token, {"teamIds": [gid(org.north)]}) == []
        assert await names(client, token, {"teamIds": [gid(org.south), gid(org.north_collections)]}) == [
            "Ana Agente",
            "Carlos Cobrador",
            "Sergio Sur",
        ]
        assert await names(client, token, {"teamIds": [to_global_id("Team", 999_999)]}) == []

    async def test_conditions_combine(self, client: GraphQLClient, org: Org) -> None:
        token = org.token(org.admin)
        flt: dict[str, Any] = {"search": "sur", "roles": ["AGENT"], "active": True, "teamIds": [gid(org.south)]}
        # Sara Sur is no agent nor a member of South; Ana is in South but her name and email lack "sur".
        assert await names(client, token, flt) == ["Sergio Sur"]
        assert await names(client, token, {**flt, "active": False}) == []
        assert await names(client, token, {**flt, "search": None}) == ["Ana Agente", "Sergio Sur"]

    async def test_a_team_id_of_another_type_is_not_found(self, client: GraphQLClient, org: Org) -> None:
        body = await client.gql(USER_NAMES, {"filter": {"teamIds": [gid(org.ana)]}}, org.token(org.admin))
        assert error_code(body) == "NOT_FOUND"
        assert body["errors"][0]["extensions"]["field"] == "filter.teamIds.0"

    async def test_an_invisible_team_filters_like_a_missing_one(self, client: GraphQLClient, org: Org) -> None:
        # Ana is visible to Sam (North Sales) and is also a member of South, which Sam cannot see.
        token = org.token(org.sam)
        missing = await client.gql(USER_NAMES, {"filter": {"teamIds": [to_global_id("Team", 999_999)]}}, token)
        invisible = await client.gql(USER_NAMES, {"filter": {"teamIds": [gid(org.south)]}}, token)
        # Both priced alike too: a connection and a default page of 100 (resolvers/cost.py).
        assert (
            invisible
            == missing
            == {
                "data": {"users": {"totalCount": 0, "nodes": []}},
                "extensions": priced(1 + 100),
            }
        )
        assert await names(client, token, {"teamIds": [gid(org.south), gid(org.north_sales)]}) == ["Ana Agente"]


# Created in this order; names, emails and creation order are three different orders.
SEVEN = [("Elena", "b"), ("Ana", "f"), ("Gina", "a"), ("Carla", "g"), ("Bruno", "d"), ("Fabio", "c"), ("Diego", "e")]
BY_NAME = sorted(n for n, _ in SEVEN)
BY_EMAIL = [n for n, _ in sorted(SEVEN, key=lambda s: s[1])]
BY_CREATION = [n for n, _ in SEVEN]


@pytest.fixture
async def seven(factory: Factory) -> str:
    """Seven users (the first an admin); returns the admin's token."""
    admin = None
    for i, (name, letter) in enumerate(SEVEN):
        user = await factory.user(Role.ADMIN if i == 0 else Role.AGENT, name=name, email=f"{letter}@example.com")
        admin = admin or user
    assert admin is not None
    return factory.token(admin)


def page_names(page: dict[str, Any]) -> list[str]:
    return [e["node"]["name"] for e in page["edges"]]


class TestUsersPagination:
    ORDERS = [
        pytest.param("NAME", "ASC", BY_NAME, id="name-asc"),
        pytest.param("NAME", "DESC", BY_NAME[::-1], id="name-desc"),
        pytest.param("EMAIL", "ASC", BY_EMAIL, id="email-asc"),
        pytest.param("EMAIL", "DESC", BY_EMAIL[::-1], id="email-desc"),
        pytest.param("CREATED_AT", "ASC", BY_CREATION, id="created-asc"),
        pytest.param("CREATED_AT", "DESC", BY_CREATION[::-1], id="created-desc"),
    ]

    async def page(self, client: GraphQLClient, token: str, **variables: Any) -> dict[str, Any]:
        users: dict[str, Any] = (await client.data(USERS, variables, token))["users"]
        assert users["totalCount"] == 7
        info = users["pageInfo"]
        cursors = [e["cursor"] for e in users["edges"]]
        assert (info["startCursor"], info["endCursor"]) == ((cursors[0], cursors[-1]) if cursors else (None, None))
        return users

    @pytest.mark.parametrize(("field", "direction", "expected"), ORDERS)
    async def test_forward_with_first_and_after(
        self, client: GraphQLClient, seven: str, field: str, direction: str, expected: list[str]
    ) -> None:
        order = {"field": field, "direction": direction}
        one = await self.page(client, seven, order=order, first=3)
        assert page_names(one) == expected[0:3]
        assert (one["pageInfo"]["hasPreviousPage"], one["pageInfo"]["hasNextPage"]) == (False, True)
        two = await self.page(client, seven, order=order, first=3, after=one["pageInfo"]["endCursor"])
        assert page_names(two) == expected[3:6]
        assert (two["pageInfo"]["hasPreviousPage"], two["pageInfo"]["hasNextPage"]) == (True, True)
        three = await self.page(client, seven, order=order, first=3, after=two["pageInfo"]["endCursor"])
        assert page_names(three) == expected[6:]
        assert (three["pageInfo"]["hasPreviousPage"], three["pageInfo"]["hasNextPage"]) == (True, False)
        past = await self.page(client, seven, order=order, first=3, after=three["pageInfo"]["endCursor"])
        assert page_names(past) == []
        assert past["pageInfo"]["hasNextPage"] is False

    @pytest.mark.parametrize(("field", "direction", "expected"), ORDERS)
    async def test_backward_with_last_and_before(
        self, client: GraphQLClient, seven: str, field: str, direction: str, expected: list[str]
    ) -> None:
        order = {"field": field, "direction": direction}
        one = await self.page(client, seven, order=order, last=3)
        assert page_names(one) == expected[4:7]
        assert (one["pageInfo"]["hasPreviousPage"], one["pageInfo"]["hasNextPage"]) == (True, False)
        two = await self.page(client, seven, order=order, last=3, before=one["pageInfo"]["startCursor"])
        assert page_names(two) == expected[1:4]
        assert (two["pageInfo"]["hasPreviousPage"], two["pageInfo"]["hasNextPage"]) == (True, True)
        three = await self.page(client, seven, order=order, last=3, before=two["pageInfo"]["startCursor"])
        assert page_names(three) == expected[0:1]
        assert (three["pageInfo"]["hasPreviousPage"], three["pageInfo"]["hasNextPage"]) == (False, True)

    async def test_a_cursor_of_one_page_walks_both_ways(self, client: GraphQLClient, seven: str) -> None:
        middle = await self.page(
            client, seven, first=3, after=(await self.page(client, seven, first=2))["edges"][-1]["cursor"]
        )
        assert page_names(middle) == BY_NAME[2:5]
        back = await self.page(client, seven, last=5, before=middle["edges"][1]["cursor"])
        assert page_names(back) == BY_NAME[0:3]
        assert back["pageInfo"]["hasPreviousPage"] is False

    async def test_defaults_and_bounds(self, client: GraphQLClient, seven: str, server: Server) -> None:
        everyone = await self.page(client, seven)
        assert page_names(everyone) == BY_NAME
        assert (everyone["pageInfo"]["hasPreviousPage"], everyone["pageInfo"]["hasNextPage"]) == (False, False)
        limit = server.settings.max_page_size
        assert page_names(await self.page(client, seven, first=limit)) == BY_NAME
        assert page_names(await self.page(client, seven, last=limit)) == BY_NAME
        empty = await self.page(client, seven, first=0)
        assert page_names(empty) == []
        assert empty["pageInfo"]["hasNextPage"] is True

    @pytest.mark.parametrize(
        "arguments",
        [
            pytest.param({"first": 101}, id="first-above-the-limit"),
            pytest.param({"last": 101}, id="last-above-the-limit"),
            pytest.param({"first": -1}, id="negative"),
            pytest.param({"first": 2, "last": 2}, id="first-and-last"),
            pytest.param({"after": "x", "before": "y"}, id="after-and-before"),
            pytest.param({"first": 2, "after": "not a cursor"}, id="garbage"),
            pytest.param({"first": 2, "after": "%%%"}, id="not-base64"),
            pytest.param({"first": 2, "after": cursor({"name": "Ana"})}, id="not-a-list"),
            pytest.param({"first": 2, "after": cursor(["Ana"])}, id="too-short"),
            pytest.param({"first": 2, "after": cursor([1, 1])}, id="wrong-type"),
            pytest.param({"first": 2, "after": cursor(["Ana", True])}, id="bool-for-id"),
            pytest.param({"first": 2, "after": cursor(["Ana", 10**30])}, id="id-out-of-range"),
            pytest.param({"first": 2, "after": cursor(["An\u0000a", 1])}, id="nul-in-text"),
            pytest.param({"first": 2, "after": cursor(["Ana", 1]), "order": {"field": "CREATED_AT"}}, id="other-order"),
        ],
    )
    async def test_bad_page_requests(self, client: GraphQLClient, seven: str, arguments: dict[str, Any]) -> None:
        body = await client.gql(USERS, arguments, seven)
        assert error_code(body) == "BAD_USER_INPUT"
        assert body["data"] == {"users": None}


# --- visibility ----------------------------------------------------------------------------------------------------


class TestUsersVisibility:
    async def test_admin_sees_everyone(self, client: GraphQLClient, org: Org) -> None:
        assert len(await names(client, org.token(org.admin))) == 8

    async def test_supervisor_sees_the_members_and_supervisors_of_its_subtrees(
        self, client: GraphQLClient, org: Org
    ) -> None:
        assert await names(client, org.token(org.sole)) == [
            "Ana Agente",
            "Carlos Cobrador",
            "Sam Supervisor",
            "Sole Supervisora",
        ]
        # Sam supervises North Sales only: not North, so not Sole.
        assert await names(client, org.token(org.sam)) == ["Ana Agente", "Carlos Cobrador", "Sam Supervisor"]
        assert await names(client, org.token(org.sara)) == ["Ana Agente", "Sara Sur", "Sergio Sur"]

    async def test_supervisor_without_teams_sees_itself(self, client: GraphQLClient, org: Org) -> None:
        lonely = await org.factory.user(Role.SUPERVISOR, name="Lorena Sola")
        assert await names(client, org.token(lonely)) == ["Lorena Sola"]

    @pytest.mark.parametrize("who", ["ana", "carlos", "sergio"])
    async def test_agent_sees_only_itself(self, client: GraphQLClient, org: Org, who: str) -> None:
        agent: User = getattr(org, who)
        assert await names(client, org.token(agent)) == [agent.name]
        assert await names(client, org.token(agent), {"roles": ["ADMIN", "SUPERVISOR"]}) == []

    async def test_nested_teams_show_only_visible_teams(self, client: GraphQLClient, org: Org) -> None:
        data = await client.data(USER_TEAMS, token=org.token(org.sam))
        ana = next(u for u in data["users"]["nodes"] if u["name"] == "Ana Agente")
        # Ana is also in South, which Sam cannot see.
        assert ana["teams"] == {"totalCount": 1, "nodes": [{"name": "Ventas Norte"}]}
        data = await client.data(USER_TEAMS, token=org.token(org.admin))
        ana = next(u for u in data["users"]["nodes"] if u["name"] == "Ana Agente")
        assert ana["teams"] == {"totalCount": 2, "nodes": [{"name": "Sur"}, {"name": "Ventas Norte"}]}

    @pytest.mark.parametrize(
        ("who", "hidden"),
        [
            ("sole", ["admin", "sara", "sergio", "dora"]),
            ("sam", ["admin", "sole", "sara", "sergio"]),
            ("ana", ["admin", "sam", "carlos", "sergio"]),
            ("carlos", ["sole", "ana"]),
        ],
    )
    async def test_node_of_an_invisible_user_reads_as_missing(
        self, client: GraphQLClient, org: Org, who: str, hidden: list[str]
    ) -> None:
        token = org.token(getattr(org, who))
        missing = await client.gql(NODE, {"id": to_global_id("User", 999_999)}, token)
        assert missing == {
            "data": {"node": None},
            "extensions": priced(1),
        }
        for name in hidden:
            assert await client.gql(NODE, {"id": gid(getattr(org, name))}, token) == missing
        ids = [gid(getattr(org, who))] + [gid(getattr(org, name)) for name in hidden]
        data = await client.data(NODES, {"ids": ids}, token)
        assert data["nodes"] == [{"id": ids[0]}] + [None] * len(hidden)

    async def test_node_of_a_visible_user(self, client: GraphQLClient, org: Org) -> None:
        data = await client.data(NODE, {"id": gid(org.carlos)}, org.token(org.sole))
        assert data["node"] == {"__typename": "User", "id": gid(org.carlos), "name": "Carlos Cobrador"}

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param("garbage", id="garbage"),
            pytest.param(to_global_id("User", 2**63), id="out-of-range"),
            pytest.param(to_global_id("User", 0), id="zero"),
        ],
    )
    async def test_node_with_an_id_never_issued_is_bad_input(self, client: GraphQLClient, org: Org, bad: str) -> None:
        body = await client.gql(NODE, {"id": bad}, org.token(org.admin))
        assert error_code(body) == "BAD_USER_INPUT"


# --- mutations -----------------------------------------------------------------------------------------------------


def new_user(**overrides: Any) -> dict[str, Any]:
    values = {"email": "nuevo@example.com", "name": "Nuevo Usuario", "role": "AGENT", "password": NEW_PASSWORD}
    values.update(overrides)
    return values


class TestCreateUser:
    async def test_admin_creates_and_the_trail_never_holds_the_password(self, client: GraphQLClient, org: Org) -> None:
        data = await client.data(
            CREATE_USER,
            {"input": new_user(email="  Nuevo@EXAMPLE.com ", name="  Nuevo   Usuario ", role="SUPERVISOR")},
            org.token(org.admin),
        )
        payload = data["createUser"]
        assert payload["userErrors"] == []
        created = payload["user"]
        assert created == {
            "id": created["id"],
            "email": "Nuevo@example.com",
            "name": "Nuevo Usuario",
            "role": "SUPERVISOR",
            "active": True,
        }
        event = await last_audit(org.factory)
        assert await audit_count(org.factory) == 1
        assert to_global_id("User", event.resource_id) == created["id"]
        assert (event.action, event.resource_type, event.resource_name) == ("CREATED", "USER", "Nuevo Usuario")
        assert (event.actor_id, event.actor_name) == (org.admin.id, "Ada Admin")
        assert event.changes == {
            "active": {"before": None, "after": True},
            "email": {"before": None, "after": "Nuevo@example.com"},
            "name": {"before": None, "after": "Nuevo Usuario"},
            "role": {"before": None, "after": "SUPERVISOR"},
        }
        assert NEW_PASSWORD not in json.dumps(event.changes)
        # The new user signs in with its password, whatever the case of its email.
        signed_in = await login(client, "nuevo@example.com", NEW_PASSWORD)
        assert signed_in["user"]["id"] == created["id"]

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            pytest.param({"email": "not-an-email"}, ("INVALID", "input.email"), id="bad-email"),
            pytest.param({"email": "  "}, ("INVALID", "input.email"), id="blank-email"),
            pytest.param({"email": "ana@@example.com"}, ("INVALID", "input.email"), id="double-at"),
            pytest.param({"name": "   "}, ("REQUIRED", "input.name"), id="blank-name"),
            pytest.param({"name": "x" * 201}, ("TOO_LONG", "input.name"), id="long-name"),
            pytest.param({"name": "Nul\u0000"}, ("INVALID", "input.name"), id="nul-in-name"),
            pytest.param({"password": "short"}, ("INVALID", "input.password"), id="short-password"),
            pytest.param({"password": "x" * 257}, ("TOO_LONG", "input.password"), id="long-password"),
            pytest.param({"email": "ANA@EXAMPLE.COM"}, ("ALREADY_EXISTS", "input.email"), id="duplicate-other-case"),
            pytest.param({"email": "ana@example.com"}, ("ALREADY_EXISTS", "input.email"), id="duplicate"),
            pytest.param({"email": "Dora@Example.com"}, ("ALREADY_EXISTS", "input.email"), id="duplicate-of-inactive"),
        ],
    )
    async def test_validation(
        self, client: GraphQLClient, org: Org, overrides: dict[str, Any], expected: tuple[str, str]
    ) -> None:
        before = await user_rows(org.factory)
        data = await client.data(CREATE_USER, {"input": new_user(**overrides)}, org.token(org.admin))
        assert data["createUser"]["user"] is None
        assert problems(data["createUser"]) == [expected]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize("who", ["sole", "ana"])
    async def test_only_admins(self, client: GraphQLClient, org: Org, who: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(CREATE_USER, {"input": new_user()}, org.token(getattr(org, who)))
        assert data["createUser"]["user"] is None
        assert problems(data["createUser"]) == [("FORBIDDEN", None)]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    async def test_unsigned_is_unauthenticated(self, client: GraphQLClient, org: Org) -> None:
        before = await user_rows(org.factory)
        body = await client.gql(CREATE_USER, {"input": new_user()})
        assert error_code(body) == "UNAUTHENTICATED"
        assert await user_rows(org.factory) == before


class TestUpdateUser:
    async def update(self, client: GraphQLClient, org: Org, target: User, values: dict[str, Any]) -> dict[str, Any]:
        data = await client.data(UPDATE_USER, {"id": gid(target), "input": values}, org.token(org.admin))
        payload: dict[str, Any] = data["updateUser"]
        return payload

    async def test_only_given_fields_change(self, client: GraphQLClient, org: Org) -> None:
        before = await user_row(org.factory, org.ana)
        payload = await self.update(client, org, org.ana, {"name": " Ana  María "})
        assert payload == {
            "user": {
                "id": gid(org.ana),
                "email": "ana@example.com",
                "name": "Ana María",
                "role": "AGENT",
                "active": True,
            },
            "userErrors": [],
        }
        after = await user_row(org.factory, org.ana)
        assert (after.email, after.role, after.is_active, after.password_hash) == (
            before.email,
            before.role,
            before.is_active,
            before.password_hash,
        )
        event = await last_audit(org.factory)
        assert await audit_count(org.factory) == 1
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "UPDATED",
            "USER",
            org.ana.id,
            "Ana María",
        )
        assert event.changes == {"name": {"before": "Ana Agente", "after": "Ana María"}}
        # Scoped to Ana's teams, so their supervisors can read it.
        assert await audit_team_ids(org.factory, event) == {org.north_sales.id, org.south.id}

    async def test_email_and_role(self, client: GraphQLClient, org: Org) -> None:
        payload = await self.update(client, org, org.sergio, {"email": "Sergio@SUR.example", "role": "SUPERVISOR"})
        assert payload["userErrors"] == []
        assert (payload["user"]["email"], payload["user"]["role"], payload["user"]["name"]) == (
            "Sergio@sur.example",
            "SUPERVISOR",
            "Sergio Sur",
        )
        event = await last_audit(org.factory)
        assert event.changes == {
            "email": {"before": "sergio@south.example", "after": "Sergio@sur.example"},
            "role": {"before": "AGENT", "after": "SUPERVISOR"},
        }
        assert (await login(client, "sergio@sur.example"))["user"]["role"] == "SUPERVISOR"

    async def test_password_is_recorded_only_as_changed(self, client: GraphQLClient, org: Org) -> None:
        before = await user_row(org.factory, org.ana)
        payload = await self.update(client, org, org.ana, {"password": NEW_PASSWORD})
        assert payload["userErrors"] == []
        after = await user_row(org.factory, org.ana)
        assert after.password_hash != before.password_hash
        assert NEW_PASSWORD not in after.password_hash
        event = await last_audit(org.factory)
        assert event.changes == {"password": {"before": None, "after": "changed"}}
        assert NEW_PASSWORD not in json.dumps(event.changes)
        assert before.password_hash not in json.dumps(event.changes)
        assert await login(client, "ana@example.com") == INVALID_CREDENTIALS
        assert (await login(client, "ana@example.com", NEW_PASSWORD))["__typename"] == "LoginSuccess"

    async def test_every_field_at_once_is_one_audit_row(self, client: GraphQLClient, org: Org) -> None:
        values = {"email": "ana2@example.com", "name": "Ana Dos", "role": "SUPERVISOR", "password": NEW_PASSWORD}
        assert (await self.update(client, org, org.ana, values))["userErrors"] == []
        assert await audit_count(org.factory) == 1
        assert sorted((await last_audit(org.factory)).changes) == ["email", "name", "password", "role"]

    async def test_same_values_change_nothing_and_write_no_row(self, client: GraphQLClient, org: Org) -> None:
        before = await user_rows(org.factory)
        payload = await self.update(client, org, org.ana, {"name": " Ana  Agente ", "email": "ana@example.com"})
        assert payload["userErrors"] == []
        assert payload["user"]["email"] == "ana@example.com"
        payload = await self.update(client, org, org.ana, {})
        assert payload["userErrors"] == []
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    async def test_own_email_in_another_case_is_not_a_duplicate(self, client: GraphQLClient, org: Org) -> None:
        payload = await self.update(client, org, org.ana, {"email": "ANA@example.com"})
        assert payload["userErrors"] == []
        assert payload["user"]["email"] == "ANA@example.com"

    @pytest.mark.parametrize("field", ["email", "name", "role", "password"])
    async def test_explicit_null_is_required(self, client: GraphQLClient, org: Org, field: str) -> None:
        before = await user_rows(org.factory)
        payload = await self.update(client, org, org.ana, {"name": "Cambiado", field: None})
        assert payload["user"] is None
        assert problems(payload) == [("REQUIRED", f"input.{field}")]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            pytest.param({"email": "nope"}, ("INVALID", "input.email"), id="bad-email"),
            pytest.param({"name": " \t "}, ("REQUIRED", "input.name"), id="blank-name"),
            pytest.param({"name": "x" * 201}, ("TOO_LONG", "input.name"), id="long-name"),
            pytest.param({"password": "1234567"}, ("INVALID", "input.password"), id="short-password"),
            pytest.param(
                {"email": "SERGIO@South.Example"}, ("ALREADY_EXISTS", "input.email"), id="duplicate-other-case"
            ),
            # A valid field beside a bad one changes nothing either.
            pytest.param(
                {"name": "Válido", "email": "sole@EXAMPLE.com"}, ("ALREADY_EXISTS", "input.email"), id="mixed"
            ),
            pytest.param({"name": "Válido", "password": "short"}, ("INVALID", "input.password"), id="mixed-password"),
        ],
    )
    async def test_validation(
        self, client: GraphQLClient, org: Org, values: dict[str, Any], expected: tuple[str, str]
    ) -> None:
        before = await user_rows(org.factory)
        payload = await self.update(client, org, org.ana, values)
        assert payload["user"] is None
        assert problems(payload) == [expected]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize(
        "bad_id",
        [
            pytest.param(to_global_id("User", 999_999), id="missing"),
            pytest.param(to_global_id("Team", 1), id="team-id"),
            pytest.param("garbage", id="garbage"),
            pytest.param(to_global_id("User", 2**63), id="out-of-range"),
        ],
    )
    async def test_unknown_ids_are_not_found(self, client: GraphQLClient, org: Org, bad_id: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(UPDATE_USER, {"id": bad_id, "input": {"name": "X"}}, org.token(org.admin))
        assert problems(data["updateUser"]) == [("NOT_FOUND", "id")]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize(
        ("who", "target"),
        [("sole", "carlos"), ("sole", "sole"), ("sole", "admin"), ("ana", "ana"), ("ana", "sergio")],
    )
    async def test_only_admins(self, client: GraphQLClient, org: Org, who: str, target: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(
            UPDATE_USER,
            {"id": gid(getattr(org, target)), "input": {"name": "Hackeado", "role": "ADMIN"}},
            org.token(getattr(org, who)),
        )
        assert data["updateUser"]["user"] is None
        assert problems(data["updateUser"]) == [("FORBIDDEN", None)]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    async def test_the_last_active_admin_keeps_the_role(self, client: GraphQLClient, org: Org) -> None:
        # An inactive admin does not count.
        await org.factory.user(Role.ADMIN, name="Ex Admin", active=False)
        before = await user_rows(org.factory)
        payload = await self.update(client, org, org.admin, {"role": "SUPERVISOR", "name": "Ada Otra"})
        assert problems(payload) == [("CONFLICT", "input.role")]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0
        # Keeping the role is not a demotion.
        assert (await self.update(client, org, org.admin, {"role": "ADMIN"}))["userErrors"] == []
        assert await audit_count(org.factory) == 0

    async def test_an_admin_may_be_demoted_while_another_remains(self, client: GraphQLClient, org: Org) -> None:
        other = await org.factory.user(Role.ADMIN, name="Otro Admin")
        payload = await self.update(client, org, other, {"role": "AGENT"})
        assert payload["userErrors"] == []
        assert payload["user"]["role"] == "AGENT"
        # Ada is the last one now, and cannot demote herself.
        assert problems(await self.update(client, org, org.admin, {"role": "AGENT"})) == [("CONFLICT", "input.role")]
        # The demoted user's existing token now acts as an agent.
        body = await client.gql(CREATE_USER, {"input": new_user()}, org.token(other))
        assert problems(body["data"]["createUser"]) == [("FORBIDDEN", None)]


class TestDeactivateUser:
    async def test_deactivated_token_stops_at_once_and_works_again_after_activation(
        self, client: GraphQLClient, org: Org
    ) -> None:
        token = org.token(org.carlos)
        assert (await client.data(ME, token=token))["me"]["active"] is True
        admin = org.token(org.admin)
        data = await client.data(DEACTIVATE_USER, {"id": gid(org.carlos)}, admin)
        assert data["deactivateUser"] == {
            "user": {
                "id": gid(org.carlos),
                "email": "carlos@example.com",
                "name": "Carlos Cobrador",
                "role": "AGENT",
                "active": False,
            },
            "userErrors": [],
        }
        event = await last_audit(org.factory)
        assert (event.action, event.resource_type, event.resource_id, event.actor_id) == (
            "DEACTIVATED",
            "USER",
            org.carlos.id,
            org.admin.id,
        )
        assert event.changes == {"active": {"before": True, "after": False}}
        assert await audit_team_ids(org.factory, event) == {org.north_collections.id}
        body = await client.gql(ME, token=token)
        assert error_code(body) == "UNAUTHENTICATED"
        assert body["data"] == {"me": None}
        assert await login(client, "carlos@example.com") == INVALID_CREDENTIALS
        # Still listed, as inactive.
        assert await names(client, admin, {"active": False}) == ["Carlos Cobrador", "Dora Dada de Baja"]

        data = await client.data(ACTIVATE_USER, {"id": gid(org.carlos)}, admin)
        assert data["activateUser"]["user"]["active"] is True
        event = await last_audit(org.factory)
        assert (event.action, event.changes) == ("ACTIVATED", {"active": {"before": False, "after": True}})
        assert await audit_count(org.factory) == 2
        assert (await client.data(ME, token=token))["me"]["id"] == gid(org.carlos)

    async def test_already_inactive_is_a_no_op(self, client: GraphQLClient, org: Org) -> None:
        before = await user_rows(org.factory)
        data = await client.data(DEACTIVATE_USER, {"id": gid(org.dora)}, org.token(org.admin))
        assert data["deactivateUser"]["userErrors"] == []
        assert data["deactivateUser"]["user"]["active"] is False
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    async def test_you_cannot_deactivate_yourself(self, client: GraphQLClient, org: Org) -> None:
        # With another active admin too: it is about yourself, not about the last admin.
        other = await org.factory.user(Role.ADMIN, name="Otro Admin")
        for admin in (org.admin, other):
            before = await user_rows(org.factory)
            data = await client.data(DEACTIVATE_USER, {"id": gid(admin)}, org.token(admin))
            assert problems(data["deactivateUser"]) == [("CONFLICT", "id")]
            assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    async def test_the_last_active_admin_stays(self, client: GraphQLClient, factory: Factory) -> None:
        admin = await factory.user(Role.ADMIN, name="Única")
        await factory.user(Role.ADMIN, name="Inactiva", active=False)
        before = await user_rows(factory)
        data = await client.data(DEACTIVATE_USER, {"id": gid(admin)}, factory.token(admin))
        assert data["deactivateUser"]["user"] is None
        assert [e["code"] for e in data["deactivateUser"]["userErrors"]] == ["CONFLICT"]
        assert await user_rows(factory) == before
        assert await audit_count(factory) == 0

    async def test_another_admin_may_be_deactivated(self, client: GraphQLClient, org: Org) -> None:
        other = await org.factory.user(Role.ADMIN, name="Otro Admin")
        data = await client.data(DEACTIVATE_USER, {"id": gid(other)}, org.token(org.admin))
        assert data["deactivateUser"]["user"]["active"] is False
        assert await audit_count(org.factory) == 1
        assert error_code(await client.gql(ME, token=org.token(other))) == "UNAUTHENTICATED"

    @pytest.mark.parametrize(("who", "target"), [("sole", "carlos"), ("sam", "sam"), ("ana", "ana"), ("ana", "admin")])
    async def test_only_admins(self, client: GraphQLClient, org: Org, who: str, target: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(DEACTIVATE_USER, {"id": gid(getattr(org, target))}, org.token(getattr(org, who)))
        assert problems(data["deactivateUser"]) == [("FORBIDDEN", None)]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize("bad_id", [to_global_id("User", 999_999), to_global_id("Team", 1), "garbage"])
    async def test_unknown_ids_are_not_found(self, client: GraphQLClient, org: Org, bad_id: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(DEACTIVATE_USER, {"id": bad_id}, org.token(org.admin))
        assert problems(data["deactivateUser"]) == [("NOT_FOUND", "id")]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0


class TestActivateUser:
    async def test_admin_activates(self, client: GraphQLClient, org: Org) -> None:
        data = await client.data(ACTIVATE_USER, {"id": gid(org.dora)}, org.token(org.admin))
        assert data["activateUser"]["userErrors"] == []
        assert data["activateUser"]["user"]["active"] is True
        event = await last_audit(org.factory)
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "ACTIVATED",
            "USER",
            org.dora.id,
            "Dora Dada de Baja",
        )
        assert event.changes == {"active": {"before": False, "after": True}}
        assert await audit_count(org.factory) == 1
        assert (await login(client, "dora@example.com"))["__typename"] == "LoginSuccess"

    async def test_already_active_is_a_no_op(self, client: GraphQLClient, org: Org) -> None:
        before = await user_rows(org.factory)
        data = await client.data(ACTIVATE_USER, {"id": gid(org.ana)}, org.token(org.admin))
        assert data["activateUser"]["userErrors"] == []
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize("who", ["sole", "sergio"])
    async def test_only_admins(self, client: GraphQLClient, org: Org, who: str) -> None:
        before = await user_rows(org.factory)
        data = await client.data(ACTIVATE_USER, {"id": gid(org.dora)}, org.token(getattr(org, who)))
        assert problems(data["activateUser"]) == [("FORBIDDEN", None)]
        assert await user_rows(org.factory) == before
        assert await audit_count(org.factory) == 0

    @pytest.mark.parametrize("bad_id", [to_global_id("User", 999_999), to_global_id("Team", 1)])
    async def test_unknown_ids_are_not_found(self, client: GraphQLClient, org: Org, bad_id: str) -> None:
        data = await client.data(ACTIVATE_USER, {"id": bad_id}, org.token(org.admin))
        assert problems(data["activateUser"]) == [("NOT_FOUND", "id")]
        assert await audit_count(org.factory) == 0


# --- cost ----------------------------------------------------------------------------------------------------------


class TestNestedUsersCost:
    """`users { teams, supervisedTeams }` costs the same number of statements for 5 users as for 50."""

    # Strawberry: users page 1, teams pages 1, supervised-team counts 1. Compiled: one.
    STATEMENTS = 3

    @staticmethod
    def expected(client: GraphQLClient) -> int:
        return 1 if client.server.compiles else TestNestedUsersCost.STATEMENTS

    async def run(self, client: GraphQLClient, token: str, count_sql: StatementCounter, expected: int) -> int:
        count_sql.statements.clear()
        data = await client.data(NESTED, token=token)
        assert len(data["users"]["nodes"]) == expected
        return count_sql.count

    async def test_admin(self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter) -> None:
        north, south = await factory.team("Norte"), await factory.team("Sur")
        admin = await factory.user(Role.ADMIN, teams=[north])
        token = factory.token(admin)
        counts = []
        for total in (5, 50):
            while await factory.count(User) < total:
                n = await factory.count(User)
                if n % 3 == 0:
                    await factory.user(Role.SUPERVISOR, supervises=[north, south])
                else:
                    await factory.user(teams=[north] if n % 2 else [north, south])
            counts.append(await self.run(client, token, count_sql, total))
        assert counts == [self.expected(client)] * 2

    async def test_supervisor(self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter) -> None:
        top = await factory.team("Norte")
        below = await factory.team("Ventas", parent=top)
        boss = await factory.user(Role.SUPERVISOR, supervises=[top])
        await factory.user(Role.AGENT, teams=[await factory.team("Sur")])  # invisible to the boss
        token = factory.token(boss)
        counts, visible = [], 1
        for total in (5, 50):
            for _ in range(total - visible):
                await factory.user(teams=[below, top])
            visible = total
            counts.append(await self.run(client, token, count_sql, total))
        assert counts == [self.expected(client)] * 2
