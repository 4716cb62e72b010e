"""One strawberry extension for every operation: session, principal, dataloaders, errors, log line.

Setup happens in on_execute, after parsing and validation, so a refused document
runs no SQL at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from db.keyset import PaginationError
from schema.context import Context, OperationState, begin_operation, end_operation
from schema.loaders import Loaders
from schema.node import InvalidGlobalId
from services import audit
from services.errors import DomainError, Unauthenticated
from services.principal import load_principal

log = logging.getLogger("cartera.graphql")


def present_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """Expected failures keep their words and gain a code; anything else is masked and logged."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    if isinstance(original, DomainError):
        first = original.problems[0]
        extensions: dict[str, Any] = {"code": first.code.value}
        if first.field:
            extensions["field"] = first.field
        message = str(original)
    elif isinstance(original, Unauthenticated):
        extensions, message = {"code": "UNAUTHENTICATED"}, str(original)
    elif isinstance(original, (PaginationError, InvalidGlobalId)):
        extensions, message = {"code": "BAD_USER_INPUT"}, str(original)
    else:
        log.error("unexpected error", exc_info=original, extra={"request_id": request_id, "path": error.path})
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        message = f"Unexpected error (request id {request_id})"
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path, None, extensions)


class OperationLifecycle(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ctx: Context = self.execution_context.context
        session = ctx.app.sessionmaker()
        request_token = audit.request_id_var.set(ctx.request_id)
        try:
            principal = await load_principal(session, ctx.token_user_id) if ctx.token_user_id else None
            loaders = Loaders(session, principal, ctx.settings.max_page_size)
            token = begin_operation(OperationState(session=session, principal=principal, loaders=loaders))
            try:
                yield
            finally:
                end_operation(token)
        finally:
            await session.close()
            audit.request_id_var.reset(request_token)

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx: Context = self.execution_context.context
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [present_error(e, ctx.request_id) for e in errors]  # type: ignore[union-attr]
        ctx.operation_name = self.execution_context.operation_name
        if ctx.transport == "ws":
            log.info(
                "graphql operation",
                extra={
                    "request_id": ctx.request_id,
                    "transport": "ws",
                    "operation": ctx.operation_name,
                    "outcome": "partial" if errors else "ok",
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
