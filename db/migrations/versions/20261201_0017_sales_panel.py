"""sales panel: catalogues, commercial attentions, saved views, jobs, stored files, notifications (S1-S6)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)
Folded200 = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
NOTIFICATION_KINDS = (
    "kind IN ('EXPORT_READY', 'EXPORT_FAILED', 'ATTENTIONS_TRANSFERRED', 'CONVERSATION_TRANSFERRED', "
    "'GESTIONES_TRANSFERRED')"
)


def _partial(name: str, table: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "sales_catalog_entries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("search_name", Folded200, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("kind IN ('INTEREST', 'ORIGIN', 'CLOSE_REASON')", name="ck_sales_catalog_entries_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_sales_catalog_entries"),
    )
    op.create_index("uq_sales_catalog_entries_kind_name", "sales_catalog_entries", ["kind", "search_name"], unique=True)

    t = "sales_attentions"
    op.create_table(
        t,
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("interest_id", BigId, nullable=True),
        sa.Column("origin_id", BigId, nullable=True),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("team_id", BigId, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("close_reason_id", BigId, nullable=True),
        sa.Column("pending_since", Stamp, nullable=True),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("closed_at", Stamp, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("status IN ('OPEN', 'PENDING', 'CLOSED')", name="ck_sales_attentions_status"),
        sa.CheckConstraint(
            "(status = 'CLOSED') = (close_reason_id IS NOT NULL AND closed_at IS NOT NULL)",
            name="ck_sales_attentions_closed_has_reason",
        ),
        sa.CheckConstraint(
            "(status = 'PENDING') = (pending_since IS NOT NULL)", name="ck_sales_attentions_pending_since"
        ),
        _fk(t, "contact_id", "contacts"),
        _fk(t, "interest_id", "sales_catalog_entries"),
        _fk(t, "origin_id", "sales_catalog_entries"),
        _fk(t, "agent_id", "users"),
        _fk(t, "team_id", "teams"),
        _fk(t, "close_reason_id", "sales_catalog_entries"),
        _fk(t, "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_sales_attentions"),
    )
    _partial("uq_sales_attentions_open_contact", t, ["contact_id"], "status <> 'CLOSED'", unique=True)
    op.create_index("ix_sales_attentions_created", t, ["created_at", "id"])
    op.create_index("ix_sales_attentions_team_created", t, ["team_id", "created_at", "id"])
    op.create_index("ix_sales_attentions_agent_created", t, ["agent_id", "created_at", "id"])
    op.create_index("ix_sales_attentions_contact_created", t, ["contact_id", "created_at"])

    t = "sales_attention_conversations"
    op.create_table(
        t,
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("attention_id", BigId, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        _fk(t, "conversation_id", "conversations", "CASCADE"),
        _fk(t, "attention_id", "sales_attentions", "CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_sales_attention_conversations"),
    )
    op.create_index("ix_sales_attention_conversations_attention", t, ["attention_id", "conversation_id"])

    t = "sales_views"
    op.create_table(
        t,
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("search_name", Folded200, nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk(t, "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_sales_views"),
    )
    op.create_index("uq_sales_views_user_name", t, ["user_id", "search_name"], unique=True)
    _partial("uq_sales_views_user_default", t, ["user_id"], "is_default", unique=True)

    t = "jobs"
    op.create_table(
        t,
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by_id", BigId, nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("done_count", BigId, nullable=False),
        sa.Column("total_count", BigId, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("started_at", Stamp, nullable=True),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED')", name="ck_jobs_status"),
        _fk(t, "requested_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    _partial("ix_jobs_claimable", t, ["created_at", "id"], "status IN ('QUEUED', 'RUNNING')")
    op.create_index("ix_jobs_requested_by", t, ["requested_by_id", "created_at", "id"])

    t = "stored_files"
    op.create_table(
        t,
        sa.Column("id", BigId, nullable=False),
        sa.Column("owner_id", BigId, nullable=True),
        sa.Column("job_id", BigId, nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", BigId, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        _fk(t, "owner_id", "users", "SET NULL"),
        _fk(t, "job_id", "jobs", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_stored_files"),
        sa.UniqueConstraint("storage_key", name="uq_stored_files_storage_key"),
    )
    op.create_index("ix_stored_files_expires_at", t, ["expires_at"])
    op.create_index("ix_stored_files_job_id", t, ["job_id"])

    t = "notifications"
    op.create_table(
        t,
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("read_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.CheckConstraint(NOTIFICATION_KINDS, name="ck_notifications_kind"),
        _fk(t, "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_user_created", t, ["user_id", "created_at", "id"])
    _partial("ix_notifications_user_unread", t, ["user_id", "created_at", "id"], "read_at IS NULL")


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("stored_files")
    op.drop_table("jobs")
    op.drop_table("sales_views")
    op.drop_table("sales_attention_conversations")
    op.drop_table("sales_attentions")
    op.drop_table("sales_catalog_entries")
