"""The Starlette application: /graphql (HTTP and WebSocket), /healthz, /readyz."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from cartera.http import GraphQLEndpoint
from cartera.ws import GraphQLWebSocket
from db.engine import create_engine, create_sessionmaker
from resolvers.root import build_schema
from schema.context import AppState
from services.settings import Settings
from subscriptions.broadcast import create_broadcast, ping

log = logging.getLogger("cartera.app")


def create_app(settings: Settings) -> Starlette:
    engine = create_engine(settings.database_url)
    broadcast = create_broadcast(settings.broadcast_url)
    state = AppState(settings=settings, sessionmaker=create_sessionmaker(engine), broadcast=broadcast)
    schema = build_schema(settings)

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
        await broadcast.connect()
        try:
            yield
        finally:
            await broadcast.disconnect()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(schema, state).handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", GraphQLWebSocket(schema, state)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.cartera = state
    app.state.engine = engine
    app.state.schema = schema
    return app
