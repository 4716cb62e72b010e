"""Persistence: SQLAlchemy models, engine, visibility scopes, keyset pagination, migrations."""
