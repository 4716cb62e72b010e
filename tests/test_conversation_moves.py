"""Moving conversations by hand (A3): assign, transfer (to an agent or a team's queue) and resolve,
with every role's permissions; each move keeps the agents' loads, records a MANUAL routing trace
and an audit row, and a refused one changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from db.base import utcnow
from db.models import Contact, Conversation, ConversationStatus, PresenceStatus, Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, audit_team_ids, gid, last_audit, presence, problems
from tests.intake import settings

CONVERSATION = """
id status assignedAt resolvedAt agent { name } team { name }
routing { rule method chosenName candidateCount candidates { name } team { name } skipped { userName } }
"""
ASSIGN = f"""
mutation($id: ID!, $agent: ID!) {{
  assignConversation(id: $id, agentId: $agent) {{
    conversation {{ {CONVERSATION} }} userErrors {{ field code message }}
  }}
}}
"""
TRANSFER = f"""
mutation($input: TransferConversationInput!) {{
  transferConversation(input: $input) {{ conversation {{ {CONVERSATION} }} userErrors {{ field code message }} }}
}}
"""
RESOLVE = f"""
mutation($id: ID!) {{
  resolveConversation(id: $id) {{ conversation {{ {CONVERSATION} }} userErrors {{ field code message }} }}
}}
"""


@dataclass
class World:
    cobranzas: Team
    norte: Team  # a subteam of Cobranzas
    ventas: Team
    admin: User
    sofia: User  # supervises Cobranzas (and so Norte)
    ana: User  # agent of Cobranzas
    beto: User  # agent of Cobranzas
    nora: User  # agent of Norte
    carla: User  # agent of Ventas
    juan: Contact  # of Cobranzas
    ana_juan: Conversation  # OPEN, Ana's
    queued: Conversation  # UNASSIGNED in Cobranzas' queue


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    norte = await factory.team("Norte", parent=cobranzas)
    ventas = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    nora = await factory.user(Role.AGENT, name="Nora", teams=[norte])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    juan, maria = await factory.contacts(cobranzas, "Juan Pérez", "María Gómez")
    ana_juan = await factory.conversation(juan, status=ConversationStatus.OPEN, agent=ana)
    queued = await factory.conversation(maria)
    return World(cobranzas, norte, ventas, admin, sofia, ana, beto, nora, carla, juan, ana_juan, queued)


async def _call(client: GraphQLClient, factory: Factory, user: User, document: str, **variables: Any) -> dict[str, Any]:
    data = await client.data(document, variables, factory.token(user))
    (payload,) = data.values()
    result: dict[str, Any] = payload
    return result


async def _refused(
    client: GraphQLClient, factory: Factory, user: User, document: str, expected: list[tuple[str, str | None]], **v: Any
) -> None:
    """The call answers these (code, field) problems and writes nothing at all."""
    before = await factory.conversation_state()
    payload = await _call(client, factory, user, document, **v)
    assert problems(payload) == expected
    assert payload["conversation"] is None
    assert await factory.conversation_state() == before


def _manual(chosen: str | None, team: str) -> dict[str, Any]:
    return {
        "rule": "MANUAL",
        "method": "ROUND_ROBIN",
        "chosenName": chosen,
        "candidateCount": 1 if chosen else 0,
        "candidates": [{"name": chosen}] if chosen else [],
        "team": {"name": team},
        "skipped": [],
    }


# --- assign ------------------------------------------------------------------------------------


async def test_an_admin_assigns_a_queued_conversation_to_an_agent(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    payload = await _call(client, factory, w.admin, ASSIGN, id=gid(w.queued), agent=gid(w.beto))
    assert payload["userErrors"] == []
    conversation = payload["conversation"]
    assert (conversation["status"], conversation["agent"], conversation["team"]) == (
        "OPEN",
        {"name": "Beto"},
        {"name": "Cobranzas"},
    )
    assert conversation["assignedAt"] is not None
    assert conversation["routing"] == _manual("Beto", "Cobranzas")
    assert (await factory.open_load(w.beto), await factory.open_load(w.ana)) == (1, 1)
    event = await last_audit(factory)
    assert (event.action, event.resource_type, event.resource_id, event.resource_name) == (
        "ASSIGNED",
        "CONVERSATION",
        w.queued.id,
        "María Gómez",
    )
    assert event.actor_id == w.admin.id
    assert event.changes == {
        "status": {"before": "UNASSIGNED", "after": "OPEN"},
        "agentId": {"before": None, "after": w.beto.id},
        "agent": {"before": None, "after": "Beto"},
    }
    assert await audit_team_ids(factory, event) == {w.cobranzas.id}


async def test_a_supervisor_reassigns_within_its_subtree_and_the_loads_follow(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    payload = await _call(client, factory, w.sofia, ASSIGN, id=gid(w.ana_juan), agent=gid(w.beto))
    assert payload["userErrors"] == []
    assert payload["conversation"]["agent"] == {"name": "Beto"}
    assert (await factory.open_load(w.ana), await factory.open_load(w.beto)) == (0, 1)
    assert (await last_audit(factory)).changes["agentId"] == {"before": w.ana.id, "after": w.beto.id}


async def test_assign_refusals_change_nothing(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    inactive = await factory.user(Role.AGENT, name="Inés", teams=[w.cobranzas], active=False)
    other = await factory.conversation((await factory.contacts(w.ventas, "Pedro Núñez"))[0])
    cases: list[tuple[User, str, str, list[tuple[str, str | None]]]] = [
        # Sofía supervises Cobranzas: Ventas' conversation is missing to her.
        (w.sofia, gid(other), gid(w.carla), [("NOT_FOUND", "id")]),
        # Ana sees her team's queue but assigns nothing; Carla does not see Cobranzas' queue at all.
        (w.ana, gid(w.queued), gid(w.ana), [("FORBIDDEN", None)]),
        (w.carla, gid(w.queued), gid(w.carla), [("NOT_FOUND", "id")]),
        (w.admin, to_global_id("Conversation", 2**40), gid(w.beto), [("NOT_FOUND", "id")]),
        (w.admin, gid(w.juan), gid(w.beto), [("NOT_FOUND", "id")]),
        (w.admin, gid(w.queued), to_global_id("User", 2**40), [("NOT_FOUND", "agentId")]),
        # Sofía does not see Carla (Ventas): as missing as an unknown id.
        (w.sofia, gid(w.queued), gid(w.carla), [("NOT_FOUND", "agentId")]),
        (w.admin, gid(w.queued), gid(w.sofia), [("INVALID", "agentId")]),
        (w.admin, gid(w.queued), gid(inactive), [("INACTIVE", "agentId")]),
        # Carla works in Ventas: María, of Cobranzas, is not hers to see.
        (w.admin, gid(w.queued), gid(w.carla), [("INVALID", "agentId")]),
        (w.admin, gid(w.ana_juan), gid(w.ana), [("CONFLICT", "agentId")]),
    ]
    for user, conversation, agent, expected in cases:
        await _refused(client, factory, user, ASSIGN, expected, id=conversation, agent=agent)


async def test_a_resolved_conversation_is_not_assigned(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    assert (await _call(client, factory, w.ana, RESOLVE, id=gid(w.ana_juan)))["userErrors"] == []
    await _refused(client, factory, w.admin, ASSIGN, [("CONFLICT", "id")], id=gid(w.ana_juan), agent=gid(w.beto))


# --- transfer ----------------------------------------------------------------------------------


async def test_its_agent_transfers_it_back_to_its_teams_queue(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    to_queue = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.cobranzas)}}
    payload = await _call(client, factory, w.ana, TRANSFER, input=to_queue)
    assert payload["userErrors"] == []
    conversation = payload["conversation"]
    # Still hers to see: routed within Cobranzas, where nobody is ONLINE (ROUND_ROBIN), it waits
    # in her own team's queue, which she may take from.
    assert (conversation["status"], conversation["agent"], conversation["assignedAt"]) == ("UNASSIGNED", None, None)
    assert conversation["routing"] == {
        "rule": "ROUND_ROBIN",
        "method": "ROUND_ROBIN",
        "chosenName": None,
        "candidateCount": 2,
        "candidates": [{"name": "Ana"}],  # Beto is not hers to see
        "team": {"name": "Cobranzas"},
        "skipped": [{"userName": "Ana"}, {"userName": "Beto"}],
    }
    assert await factory.open_load(w.ana) == 0
    event = await last_audit(factory)
    assert (event.action, event.actor_id) == ("TRANSFERRED", w.ana.id)
    assert event.changes == {
        "status": {"before": "OPEN", "after": "UNASSIGNED"},
        "agentId": {"before": w.ana.id, "after": None},
        "agent": {"before": "Ana", "after": None},
    }


async def test_a_transfer_to_a_team_is_routed_among_its_agents(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """The team's ONLINE agent whose turn it is gets it, as intake would route it (A2)."""
    w = world
    await presence(factory, w.nora, PresenceStatus.ONLINE, since=utcnow())
    to_norte = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.norte)}}
    payload = await _call(client, factory, w.sofia, TRANSFER, input=to_norte)
    assert payload["userErrors"] == []
    conversation = payload["conversation"]
    assert (conversation["status"], conversation["agent"], conversation["team"]) == (
        "OPEN",
        {"name": "Nora"},
        {"name": "Norte"},
    )
    assert conversation["routing"]["rule"] == "ROUND_ROBIN"
    assert conversation["routing"]["chosenName"] == "Nora"
    assert (await factory.open_load(w.ana), await factory.open_load(w.nora)) == (0, 1)
    event = await last_audit(factory)
    assert (event.action, event.changes["agentId"]) == ("TRANSFERRED", {"before": w.ana.id, "after": w.nora.id})


