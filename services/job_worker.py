"""The loop that runs background jobs in an API process (services/jobs.py describes the jobs).

cartera.app's lifespan starts CARTERA_JOB_WORKERS of them (0: none here). Each claims one job at
a time, runs its kind's handler beside a heartbeat that renews the lease every third of it, and
writes how it ended only while it still holds the lease: a process that lost it (it stalled past
the lease and another took the job) writes nothing and discards what it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.engine import unless_cancelled
from db.models import Job, JobStatus
from services import jobs
from services.jobs import JobCancelled, JobContext, JobFailed, LeaseLost, Outcome, Runtime

log = logging.getLogger("cartera.jobs")


class Worker:
    def __init__(self, runtime: Runtime, *, woken_by: Any) -> None:
        """`woken_by`: the (sync) engine of the app's requests, whose commits of jobs start this worker."""
        self.runtime = runtime
        self.woken_by = woken_by
        self.owner = jobs.new_owner()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: JobContext | None = None

    def start(self) -> None:
        jobs.listen(self.woken_by, self._wake)
        self._task = asyncio.create_task(self._loop(), name=f"cartera-jobs-{self.owner}")

    async def stop(self) -> None:
        jobs.unlisten(self.woken_by, self._wake)
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        current, self._current = self._current, None
        if current is not None:
            await self._release(current)

    async def _loop(self) -> None:
        while True:
            try:
                ctx = await self._claim()
            except Exception:
                unless_cancelled()
                log.exception("could not claim a job")
                # Try again soon, not at the next wake-up: without pre-ping a pooled connection
                # the server dropped fails once (SQLAlchemy then replaces it), and the wake-up
                # that brought this claim may have been the last for a while.
                await asyncio.sleep(min(1.0, self.runtime.poll_seconds))
                continue
            if ctx is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.runtime.poll_seconds):
                        await self._wake.wait()
                self._wake.clear()
                continue
            self._current = ctx
            try:
                await self._run(ctx)
            except Exception:
                unless_cancelled()
                # Writing how it ended failed (the database went away): its lease runs out and
                # a process runs it again; this loop goes on with the next one.
                log.exception("could not record how a job ended", extra={"job_id": ctx.job_id})
            self._current = None

    async def _claim(self) -> JobContext | None:
        runtime = self.runtime
        async with jobs.writing(runtime) as session:
            job = await jobs.claim(
                session, owner=self.owner, lease_seconds=runtime.lease_seconds, max_attempts=runtime.max_attempts
            )
            if job is None:
                return None
            return JobContext(
                job_id=job.id,
                kind=job.kind,
                payload=dict(job.payload),
                requester_id=job.requested_by_id,
                attempt=job.attempts,
                owner=self.owner,
                runtime=runtime,
            )

    async def _run(self, ctx: JobContext) -> None:
        kind = jobs.kind_of(ctx.kind)
        assert kind is not None  # claim() fails jobs of unknown kinds
        heartbeat = asyncio.create_task(self._heartbeat(ctx))
        try:
            outcome = await kind.run(ctx)
        except JobCancelled:
            await self._end(ctx, JobStatus.CANCELLED)
        except LeaseLost:
            log.warning("lost the lease of a job; another process runs it", extra={"job_id": ctx.job_id})
        except JobFailed as error:
            await self._end(ctx, JobStatus.FAILED, str(error), final=True)
        except Exception as error:
            unless_cancelled()
            log.exception("job failed", extra={"job_id": ctx.job_id, "attempt": ctx.attempt})
            await self._end(ctx, JobStatus.FAILED, f"Unexpected error ({type(error).__name__})")
        else:
            await self._complete(ctx, outcome)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, ctx: JobContext) -> None:
        while not ctx.lost:
            await asyncio.sleep(self.runtime.lease_seconds / 3)
            try:
                await ctx.renew(with_progress=False)
            except Exception:
                unless_cancelled()
                # The next beat tries again; the lease outlasts two missed ones.
                log.exception("job heartbeat failed", extra={"job_id": ctx.job_id})

    async def _held(self, session: AsyncSession, ctx: JobContext) -> Job | None:
        job: Job | None = await session.scalar(
            select(Job)
            .where(Job.id == ctx.job_id, Job.lease_owner == self.owner, Job.status == JobStatus.RUNNING.value)
            .with_for_update()
        )
        return job

    async def _complete(self, ctx: JobContext, outcome: Outcome) -> None:
        """DONE with what the handler made, if this process still holds the job and nobody cancelled it."""
        done = False
        try:
            async with jobs.writing(self.runtime) as session:
                job = await self._held(session, ctx)
                if job is None:
                    return
                if job.cancel_requested:
                    await jobs.finish(session, job, JobStatus.CANCELLED)
                    return
                job.result = await outcome.record(session)
                job.done_count = ctx.done
                job.total_count = ctx.total
                await jobs.finish(session, job, JobStatus.DONE)
                done = True
        finally:
            if not done:
                await outcome.discard()

    async def _end(self, ctx: JobContext, status: JobStatus, error: str | None = None, *, final: bool = False) -> None:
        """CANCELLED, or a failed attempt: queued again for any process while tries remain, else FAILED."""
        async with jobs.writing(self.runtime) as session:
            job = await self._held(session, ctx)
            if job is None:
                return
            if status is JobStatus.CANCELLED:
                await jobs.finish(session, job, JobStatus.CANCELLED)
            elif final or job.attempts >= self.runtime.max_attempts:
                await jobs.give_up(session, job, error or "Failed", jobs.kind_of(job.kind))
            else:
                job.status = JobStatus.QUEUED.value
                job.lease_owner = None
                job.lease_expires_at = None
                job.error = error
                await session.flush()
                jobs.progress_event(session, job)

    async def _release(self, ctx: JobContext) -> None:
        """On shutdown: give the job back at once (not counting this attempt) instead of making
        another process wait for the lease to run out."""
        try:
            async with jobs.writing(self.runtime) as session:
                job = await self._held(session, ctx)
                if job is None:
                    return
                job.status = JobStatus.QUEUED.value
                job.lease_owner = None
                job.lease_expires_at = utcnow()
                job.attempts = max(0, job.attempts - 1)
        except Exception:
            log.exception("could not release a job on shutdown; its lease will run out", extra={"job_id": ctx.job_id})
