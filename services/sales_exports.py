"""Exports of the sales panel (S5): a CSV of a view's columns, built by a background job.

`request_export` (admins and supervisors) checks everything a run could refuse up front (the
filter, the columns, the delimiter), queues the job with the filter, the requester, `now` fixed
at request time (a retry selects the same window), the columns and the delimiter, and writes
one EXPORTED audit event whose resource is the JOB. The job (`run`) reloads the requester's
principal, so rights it lost meanwhile are not exported, and runs the panel's statement itself
(sales_panel.matching) with the columns added (services.sales_columns).

The file is UTF-8 with a BOM (Excel then reads the accents), a header of labels, the chosen
delimiter (";" is what a Spanish-locale Excel splits on), values holding the delimiter, a quote
or a line break quoted with quotes doubled, and LF line ends on both backends (PostgreSQL's COPY
writes LF; Excel reads LF files, quoted line breaks included). PostgreSQL streams the rows with
`COPY (…) TO STDOUT` through a bounded queue, SQLite through a streamed result, so memory stays
flat whatever the size; the bytes go to the attachment store under a key new to each attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.models import Job, NotificationKind, SalesView, StoredFile
from services import audit, jobs, sales_columns
from services.attachment_store import AttachmentStore, TooLarge, new_key
from services.audit import AuditAction, ResourceType
from services.errors import DomainError, ErrorCode, Problem, fail, not_found
from services.jobs import JobContext, JobFailed, JobKind, Outcome
from services.notifications import notify
from services.principal import Principal, load_principal
from services.sales_columns import ColumnSpec
from services.sales_panel import DEFAULT_COLUMNS, SalesFilter, matching, require_panel
from services.settings import Settings

KIND = "SALES_EXPORT"
TITLE = "Export of sales attentions"
DELIMITERS = (";", ",", "\t", "|")
BOM = "\ufeff".encode()
CONTENT_TYPE = "text/csv; charset=utf-8"
# Rows per part of SQLite's streamed result; bytes the store writes at a time.
ROWS_PER_PART = 2_000
# Chunks COPY may have read ahead of the store: what bounds the server's memory.
QUEUE_CHUNKS = 16


async def request_export(
    session: AsyncSession,
    actor: Principal,
    *,
    selection: SalesFilter,
    view_id: int | None,
    columns: Sequence[str] | None,
    delimiter: str,
    zone: ZoneInfo,
    now: datetime,
) -> Job:
    """Queue an export of the attentions `selection` picks, with the given columns, else the
    view's (`viewId`: one of the actor's own views), else the default set."""
    require_panel(actor)
    if delimiter not in DELIMITERS:
        raise fail(ErrorCode.INVALID, 'The delimiter must be one of ";", ",", "|" or a tab', "delimiter")
    if columns is None and view_id is not None:
        view = await session.scalar(scopes.sales_views(select(SalesView).where(SalesView.id == view_id), actor))
        if view is None:
            raise not_found("Sales view", "viewId")
        columns = list(view.columns)
    column_ids = list(columns) if columns is not None else [c.value for c in DEFAULT_COLUMNS]
    await sales_columns.specs(session, column_ids)
    dialect = session.get_bind().dialect.name
    try:
        # Built once here only for its checks: a bad period or text refuses the call, not the job.
        matching(actor, selection, zone=zone, now=now, dialect=dialect)
    except DomainError as error:
        raise DomainError(*(_under_selection(p) for p in error.problems)) from None
    payload = {
        "filter": selection.to_stored(),
        "now": now.isoformat(),
        "zone": zone.key,
        "columns": column_ids,
        "delimiter": delimiter,
    }
    job = await jobs.enqueue(session, actor, KIND, payload)
    changed: dict[str, Any] = {"columns": {"before": None, "after": column_ids}}
    if selection.ids is not None:
        changed["attentionIds"] = {"before": None, "after": list(selection.ids)}
    else:
        changed["filter"] = {"before": None, "after": payload["filter"]}
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.EXPORTED,
        resource_type=ResourceType.JOB,
        resource_id=job.id,
        resource_name=TITLE,
        team_ids=[selection.team_id] if selection.team_id is not None else (),
        changed=changed,
    )
    jobs.progress_event(session, job)
    return job


def _under_selection(problem: Problem) -> Problem:
    field = problem.field
    return Problem(problem.code, problem.message, f"selection.{field}" if field else field)


def filename(now: datetime, zone: ZoneInfo) -> str:
    return f"atenciones-{now.astimezone(zone):%Y-%m-%d-%H%M}.csv"


async def run(ctx: JobContext) -> Outcome:
    settings: Settings = ctx.resources["settings"]
    store: AttachmentStore = ctx.resources["store"]
    payload = ctx.payload
    flt = SalesFilter.from_stored(payload["filter"])
    now = datetime.fromisoformat(payload["now"])
    zone = ZoneInfo(payload["zone"])
    delimiter = payload["delimiter"]
    key = new_key()
    async with ctx.runtime.sessionmaker() as session:
        viewer = await load_principal(session, ctx.requester_id) if ctx.requester_id is not None else None
        if viewer is None:
            raise JobFailed("The user who asked for this export is no longer active")
        try:
            specs = await sales_columns.specs(session, payload["columns"])
            matched = matching(viewer, flt, zone=zone, now=now, dialect=session.get_bind().dialect.name)
        except DomainError as error:
            raise JobFailed(str(error)) from None
        total = int(await session.scalar(select(func.count()).select_from(matched.subquery())) or 0)
        await ctx.progress(0, total)
        dialect = session.get_bind().dialect.name
        stmt = sales_columns.select_columns(matched.subquery("a"), specs, dialect=dialect, zone=zone)
        header = _csv_line([s.label for s in specs], delimiter)
        if dialect == "postgresql":
            chunks = _pg_copy(session, stmt, delimiter)
        else:
            chunks = _streamed(session, stmt, specs, zone, delimiter)
        # Closed before the session, however the save ends: a COPY cut short must stop first.
        async with contextlib.aclosing(chunks) as rows:
            source = _Source(ctx, header, rows, total, delay=settings.export_chunk_delay_seconds)
            try:
                stored = await store.save(key, source, max_bytes=settings.max_export_bytes)
            except TooLarge as error:
                raise JobFailed(f"The export is larger than the limit of {error.max_bytes} bytes") from None
    row_count = source.rows

    async def record(session: AsyncSession) -> dict[str, Any]:
        row = StoredFile(
            owner_id=ctx.requester_id,
            job_id=ctx.job_id,
            filename=filename(now, zone),
            content_type=CONTENT_TYPE,
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            storage_key=stored.key,
            expires_at=utcnow() + timedelta(hours=settings.export_retention_hours),
        )
        session.add(row)
        await session.flush()
        result = {"fileId": row.id, "rowCount": row_count}
        if ctx.requester_id is not None:
            await notify(
                session,
                user_id=ctx.requester_id,
                kind=NotificationKind.EXPORT_READY,
                message=f"Your export of {row_count} sales attentions is ready",
                payload={**result, "jobId": ctx.job_id, "downloadUrl": f"/files/{row.id}"},
            )
        return result

    async def discard() -> None:
        await store.delete(key)

    ctx.done = row_count
    return Outcome(record=record, discard=discard)


async def failed(session: AsyncSession, job: Job) -> None:
    if job.requested_by_id is None:
        return
    await notify(
        session,
        user_id=job.requested_by_id,
        kind=NotificationKind.EXPORT_FAILED,
        message=f"Your export of sales attentions failed: {job.error or 'unknown error'}",
        payload={"jobId": job.id, "error": job.error},
    )


jobs.register(JobKind(name=KIND, title=TITLE, run=run, failed=failed))


def _csv_line(values: Sequence[Any], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


class _Source:
    """The store's `Source` over the file's parts: BOM and header, then the rows' chunks, read
    in pieces of the size the store asks for; progress and a cancel are checked at each one."""

    def __init__(
        self, ctx: JobContext, header: bytes, rows: AsyncIterator[tuple[bytes, int]], total: int, *, delay: float
    ) -> None:
        self.ctx = ctx
        self.rows_iter = rows
        self.total = total
        self.delay = delay
        self.pending = bytearray(BOM + header)
        self.rows = 0
        self.ended = False

    async def read(self, size: int = -1) -> bytes:
        want = size if size > 0 else 1 << 20
        while len(self.pending) < want and not self.ended:
            try:
                chunk, rows = await anext(self.rows_iter)
            except StopAsyncIteration:
                self.ended = True
                break
            self.pending += chunk
            self.rows += rows
            await self.ctx.progress(min(self.rows, self.total), self.total)
            if self.delay:
                await asyncio.sleep(self.delay)
        out = bytes(self.pending[:want])
        del self.pending[:want]
        return out


async def _streamed(
    session: AsyncSession, stmt: Any, specs: Sequence[ColumnSpec], zone: ZoneInfo, delimiter: str
) -> AsyncGenerator[tuple[bytes, int]]:
    """SQLite: the rows through a streamed result, written by the csv module."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    result = await session.stream(stmt.execution_options(yield_per=ROWS_PER_PART))
    async for part in result.partitions():
        writer.writerows(
            [sales_columns.text_value(v, s, zone) for v, s in zip(row, specs, strict=True)] for row in part
        )
        yield buffer.getvalue().encode(), len(part)
        buffer.seek(0)
        buffer.truncate()


