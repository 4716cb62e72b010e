"""Each role on every query and mutation of the platform (R1-R3, R5): who may, who may not, what stays."""

from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent, Role, Team, TeamMember, TeamSupervisor, User
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import PASSWORD, Factory, gid

LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on LoginSuccess { token user { id teams { nodes { name } } } }
    ... on UserError { code message }
  }
}
"""
ME = "{ me { id role } }"
USERS = """
query($filter: UserFilter, $order: UserOrder, $first: Int, $after: String, $last: Int, $before: String) {
  users(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id name }
  }
}
"""
TEAMS = "query($filter: TeamFilter) { teams(filter: $filter) { nodes { name depth } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
NESTED = """
{ users(first: 50) { nodes { name teams { nodes { name } } supervisedTeams { totalCount } } } }
"""

MUTATIONS: dict[str, str] = {
    "createUser": """mutation($v: CreateUserInput!) {
        createUser(input: $v) { user { id } userErrors { field code } } }""",
    "updateUser": """mutation($id: ID!, $v: UpdateUserInput!) {
        updateUser(id: $id, input: $v) { user { id name email role } userErrors { field code } } }""",
    "deactivateUser": """mutation($id: ID!) {
        deactivateUser(id: $id) { user { active } userErrors { field code } } }""",
    "activateUser": """mutation($id: ID!) { activateUser(id: $id) { user { active } userErrors { field code } } }""",
    "createTeam": """mutation($v: CreateTeamInput!) {
        createTeam(input: $v) { team { id } userErrors { field code } } }""",
    "updateTeam": """mutation($id: ID!, $name: String!) {
        updateTeam(id: $id, name: $name) { team { name } userErrors { field code } } }""",
    "moveTeam": """mutation($id: ID!, $parent: ID) {
        moveTeam(id: $id, parentId: $parent) { team { depth } userErrors { field code } } }""",
    "deleteTeam": """mutation($id: ID!) { deleteTeam(id: $id) { deletedTeamId userErrors { field code } } }""",
    "addTeamMember": """mutation($t: ID!, $u: ID!) {
        addTeamMember(teamId: $t, userId: $u) { team { id } userErrors { field code } } }""",
    "removeTeamMember": """mutation($t: ID!, $u: ID!) {
        removeTeamMember(teamId: $t, userId: $u) { team { id } userErrors { field code } } }""",
    "addTeamSupervisor": """mutation($t: ID!, $u: ID!) {
        addTeamSupervisor(teamId: $t, userId: $u) { team { id } userErrors { field code } } }""",
    "removeTeamSupervisor": """mutation($t: ID!, $u: ID!) {
        removeTeamSupervisor(teamId: $t, userId: $u) { team { id } userErrors { field code } } }""",
}


class World:
    """North (with North Sales below it) and South, one supervisor of North, agents in each."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory

    async def build(self) -> "World":
        f = self.factory
        self.north = await f.team("Norte")
        self.north_sales = await f.team("Ventas Norte", parent=self.north)
        self.south = await f.team("Sur")
        self.admin = await f.user(Role.ADMIN, name="Ada Admin")
        self.supervisor = await f.user(Role.SUPERVISOR, name="Sole Supervisora", supervises=[self.north])
        self.agent = await f.user(Role.AGENT, name="Ana Agente", email="ana@example.com", teams=[self.north_sales])
        self.south_agent = await f.user(Role.AGENT, name="Sergio Sur", teams=[self.south])
        self.spare = await f.user(Role.SUPERVISOR, name="Silvia Suplente")
        return self

    def token(self, user: User) -> str:
        return self.factory.token(user)


@pytest.fixture
async def world(factory: Factory) -> World:
    return await World(factory).build()


def variables(name: str, w: World) -> dict[str, Any]:
    return {
        "createUser": {"v": {"email": "new@example.com", "name": "Nuevo", "role": "AGENT", "password": "secret123"}},
        "updateUser": {"id": gid(w.south_agent), "v": {"name": "Cambiado"}},
        "deactivateUser": {"id": gid(w.south_agent)},
        "activateUser": {"id": gid(w.south_agent)},
        "createTeam": {"v": {"name": "Oeste"}},
        "updateTeam": {"id": gid(w.south), "name": "Sur Grande"},
        "moveTeam": {"id": gid(w.south), "parent": gid(w.north)},
        "deleteTeam": {"id": gid(w.south)},
        "addTeamMember": {"t": gid(w.south), "u": gid(w.agent)},
        "removeTeamMember": {"t": gid(w.south), "u": gid(w.south_agent)},
        "addTeamSupervisor": {"t": gid(w.south), "u": gid(w.spare)},
        "removeTeamSupervisor": {"t": gid(w.north), "u": gid(w.supervisor)},
    }[name]


