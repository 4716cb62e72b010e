"""Save-and-next under concurrency (G5): operators claiming from one pool at once never share a gestión.

On PostgreSQL the calls really overlap and the hand-out skips rows another operator holds
(FOR UPDATE SKIP LOCKED); on SQLite the write lock serialises them, and the same assertions hold.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from db.models import AuditEvent, Gestion, Role, User
from schema.node import from_global_id
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

TAKE_NEXT = "mutation { takeNextGestion { gestion { id } userErrors { code message } } }"
SAVE_NEXT = """
mutation($id: ID!) {
  saveGestion(id: $id, finish: {resultCode: "PAID"}, next: true) { next { id } userErrors { code message } }
}
"""
OPERATORS = 8
GESTIONES = 60


async def _operator(client: GraphQLClient, token: str) -> list[str]:
    """Work until nothing is left; return every gestión handed to this operator, in order."""
    received: list[str] = []
    taken = await client.data(TAKE_NEXT, token=token)
    assert taken["takeNextGestion"]["userErrors"] == []
    current = taken["takeNextGestion"]["gestion"]
    while current is not None:
        received.append(current["id"])
        saved = (await client.data(SAVE_NEXT, {"id": current["id"]}, token))["saveGestion"]
        assert saved["userErrors"] == [], saved
        current = saved["next"]
    return received


async def test_concurrent_save_and_next_hands_each_gestion_to_exactly_one_operator(
    client: GraphQLClient, factory: Factory
) -> None:
    team = await factory.team("Cobranzas")
    operators: list[User] = [await factory.user(Role.AGENT, teams=[team]) for _ in range(OPERATORS)]
    campaign = await factory.campaign("Mora", team, operators=operators)
    people = await factory.contacts(team, *(f"Cliente N{i:03d}" for i in range(GESTIONES)))
    pool = await factory.gestiones(campaign, people)

    handed = await asyncio.gather(*(_operator(client, factory.token(op)) for op in operators))

    everything = Counter(g for received in handed for g in received)
    # Every gestión was handed out once, to one operator, and all of them were.
    assert everything == Counter({gid(g): 1 for g in pool})
    async with factory.sessionmaker() as session:
        statuses = dict((await session.execute(select(Gestion.status, func.count()).group_by(Gestion.status))).all())
        attended = Counter(
            (
                await session.execute(
                    select(AuditEvent.resource_id).where(
                        AuditEvent.resource_type == "GESTION", AuditEvent.action == "ATTENDED"
                    )
                )
            ).scalars()
        )
        owners = dict((await session.execute(select(Gestion.id, Gestion.operator_id))).all())
    assert statuses == {"FINISHED": GESTIONES}
    # The database agrees: one claim each, by the operator that received it.
    assert attended == Counter({g.id: 1 for g in pool})
    for operator, received in zip(operators, handed, strict=True):
        assert {owners[_pk(g)] for g in received} <= {operator.id}


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def test_two_operators_attending_the_same_pool_gestion_one_wins(client: GraphQLClient, factory: Factory) -> None:
    team = await factory.team("Cobranzas")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[team])
    campaign = await factory.campaign("Mora", team, operators=[ana, beto])
    (person,) = await factory.contacts(team, "Juan Pérez")
    (gestion,) = await factory.gestiones(campaign, [person])
    attend = "mutation($id: ID!) { attendGestion(id: $id) { gestion { operator { name } } userErrors { code } } }"
    answers = await asyncio.gather(
        client.data(attend, {"id": gid(gestion)}, factory.token(ana)),
        client.data(attend, {"id": gid(gestion)}, factory.token(beto)),
    )
    outcomes = sorted(
        "won" if a["attendGestion"]["gestion"] else a["attendGestion"]["userErrors"][0]["code"] for a in answers
    )
    # The loser no longer sees it: it is the winner's now (R3), so it reads as missing.
    assert outcomes == ["NOT_FOUND", "won"]
