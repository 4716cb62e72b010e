"""audit trail: a compact index of each resource's history, and batch entries indexed alone

Every entry a bulk call writes lands at a random place in the index that finds a resource's
history, so a call of 50,000 entries touches most of that index's leaf pages: with a trail of
2,000,000 rows on PostgreSQL 15 (128 MB of shared buffers), inserting 50,000 entries took
1.1 to 1.2 s with the index on (resource_type, resource_id, id) as a trail grows it (128 MB),
0.6 to 1.0 s with the same index freshly built (77 MB), 0.6 to 0.7 s with it on
(resource_type, resource_id) (40 MB: a resource's entries share one key, deduplicated), and
0.3 to 0.45 s with none. Readers of a history (a gestión's, G4) order a few dozen rows by id
themselves; the id in the key saved them that sort and cost every write.

The index of a bulk call's entries held a NULL key for every other event of the trail (92 MB);
it now holds only entries (batch_id IS NOT NULL), which is all that looks them up.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

IN_A_BATCH = sa.text("batch_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_audit_events_resource", table_name="audit_events")
    op.create_index("ix_audit_events_resource", "audit_events", ["resource_type", "resource_id"])
    op.drop_index("ix_audit_events_batch_id", table_name="audit_events")
    op.create_index(
        "ix_audit_events_batch_id",
        "audit_events",
        ["batch_id", "id"],
        postgresql_where=IN_A_BATCH,
        sqlite_where=IN_A_BATCH,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_batch_id", table_name="audit_events")
    op.create_index("ix_audit_events_batch_id", "audit_events", ["batch_id", "id"])
    op.drop_index("ix_audit_events_resource", table_name="audit_events")
    op.create_index("ix_audit_events_resource", "audit_events", ["resource_type", "resource_id", "id"])
