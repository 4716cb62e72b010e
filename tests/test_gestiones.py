"""Campaigns and gestiones (G1-G6) through the GraphQL endpoint: every rule, and what stays unchanged."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import (
    AuditEvent,
    Campaign,
    CampaignOperator,
    CampaignStatus,
    Contact,
    Gestion,
    GestionComment,
    Role,
    Team,
    Typology,
    TypologyResult,
    User,
)
from schema.node import to_global_id
from services.gestiones import Strategy, deal
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import PLAN, Factory, audit_count, gid, problems

TYPOLOGIES = """
query { typologies { code name planFields { key type required } results { code finishes requiresComment } } }
"""
CREATE_TYPOLOGY = """
mutation($input: CreateTypologyInput!) {
  createTypology(input: $input) { typology { code planFields { key } results { code } } userErrors { code field } }
}
"""
CREATE_RESULT = """
mutation($input: CreateTypologyResultInput!) {
  createTypologyResult(input: $input) { result { code position finishes } userErrors { code field } }
}
"""
CREATE_CAMPAIGN = """
mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    campaign { id name status typology { code } team { name } }
    userErrors { code field }
  }
}
"""
SET_STATUS = """
mutation($id: ID!, $s: CampaignStatus!) { setCampaignStatus(id: $id, status: $s) {
  campaign { status } userErrors { code field } } }
"""
ADD_OPERATORS = """
mutation($c: ID!, $ops: [ID!]!) { addCampaignOperators(campaignId: $c, operatorIds: $ops) {
  campaign { operators { totalCount nodes { name } } } userErrors { code field } } }
