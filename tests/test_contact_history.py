"""A contact's interaction history (C4): its conversations (calls included) and gestiones, newest
first, in one connection over the ContactHistoryItem union, each with its detail, and only what
the viewer may see of each; one statement per page, however many contacts ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from db.models import ChannelKind, Contact, Conversation, ConversationStatus, Gestion, Role, Team, User
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import Factory, cursor, gid

HISTORY = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) {
    ... on Contact {
      history(first: $first, after: $after, last: $last, before: $before) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes {
          __typename
          ... on Conversation { id status channelKind agent { name } messages(first: 5) { nodes { text } } }
          ... on Gestion { id gestionStatus: status campaign { name } operator { name } }
        }
      }
    }
  }
}
"""
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@dataclass
class World:
    team: Team
    admin: User
    sofia: User
    ana: User  # an agent of the team, operator of Mora
    beto: User  # an agent of the team, operator of nothing
    juan: Contact
    items: dict[str, Conversation | Gestion]  # by name, oldest first


async def _stamp(factory: Factory, row: Gestion, at: datetime) -> None:
    async with factory.sessionmaker() as session:
        await session.execute(update(Gestion).where(Gestion.id == row.id).values(created_at=at))
        await session.commit()


@pytest.fixture
async def world(factory: Factory) -> World:
    team = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[team])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[team])
    (juan,) = await factory.contacts(team, "Juan Pérez")
    mora = await factory.campaign("Mora", team, operators=[ana])
    otra = await factory.campaign("Otra", team)
    phone = await factory.channel(juan, ChannelKind.PHONE.value, "+541145551234")
    items: dict[str, Conversation | Gestion] = {}
    (items["mora_pool"],) = await factory.gestiones(mora, [juan])
    await _stamp(factory, items["mora_pool"], T0)
    items["chat"] = await factory.conversation(
        juan, status=ConversationStatus.OPEN, agent=ana, created_at=T0 + timedelta(days=1), messages=["Hola"]
    )
    items["call"] = await factory.conversation(
        juan, channel=phone, status=ConversationStatus.RESOLVED, agent=beto, created_at=T0 + timedelta(days=2)
    )
    (items["otra"],) = await factory.gestiones(otra, [juan], operator=beto)
    await _stamp(factory, items["otra"], T0 + timedelta(days=3))
    items["queued"] = await factory.conversation(juan, created_at=T0 + timedelta(days=4), messages=["¿Hola?"])
    return World(team, admin, sofia, ana, beto, juan, items)


async def _history(client: GraphQLClient, factory: Factory, user: User, contact: Contact, **v: Any) -> dict[str, Any]:
    data = await client.data(HISTORY, {"id": gid(contact), **v}, factory.token(user))
    history: dict[str, Any] = data["node"]["history"]
    return history


def _names(world: World, history: dict[str, Any]) -> list[str]:
    by_id = {gid(row): name for name, row in world.items.items()}
    return [by_id[n["id"]] for n in history["nodes"]]


async def test_newest_first_each_with_its_detail(client: GraphQLClient, factory: Factory, world: World) -> None:
    history = await _history(client, factory, world.admin, world.juan)
    assert _names(world, history) == ["queued", "otra", "call", "chat", "mora_pool"]
    assert history["totalCount"] == 5
    queued, otra, call, chat, pool = history["nodes"]
    assert (queued["__typename"], queued["status"], queued["agent"], queued["messages"]["nodes"]) == (
        "Conversation",
        "UNASSIGNED",
        None,
        [{"text": "¿Hola?"}],
    )
    assert (otra["__typename"], otra["campaign"], otra["operator"]) == ("Gestion", {"name": "Otra"}, {"name": "Beto"})
    # A call is a conversation on PHONE.
    assert (call["channelKind"], call["status"], call["agent"]) == ("PHONE", "RESOLVED", {"name": "Beto"})
    assert (chat["agent"], chat["messages"]["nodes"]) == ({"name": "Ana"}, [{"text": "Hola"}])
    assert (pool["gestionStatus"], pool["operator"]) == ("PENDING", None)


