"""ASGI factory for uvicorn workers: `uvicorn --factory cartera.asgi:create`."""

from __future__ import annotations

from starlette.applications import Starlette

from cartera import logs
from cartera.app import create_app
from services.settings import Settings


def create() -> Starlette:
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return create_app(settings)
