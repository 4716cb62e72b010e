"""One strawberry extension for every operation: session, principal, dataloaders, errors, log line.

Setup happens in on_execute, after parsing and validation, so a refused document
runs no SQL at all.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, cast

from graphql import GraphQLError, GraphQLInputObjectType, OperationDefinitionNode, get_named_type
from strawberry import Info
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from db.engine import READ_ONLY, SerialSession, lost_connection
from db.keyset import PaginationError
from db.search import SearchTooLong
from schema.context import Context, OperationState, begin_operation, end_operation
from schema.errors import Arguments, current_arguments, dotted, input_path
from schema.loaders import Loaders
from schema.node import InvalidGlobalId
from services import audit
from services.errors import DomainError, Unauthenticated
from services.principal import Principal

log = logging.getLogger("cartera.graphql")
# Strawberry's own refusals of a request. Over HTTP they never reach an error list (the view
# answers them); over WebSocket they arrive as results the transport must see intact, since it
# answers by their type (an unknown operation name closes the socket with 4400).
_REQUEST_REFUSALS = (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError)


def present_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """Expected failures keep their words and gain a code; anything else is masked and logged."""
    original = error.original_error
    if original is None or isinstance(original, (GraphQLError, *_REQUEST_REFUSALS)):
        return error
    if isinstance(original, DomainError):
        first = original.problems[0]
        extensions: dict[str, Any] = {"code": first.code.value}
        if first.field:
            # Already from the field's argument (ArgumentPaths), as a UserError's path is.
            extensions["field"] = first.field
            extensions["path"] = first.field.split(".")
        message = str(original)
    elif isinstance(original, Unauthenticated):
        extensions, message = {"code": "UNAUTHENTICATED"}, str(original)
    elif isinstance(original, (PaginationError, InvalidGlobalId, SearchTooLong)):
        extensions, message = {"code": "BAD_USER_INPUT"}, str(original)
    elif lost_connection(original):
        # Not a bug of ours: the database went away (restart, failover). An HTTP query has
        # already been run again once (cartera.http); a mutation never is.
        log.warning("database connection lost", extra={"request_id": request_id, "error": repr(original)})
        extensions = {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
        message = "The connection to the database was lost; try again"
    else:
        log.error("unexpected error", exc_info=original, extra={"request_id": request_id, "path": error.path})
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        message = f"Unexpected error (request id {request_id})"
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path, None, extensions)


class ArgumentPaths(FieldExtension):
    """Around a root field's resolver: errors name their input by its path from the field's
    argument (UserError.path, `extensions.path`), whatever the service called it.

    Services name inputs relative to what they were given; a path whose first name is one of
    the field's arguments stays, any other is inside the field's one input-object argument.
    resolvers.root adds one to every Query and Mutation field. Subscription fields are left
    out: strawberry subscribes through an async generator, and their arguments are plain.
    Async only: strawberry runs a sync resolver under an async-only extension by wrapping it
    (strawberry.extensions.field_extension.SyncToAsyncExtension).
    """

    def __init__(self) -> None:
        self._arguments: Arguments | None = None

    def _of(self, info: Info[Any, Any]) -> Arguments:
        if self._arguments is None:
            # Strawberry's Info has no public accessor for the GraphQL field's arguments.
            raw = info._raw_info
            args = raw.parent_type.fields[raw.field_name].args
            inputs = [n for n, a in args.items() if isinstance(get_named_type(a.type), GraphQLInputObjectType)]
            self._arguments = Arguments(frozenset(args), inputs[0] if len(inputs) == 1 else None)
        return self._arguments

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        token = current_arguments.set(self._of(info))
        try:
            return await next_(source, info, **kwargs)
        except DomainError as error:
            raise _from_arguments(error) from None
        finally:
            current_arguments.reset(token)


def _from_arguments(error: DomainError) -> DomainError:
    """The same problems, each naming its input by its dotted path from the field's argument."""
    problems = []
    for problem in error.problems:
        problems.append(replace(problem, field=dotted(input_path(problem.field))))
    return DomainError(*problems)


async def principal_of(ctx: Context) -> Principal | None:
    """Who asks, from the process's cache: an operation signed in runs no SQL to know."""
    return await ctx.app.principals.get(ctx.token_user_id) if ctx.token_user_id else None


class OperationLifecycle(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        ctx: Context = self.execution_context.context
        # One id per operation: an HTTP request's own, or a fresh one for each operation on a
        # socket. Audit rows, masked errors and log lines all read it from here.
        request_id = ctx.request_id if ctx.transport == "http" else uuid.uuid4().hex
        token = audit.request_id_var.set(request_id)
        try:
            yield
        finally:
            # Also when the operation raised (a GET mutation, a failure before execution): the log names it.
            ctx.operation_name = self.execution_context.operation_name
            audit.request_id_var.reset(token)
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            if any(lost_connection(e.original_error) for e in errors):
                ctx.lost_connection = True
            result.errors = [present_error(e, request_id) for e in errors]  # type: ignore[union-attr]
        if ctx.transport == "ws":
            log.info(
                "graphql operation",
                extra={
                    "request_id": request_id,
                    "transport": "ws",
                    "operation": ctx.operation_name,
                    "outcome": "partial" if errors else "ok",
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    def on_validate(self) -> Iterator[None]:
        # Strawberry runs the first operation when a document holds several and no
        # operationName says which; the GraphQL spec calls that a request error.
        ctx = self.execution_context
        document = ctx.graphql_document
        if ctx._provided_operation_name is None and document is not None:  # no public accessor
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                error = GraphQLError("Must provide operationName when the document has several operations")
                ctx.pre_execution_errors = [*(ctx.pre_execution_errors or []), error]
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        ctx: Context = self.execution_context.context
        ctx.reading = self.execution_context.operation_type is OperationType.QUERY
        reads = ctx.app.reads if ctx.reading else None
        session = cast(SerialSession, (reads or ctx.app.sessionmaker)())
        if reads is not None:
            session.info[READ_ONLY] = True
        try:
            principal = await principal_of(ctx)
            loaders = Loaders(session, principal, ctx.settings.max_page_size)
            token = begin_operation(OperationState(session=session, principal=principal, loaders=loaders))
            try:
                yield
            finally:
                end_operation(token)
        finally:
            # Closed only if used: closing an unused one cost CPU and nothing else (an operation
            # that runs no SQL, `{ __typename }`, spent a tenth of its time there).
            await session.retire()

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Over WebSocket (Schema.stream) a result is sent before on_operation resumes: present
        # its errors here, or they go out unmasked and without codes. on_operation presenting
        # them again changes nothing: a presented error keeps no original error.
        errors = getattr(result, "errors", None)
        if errors:
            request_id = audit.request_id_var.get() or self.execution_context.context.request_id
            result.errors = [present_error(e, request_id) for e in errors]
        yield
