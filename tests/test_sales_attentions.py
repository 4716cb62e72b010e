"""Writing commercial attentions (S1): create, update with its status rules, who may touch which,
one not CLOSED per contact, transfers notified, conversations marked commercial."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from db.models import (
    ConversationStatus,
    Notification,
    SalesAttention,
    SalesAttentionConversation,
    SalesAttentionStatus,
)
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit, mutate
from tests.sales_world import SalesWorld, build, refused, reload, state

FIELDS = """
  id status pendingSince closedAt fullName
  interest { name } origin { name } closeReason { name } agent { name } team { name }
"""
CREATE = f"""
mutation($input: CreateSalesAttentionInput!) {{
  createSalesAttention(input: $input) {{ attention {{ {FIELDS} }} userErrors {{ field code message }} }}
}}
"""
UPDATE = f"""
mutation($input: UpdateSalesAttentionInput!) {{
  updateSalesAttention(input: $input) {{ attention {{ {FIELDS} }} userErrors {{ field code message }} }}
}}
"""
MARK = """
mutation($input: MarkConversationCommercialInput!) {
  markConversationCommercial(input: $input) {
    attention { id conversations { totalCount nodes { id } } }
    conversation { id }
    userErrors { field code message }
  }
}
"""


@pytest.fixture
async def world(factory: Factory) -> SalesWorld:
    return await build(factory)


async def _only(factory: Factory) -> SalesAttention:
    async with factory.sessionmaker() as session:
        (row,) = (await session.scalars(select(SalesAttention))).all()
        return row


class TestCreate:
    async def test_an_agent_opens_one_for_its_client_and_reads_none_of_it(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        given = {"contactId": gid(world.juan), "interestId": gid(world.auto), "originId": gid(world.web)}
        payload = await mutate(client, factory.token(world.ana), CREATE, {"input": given})
        # Agents write the panel but never read it (S2).
        assert payload["attention"] is None
        row = await _only(factory)
        assert (row.team_id, row.agent_id, row.status, row.created_by_id) == (
            world.norte.id,
            world.ana.id,
            "OPEN",
            world.ana.id,
        )
        assert (row.interest_id, row.origin_id, row.pending_since, row.closed_at) == (
            world.auto.id,
            world.web.id,
            None,
            None,
        )
        event = await last_audit(factory)
        assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
            "CREATED",
            "SALES_ATTENTION",
            row.id,
            "Juan Pérez",
        )
        assert event.team_id == world.norte.id
        assert {k: v["after"] for k, v in event.changes.items()} == {
            "contactId": world.juan.id,
            "status": "OPEN",
            "interestId": world.auto.id,
            "originId": world.web.id,
            "agentId": world.ana.id,
            "teamId": world.norte.id,
        }

    async def test_an_admin_picks_the_group_and_agent_and_reads_it_back(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        given = {
            "contactId": gid(world.juan),
            "teamId": gid(world.sur),
            "agentId": gid(world.beto),
            "status": "PENDING",
        }
        attention = (await mutate(client, factory.token(world.ada), CREATE, {"input": given}))["attention"]
        assert attention["status"] == "PENDING"
        assert attention["pendingSince"] is not None
        assert (attention["agent"], attention["team"], attention["fullName"]) == (
            {"name": "Beto"},
            {"name": "Sur"},
            "Juan Pérez",
        )
        row = await _only(factory)
        assert row.pending_since is not None
        assert row.created_at == row.pending_since

    async def test_a_supervisor_and_an_admin_leave_it_unassigned_by_default(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        attention = (
            await mutate(client, factory.token(world.sofia), CREATE, {"input": {"contactId": gid(world.maria)}})
        )["attention"]
        assert (attention["agent"], attention["team"]) == (None, {"name": "Sur"})

    @pytest.mark.parametrize(
        ("who", "extra", "expected"),
        [
            ("carla", {}, ("NOT_FOUND", "input.contactId")),  # another team's client
            ("nora", {"contactId": "maria"}, ("NOT_FOUND", "input.contactId")),  # outside her subtree
            ("ada", {"status": "CLOSED"}, ("INVALID", "input.status")),
            ("ada", {"agentId": "beto"}, ("INVALID", "input.agentId")),  # Beto is not of Norte
            ("ana", {"teamId": "otros"}, ("NOT_FOUND", "input.teamId")),  # a team she does not see
            ("ada", {"interestId": "web"}, ("NOT_FOUND", "input.interestId")),  # an origin is no interest
            ("ada", {"originId": "sold"}, ("NOT_FOUND", "input.originId")),
            ("ada", {"interestId": "juan"}, ("NOT_FOUND", "input.interestId")),  # not an entry's id at all
        ],
    )
    async def test_refusals_name_their_field_and_change_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        world: SalesWorld,
        who: str,
        extra: dict[str, str],
        expected: tuple[str, str],
    ) -> None:
        given: dict[str, Any] = {"contactId": gid(world.juan)}
        for key, value in extra.items():
            given[key] = value if key == "status" else gid(getattr(world, value))
        assert await refused(client, factory, getattr(world, who), CREATE, given) == [expected]

    async def test_an_inactive_interest_is_not_offered(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        given = {"contactId": gid(world.juan), "interestId": gid(world.auto)}
        async with factory.writing() as session:
            entry = await session.get_one(type(world.auto), world.auto.id)
            entry.active = False
            await session.commit()
        assert await refused(client, factory, world.ada, CREATE, given) == [("INVALID", "input.interestId")]

    async def test_a_contact_has_one_attention_not_closed(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        first = await factory.sales_attention(world.juan, agent=world.ana)
        given = {"contactId": gid(world.juan)}
        assert await refused(client, factory, world.ada, CREATE, given) == [("ALREADY_EXISTS", "input.contactId")]
        await factory.sales_attention(world.maria, status=SalesAttentionStatus.PENDING)
        assert await refused(client, factory, world.ada, CREATE, {"contactId": gid(world.maria)}) == [
            ("ALREADY_EXISTS", "input.contactId")
        ]
        # Once closed, the contact may have a new one.
        await mutate(
            client,
            factory.token(world.ada),
            UPDATE,
            {"input": {"id": gid(first), "status": "CLOSED", "closeReasonId": gid(world.sold)}},
        )
        await mutate(client, factory.token(world.ana), CREATE, {"input": given})
        assert await factory.count(SalesAttention) == 3


class TestUpdate:
    async def test_closing_takes_a_reason_and_reopening_clears_it(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        row = await factory.sales_attention(world.juan, agent=world.ana, interest=world.auto)
        token = factory.token(world.sofia)
        assert await refused(client, factory, world.sofia, UPDATE, {"id": gid(row), "status": "CLOSED"}) == [
            ("REQUIRED", "input.closeReasonId")
        ]
        given = {"id": gid(row), "status": "CLOSED", "closeReasonId": gid(world.sold)}
        closed = (await mutate(client, token, UPDATE, {"input": given}))["attention"]
        assert (closed["status"], closed["closeReason"], closed["pendingSince"]) == ("CLOSED", {"name": "Sold"}, None)
        assert closed["closedAt"] is not None
        event = await last_audit(factory)
        assert event.action == "CLOSED"
        assert event.changes == {
            "status": {"before": "OPEN", "after": "CLOSED"},
            "closeReasonId": {"before": None, "after": world.sold.id},
        }
        # Another reason for a closed one keeps when it closed.
        moved = await mutate(
            client, token, UPDATE, {"input": {"id": gid(row), "closeReasonId": gid(world.no_interest)}}
        )
        assert moved["attention"]["closedAt"] == closed["closedAt"]
        assert (await last_audit(factory)).action == "UPDATED"
        reopened = (await mutate(client, token, UPDATE, {"input": {"id": gid(row), "status": "OPEN"}}))["attention"]
        assert (reopened["status"], reopened["closeReason"], reopened["closedAt"]) == ("OPEN", None, None)
        assert (await last_audit(factory)).action == "REOPENED"

    async def test_pending_since_is_kept_while_pending(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        row = await factory.sales_attention(world.juan)
        token = factory.token(world.ada)
        pending = (await mutate(client, token, UPDATE, {"input": {"id": gid(row), "status": "PENDING"}}))["attention"]
        assert pending["pendingSince"] is not None
        again = await mutate(
            client, token, UPDATE, {"input": {"id": gid(row), "status": "PENDING", "interestId": gid(world.moto)}}
        )
        assert again["attention"]["pendingSince"] == pending["pendingSince"]
        assert again["attention"]["interest"] == {"name": "Moto"}
        cleared = await mutate(client, token, UPDATE, {"input": {"id": gid(row), "status": "OPEN", "interestId": None}})
        assert (cleared["attention"]["pendingSince"], cleared["attention"]["interest"]) == (None, None)

    async def test_reopening_is_refused_while_the_contact_has_another(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        old = await factory.sales_attention(world.juan, status=SalesAttentionStatus.CLOSED, close_reason=world.sold)
        await factory.sales_attention(world.juan)
        assert await refused(client, factory, world.ada, UPDATE, {"id": gid(old), "status": "PENDING"}) == [
            ("ALREADY_EXISTS", "input.status")
        ]

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ({"closeReasonId": "sold"}, ("INVALID", "input.closeReasonId")),  # only a closed one has a reason
            ({"status": "CLOSED", "closeReasonId": "retired"}, ("INVALID", "input.closeReasonId")),
            ({"status": "CLOSED", "closeReasonId": "auto"}, ("NOT_FOUND", "input.closeReasonId")),
            ({"status": None}, ("REQUIRED", "input.status")),
            ({"teamId": None}, ("REQUIRED", "input.teamId")),
            ({"teamId": "otros"}, ("INVALID", "input.agentId")),  # Ana stays its agent, and is not of Otros
            ({"agentId": "carla"}, ("INVALID", "input.agentId")),
        ],
    )
    async def test_refusals_name_their_field_and_change_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        world: SalesWorld,
        given: dict[str, Any],
        expected: tuple[str, str],
    ) -> None:
        row = await factory.sales_attention(world.juan, agent=world.ana)
        values = {k: v if v is None or k == "status" else gid(getattr(world, v)) for k, v in given.items()}
        assert await refused(client, factory, world.ada, UPDATE, {"id": gid(row), **values}) == [expected]

    async def test_an_agent_changes_only_its_own(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        mine = await factory.sales_attention(world.juan, agent=world.ana)
        queue = await factory.sales_attention(world.zoe, team=world.norte)
        betos = await factory.sales_attention(world.maria, agent=world.beto)
        for other in (queue, betos):
            assert await refused(client, factory, world.ana, UPDATE, {"id": gid(other), "status": "PENDING"}) == [
                ("NOT_FOUND", "input.id")
            ]
        payload = await mutate(
            client, factory.token(world.ana), UPDATE, {"input": {"id": gid(mine), "status": "PENDING"}}
        )
        assert payload["attention"] is None
        assert (await reload(factory, mine)).status == "PENDING"

    async def test_a_supervisor_changes_those_of_its_subtree(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        south = await factory.sales_attention(world.maria)
        assert await refused(client, factory, world.nora, UPDATE, {"id": gid(south), "status": "PENDING"}) == [
            ("NOT_FOUND", "input.id")
        ]
        await mutate(client, factory.token(world.sofia), UPDATE, {"input": {"id": gid(south), "status": "PENDING"}})

    async def test_giving_it_to_another_agent_notifies_them(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        row = await factory.sales_attention(world.juan, agent=world.ana)
        given = {"id": gid(row), "teamId": gid(world.sur), "agentId": gid(world.beto)}
        moved = (await mutate(client, factory.token(world.sofia), UPDATE, {"input": given}))["attention"]
        assert (moved["agent"], moved["team"]) == ({"name": "Beto"}, {"name": "Sur"})
        event = await last_audit(factory)
        assert event.action == "TRANSFERRED"
        assert event.changes == {
            "agentId": {"before": world.ana.id, "after": world.beto.id},
            "teamId": {"before": world.norte.id, "after": world.sur.id},
        }
        async with factory.sessionmaker() as session:
            (note,) = (await session.scalars(select(Notification))).all()
        assert (note.user_id, note.kind, note.payload) == (
            world.beto.id,
            "ATTENTIONS_TRANSFERRED",
            {"attentionIds": [row.id], "count": 1},
        )
        # Taking it back yourself, or leaving it to nobody, tells no one.
        await mutate(client, factory.token(world.beto), UPDATE, {"input": {"id": gid(row), "agentId": None}})
        assert await factory.count(Notification) == 1
        assert (await reload(factory, row)).agent_id is None


class TestMarkCommercial:
    async def test_an_agent_opens_one_from_its_conversation_once(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        chat = await factory.conversation(world.juan, status=ConversationStatus.OPEN, agent=world.ana)
        token = factory.token(world.ana)
        given = {"conversationId": gid(chat), "interestId": gid(world.auto), "originId": gid(world.whatsapp)}
        payload = await mutate(client, token, MARK, {"input": given})
        assert payload["attention"] is None  # an agent does not read the panel
        assert payload["conversation"] == {"id": gid(chat)}
        row = await _only(factory)
        assert (row.contact_id, row.team_id, row.agent_id, row.interest_id, row.origin_id) == (
            world.juan.id,
            chat.team_id,
            world.ana.id,
            world.auto.id,
            world.whatsapp.id,
        )
        event = await last_audit(factory)
        assert (event.action, event.changes["conversationId"]) == ("CREATED", {"before": None, "after": chat.id})
        before = await state(factory)
        await mutate(client, token, MARK, {"input": given})
        assert await state(factory) == before

    async def test_another_conversation_joins_the_open_attention(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        row = await factory.sales_attention(world.juan, agent=world.ana)
        first = await factory.conversation(world.juan, status=ConversationStatus.OPEN, agent=world.ana)
        second = await factory.conversation(world.juan)
        token = factory.token(world.ada)
        await mutate(client, token, MARK, {"input": {"conversationId": gid(first)}})
        payload = await mutate(client, token, MARK, {"input": {"conversationId": gid(second)}})
        assert payload["attention"]["id"] == gid(row)
        assert payload["attention"]["conversations"]["totalCount"] == 2
        assert [n["id"] for n in payload["attention"]["conversations"]["nodes"]] == [gid(second), gid(first)]
        event = await last_audit(factory)
        assert (event.action, event.changes) == ("UPDATED", {"conversationId": {"before": None, "after": second.id}})
        assert await factory.count(SalesAttention) == 1
        assert await factory.count(SalesAttentionConversation) == 2

    async def test_an_agent_marks_only_the_conversations_it_works(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        queued = await factory.conversation(world.juan)  # in Norte's queue: Ana sees it, but does not work it
        others = await factory.conversation(world.maria, status=ConversationStatus.OPEN, agent=world.beto)
        assert await refused(client, factory, world.ana, MARK, {"conversationId": gid(queued)}) == [("FORBIDDEN", None)]
        assert await refused(client, factory, world.ana, MARK, {"conversationId": gid(others)}) == [
            ("NOT_FOUND", "input.conversationId")
        ]
        mine = await factory.conversation(world.juan, status=ConversationStatus.OPEN, agent=world.ana)
        given = {"conversationId": gid(mine), "originId": gid(world.auto)}
        assert await refused(client, factory, world.ana, MARK, given) == [("NOT_FOUND", "input.originId")]
