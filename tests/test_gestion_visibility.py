"""Who sees a gestión is who may work it (R3, G3-G5): one rule for the panel, node, nested fields
and every mutation, and a gestión one may not see answers exactly as a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from db.models import AuditEvent, Campaign, Contact, Gestion, GestionAttachment, GestionComment, Role, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient, Server, running
from tests.factories import Factory, gid, problems
from tests.uploads import PNG, payload, upload

ATTEND = "mutation($id: ID!) { attendGestion(id: $id) { gestion { id status } userErrors { code field message } } }"
SAVE = """
mutation($id: ID!, $comment: String, $finish: FinishInput, $next: Boolean) {
  saveGestion(id: $id, comment: $comment, finish: $finish, next: $next) {
    gestion { id } next { id } userErrors { code field message }
  }
}
"""
REOPEN = "mutation($id: ID!) { reopenGestion(id: $id) { gestion { id } userErrors { code field message } } }"
TRANSFER = """
mutation($ids: [ID!]!, $op: ID) {
  transferGestiones(gestionIds: $ids, operatorId: $op) { transferredCount results { outcome rejection } }
}
"""
NODE = """
query($id: ID!) {
  node(id: $id) {
    ... on Gestion {
      id
      contact { firstNames }
      phones
      campaign { name }
      comments { totalCount }
      attachments { totalCount }
      history { totalCount }
    }
  }
}
"""
PANEL = "query($f: GestionFilter) { gestiones(filter: $f, first: 50) { totalCount nodes { id } } }"
CLIENT_GESTIONES = "query($id: ID!) { node(id: $id) { ... on Contact { gestiones { totalCount nodes { id } } } } }"
# An id of the right type that no row has: what "missing" answers.
MISSING = to_global_id("Gestion", 2**40)


@dataclass
class World:
    ana: User  # operator of the campaign
    beto: User  # operator of the campaign
    carla: User  # agent of the same team, operates nothing
    sofia: User  # supervises the campaign's team
    victor: User  # supervises another team
    campaign: Campaign
    betos: Gestion  # given to Beto, pending
    busy: Gestion  # given to Beto, who is attending it
    pool: Gestion  # given to nobody yet
    outsider: Contact  # the pool gestión's client, of another team


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    ventas = await factory.team("Ventas")
    ana = await factory.user(Role.AGENT, name="Ana", teams=[cobranzas])
    beto = await factory.user(Role.AGENT, name="Gastón Escobar", teams=[cobranzas])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[cobranzas])
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[cobranzas])
    victor = await factory.user(Role.SUPERVISOR, name="Víctor", supervises=[ventas])
    campaign = await factory.campaign("Mora", cobranzas, operators=[ana, beto])
    clients = await factory.contacts(cobranzas, "Juan Pérez", "María Gómez")
    (outsider,) = await factory.contacts(ventas, "Pedro Lejano")
    betos, busy = await factory.gestiones(campaign, clients, operator=beto)
    (pool,) = await factory.gestiones(campaign, [outsider])
    await _set_status(factory, busy, "IN_PROGRESS")
    return World(ana, beto, carla, sofia, victor, campaign, betos, busy, pool, outsider)


async def _set_status(factory: Factory, gestion: Gestion, status: str) -> None:
    # A write without a read first: on SQLite a transaction that read cannot wait for the write lock.
    async with factory.sessionmaker() as session:
        await session.execute(update(Gestion).where(Gestion.id == gestion.id).values(status=status))
        await session.commit()


async def _state(factory: Factory) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was."""
    async with factory.sessionmaker() as session:
        gestiones = (
            await session.execute(
                select(Gestion.id, Gestion.status, Gestion.operator_id, Gestion.result_id, Gestion.attempts).order_by(
                    Gestion.id
                )
            )
        ).all()
        comments = (await session.execute(select(GestionComment.id))).all()
        attachments = (await session.execute(select(GestionAttachment.id))).all()
        audit = (await session.execute(select(AuditEvent.id))).all()
    return tuple(gestiones), tuple(comments), tuple(attachments), tuple(audit)


