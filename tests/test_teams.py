"""Teams through the GraphQL endpoint (R1-R3): the tree, its visibility per role and every team mutation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent, Role, Team, TeamMember, TeamSupervisor, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, audit_count, audit_team_ids, gid, last_audit, priced, problems

TEAMS = """
query Teams($filter: TeamFilter, $first: Int, $after: String, $last: Int, $before: String) {
  teams(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes { name depth }
  }
}
"""
USER_NAMES = "query UserNames { users { nodes { name } } }"
TEAM_DETAIL = """
query TeamDetail($id: ID!) {
  node(id: $id) {
    ... on Team {
      id name depth
      parent { name }
      children { totalCount nodes { name } }
      members { totalCount nodes { name } }
      supervisors { totalCount nodes { name } }
    }
  }
}
"""
CHILDREN_PAGE = """
query ChildrenPage($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    ... on Team {
      children(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { name } }
    }
  }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { id } }"
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"

TEAM_FIELDS = "team { id name depth parent { name } } userErrors { field code message }"
CREATE_TEAM = f"mutation CreateTeam($input: CreateTeamInput!) {{ createTeam(input: $input) {{ {TEAM_FIELDS} }} }}"
UPDATE_TEAM = (
    f"mutation UpdateTeam($id: ID!, $name: String!) {{ updateTeam(id: $id, name: $name) {{ {TEAM_FIELDS} }} }}"
)
MOVE_TEAM = (
    f"mutation MoveTeam($id: ID!, $parentId: ID) {{ moveTeam(id: $id, parentId: $parentId) {{ {TEAM_FIELDS} }} }}"
)
DELETE_TEAM = (
    "mutation DeleteTeam($id: ID!) { deleteTeam(id: $id) { deletedTeamId userErrors { field code message } } }"
)
LINK_FIELDS = """
team { id members { totalCount nodes { name } } supervisors { totalCount nodes { name } } }
userErrors { field code message }
"""
ADD_TEAM_MEMBER = f"""
mutation AddTeamMember($teamId: ID!, $userId: ID!) {{
  addTeamMember(teamId: $teamId, userId: $userId) {{ {LINK_FIELDS} }}
}}
"""
REMOVE_TEAM_MEMBER = f"""
mutation RemoveTeamMember($teamId: ID!, $userId: ID!) {{
  removeTeamMember(teamId: $teamId, userId: $userId) {{ {LINK_FIELDS} }}
}}
"""
ADD_TEAM_SUPERVISOR = f"""
mutation AddTeamSupervisor($teamId: ID!, $userId: ID!) {{
  addTeamSupervisor(teamId: $teamId, userId: $userId) {{ {LINK_FIELDS} }}
}}
"""
REMOVE_TEAM_SUPERVISOR = f"""
mutation RemoveTeamSupervisor($teamId: ID!, $userId: ID!) {{
  removeTeamSupervisor(teamId: $teamId, userId: $userId) {{ {LINK_FIELDS} }}
}}
"""
CREATE_CONTACT = """
mutation CreateContact($input: CreateContactInput!) { createContact(input: $input) { userErrors { field code } } }
"""
DEACTIVATE_USER = "mutation DeactivateUser($id: ID!) { deactivateUser(id: $id) { userErrors { code } } }"

MISSING_TEAM = to_global_id("Team", 999_999)
MISSING_USER = to_global_id("User", 999_999)


@dataclass
class Tree:
    """Norte > Ventas Norte > Cobranzas Norte; Sur; Oeste (empty).

    Sole supervises Norte, Sam supervises Ventas Norte, Sara supervises Sur and is a member of
    Oeste; Silvia is a supervisor of nothing. Ana is in Ventas Norte, Carlos in Cobranzas
    Norte, Sergio in Sur.
    """

    factory: Factory
    norte: Team
    ventas: Team
    cobranzas: Team
    sur: Team
    oeste: Team
    admin: User
    sole: User
    sam: User
    sara: User
    silvia: User
    ana: User
    carlos: User
    sergio: User

    def token(self, user: User) -> str:
        return self.factory.token(user)

    def who(self, name: str) -> str:
        return self.token(getattr(self, name))


@pytest.fixture
async def tree(factory: Factory) -> Tree:
    f = factory
    norte = await f.team("Norte")
    ventas = await f.team("Ventas Norte", parent=norte)
    cobranzas = await f.team("Cobranzas Norte", parent=ventas)
    sur = await f.team("Sur")
    oeste = await f.team("Oeste")
    return Tree(
        factory=f,
        norte=norte,
        ventas=ventas,
        cobranzas=cobranzas,
        sur=sur,
        oeste=oeste,
        admin=await f.user(Role.ADMIN, name="Ada Admin"),
        sole=await f.user(Role.SUPERVISOR, name="Sole Supervisora", supervises=[norte]),
        sam=await f.user(Role.SUPERVISOR, name="Sam Supervisor", supervises=[ventas]),
        sara=await f.user(Role.SUPERVISOR, name="Sara Sur", supervises=[sur], teams=[oeste]),
        silvia=await f.user(Role.SUPERVISOR, name="Silvia Suplente"),
        ana=await f.user(Role.AGENT, name="Ana Agente", teams=[ventas]),
        carlos=await f.user(Role.AGENT, name="Carlos Cobrador", teams=[cobranzas]),
        sergio=await f.user(Role.AGENT, name="Sergio Sur", teams=[sur]),
    )


# --- helpers -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    teams: tuple[tuple[Any, ...], ...]
    members: tuple[tuple[int, int], ...]
    supervisors: tuple[tuple[int, int], ...]
    users: tuple[tuple[Any, ...], ...]
    audit_rows: int


