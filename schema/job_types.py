"""Background jobs (services/jobs.py) and the files they make, as the API shows them."""

from datetime import datetime

import strawberry

from db import models
from db.models import JobStatus
from schema import docs
from schema.errors import UserError
from schema.node import Node, to_global_id
from schema.types import Info

docs.enum(
    JobStatus,
    name="JobStatus",
    description="QUEUED → RUNNING → DONE, FAILED or CANCELLED.",
    values={
        "QUEUED": "Waiting for a worker; it survives restarts.",
        "RUNNING": "A worker is on it; if its process dies, another takes it over.",
        "DONE": "Finished: its file, if any, is ready.",
        "FAILED": "Gave up; `error` says why.",
        "CANCELLED": "Stopped by cancelJob.",
    },
)


@strawberry.type(description="A file a job made for you (an export), downloadable until it expires.")
class StoredFile(Node):
    filename: str = strawberry.field(description="The file's name, e.g. the export's CSV.")
    content_type: str = strawberry.field(description="MIME type, e.g. text/csv.")
    size_bytes: float = strawberry.field(description="Bytes (a Float: files may pass 2^31).")
    sha256: str = strawberry.field(description="SHA-256 of the content, hex.")
    url: str = strawberry.field(
        description="GET it with your bearer token (Authorization header); only you and the admins may."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    expires_at: datetime = strawberry.field(description="After this it is deleted (CARTERA_EXPORT_RETENTION_HOURS).")

    @classmethod
    def from_row(cls, row: models.StoredFile) -> "StoredFile":
        return cls(
            id=to_global_id("StoredFile", row.id),
            filename=row.filename,
            content_type=row.content_type,
            size_bytes=float(row.size_bytes),
            sha256=row.sha256,
            url=f"/files/{row.id}",
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@strawberry.type(
    description="Work running in the background (an export): its progress is pushed to you live (JobProgress)."
)
class Job(Node):
    pk: strawberry.Private[int]
    kind: str = strawberry.field(description="What it does: SALES_EXPORT.")
    status: JobStatus = strawberry.field(description="QUEUED, RUNNING, DONE, FAILED or CANCELLED.")
    done_count: int = strawberry.field(description="Rows (or items) done so far.")
    total_count: int | None = strawberry.field(description="Rows (or items) in all; null until it is known.")
    attempts: int = strawberry.field(description="Times a process started it (a process that died counts).")
    cancel_requested: bool = strawberry.field(
        description="Whether cancelJob was asked of a RUNNING job: it stops at its next step, CANCELLED."
    )
    error: str | None = strawberry.field(description="Why it FAILED (or why its last attempt did).")
    created_at: datetime = strawberry.field(description="When it was queued.")
    started_at: datetime | None = strawberry.field(description="When a process first started it; null while QUEUED.")
    finished_at: datetime | None = strawberry.field(description="When it ended; null while not ended.")

    @classmethod
    def from_row(cls, row: models.Job) -> "Job":
        return cls(
            id=to_global_id("Job", row.id),
            pk=row.id,
            kind=row.kind,
            status=JobStatus(row.status),
            done_count=row.done_count,
            total_count=row.total_count,
            attempts=row.attempts,
            cancel_requested=row.cancel_requested,
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @strawberry.field(description="What a DONE job made (an export's CSV); null before, or once it expired.")
    async def file(self, info: Info) -> StoredFile | None:
        row = await info.context.loaders.stored_file_by_job.load(self.pk)
        return StoredFile.from_row(row) if row is not None else None


@strawberry.input(
    description="Cancel one of your jobs (an admin: anyone's): QUEUED ends at once, RUNNING at its next step."
)
class CancelJobInput:
    id: strawberry.ID = strawberry.field(description="The job (yours, or any for an admin).")


@strawberry.type(description="Result of a job mutation.")
class JobPayload:
    job: Job | None = strawberry.field(default=None, description="The job; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
