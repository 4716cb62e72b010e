"""The Starlette application: /graphql (HTTP and WebSocket), /attachments/{id}, /files/{id}, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from cartera import compression, cors, metrics, tracing
from cartera.collector import collect_on_schedule, sweep_files_on_schedule
from cartera.downloads import AttachmentDownloads, FileDownloads
from cartera.graphiql import ASSETS_PATH, Assets
from cartera.http import GraphQLEndpoint
from cartera.sessions import WebSocketSessions
from cartera.sse import GraphQLEventStream
from cartera.ws import GraphQLWebSocket
from db.engine import create_engine, create_sessionmaker
from resolvers.root import build_schema
from schema.context import AppState
from services import sales_exports  # noqa: F401  (registers its job kind)
from services.attachment_store import LocalDiskStore
from services.job_worker import Worker
from services.jobs import Runtime
from services.principal import PrincipalCache
from services.settings import Settings
from services.sign_in_limits import SignInLimits
from subscriptions.broadcast import ping
from subscriptions.hub import Hub, HubSettings

log = logging.getLogger("cartera.app")


def hub_settings(settings: Settings) -> HubSettings:
    return HubSettings(
        broadcast_url=settings.broadcast_url,
        inbox_queue=settings.inbox_queue,
        poll_seconds=settings.event_poll_seconds,
        relay_seconds=settings.relay_seconds,
        retention=timedelta(hours=settings.event_retention_hours),
        presence_grace=timedelta(seconds=settings.presence_grace_seconds),
    )


def create_app(settings: Settings) -> Starlette:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)
    # Its own small pool: the feed, the relay and presence never wait behind requests, nor
    # requests behind them.
    hub_engine = create_engine(settings.database_url, pool_size=2, max_overflow=4)
    hub = Hub(create_sessionmaker(hub_engine), hub_settings(settings))
    # An object store would be built here instead (services.attachment_store.AttachmentStore).
    store = LocalDiskStore(settings.attachments_root)
    sign_ins = SignInLimits.from_settings(settings)
    state = AppState(
        settings=settings,
        sessionmaker=sessionmaker,
        hub=hub,
        attachments=store,
        sign_ins=sign_ins,
        principals=PrincipalCache(sessionmaker),
        # A query operation's statements each see what was committed before they began, in a
        # transaction or not (READ COMMITTED): without one there is no BEGIN and no ROLLBACK,
        # two round trips of every read. Same pool; nothing is written through these
        # (resolvers.uow refuses). SQLite keeps its transactions.
        reads=None
        if settings.is_sqlite
        else create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT")),
    )
    # Other processes' changes of access reach this one's principals through the feed.
    hub.feed.access_listeners.append(state.principals.forget)
    schema = build_schema(settings)
    # Their own pool too: a job's long statement (an export's COPY) and its progress writes
    # never take a connection requests wait for.
    jobs_engine = create_engine(settings.database_url, pool_size=2 * max(1, settings.job_workers), max_overflow=4)
    runtime = Runtime(
        sessionmaker=create_sessionmaker(jobs_engine),
        announce=hub.announce,
        resources={"settings": settings, "store": store},
        lease_seconds=settings.job_lease_seconds,
        max_attempts=settings.job_max_attempts,
        poll_seconds=settings.job_poll_seconds,
        progress_seconds=settings.job_progress_seconds,
    )
    for pool, pooled in (("requests", engine), ("hub", hub_engine), ("jobs", jobs_engine)):
        metrics.watch_engine(pooled, pool)
    hub.feed.watchers.append(metrics.FeedMetrics())
    workers = [Worker(runtime, woken_by=engine.sync_engine) for _ in range(settings.job_workers)]

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(3):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001  (any failure means not ready; say which)
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(3):
                await ping(settings.broadcast_url)
            checks["broadcast"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broadcast"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await hub.start()
        collector = asyncio.create_task(collect_on_schedule(settings.gc_seconds), name="cartera-collector")
        # On the jobs' pool, as the jobs are: background work never takes a connection a request
        # waits for (nor shows among a request's statements: CI once counted a sweep in one).
        sweeper = asyncio.create_task(
            sweep_files_on_schedule(runtime.sessionmaker, store, settings.file_sweep_seconds),
            name="cartera-file-sweeper",
        )
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            collector.cancel()
            sweeper.cancel()
            for worker in workers:
                await worker.stop()
            await hub.stop()
            await sign_ins.close()
            await endpoint.close()
            await hub_engine.dispose()
            await jobs_engine.dispose()
            await engine.dispose()
            metrics.process_exit()

    endpoint = GraphQLEndpoint(schema, state)
    app = Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", WebSocketSessions(GraphQLWebSocket(schema, state))),
            Route(
                "/graphql/stream", GraphQLEventStream(schema, state, endpoint.recall).handle, methods=["GET", "POST"]
            ),
            Route("/attachments/{id:int}", AttachmentDownloads(state).handle, methods=["GET"]),
            Route("/files/{id:int}", FileDownloads(state).handle, methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *metrics.routes(settings, sessionmaker, endpoint.compiler),
        ],
        lifespan=lifespan,
        middleware=compression.middleware(settings),
    )
    if settings.graphiql:
        app.mount(ASSETS_PATH, Assets())
    cors.install(app, settings)
    app.state.cartera = state
    app.state.engine = engine
    app.state.schema = schema
    app.state.endpoint = endpoint
    app.state.hub = hub
    app.state.workers = workers
    tracing.install(app, settings, [engine, hub_engine, jobs_engine])
    return app
