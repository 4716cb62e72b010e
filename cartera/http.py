"""GraphQL over HTTP (POST and GET on /graphql), per the GraphQL-over-HTTP draft spec.

Two response media types: application/json (every GraphQL response is 200, the
legacy behaviour clients rely on) and application/graphql-response+json (request
errors are 400 and carry no `data`). Batching is off.

File uploads (G7) come as multipart/form-data POSTs per the GraphQL multipart request
spec (`operations`, `map`, then the files), mutations only, and only with the CSRF header
(`X-Cartera-CSRF`): a browser sends a custom header only after a CORS preflight, so a
cross-site form cannot post one.

Automatic persisted queries (cartera/persisted_queries.py): a request may carry its query's
hash alone; the endpoint puts the stored text in `query` before either read path runs.
A successful GET query may be kept by the browser for CARTERA_GET_MAX_AGE_SECONDS (`private`,
varying by Authorization and Accept: the answer is the token's); every other response is
`no-store`, errors above all (a kept PERSISTED_QUERY_NOT_FOUND would never let a hash work).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from graphql import GraphQLError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from cartera import graphiql, metrics, wire
from cartera.persisted_queries import (
    PersistedQueries,
    PersistedQuery,
    PersistedQueryRequestError,
    requested,
    sha256_of,
)
from db.engine import lost_connection
from resolvers.attachments import CSRF_HEADER
from resolvers.compiled import ReadCompiler
from resolvers.lifecycle import present_error
from schema.context import AppState, Context
from services.auth import bearer, read_token
from services.settings import Settings

log = logging.getLogger("cartera.request")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MULTIPART = "multipart/form-data"
# What a multipart request may carry beyond its files' bytes: the boundaries, part headers,
# `operations` and `map`.
MULTIPART_OVERHEAD = 64 * 1024
MAX_UPLOAD_FILES = 10


class RequestError(Exception):
    """A request that is not a well-formed GraphQL request; no operation runs."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        *,
        graphql_shaped: bool = True,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        # A body that parsed as JSON but is not a valid GraphQL request keeps 200 under
        # application/json (legacy clients read `errors`); unparseable JSON is a plain 400.
        self.graphql_shaped = graphql_shaped
        self.code = code


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    # A multipart request's parsed form: its files are spooled until the request ends.
    form: FormData | None = None
    # The persisted query `extensions` names; with the hash alone, `query` is "" until
    # GraphQLEndpoint.recall reads its text from the store.
    persisted: PersistedQuery | None = None


