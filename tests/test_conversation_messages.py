"""Replies and notes (A1): `sendMessage`. A reply goes out on an OPEN conversation and times the first
response; a note stays inside and may be left on any conversation its writer sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from db.models import ChannelKind, Contact, Conversation, ConversationStatus, Role, Team, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, problems

SEND = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) {
    message { id direction text authorName author { name } sentAt durationSeconds externalId }
    conversation { status firstReplyAt lastMessageAt messages { totalCount } }
    userErrors { field code message path }
  }
}
"""


@dataclass
class World:
    cobranzas: Team
    sofia: User
    ana: User
    beto: User
    juan: Contact
    chat: Conversation  # OPEN, Ana's, with the client's "Hola"
    queued: Conversation  # waiting in Cobranzas' queue


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    juan, maria = await factory.contacts(cobranzas, "Juan Pérez", "María Gómez")
    chat = await factory.conversation(juan, status=ConversationStatus.OPEN, agent=ana, messages=["Hola"])
    queued = await factory.conversation(maria, messages=["¿Hay alguien?"])
    return World(cobranzas, sofia, ana, beto, juan, chat, queued)


def _instant(moment: datetime | None) -> str | None:
    """A stored instant as the API writes it."""
    return moment.isoformat() if moment else None


async def _send(client: GraphQLClient, factory: Factory, user: User, **given: Any) -> dict[str, Any]:
    data = await client.data(SEND, {"input": given}, factory.token(user))
    payload: dict[str, Any] = data["sendMessage"]
    return payload


