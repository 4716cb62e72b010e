"""Conversations pushed live (RT1, RT3): each change reaches the agent who has the conversation (and
the one it left), the supervisors of its team, and, while it waits UNASSIGNED, the agents of the
team whose queue it is in; nobody else hears of it."""

from __future__ import annotations

from typing import Any

from db.models import Role
from tests.conftest import GraphQLClient, Server
from tests.factories import Factory, gid
from tests.ws import QUIET, Listener, listening

TAKE = "mutation { takeNextConversation { conversation { id } userErrors { code } } }"
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } userErrors { code } } }
"""
TRANSFER = """
mutation($input: TransferConversationInput!) { transferConversation(input: $input) { userErrors { code } } }
"""
RESOLVE = "mutation($id: ID!) { resolveConversation(id: $id) { userErrors { code } } }"
START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { conversation { id } userErrors { code } }
}
"""


async def _heard(inbox: Listener, names: dict[str, str]) -> list[tuple[Any, ...]]:
    """Everything the inbox received until it fell quiet, each event in short."""
    heard: list[tuple[Any, ...]] = []
    wait = 5.0
    while True:
        try:
            payload = (await inbox.next(wait))["payload"]
        except TimeoutError:
            return heard
        wait = QUIET
        kind = payload["__typename"]
        if kind == "ConversationChanged":
            heard.append((payload["conversationChange"], names[payload["conversationId"]]))
        elif kind == "ConversationMessageAdded":
            heard.append((payload["direction"], names[payload["conversationId"]], payload["text"]))
        else:
            assert kind == "AgentLoadChanged", payload
            heard.append(("LOAD", names[payload["userId"]], payload["openConversations"]))


async def test_each_change_reaches_exactly_who_may_see_the_conversation(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    cobranzas, ventas = await factory.team("Cobranzas"), await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    victor = await factory.user(Role.SUPERVISOR, name="Víctor", supervises=[ventas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    maria, jose, juan = await factory.contacts(cobranzas, "María Gómez", "José Núñez", "Juan Pérez")
    first = await factory.conversation(maria)
    second = await factory.conversation(jose)
    email = await factory.channel(juan, "EMAIL", "juan@example.com")
    names = {gid(first): "María", gid(second): "José"} | {gid(u): u.name for u in (ana, beto, carla)}
    tokens = {user.name: factory.token(user) for user in (admin, ana, beto, carla, victor)}

    async with (
        listening(server, factory.token(ana)) as ana_inbox,
        listening(server, factory.token(beto)) as beto_inbox,
        listening(server, factory.token(carla)) as carla_inbox,
        listening(server, factory.token(sofia)) as sofia_inbox,
        listening(server, factory.token(victor)) as victor_inbox,
    ):
        # A note on one waiting in Cobranzas' queue: its agents may take it, so they hear it.
        note = {"conversationId": gid(second), "text": "Cliente VIP", "kind": "NOTE"}
        assert (await client.data(SEND, {"input": note}, tokens["Beto"]))["sendMessage"]["userErrors"] == []
        # Ana takes the oldest (María's): it leaves the queue, which the team hears; her reply only
        # she and her supervisor do.
        taken = await client.data(TAKE, token=tokens["Ana"])
        assert taken["takeNextConversation"]["conversation"] == {"id": gid(first)}
        reply = {"conversationId": gid(first), "text": "Buen día"}
        assert (await client.data(SEND, {"input": reply}, tokens["Ana"]))["sendMessage"]["userErrors"] == []
        # To Ventas' queue: Ventas hears it arrive, Cobranzas' supervisor and Ana hear it leave.
        to_ventas = {"conversationId": gid(first), "to": {"teamId": gid(ventas)}}
        moved = await client.data(TRANSFER, {"input": to_ventas}, tokens["Ada"])
        assert moved["transferConversation"]["userErrors"] == []
        assert (await client.data(TAKE, token=tokens["Carla"]))["takeNextConversation"]["userErrors"] == []
        resolved = await client.data(RESOLVE, {"id": gid(first)}, tokens["Víctor"])
        assert resolved["resolveConversation"]["userErrors"] == []
        # Beto calls Juan: his, and his supervisor's to watch.
        started = await client.data(START, {"input": {"contactId": gid(juan), "channelId": gid(email)}}, tokens["Beto"])
        names[started["startConversation"]["conversation"]["id"]] = "Juan"

        heard = {
            "Ana": await _heard(ana_inbox, names),
            "Beto": await _heard(beto_inbox, names),
            "Carla": await _heard(carla_inbox, names),
            "Sofía": await _heard(sofia_inbox, names),
            "Víctor": await _heard(victor_inbox, names),
        }
    assert heard == {
        "Ana": [
            ("NOTE", "José", "Cliente VIP"),
            ("LOAD", "Ana", 1),
            ("TAKEN", "María"),
            ("OUT", "María", "Buen día"),
            ("LOAD", "Ana", 0),
            ("TRANSFERRED", "María"),
        ],
        "Beto": [
            ("NOTE", "José", "Cliente VIP"),
            ("TAKEN", "María"),
            ("LOAD", "Beto", 1),
            ("CREATED", "Juan"),
        ],
        "Carla": [
            ("TRANSFERRED", "María"),
            ("LOAD", "Carla", 1),
            ("TAKEN", "María"),
            ("LOAD", "Carla", 0),
            ("RESOLVED", "María"),
        ],
        "Sofía": [
            ("NOTE", "José", "Cliente VIP"),
            ("LOAD", "Ana", 1),
            ("TAKEN", "María"),
            ("OUT", "María", "Buen día"),
            ("LOAD", "Ana", 0),
            ("TRANSFERRED", "María"),
            ("LOAD", "Beto", 1),
            ("CREATED", "Juan"),
        ],
        "Víctor": [
            ("LOAD", "Ana", 0),
            ("TRANSFERRED", "María"),
            ("LOAD", "Carla", 1),
            ("TAKEN", "María"),
            ("LOAD", "Carla", 0),
            ("RESOLVED", "María"),
        ],
    }
