"""OpenTelemetry tracing (cartera/tracing.py): a request carrying a `traceparent` is a span of that
trace, and its SQL spans hang under it. Spans go to the SDK's in-memory exporter; skipped
without the `tracing` extra (CI installs it with `dev`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cartera import tracing
from db.models import Role
from tests.conftest import GraphQLClient, Server, post_query, running
from tests.factories import Factory

pytestmark = pytest.mark.one_path("counts the spans of each request, sent once")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
ME = "query TracedMe { me { id name } }"


@pytest.fixture
async def traced(
    database_url: str, server: Server, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Server, GraphQLClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    monkeypatch.setitem(tracing.EXPORTERS, "memory", lambda: exporter)
    try:
        async with running(database_url, tracing="memory", relay_seconds=3600) as (traced_server, client):
            yield traced_server, client, exporter
    finally:
        # The instrumentations patch the process: later tests' servers are not traced.
        tracing.uninstrument()


def spans(server: Server, exporter: InMemorySpanExporter) -> list[Any]:
    server.app.state.tracer_provider.force_flush()
    return list(exporter.get_finished_spans())


async def test_traceparent_is_continued_and_sql_is_traced(
    traced: tuple[Server, GraphQLClient, InMemorySpanExporter], factory: Factory
) -> None:
    server, client, exporter = traced
    admin = await factory.user(Role.ADMIN)

    response = await post_query(client.http, ME, token=factory.token(admin), headers={"traceparent": TRACEPARENT})

    assert response.json()["data"]["me"]["id"]
    finished = spans(server, exporter)
    in_trace = [s for s in finished if format(s.context.trace_id, "032x") == TRACE_ID]
    (request,) = [s for s in in_trace if s.kind is SpanKind.SERVER]
    assert format(request.parent.span_id, "016x") == PARENT_ID
    assert request.parent.is_remote
    assert (request.name, request.attributes["http.target"], request.attributes["http.status_code"]) == (
        "POST /graphql",
        "/graphql",
        200,
    )
    database = [s for s in in_trace if s.kind is SpanKind.CLIENT and _is_database(s)]
    assert database, [(s.name, s.kind, dict(s.attributes or {})) for s in in_trace]
    assert all(s.context.trace_id == request.context.trace_id for s in database)


async def test_a_request_without_traceparent_starts_a_trace(
    traced: tuple[Server, GraphQLClient, InMemorySpanExporter],
) -> None:
    server, client, exporter = traced

    await post_query(client.http, "{ __typename }")

    (request,) = [s for s in spans(server, exporter) if s.kind is SpanKind.SERVER]
    assert request.parent is None
    assert format(request.context.trace_id, "032x") != TRACE_ID


async def test_probes_and_scrapes_are_not_traced(traced: tuple[Server, GraphQLClient, InMemorySpanExporter]) -> None:
    server, client, exporter = traced

    assert (await client.http.get("/healthz")).status_code == 200
    assert (await client.http.get("/metrics")).status_code == 200

    assert [s for s in spans(server, exporter) if s.kind is SpanKind.SERVER] == []


def _is_database(span: Any) -> bool:
    attributes = dict(span.attributes or {})
    return "db.system" in attributes or "db.system.name" in attributes
