"""GraphQL over HTTP (POST and GET on /graphql), per the GraphQL-over-HTTP draft spec.

Two response media types: application/json (every GraphQL response is 200, the
legacy behaviour clients rely on) and application/graphql-response+json (request
errors are 400 and carry no `data`). Batching is off.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from resolvers.lifecycle import present_error
from schema.context import AppState, Context
from services.auth import bearer, read_token

log = logging.getLogger("cartera.request")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


class RequestError(Exception):
    """A request that is not a well-formed GraphQL request; no operation runs."""

    def __init__(
        self, message: str, status: int = 400, headers: dict[str, str] | None = None, *, graphql_shaped: bool = True
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        # A body that parsed as JSON but is not a valid GraphQL request keeps 200 under
        # application/json (legacy clients read `errors`); unparseable JSON is a plain 400.
        self.graphql_shaped = graphql_shaped


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


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


def _params(data: Any) -> GraphQLRequest:
    if isinstance(data, list):
        raise RequestError("Batched requests are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError("The `query` parameter must be a non-empty string")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("The `variables` parameter must be an object")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("The `operationName` parameter must be a string")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError("The `extensions` parameter must be an object")
    return GraphQLRequest(query=query, variables=variables, operation_name=operation_name)


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


async def _parse(request: Request, max_body: int) -> GraphQLRequest:
    if request.method == "GET":
        q = request.query_params
        raw_variables = q.get("variables")
        try:
            variables = json.loads(raw_variables) if raw_variables else None
        except ValueError:
            raise RequestError("The `variables` parameter must be URL-encoded JSON") from None
        data: dict[str, Any] = {
            "query": q.get("query"),
            "variables": variables,
            "operationName": q.get("operationName"),
        }
        if q.get("extensions"):
            try:
                data["extensions"] = json.loads(q["extensions"])
            except ValueError:
                raise RequestError("The `extensions` parameter must be URL-encoded JSON") from None
        return _params(data)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise RequestError("Send the request as application/json", status=415)
    body = await _read_body(request, max_body)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError("The request body is not valid JSON", graphql_shaped=False) from None
    return _params(data)


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _respond(payload: dict[str, Any], media: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(_dump(payload), status_code=status, media_type=f"{media}; charset=utf-8", headers=headers)


def _is_request_error(data: Any, errors: list[GraphQLError]) -> bool:
    # Variable coercion failures come back as data=null with errors that have no path.
    return data is None and bool(errors) and all(e.path is None for e in errors)


class GraphQLEndpoint:
    def __init__(self, schema: BaseSchema, app: AppState) -> None:
        self.schema = schema
        self.app = app
        self.ide_html = get_graphql_ide_html(graphql_ide="graphiql")

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or ""
        if not (0 < len(request_id) <= 64 and request_id.isprintable()):
            request_id = uuid.uuid4().hex
        context = Context(app=self.app, request_id=request_id)
        status, outcome = 500, "error"
        try:
            response, outcome = await self._handle(request, context)
            response.headers["x-request-id"] = request_id
            status = response.status_code
            return response
        finally:
            log.info(
                "graphql request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "operation": context.operation_name,
                    "status": status,
                    "outcome": outcome,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _handle(self, request: Request, context: Context) -> tuple[Response, str]:
        settings = self.app.settings
        if request.method not in ("GET", "POST"):
            return Response(status_code=405, headers={"allow": "GET, POST"}), "rejected"
        if _wants_ide(request):
            if not settings.graphiql:
                return Response("GraphiQL is disabled on this server", status_code=404, media_type="text/plain"), "ok"
            return HTMLResponse(self.ide_html), "ok"
        media = _accepted(request)
        if media is None:
            return Response(
                f"Accept {JSON} or {GRAPHQL_RESPONSE}", status_code=406, media_type="text/plain"
            ), "rejected"
        try:
            params = await _parse(request, settings.max_body_bytes)
        except RequestError as error:
            return _request_error(error, media), "rejected"

        token = bearer(request.headers.get("authorization"))
        context.token_user_id = read_token(token, secret_key=settings.secret_key) if token else None
        get = request.method == "GET"
        allowed = (OperationType.QUERY,) if get else (OperationType.QUERY, OperationType.MUTATION)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError as error:
            if get:
                refusal = RequestError("Only queries may be sent with GET; use POST", 405, {"allow": "POST"})
            else:
                refusal = RequestError(f"{error.operation_type.value} operations are served over WebSocket only")
            return _request_error(refusal, media), "rejected"
        except CannotGetOperationTypeError as error:
            return _request_error(RequestError(error.as_http_error_reason()), media), "rejected"

        # Errors raised before execution (the lifecycle's setup: loading the principal, say)
        # never pass through the lifecycle's own presentation; mask and log them here too.
        presented = [present_error(e, context.request_id) for e in result.errors or []]
        errors = [e.formatted for e in presented]
        if isinstance(result, PreExecutionError) or _is_request_error(result.data, result.errors or []):
            # Nothing executed, so there is no `data` entry.
            if any((e.extensions or {}).get("code") == "INTERNAL_SERVER_ERROR" for e in presented):
                return _respond({"errors": errors}, media, 500 if media == GRAPHQL_RESPONSE else 200), "error"
            # A request error.
            status = 400 if media == GRAPHQL_RESPONSE else 200
            return _respond({"errors": errors}, media, status), "rejected"
        payload: dict[str, Any] = {"data": result.data}
        if errors:
            payload["errors"] = errors
        if result.extensions:
            payload["extensions"] = result.extensions
        return _respond(payload, media, 200), "partial" if errors else "ok"


def _request_error(error: RequestError, media: str) -> Response:
    status = error.status
    if media == JSON and status == 400 and error.graphql_shaped:
        status = 200
    return _respond({"errors": [{"message": str(error)}]}, media, status, error.headers)