async def test_each_viewer_reads_only_what_it_may_see_of_each(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    # Ana: her conversation and the queue she may take from; the pool of Mora, which she operates.
    ana = await _history(client, factory, world.ana, world.juan)
    assert _names(world, ana) == ["queued", "chat", "mora_pool"]
    assert ana["totalCount"] == 3
    # Beto: his call and his gestión, and the queue.
    beto = await _history(client, factory, world.beto, world.juan)
    assert _names(world, beto) == ["queued", "otra", "call"]
    sofia = await _history(client, factory, world.sofia, world.juan)
    assert _names(world, sofia) == ["queued", "otra", "call", "chat", "mora_pool"]


async def test_keyset_pages_forwards_and_backwards(client: GraphQLClient, factory: Factory, world: World) -> None:
    first = await _history(client, factory, world.admin, world.juan, first=2)
    assert _names(world, first) == ["queued", "otra"]
    assert (first["pageInfo"]["hasNextPage"], first["pageInfo"]["hasPreviousPage"]) == (True, False)
    second = await _history(client, factory, world.admin, world.juan, first=2, after=first["pageInfo"]["endCursor"])
    assert _names(world, second) == ["call", "chat"]
    third = await _history(client, factory, world.admin, world.juan, first=2, after=second["pageInfo"]["endCursor"])
    assert _names(world, third) == ["mora_pool"]
    assert third["pageInfo"]["hasNextPage"] is False
    back = await _history(client, factory, world.admin, world.juan, last=2, before=third["pageInfo"]["startCursor"])
    assert _names(world, back) == ["call", "chat"]
    assert back["pageInfo"]["hasPreviousPage"] is True


async def test_a_gestion_and_a_conversation_of_the_same_instant_keep_one_order(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """Ties on created_at go by kind (GESTION before CONVERSATION, newest first), then id: pages never
    repeat or skip one of them."""
    async with factory.sessionmaker() as session:
        for name in ("chat", "call"):
            await session.execute(
                update(Conversation).where(Conversation.id == world.items[name].id).values(created_at=T0)
            )
        await session.commit()
    everything = await _history(client, factory, world.admin, world.juan)
    assert _names(world, everything) == ["queued", "otra", "mora_pool", "call", "chat"]
    seen: list[str] = []
    after = None
    while True:
        page = await _history(client, factory, world.admin, world.juan, first=1, after=after)
        seen += _names(world, page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == _names(world, everything)


async def test_a_cursor_not_issued_here_is_refused(client: GraphQLClient, factory: Factory, world: World) -> None:
    for bad in (cursor(["2026-11-02T10:00:00+00:00", "GESTION"]), cursor([1, "GESTION", 3]), "%%%"):
        body = await client.gql(HISTORY, {"id": gid(world.juan), "after": bad}, factory.token(world.admin))
        assert body["data"]["node"] is None or body["data"]["node"]["history"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


CONTACTS_WITH_HISTORY = """
query($first: Int) {
  contacts(first: 10) {
    nodes {
      fullName
      history(first: $first) {
        totalCount
        nodes { __typename ... on Conversation { status } ... on Gestion { gestionStatus: status } }
      }
    }
  }
}
"""


async def test_one_statement_per_page_however_many_contacts(
    client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
) -> None:
    others = await factory.contacts(world.team, "María Gómez", "José Núñez")
    for person in others:
        await factory.conversation(person)
    data = await client.data(CONTACTS_WITH_HISTORY, {"first": 2}, factory.token(world.admin))
    by_name = {n["fullName"]: n["history"] for n in data["contacts"]["nodes"]}
    assert by_name["Juan Pérez"]["totalCount"] == 5
    assert by_name["Juan Pérez"]["nodes"] == [
        {"__typename": "Conversation", "status": "UNASSIGNED"},
        {"__typename": "Gestion", "gestionStatus": "PENDING"},
    ]
    assert by_name["María Gómez"] == {
        "totalCount": 1,
        "nodes": [{"__typename": "Conversation", "status": "UNASSIGNED"}],
    }
    # The pages of the three histories in one statement, their counts in another.
    histories = [s for s in count_sql.statements if "UNION ALL" in s]
    assert len(histories) == 2
