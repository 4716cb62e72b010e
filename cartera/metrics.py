"""Prometheus metrics, served at CARTERA_METRICS_PATH (default /metrics; empty: not served).

What is counted where it happens, at the cost of a lock and an addition:
- HTTP GraphQL requests by operation and outcome (`cartera.http` calls `observe_request` where it
  writes its log line), their latency and the SQL statements each sent, by the read path that
  answered (compiled or strawberry);
- open WebSocket connections (`cartera.sessions`), live inbox subscriptions and the events they
  were sent, with the lag from the event's commit to its delivery (`subscriptions.feed` watchers);
- connections checked out of each database pool (the pool's checkout/checkin events).
Jobs QUEUED and RUNNING are counted from the jobs table on each scrape: it is the truth for every
process, and a scrape every 15 s costs one indexed count.

Several processes (`cartera serve --workers N`) share one listening socket, so a scrape reaches
any one of them: they then write their values to files under PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, which `cartera serve` sets up) and every scrape adds all
processes' files up. That is why no value here is computed from a process's own state on scrape.

Operation names come from clients: only a document that ran keeps its name, the first
MAX_OPERATION_NAMES names a process meets keep theirs, and the rest count as "(other)".
"""

from __future__ import annotations

import hmac
import os
import tempfile
from collections.abc import Iterable, Iterator, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from schema.context import Context
from services.events import LoggedEvent
from services.settings import Settings

MAX_OPERATION_NAMES = 200
OTHER = "(other)"
ANONYMOUS = "(anonymous)"
REFUSED = "(refused)"

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Our own registry, not prometheus_client's global one: what it serves is exactly this module's.
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "cartera_graphql_requests",
    "GraphQL requests over HTTP, by operation name and outcome (ok, partial, rejected, error).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "cartera_graphql_request_duration_seconds",
    "Time from a GraphQL HTTP request's arrival to its response, by operation name.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
