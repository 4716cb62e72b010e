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
