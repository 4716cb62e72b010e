"""Attachments of gestiones (G7): multipart upload with CSRF header, limits, audit, listing, download."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Campaign, Gestion, GestionAttachment, Role, Team, Typology, User
from schema.node import to_global_id
from services import gestiones
from services.errors import ConcurrentChange, ErrorCode, fail
from tests.conftest import GraphQLClient, Server, running
from tests.factories import Factory
from tests.uploads import CSRF, PNG, UPLOAD, payload, upload

ATTACHMENTS = """
query Attachments($id: ID!) {
  node(id: $id) {
    ... on Gestion { attachments(first: 10) { totalCount edges { node { id filename sizeBytes url } } } }
  }
}
"""

MAX_BYTES = 4096


@dataclass
class World:
    team: Team
    agent: User
    other_agent: User
    supervisor: User
    outsider_supervisor: User
    gestion: Gestion

    @property
    def gestion_gid(self) -> str:
        return to_global_id("Gestion", self.gestion.id)


async def _world(factory: Factory) -> World:
    """A campaign of one team with one gestión operated by `agent` (built with the models)."""
    team = await factory.team()
    elsewhere = await factory.team()
    agent = await factory.user(Role.AGENT, teams=[team])
    other_agent = await factory.user(Role.AGENT, teams=[team])
    supervisor = await factory.user(Role.SUPERVISOR, supervises=[team])
    outsider_supervisor = await factory.user(Role.SUPERVISOR, supervises=[elsewhere])
    (contact,) = await factory.contacts(team, "Ana Pérez")
    # Read, then write in a transaction of its own: on SQLite a transaction that read first fails
    # at once when another connection (this module's server's job worker) wrote in between.
    async with factory.sessionmaker() as session:
        typology_id = await session.scalar(select(Typology.id).where(Typology.code == "COLLECTIONS"))
    async with factory.sessionmaker() as session:
        if typology_id is None:
            # The migration ships it; the per-test cleanup may have emptied the table.
            typology = Typology(code="COLLECTIONS", name="Collections", plan_fields=[])
            session.add(typology)
            await session.flush()
            typology_id = typology.id
        campaign = Campaign(
            name="Mora 2026", search_name="mora 2026", typology_id=typology_id, team_id=team.id, status="ACTIVE"
        )
        session.add(campaign)
        await session.flush()
        gestion = Gestion(
            campaign_id=campaign.id,
            contact_id=contact.id,
            operator_id=agent.id,
            status="PENDING",
            priority=0,
            plan={},
            attempts=0,
        )
        session.add(gestion)
        await session.commit()
    return World(team, agent, other_agent, supervisor, outsider_supervisor, gestion)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
async def app(database_url: str, server: Server, store_dir: Path) -> AsyncIterator[tuple[Server, GraphQLClient]]:
    async with running(
        database_url, attachments_dir=str(store_dir), max_attachment_bytes=MAX_BYTES, relay_seconds=3600
    ) as started:
        yield started


def stored_files(store_dir: Path) -> list[Path]:
    return sorted(p for p in store_dir.rglob("*") if p.is_file()) if store_dir.exists() else []


async def attached_count(factory: Factory) -> int:
    async with factory.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(GestionAttachment)) or 0)


async def attached_audits(factory: Factory) -> list[AuditEvent]:
    async with factory.sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == "ATTACHED"))).all())


async def assert_nothing_stored(factory: Factory, store_dir: Path) -> None:
    assert await attached_count(factory) == 0
    assert stored_files(store_dir) == []
    assert await attached_audits(factory) == []


async def test_upload_stores_audits_lists_and_downloads(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)
    token = factory.token(world.agent)

    result = payload(await upload(client, token, world.gestion_gid, filename="../../etc/recibo.png"))

    assert result["userErrors"] == []
    attachment = result["attachment"]
    assert attachment["filename"] == "recibo.png"
    assert attachment["contentType"] == "image/png"
    assert attachment["sizeBytes"] == len(PNG)
    assert attachment["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert attachment["uploadedByName"] == world.agent.name
    files = stored_files(store_dir)
    assert len(files) == 1
    assert files[0].read_bytes() == PNG
    assert "recibo" not in str(files[0])
    async with factory.sessionmaker() as session:
        row = (await session.scalars(select(GestionAttachment))).one()
    assert row.gestion_id == world.gestion.id
    assert row.uploaded_by_id == world.agent.id
    (audit,) = await attached_audits(factory)
    assert audit.resource_type == "GESTION"
    assert audit.resource_id == world.gestion.id
    assert audit.actor_id == world.agent.id
    assert audit.changes["attachment"]["after"]["filename"] == "recibo.png"

    listed = await client.data(ATTACHMENTS, {"id": world.gestion_gid}, token)
    connection = listed["node"]["attachments"]
    assert connection["totalCount"] == 1
    assert connection["edges"][0]["node"]["id"] == attachment["id"]
    assert connection["edges"][0]["node"]["url"] == f"/attachments/{row.id}"

    download = await client.http.get(attachment["url"], headers={"authorization": f"Bearer {token}"})
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-length"] == str(len(PNG))
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"recibo.png\"; filename*=UTF-8''recibo.png"
    )


async def test_download_follows_the_gestions_visibility(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)
    name = "acta de pago ñandú.pdf"
    content = b"%PDF-1.7\n" + b"x" * 1000
    token = factory.token(world.agent)
    result = payload(
        await upload(client, token, world.gestion_gid, content, filename=name, content_type="application/pdf")
    )
    url = result["attachment"]["url"]

    def get(user: User | None, path: str = url) -> Any:
        headers = {"authorization": f"Bearer {factory.token(user)}"} if user else {}
        return client.http.get(path, headers=headers)

    by_supervisor = await get(world.supervisor)
    assert by_supervisor.status_code == 200
    assert by_supervisor.content == content
    assert "filename*=UTF-8''acta%20de%20pago%20%C3%B1and%C3%BA.pdf" in by_supervisor.headers["content-disposition"]
    # Not its gestión, or not its team's campaign: reads exactly like a missing one.
    for user in (world.other_agent, world.outsider_supervisor):
        refused = await get(user)
        assert refused.status_code == 404
        assert refused.content == b"Attachment not found"
    missing = await get(world.agent, "/attachments/999999")
    assert missing.status_code == 404
    assert missing.content == b"Attachment not found"
    anonymous = await get(None)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    forged = await client.http.get(url, headers={"authorization": "Bearer not-a-token"})
    assert forged.status_code == 401


async def test_multipart_without_the_csrf_header_is_refused(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)

    response = await upload(client, factory.token(world.agent), world.gestion_gid, headers={})

    assert response.status_code == 400
    assert "x-cartera-csrf" in response.json()["errors"][0]["message"].lower()
    await assert_nothing_stored(factory, store_dir)


async def test_a_file_over_the_limit_stores_nothing(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)
    token = factory.token(world.agent)

    result = payload(await upload(client, token, world.gestion_gid, b"\0" * (MAX_BYTES + 1)))

    assert result["attachment"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("file", "LIMIT_EXCEEDED")]
    await assert_nothing_stored(factory, store_dir)
    # Far past the limit, the body itself is refused before the file is read.
    huge = await upload(client, token, world.gestion_gid, b"\0" * (MAX_BYTES + 100 * 1024))
    assert huge.status_code == 413
    await assert_nothing_stored(factory, store_dir)


async def test_a_type_not_allowed_stores_nothing(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)

    result = payload(
        await upload(
            client,
            factory.token(world.agent),
            world.gestion_gid,
            b"<script>alert(1)</script>",
            filename="x.html",
            content_type="text/html",
        )
    )

    assert result["attachment"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("file", "INVALID")]
    await assert_nothing_stored(factory, store_dir)


async def test_uploading_to_a_gestion_one_cannot_see_stores_nothing(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)

    for user in (world.other_agent, world.outsider_supervisor):
        result = payload(await upload(client, factory.token(user), world.gestion_gid))
        assert result["attachment"] is None
        assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("gestionId", "NOT_FOUND")]
    await assert_nothing_stored(factory, store_dir)


async def test_multipart_carries_mutations_only_and_json_carries_no_file(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)
    token = factory.token(world.agent)

    query = "query Q($gestionId: ID!, $file: Upload) { node(id: $gestionId) { id } }"
    refused = await upload(client, token, world.gestion_gid, query=query)
    assert refused.status_code == 200
    assert "Only mutations" in refused.json()["errors"][0]["message"]

    as_json = await client.gql(UPLOAD, {"gestionId": world.gestion_gid, "file": "not a file"}, token)
    errors = as_json["data"]["uploadGestionAttachment"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [("file", "INVALID")]

    unauthenticated = await upload(client, None, world.gestion_gid)
    assert unauthenticated.status_code == 200
    assert unauthenticated.json()["errors"]
    await assert_nothing_stored(factory, store_dir)


async def test_a_failure_after_the_bytes_were_stored_leaves_none(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = app
    world = await _world(factory)
    token = factory.token(world.agent)

    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise fail(ErrorCode.CONFLICT, "refused after storing", "file")

    monkeypatch.setattr(gestiones, "record", refuse)
    result = payload(await upload(client, token, world.gestion_gid))
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("file", "CONFLICT")]
    await assert_nothing_stored(factory, store_dir)

    async def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(gestiones, "record", crash)
    crashed = await upload(client, token, world.gestion_gid)
    assert crashed.status_code == 200
    assert crashed.json()["errors"][0]["message"].startswith("Unexpected error")
    await assert_nothing_stored(factory, store_dir)


async def test_a_retried_transaction_stores_the_file_once(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = app
    world = await _world(factory)
    real = gestiones.record
    calls = 0

    async def lose_the_first_race(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConcurrentChange
        return int(await real(*args, **kwargs))

    monkeypatch.setattr(gestiones, "record", lose_the_first_race)
    result = payload(await upload(client, factory.token(world.agent), world.gestion_gid))

    assert result["userErrors"] == []
    assert calls == 2
    assert await attached_count(factory) == 1
    assert len(await attached_audits(factory)) == 1
    (stored,) = stored_files(store_dir)
    assert stored.read_bytes() == PNG


async def test_malformed_multipart_requests_are_refused(
    app: tuple[Server, GraphQLClient], factory: Factory, store_dir: Path
) -> None:
    _, client = app
    world = await _world(factory)
    headers = {**CSRF, "authorization": f"Bearer {factory.token(world.agent)}"}
    operations = json.dumps({"query": UPLOAD, "variables": {"gestionId": world.gestion_gid, "file": None}})
    cases = [
        ({"operations": "{not json", "map": '{"0": ["variables.file"]}'}, "not valid JSON"),
        ({"operations": operations, "map": '{"0": ["query"]}'}, "paths into variables"),
        ({"operations": operations, "map": '{"1": ["variables.file"]}'}, "not in the body"),
        ({"map": '{"0": ["variables.file"]}'}, "`operations`"),
    ]
    for data, message in cases:
        response = await client.http.post(
            "/graphql", data=data, files={"0": ("a.png", PNG, "image/png")}, headers=headers
        )
        assert response.status_code == 400, response.text
        assert message in response.json()["errors"][0]["message"]
    await assert_nothing_stored(factory, store_dir)