def _refusal(answer: dict[str, Any]) -> tuple[str, str | None, str]:
    (error,) = answer["userErrors"]
    return error["code"], error["field"], error["message"]


class TestAnotherOperatorsGestion:
    async def test_every_work_mutation_answers_as_for_a_missing_id_and_changes_nothing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        ana = factory.token(world.ana)
        missing = _refusal((await client.data(ATTEND, {"id": MISSING}, ana))["attendGestion"])
        assert missing == ("NOT_FOUND", "id", "Gestión not found")
        before = await _state(factory)
        for hidden in (world.betos, world.busy):
            assert (await client.data(NODE, {"id": gid(hidden)}, ana))["node"] is None
            calls = [
                (ATTEND, {}, "attendGestion"),
                (SAVE, {"comment": "mío"}, "saveGestion"),
                (SAVE, {"finish": {"resultCode": "PAID"}}, "saveGestion"),
                (SAVE, {"comment": "mío", "next": True}, "saveGestion"),
            ]
            for query, variables, field in calls:
                answer = await client.data(query, {"id": gid(hidden), **variables}, ana)
                assert _refusal(answer[field]) == missing, (hidden.status, variables)
        assert await _state(factory) == before

    async def test_reopen_and_transfer_by_a_supervisor_of_another_team_read_as_missing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await _set_status(factory, world.betos, "FINISHED")
        victor = factory.token(world.victor)
        before = await _state(factory)
        missing = (await client.data(REOPEN, {"id": MISSING}, victor))["reopenGestion"]
        hidden = (await client.data(REOPEN, {"id": gid(world.betos)}, victor))["reopenGestion"]
        assert _refusal(hidden) == _refusal(missing) == ("NOT_FOUND", "id", "Gestión not found")
        moved = await client.data(TRANSFER, {"ids": [gid(world.pool), MISSING], "op": None}, victor)
        assert moved["transferGestiones"] == {
            "transferredCount": 0,
            "results": [{"outcome": "REJECTED", "rejection": "NOT_VISIBLE"}] * 2,
        }
        assert await _state(factory) == before
        # The campaign's own supervisor does reopen it: the refusal above was visibility only.
        reopened = await client.data(REOPEN, {"id": gid(world.betos)}, factory.token(world.sofia))
        assert reopened["reopenGestion"]["userErrors"] == []

    async def test_a_role_refusal_goes_only_to_whoever_sees_the_gestion(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await _set_status(factory, world.betos, "FINISHED")
        before = await _state(factory)
        sofia, victor = factory.token(world.sofia), factory.token(world.victor)
        ana, beto = factory.token(world.ana), factory.token(world.beto)
        # Supervisors do not work gestiones: the one who sees it is told so, the other is not told it exists.
        for query, variables, field in [(ATTEND, {}, "attendGestion"), (SAVE, {"comment": "x"}, "saveGestion")]:
            seen = await client.data(query, {"id": gid(world.busy), **variables}, sofia)
            assert problems(seen[field]) == [("FORBIDDEN", None)]
            unseen = await client.data(query, {"id": gid(world.busy), **variables}, victor)
            assert problems(unseen[field]) == [("NOT_FOUND", "id")]
        # Agents do not reopen: Beto is told so about his own, Ana is not told Beto's exists.
        assert problems((await client.data(REOPEN, {"id": gid(world.betos)}, beto))["reopenGestion"]) == [
            ("FORBIDDEN", None)
        ]
        assert problems((await client.data(REOPEN, {"id": gid(world.betos)}, ana))["reopenGestion"]) == [
            ("NOT_FOUND", "id")
        ]
        assert await _state(factory) == before


@pytest.fixture
async def files(database_url: str, server: Server, tmp_path: Path) -> AsyncIterator[GraphQLClient]:
    """A server storing attachments in the test's own directory."""
    async with running(database_url, attachments_dir=str(tmp_path / "files"), relay_seconds=3600) as (_, client):
        yield client


async def test_attachments_of_another_operators_gestion_read_as_missing(
    files: GraphQLClient, factory: Factory, world: World, tmp_path: Path
) -> None:
    beto, ana = factory.token(world.beto), factory.token(world.ana)
    url = payload(await upload(files, beto, gid(world.busy)))["attachment"]["url"]
    before = await _state(factory)
    stored = sorted((tmp_path / "files").rglob("*"))
    missing = _refusal(payload(await upload(files, ana, MISSING)))
    assert _refusal(payload(await upload(files, ana, gid(world.busy)))) == missing
    assert missing[0] == "NOT_FOUND"
    assert await _state(factory) == before
    assert sorted((tmp_path / "files").rglob("*")) == stored
    auth = {"authorization": f"Bearer {ana}"}
    hidden = await files.http.get(url, headers=auth)
    absent = await files.http.get("/attachments/999999", headers=auth)
    assert (hidden.status_code, hidden.text) == (absent.status_code, absent.text) == (404, "Attachment not found")
    assert (await files.http.get(url, headers={"authorization": f"Bearer {beto}"})).content == PNG


class TestThePool:
    """An operator may take the unassigned gestiones of the campaigns it operates (save-and-next
    hands them out, G5), so it sees them: in the panel, through node and under their client."""

    async def test_an_operator_sees_the_pool_it_may_take_and_others_do_not(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        ana, carla = factory.token(world.ana), factory.token(world.carla)
        pool = gid(world.pool)
        panel = (await client.data(PANEL, {"f": {"unassigned": True}}, ana))["gestiones"]
        assert panel == {"totalCount": 1, "nodes": [{"id": pool}]}
        view = (await client.data(NODE, {"id": pool}, ana))["node"]
        # Its client is of another team: the operator sees it, to call it (G4).
        assert view["contact"] == {"firstNames": "Pedro"}
        assert view["campaign"] == {"name": "Mora"}
        listed = await client.data(CLIENT_GESTIONES, {"id": gid(world.outsider)}, ana)
        assert listed["node"]["gestiones"] == {"totalCount": 1, "nodes": [{"id": pool}]}
        # Carla operates nothing: she neither sees nor takes it.
        assert (await client.data(PANEL, {"f": {"unassigned": True}}, carla))["gestiones"]["totalCount"] == 0
        assert (await client.data(NODE, {"id": pool}, carla))["node"] is None
        before = await _state(factory)
        assert problems((await client.data(ATTEND, {"id": pool}, carla))["attendGestion"]) == [("NOT_FOUND", "id")]
        assert await _state(factory) == before
        taken = await client.data(ATTEND, {"id": pool}, ana)
        assert taken["attendGestion"] == {"gestion": {"id": pool, "status": "IN_PROGRESS"}, "userErrors": []}
        # Now Ana's: Beto, who could take it a moment ago, no longer sees it.
        beto = factory.token(world.beto)
        assert (await client.data(NODE, {"id": pool}, beto))["node"] is None
        assert problems((await client.data(ATTEND, {"id": pool}, beto))["attendGestion"]) == [("NOT_FOUND", "id")]

    async def test_what_each_agent_sees_is_exactly_what_the_work_mutations_accept(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        everything = [world.betos, world.busy, world.pool]
        before = await _state(factory)
        for agent in (world.ana, world.beto, world.carla):
            token = factory.token(agent)
            seen = {n["id"] for n in (await client.data(PANEL, {}, token))["gestiones"]["nodes"]}
            for gestion in everything:
                visible = (await client.data(NODE, {"id": gid(gestion)}, token))["node"] is not None
                assert visible == (gid(gestion) in seen), (agent.name, gestion.id)
                # An unknown result refuses after the gestión is found, before anything is written.
                answer = await client.data(SAVE, {"id": gid(gestion), "finish": {"resultCode": "NOPE"}}, token)
                code = _refusal(answer["saveGestion"])[0]
                assert (code != "NOT_FOUND") == visible, (agent.name, gestion.id, code)
        assert await _state(factory) == before
