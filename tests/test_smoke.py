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
