"""Starting an attention (C9): `startConversation` opens an OPEN conversation on one of the contact's
channels, assigned to the actor, in the contact's team; an address has one open conversation at most."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from db.base import utcnow
from db.models import Contact, ContactChannel, Conversation, ConversationStatus, Role, Team, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, problems

START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) {
    conversation {
      id status channelKind channelAddress agent { name } team { name } contact { fullName }
      channel { kind normalized } assignedAt routing { rule chosenName }
    }
    userErrors { field code message }
  }
}
"""


@dataclass
class World:
    team: Team
    admin: User
    ana: User
    beto: User
    carla: User  # of another team
    juan: Contact
    phone: ContactChannel
    email: ContactChannel


@pytest.fixture
async def world(factory: Factory) -> World:
    team = await factory.team("Cobranzas")
    ventas = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[team])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    (juan,) = await factory.contacts(team, "Juan Pérez")
    phone = await factory.channel(juan, "PHONE", "+541145551234")
    email = await factory.channel(juan, "EMAIL", "juan@example.com")
    return World(team, admin, ana, beto, carla, juan, phone, email)


async def _start(client: GraphQLClient, factory: Factory, user: User, contact: Any, channel: Any) -> dict[str, Any]:
    given = {"contactId": gid(contact), "channelId": gid(channel)}
    data = await client.data(START, {"input": given}, factory.token(user))
    payload: dict[str, Any] = data["startConversation"]
    return payload


async def test_a_call_opens_a_conversation_of_the_actor(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    payload = await _start(client, factory, w.ana, w.juan, w.phone)
    assert payload["userErrors"] == []
    conversation = payload["conversation"]
    assert {k: v for k, v in conversation.items() if k not in ("id", "assignedAt")} == {
        "status": "OPEN",
        "channelKind": "PHONE",
        "channelAddress": "+541145551234",
        "agent": {"name": "Ana"},
        "team": {"name": "Cobranzas"},
        "contact": {"fullName": "Juan Pérez"},
        "channel": {"kind": "PHONE", "normalized": "+541145551234"},
        "routing": {"rule": "MANUAL", "chosenName": "Ana"},
    }
    assert conversation["assignedAt"] is not None
    assert await factory.open_load(w.ana) == 1
    event = await last_audit(factory)
    assert (event.action, event.resource_type, event.resource_name, event.actor_id) == (
        "CREATED",
        "CONVERSATION",
        "Juan Pérez",
        w.ana.id,
    )
    assert event.changes == {
        "status": {"before": None, "after": "OPEN"},
        "agentId": {"before": None, "after": w.ana.id},
        "agent": {"before": None, "after": "Ana"},
        "teamId": {"before": None, "after": w.team.id},
        "channel": {"before": None, "after": "PHONE:+541145551234"},
    }


async def test_starting_again_opens_the_same_one_and_writes_nothing(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    first = await _start(client, factory, w.ana, w.juan, w.email)
    before = await factory.conversation_state()
    again = await _start(client, factory, w.ana, w.juan, w.email)
    assert again == first
    assert await factory.conversation_state() == before


async def test_anyone_elses_open_conversation_on_the_address_is_a_conflict(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    assert (await _start(client, factory, w.ana, w.juan, w.email))["userErrors"] == []
    queued = await factory.conversation(w.juan, channel=w.phone)
    for user, channel in [(w.beto, w.email), (w.beto, w.phone), (w.ana, w.phone)]:
        before = await factory.conversation_state()
        payload = await _start(client, factory, user, w.juan, channel)
        assert problems(payload) == [("CONFLICT", "input.channelId")], (user.name, channel.kind)
        assert payload["conversation"] is None
        assert await factory.conversation_state() == before
    # Once resolved, the address takes a new conversation.
    async with factory.writing() as session:
        row = await session.get_one(Conversation, queued.id)
        row.status, row.resolved_at = ConversationStatus.RESOLVED.value, utcnow()
        await session.commit()
    fresh = await _start(client, factory, w.beto, w.juan, w.phone)
    assert fresh["userErrors"] == []
    assert fresh["conversation"]["id"] != gid(queued)


async def test_refusals_change_nothing(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    (other,) = await factory.contacts(w.team, "María Gómez")
    hers = await factory.channel(other, "EMAIL", "maria@example.com")
    (archived,) = await factory.contacts(w.team, "Ex Cliente")
    gone = await factory.channel(archived, "EMAIL", "ex@example.com")
    async with factory.writing() as session:
        row = await session.get_one(Contact, archived.id)
        row.archived_at = utcnow()
        await session.commit()
    cases: list[tuple[User, Any, Any, list[tuple[str, str | None]]]] = [
        # Juan is Cobranzas': missing to Carla, whatever the channel.
        (w.carla, w.juan, w.email, [("NOT_FOUND", "input.contactId")]),
        # María's channel is not Juan's.
        (w.ana, w.juan, hers, [("NOT_FOUND", "input.channelId")]),
        (w.ana, w.juan, w.team, [("NOT_FOUND", "input.channelId")]),
        (w.ana, archived, gone, [("CONFLICT", "input.contactId")]),
    ]
    for user, contact, channel, expected in cases:
        before = await factory.conversation_state()
        payload = await _start(client, factory, user, contact, channel)
        assert problems(payload) == expected
        assert await factory.conversation_state() == before


async def test_two_starts_at_once_open_one_conversation(client: GraphQLClient, factory: Factory, world: World) -> None:
    """Both of Ana's calls answer the one conversation; Ana and Beto at once: one opens it, the
    other meets it (the partial unique index decides, and the loser's call runs again)."""
    w = world
    mine = await asyncio.gather(*(_start(client, factory, w.ana, w.juan, w.email) for _ in range(3)))
    assert len({p["conversation"]["id"] for p in mine}) == 1
    assert all(p["userErrors"] == [] for p in mine)
    assert await factory.open_load(w.ana) == 1
    both = await asyncio.gather(
        _start(client, factory, w.ana, w.juan, w.phone), _start(client, factory, w.beto, w.juan, w.phone)
    )
    outcomes = sorted("opened" if p["conversation"] else p["userErrors"][0]["code"] for p in both)
    assert outcomes == ["CONFLICT", "opened"]
    assert await factory.count(Conversation) == 2
