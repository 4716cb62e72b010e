"""The notification centre (S6) through the endpoint: every role's own list, newest first, unread
filter and count, marking read (someone else's ids NOT_FOUND, untouched), typed pointers read
through their scopes, live delivery to that user alone; and its producers: conversations and
gestiones given to someone by someone else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from db.base import utcnow
from db.models import ConversationStatus, Notification, NotificationKind, Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient, Server
from tests.factories import Factory, gid, mutate, problems
from tests.intake import message, online, receive, settings
from tests.ws import listening

LIST = """
query($f: NotificationFilter, $first: Int, $after: String) {
  notifications(filter: $f, first: $first, after: $after) {
    totalCount
    nodes { id kind message read readAt count }
    pageInfo { hasNextPage endCursor }
  }
  unreadNotificationCount
}
"""
POINTERS = """
{ notifications { nodes {
  kind count attentionIds gestionIds conversationId conversation { id status } jobId fileId downloadUrl
} } }
"""
MARK = """
mutation($input: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $input) { updatedCount unreadCount userErrors { field code message } }
}
"""
NODE = "query($id: ID!) { node(id: $id) { __typename ... on Notification { message } } }"
ASSIGN = "mutation($id: ID!, $a: ID!) { assignConversation(id: $id, agentId: $a) { userErrors { code } } }"
TRANSFER = """
mutation($input: TransferConversationInput!) { transferConversation(input: $input) { userErrors { code } } }
"""
TAKE = "mutation { takeNextConversation { conversation { id } userErrors { code } } }"
TRANSFER_GESTIONES = """
mutation($ids: [ID!]!, $op: ID) { transferGestiones(gestionIds: $ids, operatorId: $op) { transferredCount } }
"""
DISTRIBUTE = """
mutation($c: ID!, $ops: [ID!]!) {
  distributeGestiones(campaignId: $c, operatorIds: $ops, strategy: ROUND_ROBIN) { distributedCount }
}
"""


@dataclass
class World:
    cobranzas: Team
    admin: User
    sofia: User
    ana: User
    beto: User


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    return World(cobranzas, admin, sofia, ana, beto)


async def test_each_user_reads_its_own_centre_newest_first_with_the_unread_ones_counted(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    now = utcnow()
    old = await factory.notification(world.ana, message="Primera", created_at=now - timedelta(hours=2))
    await factory.notification(world.ana, message="Segunda", created_at=now - timedelta(hours=1), read_at=now)
    await factory.notification(world.ana, message="Tercera", created_at=now)
    await factory.notification(world.beto, message="De Beto", created_at=now)
    token = factory.token(world.ana)
    data = await client.data(LIST, token=token)
    assert [(n["message"], n["read"]) for n in data["notifications"]["nodes"]] == [
        ("Tercera", False),
        ("Segunda", True),
        ("Primera", False),
    ]
    assert (data["notifications"]["totalCount"], data["unreadNotificationCount"]) == (3, 2)
    unread = await client.data(LIST, {"f": {"unread": True}}, token)
    assert [n["message"] for n in unread["notifications"]["nodes"]] == ["Tercera", "Primera"]
    read = await client.data(LIST, {"f": {"unread": False}}, token)
    assert [n["message"] for n in read["notifications"]["nodes"]] == ["Segunda"]
    # A page at a time, by cursor.
    first = (await client.data(LIST, {"first": 2}, token))["notifications"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await client.data(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token))["notifications"]
    assert [n["message"] for n in rest["nodes"]] == ["Primera"]
    # Every role has a centre; nobody reads another's, an admin neither (node() included).
    for user, expected in [(world.admin, 0), (world.sofia, 0), (world.beto, 1)]:
        theirs = await client.data(LIST, token=factory.token(user))
        assert theirs["notifications"]["totalCount"] == expected
        assert (await client.data(NODE, {"id": gid(old)}, factory.token(user)))["node"] is None
    mine = await client.data(NODE, {"id": gid(old)}, token)
    assert mine["node"] == {"__typename": "Notification", "message": "Primera"}


async def test_marking_read_by_ids_leaves_someone_elses_alone_and_all_marks_the_rest(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    first, second, third = [await factory.notification(world.ana, message=m) for m in ("Uno", "Dos", "Tres")]
    betos = await factory.notification(world.beto, message="De Beto")
    token = factory.token(world.ana)
    ids = [gid(first), gid(betos), to_global_id("Contact", first.id), gid(second)]
    payload = (await client.data(MARK, {"input": {"ids": ids}}, token))["markNotificationsRead"]
    assert (payload["updatedCount"], payload["unreadCount"]) == (2, 1)
    # Beto's, and an id that names no notification, read alike: not found, at their positions.
    assert problems(payload) == [("NOT_FOUND", "input.ids.1"), ("NOT_FOUND", "input.ids.2")]
    (still,) = await factory.notifications_of(world.beto)
    assert still.read_at is None
    again = await mutate(client, token, MARK, {"input": {"ids": [gid(first)]}})
    assert (again["updatedCount"], again["unreadCount"]) == (0, 1)
    everything = await mutate(client, token, MARK, {"input": {"all": True}})
    assert (everything["updatedCount"], everything["unreadCount"]) == (1, 0)
    assert all(n.read_at is not None for n in await factory.notifications_of(world.ana))
    assert [n.id for n in await factory.notifications_of(world.ana) if n.id == third.id]
    (still,) = await factory.notifications_of(world.beto)
    assert still.read_at is None
    refused = (await client.data(MARK, {"input": {"all": False}}, token))["markNotificationsRead"]
    assert problems(refused) == [("INVALID", "input.all")]


async def test_pointers_are_typed_and_read_through_their_scopes(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    (juan, maria) = await factory.contacts(world.cobranzas, "Juan Pérez", "María Gómez")
    hers = await factory.conversation(juan, status=ConversationStatus.OPEN, agent=world.ana)
    gone = await factory.conversation(maria, status=ConversationStatus.OPEN, agent=world.beto)
    now = utcnow()
    kinds = NotificationKind
    await factory.notification(
        world.ana,
        kinds.EXPORT_READY,
        created_at=now,
        payload={"fileId": 7, "jobId": 3, "rowCount": 120, "downloadUrl": "/files/7"},
    )
    await factory.notification(
        world.ana,
        kinds.CONVERSATION_TRANSFERRED,
        created_at=now - timedelta(minutes=1),
        payload={"conversationId": hers.id},
    )
    # Moved on to Beto since: Ana no longer sees it, so the pointer reads null.
    await factory.notification(
        world.ana,
        kinds.CONVERSATION_TRANSFERRED,
        created_at=now - timedelta(minutes=2),
        payload={"conversationId": gone.id},
    )
    await factory.notification(
        world.ana,
        kinds.GESTIONES_TRANSFERRED,
        created_at=now - timedelta(minutes=3),
        payload={"gestionIds": [5, 6], "count": 2},
    )
    nodes = (await client.data(POINTERS, token=factory.token(world.ana)))["notifications"]["nodes"]
    assert [(n["kind"], n["count"]) for n in nodes] == [
        ("EXPORT_READY", 120),
        ("CONVERSATION_TRANSFERRED", None),
        ("CONVERSATION_TRANSFERRED", None),
        ("GESTIONES_TRANSFERRED", 2),
    ]
    export, given, lost, gestiones = nodes
    assert (export["jobId"], export["fileId"], export["downloadUrl"]) == (
        to_global_id("Job", 3),
        to_global_id("StoredFile", 7),
        "/files/7",
    )
    assert given["conversation"] == {"id": gid(hers), "status": "OPEN"}
    assert (lost["conversationId"], lost["conversation"]) == (gid(gone), None)
    assert gestiones["gestionIds"] == [to_global_id("Gestion", 5), to_global_id("Gestion", 6)]
    assert (gestiones["conversation"], gestiones["attentionIds"]) == (None, [])


async def _drain(inbox: Any) -> list[dict[str, Any]]:
    """Every message until a quiet second."""
    seen = []
    while True:
        try:
            seen.append((await inbox.next(wait=1))["payload"])
        except TimeoutError:
            return seen


async def test_a_notification_is_pushed_live_to_its_user_alone(
    server: Server, client: GraphQLClient, factory: Factory, world: World
) -> None:
    (juan,) = await factory.contacts(world.cobranzas, "Juan Pérez")
    queued = await factory.conversation(juan)
    other_admin = await factory.user(Role.ADMIN, name="Otra")
    async with (
        listening(server, factory.token(world.ana)) as ana_inbox,
        listening(server, factory.token(other_admin)) as admin_inbox,
        listening(server, factory.token(world.sofia)) as sofia_inbox,
    ):
        assigned = await client.data(ASSIGN, {"id": gid(queued), "a": gid(world.ana)}, factory.token(world.admin))
        assert assigned["assignConversation"]["userErrors"] == []
        ana_heard = await _drain(ana_inbox)
        told = [p for p in ana_heard if p["__typename"] == "NotificationAdded"]
        assert told == [
            {
                "__typename": "NotificationAdded",
                "notificationKind": "CONVERSATION_TRANSFERRED",
                "message": "Ada assigned you the conversation with Juan Pérez",
            }
        ]
        # An admin and the supervisor see the conversation move, but not Ana's notification.
        for inbox in (admin_inbox, sofia_inbox):
            heard = await _drain(inbox)
            assert "ConversationChanged" in {p["__typename"] for p in heard}
            assert "NotificationAdded" not in {p["__typename"] for p in heard}


async def test_conversations_given_by_someone_else_notify_the_agent_and_taking_one_does_not(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    (juan, maria) = await factory.contacts(world.cobranzas, "Juan Pérez", "María Gómez")
    queued = await factory.conversation(juan)
    await client.data(ASSIGN, {"id": gid(queued), "a": gid(world.ana)}, factory.token(world.sofia))
    (assigned,) = await factory.notifications_of(world.ana)
    assert (assigned.kind, assigned.payload, assigned.message) == (
        "CONVERSATION_TRANSFERRED",
        {"conversationId": queued.id},
        "Sofía assigned you the conversation with Juan Pérez",
    )
    # Sofía hands it on to Beto: Beto is told.
    to_beto = {"conversationId": gid(queued), "to": {"agentId": gid(world.beto)}}
    handed = await client.data(TRANSFER, {"input": to_beto}, factory.token(world.sofia))
    assert handed["transferConversation"]["userErrors"] == []
    (transferred,) = await factory.notifications_of(world.beto)
    assert transferred.message == "Sofía transferred you the conversation with Juan Pérez"
    # Taking one from the queue is the agent's own doing: no notification.
    await factory.conversation(maria)
    taken = (await client.data(TAKE, token=factory.token(world.ana)))["takeNextConversation"]
    assert taken["userErrors"] == []
    assert len(await factory.notifications_of(world.ana)) == 1


async def test_intake_routing_notifies_nobody(client: GraphQLClient, factory: Factory, world: World) -> None:
    await online(factory, world.ana)
    token = factory.token(world.admin)
    await settings(client, token, intakeTeamId=gid(world.cobranzas))
    routed = await receive(client, token, message())
    assert routed["conversation"]["status"] == "OPEN"
    assert await factory.count(Notification) == 0


async def test_gestiones_given_by_someone_else_notify_each_operator_once_per_call(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    campaign = await factory.campaign("Mora", world.cobranzas, operators=[world.ana, world.beto])
    people = await factory.contacts(world.cobranzas, "Juan Pérez", "María Gómez", "José Núñez")
    rows = await factory.gestiones(campaign, people)
    boss = factory.token(world.sofia)
    await client.data(DISTRIBUTE, {"c": gid(campaign), "ops": [gid(world.ana), gid(world.beto)]}, boss)
    (ana_given,) = await factory.notifications_of(world.ana)
    (beto_given,) = await factory.notifications_of(world.beto)
    assert (ana_given.kind, ana_given.payload) == (
        "GESTIONES_TRANSFERRED",
        {"gestionIds": [rows[0].id, rows[2].id], "count": 2},
    )
    assert beto_given.message == "Sofía assigned 1 gestión to you"
    moved = await client.data(TRANSFER_GESTIONES, {"ids": [gid(rows[0]), gid(rows[2])], "op": gid(world.beto)}, boss)
    assert moved["transferGestiones"]["transferredCount"] == 2
    betos = await factory.notifications_of(world.beto)
    assert len(betos) == 2
    assert (betos[-1].message, betos[-1].payload) == (
        "Sofía transferred 2 gestiones to you",
        {"gestionIds": [rows[0].id, rows[2].id], "count": 2},
    )
    # Taken back to nobody: nobody is told.
    await client.data(TRANSFER_GESTIONES, {"ids": [gid(rows[1])], "op": None}, boss)
    assert await factory.count(Notification) == 3
