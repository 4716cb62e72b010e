"""contact search by relevance tiers: folded keys compare bytewise, first-name index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A prefix is an index range only where strings compare bytewise; the database's
        # language collation ignores punctuation. The indexes on these columns are rebuilt.
        op.execute(
            'ALTER TABLE contacts ALTER COLUMN search_name TYPE varchar(401) COLLATE "C", '
            'ALTER COLUMN sort_name TYPE varchar(401) COLLATE "C"'
        )
    op.create_index("ix_contacts_search_name", "contacts", ["search_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_contacts_search_name", table_name="contacts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            'ALTER TABLE contacts ALTER COLUMN search_name TYPE varchar(401) COLLATE "default", '
            'ALTER COLUMN sort_name TYPE varchar(401) COLLATE "default"'
        )