STATEMENTS = Histogram(
    "cartera_graphql_request_statements",
    "SQL statements a GraphQL HTTP request sent (transaction control left out), by the read path that answered.",
    ["read"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
    registry=REGISTRY,
)
WEBSOCKETS = Gauge(
    "cartera_websocket_connections",
    "Open WebSocket connections.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "cartera_live_subscriptions",
    "Live inbox subscriptions.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
DELIVERED = Counter(
    "cartera_events_delivered",
    "Inbox events sent to subscribers: live from the feed, or replayed from the log on resume.",
    ["source"],
    registry=REGISTRY,
)
LAG = Histogram(
    "cartera_event_delivery_lag_seconds",
    "From an event's commit to its delivery to a live subscriber (replays left out).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
POOL_CHECKED_OUT = Gauge(
    "cartera_db_pool_checked_out",
    "Database connections in use, by pool (requests, hub, jobs).",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "cartera_db_pool_size",
    "Connections each pool keeps (more open as overflow under load), by pool.",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# The statement count of the HTTP request this task serves; None elsewhere (workers, the feed).
_statements: ContextVar[list[int] | None] = ContextVar("cartera_statements", default=None)
_names: set[str] = set()


def count_statements() -> list[int]:
    """Count, from now on in this task and the ones it starts, the SQL statements sent."""
    counter = [0]
    _statements.set(counter)
    return counter


def _statement(statement: str) -> None:
    counter = _statements.get()
    if counter is not None and not statement.lstrip()[:9].upper().startswith(_TRANSACTION_CONTROL):
        counter[0] += 1


def _before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    _statement(statement)


def operation_label(name: str | None, outcome: str) -> str:
    """A bounded label: a refused document's name is whatever the client wrote."""
    if outcome == "rejected":
        return REFUSED
    if name is None:
        return ANONYMOUS
    if name in _names:
        return name
    if len(_names) >= MAX_OPERATION_NAMES or len(name) > 100:
        return OTHER
    _names.add(name)
    return name


# Each label combination's metrics, found once: prometheus_client's labels() checks and locks every time.
_children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


def observe_request(context: Context, outcome: str, seconds: float, statements: list[int], read: str | None) -> None:
    """One GraphQL HTTP request answered (cartera.http, beside its log line)."""
    operation = operation_label(context.operation_name, outcome)
    path = read or ("strawberry" if outcome in ("ok", "partial") else "none")
    key = (operation, outcome, path)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(operation, outcome), LATENCY.labels(operation), STATEMENTS.labels(path))
        _children[key] = children
    requests, latency, sent = children
    requests.inc()
    latency.observe(seconds)
    sent.observe(statements[0])


class FeedMetrics:
    """Told by subscriptions.feed of inboxes opening and closing and of each event sent."""

    def inbox_opened(self) -> None:
        SUBSCRIPTIONS.inc()

    def inbox_closed(self) -> None:
        SUBSCRIPTIONS.dec()

    def delivered(self, event: LoggedEvent, *, replayed: bool) -> None:
        if replayed:
            DELIVERED.labels("replay").inc()
            return
        DELIVERED.labels("live").inc()
        occurred = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
        LAG.observe(max((datetime.now(UTC) - occurred).total_seconds(), 0.0))


def watch_engine(engine: AsyncEngine, pool: str) -> None:
    """Count the engine's statements for the request being served, and its pool's connections in use."""
    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", _before_cursor_execute)
    gauge = POOL_CHECKED_OUT.labels(pool)
    event.listen(sync, "checkout", lambda *_: gauge.inc())
    event.listen(sync, "checkin", lambda *_: gauge.dec())
    size = getattr(sync.pool, "size", None)
    if callable(size):
        POOL_SIZE.labels(pool).set(size())


class _Jobs:
    """The jobs table's QUEUED and RUNNING counts, read before the scrape is written."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "cartera_jobs", "Background jobs waiting or running (every process's).", labels=["status"]
        )
        for status in ("QUEUED", "RUNNING"):
            family.add_metric([status.lower()], self.counts.get(status, 0))
        yield family


class _Scrape:
    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


class MetricsEndpoint:
    """GET on the metrics path: this process's metrics (every process's, in multiprocess mode)."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], compiler: Any) -> None:
        self.token = settings.metrics_token
        self.sessionmaker = sessionmaker
        if compiler is not None:
            compiler.listeners.append(_statement)

    async def handle(self, request: Request) -> Response:
        if self.token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
                return PlainTextResponse(
                    "Send the metrics token as a bearer token", status_code=401, headers={"www-authenticate": "Bearer"}
                )
        async with self.sessionmaker() as session:
            rows = await session.execute(
                text("SELECT status, count(*) FROM jobs WHERE status IN ('QUEUED', 'RUNNING') GROUP BY status")
            )
            counts = {status: count for status, count in rows}
        if MULTIPROCESS:
            source: Any = CollectorRegistry()
            MultiProcessCollector(source)  # type: ignore[no-untyped-call]
        else:
            source = REGISTRY
        body = generate_latest(_Scrape(source, _Jobs(counts)))
        return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})


def process_exit() -> None:
    """This process's live gauges leave the sums (multiprocess mode), when it stops cleanly."""
    if MULTIPROCESS:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def routes(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], compiler: Any) -> list[Route]:
    """The metrics route, or none when CARTERA_METRICS_PATH is empty."""
    if settings.metrics_path is None:
        return []
    return [Route(settings.metrics_path, MetricsEndpoint(settings, sessionmaker, compiler).handle, methods=["GET"])]


def prepare_processes(env: MutableMapping[str, str]) -> str:
    """Before `cartera serve` starts several processes: the directory each writes its values to
    (PROMETHEUS_MULTIPROC_DIR, a new temporary one unless set), emptied of a previous run's, as
    prometheus_client requires."""
    directory = env.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="cartera-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return directory
