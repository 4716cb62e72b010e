"""Root fields for background jobs: your jobs, cancelling one, and the sales export that queues one (S5)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.base import utcnow
from db.keyset import PageRequest
from resolvers.uow import mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.ids import optional_pk, require_pk
from schema.job_types import CancelJobInput, Job, JobPayload
from schema.sales_export_inputs import ExportSalesAttentionsInput, ExportSalesAttentionsPayload
from schema.types import CursorArg, Info, PageArg
from services import jobs, sales_exports
from services.principal import Principal


@strawberry.type
class JobQueries:
    @strawberry.field(description="The background jobs you asked for (exports), newest first.")
    async def my_jobs(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Job] | None:
        ctx = info.context
        principal = ctx.principal
        page = await jobs.list_mine(
            ctx.session,
            principal,
            PageRequest(first=first, after=after, last=last, before=before),
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Job.from_row, lambda: keyset.count(session, jobs.mine(principal)))


@strawberry.type
class JobMutations:
    @strawberry.mutation(
        description=(
            "Stop a job you asked for (admins: any). A QUEUED one is CANCELLED at once; a RUNNING one stops at "
            "its next progress check and is then CANCELLED, leaving no file. A finished one is INVALID."
        )
    )
    async def cancel_job(
        self, info: Info, input: Annotated[CancelJobInput, strawberry.argument(description=docs.INPUT)]
    ) -> JobPayload:
        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await jobs.cancel(session, actor, require_pk(input.id, "Job", "id"))

        return await mutate_into(info.context, work, JobPayload, "job", Job.from_row)

    @strawberry.mutation(
        description=(
            "Export the selected sales attentions as CSV (S5; admins and supervisors): exactly the rows the "
            "panel shows you for that selection, newest first, with the given columns (else the view's, else the "
            "default set). Runs in the background: follow the job (JobProgress in your inbox); when it is done "
            "your notifications hold the download link (GET /files/<id> with your token). UTF-8 with BOM, a "
            "header of column labels, LF line ends."
        )
    )
    async def export_sales_attentions(
        self, info: Info, input: Annotated[ExportSalesAttentionsInput, strawberry.argument(description=docs.INPUT)]
    ) -> ExportSalesAttentionsPayload:
        settings = info.context.settings

        async def work(session: AsyncSession, actor: Principal) -> Any:
            return await sales_exports.request_export(
                session,
                actor,
                selection=input.selection.to_service(),
                view_id=optional_pk(input.view_id, "SalesView", "viewId"),
                columns=[c.to_service() for c in input.columns] if input.columns is not None else None,
                delimiter=input.delimiter,
                zone=settings.zone,
                now=utcnow(),
            )

        return await mutate_into(info.context, work, ExportSalesAttentionsPayload, "job", Job.from_row)
