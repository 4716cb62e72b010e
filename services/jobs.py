"""Durable background jobs: written in the requesting transaction, run by any API process.

A job kind is a `JobKind` in the registry (`register`): its `run(ctx)` does the work and returns
an `Outcome`, whose `record(session)` writes what the job leaves (an export's file row and
notification) in the very transaction that marks the job DONE. `enqueue` writes the row in the
caller's unit of work, so a rolled-back request queues nothing.

Claiming (`claim`) takes the oldest QUEUED job, or a RUNNING one whose lease ran out (its process
died), under `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's single writer gives the same
guarantee), and commits a lease: owner and expiry, renewed by a heartbeat while `run` works. A
job run again starts from the beginning: a handler's writes outside the database are keyed per
attempt (an export writes a new file) and discarded unless DONE is written, so nothing a lost
attempt did shows. After `CARTERA_JOB_MAX_ATTEMPTS` tries it is FAILED and its kind's `failed`
hook runs (an export notifies EXPORT_FAILED).

Progress (`JobContext.progress`) is written at most once per CARTERA_JOB_PROGRESS_SECONDS and
pushed to the requester as JOB_PROGRESS; the same write (and the heartbeat) reads
`cancel_requested`, so a cancelled job stops at its next progress check.

Why not a library: procrastinate is PostgreSQL-only and arq, rq, taskiq and dramatiq need Redis
or a broker; none writes its job in our session's transaction on both backends (SQLite is the
embedded default), so the queue would not commit or roll back with the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import scopes
from db.base import utcnow
from db.engine import SQLITE_WRITE, after_commit
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Job, JobStatus
from services import audit, events
from services.audit import AuditAction, ResourceType
from services.errors import ErrorCode, fail, not_found
from services.events import EventKind, LoggedEvent
from services.principal import Principal

log = logging.getLogger("cartera.jobs")

Announce = Callable[[Sequence[LoggedEvent]], Awaitable[None]]
FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class JobCancelled(Exception):
    """Raised at a progress check once the job was asked to stop."""


class LeaseLost(Exception):
    """This process no longer holds the job (its lease ran out and another took it)."""


class JobFailed(Exception):
    """An expected failure: the job FAILS at once with this message, shown to its requester."""


@dataclass(frozen=True)
class Outcome:
    # Writes what the job leaves in the transaction that marks it DONE; returns the job's result.
    record: Callable[[AsyncSession], Awaitable[dict[str, Any]]]
    # Undoes what `run` left outside the database when DONE was not written after all.
    discard: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    name: str
    # The audit trail's name of one job of this kind ("Export of sales attentions").
    title: str
    run: Callable[[JobContext], Awaitable[Outcome]]
    # In the transaction that marks the job FAILED for good.
    failed: Callable[[AsyncSession, Job], Awaitable[None]] | None = None


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> JobKind | None:
    return _KINDS.get(name)


@dataclass(frozen=True)
class Runtime:
    """What the app gives the workers and their handlers."""

    sessionmaker: async_sessionmaker[AsyncSession]
    announce: Announce
    # The rest are the handlers' (the attachment store, the settings).
    resources: Mapping[str, Any]
    lease_seconds: float = 30.0
    max_attempts: int = 3
    poll_seconds: float = 2.0
    progress_seconds: float = 1.0


# Workers woken when a request commits a job, by the engine the request's session uses: one
# app per process in production, several in one test process (each must wake only its own).
_WAKE: dict[Any, set[asyncio.Event]] = {}


def listen(engine: Any, wake: asyncio.Event) -> None:
    _WAKE.setdefault(engine, set()).add(wake)


def unlisten(engine: Any, wake: asyncio.Event) -> None:
    _WAKE.get(engine, set()).discard(wake)


async def enqueue(session: AsyncSession, actor: Principal, kind: str, payload: dict[str, Any]) -> Job:
    """Queue a job for `actor` in the caller's transaction; this process's workers start it on commit."""
    if kind not in _KINDS:
        raise ValueError(f"no job kind {kind!r}")
    job = Job(kind=kind, status=JobStatus.QUEUED.value, requested_by_id=actor.user_id, payload=payload)
    session.add(job)
    await session.flush()
    bind = session.get_bind()

    async def wake_workers() -> None:
        for wake in _WAKE.get(bind, ()):
            wake.set()

    after_commit(session, wake_workers)
    return job


async def cancel(session: AsyncSession, actor: Principal, job_id: int) -> Job:
    """The requester or an admin stops a job: QUEUED is CANCELLED at once, RUNNING stops at its
    next progress check (then CANCELLED, leaving nothing); a finished one is INVALID."""
    stmt = scopes.jobs(select(Job).where(Job.id == job_id), actor).with_for_update()
    job = await session.scalar(stmt)
    if job is None:
        raise not_found("Job", "id")
    status = JobStatus(job.status)
    changed: dict[str, Any]
    if status in FINISHED or job.cancel_requested:
        raise fail(ErrorCode.INVALID, f"This job is already {status.value.lower()}", "id")
    if status is JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED.value
        job.finished_at = utcnow()
        changed = {"status": {"before": status.value, "after": job.status}}
    else:
        job.cancel_requested = True
        changed = {"cancelRequested": {"before": False, "after": True}}
    await session.flush()
    kind = _KINDS.get(job.kind)
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CANCELLED,
        resource_type=ResourceType.JOB,
        resource_id=job.id,
        resource_name=kind.title if kind else job.kind,
        changed=changed,
    )
    progress_event(session, job)
    return job


def progress_event(session: AsyncSession, job: Job) -> None:
    events.emit(
        session,
        EventKind.JOB_PROGRESS,
        {
            "jobId": job.id,
            "kind": job.kind,
            "status": job.status,
            "doneCount": job.done_count,
            "totalCount": job.total_count,
        },
        users=[job.requested_by_id],
    )


def new_owner() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def writing(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A short write transaction that commits its events and announces them."""
    async with runtime.sessionmaker() as session:
        await session.connection(execution_options={SQLITE_WRITE: True})
        yield session
        written = await events.write_pending(session)
        await session.commit()
    await runtime.announce(written)