async def test_a_transfer_to_its_own_team_never_hands_it_back_to_its_agent(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """Ana's turn comes first (lowest id, ring untouched), but she is the one passing it on."""
    w = world
    for agent in (w.ana, w.beto):
        await presence(factory, agent, PresenceStatus.ONLINE, since=utcnow())
    to_team = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.cobranzas)}}
    payload = await _call(client, factory, w.sofia, TRANSFER, input=to_team)
    assert payload["userErrors"] == []
    assert payload["conversation"]["agent"] == {"name": "Beto"}
    seen = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Conversation { routing { skipped { userName reason } } } } }",
        {"id": gid(w.ana_juan)},
        factory.token(w.sofia),
    )
    assert seen["node"]["routing"]["skipped"] == [{"userName": "Ana", "reason": "TRANSFERRED_FROM"}]
    assert (await factory.open_load(w.ana), await factory.open_load(w.beto)) == (0, 1)


async def test_last_responsible_within_the_team_passes_over_the_agent_passing_it_on(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """Under LAST_RESPONSIBLE, Ana handled Juan last; her transfer to her team goes to the team's
    turns instead, and the trace says why."""
    w = world
    await settings(client, factory.token(w.admin), method="LAST_RESPONSIBLE")
    for agent in (w.ana, w.beto):
        await presence(factory, agent, PresenceStatus.ONLINE, since=utcnow())
    to_team = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.cobranzas)}}
    payload = await _call(client, factory, w.ana, TRANSFER, input=to_team)
    assert payload["userErrors"] == []
    seen = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Conversation { agent { name } routing { rule fallback"
        " skipped { userName reason } } } } }",
        {"id": gid(w.ana_juan)},
        factory.token(w.sofia),
    )
    assert seen["node"]["agent"] == {"name": "Beto"}
    assert seen["node"]["routing"]["rule"] == "ROUND_ROBIN"
    assert seen["node"]["routing"]["fallback"] == (
        "Ana, who handled it last, is the one passing it on: ROUND_ROBIN decided."
    )
    assert {"userName": "Ana", "reason": "TRANSFERRED_FROM"} in seen["node"]["routing"]["skipped"]


async def test_a_supervisor_transfers_to_a_subteam_whose_agents_then_see_it_and_its_contact(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    to_norte = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.norte)}}
    payload = await _call(client, factory, w.sofia, TRANSFER, input=to_norte)
    assert payload["userErrors"] == []
    assert (payload["conversation"]["status"], payload["conversation"]["team"]) == ("UNASSIGNED", {"name": "Norte"})
    event = await last_audit(factory)
    assert event.changes["teamId"] == {"before": w.cobranzas.id, "after": w.norte.id}
    # Filed under both teams: the supervisors of the one it left and of the one it reached see it.
    assert await audit_team_ids(factory, event) == {w.cobranzas.id, w.norte.id}
    seen = await client.data("{ conversations { nodes { id contact { fullName } } } }", token=factory.token(w.nora))
    assert seen["conversations"]["nodes"] == [{"id": gid(w.ana_juan), "contact": {"fullName": "Juan Pérez"}}]
    # It left Ana, and her team: missing to her now.
    gone = await client.data("query($id: ID!) { node(id: $id) { id } }", {"id": gid(w.ana_juan)}, factory.token(w.ana))
    assert gone["node"] is None