async def state(factory: Factory) -> State:
    """Everything a team mutation could change, to prove a refusal changed nothing."""
    async with factory.sessionmaker() as session:

        async def rows(stmt: Any) -> tuple[tuple[Any, ...], ...]:
            return tuple(tuple(r) for r in (await session.execute(stmt)).all())

        return State(
            teams=await rows(select(Team.__table__).order_by(Team.id)),
            members=await rows(select(TeamMember.team_id, TeamMember.user_id).order_by("team_id", "user_id")),
            supervisors=await rows(
                select(TeamSupervisor.team_id, TeamSupervisor.user_id).order_by("team_id", "user_id")
            ),
            users=await rows(select(User.__table__).order_by(User.id)),
            audit_rows=len(await rows(select(AuditEvent.id))),
        )


async def team_row(factory: Factory, team_id: int) -> Team | None:
    async with factory.sessionmaker() as session:
        return await session.get(Team, team_id)


async def all_teams(factory: Factory) -> list[Team]:
    async with factory.sessionmaker() as session:
        return list(await session.scalars(select(Team).order_by(Team.id)))


def assert_paths_consistent(teams: list[Team]) -> None:
    """Every materialised path is its parent's path plus its own id."""
    by_id = {t.id: t for t in teams}
    for t in teams:
        parent_path = by_id[t.parent_id].path if t.parent_id is not None else "/"
        assert t.path == f"{parent_path}{t.id}/", (t.name, t.path)


async def team_names(client: GraphQLClient, token: str, flt: dict[str, Any] | None = None) -> list[str]:
    data = await client.data(TEAMS, {"filter": flt}, token)
    found = [n["name"] for n in data["teams"]["nodes"]]
    assert data["teams"]["totalCount"] == len(found)
    return found


async def user_names(client: GraphQLClient, token: str) -> list[str]:
    return [n["name"] for n in (await client.data(USER_NAMES, token=token))["users"]["nodes"]]


async def detail(client: GraphQLClient, token: str, team: Team | str) -> dict[str, Any] | None:
    data = await client.data(TEAM_DETAIL, {"id": team if isinstance(team, str) else gid(team)}, token)
    node: dict[str, Any] | None = data["node"]
    return node


def linked(word: str, user: User, *, present: bool) -> dict[str, Any]:
    """How set_link's audit row names the user it linked (present) or unlinked: its id, its name beside."""
    values = {f"{word}Id": user.id, word: user.name}
    return {k: {"before": None, "after": v} if present else {"before": v, "after": None} for k, v in values.items()}


# --- queries -------------------------------------------------------------------------------------------------------


