"""The routing settings (A2) through the endpoint: reading, each field's update, every refusal, the audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Role, RoutingChannelAgent, RoutingSettings, Team, User
from schema.node import from_global_id, to_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, audit_count, gid, last_audit, problems
from tests.intake import SETTINGS, UPDATE_SETTINGS, names, settings

AUDIT = """
query { auditEvents(first: 10, filter: {resourceTypes: [ROUTING_SETTINGS]}) {
  nodes { action resourceType resourceId resourceName changes { field before after } }
} }
"""


@dataclass
class World:
    admin: User
    ventas: Team
    cobranzas: Team
    ana: User
    beto: User
    gone: User  # a deactivated agent
    sofia: User  # a supervisor
    token: str


@pytest.fixture
async def world(factory: Factory) -> World:
    ventas = await factory.team("Ventas")
    cobranzas = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[ventas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[ventas])
    gone = await factory.user(Role.AGENT, name="Gonzalo", teams=[ventas], active=False)
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[ventas])
    return World(admin, ventas, cobranzas, ana, beto, gone, sofia, factory.token(admin))


async def stored(factory: Factory) -> tuple[tuple[Any, ...], list[tuple[str, int]]]:
    """The settings row and BY_CHANNEL's rows as the database holds them."""
    async with factory.sessionmaker() as session:
        row = (await session.execute(select(RoutingSettings))).scalar_one()
        agents = (await session.execute(select(RoutingChannelAgent.kind, RoutingChannelAgent.user_id))).all()
    values = (row.method, row.default_team_id, row.intake_team_id, row.capacity, row.reopen_window_minutes)
    return values, sorted((k, u) for k, u in agents)


