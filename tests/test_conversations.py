"""Reading conversations (A1, R3): the scoped list with its filters and order, `node`, the timeline,
and the contact a conversation shows, for everyone who sees the conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Contact, Conversation, ConversationMessage, ConversationStatus, Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import Factory, gid

CONVERSATIONS = """
query($filter: ConversationFilter, $orderBy: ConversationOrder, $first: Int, $after: String) {
  conversations(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id status channelKind agent { name } contact { fullName } team { name } }
  }
}
"""
NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Conversation { status contact { fullName } }
    ... on ConversationMessage { text direction }
  }
}
"""
TIMELINE = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) {
    ... on Conversation {
      messages(first: $first, after: $after, last: $last, before: $before) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
        nodes { id text direction authorName }
      }
      lastMessage { text }
    }
  }
}
"""
CONTACTS = "{ contacts(first: 50) { nodes { fullName } } }"
PAGE_WITH_DETAILS = """
query($first: Int) {
  conversations(first: $first) {
    nodes {
      id contact { fullName badge { portfolioName } channels { kind } } agent { name } team { name }
      channel { normalized } lastMessage { text } messages(first: 3) { nodes { text author { name } } }
    }
  }
}
"""
BASE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    cobranzas: Team
    ventas: Team
    admin: User
    sofia: User  # supervises Cobranzas
    victor: User  # supervises Ventas
    ana: User  # agent of Cobranzas
    beto: User  # agent of Cobranzas
    carla: User  # agent of Ventas
    juan: Contact  # of Cobranzas
    maria: Contact  # of Cobranzas
    pedro: Contact  # of Ventas
    ana_juan: Conversation  # OPEN, Ana's, Cobranzas
    queued: Conversation  # María's, UNASSIGNED in Cobranzas' queue
    carla_pedro: Conversation  # OPEN, Carla's, Ventas
    ana_pedro: Conversation  # OPEN, Ana's, Ventas: a contact outside Ana's teams


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    ventas = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    victor = await factory.user(Role.SUPERVISOR, name="Víctor", supervises=[ventas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    juan, maria = await factory.contacts(cobranzas, "Juan Pérez", "María Gómez")
    (pedro,) = await factory.contacts(ventas, "Pedro Núñez")
    open_ = ConversationStatus.OPEN
    ana_juan = await factory.conversation(juan, status=open_, agent=ana, created_at=BASE, messages=["Hola"])
    queued = await factory.conversation(maria, created_at=BASE + timedelta(minutes=1))
    carla_pedro = await factory.conversation(pedro, status=open_, agent=carla, created_at=BASE + timedelta(minutes=2))
    ana_pedro = await factory.conversation(
        pedro, status=open_, agent=ana, created_at=BASE + timedelta(minutes=3), team=ventas
    )
    return World(
        cobranzas=cobranzas,
        ventas=ventas,
        admin=admin,
        sofia=sofia,
        victor=victor,
        ana=ana,
        beto=beto,
        carla=carla,
        juan=juan,
        maria=maria,
        pedro=pedro,
        ana_juan=ana_juan,
        queued=queued,
        carla_pedro=carla_pedro,
        ana_pedro=ana_pedro,
    )


async def _listed(client: GraphQLClient, factory: Factory, user: User, **variables: Any) -> dict[str, Any]:
    data = await client.data(CONVERSATIONS, variables, factory.token(user))
    listed: dict[str, Any] = data["conversations"]
    return listed


def _ids(listed: dict[str, Any]) -> list[str]:
    return [n["id"] for n in listed["nodes"]]


async def test_each_role_lists_exactly_the_conversations_it_sees_newest_first(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    everyone = [gid(w.ana_pedro), gid(w.carla_pedro), gid(w.queued), gid(w.ana_juan)]
    expected = {
        w.admin: everyone,
        w.sofia: [gid(w.queued), gid(w.ana_juan)],  # Cobranzas' subtree
        w.victor: [gid(w.ana_pedro), gid(w.carla_pedro)],
        w.ana: [gid(w.ana_pedro), gid(w.queued), gid(w.ana_juan)],  # her own and her team's queue
        w.beto: [gid(w.queued)],  # only the queue he may take from
        w.carla: [gid(w.carla_pedro)],  # Ana's conversation with a Ventas client is not hers
    }
    for user, ids in expected.items():
        listed = await _listed(client, factory, user)
        assert _ids(listed) == ids, user.name
        assert listed["totalCount"] == len(ids), user.name


async def test_an_agent_reads_the_contact_of_every_conversation_it_sees(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """Pedro is of Ventas: Ana sees him because his conversation is hers, and Beto sees María's
    through the queue he may take from; neither sees a contact of a conversation it does not see."""
    w = world
    listed = await _listed(client, factory, w.ana)
    contacts = {n["id"]: n["contact"] for n in listed["nodes"]}
    assert contacts == {
        gid(w.ana_pedro): {"fullName": "Pedro Núñez"},
        gid(w.queued): {"fullName": "María Gómez"},
        gid(w.ana_juan): {"fullName": "Juan Pérez"},
    }
    names = {n["fullName"] for n in (await client.data(CONTACTS, token=factory.token(w.ana)))["contacts"]["nodes"]}
    assert names == {"Juan Pérez", "María Gómez", "Pedro Núñez"}
    # Carla (Ventas) sees Pedro, her team's, and nobody of Cobranzas; Beto loses nothing he had.
    carla = await client.data(CONTACTS, token=factory.token(w.carla))
    assert {n["fullName"] for n in carla["contacts"]["nodes"]} == {"Pedro Núñez"}
    beto = await client.data(CONTACTS, token=factory.token(w.beto))
    assert {n["fullName"] for n in beto["contacts"]["nodes"]} == {"Juan Pérez", "María Gómez"}


async def test_a_conversation_given_to_another_agent_no_longer_shows_its_contact(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """What Ana sees of Pedro comes from her conversation: given to Carla, he is gone from her lists."""
    w = world
    async with factory.writing() as session:
        row = await session.get_one(Conversation, w.ana_pedro.id)
        row.agent_id = w.carla.id
        await session.commit()
    names = {n["fullName"] for n in (await client.data(CONTACTS, token=factory.token(w.ana)))["contacts"]["nodes"]}
    assert names == {"Juan Pérez", "María Gómez"}


async def test_the_contacts_list_reads_the_conversations_in_the_same_one_statement(
    client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
) -> None:
    await client.data(CONTACTS, token=factory.token(world.ana))
    # The list is one statement, its conversations probe inside it; no other statement reads them.
    listing = [s for s in count_sql.statements if "FROM contacts" in s]
    assert len(listing) == 1
    assert [s for s in count_sql.statements if "conversations" in s] == listing


async def test_filters(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    cases: list[tuple[dict[str, Any], list[Conversation]]] = [
        ({"statuses": ["UNASSIGNED"]}, [w.queued]),
        ({"statuses": ["OPEN", "RESOLVED"]}, [w.ana_pedro, w.carla_pedro, w.ana_juan]),
        ({"agentIds": [gid(w.ana)]}, [w.ana_pedro, w.ana_juan]),
        ({"teamIds": [gid(w.ventas)]}, [w.ana_pedro, w.carla_pedro]),
        ({"contactIds": [gid(w.pedro)]}, [w.ana_pedro, w.carla_pedro]),
        ({"channelKinds": ["EMAIL"]}, []),
        ({"channelKinds": ["WHATSAPP"], "unassigned": True}, [w.queued]),
        ({"unassigned": False, "teamIds": [gid(w.cobranzas)]}, [w.ana_juan]),
    ]
    for flt, expected in cases:
        listed = await _listed(client, factory, w.admin, filter=flt)
        assert _ids(listed) == [gid(c) for c in expected], flt
        assert listed["totalCount"] == len(expected), flt
    # A filter never widens the scope: Beto asking for Ana's sees none of them.
    assert _ids(await _listed(client, factory, w.beto, filter={"agentIds": [gid(w.ana)]})) == []


async def test_a_filter_id_of_another_type_is_refused_naming_its_position(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    body = await client.gql(
        CONVERSATIONS, {"filter": {"agentIds": [gid(world.ana), gid(world.cobranzas)]}}, factory.token(world.admin)
    )
    assert body["data"] == {"conversations": None}
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("NOT_FOUND", "filter.agentIds.1")


async def test_order_and_keyset_pages(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    oldest_first = {"field": "CREATED_AT", "direction": "ASC"}
    first = await _listed(client, factory, w.admin, orderBy=oldest_first, first=3)
    assert _ids(first) == [gid(w.ana_juan), gid(w.queued), gid(w.carla_pedro)]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await _listed(client, factory, w.admin, orderBy=oldest_first, first=3, after=first["pageInfo"]["endCursor"])
    assert _ids(rest) == [gid(w.ana_pedro)]
    assert rest["pageInfo"]["hasNextPage"] is False
    # Changed last first: a message on Juan's conversation brings it to the top.
    async with factory.writing() as session:
        row = await session.get_one(Conversation, w.ana_juan.id)
        row.updated_at = BASE + timedelta(hours=1)
        await session.commit()
    recent = await _listed(client, factory, w.admin, orderBy={"field": "UPDATED_AT"}, first=2)
    assert _ids(recent) == [gid(w.ana_juan), gid(w.ana_pedro)]


async def test_node_resolves_a_conversation_and_its_messages_with_their_visibility(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    async with factory.sessionmaker() as session:
        message_id = await session.scalar(
            select(ConversationMessage.id).where(ConversationMessage.conversation_id == w.ana_juan.id)
        )
    assert message_id is not None
    message = to_global_id("ConversationMessage", message_id)
    for user, sees in [(w.ana, True), (w.sofia, True), (w.admin, True), (w.beto, False), (w.carla, False)]:
        token = factory.token(user)
        conversation = (await client.data(NODE, {"id": gid(w.ana_juan)}, token))["node"]
        found = (await client.data(NODE, {"id": message}, token))["node"]
        if sees:
            assert conversation == {
                "__typename": "Conversation",
                "id": gid(w.ana_juan),
                "status": "OPEN",
                "contact": {"fullName": "Juan Pérez"},
            }
            assert found == {"__typename": "ConversationMessage", "id": message, "text": "Hola", "direction": "IN"}
        else:
            assert (conversation, found) == (None, None), user.name


async def test_the_timeline_pages_in_the_order_it_happened(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    async with factory.sessionmaker() as session:
        session.add_all(
            ConversationMessage(
                conversation_id=w.ana_juan.id,
                direction=direction,
                author_id=w.ana.id if direction != "IN" else None,
                author_name="Ana" if direction != "IN" else None,
                text=text,
                sent_at=BASE + timedelta(seconds=seconds),
                created_at=BASE,
            )
            for seconds, direction, text in [
                (30, "OUT", "¿En qué le ayudo?"),
                (10, "NOTE", "Cliente VIP"),
                (60, "IN", "Gracias"),
            ]
        )
        await session.commit()
    token = factory.token(w.ana)
    page = (await client.data(TIMELINE, {"id": gid(w.ana_juan), "first": 2}, token))["node"]
    assert [m["text"] for m in page["messages"]["nodes"]] == ["Hola", "Cliente VIP"]
    assert page["messages"]["totalCount"] == 4
    assert page["lastMessage"] == {"text": "Gracias"}
    after = page["messages"]["pageInfo"]["endCursor"]
    rest = (await client.data(TIMELINE, {"id": gid(w.ana_juan), "first": 5, "after": after}, token))["node"]
    assert [(m["text"], m["direction"], m["authorName"]) for m in rest["messages"]["nodes"]] == [
        ("¿En qué le ayudo?", "OUT", "Ana"),
        ("Gracias", "IN", None),
    ]
    assert rest["messages"]["pageInfo"]["hasNextPage"] is False
    latest = (await client.data(TIMELINE, {"id": gid(w.ana_juan), "last": 1}, token))["node"]
    assert [m["text"] for m in latest["messages"]["nodes"]] == ["Gracias"]
    assert latest["messages"]["pageInfo"]["hasPreviousPage"] is True
    empty = (await client.data(TIMELINE, {"id": gid(w.queued)}, token))["node"]
    assert (empty["messages"]["nodes"], empty["lastMessage"]) == ([], None)


async def test_a_page_of_conversations_with_their_details_costs_the_same_statements_whatever_its_size(
    client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
) -> None:
    more = await factory.contacts(world.cobranzas, *(f"Cliente N{i}" for i in range(6)))
    await factory.conversations(
        more, status=ConversationStatus.OPEN, agent=world.beto, messages=["Hola", "¿Hay alguien?"]
    )
    token = factory.token(world.admin)
    counts = []
    for size in (2, 10):
        count_sql.statements.clear()
        data = await client.data(PAGE_WITH_DETAILS, {"first": size}, token)
        assert len(data["conversations"]["nodes"]) == min(size, 10)
        counts.append(count_sql.count)
    # Strawberry: the page, then one per nested field: contact, badge, channels, agent, team,
    # channel, latest message, messages and their authors. Compiled (PostgreSQL): one.
    expected = 1 if client.server.compiles else 9
    assert counts == [expected, expected]
