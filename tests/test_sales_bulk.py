"""Bulk close and transfer of sales attentions (S5) through the endpoint: on ids and on a filter
(the same rows either way), per role, with per-item outcomes (X2), audit, live events and the
receiving agent's notification; and what a refused call leaves unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import (
    AuditEvent,
    Event,
    Notification,
    Role,
    SalesAttention,
    SalesAttentionStatus,
    SalesCatalogEntry,
    SalesCatalogKind,
    Team,
    User,
)
from schema.node import to_global_id
from tests.conftest import GraphQLClient, Server, StatementCounter
from tests.factories import Factory, gid, mutate, problems
from tests.ws import listening

PAYLOAD = """
closedCount transferredCount unchangedCount rejectedCount
results(first: $first) {
  totalCount nodes { attentionId outcome rejection attention { status } } pageInfo { hasNextPage }
}
auditEvent { action resourceType changes { field before after } entries { totalCount } }
userErrors { field code message }
"""
CLOSE = f"""
mutation($input: CloseSalesAttentionsInput!, $first: Int) {{ closeSalesAttentions(input: $input) {{ {PAYLOAD} }} }}
"""
TRANSFER = f"""
mutation($input: TransferSalesAttentionsInput!, $first: Int) {{
  transferSalesAttentions(input: $input) {{ {PAYLOAD} }}
}}
"""
NOTIFICATIONS = "{ notifications { nodes { kind message attentionIds count } } unreadNotificationCount }"


@dataclass
class World:
    ventas: Team
    norte: Team  # a subgroup of Ventas
    otros: Team
    admin: User
    sofia: User  # supervises Ventas (and so Norte)
    olga: User  # supervises Otros
    ana: User  # agent of Norte
    beto: User  # agent of Ventas
    carla: User  # agent of Otros
    vendido: SalesCatalogEntry
    retirado: SalesCatalogEntry  # an inactive close reason
    web: SalesCatalogEntry  # an interest, not a close reason
    norte_rows: list[SalesAttention]  # Norte's: OPEN (Ana's), PENDING (unassigned), CLOSED
    ventas_row: SalesAttention  # OPEN, Beto's
    otros_row: SalesAttention


@pytest.fixture
async def world(factory: Factory) -> World:
    ventas = await factory.team("Ventas")
    norte = await factory.team("Norte", parent=ventas)
    otros = await factory.team("Otros")
    admin = await factory.user(Role.ADMIN, name="Ada")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[ventas])
    olga = await factory.user(Role.SUPERVISOR, name="Olga", supervises=[otros])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[norte])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[ventas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[otros])
    vendido = await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Vendido")
    retirado = await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Retirado", active=False)
    web = await factory.sales_entry(SalesCatalogKind.INTEREST, "Web")
    juan, maria, jose = await factory.contacts(norte, "Juan Pérez", "María Gómez", "José Núñez")
    (lucia,) = await factory.contacts(ventas, "Lucía Díaz")
    (pablo,) = await factory.contacts(otros, "Pablo Ruiz")
    earlier = utcnow() - timedelta(hours=3)
    norte_rows = [
        await factory.sales_attention(juan, agent=ana, created_at=earlier),
        await factory.sales_attention(maria, status=SalesAttentionStatus.PENDING, created_at=earlier),
        await factory.sales_attention(
            jose, status=SalesAttentionStatus.CLOSED, close_reason=vendido, created_at=earlier
        ),
    ]
    ventas_row = await factory.sales_attention(lucia, agent=beto, created_at=earlier)
    otros_row = await factory.sales_attention(pablo, agent=carla, created_at=earlier)
    return World(
        ventas,
        norte,
        otros,
        admin,
        sofia,
        olga,
        ana,
        beto,
        carla,
        vendido,
        retirado,
        web,
        norte_rows,
        ventas_row,
        otros_row,
    )


async def state(factory: Factory) -> dict[str, Any]:
    """Everything a bulk sales call may write: the attentions, audit rows, notifications, events."""
    async with factory.sessionmaker() as session:
        rows = (await session.execute(select(SalesAttention.__table__).order_by(SalesAttention.id))).all()
    return {
        "attentions": rows,
        "audit": await factory.count(AuditEvent),
        "notifications": await factory.count(Notification),
        "events": await factory.count(Event),
    }


async def attention(factory: Factory, row: SalesAttention) -> SalesAttention:
    async with factory.sessionmaker() as session:
        return await session.get_one(SalesAttention, row.id)


def by_ids(*rows: SalesAttention) -> dict[str, Any]:
    return {"ids": [gid(r) for r in rows]}


def outcomes(payload: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(n["attentionId"], n["outcome"], n["rejection"]) for n in payload["results"]["nodes"]]


@pytest.mark.parametrize("how", ["ids", "filter"])
async def test_close_on_ids_and_on_a_filter_closes_the_same_rows_and_audits_each(
    client: GraphQLClient, factory: Factory, world: World, how: str
) -> None:
    juan, maria, jose = world.norte_rows
    selection = by_ids(juan, maria, jose) if how == "ids" else {"filter": {"teamId": gid(world.norte)}}
    token = factory.token(world.sofia)
    payload = await mutate(
        client, token, CLOSE, {"input": {"selection": selection, "closeReasonId": gid(world.vendido)}}
    )
    assert (payload["closedCount"], payload["rejectedCount"]) == (2, 1)
    # The one closed before keeps its reason: a per-item outcome, not a failure of the call.
    assert outcomes(payload) == [
        (gid(juan), "CLOSED", None),
        (gid(maria), "CLOSED", None),
        (gid(jose), "REJECTED", "ALREADY_CLOSED"),
    ]
    for row in (juan, maria):
        now = await attention(factory, row)
        assert (now.status, now.close_reason_id, now.pending_since) == ("CLOSED", world.vendido.id, None)
        assert now.closed_at is not None
    untouched = await attention(factory, world.ventas_row)
    assert untouched.status == "OPEN"
    event = payload["auditEvent"]
    assert (event["action"], event["resourceType"], event["entries"]["totalCount"]) == ("CLOSED", "BATCH", 2)
    tallies = {c["field"]: c["after"] for c in event["changes"]}
    assert tallies == {"closed": 2, "alreadyClosed": 1, "closeReason": "Vendido"}
    entries = [r for r in await factory.audit_rows() if r.batch_id is not None]
    assert sorted((e.resource_id, e.resource_name, e.action, e.resource_type, e.team_id) for e in entries) == [
        (juan.id, "Juan Pérez", "CLOSED", "SALES_ATTENTION", world.norte.id),
        (maria.id, "María Gómez", "CLOSED", "SALES_ATTENTION", world.norte.id),
    ]
    statuses = {e.resource_id: e.changes["status"] for e in entries}
    assert statuses == {
        juan.id: {"before": "OPEN", "after": "CLOSED"},
        maria.id: {"before": "PENDING", "after": "CLOSED"},
    }
    # Nobody was given anything: no notification.
    assert await factory.count(Notification) == 0


@pytest.mark.parametrize("how", ["ids", "filter"])
async def test_transfer_on_ids_and_on_a_filter_moves_the_same_rows_and_tells_the_agent_once(
    client: GraphQLClient, factory: Factory, world: World, how: str
) -> None:
    juan, maria, jose = world.norte_rows
    lucia = world.ventas_row
    # Beto already has Lucía's in Ventas: UNCHANGED; José's is closed: REJECTED.
    rows = (juan, maria, jose, lucia)
    selection = by_ids(*rows) if how == "ids" else {"filter": {"teamId": gid(world.ventas)}}
    token = factory.token(world.sofia)
    variables = {"input": {"selection": selection, "teamId": gid(world.ventas), "agentId": gid(world.beto)}}
    payload = await mutate(client, token, TRANSFER, variables)
    assert (payload["transferredCount"], payload["unchangedCount"], payload["rejectedCount"]) == (2, 1, 1)
    assert sorted(outcomes(payload)) == sorted(
        [
            (gid(juan), "TRANSFERRED", None),
            (gid(maria), "TRANSFERRED", None),
            (gid(jose), "REJECTED", "ALREADY_CLOSED"),
            (gid(lucia), "UNCHANGED", None),
        ]
    )
    for row in (juan, maria):
        now = await attention(factory, row)
        assert (now.team_id, now.agent_id, now.status) == (world.ventas.id, world.beto.id, row.status)
    closed = await attention(factory, jose)
    assert (closed.team_id, closed.agent_id) == (world.norte.id, None)
    entries = {e.resource_id: e for e in await factory.audit_rows() if e.batch_id is not None}
    assert sorted(entries) == [juan.id, maria.id]
    assert entries[juan.id].changes["agent"] == {"before": "Ana", "after": "Beto"}
    assert entries[maria.id].changes["agentId"] == {"before": None, "after": world.beto.id}
    assert entries[juan.id].changes["team"] == {"before": "Norte", "after": "Ventas"}
    assert {e.team_id for e in entries.values()} == {world.ventas.id}
    # Beto is told once for the whole call, with what he was given.
    centre = await client.data(NOTIFICATIONS, token=factory.token(world.beto))
    assert centre == {
        "notifications": {
            "nodes": [
                {
                    "kind": "ATTENTIONS_TRANSFERRED",
                    "message": "Sofía transferred 2 sales attentions to you",
                    "attentionIds": [gid(juan), gid(maria)],
                    "count": 2,
                }
            ]
        },
        "unreadNotificationCount": 1,
    }


async def test_agents_are_refused_up_front_and_nothing_changes(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    before = await state(factory)
    token = factory.token(world.ana)
    closing = {"input": {"selection": by_ids(*world.norte_rows), "closeReasonId": gid(world.vendido)}}
    refused = (await client.data(CLOSE, closing, token))["closeSalesAttentions"]
    assert problems(refused) == [("FORBIDDEN", None)]
    assert (refused["results"]["nodes"], refused["auditEvent"]) == ([], None)
    moving = {"input": {"selection": {"filter": {}}, "teamId": gid(world.norte), "agentId": gid(world.ana)}}
    refused = (await client.data(TRANSFER, moving, token))["transferSalesAttentions"]
    assert problems(refused) == [("FORBIDDEN", None)]
    assert await state(factory) == before


async def test_ids_of_another_supervisors_attentions_read_as_not_found_and_are_left_alone(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    juan = world.norte_rows[0]
    token = factory.token(world.olga)
    variables = {"input": {"selection": by_ids(juan, world.otros_row), "closeReasonId": gid(world.vendido)}}
    payload = await mutate(client, token, CLOSE, variables)
    # Olga never learns Juan's attention exists: the same outcome as an id nobody has.
    assert outcomes(payload) == [(gid(juan), "REJECTED", "NOT_FOUND"), (gid(world.otros_row), "CLOSED", None)]
    # Each result reads its attention as it is now, through the panel's scope: Juan's is not hers.
    assert [n["attention"] for n in payload["results"]["nodes"]] == [None, {"status": "CLOSED"}]
    assert (await attention(factory, juan)).status == "OPEN"
    # Her filter reaches only her own group's rows.
    everything = {"input": {"selection": {"filter": {}}, "closeReasonId": gid(world.vendido)}}
    again = await mutate(client, token, CLOSE, everything)
    assert outcomes(again) == [(gid(world.otros_row), "REJECTED", "ALREADY_CLOSED")]
    assert again["auditEvent"] is None
    admin = await mutate(client, factory.token(world.admin), CLOSE, everything)
    assert (admin["closedCount"], admin["rejectedCount"]) == (3, 2)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, [("REQUIRED", "input.closeReasonId")]),
        ("retirado", [("INVALID", "input.closeReasonId")]),
        ("web", [("NOT_FOUND", "input.closeReasonId")]),
        ("missing", [("NOT_FOUND", "input.closeReasonId")]),
    ],
)
async def test_a_bad_close_reason_is_a_typed_error_and_changes_nothing(
    client: GraphQLClient, factory: Factory, world: World, reason: str | None, expected: list[tuple[str, str]]
) -> None:
    entries = {"retirado": gid(world.retirado), "web": gid(world.web), "missing": "U2FsZXNDYXRhbG9nRW50cnk6OTk5"}
    before = await state(factory)
    variables = {"input": {"selection": by_ids(*world.norte_rows), "closeReasonId": entries.get(reason or "")}}
    payload = (await client.data(CLOSE, variables, factory.token(world.sofia)))["closeSalesAttentions"]
    assert problems(payload) == expected
    assert await state(factory) == before


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # Beto belongs to Ventas, not to its subgroup Norte.
        (("norte", "beto"), [("INVALID", "input.agentId")]),
        # Olga's group is outside Sofía's sight: as if it did not exist.
        (("otros", "carla"), [("NOT_FOUND", "input.teamId")]),
    ],
)
async def test_a_bad_destination_is_a_typed_error_and_changes_nothing(
    client: GraphQLClient, factory: Factory, world: World, target: tuple[str, str], expected: list[tuple[str, str]]
) -> None:
    team, agent = getattr(world, target[0]), getattr(world, target[1])
    before = await state(factory)
    variables = {"input": {"selection": by_ids(*world.norte_rows), "teamId": gid(team), "agentId": gid(agent)}}
    payload = (await client.data(TRANSFER, variables, factory.token(world.sofia)))["transferSalesAttentions"]
    assert problems(payload) == expected
    assert await state(factory) == before


async def test_a_transfer_to_a_group_alone_leaves_them_unassigned_and_notifies_nobody(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    juan = world.norte_rows[0]
    variables = {"input": {"selection": by_ids(juan), "teamId": gid(world.ventas)}}
    payload = await mutate(client, factory.token(world.admin), TRANSFER, variables)
    assert payload["transferredCount"] == 1
    now = await attention(factory, juan)
    assert (now.team_id, now.agent_id) == (world.ventas.id, None)
    assert await factory.count(Notification) == 0


async def test_results_come_a_page_at_a_time_and_the_statements_do_not_grow_with_the_rows(
    client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
) -> None:
    token = factory.token(world.admin)
    many = await factory.contacts(world.otros, *(f"Cliente N{i:02d}" for i in range(30)))
    for person in many:
        await factory.sales_attention(person, agent=world.carla)
    counts = []
    for team, expected in ((world.norte, 2), (world.otros, 31)):
        count_sql.statements.clear()
        selection = {"filter": {"teamId": gid(team), "statuses": ["OPEN", "PENDING"]}}
        variables = {"input": {"selection": selection, "closeReasonId": gid(world.vendido)}, "first": 5}
        payload = await mutate(client, token, CLOSE, variables)
        counts.append(count_sql.count)
        assert payload["closedCount"] == expected
        assert len(payload["results"]["nodes"]) == min(5, expected)
        assert payload["results"]["totalCount"] == expected
    # Principal, reason, select-and-lock, batch event (+ its id, + team links), entries, update,
    # events; then the payload's reads: the same for 2 rows as for 31.
    assert counts[0] == counts[1], counts


async def test_an_empty_or_oversized_selection_by_ids_is_refused(
    client: GraphQLClient, factory: Factory, world: World
) -> None:
    before = await state(factory)
    token = factory.token(world.admin)
    for ids, expected in [
        ([], [("REQUIRED", "input.selection.ids")]),
        ([to_global_id("SalesAttention", i) for i in range(1, 10_002)], [("LIMIT_EXCEEDED", "input.selection.ids")]),
    ]:
        variables = {"input": {"selection": {"ids": ids}, "closeReasonId": gid(world.vendido)}}
        payload = (await client.data(CLOSE, variables, token))["closeSalesAttentions"]
        assert problems(payload) == expected
    assert await state(factory) == before


async def test_supervisors_hear_the_change_live_and_agents_only_their_notification(
    server: Server, client: GraphQLClient, factory: Factory, world: World
) -> None:
    juan, maria, _ = world.norte_rows
    async with (
        listening(server, factory.token(world.sofia)) as sofia_inbox,
        listening(server, factory.token(world.olga)) as olga_inbox,
        listening(server, factory.token(world.beto)) as beto_inbox,
        listening(server, factory.token(world.ana)) as ana_inbox,
    ):
        variables = {
            "input": {"selection": by_ids(juan, maria), "teamId": gid(world.ventas), "agentId": gid(world.beto)}
        }
        await mutate(client, factory.token(world.admin), TRANSFER, variables)
        heard = (await sofia_inbox.next())["payload"]
        assert heard == {
            "__typename": "SalesAttentionsChanged",
            "attentionChange": "TRANSFERRED",
            "attentionIds": [gid(juan), gid(maria)],
            "attentionCount": 2,
            # The group they left and the one they reached, by id.
            "groupIds": [gid(world.ventas), gid(world.norte)],
        }
        told = (await beto_inbox.next())["payload"]
        assert told == {
            "__typename": "NotificationAdded",
            "notificationKind": "ATTENTIONS_TRANSFERRED",
            "message": "Ada transferred 2 sales attentions to you",
        }
        # The panel is not for agents (S2): Ana, who had Juan's, hears nothing; nor does Olga.
        await beto_inbox.quiet(0.3)
        await ana_inbox.quiet(0.3)
        await olga_inbox.quiet()


ONLY_REJECTED = """
mutation($input: CloseSalesAttentionsInput!) {
  closeSalesAttentions(input: $input) {
    closedCount results(outcomes: [REJECTED]) { totalCount nodes { attentionId rejection } } userErrors { code }
  }
}
"""


async def test_results_can_be_narrowed_to_one_outcome(client: GraphQLClient, factory: Factory, world: World) -> None:
    juan, _, jose = world.norte_rows
    selection = by_ids(juan, jose, world.otros_row)
    payload = await mutate(
        client,
        factory.token(world.sofia),
        ONLY_REJECTED,
        {"input": {"selection": selection, "closeReasonId": gid(world.vendido)}},
    )
    assert payload["closedCount"] == 1
    assert payload["results"] == {
        "totalCount": 2,
        "nodes": [
            {"attentionId": gid(world.otros_row), "rejection": "NOT_FOUND"},
            {"attentionId": gid(jose), "rejection": "ALREADY_CLOSED"},
        ],
    }