class TestTeamsQuery:
    @pytest.mark.parametrize(
        ("who", "expected", "roots"),
        [
            pytest.param(
                "admin",
                ["Cobranzas Norte", "Norte", "Oeste", "Sur", "Ventas Norte"],
                ["Norte", "Oeste", "Sur"],
                id="admin-everything",
            ),
            pytest.param(
                "sole", ["Cobranzas Norte", "Norte", "Ventas Norte"], ["Norte"], id="supervisor-whole-subtree"
            ),
            pytest.param("sam", ["Cobranzas Norte", "Ventas Norte"], ["Ventas Norte"], id="supervisor-of-a-subteam"),
            pytest.param("sara", ["Oeste", "Sur"], ["Oeste", "Sur"], id="supervisor-plus-own-team"),
            pytest.param("silvia", [], [], id="supervisor-of-nothing"),
            pytest.param("ana", ["Ventas Norte"], ["Ventas Norte"], id="agent-own-team"),
            pytest.param("carlos", ["Cobranzas Norte"], ["Cobranzas Norte"], id="agent-deep-team"),
        ],
    )
    async def test_visibility_and_roots_per_role(
        self, client: GraphQLClient, tree: Tree, who: str, expected: list[str], roots: list[str]
    ) -> None:
        token = tree.who(who)
        assert await team_names(client, token) == expected
        assert await team_names(client, token, {"roots": True}) == roots

    async def test_an_agent_in_several_teams_sees_each(self, client: GraphQLClient, tree: Tree) -> None:
        agent = await tree.factory.user(Role.AGENT, teams=[tree.cobranzas, tree.norte])
        assert await team_names(client, tree.token(agent)) == ["Cobranzas Norte", "Norte"]
        # Ventas Norte is invisible, so Cobranzas Norte is a root of what this agent sees.
        assert await team_names(client, tree.token(agent), {"roots": True}) == ["Cobranzas Norte", "Norte"]

    async def test_search_is_case_insensitive_on_the_name(self, client: GraphQLClient, tree: Tree) -> None:
        admin = tree.token(tree.admin)
        assert await team_names(client, admin, {"search": "NORTE"}) == ["Cobranzas Norte", "Norte", "Ventas Norte"]
        assert await team_names(client, admin, {"search": " ventas "}) == ["Ventas Norte"]
        assert await team_names(client, admin, {"search": "%"}) == []
        assert await team_names(client, admin, {"search": "x\u0000"}) == []
        assert await team_names(client, tree.token(tree.sam), {"search": "norte"}) == [
            "Cobranzas Norte",
            "Ventas Norte",
        ]

    async def test_parent_id_lists_direct_children(self, client: GraphQLClient, tree: Tree) -> None:
        admin = tree.token(tree.admin)
        assert await team_names(client, admin, {"parentId": gid(tree.norte)}) == ["Ventas Norte"]
        assert await team_names(client, admin, {"parentId": gid(tree.ventas)}) == ["Cobranzas Norte"]
        assert await team_names(client, admin, {"parentId": gid(tree.oeste)}) == []
        assert await team_names(client, tree.token(tree.sole), {"parentId": gid(tree.norte)}) == ["Ventas Norte"]

    async def test_an_invisible_parent_reads_like_a_missing_one(self, client: GraphQLClient, tree: Tree) -> None:
        # Sam sees Ventas Norte but not its parent Norte.
        token = tree.token(tree.sam)
        missing = await client.gql(TEAMS, {"filter": {"parentId": MISSING_TEAM}}, token)
        invisible = await client.gql(TEAMS, {"filter": {"parentId": gid(tree.norte)}}, token)
        assert invisible == missing
        assert missing["data"]["teams"]["nodes"] == []

    async def test_pages(self, client: GraphQLClient, tree: Tree) -> None:
        admin = tree.token(tree.admin)
        first = (await client.data(TEAMS, {"first": 2}, admin))["teams"]
        assert [n["name"] for n in first["nodes"]] == ["Cobranzas Norte", "Norte"]
        assert (first["totalCount"], first["pageInfo"]["hasNextPage"]) == (5, True)
        rest = (await client.data(TEAMS, {"first": 5, "after": first["pageInfo"]["endCursor"]}, admin))["teams"]
        assert [n["name"] for n in rest["nodes"]] == ["Oeste", "Sur", "Ventas Norte"]
        assert (rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"]) == (False, True)
        body = await client.gql(TEAMS, {"first": 101}, admin)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


class TestTeamFields:
    async def test_as_admin(self, client: GraphQLClient, tree: Tree) -> None:
        admin = tree.token(tree.admin)
        assert await detail(client, admin, tree.norte) == {
            "id": gid(tree.norte),
            "name": "Norte",
            "depth": 0,
            "parent": None,
            "children": {"totalCount": 1, "nodes": [{"name": "Ventas Norte"}]},
            "members": {"totalCount": 0, "nodes": []},
            "supervisors": {"totalCount": 1, "nodes": [{"name": "Sole Supervisora"}]},
        }
        assert await detail(client, admin, tree.ventas) == {
            "id": gid(tree.ventas),
            "name": "Ventas Norte",
            "depth": 1,
            "parent": {"name": "Norte"},
            "children": {"totalCount": 1, "nodes": [{"name": "Cobranzas Norte"}]},
            "members": {"totalCount": 1, "nodes": [{"name": "Ana Agente"}]},
            "supervisors": {"totalCount": 1, "nodes": [{"name": "Sam Supervisor"}]},
        }
        cobranzas = await detail(client, admin, tree.cobranzas)
        assert cobranzas is not None
        assert (cobranzas["depth"], cobranzas["parent"], cobranzas["children"]["totalCount"]) == (
            2,
            {"name": "Ventas Norte"},
            0,
        )

    async def test_as_a_supervisor_of_a_subteam(self, client: GraphQLClient, tree: Tree) -> None:
        assert await detail(client, tree.token(tree.sam), tree.ventas) == {
            "id": gid(tree.ventas),
            "name": "Ventas Norte",
            # The depth stays the tree's; the invisible parent reads as null.
            "depth": 1,
            "parent": None,
            "children": {"totalCount": 1, "nodes": [{"name": "Cobranzas Norte"}]},
            "members": {"totalCount": 1, "nodes": [{"name": "Ana Agente"}]},
            "supervisors": {"totalCount": 1, "nodes": [{"name": "Sam Supervisor"}]},
        }

    async def test_as_an_agent(self, client: GraphQLClient, tree: Tree) -> None:
        teammate = await tree.factory.user(Role.AGENT, name="Beto Compañero", teams=[tree.ventas])
        expected = {
            "id": gid(tree.ventas),
            "name": "Ventas Norte",
            "depth": 1,
            "parent": None,
            "children": {"totalCount": 0, "nodes": []},
            "members": {"totalCount": 1, "nodes": [{"name": "Ana Agente"}]},
            "supervisors": {"totalCount": 0, "nodes": []},
        }
        assert await detail(client, tree.token(tree.ana), tree.ventas) == expected
        members = {"totalCount": 2, "nodes": [{"name": "Ana Agente"}, {"name": "Beto Compañero"}]}
        admin_view = await detail(client, tree.token(tree.admin), tree.ventas)
        assert admin_view is not None
        assert admin_view["members"] == members
        assert (await detail(client, tree.token(teammate), tree.ventas) or {})["members"] == {
            "totalCount": 1,
            "nodes": [{"name": "Beto Compañero"}],
        }

    async def test_children_pages(self, client: GraphQLClient, tree: Tree) -> None:
        for name in ("Atención Norte", "Legales Norte"):
            await tree.factory.team(name, parent=tree.norte)
        admin = tree.token(tree.admin)
        first = (await client.data(CHILDREN_PAGE, {"id": gid(tree.norte), "first": 2}, admin))["node"]["children"]
        assert first["totalCount"] == 3
        assert [n["name"] for n in first["nodes"]] == ["Atención Norte", "Legales Norte"]
        assert first["pageInfo"]["hasNextPage"] is True
        variables = {"id": gid(tree.norte), "first": 2, "after": first["pageInfo"]["endCursor"]}
        rest = (await client.data(CHILDREN_PAGE, variables, admin))["node"]["children"]
        assert [n["name"] for n in rest["nodes"]] == ["Ventas Norte"]
        assert rest["pageInfo"]["hasNextPage"] is False


class TestTeamNode:
    @pytest.mark.parametrize(
        ("who", "hidden"),
        [
            ("sole", ["sur", "oeste"]),
            ("sam", ["norte", "sur", "oeste"]),
            ("sara", ["norte", "ventas", "cobranzas"]),
            ("ana", ["norte", "cobranzas", "sur"]),
            ("carlos", ["ventas"]),
        ],
    )
    async def test_an_invisible_team_reads_as_missing(
        self, client: GraphQLClient, tree: Tree, who: str, hidden: list[str]
    ) -> None:
        token = tree.who(who)
        missing = await client.gql(NODE, {"id": MISSING_TEAM}, token)
        assert missing == {
            "data": {"node": None},
            "extensions": priced(1),
        }
        for name in hidden:
            assert await client.gql(NODE, {"id": gid(getattr(tree, name))}, token) == missing
        ids = [gid(getattr(tree, name)) for name in hidden] + [MISSING_TEAM]
        assert (await client.data(NODES, {"ids": ids}, token))["nodes"] == [None] * len(ids)

    async def test_nodes_keep_the_order_asked(self, client: GraphQLClient, tree: Tree) -> None:
        ids = [gid(tree.cobranzas), gid(tree.sur), gid(tree.norte), gid(tree.sam)]
        data = await client.data(NODES, {"ids": ids}, tree.token(tree.sole))
        assert data["nodes"] == [{"id": ids[0]}, None, {"id": ids[2]}, {"id": ids[3]}]


# --- mutations -----------------------------------------------------------------------------------------------------


class TestCreateTeam:
    async def test_top_level(self, client: GraphQLClient, tree: Tree) -> None:
        data = await client.data(CREATE_TEAM, {"input": {"name": "  Este   Nuevo "}}, tree.token(tree.admin))
        payload = data["createTeam"]
        assert payload["userErrors"] == []
        team = payload["team"]
        assert (team["name"], team["depth"], team["parent"]) == ("Este Nuevo", 0, None)
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert to_global_id("Team", event.resource_id) == team["id"]
        assert (event.action, event.resource_type, event.resource_name, event.actor_id) == (
            "CREATED",
            "TEAM",
            "Este Nuevo",
            tree.admin.id,
        )
        assert event.changes == {"name": {"before": None, "after": "Este Nuevo"}}
        assert await audit_team_ids(tree.factory, event) == {event.resource_id}
        assert_paths_consistent(await all_teams(tree.factory))
        assert await team_names(client, tree.token(tree.admin), {"roots": True}) == [
            "Este Nuevo",
            "Norte",
            "Oeste",
            "Sur",
        ]

    async def test_under_a_parent(self, client: GraphQLClient, tree: Tree) -> None:
        variables = {"input": {"name": "Mora Temprana", "parentId": gid(tree.cobranzas)}}
        payload = (await client.data(CREATE_TEAM, variables, tree.token(tree.admin)))["createTeam"]
        assert payload["userErrors"] == []
        assert (payload["team"]["depth"], payload["team"]["parent"]) == (3, {"name": "Cobranzas Norte"})
        event = await last_audit(tree.factory)
        assert event.changes == {
            "name": {"before": None, "after": "Mora Temprana"},
            "parentId": {"before": None, "after": tree.cobranzas.id},
        }
        assert_paths_consistent(await all_teams(tree.factory))
        # The supervisors above see it at once; the others do not.
        assert "Mora Temprana" in await team_names(client, tree.token(tree.sole))
        assert "Mora Temprana" in await team_names(client, tree.token(tree.sam))
        assert "Mora Temprana" not in await team_names(client, tree.token(tree.sara))

    async def test_the_same_name_under_another_parent(self, client: GraphQLClient, tree: Tree) -> None:
        variables = {"input": {"name": "ventas norte", "parentId": gid(tree.sur)}}
        payload = (await client.data(CREATE_TEAM, variables, tree.token(tree.admin)))["createTeam"]
        assert payload["userErrors"] == []
        assert payload["team"]["parent"] == {"name": "Sur"}

    @pytest.mark.parametrize(
        ("name", "parent", "expected"),
        [
            pytest.param("   ", None, ("REQUIRED", "input.name"), id="blank"),
            pytest.param("x" * 201, None, ("TOO_LONG", "input.name"), id="too-long"),
            pytest.param("Nul\u0000", None, ("INVALID", "input.name"), id="nul"),
            pytest.param("NORTE", None, ("ALREADY_EXISTS", "input.name"), id="top-level-sibling-other-case"),
            pytest.param(" sur ", None, ("ALREADY_EXISTS", "input.name"), id="top-level-sibling-trimmed"),
            pytest.param("cobranzas  NORTE", "ventas", ("ALREADY_EXISTS", "input.name"), id="sibling-under-parent"),
            pytest.param("Nuevo", "missing", ("NOT_FOUND", "input.parentId"), id="missing-parent"),
            pytest.param("Nuevo", "user", ("NOT_FOUND", "input.parentId"), id="parent-id-of-a-user"),
        ],
    )
    async def test_refusals_change_nothing(
        self, client: GraphQLClient, tree: Tree, name: str, parent: str | None, expected: tuple[str, str]
    ) -> None:
        special = {"missing": MISSING_TEAM, "user": gid(tree.ana)}
        parent_id = None if parent is None else special.get(parent) or gid(getattr(tree, parent))
        before = await state(tree.factory)
        variables = {"input": {"name": name, "parentId": parent_id}}
        payload = (await client.data(CREATE_TEAM, variables, tree.token(tree.admin)))["createTeam"]
        assert payload["team"] is None
        assert problems(payload) == [expected]
        assert await state(tree.factory) == before

    @pytest.mark.parametrize(("who", "parent"), [("sole", "norte"), ("sam", "ventas"), ("sole", None), ("ana", None)])
    async def test_only_admins(self, client: GraphQLClient, tree: Tree, who: str, parent: str | None) -> None:
        before = await state(tree.factory)
        variables = {"input": {"name": "Propio", "parentId": gid(getattr(tree, parent)) if parent else None}}
        payload = (await client.data(CREATE_TEAM, variables, tree.who(who)))["createTeam"]
        assert payload["team"] is None
        assert problems(payload) == [("FORBIDDEN", None)]
        assert await state(tree.factory) == before


class TestUpdateTeam:
    async def rename(self, client: GraphQLClient, tree: Tree, team: Team | str, name: str) -> dict[str, Any]:
        variables = {"id": team if isinstance(team, str) else gid(team), "name": name}
        payload: dict[str, Any] = (await client.data(UPDATE_TEAM, variables, tree.token(tree.admin)))["updateTeam"]
        return payload

    async def test_rename(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await self.rename(client, tree, tree.ventas, " Ventas  Centro ")
        assert payload == {
            "team": {"id": gid(tree.ventas), "name": "Ventas Centro", "depth": 1, "parent": {"name": "Norte"}},
            "userErrors": [],
        }
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "UPDATED",
            "TEAM",
            tree.ventas.id,
            "Ventas Centro",
        )
        assert event.changes == {"name": {"before": "Ventas Norte", "after": "Ventas Centro"}}
        assert await audit_team_ids(tree.factory, event) == {tree.ventas.id}
        row = await team_row(tree.factory, tree.ventas.id)
        assert row is not None
        assert (row.parent_id, row.path) == (tree.ventas.parent_id, tree.ventas.path)

    async def test_own_name_in_another_case(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await self.rename(client, tree, tree.norte, "NORTE")
        assert payload["userErrors"] == []
        assert payload["team"]["name"] == "NORTE"
        assert (await last_audit(tree.factory)).changes == {"name": {"before": "Norte", "after": "NORTE"}}

    async def test_the_same_name_is_a_no_op(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        payload = await self.rename(client, tree, tree.norte, "  Norte ")
        assert payload["userErrors"] == []
        assert await state(tree.factory) == before

    async def test_a_name_used_under_another_parent(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await self.rename(client, tree, tree.cobranzas, "Norte")
        assert payload["userErrors"] == []

    @pytest.mark.parametrize(
        ("target", "name", "expected"),
        [
            pytest.param("oeste", " ", ("REQUIRED", "name"), id="blank"),
            pytest.param("oeste", "x" * 201, ("TOO_LONG", "name"), id="too-long"),
            pytest.param("oeste", "sur", ("ALREADY_EXISTS", "name"), id="sibling-other-case"),
            pytest.param("oeste", "NORTE", ("ALREADY_EXISTS", "name"), id="another-sibling"),
            pytest.param(MISSING_TEAM, "X", ("NOT_FOUND", "id"), id="missing"),
            pytest.param(MISSING_USER, "X", ("NOT_FOUND", "id"), id="user-id"),
            pytest.param("garbage", "X", ("NOT_FOUND", "id"), id="garbage"),
        ],
    )
    async def test_refusals_change_nothing(
        self, client: GraphQLClient, tree: Tree, target: str, name: str, expected: tuple[str, str]
    ) -> None:
        before = await state(tree.factory)
        payload = await self.rename(client, tree, gid(getattr(tree, target)) if hasattr(tree, target) else target, name)
        assert payload["team"] is None
        assert problems(payload) == [expected]
        assert await state(tree.factory) == before

    @pytest.mark.parametrize(("who", "target"), [("sole", "norte"), ("sam", "ventas"), ("carlos", "cobranzas")])
    async def test_only_admins(self, client: GraphQLClient, tree: Tree, who: str, target: str) -> None:
        before = await state(tree.factory)
        variables = {"id": gid(getattr(tree, target)), "name": "Propio"}
        payload = (await client.data(UPDATE_TEAM, variables, tree.who(who)))["updateTeam"]
        assert problems(payload) == [("FORBIDDEN", None)]
        assert await state(tree.factory) == before


class TestMoveTeam:
    async def move(self, client: GraphQLClient, tree: Tree, team: Team | str, parent: Team | str | None) -> Any:
        variables = {
            "id": team if isinstance(team, str) else gid(team),
            "parentId": parent if isinstance(parent, str) or parent is None else gid(parent),
        }
        return (await client.data(MOVE_TEAM, variables, tree.token(tree.admin)))["moveTeam"]

    async def depths(self, client: GraphQLClient, tree: Tree) -> dict[str, int]:
        data = await client.data(TEAMS, token=tree.token(tree.admin))
        return {n["name"]: n["depth"] for n in data["teams"]["nodes"]}

    async def test_a_subtree_moves_deeper_and_higher(self, client: GraphQLClient, tree: Tree) -> None:
        # Oeste under Sur, then Ventas Norte (with Cobranzas Norte) under Oeste.
        assert (await self.move(client, tree, tree.oeste, tree.sur))["team"]["depth"] == 1
        payload = await self.move(client, tree, tree.ventas, tree.oeste)
        assert payload == {
            "team": {"id": gid(tree.ventas), "name": "Ventas Norte", "depth": 2, "parent": {"name": "Oeste"}},
            "userErrors": [],
        }
        assert await self.depths(client, tree) == {
            "Cobranzas Norte": 3,
            "Norte": 0,
            "Oeste": 1,
            "Sur": 0,
            "Ventas Norte": 2,
        }
        event = await last_audit(tree.factory)
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "MOVED",
            "TEAM",
            tree.ventas.id,
            "Ventas Norte",
        )
        assert event.changes == {"parentId": {"before": tree.norte.id, "after": tree.oeste.id}}
        # The old parent's supervisors see that the team left.
        assert await audit_team_ids(tree.factory, event) == {tree.ventas.id, tree.norte.id}
        assert_paths_consistent(await all_teams(tree.factory))

        # Higher: Cobranzas Norte to the top.
        payload = await self.move(client, tree, tree.cobranzas, None)
        assert payload["team"] == {"id": gid(tree.cobranzas), "name": "Cobranzas Norte", "depth": 0, "parent": None}
        assert (await last_audit(tree.factory)).changes == {"parentId": {"before": tree.ventas.id, "after": None}}
        assert await self.depths(client, tree) == {
            "Cobranzas Norte": 0,
            "Norte": 0,
            "Oeste": 1,
            "Sur": 0,
            "Ventas Norte": 2,
        }
        assert_paths_consistent(await all_teams(tree.factory))
        assert await audit_count(tree.factory) == 3
        assert await team_names(client, tree.token(tree.admin), {"roots": True}) == ["Cobranzas Norte", "Norte", "Sur"]

    async def test_a_whole_tree_moves_under_another_root(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await self.move(client, tree, tree.norte, tree.sur)
        assert payload["userErrors"] == []
        assert await self.depths(client, tree) == {
            "Cobranzas Norte": 3,
            "Norte": 1,
            "Oeste": 0,
            "Sur": 0,
            "Ventas Norte": 2,
        }
        assert_paths_consistent(await all_teams(tree.factory))

    async def test_the_same_parent_is_a_no_op(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        assert (await self.move(client, tree, tree.ventas, tree.norte))["userErrors"] == []
        assert (await self.move(client, tree, tree.sur, None))["userErrors"] == []
        assert await state(tree.factory) == before

    @pytest.mark.parametrize(
        ("team", "parent", "expected"),
        [
            pytest.param("norte", "cobranzas", ("INVALID", "parentId"), id="under-a-grandchild"),
            pytest.param("norte", "ventas", ("INVALID", "parentId"), id="under-a-child"),
            pytest.param("ventas", "ventas", ("INVALID", "parentId"), id="under-itself"),
            pytest.param("oeste", "missing-team", ("NOT_FOUND", "parentId"), id="missing-parent"),
            pytest.param("oeste", "ana", ("NOT_FOUND", "parentId"), id="parent-id-of-a-user"),
            pytest.param("missing-team", "sur", ("NOT_FOUND", "id"), id="missing-team"),
            pytest.param("sergio", "sur", ("NOT_FOUND", "id"), id="team-id-of-a-user"),
        ],
    )
    async def test_refusals_change_nothing(
        self, client: GraphQLClient, tree: Tree, team: str, parent: str, expected: tuple[str, str]
    ) -> None:
        def resolve(name: str) -> str:
            return MISSING_TEAM if name == "missing-team" else gid(getattr(tree, name))

        before = await state(tree.factory)
        payload = await self.move(client, tree, resolve(team), resolve(parent))
        assert payload["team"] is None
        assert problems(payload) == [expected]
        assert await state(tree.factory) == before

    async def test_a_sibling_with_the_same_name_refuses_the_move(self, client: GraphQLClient, tree: Tree) -> None:
        await tree.factory.team("VENTAS NORTE", parent=tree.sur)
        await tree.factory.team("cobranzas norte")
        before = await state(tree.factory)
        assert problems(await self.move(client, tree, tree.ventas, tree.sur)) == [("ALREADY_EXISTS", "parentId")]
        assert problems(await self.move(client, tree, tree.cobranzas, None)) == [("ALREADY_EXISTS", "parentId")]
        assert await state(tree.factory) == before

    @pytest.mark.parametrize(
        ("who", "team", "parent"),
        [("sole", "cobranzas", "norte"), ("sam", "cobranzas", None), ("sara", "oeste", "sur"), ("ana", "ventas", None)],
    )
    async def test_only_admins(
        self, client: GraphQLClient, tree: Tree, who: str, team: str, parent: str | None
    ) -> None:
        before = await state(tree.factory)
        variables = {"id": gid(getattr(tree, team)), "parentId": gid(getattr(tree, parent)) if parent else None}
        payload = (await client.data(MOVE_TEAM, variables, tree.who(who)))["moveTeam"]
        assert problems(payload) == [("FORBIDDEN", None)]
        assert await state(tree.factory) == before


class TestDeleteTeam:
    async def delete(self, client: GraphQLClient, tree: Tree, team_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = (await client.data(DELETE_TEAM, {"id": team_id}, tree.token(tree.admin)))[
            "deleteTeam"
        ]
        return payload

    async def test_a_leaf_with_its_memberships(self, client: GraphQLClient, tree: Tree) -> None:
        coco = await tree.factory.user(Role.SUPERVISOR, name="Coco Cobranzas", supervises=[tree.cobranzas])
        payload = await self.delete(client, tree, gid(tree.cobranzas))
        assert payload == {"deletedTeamId": gid(tree.cobranzas), "userErrors": []}
        assert await team_row(tree.factory, tree.cobranzas.id) is None
        after = await state(tree.factory)
        assert all(tree.cobranzas.id != team_id for team_id, _ in after.members + after.supervisors)
        # Carlos stays, in no team.
        assert await detail(client, tree.token(tree.admin), tree.cobranzas) is None
        assert "Carlos Cobrador" in await user_names(client, tree.token(tree.admin))
        assert "Carlos Cobrador" not in await user_names(client, tree.token(tree.sam))
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "DELETED",
            "TEAM",
            tree.cobranzas.id,
            "Cobranzas Norte",
        )
        assert event.changes == {
            "name": {"before": "Cobranzas Norte", "after": None},
            "parentId": {"before": tree.ventas.id, "after": None},
            "memberIds": {"before": [tree.carlos.id], "after": []},
            "supervisorIds": {"before": [coco.id], "after": []},
        }
        assert await audit_team_ids(tree.factory, event) == {tree.cobranzas.id, tree.ventas.id}

    async def test_an_empty_root(self, client: GraphQLClient, tree: Tree) -> None:
        team = await tree.factory.team("Vacío")
        assert (await self.delete(client, tree, gid(team)))["userErrors"] == []
        assert (await last_audit(tree.factory)).changes == {
            "name": {"before": "Vacío", "after": None},
        }

    async def test_a_team_with_subteams_is_refused(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        for team in (tree.norte, tree.ventas):
            payload = await self.delete(client, tree, gid(team))
            assert payload["deletedTeamId"] is None
            assert problems(payload) == [("CONFLICT", "id")]
        assert await state(tree.factory) == before

    async def test_a_team_that_owns_contacts_is_refused(self, client: GraphQLClient, tree: Tree) -> None:
        contact = {"firstNames": "Juan", "lastNames": "Pérez", "teamId": gid(tree.oeste)}
        created = await client.data(CREATE_CONTACT, {"input": contact}, tree.token(tree.admin))
        assert created["createContact"]["userErrors"] == []
        before = await state(tree.factory)
        payload = await self.delete(client, tree, gid(tree.oeste))
        assert problems(payload) == [("CONFLICT", "id")]
        assert await state(tree.factory) == before

    @pytest.mark.parametrize(
        "bad_id", [pytest.param(MISSING_TEAM, id="missing"), pytest.param(MISSING_USER, id="user-id"), "garbage"]
    )
    async def test_unknown_ids_are_not_found(self, client: GraphQLClient, tree: Tree, bad_id: str) -> None:
        before = await state(tree.factory)
        assert problems(await self.delete(client, tree, bad_id)) == [("NOT_FOUND", "id")]
        assert await state(tree.factory) == before

    async def test_deleting_twice(self, client: GraphQLClient, tree: Tree) -> None:
        assert (await self.delete(client, tree, gid(tree.oeste)))["userErrors"] == []
        assert problems(await self.delete(client, tree, gid(tree.oeste))) == [("NOT_FOUND", "id")]
        assert await audit_count(tree.factory) == 1

    @pytest.mark.parametrize(("who", "target"), [("sole", "cobranzas"), ("sam", "cobranzas"), ("carlos", "cobranzas")])
    async def test_only_admins(self, client: GraphQLClient, tree: Tree, who: str, target: str) -> None:
        before = await state(tree.factory)
        payload = (await client.data(DELETE_TEAM, {"id": gid(getattr(tree, target))}, tree.who(who)))["deleteTeam"]
        assert problems(payload) == [("FORBIDDEN", None)]
        assert await state(tree.factory) == before


LINKS = {
    "addTeamMember": ADD_TEAM_MEMBER,
    "removeTeamMember": REMOVE_TEAM_MEMBER,
    "addTeamSupervisor": ADD_TEAM_SUPERVISOR,
    "removeTeamSupervisor": REMOVE_TEAM_SUPERVISOR,
}


async def link(client: GraphQLClient, token: str, operation: str, team_id: str, user_id: str) -> dict[str, Any]:
    data = await client.data(LINKS[operation], {"teamId": team_id, "userId": user_id}, token)
    payload: dict[str, Any] = data[operation]
    return payload


class LinkRefusals:
    """NOT_FOUND for bad ids of either kind and FORBIDDEN for non-admins, nothing changed; shared by the four."""

    operation: str
    team: str
    user: str

    @pytest.mark.parametrize(
        ("team_id", "user_id", "expected"),
        [
            pytest.param(MISSING_TEAM, None, ("NOT_FOUND", "teamId"), id="missing-team"),
            pytest.param("user-as-team", None, ("NOT_FOUND", "teamId"), id="team-id-of-a-user"),
            pytest.param("garbage", None, ("NOT_FOUND", "teamId"), id="garbage-team"),
            pytest.param(None, MISSING_USER, ("NOT_FOUND", "userId"), id="missing-user"),
            pytest.param(None, "team-as-user", ("NOT_FOUND", "userId"), id="user-id-of-a-team"),
        ],
    )
    async def test_unknown_ids_are_not_found(
        self, client: GraphQLClient, tree: Tree, team_id: str | None, user_id: str | None, expected: tuple[str, str]
    ) -> None:
        special = {"user-as-team": gid(tree.sergio), "team-as-user": gid(tree.sur)}
        team = special.get(team_id or "", team_id) or gid(getattr(tree, self.team))
        user = special.get(user_id or "", user_id) or gid(getattr(tree, self.user))
        before = await state(tree.factory)
        payload = await link(client, tree.token(tree.admin), self.operation, team, user)
        assert payload["team"] is None
        assert problems(payload) == [expected]
        assert await state(tree.factory) == before

    @pytest.mark.parametrize("who", ["sole", "sam", "sara", "ana"])
    async def test_only_admins(self, client: GraphQLClient, tree: Tree, who: str) -> None:
        before = await state(tree.factory)
        team, user = gid(getattr(tree, self.team)), gid(getattr(tree, self.user))
        payload = await link(client, tree.who(who), self.operation, team, user)
        assert payload["team"] is None
        assert problems(payload) == [("FORBIDDEN", None)]
        assert await state(tree.factory) == before


class TestAddTeamMember(LinkRefusals):
    operation, team, user = "addTeamMember", "sur", "carlos"

    async def test_add(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.sur), gid(tree.carlos))
        assert payload["userErrors"] == []
        assert payload["team"]["members"] == {
            "totalCount": 2,
            "nodes": [{"name": "Carlos Cobrador"}, {"name": "Sergio Sur"}],
        }
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "MEMBER_ADDED",
            "TEAM",
            tree.sur.id,
            "Sur",
        )
        assert event.changes == linked("member", tree.carlos, present=True)
        assert await audit_team_ids(tree.factory, event) == {tree.sur.id}
        # Sur's supervisor now sees Carlos; Carlos now sees Sur.
        assert "Carlos Cobrador" in await user_names(client, tree.token(tree.sara))
        assert await team_names(client, tree.token(tree.carlos)) == ["Cobranzas Norte", "Sur"]

    async def test_adding_again_changes_nothing(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.sur), gid(tree.sergio))
        assert payload["userErrors"] == []
        assert payload["team"]["members"]["totalCount"] == 1
        assert await state(tree.factory) == before

    async def test_a_supervisor_may_also_be_a_member(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.sur), gid(tree.silvia))
        assert payload["userErrors"] == []
        assert await team_names(client, tree.token(tree.silvia)) == ["Sur"]


class TestRemoveTeamMember(LinkRefusals):
    operation, team, user = "removeTeamMember", "ventas", "ana"

    async def test_remove(self, client: GraphQLClient, tree: Tree) -> None:
        assert "Ana Agente" in await user_names(client, tree.token(tree.sam))
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.ana))
        assert payload["userErrors"] == []
        assert payload["team"]["members"] == {"totalCount": 0, "nodes": []}
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_id) == ("MEMBER_REMOVED", tree.ventas.id)
        assert event.changes == linked("member", tree.ana, present=False)
        assert "Ana Agente" not in await user_names(client, tree.token(tree.sam))
        assert await team_names(client, tree.token(tree.ana)) == []

    async def test_removing_a_non_member_changes_nothing(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.sergio))
        assert payload["userErrors"] == []
        # A supervisor is not a member: removing it as one changes nothing either.
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.sam))
        assert payload["userErrors"] == []
        assert payload["team"]["supervisors"]["totalCount"] == 1
        assert await state(tree.factory) == before


