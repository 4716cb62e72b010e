"""exportSalesAttentions, the job that builds its CSV, cancelJob and GET /files/{id} (S5, S6)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from db.base import utcnow
from db.models import (
    AuditEvent,
    Contact,
    Job,
    Notification,
    Role,
    SalesAttentionStatus,
    SalesCatalogKind,
    SalesView,
    StoredFile,
    Team,
    User,
)
from schema.node import to_global_id
from services.principal import load_principal
from services.sales_panel import SalesFilter, matching
from tests.conftest import GraphQLClient, Server, StatementCounter, counting_sql, running
from tests.factories import Factory, gid, problems
from tests.ws import listening

EXPORT = """
mutation($input: ExportSalesAttentionsInput!) {
  exportSalesAttentions(input: $input) { job { id status kind } userErrors { code field message } }
}
"""
JOB = """
query($id: ID!) {
  node(id: $id) {
    ... on Job { id status doneCount totalCount attempts error file { id url filename contentType sizeBytes } }
  }
}
"""
CANCEL = """
mutation($id: ID!) { cancelJob(input: {id: $id}) { job { id status cancelRequested } userErrors { code field } } }
"""
PANEL = "query($f: SalesAttentionFilter) { salesAttentions(filter: $f, first: 50) { nodes { fullName } } }"
CENTRE = "{ notifications(first: 5) { nodes { kind downloadUrl job { status } file { url } } } }"
MY_JOBS = "{ myJobs(first: 10) { totalCount nodes { id status } } }"
ALL_LAST_30 = {"filter": {"period": "LAST_30_DAYS"}}
# The job row, its audit row, the events: none grows with the rows.
EXPORT_STATEMENTS = 3


async def _setup(factory: Factory) -> tuple[Team, User, list[Any]]:
    team = await factory.team("Ventas")
    agent = await factory.user(Role.AGENT, name="Ana Agente", teams=[team])
    interest = await factory.sales_entry(SalesCatalogKind.INTEREST, "Plan Oro")
    origin = await factory.sales_entry(SalesCatalogKind.ORIGIN, "WhatsApp")
    reason = await factory.sales_entry(SalesCatalogKind.CLOSE_REASON, "Compró")
    contacts = await factory.contacts(team, "José Ñandú", "Ana Pérez", "Luis Gómez")
    async with factory.sessionmaker() as session:
        # Values Excel must keep whole: the delimiter, quotes and a line break inside a name.
        await session.execute(
            update(Contact).where(Contact.id == contacts[1].id).values(last_names='Pérez; "la jefa"\nde ventas')
        )
        await session.commit()
    await factory.channel(contacts[0], "EMAIL", "jose@example.com")
    await factory.channel(contacts[0], "PHONE", "+5491112345678")
    now = utcnow()
    attentions = [
        await factory.sales_attention(contacts[0], agent=agent, interest=interest, origin=origin, created_at=now),
        await factory.sales_attention(
            contacts[1], status=SalesAttentionStatus.PENDING, created_at=now - timedelta(days=1)
        ),
        await factory.sales_attention(
            contacts[2], status=SalesAttentionStatus.CLOSED, close_reason=reason, created_at=now - timedelta(days=2)
        ),
    ]
    return team, agent, attentions


async def _wait_job(client: GraphQLClient, token: str, job_id: str, *statuses: str, seconds: float = 20) -> Any:
    statuses = statuses or ("DONE",)
    async with asyncio.timeout(seconds):
        while True:
            job = (await client.data(JOB, {"id": job_id}, token))["node"]
            if job["status"] in statuses:
                return job
            assert job["status"] in ("QUEUED", "RUNNING"), job
            await asyncio.sleep(0.05)


async def _download(server: Server, url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.get(url, headers=headers)


def _parse(body: bytes, delimiter: str = ";") -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline=""), delimiter=delimiter))


async def _panel_ids(factory: Factory, user: User, flt: SalesFilter, server: Server) -> list[int]:
    settings = server.settings
    async with factory.sessionmaker() as session:
        viewer = await load_principal(session, user.id)
        assert viewer is not None
        stmt = matching(viewer, flt, zone=settings.zone, now=utcnow(), dialect=session.get_bind().dialect.name)
        rows = await session.scalars(stmt.order_by(None))
        return [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


async def _export(client: GraphQLClient, token: str, **input: Any) -> dict[str, Any]:
    data = await client.data(EXPORT, {"input": input}, token)
    payload: dict[str, Any] = data["exportSalesAttentions"]
    return payload


async def test_export_by_filter_writes_the_panel_rows_as_excel_reads_them(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    _team, agent, attentions = await _setup(factory)
    admin = await factory.user(Role.ADMIN, name="Ada Admin")
    token = factory.token(admin)
    columns = [{"field": f} for f in ("FULL_NAME", "EMAIL", "PHONE", "INTEREST", "ORIGIN", "AGENT", "STATUS")]
    payload = await _export(client, token, selection=ALL_LAST_30, columns=columns)
    assert payload["userErrors"] == []
    job = await _wait_job(client, token, payload["job"]["id"])
    assert job["doneCount"] == job["totalCount"] == 3
    assert job["file"]["filename"].startswith("atenciones-")
    assert job["file"]["contentType"] == "text/csv; charset=utf-8"

    response = await _download(server, job["file"]["url"], token)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert b"\r\n" not in response.content  # LF line ends
    rows = _parse(response.content)
    assert rows[0] == ["Nombre completo", "Correo electrónico", "Teléfono", "Interés", "Origen", "Agente", "Estado"]
    assert rows[1] == [
        "José Ñandú",
        "jose@example.com",
        "+5491112345678",
        "Plan Oro",
        "WhatsApp",
        agent.name,
        "Abierta",
    ]
    assert rows[2][0] == 'Ana Pérez; "la jefa"\nde ventas'
    assert rows[2][-1] == "Pendiente"
    assert (rows[3][0], rows[3][-1]) == ("Luis Gómez", "Cerrada")
    assert len(rows) == 4
    # The same rows as the panel's statement, newest first, and as the panel shows them.
    expected = await _panel_ids(factory, admin, SalesFilter.from_stored({"period": "LAST_30_DAYS"}), server)
    assert expected == [a.id for a in attentions]
    panel = await client.data(PANEL, {"f": {"period": "LAST_30_DAYS"}}, token)
    assert [n["fullName"] for n in panel["salesAttentions"]["nodes"]] == [r[0] for r in rows[1:]]
    # The notification centre links the file and the job; the link downloads it.
    centre = (await client.data(CENTRE, token=token))["notifications"]["nodes"]
    assert [(n["kind"], n["job"]["status"], n["file"]["url"]) for n in centre] == [
        ("EXPORT_READY", "DONE", centre[0]["downloadUrl"])
    ]
    again = await _download(server, centre[0]["downloadUrl"], token)
    assert again.content == response.content

    # One EXPORTED event on the requester's call, its resource the job; the requester is told.
    async with factory.sessionmaker() as session:
        exported = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "EXPORTED"))).all()
        notes = (await session.scalars(select(Notification).where(Notification.user_id == admin.id))).all()
        file_row = (await session.scalars(select(StoredFile))).one()
    assert [(e.resource_type, e.actor_id) for e in exported] == [("JOB", admin.id)]
    assert [n.kind for n in notes] == ["EXPORT_READY"]
    assert notes[0].payload["downloadUrl"] == f"/files/{file_row.id}"
    assert notes[0].payload["rowCount"] == 3
    assert (file_row.expires_at - file_row.created_at) > timedelta(hours=71)


async def test_export_by_ids_and_by_filter_hold_the_same_rows(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    team, _agent, attentions = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    by_filter = await _export(client, token, selection=ALL_LAST_30, delimiter="\t")
    by_ids = await _export(client, token, selection={"ids": [gid(a) for a in attentions]}, delimiter="\t")
    bodies = []
    for payload in (by_filter, by_ids):
        job = await _wait_job(client, token, payload["job"]["id"])
        bodies.append((await _download(server, job["file"]["url"], token)).content)
    assert bodies[0] == bodies[1]
    rows = _parse(bodies[0], "\t")
    assert rows[0][0] == "Nombre completo"
    assert len(rows) == 4


async def test_only_admins_and_supervisors_export_and_only_the_owner_and_admins_download(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    team, agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    other_boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    admin = await factory.user(Role.ADMIN)
    refused = await _export(client, factory.token(agent), selection=ALL_LAST_30)
    assert problems(refused) == [("FORBIDDEN", None)]
    assert await factory.count(Job) == 0
    assert await factory.count(AuditEvent) == 0

    payload = await _export(client, factory.token(boss), selection=ALL_LAST_30)
    job = await _wait_job(client, factory.token(boss), payload["job"]["id"])
    url = job["file"]["url"]
    assert (await _download(server, url, factory.token(other_boss))).status_code == 404
    assert (await _download(server, url, None)).status_code == 401
    assert (await _download(server, url, factory.token(admin))).status_code == 200
    assert (await _download(server, url, factory.token(boss))).status_code == 200
    # The job is the requester's (and the admins'): another supervisor cannot see it.
    assert (await client.data(JOB, {"id": job["id"]}, factory.token(other_boss)))["node"] is None
    assert (await client.data(MY_JOBS, token=factory.token(boss)))["myJobs"]["totalCount"] == 1
    assert (await client.data(MY_JOBS, token=factory.token(other_boss)))["myJobs"]["totalCount"] == 0
    assert (await client.data(CANCEL, {"id": job["id"]}, factory.token(other_boss)))["cancelJob"]["userErrors"] == [
        {"code": "NOT_FOUND", "field": "input.id"}
    ]


async def test_refused_exports_queue_nothing(client: GraphQLClient, factory: Factory) -> None:
    team, _agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    other = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    bad_delimiter = await _export(client, token, selection=ALL_LAST_30, delimiter="x")
    assert problems(bad_delimiter) == [("INVALID", "input.delimiter")]
    bad_column = await _export(
        client, token, selection=ALL_LAST_30, columns=[{"field": "FULL_NAME"}, {"customFieldKey": "nope"}]
    )
    # The same check as a saved view's columns (sales_columns.specs).
    assert problems(bad_column) == [("NOT_FOUND", "input.columns.1.customFieldKey")]
    twice = await _export(client, token, selection=ALL_LAST_30, columns=[{"field": "VIP"}, {"field": "VIP"}])
    assert problems(twice) == [("ALREADY_EXISTS", "input.columns.1")]
    bad_range = {"filter": {"from": "2026-01-10T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}
    assert problems(await _export(client, token, selection=bad_range))[0][1].startswith("input.selection.filter.")
    async with factory.sessionmaker() as session:
        view = SalesView(user_id=other.id, name="Suya", columns=["FULL_NAME"], filters={})
        session.add(view)
        await session.commit()
    foreign_view = await _export(client, token, selection=ALL_LAST_30, viewId=gid_view(view.id))
    assert problems(foreign_view) == [("NOT_FOUND", "input.viewId")]
    assert await factory.count(Job) == 0
    assert await factory.count(AuditEvent) == 0


def gid_view(pk: int) -> str:
    return to_global_id("SalesView", pk)


async def test_a_queued_job_is_cancelled_at_once(database_url: str, factory: Factory) -> None:
    team, _agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    # A server that runs no jobs, so the export stays QUEUED.
    async with running(database_url, job_workers=0, job_poll_seconds=3600) as (_, idle):
        payload = await _export(idle, token, selection=ALL_LAST_30)
        job_id = payload["job"]["id"]
        cancelled = (await idle.data(CANCEL, {"id": job_id}, token))["cancelJob"]
        assert cancelled["userErrors"] == []
        assert cancelled["job"]["status"] == "CANCELLED"
        again = (await idle.data(CANCEL, {"id": job_id}, token))["cancelJob"]
        assert problems(again) == [("INVALID", "input.id")]
    async with factory.sessionmaker() as session:
        actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
    assert actions == ["EXPORTED", "CANCELLED"]


async def test_a_running_job_stops_at_its_next_progress_check_and_leaves_no_file(
    database_url: str, factory: Factory
) -> None:
    team = await factory.team("Ventas")
    await factory.sales_attentions_bulk(team, 6000)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    slow = {"export_chunk_delay_seconds": 0.3, "job_progress_seconds": 0.05, "job_poll_seconds": 3600}
    async with running(database_url, **slow) as (srv, slow_client):
        root = srv.settings.attachments_root
        files_before = {p for p in root.rglob("*") if p.is_file()}
        payload = await _export(slow_client, token, selection=ALL_LAST_30)
        job_id = payload["job"]["id"]
        async with asyncio.timeout(20):
            while True:
                job = (await slow_client.data(JOB, {"id": job_id}, token))["node"]
                if job["status"] == "RUNNING" and job["doneCount"] > 0:
                    break
                await asyncio.sleep(0.02)
        requested = (await slow_client.data(CANCEL, {"id": job_id}, token))["cancelJob"]
        assert requested["job"] == {"id": job_id, "status": "RUNNING", "cancelRequested": True}
        job = await _wait_job(slow_client, token, job_id, "CANCELLED", "DONE")
        assert job["status"] == "CANCELLED"
        assert job["file"] is None
    assert await factory.count(StoredFile) == 0
    # Not a byte left behind, not even the partial file.
    assert {p for p in root.rglob("*") if p.is_file()} == files_before
    async with factory.sessionmaker() as session:
        kinds = (await session.scalars(select(Notification.kind))).all()
    assert kinds == []


async def test_progress_is_pushed_to_the_requester(server: Server, client: GraphQLClient, factory: Factory) -> None:
    team, _agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    async with listening(server, token) as inbox:
        payload = await _export(client, token, selection=ALL_LAST_30)
        seen = []
        async with asyncio.timeout(20):
            while True:
                event = await inbox.next(wait=20)
                if event["payload"].get("jobId") != payload["job"]["id"]:
                    continue
                seen.append(event["payload"]["jobStatus"])
                if event["payload"]["jobStatus"] == "DONE":
                    break
    assert (seen[0], seen[-1]) == ("QUEUED", "DONE")
    assert "RUNNING" in seen


async def test_expired_files_are_not_served_and_are_deleted(
    server: Server, client: GraphQLClient, factory: Factory, database_url: str
) -> None:
    team, _agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    payload = await _export(client, token, selection=ALL_LAST_30)
    job = await _wait_job(client, token, payload["job"]["id"])
    async with factory.writing() as session:
        row = (await session.scalars(select(StoredFile))).one()
        await session.execute(update(StoredFile).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    assert (await _download(server, job["file"]["url"], token)).status_code == 404
    store = server.app.state.cartera.attachments
    assert [c async for c in await store.open(row.storage_key)]
    async with running(database_url, job_workers=0, file_sweep_seconds=0.05) as (sweeping, _):
        async with asyncio.timeout(10):
            while await factory.count(StoredFile):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        # The sweeps (one every 0.05 s) run on the jobs' pool: none of their statements on the
        # connections requests use, where a request's count of statements would include them.
        with counting_sql(sweeping) as requests_pool:
            await asyncio.sleep(0.3)
        assert requests_pool.count == 0, requests_pool.statements
    with pytest.raises(FileNotFoundError):
        await store.open(row.storage_key)


async def test_an_export_whose_requester_left_fails_and_says_so(database_url: str, factory: Factory) -> None:
    team, _agent, _ = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    async with running(database_url, job_workers=0, job_poll_seconds=3600) as (_, idle):
        job_id = (await _export(idle, token, selection=ALL_LAST_30))["job"]["id"]
    async with factory.sessionmaker() as session:
        await session.execute(update(User).where(User.id == boss.id).values(is_active=False))
        await session.commit()
    # A process that finds it queued runs it as the requester is now: no longer active.
    async with running(database_url, job_poll_seconds=0.05):
        async with asyncio.timeout(10):
            while True:
                async with factory.sessionmaker() as session:
                    job = (await session.scalars(select(Job))).one()
                if job.status == "FAILED":
                    break
                await asyncio.sleep(0.02)
    assert job.error == "The user who asked for this export is no longer active"
    assert job.attempts == 1
    assert await factory.count(StoredFile) == 0
    async with factory.sessionmaker() as session:
        (note,) = (await session.scalars(select(Notification))).all()
    assert (note.user_id, note.kind, note.payload["jobId"]) == (boss.id, "EXPORT_FAILED", job.id)
    assert job_id == to_global_id("Job", job.id)


async def test_asking_for_an_export_costs_a_fixed_number_of_statements(
    client: GraphQLClient, factory: Factory, count_sql: StatementCounter
) -> None:
    team, _agent, attentions = await _setup(factory)
    boss = await factory.user(Role.SUPERVISOR, supervises=[team])
    token = factory.token(boss)
    counts = []
    for selection in (ALL_LAST_30, {"ids": [gid(a) for a in attentions]}):
        count_sql.statements.clear()
        payload = await _export(client, token, selection=selection, columns=[{"field": "FULL_NAME"}])
        assert payload["userErrors"] == []
        counts.append(count_sql.count)
        await _wait_job(client, token, payload["job"]["id"])
    assert counts == [EXPORT_STATEMENTS, EXPORT_STATEMENTS]


async def test_a_value_excel_would_run_as_a_formula_is_written_as_text(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    """CSV injection: a name a client typed as "=HYPERLINK(…)" must not become a formula in the
    supervisor's Excel; it is written after an apostrophe. A phone's "+" is left alone."""
    team = await factory.team("Ventas")
    (person,) = await factory.contacts(team, "Eva Fórmula")
    async with factory.sessionmaker() as session:
        await session.execute(
            update(Contact).where(Contact.id == person.id).values(first_names='=HYPERLINK("http://x";"y")')
        )
        await session.commit()
    await factory.channel(person, "PHONE", "+5491112345678")
    await factory.sales_attention(person, created_at=utcnow())
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    columns = [{"field": "FULL_NAME"}, {"field": "PHONE"}]
    payload = await _export(client, token, selection=ALL_LAST_30, columns=columns)
    job = await _wait_job(client, token, payload["job"]["id"])
    rows = _parse((await _download(server, job["file"]["url"], token)).content)
    assert rows[1] == ['\'=HYPERLINK("http://x";"y") Fórmula', "+5491112345678"]
