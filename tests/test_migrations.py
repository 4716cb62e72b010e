"""The migrations build exactly the schema the models describe, on each backend."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.base import Base
from db.engine import create_engine


# SQLite cannot reflect expression indexes (lower(email)); alembic says so and skips them.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_migrated_database_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
                    # PostgreSQL-only accelerations (trigram indexes) are absent on SQLite by design.
                    postgres_only = kind == "index" and getattr(obj, "info", {}).get("postgresql_only")
                    return not (postgres_only and sync_conn.dialect.name != "postgresql")

                opts = {"compare_type": True, "include_object": include}
                context = MigrationContext.configure(sync_conn, opts=opts)
                return list(compare_metadata(context, Base.metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