class TestAddTeamSupervisor(LinkRefusals):
    operation, team, user = "addTeamSupervisor", "oeste", "silvia"

    async def test_add(self, client: GraphQLClient, tree: Tree) -> None:
        assert await team_names(client, tree.token(tree.silvia)) == []
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.silvia))
        assert payload["userErrors"] == []
        assert payload["team"]["supervisors"] == {
            "totalCount": 2,
            "nodes": [{"name": "Sam Supervisor"}, {"name": "Silvia Suplente"}],
        }
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_type, event.resource_id) == ("SUPERVISOR_ADDED", "TEAM", tree.ventas.id)
        assert event.changes == linked("supervisor", tree.silvia, present=True)
        assert await audit_team_ids(tree.factory, event) == {tree.ventas.id}
        # The whole subtree, and its people, come with it.
        assert await team_names(client, tree.token(tree.silvia)) == ["Cobranzas Norte", "Ventas Norte"]
        assert await user_names(client, tree.token(tree.silvia)) == [
            "Ana Agente",
            "Carlos Cobrador",
            "Sam Supervisor",
            "Silvia Suplente",
        ]

    @pytest.mark.parametrize("who", ["ana", "admin"])
    async def test_only_users_with_the_supervisor_role(self, client: GraphQLClient, tree: Tree, who: str) -> None:
        before = await state(tree.factory)
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.oeste), gid(getattr(tree, who)))
        assert payload["team"] is None
        assert problems(payload) == [("INVALID", "userId")]
        assert await state(tree.factory) == before

    async def test_adding_again_changes_nothing(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.norte), gid(tree.sole))
        assert payload["userErrors"] == []
        assert await state(tree.factory) == before