async def _pg_copy(session: AsyncSession, stmt: Any, delimiter: str) -> AsyncGenerator[tuple[bytes, int]]:
    """PostgreSQL: `COPY (statement) TO STDOUT` on the session's own asyncpg connection, its
    chunks through a bounded queue (COPY waits while the store is behind). Rows per chunk are
    its line ends, an estimate only when values hold line breaks; the final count is COPY's."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors = compiled._bind_processors
    args = [processors[name](params[name]) if name in processors else params[name] for name in compiled.positiontup]
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    status: list[str] = []

    async def sink(data: bytes) -> None:
        await queue.put(data)

    async def copy() -> None:
        try:
            status.append(
                await driver.copy_from_query(compiled.string, *args, output=sink, format="csv", delimiter=delimiter)
            )
        except BaseException:
            # Make room for the end mark, so the reader stops and then meets this error.
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
            raise
        await queue.put(None)

    task = asyncio.create_task(copy())
    counted = 0
    try:
        while (chunk := await queue.get()) is not None:
            lines = chunk.count(b"\n")
            counted += lines
            yield chunk, lines
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            # A COPY cut short leaves the connection mid-protocol: never hand it back to the pool.
            await conn.invalidate()
    copied = int(status[0].split()[-1]) if status else counted
    if copied != counted:
        yield b"", copied - counted