async def refused(client: GraphQLClient, w: World, factory: Factory, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """updateRoutingSettings that must be refused: its problems; nothing stored changed, no audit row."""
    before, audit_rows = await stored(factory), await audit_count(factory)
    data = await client.data(UPDATE_SETTINGS, {"input": fields}, w.token)
    payload = data["updateRoutingSettings"]
    assert payload["routingSettings"] is None
    assert await stored(factory) == before
    assert await audit_count(factory) == audit_rows
    return [(code, field) for code, field in problems(payload)]


class TestReading:
    async def test_the_migration_ships_round_robin_without_capacity_and_a_day_to_reopen(
        self, client: GraphQLClient, world: World
    ) -> None:
        data = await client.data(SETTINGS, token=world.token)
        found = data["routingSettings"]
        assert found["method"] == "ROUND_ROBIN"
        assert found["capacity"] is None
        assert found["reopenWindowMinutes"] == 1440
        assert found["defaultTeam"] is None
        assert found["intakeTeam"] is None
        assert found["channelAgents"] == []

    @pytest.mark.parametrize("who", ["sofia", "ana"])
    async def test_only_admins_read_them(self, client: GraphQLClient, world: World, factory: Factory, who: str) -> None:
        body = await client.gql(SETTINGS, token=factory.token(getattr(world, who)))
        assert body["data"] == {"routingSettings": None}
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def test_signing_in_is_required(self, client: GraphQLClient, world: World) -> None:
        body = await client.gql(SETTINGS)
        assert body["data"] == {"routingSettings": None}
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


class TestUpdating:
    async def test_default_group_with_its_team(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        found = await settings(client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.cobranzas))
        assert found["method"] == "DEFAULT_GROUP"
        assert found["defaultTeam"] == {"name": "Cobranzas"}
        values, _ = await stored(factory)
        assert values[:2] == ("DEFAULT_GROUP", world.cobranzas.id)

    async def test_by_channel_with_its_agents_listed_in_turn_order(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        agents = [
            {"kind": "WHATSAPP", "agentIds": [gid(world.beto), gid(world.ana), gid(world.beto)]},
            {"kind": "EMAIL", "agentIds": [gid(world.ana)]},
            {"kind": "PHONE", "agentIds": []},
        ]
        found = await settings(client, world.token, method="BY_CHANNEL", channelAgents=agents)
        # Kinds in their enum's order, each agent once, in id order (the turn order); none: left out.
        assert [(a["kind"], names(a["agents"])) for a in found["channelAgents"]] == [
            ("EMAIL", ["Ana"]),
            ("WHATSAPP", ["Ana", "Beto"]),
        ]
        _, rows = await stored(factory)
        assert rows == sorted([("EMAIL", world.ana.id), ("WHATSAPP", world.ana.id), ("WHATSAPP", world.beto.id)])

    async def test_a_partial_update_changes_only_what_it_names(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        await settings(
            client,
            world.token,
            method="BY_CHANNEL",
            channelAgents=[{"kind": "WHATSAPP", "agentIds": [gid(world.ana)]}],
            intakeTeamId=gid(world.ventas),
            capacity=3,
        )
        found = await settings(client, world.token, reopenWindowMinutes=30)
        assert found["method"] == "BY_CHANNEL"
        assert found["capacity"] == 3
        assert found["intakeTeam"] == {"name": "Ventas"}
        assert [names(a["agents"]) for a in found["channelAgents"]] == [["Ana"]]
        assert (await stored(factory))[0] == ("BY_CHANNEL", None, world.ventas.id, 3, 30)

    async def test_null_clears_a_team_and_the_capacity(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        await settings(client, world.token, intakeTeamId=gid(world.ventas), capacity=5)
        found = await settings(client, world.token, intakeTeamId=None, capacity=None)
        assert found["intakeTeam"] is None
        assert found["capacity"] is None

    async def test_leaving_default_group_keeps_its_team_for_later(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        await settings(client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.ventas))
        found = await settings(client, world.token, method="LOAD_BALANCED")
        assert found["method"] == "LOAD_BALANCED"
        assert found["defaultTeam"] == {"name": "Ventas"}

    async def test_the_same_values_again_change_nothing_and_write_no_audit_row(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        fields = {"method": "LOAD_BALANCED", "capacity": 4, "channelAgents": []}
        await settings(client, world.token, **fields)
        rows = await audit_count(factory)
        await settings(client, world.token, **fields)
        assert await audit_count(factory) == rows


class TestRefusals:
    async def test_default_group_without_a_team(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        assert await refused(client, world, factory, {"method": "DEFAULT_GROUP"}) == [
            ("REQUIRED", "input.defaultTeamId")
        ]

    async def test_clearing_the_team_default_group_routes_to(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        await settings(client, world.token, method="DEFAULT_GROUP", defaultTeamId=gid(world.ventas))
        assert await refused(client, world, factory, {"defaultTeamId": None}) == [("REQUIRED", "input.defaultTeamId")]

    async def test_by_channel_with_no_agents_for_any_kind(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        fields = {"method": "BY_CHANNEL", "channelAgents": [{"kind": "EMAIL", "agentIds": []}]}
        assert await refused(client, world, factory, fields) == [("REQUIRED", "input.channelAgents")]
        assert await refused(client, world, factory, {"method": "BY_CHANNEL"}) == [("REQUIRED", "input.channelAgents")]

    async def test_emptying_by_channel_while_it_is_the_method(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        agents = [{"kind": "EMAIL", "agentIds": [gid(world.ana)]}]
        await settings(client, world.token, method="BY_CHANNEL", channelAgents=agents)
        assert await refused(client, world, factory, {"channelAgents": []}) == [("REQUIRED", "input.channelAgents")]

    async def test_by_channel_agents_must_be_active_agents(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        agents = [
            {"kind": "WHATSAPP", "agentIds": [gid(world.ana), gid(world.gone)]},
            {"kind": "EMAIL", "agentIds": [gid(world.sofia), to_global_id("User", 999_999)]},
        ]
        found = await refused(client, world, factory, {"method": "BY_CHANNEL", "channelAgents": agents})
        assert found == [
            ("INACTIVE", "input.channelAgents.0.agentIds.1"),
            ("INVALID", "input.channelAgents.1.agentIds.0"),
            ("NOT_FOUND", "input.channelAgents.1.agentIds.1"),
        ]

    async def test_a_kind_listed_twice(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        agents = [{"kind": "EMAIL", "agentIds": [gid(world.ana)]}, {"kind": "EMAIL", "agentIds": [gid(world.beto)]}]
        assert await refused(client, world, factory, {"channelAgents": agents}) == [
            ("INVALID", "input.channelAgents.1.kind")
        ]

    async def test_an_id_that_is_no_user(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        agents = [{"kind": "EMAIL", "agentIds": [gid(world.ventas)]}]
        assert await refused(client, world, factory, {"channelAgents": agents}) == [
            ("NOT_FOUND", "input.channelAgents.0.agentIds.0")
        ]

    async def test_unknown_teams(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        missing = to_global_id("Team", 999_999)
        fields = {"method": "DEFAULT_GROUP", "defaultTeamId": missing, "intakeTeamId": missing}
        assert await refused(client, world, factory, fields) == [
            ("NOT_FOUND", "input.defaultTeamId"),
            ("NOT_FOUND", "input.intakeTeamId"),
        ]

    @pytest.mark.parametrize("capacity", [0, -1, 1001])
    async def test_capacity_out_of_bounds(
        self, client: GraphQLClient, world: World, factory: Factory, capacity: int
    ) -> None:
        assert await refused(client, world, factory, {"capacity": capacity}) == [("INVALID", "input.capacity")]

    @pytest.mark.parametrize("minutes", [-1, 60 * 24 * 91])
    async def test_reopen_window_out_of_bounds(
        self, client: GraphQLClient, world: World, factory: Factory, minutes: int
    ) -> None:
        assert await refused(client, world, factory, {"reopenWindowMinutes": minutes}) == [
            ("INVALID", "input.reopenWindowMinutes")
        ]

    @pytest.mark.parametrize("field", ["method", "reopenWindowMinutes", "channelAgents"])
    async def test_null_where_a_value_is_needed(
        self, client: GraphQLClient, world: World, factory: Factory, field: str
    ) -> None:
        assert await refused(client, world, factory, {field: None}) == [("REQUIRED", f"input.{field}")]

    async def test_every_problem_at_once(self, client: GraphQLClient, world: World, factory: Factory) -> None:
        fields = {"method": "DEFAULT_GROUP", "capacity": 0, "reopenWindowMinutes": -5}
        assert await refused(client, world, factory, fields) == [
            ("REQUIRED", "input.defaultTeamId"),
            ("INVALID", "input.capacity"),
            ("INVALID", "input.reopenWindowMinutes"),
        ]

    @pytest.mark.parametrize("who", ["sofia", "ana"])
    async def test_only_admins_change_them(
        self, client: GraphQLClient, world: World, factory: Factory, who: str
    ) -> None:
        world.token = factory.token(getattr(world, who))
        assert await refused(client, world, factory, {"method": "LOAD_BALANCED"}) == [("FORBIDDEN", None)]


class TestAudit:
    async def test_each_change_is_audited_with_whole_values_and_global_ids(
        self, client: GraphQLClient, world: World, factory: Factory
    ) -> None:
        agents = [{"kind": "WHATSAPP", "agentIds": [gid(world.beto), gid(world.ana)]}]
        await settings(
            client,
            world.token,
            method="BY_CHANNEL",
            channelAgents=agents,
            defaultTeamId=gid(world.ventas),
            capacity=2,
        )
        await settings(client, world.token, channelAgents=[{"kind": "WHATSAPP", "agentIds": [gid(world.ana)]}])
        data = await client.data(AUDIT, token=world.token)
        latest, first = data["auditEvents"]["nodes"]
        assert first["action"] == "UPDATED"
        assert first["resourceName"] == "Routing settings"
        assert from_global_id(first["resourceId"]) == ("RoutingSettings", 1)
        assert {c["field"]: (c["before"], c["after"]) for c in first["changes"]} == {
            "method": ("ROUND_ROBIN", "BY_CHANNEL"),
            "defaultTeamId": (None, gid(world.ventas)),
            "capacity": (None, 2),
            "whatsappAgentIds": ([], [gid(world.ana), gid(world.beto)]),
        }
        assert {c["field"]: (c["before"], c["after"]) for c in latest["changes"]} == {
            "whatsappAgentIds": ([gid(world.ana), gid(world.beto)], [gid(world.ana)]),
        }
        row = await last_audit(factory)
        assert row.actor_id == world.admin.id
        # Seen by admins only: routing settings belong to no team.
        assert row.team_id is None