def _accepted(request: Request) -> str | None:
    """The response media type the client prefers, or None when we offer none it accepts."""
    header = request.headers.get("accept")
    if not header:
        return JSON
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(header.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            offer = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            offer = JSON
        else:
            continue
        if quality <= 0:
            continue
        # Highest quality wins; on a tie, the first listed.
        candidate = (quality, -index, offer)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else None


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def _params(data: Any, form: FormData | None = None) -> GraphQLRequest:
    if isinstance(data, list):
        raise RequestError("Batched requests are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object")
    query = data.get("query")
    extensions = data.get("extensions")
    hash_only = query is None or query == ""
    try:
        persisted = requested(extensions, with_query=not hash_only) if isinstance(extensions, dict) else None
    except PersistedQueryRequestError as error:
        raise RequestError(str(error), code="BAD_USER_INPUT") from None
    if persisted is not None and hash_only:
        query = ""
    elif not isinstance(query, str) or not query.strip():
        raise RequestError("The `query` parameter must be a non-empty string")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("The `variables` parameter must be an object")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("The `operationName` parameter must be a string")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError("The `extensions` parameter must be an object")
    return GraphQLRequest(
        query=query, variables=variables, operation_name=operation_name, form=form, persisted=persisted
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"Request body larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"Request body larger than {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _limited(request: Request, limit: int) -> Request:
    """The request, reading whose body past `limit` bytes raises 413 (the form parser streams it)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise RequestError(f"Request body larger than {limit} bytes", status=413)
        return message

    return Request(request.scope, receive)


def _decode(raw: str | bytes, max_depth: int, invalid: str, *, graphql_shaped: bool = True, name: str = "") -> Any:
    """JSON from the request through the one reader every transport uses (cartera.wire); when it is
    not JSON at all, a RequestError saying `invalid`."""
    try:
        return wire.decode(raw, max_depth=max_depth, name=name)
    except wire.UnusableJSON as error:
        raise RequestError(str(error), graphql_shaped=False, code="BAD_USER_INPUT") from None
    except ValueError:
        raise RequestError(invalid, graphql_shaped=graphql_shaped) from None


def _json_field(form: FormData, name: str, max_depth: int) -> Any:
    raw = form.get(name)
    if not isinstance(raw, str):
        raise RequestError(f"The multipart request needs an `{name}` field first", graphql_shaped=False)
    invalid = f"The multipart `{name}` field is not valid JSON"
    return _decode(raw, max_depth, invalid, graphql_shaped=False, name="" if name == "operations" else name)


async def _parse_multipart(request: Request, max_fields_bytes: int, max_upload: int, max_depth: int) -> GraphQLRequest:
    if not request.headers.get(CSRF_HEADER):
        raise RequestError(
            f"Multipart requests must carry the header `{CSRF_HEADER}: 1` (CSRF protection)", graphql_shaped=False
        )
    limit = max_upload + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"Request body larger than {limit} bytes", status=413)
    try:
        form = await _limited(request, limit).form(
            max_files=MAX_UPLOAD_FILES, max_fields=2, max_part_size=max_fields_bytes
        )
    except (MultiPartException, HTTPException) as error:
        detail = error.message if isinstance(error, MultiPartException) else error.detail
        raise RequestError(f"Unable to parse the multipart body: {detail}", graphql_shaped=False) from None
    try:
        operations = _json_field(form, "operations", max_depth)
        files_map = _json_field(form, "map", max_depth)
        if not isinstance(operations, dict):
            raise RequestError("The multipart `operations` field must be one operation (an object)")
        if not isinstance(files_map, dict) or not all(
            isinstance(paths, list) and all(isinstance(p, str) and p.startswith("variables.") for p in paths)
            for paths in files_map.values()
        ):
            raise RequestError(
                'The multipart `map` must map each file to a list of paths into variables ("variables.…")',
                graphql_shaped=False,
            )
        files = {name: value for name, value in form.multi_items() if isinstance(value, UploadFile)}
        try:
            data = replace_placeholders_with_files(operations, files_map, files)
        except KeyError:
            raise RequestError("A file named in `map` is not in the body", graphql_shaped=False) from None
        except (IndexError, TypeError, ValueError):
            raise RequestError("A path in `map` does not lead into `variables`", graphql_shaped=False) from None
        return _params(data, form)
    except BaseException:
        await form.close()
        raise


async def _parse(request: Request, settings: Settings) -> GraphQLRequest:
    depth = settings.max_json_depth
    if request.method == "GET":
        q = request.query_params
        data: dict[str, Any] = {"query": q.get("query"), "operationName": q.get("operationName")}
        # The URL's own text is valid Unicode (Starlette replaces what is not); its JSON may not be.
        for name in ("variables", "extensions"):
            if q.get(name):
                data[name] = _decode(q[name], depth, f"The `{name}` parameter must be URL-encoded JSON", name=name)
        return _params(data)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == MULTIPART:
        return await _parse_multipart(request, settings.max_body_bytes, settings.max_attachment_bytes, depth)
    if content_type != JSON:
        raise RequestError("Send the request as application/json", status=415)
    body = await _read_body(request, settings.max_body_bytes)
    return _params(_decode(body, depth, "The request body is not valid JSON", graphql_shaped=False))


def request_id_of(request: Request) -> str:
    """The client's X-Request-ID when it is a short printable one, else a new id."""
    request_id = request.headers.get("x-request-id") or ""
    return request_id if 0 < len(request_id) <= 64 and request_id.isprintable() else uuid.uuid4().hex


def respond(payload: dict[str, Any], media: str, status: int, headers: dict[str, str] | None = None) -> Response:
    body = wire.encode(payload)
    return Response(body, status_code=status, media_type=f"{media}; charset=utf-8", headers=headers)


def _is_request_error(data: Any, errors: list[GraphQLError]) -> bool:
    # Variable coercion failures come back as data=null with errors that have no path.
    return data is None and bool(errors) and all(e.path is None for e in errors)


class GraphQLEndpoint:
    def __init__(self, schema: BaseSchema, app: AppState) -> None:
        self.schema = schema
        self.app = app
        self.ide_html = graphiql.page_html()
        # None: every operation runs through strawberry (SQLite, or CARTERA_COMPILED_READS=false).
        self.compiler = (
            ReadCompiler(schema, app) if app.settings.compiled_reads and not app.settings.is_sqlite else None
        )
        # None: CARTERA_PERSISTED_QUERIES=false.
        self.persisted = PersistedQueries(app.settings.redis_url) if app.settings.persisted_queries else None
        max_age = app.settings.get_max_age_seconds
        # What a successful GET query's answer says; nothing (so no-store) when the setting is 0.
        self.cacheable = (
            {"cache-control": f"private, max-age={max_age}", "vary": "Authorization, Accept"} if max_age else {}
        )

    async def close(self) -> None:
        if self.persisted is not None:
            await self.persisted.close()

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        host = request.client.host if request.client else None
        context = Context(app=self.app, request_id=request_id, client_host=host)
        statements = metrics.count_statements()
        status, outcome, read = 500, "error", None
        try:
            response, outcome = await self._handle(request, context)
            response.headers["x-request-id"] = request_id
            response.headers.setdefault("cache-control", "no-store")
            status, read = response.status_code, response.headers.get("x-cartera-read")
            return response
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(context, outcome, elapsed, statements, read)
            log.info(
                "graphql request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "operation": context.operation_name,
                    "status": status,
                    "outcome": outcome,
                    "user_id": context.token_user_id,
                    "client": host,
                    "statements": statements[0],
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    async def _handle(self, request: Request, context: Context) -> tuple[Response, str]:
        settings = self.app.settings
        if request.method not in ("GET", "POST"):
            return Response(status_code=405, headers={"allow": "GET, POST"}), "rejected"
        if _wants_ide(request):
            if not settings.graphiql:
                return Response("GraphiQL is disabled on this server", status_code=404, media_type="text/plain"), "ok"
            return HTMLResponse(self.ide_html, headers=graphiql.PAGE_HEADERS), "ok"
        media = _accepted(request)
        if media is None:
            return Response(
                f"Accept {JSON} or {GRAPHQL_RESPONSE}", status_code=406, media_type="text/plain"
            ), "rejected"
        try:
            params = await _parse(request, settings)
        except RequestError as error:
            return _request_error(error, media), "rejected"
        try:
            try:
                params = await self.recall(params)
            except RequestError as error:
                return _request_error(error, media), "rejected"
            return await self._execute(request, context, params, media)
        finally:
            if params.form is not None:
                await params.form.close()

    async def recall(self, params: GraphQLRequest) -> GraphQLRequest:
        """The request with its persisted query's text in `query`; `persisted` stays set only
        when the text came with its hash, checked, to be kept once it validates."""
        asked = params.persisted
        if asked is None:
            return params
        # Apollo's link retries on these two, sending the query; they are the protocol's next
        # step, not a malformed request, so 200 under either media type (a 400 would make the
        # link turn persisted queries off for good).
        if self.persisted is None:
            if asked.with_query:
                return replace(params, persisted=None)
            raise RequestError("PersistedQueryNotSupported", status=200, code="PERSISTED_QUERY_NOT_SUPPORTED")
        if asked.with_query:
            if sha256_of(params.query) != asked.sha256:
                raise RequestError(
                    "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query sent",
                    code="PERSISTED_QUERY_HASH_MISMATCH",
                )
            return params
        text = await self.persisted.get(asked.sha256)
        if text is None:
            raise RequestError("PersistedQueryNotFound", status=200, code="PERSISTED_QUERY_NOT_FOUND")
        return replace(params, query=text, persisted=None)

    async def _remember(self, params: GraphQLRequest) -> None:
        """Keep a persisted query's text sent with its hash, once it parsed and validated."""
        if self.persisted is not None and params.persisted is not None:
            await self.persisted.put(params.persisted.sha256, params.query)

    async def _execute(
        self, request: Request, context: Context, params: GraphQLRequest, media: str
    ) -> tuple[Response, str]:
        settings = self.app.settings

        token = bearer(request.headers.get("authorization"))
        context.token_user_id = read_token(token, secret_key=settings.secret_key) if token else None
        get = request.method == "GET"
        # A client (the differential tests, an operator comparing) may ask for strawberry's answer.
        compile = request.headers.get("x-cartera-read") != "strawberry"
        if params.form is not None:
            allowed: tuple[OperationType, ...] = (OperationType.MUTATION,)
        elif get:
            allowed = (OperationType.QUERY,)
        else:
            allowed = (OperationType.QUERY, OperationType.MUTATION)
        try:
            # A query that met a dead connection runs once more: SQLAlchemy has invalidated the
            # pool's connections as old as that one, so this run connects afresh. A query
            # changed nothing, so running it again is safe; a mutation is never run twice.
            for again in (True, False):
                context.reading = context.lost_connection = False
                if self.compiler is not None and compile and params.form is None:
                    try:
                        body = await self.compiler.run(context, params.query, params.variables, params.operation_name)
                    except Exception as error:
                        if again and lost_connection(error):
                            continue
                        raise
                    if body is not None:
                        await self._remember(params)
                        headers = {"x-cartera-read": "compiled", **(self.cacheable if get else {})}
                        return Response(body, media_type=f"{media}; charset=utf-8", headers=headers), "ok"
                result = await self.schema.execute(
                    params.query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=allowed,
                )
                lost = context.lost_connection or any(lost_connection(e.original_error) for e in result.errors or [])
                if not (again and lost and context.reading):
                    break
                log.info(
                    "a query met a dead database connection; running it again", extra={"request_id": context.request_id}
                )
        except InvalidOperationTypeError as error:
            if get:
                refusal = RequestError("Only queries may be sent with GET; use POST", 405, {"allow": "POST"})
            elif params.form is not None:
                refusal = RequestError("Only mutations may be sent as multipart; send queries as application/json")
            else:
                refusal = RequestError(f"{error.operation_type.value} operations are served over WebSocket only")
            return _request_error(refusal, media), "rejected"
        except CannotGetOperationTypeError as error:
            return _request_error(RequestError(error.as_http_error_reason()), media), "rejected"

        if not isinstance(result, PreExecutionError):
            await self._remember(params)
        payload, outcome = result_payload(result, context.request_id)
        if outcome in ("error", "rejected"):
            # Nothing executed: an internal failure setting it up, or a request error.
            status = (500 if outcome == "error" else 400) if media == GRAPHQL_RESPONSE else 200
            return respond(payload, media, status), outcome
        return respond(payload, media, 200, self.cacheable if get and outcome == "ok" else None), outcome


def result_payload(result: ExecutionResult, request_id: str) -> tuple[dict[str, Any], str]:
    """An operation's result as a response (HTTP's, and each of an event stream's messages), and its
    outcome: "error" or "rejected" when nothing executed (no `data` entry), else "partial" or "ok"."""
    # Errors raised before execution (the lifecycle's setup: loading the principal, say)
    # never pass through the lifecycle's own presentation; mask and log them here too.
    presented = [present_error(e, request_id) for e in result.errors or []]
    errors = [e.formatted for e in presented]
    if isinstance(result, PreExecutionError) or _is_request_error(result.data, result.errors or []):
        internal = any((e.extensions or {}).get("code") == "INTERNAL_SERVER_ERROR" for e in presented)
        return {"errors": errors}, "error" if internal else "rejected"
    payload: dict[str, Any] = {"data": result.data}
    if errors:
        payload["errors"] = errors
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload, "partial" if errors else "ok"


def _request_error(error: RequestError, media: str) -> Response:
    status = error.status
    if media == JSON and status == 400 and error.graphql_shaped:
        status = 200
    refusal: dict[str, Any] = {"message": str(error)}
    if error.code:
        refusal["extensions"] = {"code": error.code}
    return respond({"errors": [refusal]}, media, status, error.headers)