class TestRemoveTeamSupervisor(LinkRefusals):
    operation, team, user = "removeTeamSupervisor", "ventas", "sam"

    async def test_remove(self, client: GraphQLClient, tree: Tree) -> None:
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.sam))
        assert payload["userErrors"] == []
        assert payload["team"]["supervisors"] == {"totalCount": 0, "nodes": []}
        event = await last_audit(tree.factory)
        assert await audit_count(tree.factory) == 1
        assert (event.action, event.resource_id) == ("SUPERVISOR_REMOVED", tree.ventas.id)
        assert event.changes == linked("supervisor", tree.sam, present=False)
        assert await team_names(client, tree.token(tree.sam)) == []
        assert await user_names(client, tree.token(tree.sam)) == ["Sam Supervisor"]

    async def test_a_demoted_supervisor_can_still_be_removed(self, client: GraphQLClient, tree: Tree) -> None:
        demote = "mutation($id: ID!) { updateUser(id: $id, input: {role: AGENT}) { userErrors { code } } }"
        assert (await client.data(demote, {"id": gid(tree.sam)}, tree.token(tree.admin)))["updateUser"][
            "userErrors"
        ] == []
        payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(tree.sam))
        assert payload["userErrors"] == []
        assert (await last_audit(tree.factory)).action == "SUPERVISOR_REMOVED"

    async def test_removing_a_non_supervisor_changes_nothing(self, client: GraphQLClient, tree: Tree) -> None:
        before = await state(tree.factory)
        for user in (tree.silvia, tree.ana):
            payload = await link(client, tree.token(tree.admin), self.operation, gid(tree.ventas), gid(user))
            assert payload["userErrors"] == []
        assert await state(tree.factory) == before