async def state(factory: Factory) -> tuple[Any, ...]:
    """Everything a platform mutation can change, to prove a refusal changed nothing."""
    async with factory.sessionmaker() as session:
        users = (
            await session.execute(select(User.id, User.email, User.name, User.role, User.is_active).order_by(User.id))
        ).all()
        teams = (await session.execute(select(Team.id, Team.name, Team.parent_id, Team.path).order_by(Team.id))).all()
        members = (
            await session.execute(
                select(TeamMember.team_id, TeamMember.user_id).order_by(TeamMember.team_id, TeamMember.user_id)
            )
        ).all()
        supervisors = (
            await session.execute(
                select(TeamSupervisor.team_id, TeamSupervisor.user_id).order_by(TeamSupervisor.team_id)
            )
        ).all()
        events = len((await session.execute(select(AuditEvent.id))).all())
    return tuple(users), tuple(teams), tuple(members), tuple(supervisors), events


class TestMutationsByRole:
    @pytest.mark.parametrize("name", sorted(MUTATIONS))
    @pytest.mark.parametrize("role", ["supervisor", "agent"])
    async def test_only_admins_manage_users_and_teams(
        self, client: GraphQLClient, world: World, factory: Factory, name: str, role: str
    ) -> None:
        before = await state(factory)
        data = await client.data(MUTATIONS[name], variables(name, world), world.token(getattr(world, role)))
        errors = data[name]["userErrors"]
        assert errors, data
        # A supervisor cannot see South, so South reads as missing; otherwise it is a plain refusal.
        assert errors[0]["code"] in {"FORBIDDEN", "NOT_FOUND"}
        assert await state(factory) == before

    @pytest.mark.parametrize("name", sorted(MUTATIONS))
    async def test_admin_may_and_writes_one_audit_row(
        self, client: GraphQLClient, world: World, factory: Factory, name: str
    ) -> None:
        token = world.token(world.admin)
        if name == "activateUser":
            await client.data(MUTATIONS["deactivateUser"], {"id": gid(world.south_agent)}, token)
        if name == "deleteTeam":
            await client.data(
                MUTATIONS["removeTeamMember"], {"t": gid(world.south), "u": gid(world.south_agent)}, token
            )
        events_before = len(await factory.audit_rows())
        data = await client.data(MUTATIONS[name], variables(name, world), token)
        assert data[name]["userErrors"] == []
        assert len(await factory.audit_rows()) == events_before + 1

    async def test_unsigned_requests_are_refused(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        before = await state(factory)
        body = await client.gql(MUTATIONS["createTeam"], variables("createTeam", world))
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert await state(factory) == before


class TestLogin:
    async def test_success_and_token(self, client: GraphQLClient, world: World) -> None:
        data = await client.data(LOGIN, {"email": "ANA@Example.com", "password": PASSWORD})
        login = data["login"]
        assert login["__typename"] == "LoginSuccess"
        assert login["user"] == {"id": gid(world.agent), "teams": {"nodes": [{"name": "Ventas Norte"}]}}
        me = await client.data(ME, token=login["token"])
        assert me["me"] == {"id": gid(world.agent), "role": "AGENT"}

    @pytest.mark.parametrize(
        ("email", "password"), [("ana@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)]
    )
    async def test_failures_look_alike(
        self, client: GraphQLClient, world: World, factory: Factory, email: str, password: str
    ) -> None:
        data = await client.data(LOGIN, {"email": email, "password": password})
        assert data["login"] == {
            "__typename": "UserError",
            "code": "INVALID_CREDENTIALS",
            "message": "Email or password is incorrect",
        }
        assert await factory.audit_rows() == []

    async def test_deactivated_user_cannot_sign_in_and_its_token_stops(
        self, client: GraphQLClient, world: World
    ) -> None:
        token = world.token(world.agent)
        assert (await client.data(ME, token=token))["me"]["role"] == "AGENT"
        await client.data(MUTATIONS["deactivateUser"], {"id": gid(world.agent)}, world.token(world.admin))
        body = await client.gql(ME, token=token)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        data = await client.data(LOGIN, {"email": "ana@example.com", "password": PASSWORD})
        assert data["login"]["code"] == "INVALID_CREDENTIALS"
        await client.data(MUTATIONS["activateUser"], {"id": gid(world.agent)}, world.token(world.admin))
        assert (await client.data(ME, token=token))["me"]["role"] == "AGENT"


class TestVisibility:
    async def names(self, client: GraphQLClient, query: str, token: str, key: str, flt: Any = None) -> list[str]:
        data = await client.data(query, {"filter": flt} if flt is not None else {}, token)
        return sorted(n["name"] for n in data[key]["nodes"])

    async def test_users_by_role(self, client: GraphQLClient, world: World) -> None:
        assert await self.names(client, USERS, world.token(world.admin), "users") == sorted(
            ["Ada Admin", "Sole Supervisora", "Ana Agente", "Sergio Sur", "Silvia Suplente"]
        )
        assert await self.names(client, USERS, world.token(world.supervisor), "users") == [
            "Ana Agente",
            "Sole Supervisora",
        ]
        assert await self.names(client, USERS, world.token(world.agent), "users") == ["Ana Agente"]

    async def test_teams_by_role(self, client: GraphQLClient, world: World) -> None:
        assert await self.names(client, TEAMS, world.token(world.admin), "teams") == ["Norte", "Sur", "Ventas Norte"]
        assert await self.names(client, TEAMS, world.token(world.supervisor), "teams") == ["Norte", "Ventas Norte"]
        assert await self.names(client, TEAMS, world.token(world.agent), "teams") == ["Ventas Norte"]
        roots = {"roots": True}
        assert await self.names(client, TEAMS, world.token(world.admin), "teams", roots) == ["Norte", "Sur"]
        assert await self.names(client, TEAMS, world.token(world.supervisor), "teams", roots) == ["Norte"]
        assert await self.names(client, TEAMS, world.token(world.agent), "teams", roots) == ["Ventas Norte"]

    @pytest.mark.parametrize("role", ["supervisor", "agent"])
    async def test_node_with_another_teams_id_is_null(self, client: GraphQLClient, world: World, role: str) -> None:
        token = world.token(getattr(world, role))
        for other in (gid(world.south), gid(world.south_agent)):
            assert (await client.data(NODE, {"id": other}, token))["node"] is None
        data = await client.data(NODES, {"ids": [gid(world.north_sales), gid(world.south)]}, token)
        assert data["nodes"] == [{"id": gid(world.north_sales)}, None]

    async def test_visibility_follows_a_moved_subtree(self, client: GraphQLClient, world: World) -> None:
        admin = world.token(world.admin)
        south_boss = await world.factory.user(Role.SUPERVISOR, name="Sara Sur", supervises=[world.south])
        await client.data(MUTATIONS["moveTeam"], {"id": gid(world.north_sales), "parent": gid(world.south)}, admin)
        assert await self.names(client, TEAMS, world.token(world.supervisor), "teams") == ["Norte"]
        assert await self.names(client, TEAMS, world.token(south_boss), "teams") == ["Sur", "Ventas Norte"]
        assert "Ana Agente" in await self.names(client, USERS, world.token(south_boss), "users")


class TestPagination:
    async def test_forward_and_backward(self, client: GraphQLClient, factory: Factory) -> None:
        admin = await factory.user(Role.ADMIN, name="A0")
        for i in range(1, 7):
            await factory.user(name=f"A{i}")
        token = factory.token(admin)
        first = (await client.data(USERS, {"first": 3}, token))["users"]
        assert [n["name"] for n in first["nodes"]] == ["A0", "A1", "A2"]
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["totalCount"] == 7
        second = (await client.data(USERS, {"first": 3, "after": first["pageInfo"]["endCursor"]}, token))["users"]
        assert [n["name"] for n in second["nodes"]] == ["A3", "A4", "A5"]
        back = (await client.data(USERS, {"last": 2, "before": second["pageInfo"]["startCursor"]}, token))["users"]
        assert [n["name"] for n in back["nodes"]] == ["A1", "A2"]
        assert back["pageInfo"]["hasPreviousPage"] is True
        desc = (await client.data(USERS, {"first": 2, "order": {"field": "NAME", "direction": "DESC"}}, token))["users"]
        assert [n["name"] for n in desc["nodes"]] == ["A6", "A5"]

    @pytest.mark.parametrize(
        "args", [{"first": 101}, {"first": 2, "last": 2}, {"first": -1}, {"after": "not-a-cursor"}]
    )
    async def test_bad_page_requests(self, client: GraphQLClient, factory: Factory, args: dict[str, Any]) -> None:
        admin = await factory.user(Role.ADMIN)
        body = await client.gql(USERS, args, factory.token(admin))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


class TestNestedCost:
    async def test_statements_do_not_grow_with_the_page(
        self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter
    ) -> None:
        team = await factory.team("Equipo")
        admin = await factory.user(Role.ADMIN, teams=[team])
        token = factory.token(admin)
        counts = []
        await client.data(NESTED, token=token)  # the principal loaded once, before counting
        for total in (5, 50):
            existing = await factory.count(User)
            for _ in range(total - existing):
                await factory.user(teams=[team])
            count_sql.statements.clear()
            data = await client.data(NESTED, token=token)
            assert len(data["users"]["nodes"]) == total
            counts.append(count_sql.count)
        # Strawberry: users page (1), teams pages (1), supervised teams counts (1). Compiled: one.
        expected = 1 if client.server.compiles else 3
        assert counts == [expected, expected]