async def claim(session: AsyncSession, *, owner: str, lease_seconds: float, max_attempts: int) -> Job | None:
    """Take the oldest claimable job under a lease (in the caller's write transaction). One whose
    process died `max_attempts` times is FAILED here instead, and the next one is looked at."""
    while True:
        now = utcnow()
        stmt = (
            select(Job)
            # The partial index's own predicate, as text: a parameter would hide it from the planner.
            .where(text("jobs.status IN ('QUEUED', 'RUNNING')"))
            .where(
                or_(
                    Job.status == JobStatus.QUEUED.value,
                    and_(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now),
                )
            )
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = await session.scalar(stmt)
        if job is None:
            return None
        kind = _KINDS.get(job.kind)
        if kind is None or job.attempts >= max_attempts or job.cancel_requested:
            if job.cancel_requested:
                await finish(session, job, JobStatus.CANCELLED)
            else:
                why = "its process stopped" if kind else "no handler for its kind"
                await give_up(session, job, f"Gave up after {job.attempts} attempts: {why}", kind)
            continue
        job.status = JobStatus.RUNNING.value
        job.lease_owner = owner
        job.lease_expires_at = now + timedelta(seconds=lease_seconds)
        job.attempts += 1
        job.started_at = job.started_at or now
        job.done_count = 0
        await session.flush()
        progress_event(session, job)
        return job


async def finish(session: AsyncSession, job: Job, status: JobStatus, error: str | None = None) -> None:
    job.status = status.value
    job.finished_at = utcnow()
    job.lease_owner = None
    job.lease_expires_at = None
    job.error = error
    await session.flush()
    progress_event(session, job)


async def give_up(session: AsyncSession, job: Job, error: str, kind: JobKind | None) -> None:
    await finish(session, job, JobStatus.FAILED, error[:1000])
    if kind is not None and kind.failed is not None:
        await kind.failed(session, job)


@dataclass
class JobContext:
    """What a handler sees of its job, and how it reports progress."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    requester_id: int | None
    attempt: int
    owner: str
    runtime: Runtime
    done: int = 0
    total: int | None = None
    cancelled: bool = False
    lost: bool = False
    _written_at: float = field(default=0.0)

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.runtime.resources

    def check(self) -> None:
        if self.lost:
            raise LeaseLost
        if self.cancelled:
            raise JobCancelled

    async def progress(self, done: int, total: int | None = None) -> None:
        """Report rows done (of total); written and pushed at most once a CARTERA_JOB_PROGRESS_SECONDS.
        Raises JobCancelled once the job was cancelled, LeaseLost once another process holds it."""
        self.done = done
        if total is not None:
            self.total = total
        self.check()
        if time.monotonic() - self._written_at < self.runtime.progress_seconds:
            return
        await self.renew(with_progress=True)
        self.check()

    async def renew(self, *, with_progress: bool) -> None:
        """Extend the lease (the heartbeat), optionally with the progress; learn of a cancel."""
        values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=self.runtime.lease_seconds)}
        if with_progress:
            values |= {"done_count": self.done, "total_count": self.total}
            self._written_at = time.monotonic()
        async with writing(self.runtime) as session:
            row = (
                await session.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.lease_owner == self.owner, Job.status == JobStatus.RUNNING.value)
                    .values(**values)
                    .returning(Job)
                )
            ).scalar_one_or_none()
            if row is None:
                self.lost = True
                return
            self.cancelled = row.cancel_requested
            if with_progress:
                progress_event(session, row)


def mine(viewer: Principal) -> Select[Job]:
    """The viewer's own jobs (an admin's too: the list is "my jobs", node() reaches the others)."""
    return scopes.jobs(select(Job), viewer).where(Job.requested_by_id == viewer.user_id)


_NEWEST_FIRST = (SortKey(Job.created_at, "created_at", "datetime", True), SortKey(Job.id, "id", "int", True))


async def list_mine(session: AsyncSession, viewer: Principal, page: PageRequest, *, max_page_size: int) -> Page[Job]:
    return await paginate(session, mine(viewer), keys=_NEWEST_FIRST, request=page, max_page_size=max_page_size)