async def test_the_first_reply_times_the_response_and_later_ones_keep_it(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    first = await _send(client, factory, w.ana, conversationId=gid(w.chat), text="  Buen día,\n¿en qué le ayudo?  ")
    assert first["userErrors"] == []
    message = first["message"]
    # Trimmed, its lines kept.
    assert (message["direction"], message["text"], message["authorName"], message["author"]) == (
        "OUT",
        "Buen día,\n¿en qué le ayudo?",
        "Ana",
        {"name": "Ana"},
    )
    assert (message["durationSeconds"], message["externalId"]) == (None, None)
    conversation = first["conversation"]
    assert conversation["firstReplyAt"] == message["sentAt"] == conversation["lastMessageAt"]
    assert conversation["messages"] == {"totalCount": 2}
    event = await last_audit(factory)
    assert (event.action, event.resource_type, event.resource_id, event.resource_name, event.actor_id) == (
        "REPLIED",
        "CONVERSATION",
        w.chat.id,
        "Juan Pérez",
        w.ana.id,
    )
    assert event.changes == {"text": {"before": None, "after": "Buen día,\n¿en qué le ayudo?"}}

    second = await _send(client, factory, w.ana, conversationId=gid(w.chat), text="¿Sigue ahí?")
    assert second["conversation"]["firstReplyAt"] == conversation["firstReplyAt"]
    assert second["conversation"]["lastMessageAt"] == second["message"]["sentAt"]


async def test_a_note_stays_inside_and_moves_no_reply_time(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    payload = await _send(client, factory, w.ana, conversationId=gid(w.chat), text="Cliente molesto", kind="NOTE")
    assert payload["userErrors"] == []
    assert payload["message"]["direction"] == "NOTE"
    # The client's "Hola" is still the last message, and nobody has replied yet.
    conversation = payload["conversation"]
    assert conversation["firstReplyAt"] is None
    assert conversation["lastMessageAt"] == _instant(w.chat.last_message_at)
    event = await last_audit(factory)
    assert (event.action, event.changes) == ("COMMENTED", {"text": {"before": None, "after": "Cliente molesto"}})


async def test_a_supervisor_steps_in_with_a_reply(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    payload = await _send(client, factory, w.sofia, conversationId=gid(w.chat), text="Soy la supervisora")
    assert payload["userErrors"] == []
    assert payload["message"]["authorName"] == "Sofía"


async def test_the_queue_takes_notes_but_no_reply_until_taken(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    before = await factory.conversation_state()
    refused = await _send(client, factory, w.beto, conversationId=gid(w.queued), text="Hola")
    assert problems(refused) == [("CONFLICT", "input.conversationId")]
    assert refused["message"] is None
    assert await factory.conversation_state() == before
    note = await _send(client, factory, w.beto, conversationId=gid(w.queued), text="Lo tomo yo", kind="NOTE")
    assert note["userErrors"] == []
    assert note["conversation"]["status"] == "UNASSIGNED"


async def test_a_resolved_conversation_takes_notes_but_no_reply(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    resolved = await client.data(
        "mutation($id: ID!) { resolveConversation(id: $id) { userErrors { code } } }",
        {"id": gid(w.chat)},
        factory.token(w.ana),
    )
    assert resolved["resolveConversation"]["userErrors"] == []
    before = await factory.conversation_state()
    refused = await _send(client, factory, w.ana, conversationId=gid(w.chat), text="¿Algo más?")
    assert problems(refused) == [("CONFLICT", "input.conversationId")]
    assert await factory.conversation_state() == before
    note = await _send(client, factory, w.ana, conversationId=gid(w.chat), text="Resuelto por teléfono", kind="NOTE")
    assert note["userErrors"] == []


async def test_a_call_records_its_length(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    phone = await factory.channel(w.juan, ChannelKind.PHONE.value, "+541145551234")
    call = await factory.conversation(w.juan, channel=phone, status=ConversationStatus.OPEN, agent=w.ana)
    payload = await _send(
        client,
        factory,
        w.ana,
        conversationId=gid(call),
        text="Acordó pagar el viernes",
        kind="NOTE",
        durationSeconds=312,
    )
    assert payload["userErrors"] == []
    assert payload["message"]["durationSeconds"] == 312
    assert (await last_audit(factory)).changes["durationSeconds"] == {"before": None, "after": 312}


async def test_refusals_name_their_field_and_change_nothing(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    other_team = await factory.team("Ventas")
    carla = await factory.user(Role.AGENT, name="Carla", teams=[other_team])
    chat = gid(w.chat)
    cases: list[tuple[User, dict[str, Any], list[tuple[str, str | None]]]] = [
        (w.ana, {"conversationId": chat, "text": " \n "}, [("REQUIRED", "input.text")]),
        (w.ana, {"conversationId": chat, "text": "a\x00b"}, [("INVALID", "input.text")]),
        (w.ana, {"conversationId": chat, "text": "x" * 20_001}, [("TOO_LONG", "input.text")]),
        # Only calls have a length, and a call lasts at most a day.
        (
            w.ana,
            {"conversationId": chat, "text": "Hola", "durationSeconds": 30},
            [("INVALID", "input.durationSeconds")],
        ),
        (
            w.ana,
            {"conversationId": chat, "text": "Hola", "durationSeconds": -1},
            [("INVALID", "input.durationSeconds")],
        ),
        # Ana's conversation is missing to Beto (of her team) and to Carla alike.
        (w.beto, {"conversationId": chat, "text": "Hola"}, [("NOT_FOUND", "input.conversationId")]),
        (carla, {"conversationId": chat, "text": "Hola", "kind": "NOTE"}, [("NOT_FOUND", "input.conversationId")]),
        (w.ana, {"conversationId": gid(w.juan), "text": "Hola"}, [("NOT_FOUND", "input.conversationId")]),
    ]
    for user, given, expected in cases:
        before = await factory.conversation_state()
        payload = await _send(client, factory, user, **given)
        assert problems(payload) == expected, given
        assert (payload["message"], payload["conversation"]) == (None, None)
        assert await factory.conversation_state() == before
    at_most = await _send(client, factory, w.ana, conversationId=chat, text="x" * 20_000)
    assert at_most["userErrors"] == []