class TestVisibilityFollowsTheTree:
    async def test_after_a_move_the_new_parents_supervisor_sees_the_subtree(
        self, client: GraphQLClient, tree: Tree
    ) -> None:
        sole, sara, sam = tree.token(tree.sole), tree.token(tree.sara), tree.token(tree.sam)
        assert await team_names(client, sole) == ["Cobranzas Norte", "Norte", "Ventas Norte"]
        assert await team_names(client, sara) == ["Oeste", "Sur"]

        variables: dict[str, Any] = {"id": gid(tree.ventas), "parentId": gid(tree.sur)}
        assert (await client.data(MOVE_TEAM, variables, tree.token(tree.admin)))["moveTeam"]["userErrors"] == []

        assert await team_names(client, sara) == ["Cobranzas Norte", "Oeste", "Sur", "Ventas Norte"]
        assert await team_names(client, sara, {"roots": True}) == ["Oeste", "Sur"]
        assert await user_names(client, sara) == [
            "Ana Agente",
            "Carlos Cobrador",
            "Sam Supervisor",
            "Sara Sur",
            "Sergio Sur",
        ]
        assert (await detail(client, sara, tree.ventas) or {})["parent"] == {"name": "Sur"}
        # The old parent's supervisor lost the subtree and its people.
        assert await team_names(client, sole) == ["Norte"]
        assert await user_names(client, sole) == ["Sole Supervisora"]
        for hidden in (tree.ventas, tree.cobranzas, tree.ana, tree.carlos):
            assert (await client.data(NODE, {"id": gid(hidden)}, sole))["node"] is None
        # Sam supervises the moved team itself: nothing changes for him.
        assert await team_names(client, sam) == ["Cobranzas Norte", "Ventas Norte"]

        # Cobranzas Norte to the top: it leaves every supervisor's subtree.
        variables = {"id": gid(tree.cobranzas), "parentId": None}
        assert (await client.data(MOVE_TEAM, variables, tree.token(tree.admin)))["moveTeam"]["userErrors"] == []
        assert await team_names(client, sara) == ["Oeste", "Sur", "Ventas Norte"]
        assert "Carlos Cobrador" not in await user_names(client, sara)
        assert await team_names(client, sam) == ["Ventas Norte"]
        # Its member still sees it, now as a root.
        assert await team_names(client, tree.token(tree.carlos), {"roots": True}) == ["Cobranzas Norte"]

    async def test_a_deactivated_supervisor_sees_nothing(self, client: GraphQLClient, tree: Tree) -> None:
        token = tree.token(tree.sole)
        data = await client.data(DEACTIVATE_USER, {"id": gid(tree.sole)}, tree.token(tree.admin))
        assert data["deactivateUser"]["userErrors"] == []
        body = await client.gql(TEAMS, token=token)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
