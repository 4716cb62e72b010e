"""OpenTelemetry tracing, with the `tracing` extra (`pip install 'cartera[tracing]'`), when
CARTERA_TRACING is `otlp` (spans to the collector the standard OTEL_EXPORTER_OTLP_* variables
name) or `console` (spans on standard output, to try it).

The well-kept instrumentations do the work: the ASGI middleware opens a span per request and
WebSocket, continuing the trace a `traceparent` header names; SQLAlchemy's traces every statement
of the app's engines, asyncpg's the compiled reads (sent on asyncpg itself), Redis's the
broadcaster and the shared limits. Imported only when enabled, so the base install needs none of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from services.settings import Settings, SettingsError

# Requests no trace is wanted for: probes and scrapes, every few seconds.
PROBES = ("/healthz", "/readyz")


def _otlp() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _console() -> Any:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


# CARTERA_TRACING's values and the exporter each builds (a test adds an in-memory one).
EXPORTERS: dict[str, Callable[[], Any]] = {"otlp": _otlp, "console": _console}


def install(app: Starlette, settings: Settings, engines: Sequence[AsyncEngine]) -> None:
    if settings.tracing == "off":
        return
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise SettingsError(
            f"CARTERA_TRACING={settings.tracing} needs the tracing extra: pip install 'cartera[tracing]' ({error})"
        ) from None
    # OTEL_SERVICE_NAME, when set, names the service; Resource.create lets given attributes win.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "cartera"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(EXPORTERS[settings.tracing]()))
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    # Each instrumentor patches once per process (the first app's provider), as one process serves one app.
    # Its declared range stops below SQLAlchemy 2.1, whose engine events it listens to are unchanged.
    SQLAlchemyInstrumentor().instrument(
        engines=[e.sync_engine for e in engines], tracer_provider=provider, skip_dep_check=True
    )
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    # One span per request, without one more per ASGI message received and sent.
    excluded = (*PROBES, settings.metrics_path) if settings.metrics_path else PROBES
    app.add_middleware(
        OpenTelemetryMiddleware,
        tracer_provider=provider,
        excluded_urls=",".join(excluded),
        exclude_spans=["receive", "send"],
    )
    app.state.tracer_provider = provider


def uninstrument() -> None:
    """Undo the process-wide patches (a test that traced one app, so that later ones are not)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    for instrumentor in (SQLAlchemyInstrumentor(), asyncpg, RedisInstrumentor()):
        instrumentor.uninstrument()
