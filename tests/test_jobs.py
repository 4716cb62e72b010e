"""The job mechanism (services/jobs.py) on both backends: a job whose process died (its lease ran
out) is run again from the start by another process, and given up after the maximum attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from db.base import utcnow
from db.models import Job, Notification, Role, StoredFile
from services import sales_exports
from services.sales_panel import SalesFilter
from tests.conftest import running
from tests.factories import Factory


async def _orphan(factory: Factory, *, attempts: int) -> tuple[Job, int]:
    """An export a dead process claimed: RUNNING under a lease that ran out."""
    team = await factory.team("Ventas")
    await factory.sales_attentions_bulk(team, 25)
    admin = await factory.user(Role.ADMIN)
    now = utcnow()
    payload = {
        "filter": SalesFilter().to_stored(),
        "now": now.isoformat(),
        "zone": "America/Argentina/Buenos_Aires",
        "columns": ["FULL_NAME"],
        "delimiter": ";",
    }
    job = Job(
        kind=sales_exports.KIND,
        status="RUNNING",
        requested_by_id=admin.id,
        payload=payload,
        attempts=attempts,
        done_count=7,
        lease_owner="gone:1:dead",
        lease_expires_at=now - timedelta(seconds=1),
        started_at=now - timedelta(minutes=1),
    )
    async with factory.sessionmaker() as session:
        session.add(job)
        await session.commit()
    return job, admin.id


async def _until_finished(factory: Factory, job_id: int) -> Job:
    async with asyncio.timeout(15):
        while True:
            async with factory.sessionmaker() as session:
                job = await session.get_one(Job, job_id)
            if job.status in ("DONE", "FAILED", "CANCELLED"):
                return job
            await asyncio.sleep(0.02)


async def test_a_job_whose_lease_ran_out_is_run_again_from_the_start(database_url: str, factory: Factory) -> None:
    orphan, admin_id = await _orphan(factory, attempts=1)
    async with running(database_url, job_poll_seconds=0.05):
        job = await _until_finished(factory, orphan.id)
    assert (job.status, job.attempts, job.done_count, job.total_count) == ("DONE", 2, 25, 25)
    assert job.lease_owner is None
    async with factory.sessionmaker() as session:
        (file_row,) = (await session.scalars(select(StoredFile))).all()
        (note,) = (await session.scalars(select(Notification))).all()
    assert job.result == {"fileId": file_row.id, "rowCount": 25}
    assert (note.user_id, note.kind) == (admin_id, "EXPORT_READY")


async def test_a_job_that_died_as_often_as_allowed_is_given_up(database_url: str, factory: Factory) -> None:
    orphan, admin_id = await _orphan(factory, attempts=3)
    async with running(database_url, job_poll_seconds=0.05, job_max_attempts=3):
        job = await _until_finished(factory, orphan.id)
    assert (job.status, job.attempts) == ("FAILED", 3)
    assert job.error == "Gave up after 3 attempts: its process stopped"
    assert await factory.count(StoredFile) == 0
    async with factory.sessionmaker() as session:
        (note,) = (await session.scalars(select(Notification))).all()
    assert (note.user_id, note.kind, note.payload["jobId"]) == (admin_id, "EXPORT_FAILED", orphan.id)


async def test_a_job_held_under_a_live_lease_is_left_alone(database_url: str, factory: Factory) -> None:
    orphan, _ = await _orphan(factory, attempts=1)
    async with factory.writing() as session:
        held = await session.get_one(Job, orphan.id)
        held.lease_expires_at = utcnow() + timedelta(minutes=5)
        await session.commit()
    async with running(database_url, job_poll_seconds=0.05):
        await asyncio.sleep(0.5)
    async with factory.sessionmaker() as session:
        job = await session.get_one(Job, orphan.id)
    assert (job.status, job.attempts, job.lease_owner) == ("RUNNING", 1, "gone:1:dead")
