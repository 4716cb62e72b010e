from db.models import Role
from tests.conftest import GraphQLClient
from tests.factories import Factory
from tests.intake import message, online, receive


async def test_smoke(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Integrador")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    carlos = await factory.user(Role.AGENT, name="Carlos", teams=[team])
    await online(factory, ana, carlos)
    token = factory.token(admin)
    first = await receive(client, token, message(name="Juan Pérez"))
    print(first)
    second = await receive(client, token, message())
    print(second)
    third = await receive(client, token, message("+54 9 11 4444-0002"))
    print(third)
