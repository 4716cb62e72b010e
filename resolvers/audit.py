"""Root field for the audit trail (AU2)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db import keyset
from db.keyset import PageRequest
from schema import docs
from schema.connection import Connection, connection
from schema.inputs import AuditEventFilter
from schema.types import AuditEvent, CursorArg, Info, PageArg
from services import audit


@strawberry.type
class AuditQueries:
    @strawberry.field(description="Audit events, newest first (ADMIN: all; SUPERVISOR: its subtrees).")
    async def audit_events(
        self,
        info: Info,
        filter: Annotated[AuditEventFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[AuditEvent] | None:
        ctx = info.context
        page, stmt = await audit.list_events(
            ctx.session,
            ctx.principal,
            audit_filter(filter),
            PageRequest(first=first, after=after, last=last, before=before),
            zone=ctx.settings.zone,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, AuditEvent.from_row, lambda: keyset.count(session, stmt))


def audit_filter(filter: AuditEventFilter | None) -> audit.AuditFilter:
    flt = filter or AuditEventFilter()
    return audit.AuditFilter(
        text=flt.text,
        actions=tuple(flt.actions or ()),
        resource_types=tuple(flt.resource_types or ()),
        period=flt.period,
        since=flt.from_,
        until=flt.to,
    )