async def test_an_admin_transfers_to_an_agent_as_assign_would(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    to_beto = {"conversationId": gid(w.ana_juan), "to": {"agentId": gid(w.beto)}}
    payload = await _call(client, factory, w.admin, TRANSFER, input=to_beto)
    assert payload["userErrors"] == []
    assert payload["conversation"]["agent"] == {"name": "Beto"}
    assert payload["conversation"]["routing"] == _manual("Beto", "Cobranzas")
    assert (await factory.open_load(w.ana), await factory.open_load(w.beto)) == (0, 1)
    assert (await last_audit(factory)).action == "TRANSFERRED"


async def test_transfer_refusals_change_nothing(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    inactive = await factory.user(Role.AGENT, name="Inés", teams=[w.cobranzas], active=False)

    def to(conversation: Conversation, **target: str) -> dict[str, Any]:
        return {"conversationId": gid(conversation), "to": target}

    cases: list[tuple[User, dict[str, Any], list[tuple[str, str | None]]]] = [
        # An agent sees no other user: any agent but itself is missing to it.
        (w.ana, to(w.ana_juan, agentId=gid(w.beto)), [("NOT_FOUND", "input.to.agentId")]),
        (w.ana, to(w.ana_juan, agentId=gid(w.ana)), [("CONFLICT", "input.to.agentId")]),
        # Nor the teams it is not in.
        (w.ana, to(w.ana_juan, teamId=gid(w.ventas)), [("NOT_FOUND", "input.to.teamId")]),
        # Beto may take the queued one, not move it; Carla does not see it.
        (w.beto, to(w.queued, teamId=gid(w.cobranzas)), [("FORBIDDEN", None)]),
        (w.carla, to(w.queued, teamId=gid(w.ventas)), [("NOT_FOUND", "input.conversationId")]),
        (w.sofia, to(w.queued, teamId=gid(w.cobranzas)), [("CONFLICT", "input.to.teamId")]),
        (w.sofia, to(w.queued, teamId=to_global_id("Team", 2**40)), [("NOT_FOUND", "input.to.teamId")]),
        (w.admin, to(w.queued, agentId=gid(inactive)), [("INACTIVE", "input.to.agentId")]),
        (w.admin, to(w.queued, agentId=gid(w.carla)), [("INVALID", "input.to.agentId")]),
        (w.admin, to(w.queued, agentId=gid(w.ventas)), [("NOT_FOUND", "input.to.agentId")]),
    ]
    for user, given, expected in cases:
        await _refused(client, factory, user, TRANSFER, expected, input=given)


async def test_a_transfer_names_exactly_one_target(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    before = await factory.conversation_state()
    both = {"conversationId": gid(w.ana_juan), "to": {"agentId": gid(w.beto), "teamId": gid(w.cobranzas)}}
    body = await client.gql(TRANSFER, {"input": both}, factory.token(w.admin))
    assert body.get("data") is None
    assert body["errors"]
    assert await factory.conversation_state() == before


async def test_a_resolved_conversation_is_not_transferred(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    assert (await _call(client, factory, w.ana, RESOLVE, id=gid(w.ana_juan)))["userErrors"] == []
    given = {"conversationId": gid(w.ana_juan), "to": {"teamId": gid(w.cobranzas)}}
    await _refused(client, factory, w.sofia, TRANSFER, [("CONFLICT", "input.conversationId")], input=given)


# --- resolve -----------------------------------------------------------------------------------


async def test_its_agent_resolves_it_and_stays_on_it(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    assigned = await _call(client, factory, w.sofia, ASSIGN, id=gid(w.queued), agent=gid(w.ana))
    routing = assigned["conversation"]["routing"]
    payload = await _call(client, factory, w.ana, RESOLVE, id=gid(w.queued))
    assert payload["userErrors"] == []
    conversation = payload["conversation"]
    assert (conversation["status"], conversation["agent"]) == ("RESOLVED", {"name": "Ana"})
    assert conversation["resolvedAt"] is not None
    # Resolving decides nothing about who: the routing decision stays as it was.
    assert conversation["routing"] == routing
    assert await factory.open_load(w.ana) == 1  # Juan's is still open
    event = await last_audit(factory)
    assert (event.action, event.changes) == ("RESOLVED", {"status": {"before": "OPEN", "after": "RESOLVED"}})


async def test_a_supervisor_resolves_one_waiting_in_the_queue(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    w = world
    payload = await _call(client, factory, w.sofia, RESOLVE, id=gid(w.queued))
    assert (payload["conversation"]["status"], payload["conversation"]["agent"]) == ("RESOLVED", None)
    assert (await factory.open_load(w.ana), await factory.open_load(w.beto)) == (1, 0)


async def test_resolve_refusals_change_nothing(client: GraphQLClient, factory: Factory, world: World) -> None:
    w = world
    cases: list[tuple[User, Conversation, list[tuple[str, str | None]]]] = [
        (w.beto, w.queued, [("FORBIDDEN", None)]),
        (w.beto, w.ana_juan, [("NOT_FOUND", "id")]),
        (w.carla, w.ana_juan, [("NOT_FOUND", "id")]),
    ]
    for user, conversation, expected in cases:
        await _refused(client, factory, user, RESOLVE, expected, id=gid(conversation))
    assert (await _call(client, factory, w.ana, RESOLVE, id=gid(w.ana_juan)))["userErrors"] == []
    await _refused(client, factory, w.ana, RESOLVE, [("CONFLICT", "id")], id=gid(w.ana_juan))


async def test_a_supervisor_of_the_team_it_went_to_reads_its_client(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    """Juan is Cobranzas' client; once his conversation is Ventas', Ventas' supervisor works it and
    reads who it is with (the contacts scope follows the conversations it sees)."""
    vera = await factory.user(Role.SUPERVISOR, name="Vera", supervises=[world.ventas])
    moved = await _call(
        client,
        factory,
        world.admin,
        TRANSFER,
        input={"conversationId": gid(world.ana_juan), "to": {"teamId": gid(world.ventas)}},
    )
    assert moved["userErrors"] == []
    seen = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Conversation { team { name } contact { firstNames } } } }",
        {"id": gid(world.ana_juan)},
        factory.token(vera),
    )
    assert seen["node"] == {"team": {"name": "Ventas"}, "contact": {"firstNames": "Juan"}}
    listed = await client.data("{ contacts(first: 10) { nodes { firstNames } } }", {}, factory.token(vera))
    assert listed["contacts"]["nodes"] == [{"firstNames": "Juan"}]
