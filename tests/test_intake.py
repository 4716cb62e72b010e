"""Intake (A1, A3) through receiveMessage: senders found or filed, messages joined, conversations
opened, reopened, repeated webhooks, what is refused, and what every outcome writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from db.base import utcnow
from db.models import ChannelKind, PresenceStatus, Role, Team, TeamMember, User
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import Factory, gid, mutate
from tests.intake import (
    RECEIVE,
    ago,
    contacts_on,
    conversations,
    events_after,
    loads,
    message,
    messages,
    newest_event,
    online,
    phone,
    pk,
    receive,
    resolve_directly,
    set_presence,
    settings,
    snapshot,
)

CREATE_CONTACT = """
mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { field } } }
"""
# What an integrator asks for: no nested field, so no loader's statement counts.
LEAN = """
mutation($input: ReceiveMessageInput!) {
  receiveMessage(input: $input) { outcome conversation { id status } message { id } userErrors { code } }
}
"""
AUDIT = """
query($types: [ResourceType!]) { auditEvents(first: 20, filter: {resourceTypes: $types}) {
  nodes { action resourceType resourceId resourceName changes { field before after } }
} }
"""


@dataclass
class World:
    factory: Factory
    client: GraphQLClient
    ventas: Team
    cobranzas: Team
    admin: User
    ana: User
    beto: User
    token: str

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        return await receive(self.client, self.token, body)

    async def refused(self, body: dict[str, Any], token: str | None = None) -> list[tuple[str, str | None]]:
        """receiveMessage that must be refused: its problems; nothing at all written."""
        before, last_event = await snapshot(self.factory), await newest_event(self.factory)
        data = await self.client.data(RECEIVE, {"input": body}, token or self.token)
        payload = data["receiveMessage"]
        assert payload["conversation"] is None
        assert payload["outcome"] is None
        assert await snapshot(self.factory) == before
        assert await events_after(self.factory, last_event) == []
        return [(e["code"], e["field"]) for e in payload["userErrors"]]


@pytest.fixture
async def world(client: GraphQLClient, factory: Factory) -> World:
    ventas = await factory.team("Ventas")
    cobranzas = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Integración WhatsApp")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[ventas, cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[ventas, cobranzas])
    await online(factory, ana, beto)
    return World(factory, client, ventas, cobranzas, admin, ana, beto, factory.token(admin))


def changes(event: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["before"], c["after"]) for c in event["changes"]}


class TestSenders:
    async def test_an_unknown_sender_is_filed_in_the_intake_team_with_its_name_split(self, world: World) -> None:
        await settings(world.client, world.token, intakeTeamId=gid(world.cobranzas))
        routed = await world.send(message("011 15-4444-0001", name="  Juan   Carlos Pérez "))
        assert routed["outcome"] == "OPENED"
        contact = routed["conversation"]["contact"]
        assert (contact["firstNames"], contact["lastNames"]) == ("Juan", "Carlos Pérez")
        ((row, channels),) = await contacts_on(world.factory)
        assert row.team_id == world.cobranzas.id
        # Normalised as a contact channel is, the number kept as the integrator sent it.
        assert [(c.kind, c.value, c.normalized) for c in channels] == [
            ("WHATSAPP", "011 15-4444-0001", "+5491144440001")
        ]
        assert routed["conversation"]["channelAddress"] == "+5491144440001"
        assert row.search_text.startswith("juan carlos perez |")

    async def test_with_no_intake_team_the_oldest_top_level_team(self, world: World, factory: Factory) -> None:
        await factory.team("Zona Norte", parent=world.cobranzas)
        await world.send(message())
        ((row, _),) = await contacts_on(world.factory)
        assert row.team_id == world.ventas.id

    async def test_a_sender_without_a_name_is_named_by_its_address(self, world: World) -> None:
        routed = await world.send(message("ana.gomez@Example.COM", kind=ChannelKind.EMAIL))
        contact = routed["conversation"]["contact"]
        assert (contact["firstNames"], contact["lastNames"]) == ("ana.gomez@example.com", "")

    async def test_a_one_word_name_is_the_first_names(self, world: World) -> None:
        routed = await world.send(message(name="Cacho"))
        contact = routed["conversation"]["contact"]
        assert (contact["firstNames"], contact["lastNames"]) == ("Cacho", "")

    async def test_the_new_contact_is_audited_as_create_contact_audits_one(self, world: World) -> None:
        await world.send(message("+54 9 11 4444-0001", name="Juan Pérez"))
        await mutate(
            world.client,
            world.token,
            CREATE_CONTACT,
            {
                "input": {
                    "firstNames": "Juan",
                    "lastNames": "Pérez",
                    "teamId": gid(world.ventas),
                    "channels": [{"kind": "WHATSAPP", "value": "+54 9 11 4444-0002"}],
                }
            },
        )
        data = await world.client.data(AUDIT, {"types": ["CONTACT"]}, world.token)
        by_api, by_intake = data["auditEvents"]["nodes"]
        assert by_intake["action"] == by_api["action"] == "CREATED"
        assert by_intake["resourceName"] == by_api["resourceName"] == "Juan Pérez"
        assert changes(by_intake) == {**changes(by_api), "channels": (None, ["WHATSAPP:+5491144440001"])}

    async def test_a_known_contact_is_found_however_its_number_is_typed(self, world: World) -> None:
        created = await mutate(
            world.client,
            world.token,
            CREATE_CONTACT,
            {
                "input": {
                    "firstNames": "Lucía",
                    "lastNames": "Gómez",
                    "teamId": gid(world.cobranzas),
                    "channels": [{"kind": "WHATSAPP", "value": "+54 9 11 4444-0001"}],
                }
            },
        )
        routed = await world.send(message("9 11 4444 0001", name="Otro Nombre"))
        assert routed["conversation"]["contact"]["id"] == created["contact"]["id"]
        assert routed["conversation"]["team"] == {"name": "Cobranzas"}
        assert len(await contacts_on(world.factory)) == 1

    async def test_with_no_team_at_all_nothing_can_be_filed(self, client: GraphQLClient, factory: Factory) -> None:
        admin = await factory.user(Role.ADMIN)
        w = World(factory, client, None, None, admin, admin, admin, factory.token(admin))  # type: ignore[arg-type]
        assert await w.refused(message()) == [("CONFLICT", "input.channel")]


class TestConversations:
    async def test_a_second_message_joins_the_open_conversation_unrouted(self, world: World) -> None:
        first = await world.send(message(sent_at=ago(5)))
        last_event = await newest_event(world.factory)
        before = await snapshot(world.factory)
        second = await world.send(message(text="¿Siguen ahí?", sent_at=ago(1)))
        assert second["outcome"] == "APPENDED"
        assert second["conversation"]["id"] == first["conversation"]["id"]
        assert second["routing"] is None
        assert second["message"]["text"] == "¿Siguen ahí?"
        after = await snapshot(world.factory)
        assert (after.conversations, after.messages, after.audit) == (1, 2, before.audit)
        assert after.loads == before.loads
        assert after.turns == before.turns
        (event,) = await events_after(world.factory, last_event)
        assert event.kind == "CONVERSATION_MESSAGE"
        assert event.payload["text"] == "¿Siguen ahí?"
        assert event.user_ids == [world.ana.id]

    async def test_a_late_message_does_not_move_the_last_message_back(self, world: World) -> None:
        await world.send(message(sent_at=ago(1)))
        await world.send(message(sent_at=ago(30)))
        (row,) = await conversations(world.factory)
        assert row.last_message_at is not None
        assert utcnow() - row.last_message_at < timedelta(minutes=2)

    async def test_without_sent_at_it_was_sent_when_received(self, world: World) -> None:
        body = message()
        del body["sentAt"]
        before = utcnow()
        routed = await world.send(body)
        (row,) = await messages(world.factory)
        assert before <= row.sent_at <= utcnow()
        assert routed["message"]["sentAt"] == row.sent_at.isoformat()

    async def test_another_channel_of_the_same_contact_is_another_conversation(self, world: World) -> None:
        first = await world.send(message("+54 9 11 4444-0001", kind=ChannelKind.WHATSAPP))
        other = await world.send(message("+54 9 11 4444-0001", kind=ChannelKind.PHONE, duration=95, text="Llamada"))
        assert other["outcome"] == "OPENED"
        assert other["conversation"]["id"] != first["conversation"]["id"]
        assert other["message"]["durationSeconds"] == 95
        # A sender new on PHONE is a new contact: contacts are found by the channel they came in on.
        assert len(await contacts_on(world.factory)) == 2

    async def test_an_unassigned_conversation_takes_messages_and_waits(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana, world.beto)
        await world.send(message())
        await online(world.factory, world.ana)
        second = await world.send(message())
        assert second["outcome"] == "APPENDED"
        assert second["conversation"]["status"] == "UNASSIGNED"

    async def test_the_same_external_id_again_changes_nothing_and_answers_the_same(self, world: World) -> None:
        first = await world.send(message(external_id="wamid.ABC"))
        before, last_event = await snapshot(world.factory), await newest_event(world.factory)
        again = await world.send(message(external_id="wamid.ABC", text="otro texto", value=phone(77)))
        assert again["outcome"] == "DUPLICATE"
        assert again["conversation"]["id"] == first["conversation"]["id"]
        assert again["message"]["id"] == first["message"]["id"]
        assert again["message"]["text"] == first["message"]["text"]
        assert again["routing"] is None
        assert await snapshot(world.factory) == before
        assert await events_after(world.factory, last_event) == []

    async def test_opening_writes_its_audit_row_and_events(self, world: World) -> None:
        last_event = await newest_event(world.factory)
        routed = await world.send(message(name="Juan Pérez"))
        data = await world.client.data(AUDIT, {"types": ["CONVERSATION"]}, world.token)
        (event,) = data["auditEvents"]["nodes"]
        assert event["action"] == "CREATED"
        assert event["resourceId"] == routed["conversation"]["id"]
        assert event["resourceName"] == "Juan Pérez (WHATSAPP)"
        assert changes(event) == {
            "contactId": (None, routed["conversation"]["contact"]["id"]),
            "channelKind": (None, "WHATSAPP"),
            "channelAddress": (None, "+5491144440001"),
            "status": (None, "OPEN"),
            "agentId": (None, gid(world.ana)),
            "teamId": (None, gid(world.ventas)),
            "routing": (None, {"rule": "ROUND_ROBIN", "method": "ROUND_ROBIN", "fallback": None}),
        }
        kinds = [(e.kind, e.payload.get("change")) for e in await events_after(world.factory, last_event)]
        assert kinds == [
            ("AGENT_LOAD_CHANGED", None),
            ("CONVERSATION_CHANGED", "CREATED"),
            ("CONVERSATION_MESSAGE", None),
        ]
        load, changed, added = await events_after(world.factory, last_event)
        assert load.payload == {"userId": world.ana.id, "openConversations": 1}
        assert changed.user_ids == [world.ana.id]
        assert changed.manager_team_ids == [world.ventas.id]
        assert added.payload["conversationId"] == pk(routed["conversation"]["id"])

    async def test_a_queued_one_is_announced_to_its_teams_agents(self, world: World) -> None:
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana, world.beto)
        last_event = await newest_event(world.factory)
        await world.send(message())
        changed = [e for e in await events_after(world.factory, last_event) if e.kind == "CONVERSATION_CHANGED"]
        assert [(e.user_ids, e.team_ids) for e in changed] == [([], [world.ventas.id])]


class TestReopening:
    async def resolved(self, world: World, minutes_ago: float) -> dict[str, Any]:
        first = await world.send(message())
        await resolve_directly(world.factory, pk(first["conversation"]["id"]), at=ago(minutes_ago))
        return first

    async def test_within_the_window_it_goes_back_to_its_agent(self, world: World) -> None:
        first = await self.resolved(world, 30)
        last_event = await newest_event(world.factory)
        again = await world.send(message(text="Una cosa más"))
        assert again["outcome"] == "REOPENED"
        assert again["conversation"]["id"] == first["conversation"]["id"]
        assert again["conversation"]["status"] == "OPEN"
        assert again["conversation"]["agent"] == {"name": "Ana"}
        routing = again["routing"]
        assert (routing["rule"], routing["method"], routing["fallback"]) == ("REOPENED", "ROUND_ROBIN", None)
        (row,) = await conversations(world.factory)
        assert row.resolved_at is None
        assert row.routing["rule"] == "REOPENED"
        assert await loads(world.factory) == {world.ana.id: 1}
        data = await world.client.data(AUDIT, {"types": ["CONVERSATION"]}, world.token)
        reopened, _created = data["auditEvents"]["nodes"]
        assert reopened["action"] == "REOPENED"
        assert changes(reopened) == {
            "status": ("RESOLVED", "OPEN"),
            "routing": (None, {"rule": "REOPENED", "method": "ROUND_ROBIN", "fallback": None}),
        }
        changed = [e for e in await events_after(world.factory, last_event) if e.kind == "CONVERSATION_CHANGED"]
        assert [(e.payload["change"], e.payload["status"]) for e in changed] == [("REOPENED", "OPEN")]

    async def test_its_agent_offline_it_is_routed_again(self, world: World) -> None:
        await self.resolved(world, 30)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana)
        again = await world.send(message())
        assert again["outcome"] == "REOPENED"
        assert again["conversation"]["agent"] == {"name": "Beto"}
        routing = again["routing"]
        assert routing["rule"] == "ROUND_ROBIN"
        assert routing["fallback"] == "Ana, who had it, is offline: routed again."
        assert next((s["userName"], s["reason"]) for s in routing["skipped"]) == ("Ana", "OFFLINE")

    async def test_nobody_to_take_it_it_reopens_into_the_queue(self, world: World) -> None:
        await self.resolved(world, 30)
        await set_presence(world.factory, PresenceStatus.OFFLINE, world.ana, world.beto)
        again = await world.send(message())
        assert (again["outcome"], again["conversation"]["status"]) == ("REOPENED", "UNASSIGNED")
        assert await loads(world.factory) == {world.ana.id: 0}

    async def test_one_filed_in_another_team_goes_back_there_to_its_agent(self, world: World, factory: Factory) -> None:
        eva = await factory.user(Role.AGENT, name="Eva", teams=[world.cobranzas])
        await settings(world.client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.cobranzas))
        await set_presence(factory, PresenceStatus.OFFLINE, world.ana)
        # The default group's turns: Ana (offline: that method ignores it), Beto, then Eva.
        for n in range(2):
            await world.send(message(phone(900 + n)))
        first = await self.resolved(world, 30)
        assert first["conversation"]["agent"] == {"name": "Eva"}
        again = await world.send(message())
        assert again["outcome"] == "REOPENED"
        assert again["routing"]["rule"] == "REOPENED"
        assert again["conversation"]["agent"] == {"name": "Eva"}
        assert again["conversation"]["team"] == {"name": "Cobranzas"}
        row = next(r for r in await conversations(world.factory) if r.id == pk(first["conversation"]["id"]))
        assert (row.status, row.agent_id, row.team_id) == ("OPEN", eva.id, world.cobranzas.id)

    async def test_its_agent_no_longer_of_its_team_nor_seeing_the_contact_it_is_routed_again(
        self, world: World, factory: Factory
    ) -> None:
        eva = await factory.user(Role.AGENT, name="Eva", teams=[world.cobranzas])
        await settings(world.client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.cobranzas))
        for n in range(2):
            await world.send(message(phone(900 + n)))
        await self.resolved(world, 30)
        async with factory.sessionmaker() as session:
            await session.execute(delete(TeamMember).where(TeamMember.user_id == eva.id))
            await session.commit()
        routing = (await world.send(message()))["routing"]
        assert routing["fallback"] == "Eva, who had it, can no longer see the contact: routed again."
        assert routing["rule"] == "DEFAULT_GROUP"
        assert routing["chosen"] == {"name": "Ana"}

    async def test_after_the_window_a_new_conversation(self, world: World) -> None:
        first = await self.resolved(world, 24 * 60 + 1)
        again = await world.send(message())
        assert again["outcome"] == "OPENED"
        assert again["conversation"]["id"] != first["conversation"]["id"]
        old, new = await conversations(world.factory)
        assert (old.status, new.status) == ("RESOLVED", "OPEN")

    async def test_a_window_of_zero_never_reopens(self, world: World) -> None:
        await settings(world.client, world.token, reopenWindowMinutes=0)
        await self.resolved(world, 0.05)
        assert (await world.send(message()))["outcome"] == "OPENED"


class TestRefusals:
    @pytest.mark.parametrize(
        ("changed", "problem"),
        [
            ({"channel": {"kind": "WHATSAPP", "value": "12"}}, ("INVALID", "input.channel.value")),
            ({"channel": {"kind": "EMAIL", "value": "not-an-address"}}, ("INVALID", "input.channel.value")),
            ({"channel": {"kind": "INSTAGRAM", "value": "  "}}, ("REQUIRED", "input.channel.value")),
            ({"text": "   "}, ("REQUIRED", "input.text")),
            ({"text": "x" * 20_001}, ("TOO_LONG", "input.text")),
            ({"text": "a\x00b"}, ("INVALID", "input.text")),
            ({"externalId": " "}, ("REQUIRED", "input.externalId")),
            ({"externalId": "x" * 201}, ("TOO_LONG", "input.externalId")),
            ({"durationSeconds": 30}, ("INVALID", "input.durationSeconds")),
            (
                {"channel": {"kind": "PHONE", "value": "+54 9 11 4444-0001"}, "durationSeconds": -1},
                ("INVALID", "input.durationSeconds"),
            ),
            ({"contactName": "x" * 201}, ("TOO_LONG", "input.contactName")),
        ],
    )
    async def test_invalid_input_writes_nothing(
        self, world: World, changed: dict[str, Any], problem: tuple[str, str]
    ) -> None:
        assert await world.refused({**message(), **changed}) == [problem]

    @pytest.mark.parametrize("who", ["ana", "supervisor"])
    async def test_only_admins_integrate(self, world: World, factory: Factory, who: str) -> None:
        user = world.ana if who == "ana" else await factory.user(Role.SUPERVISOR, supervises=[world.ventas])
        assert await world.refused(message(), token=factory.token(user)) == [("FORBIDDEN", None)]

    async def test_signing_in_is_required(self, world: World) -> None:
        body = await world.client.gql(RECEIVE, {"input": message()})
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await snapshot(world.factory)).conversations == 0


class TestStatements:
    """What receiveMessage costs the database, per outcome, for an integrator's selection (sign-in's
    two statements included).

    PostgreSQL writes the conversation, its message, the turn, the load and the audit row in one
    statement, a new sender's contact, channel and audit row in another, and the events in one;
    SQLite runs each part as a statement of its own (one per event). Either way the lookup reads
    settings, sender, portfolio and conversations in one statement, and the router locks the
    turn and reads the ring's agents in one."""

    async def counted(self, world: World, count_sql: StatementCounter, body: dict[str, Any]) -> int:
        count_sql.statements.clear()
        data = await world.client.data(LEAN, {"input": body}, world.token)
        assert data["receiveMessage"]["userErrors"] == []
        return count_sql.count

    async def test_per_outcome(self, world: World, count_sql: StatementCounter, backend_name: str) -> None:
        await world.send(message(phone(1)))  # the ring's first use writes its row
        postgres = backend_name == "postgresql"
        # A new sender: lookup, (PostgreSQL: the sender's lock and the lookup again), the contact
        # (SQLite: its ids, row, channel, audit ids and row, then its channel's id), the ring,
        # the write, the events (SQLite: load, conversation, message).
        assert await self.counted(world, count_sql, message(phone(2))) == (7 if postgres else 16)
        # A known contact with no open conversation: lookup, ring, write, events.
        await resolve_directly(world.factory, (await conversations(world.factory))[0].id, at=ago(3 * 24 * 60))
        assert await self.counted(world, count_sql, message(phone(1))) == (4 if postgres else 10)
        # Its open conversation: lookup, write, the event.
        assert await self.counted(world, count_sql, message(phone(1))) == (3 if postgres else 4)
        # A repeated webhook: lookup, then the message and its conversation.
        body = message(phone(1))
        await world.send(body)
        assert await self.counted(world, count_sql, body) == 2
