"""Alembic environment: always handed a live connection by db.migrate."""

from __future__ import annotations

from alembic import context

from db import models  # noqa: F401  (registers the tables on the metadata)
from db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `cartera migrate` (db.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