"""
CAMPAIGNS = "query { campaigns { totalCount nodes { name } } }"
ADD = """
mutation($input: AddGestionesInput!) {
  addGestiones(input: $input) {
    createdCount duplicateCount rejectedCount
    results(first: 100) { nodes { contactId outcome rejection gestion { id status } } }
    auditEvent { action resourceType entries { totalCount } }
    userErrors { code field message }
  }
}
"""
DISTRIBUTE = """
mutation($c: ID!, $ops: [ID!]!, $s: DistributionStrategy!) {
  distributeGestiones(campaignId: $c, operatorIds: $ops, strategy: $s) {
    distributedCount shares { operator { name } count } userErrors { code field }
  }
}
"""
TRANSFER = """
mutation($ids: [ID!]!, $op: ID) {
  transferGestiones(gestionIds: $ids, operatorId: $op) {
    transferredCount results { gestionId outcome rejection } userErrors { code field }
  }
}
"""
TRANSFER_READ_BACK = """
mutation($ids: [ID!]!, $op: ID) {
  transferGestiones(gestionIds: $ids, operatorId: $op) {
    transferredCount results { gestionId outcome rejection gestion { operator { name } } }
  }
}
"""
PANEL = """
query($f: GestionFilter, $o: GestionOrder, $after: String) {
  gestiones(filter: $f, orderBy: $o, first: 10, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id status priority attempts plan planSummary phones
      contact { firstNames lastNames }
      badge { portfolioName }
      operator { name }
      result { code }
      campaign { name }
    }
  }
}
"""
ATTEND = """
mutation($id: ID!) {
  attendGestion(id: $id) { gestion { id status operator { name } } userErrors { code field message } }
}
"""
SAVE = """
mutation($id: ID!, $comment: String, $finish: FinishInput, $next: Boolean) {
  saveGestion(id: $id, comment: $comment, finish: $finish, next: $next) {
    gestion { id status attempts result { code } comments { totalCount nodes { body authorName } } }
    next { id status }
    userErrors { code field message }
  }
}
"""
TAKE_NEXT = "mutation { takeNextGestion { gestion { id status } userErrors { code } } }"
REOPEN = (
    "mutation($id: ID!) { reopenGestion(id: $id) { gestion { status result { code } } userErrors { code field } } }"
)
WORK_VIEW = """
query($id: ID!) {
  node(id: $id) {
    ... on Gestion {
      status phones plan
      availableResults { code }
      history(first: 20) { totalCount nodes { action resourceType actorName changes { field before after } } }
      comments { nodes { body } }
    }
  }
}
"""
ADD_PHONE = """
mutation($id: ID!, $phone: String!) {
  addContactChannel(contactId: $id, input: {kind: PHONE, value: $phone}) { userErrors { code } }
}
"""


@dataclass
class World:
    admin: User
    sofia: User  # supervises Cobranzas
    ana: User  # operator
    beto: User  # operator
    carla: User  # agent of Ventas, operates nothing
    cobranzas: Team
    ventas: Team
    campaign: Campaign
    clients: list[Contact]


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    ventas = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN, name="Admin")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[cobranzas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[ventas])
    clients = await factory.contacts(cobranzas, "Juan Pérez", "María Gómez", "José Núñez", "Lucía Pérez")
    campaign = await factory.campaign("Mora noviembre", cobranzas, operators=[ana, beto])
    return World(admin, sofia, ana, beto, carla, cobranzas, ventas, campaign, clients)


async def _count(factory: Factory, model: Any, *where: Any) -> int:
    async with factory.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _gestion(factory: Factory, gestion_id: int) -> Gestion:
    async with factory.sessionmaker() as session:
        return await session.get_one(Gestion, gestion_id)


class TestTypologies:
    async def test_the_three_shipped_typologies_have_their_catalogues(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        data = await client.data(TYPOLOGIES, token=factory.token(world.ana))
        by_code = {t["code"]: t for t in data["typologies"]}
        assert set(by_code) == {"COLLECTIONS", "SCORING", "BID_INVITATION"}
        collections = by_code["COLLECTIONS"]
        assert [f["key"] for f in collections["planFields"]] == [
            "planNumber",
            "product",
            "instalmentsOverdue",
            "amountDue",
            "dueDate",
        ]
        results = {r["code"]: r for r in collections["results"]}
        assert results["PAID"] == {"code": "PAID", "finishes": True, "requiresComment": False}
        assert results["PROMISE_TO_PAY"]["requiresComment"] is True
        assert results["NO_ANSWER"]["finishes"] is False

    async def test_admin_creates_a_typology_and_its_results(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.admin)
        fields = [{"key": "policy", "label": "Policy", "type": "TEXT", "required": True}]
        created = await client.data(
            CREATE_TYPOLOGY, {"input": {"code": "renewals", "name": "Renewals", "planFields": fields}}, token
        )
        assert created["createTypology"]["typology"] == {
            "code": "RENEWALS",
            "planFields": [{"key": "policy"}],
            "results": [],
        }
        async with factory.sessionmaker() as session:
            typology_id = await session.scalar(select(Typology.id).where(Typology.code == "RENEWALS"))
        typology = gid_of("Typology", typology_id)
        first = await client.data(
            CREATE_RESULT, {"input": {"typologyId": typology, "code": "RENEWED", "label": "Renewed"}}, token
        )
        second = await client.data(
            CREATE_RESULT,
            {"input": {"typologyId": typology, "code": "LATER", "label": "Later", "finishes": False}},
            token,
        )
        assert first["createTypologyResult"]["result"] == {"code": "RENEWED", "position": 0, "finishes": True}
        assert second["createTypologyResult"]["result"] == {"code": "LATER", "position": 1, "finishes": False}
        again = await client.data(
            CREATE_RESULT, {"input": {"typologyId": typology, "code": "RENEWED", "label": "Twice"}}, token
        )
        assert problems(again["createTypologyResult"]) == [("ALREADY_EXISTS", "input.code")]

    async def test_only_admins_manage_typologies_and_a_refusal_changes_nothing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        before = (await _count(factory, Typology), await audit_count(factory))
        refused = await client.data(
            CREATE_TYPOLOGY, {"input": {"code": "X", "name": "X", "planFields": []}}, factory.token(world.sofia)
        )
        assert problems(refused["createTypology"]) == [("FORBIDDEN", None)]
        duplicate = await client.data(
            CREATE_TYPOLOGY,
            {"input": {"code": "COLLECTIONS", "name": "Again", "planFields": []}},
            factory.token(world.admin),
        )
        assert problems(duplicate["createTypology"]) == [("ALREADY_EXISTS", "input.code")]
        bad_field = await client.data(
            CREATE_TYPOLOGY,
            {"input": {"code": "Y", "name": "Y", "planFields": [{"key": "c", "label": "C", "type": "CHOICE"}]}},
            factory.token(world.admin),
        )
        assert problems(bad_field["createTypology"]) == [("REQUIRED", "input.planFields.0.options")]
        assert (await _count(factory, Typology), await audit_count(factory)) == before


def gid_of(type_name: str, pk: Any) -> str:
    return to_global_id(type_name, int(pk))


class TestCampaigns:
    async def test_a_supervisor_creates_runs_and_closes_a_campaign_of_its_team(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.sofia)
        async with factory.sessionmaker() as session:
            scoring = await session.scalar(select(Typology.id).where(Typology.code == "SCORING"))
        created = await client.data(
            CREATE_CAMPAIGN,
            {
                "input": {
                    "name": "Scoring diciembre",
                    "typologyId": gid_of("Typology", scoring),
                    "teamId": gid(world.cobranzas),
                    "startsOn": "2026-12-01",
                    "endsOn": "2026-12-31",
                }
            },
            token,
        )
        campaign = created["createCampaign"]["campaign"]
        assert campaign["status"] == "DRAFT"
        assert campaign["typology"] == {"code": "SCORING"}
        steps = ["ACTIVE", "PAUSED", "ACTIVE", "CLOSED"]
        for status in steps:
            moved = await client.data(SET_STATUS, {"id": campaign["id"], "s": status}, token)
            assert moved["setCampaignStatus"] == {"campaign": {"status": status}, "userErrors": []}
        final = await client.data(SET_STATUS, {"id": campaign["id"], "s": "ACTIVE"}, token)
        assert problems(final["setCampaignStatus"]) == [("CONFLICT", "status")]
        async with factory.sessionmaker() as session:
            actions = list(
                await session.scalars(
                    select(AuditEvent.action).where(AuditEvent.resource_type == "CAMPAIGN").order_by(AuditEvent.id)
                )
            )
        assert actions == ["CREATED", "ACTIVATED", "PAUSED", "ACTIVATED", "CLOSED"]

    async def test_refused_campaigns_change_nothing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        async with factory.sessionmaker() as session:
            collections = await session.scalar(select(Typology.id).where(Typology.code == "COLLECTIONS"))
        base = {"name": "X", "typologyId": gid_of("Typology", collections), "teamId": gid(world.cobranzas)}
        before = (await _count(factory, Campaign), await audit_count(factory))
        by_agent = await client.data(CREATE_CAMPAIGN, {"input": base}, factory.token(world.ana))
        assert problems(by_agent["createCampaign"]) == [("FORBIDDEN", None)]
        other_team = await client.data(
            CREATE_CAMPAIGN, {"input": {**base, "teamId": gid(world.ventas)}}, factory.token(world.sofia)
        )
        assert problems(other_team["createCampaign"]) == [("NOT_FOUND", "input.teamId")]
        backwards = await client.data(
            CREATE_CAMPAIGN,
            {"input": {**base, "startsOn": "2026-12-10", "endsOn": "2026-12-01"}},
            factory.token(world.sofia),
        )
        assert problems(backwards["createCampaign"]) == [("INVALID", "input.endsOn")]
        assert (await _count(factory, Campaign), await audit_count(factory)) == before

    async def test_operators_are_active_agents_and_agents_see_the_campaigns_they_work(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.admin)
        refused = await client.data(ADD_OPERATORS, {"c": gid(world.campaign), "ops": [gid(world.sofia)]}, token)
        assert problems(refused["addCampaignOperators"]) == [("INVALID", "operatorIds.0")]
        assert await _count(factory, CampaignOperator) == 2
        added = await client.data(ADD_OPERATORS, {"c": gid(world.campaign), "ops": [gid(world.carla)]}, token)
        assert added["addCampaignOperators"]["campaign"]["operators"]["totalCount"] == 3
        await factory.campaign("Otra", world.ventas)
        assert (await client.data(CAMPAIGNS, token=factory.token(world.carla)))["campaigns"]["totalCount"] == 1
        assert (await client.data(CAMPAIGNS, token=factory.token(world.sofia)))["campaigns"]["totalCount"] == 1
        assert (await client.data(CAMPAIGNS, token=token))["campaigns"]["totalCount"] == 2


class TestAddGestiones:
    async def test_a_selection_gets_one_gestion_each_and_a_second_call_reports_duplicates(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.sofia)
        ids = [gid(c) for c in world.clients[:3]]
        first = await client.data(
            ADD, {"input": {"campaignId": gid(world.campaign), "contacts": {"ids": ids}, "plan": PLAN}}, token
        )
        payload = first["addGestiones"]
        assert (payload["createdCount"], payload["duplicateCount"], payload["rejectedCount"]) == (3, 0, 0)
        assert payload["auditEvent"] == {
            "action": "BULK_CREATED",
            "resourceType": "CAMPAIGN",
            "entries": {"totalCount": 3},
        }
        assert {n["gestion"]["status"] for n in payload["results"]["nodes"]} == {"PENDING"}
        again = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "contacts": {"ids": [*ids, gid(world.clients[3])]},
                    "plan": PLAN,
                }
            },
            token,
        )
        payload = again["addGestiones"]
        assert (payload["createdCount"], payload["duplicateCount"]) == (1, 3)
        duplicates = [n for n in payload["results"]["nodes"] if n["outcome"] == "DUPLICATE"]
        assert sorted(n["contactId"] for n in duplicates) == sorted(ids)
        assert await _count(factory, Gestion) == 4

    async def test_by_filter_and_by_ids_select_the_same_clients(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.sofia)
        by_filter = await client.data(
            ADD,
            {"input": {"campaignId": gid(world.campaign), "contacts": {"filter": {"search": "perez"}}, "plan": PLAN}},
            token,
        )
        created = sorted(n["contactId"] for n in by_filter["addGestiones"]["results"]["nodes"])
        assert created == sorted(gid(c) for c in world.clients if c.last_names == "Pérez")

    async def test_lines_carry_their_own_plans_and_one_bad_plan_refuses_the_whole_call(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.sofia)
        good = {**PLAN, "planNumber": "PL-2"}
        bad = {**PLAN, "amountDue": "mucho", "dueDate": "2026-02-30", "color": "red"}
        missing = {k: v for k, v in PLAN.items() if k != "product"}
        before = (await _count(factory, Gestion), await audit_count(factory))
        refused = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "lines": [
                        {"contactId": gid(world.clients[0]), "plan": good},
                        {"contactId": gid(world.clients[1]), "plan": bad},
                        {"contactId": gid(world.clients[2]), "plan": missing, "priority": 5000},
                    ],
                }
            },
            token,
        )
        assert sorted(problems(refused["addGestiones"]), key=str) == sorted(
            [
                ("INVALID", "input.lines.1.plan.amountDue"),
                ("INVALID", "input.lines.1.plan.dueDate"),
                ("INVALID", "input.lines.1.plan.color"),
                ("REQUIRED", "input.lines.2.plan.product"),
                ("INVALID", "input.lines.2.priority"),
            ],
            key=str,
        )
        assert (await _count(factory, Gestion), await audit_count(factory)) == before
        accepted = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "lines": [
                        {"contactId": gid(world.clients[0]), "plan": good, "priority": 7},
                        {"contactId": gid(world.clients[1]), "plan": PLAN},
                    ],
                }
            },
            token,
        )
        assert accepted["addGestiones"]["createdCount"] == 2
        async with factory.sessionmaker() as session:
            rows = {g.contact_id: g for g in await session.scalars(select(Gestion))}
        assert rows[world.clients[0].id].plan["planNumber"] == "PL-2"
        assert rows[world.clients[0].id].priority == 7
        assert rows[world.clients[1].id].priority == 0

    async def test_clients_one_cannot_see_are_rejected_and_agents_and_closed_campaigns_are_refused(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (stranger,) = await factory.contacts(world.ventas, "Otro Cliente")
        token = factory.token(world.sofia)
        mixed = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "contacts": {"ids": [gid(world.clients[0]), gid(stranger), "bogus"]},
                    "plan": PLAN,
                }
            },
            token,
        )
        payload = mixed["addGestiones"]
        assert (payload["createdCount"], payload["rejectedCount"]) == (1, 2)
        rejected = {n["contactId"]: n["rejection"] for n in payload["results"]["nodes"] if n["outcome"] == "REJECTED"}
        assert rejected == {gid(stranger): "NOT_VISIBLE", "bogus": "NOT_VISIBLE"}
        before = (await _count(factory, Gestion), await audit_count(factory))
        input_ = {"campaignId": gid(world.campaign), "contacts": {"ids": [gid(world.clients[1])]}, "plan": PLAN}
        by_agent = await client.data(ADD, {"input": input_}, factory.token(world.ana))
        assert problems(by_agent["addGestiones"]) == [("FORBIDDEN", None)]
        closed = await factory.campaign("Cerrada", world.cobranzas, status=CampaignStatus.CLOSED)
        to_closed = await client.data(ADD, {"input": {**input_, "campaignId": gid(closed)}}, token)
        assert problems(to_closed["addGestiones"]) == [("CONFLICT", "input.campaignId")]
        both = await client.data(ADD, {"input": {**input_, "lines": []}}, token)
        assert problems(both["addGestiones"]) == [("INVALID", "input.contacts")]
        not_an_object = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "lines": [{"contactId": gid(world.clients[1]), "plan": [1]}],
                }
            },
            token,
        )
        assert problems(not_an_object["addGestiones"]) == [("INVALID", "input.lines.0.plan")]
        lines_and_plan = await client.data(
            ADD,
            {
                "input": {
                    "campaignId": gid(world.campaign),
                    "lines": [{"contactId": gid(world.clients[1]), "plan": PLAN}],
                    "plan": PLAN,
                }
            },
            token,
        )
        assert problems(lines_and_plan["addGestiones"]) == [("INVALID", "input.plan")]
        assert (await _count(factory, Gestion), await audit_count(factory)) == before


class TestDistribution:
    async def test_even_fills_the_least_loaded_first_and_round_robin_deals_in_turn(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        more = await factory.contacts(world.cobranzas, *(f"Cliente N{i:02d}" for i in range(6)))
        await factory.gestiones(world.campaign, world.clients[:2], operator=world.ana)
        await factory.gestiones(world.campaign, [*world.clients[2:], *more])
        token = factory.token(world.sofia)
        even = await client.data(
            DISTRIBUTE, {"c": gid(world.campaign), "ops": [gid(world.ana), gid(world.beto)], "s": "EVEN"}, token
        )
        payload = even["distributeGestiones"]
        assert payload["distributedCount"] == 8
        # Ana held two: Beto gets two more than her, and both end with five.
        assert payload["shares"] == [
            {"operator": {"name": "Ana"}, "count": 3},
            {"operator": {"name": "Beto"}, "count": 5},
        ]
        assert await _count(factory, Gestion, Gestion.operator_id.is_(None)) == 0
        entries = await _count(
            factory, AuditEvent, AuditEvent.resource_type == "GESTION", AuditEvent.action == "ASSIGNED"
        )
        assert entries == 8
        nothing_left = await client.data(
            DISTRIBUTE, {"c": gid(world.campaign), "ops": [gid(world.ana)], "s": "ROUND_ROBIN"}, token
        )
        assert nothing_left["distributeGestiones"]["distributedCount"] == 0
        fresh = await factory.contacts(world.cobranzas, *(f"Nuevo N{i}" for i in range(5)))
        await factory.gestiones(world.campaign, fresh)
        rr = await client.data(
            DISTRIBUTE, {"c": gid(world.campaign), "ops": [gid(world.beto), gid(world.ana)], "s": "ROUND_ROBIN"}, token
        )
        assert rr["distributeGestiones"]["shares"] == [
            {"operator": {"name": "Beto"}, "count": 3},
            {"operator": {"name": "Ana"}, "count": 2},
        ]

    async def test_only_the_campaign_operators_receive_work(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await factory.gestiones(world.campaign, world.clients)
        before = await audit_count(factory)
        refused = await client.data(
            DISTRIBUTE, {"c": gid(world.campaign), "ops": [gid(world.carla)], "s": "EVEN"}, factory.token(world.admin)
        )
        assert problems(refused["distributeGestiones"]) == [("INVALID", "operatorIds.0")]
        by_agent = await client.data(
            DISTRIBUTE, {"c": gid(world.campaign), "ops": [gid(world.ana)], "s": "EVEN"}, factory.token(world.ana)
        )
        assert problems(by_agent["distributeGestiones"]) == [("FORBIDDEN", None)]
        assert await _count(factory, Gestion, Gestion.operator_id.is_not(None)) == 0
        assert await audit_count(factory) == before

    async def test_transfer_moves_pending_ones_and_reports_the_rest(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        rows = await factory.gestiones(world.campaign, world.clients, operator=world.ana)
        async with factory.writing() as session:
            busy = await session.get_one(Gestion, rows[0].id)
            busy.status = "IN_PROGRESS"
            await session.commit()
        ids = [gid(g) for g in rows]
        token = factory.token(world.sofia)
        dora = await factory.user(Role.AGENT, name="Dora", teams=[world.cobranzas])
        to_dora = await client.data(TRANSFER, {"ids": ids[1:2], "op": gid(dora)}, token)
        assert to_dora["transferGestiones"]["results"] == [
            {"gestionId": ids[1], "outcome": "REJECTED", "rejection": "NOT_AN_OPERATOR"}
        ]
        hidden = await client.data(TRANSFER, {"ids": ids[1:2], "op": gid(world.carla)}, token)
        assert problems(hidden["transferGestiones"]) == [("NOT_FOUND", "operatorId")]
        moved = await client.data(TRANSFER_READ_BACK, {"ids": [*ids, "bogus"], "op": gid(world.beto)}, token)
        payload = moved["transferGestiones"]
        assert payload["transferredCount"] == 3
        # The payload reads the gestiones as they are now.
        holders = {r["gestionId"]: (r["gestion"] or {}).get("operator") for r in payload["results"]}
        assert holders == {
            ids[0]: {"name": "Ana"},
            ids[1]: {"name": "Beto"},
            ids[2]: {"name": "Beto"},
            ids[3]: {"name": "Beto"},
            "bogus": None,
        }
        outcomes = {r["gestionId"]: (r["outcome"], r["rejection"]) for r in payload["results"]}
        assert outcomes[ids[0]] == ("REJECTED", "IN_PROGRESS")
        assert outcomes["bogus"] == ("REJECTED", "NOT_VISIBLE")
        assert (await _gestion(factory, rows[3].id)).operator_id == world.beto.id
        assert (await _gestion(factory, rows[0].id)).operator_id == world.ana.id
        refused = await client.data(TRANSFER, {"ids": ids, "op": None}, factory.token(world.ana))
        assert problems(refused["transferGestiones"]) == [("FORBIDDEN", None)]


class TestDeal:
    """How distribution shares work out (services.gestiones.deal), loads in hand."""

    def test_round_robin_deals_in_the_given_order(self) -> None:
        assert deal(Strategy.ROUND_ROBIN, [5, 6, 7], {}, 7) == [5, 6, 7, 5, 6, 7, 5]

    def test_even_raises_the_least_loaded_first_then_deals_in_turns(self) -> None:
        # 7 (holding 3) and 8 (holding 3) wait while 9 (holding none) catches up, then all take turns.
        assert deal(Strategy.EVEN, [7, 8, 9], {7: 3, 8: 3}, 7) == [9, 7, 8, 9, 9, 9, 9]
        assert deal(Strategy.EVEN, [1, 2, 3], {3: 10}, 5) == [1, 2, 1, 2, 1]

    def test_even_shares_end_level_whatever_the_count(self) -> None:
        loads = {op: op % 7 for op in range(50)}
        sequence = deal(Strategy.EVEN, list(range(50)), loads, 200_000)
        final = Counter(sequence)
        totals = {op: loads[op] + final[op] for op in range(50)}
        assert len(sequence) == 200_000
        assert max(totals.values()) - min(totals.values()) <= 1


class TestPanel:
    async def test_an_agent_sees_only_its_own_with_the_client_read_live(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await factory.portfolio("VIP Norte", team=world.cobranzas, contacts=[world.clients[0]])
        await factory.gestiones(world.campaign, world.clients[:2], operator=world.ana, priority=5)
        await factory.gestiones(world.campaign, world.clients[2:], operator=world.beto)
        data = await client.data(PANEL, token=factory.token(world.ana))
        nodes = data["gestiones"]["nodes"]
        assert data["gestiones"]["totalCount"] == 2
        assert [n["contact"]["lastNames"] for n in nodes] == ["Pérez", "Gómez"]
        first = nodes[0]
        assert first["badge"] == {"portfolioName": "VIP Norte"}
        assert first["plan"] == PLAN
        assert first["planSummary"].startswith("Plan number: PL-0001 · Product: Auto 0km · Instalments overdue: 3")
        assert first["operator"] == {"name": "Ana"}
        # C8: a rename shows at once, the gestión holds no copy.
        async with factory.writing() as session:
            contact = await session.get_one(Contact, world.clients[0].id)
            contact.last_names = "Pereyra"
            await session.commit()
        again = await client.data(PANEL, token=factory.token(world.ana))
        assert again["gestiones"]["nodes"][0]["contact"]["lastNames"] == "Pereyra"
        assert (await client.data(PANEL, token=factory.token(world.carla)))["gestiones"]["totalCount"] == 0
        assert (await client.data(PANEL, token=factory.token(world.sofia)))["gestiones"]["totalCount"] == 4

    async def test_filters_by_name_result_status_and_order_by_name(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        rows = await factory.gestiones(world.campaign, world.clients, operator=world.ana)
        async with factory.writing() as session:
            paid = await session.scalar(select(TypologyResult.id).where(TypologyResult.code == "PAID"))
            done = await session.get_one(Gestion, rows[1].id)
            done.status, done.result_id = "FINISHED", paid
            await session.commit()
        token = factory.token(world.sofia)

        async def names(flt: dict[str, Any], order: dict[str, Any] | None = None) -> list[str]:
            data = await client.data(PANEL, {"f": flt, "o": order}, token)
            return [f"{n['contact']['firstNames']} {n['contact']['lastNames']}" for n in data["gestiones"]["nodes"]]

        assert await names({"search": "perez"}) == ["Juan Pérez", "Lucía Pérez"]
        assert await names({"search": "LUCIA per"}) == ["Lucía Pérez"]
        assert await names({"resultCodes": ["PAID"]}) == ["María Gómez"]
        assert await names({"statuses": ["PENDING"]}, {"field": "NAME"}) == ["José Núñez", "Juan Pérez", "Lucía Pérez"]
        ordered = await names({}, {"field": "NAME"})
        assert ordered == ["María Gómez", "José Núñez", "Juan Pérez", "Lucía Pérez"]
        backwards = await names({}, {"field": "NAME", "direction": "DESC"})
        assert backwards == list(reversed(ordered))

    async def test_pages_walk_every_row_once_with_a_constant_number_of_statements(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        people = await factory.contacts(world.cobranzas, *(f"Cliente N{i:02d}" for i in range(25)))
        await factory.gestiones(world.campaign, people, operator=world.ana)
        token = factory.token(world.ana)
        seen: list[str] = []
        counts = []
        after = None
        while True:
            count_sql.statements.clear()
            data = (await client.data(PANEL, {"o": {"field": "NAME"}, "after": after}, token))["gestiones"]
            counts.append(count_sql.count)
            seen += [n["id"] for n in data["nodes"]]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 25
        assert len(set(counts)) == 1, counts


CONTACT_GESTIONES = """
query($id: ID!) {
  node(id: $id) { ... on Contact { gestiones { totalCount nodes { campaign { name } operator { name } } } } }
}
"""


async def test_a_contact_lists_the_gestiones_the_viewer_sees(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    other = await factory.campaign("Scoring", world.cobranzas, typology="SCORING", operators=[world.beto])
    client_ = world.clients[0]
    await factory.gestiones(world.campaign, [client_], operator=world.ana)
    await factory.gestiones(other, [client_], operator=world.beto, plan={})
    as_supervisor = await client.data(CONTACT_GESTIONES, {"id": gid(client_)}, factory.token(world.sofia))
    assert as_supervisor["node"]["gestiones"]["totalCount"] == 2
    assert [n["campaign"]["name"] for n in as_supervisor["node"]["gestiones"]["nodes"]] == ["Scoring", "Mora noviembre"]
    as_ana = await client.data(CONTACT_GESTIONES, {"id": gid(client_)}, factory.token(world.ana))
    assert as_ana["node"]["gestiones"] == {
        "totalCount": 1,
        "nodes": [{"campaign": {"name": "Mora noviembre"}, "operator": {"name": "Ana"}}],
    }


class TestWork:
    async def test_attend_comment_finish_and_reopen(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (row,) = await factory.gestiones(world.campaign, world.clients[:1], operator=world.ana)
        gestion = gid(row)
        ana = factory.token(world.ana)
        attended = await client.data(ATTEND, {"id": gestion}, ana)
        assert attended["attendGestion"]["gestion"]["status"] == "IN_PROGRESS"
        commented = await client.data(SAVE, {"id": gestion, "comment": "  Llamar a la tarde  "}, ana)
        saved = commented["saveGestion"]["gestion"]
        assert saved["status"] == "IN_PROGRESS"
        assert saved["comments"] == {"totalCount": 1, "nodes": [{"body": "Llamar a la tarde", "authorName": "Ana"}]}
        finished = await client.data(SAVE, {"id": gestion, "finish": {"resultCode": "PAID"}}, ana)
        assert finished["saveGestion"]["gestion"]["status"] == "FINISHED"
        assert finished["saveGestion"]["gestion"]["result"] == {"code": "PAID"}
        not_agent = await client.data(REOPEN, {"id": gestion}, ana)
        assert problems(not_agent["reopenGestion"]) == [("FORBIDDEN", None)]
        reopened = await client.data(REOPEN, {"id": gestion}, factory.token(world.sofia))
        assert reopened["reopenGestion"] == {"gestion": {"status": "PENDING", "result": None}, "userErrors": []}
        view = await client.data(WORK_VIEW, {"id": gestion}, ana)
        actions = [n["action"] for n in view["node"]["history"]["nodes"]]
        assert actions == ["REOPENED", "FINISHED", "COMMENTED", "ATTENDED"]

    async def test_finishing_needs_a_result_of_the_typology_and_its_comment_else_nothing_is_saved(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (row,) = await factory.gestiones(world.campaign, world.clients[:1], operator=world.ana)
        gestion = gid(row)
        ana = factory.token(world.ana)
        await client.data(ATTEND, {"id": gestion}, ana)
        before = (await audit_count(factory), await _count(factory, GestionComment))
        cases = [
            ({"finish": {"resultCode": "APPROVED"}, "comment": "x"}, [("INVALID", "finish.resultCode")]),
            ({"finish": {"resultCode": "PROMISE_TO_PAY"}}, [("REQUIRED", "comment")]),
            ({"finish": {"resultCode": "PROMISE_TO_PAY"}, "comment": "   "}, [("REQUIRED", "comment")]),
            ({}, [("REQUIRED", "comment")]),
            ({"comment": "x" * 4001}, [("TOO_LONG", "comment")]),
        ]
        for variables, expected in cases:
            refused = await client.data(SAVE, {"id": gestion, **variables}, ana)
            assert problems(refused["saveGestion"]) == expected, variables
        assert (await audit_count(factory), await _count(factory, GestionComment)) == before
        stored = await _gestion(factory, row.id)
        assert (stored.status, stored.result_id) == ("IN_PROGRESS", None)
        promised = await client.data(
            SAVE, {"id": gestion, "finish": {"resultCode": "promise_to_pay"}, "comment": "Paga el 30"}, ana
        )
        assert promised["saveGestion"]["gestion"]["status"] == "FINISHED"

    async def test_a_result_that_does_not_finish_puts_it_back_after_the_others(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        rows = await factory.gestiones(world.campaign, world.clients[:2], operator=world.ana)
        ana = factory.token(world.ana)
        first = (await client.data(TAKE_NEXT, token=ana))["takeNextGestion"]["gestion"]
        assert first["id"] == gid(rows[0])
        saved = await client.data(SAVE, {"id": first["id"], "finish": {"resultCode": "NO_ANSWER"}, "next": True}, ana)
        payload = saved["saveGestion"]
        assert payload["gestion"]["status"] == "PENDING"
        assert payload["gestion"]["attempts"] == 1
        assert payload["next"] == {"id": gid(rows[1]), "status": "IN_PROGRESS"}
        # The one tried once comes after those never tried, and then it is handed out again.
        again = await client.data(SAVE, {"id": gid(rows[1]), "finish": {"resultCode": "PAID"}, "next": True}, ana)
        assert again["saveGestion"]["next"] == {"id": gid(rows[0]), "status": "IN_PROGRESS"}
        last = await client.data(SAVE, {"id": gid(rows[0]), "finish": {"resultCode": "PAID"}, "next": True}, ana)
        assert last["saveGestion"]["next"] is None

    async def test_someone_elses_gestion_is_refused_as_missing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (pool,) = await factory.gestiones(world.campaign, world.clients[:1])
        (betos,) = await factory.gestiones(world.campaign, world.clients[1:2], operator=world.beto)
        ana, beto = factory.token(world.ana), factory.token(world.beto)
        taken = await client.data(ATTEND, {"id": gid(pool)}, beto)
        assert taken["attendGestion"]["gestion"]["operator"] == {"name": "Beto"}
        # Ana does not see what Beto holds (R3): it reads as missing, not as his.
        busy = await client.data(ATTEND, {"id": gid(pool)}, ana)
        assert problems(busy["attendGestion"]) == [("NOT_FOUND", "id")]
        assert "Beto" not in busy["attendGestion"]["userErrors"][0]["message"]
        given = await client.data(ATTEND, {"id": gid(betos)}, ana)
        assert problems(given["attendGestion"]) == [("NOT_FOUND", "id")]
        save_other = await client.data(SAVE, {"id": gid(pool), "comment": "mío"}, ana)
        assert problems(save_other["saveGestion"]) == [("NOT_FOUND", "id")]
        stranger = await client.data(ATTEND, {"id": gid(pool)}, factory.token(world.carla))
        assert problems(stranger["attendGestion"]) == [("NOT_FOUND", "id")]
        supervisor = await client.data(ATTEND, {"id": gid(pool)}, factory.token(world.sofia))
        assert problems(supervisor["attendGestion"]) == [("FORBIDDEN", None)]
        assert (await _gestion(factory, pool.id)).operator_id == world.beto.id

    async def test_a_paused_campaign_hands_out_nothing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (row,) = await factory.gestiones(world.campaign, world.clients[:1], operator=world.ana)
        await client.data(SET_STATUS, {"id": gid(world.campaign), "s": "PAUSED"}, factory.token(world.sofia))
        ana = factory.token(world.ana)
        refused = await client.data(ATTEND, {"id": gid(row)}, ana)
        assert problems(refused["attendGestion"]) == [("INACTIVE", "id")]
        assert (await client.data(TAKE_NEXT, token=ana))["takeNextGestion"] == {"gestion": None, "userErrors": []}
        assert (await _gestion(factory, row.id)).status == "PENDING"

    async def test_the_work_view_shows_the_phones_and_the_client_edits_made_from_it(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (outsider,) = await factory.contacts(world.ventas, "Pedro Lejano")
        (row,) = await factory.gestiones(world.campaign, [outsider], operator=world.ana)
        ana = factory.token(world.ana)
        await client.data(ATTEND, {"id": gid(row)}, ana)
        # G6: the operator edits its client (of another team) through the contact mutations.
        edited = await client.data(ADD_PHONE, {"id": gid(outsider), "phone": "+54 9 11 4321-0000"}, ana)
        assert edited["addContactChannel"]["userErrors"] == []
        view = (await client.data(WORK_VIEW, {"id": gid(row)}, ana))["node"]
        assert view["phones"] == ["+5491143210000"]
        assert [r["code"] for r in view["availableResults"]][:2] == ["PAID", "PROMISE_TO_PAY"]
        history = view["history"]["nodes"]
        assert [(n["action"], n["resourceType"]) for n in history] == [("UPDATED", "CONTACT"), ("ATTENDED", "GESTION")]
        assert history[0]["actorName"] == "Ana"
