from db.models import Role
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

ME = "query { me { id name role teams { totalCount nodes { name } } } }"


async def test_me(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Ventas")
    user = await factory.user(Role.AGENT, name="Ana", teams=[team])
    data = await client.data(ME, token=factory.token(user))
    assert data["me"] == {
        "id": gid(user),
        "name": "Ana",
        "role": "AGENT",
        "teams": {"totalCount": 1, "nodes": [{"name": "Ventas"}]},
    }


SIBLINGS = """
query {
  me { teams { nodes { name members { totalCount } } } }
  users { nodes { name teams { nodes { name } } } }
  teams { nodes { name parent { name } children { totalCount } } }
}
"""


async def test_sibling_fields_share_the_operation_session(client: GraphQLClient, factory: Factory) -> None:
    """Root fields and their loaders resolve concurrently and share the operation's session."""
    parent = await factory.team("Cobranzas")
    child = await factory.team("Norte", parent=parent)
    admin = await factory.user(Role.ADMIN, name="Ada", teams=[child])
    data = await client.data(SIBLINGS, token=factory.token(admin))
    assert data["me"]["teams"]["nodes"] == [{"name": "Norte", "members": {"totalCount": 1}}]
    assert data["users"]["nodes"] == [{"name": "Ada", "teams": {"nodes": [{"name": "Norte"}]}}]
    assert data["teams"]["nodes"] == [
        {"name": "Cobranzas", "parent": None, "children": {"totalCount": 1}},
        {"name": "Norte", "parent": {"name": "Cobranzas"}, "children": {"totalCount": 0}},
    ]


MEMBERS = """
mutation($team: ID!, $ana: ID!, $beto: ID!) {
  a: addTeamMember(teamId: $team, userId: $ana) { team { members { totalCount } } }
  b: addTeamMember(teamId: $team, userId: $beto) { team { members { totalCount } } }
}
"""


async def test_a_mutation_clears_the_loaders_later_fields_read(client: GraphQLClient, factory: Factory) -> None:
    """Loaders are built on first use; each mutation's clear must reach the ones built by then,
    or `b` reads the count `a` loaded before `b` added its member."""
    team = await factory.team("Norte")
    admin = await factory.user(Role.ADMIN)
    ana = await factory.user(Role.AGENT, name="Ana")
    beto = await factory.user(Role.AGENT, name="Beto")
    variables = {"team": gid(team), "ana": gid(ana), "beto": gid(beto)}
    data = await client.data(MEMBERS, variables, token=factory.token(admin))
    assert data["a"]["team"]["members"] == {"totalCount": 1}
    assert data["b"]["team"]["members"] == {"totalCount": 2}
