"""gestiones: typologies and their results, campaigns and operators, gestiones, comments, attachments

Also the event log's manager_team_ids: events for the admins and supervisors of some teams
but not for those teams' agents (an operator's work is not the whole team's business).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)

PLAN = "planNumber", "Plan number", "TEXT", True
PRODUCT = "product", "Product", "TEXT", True
# The typologies shipped (G1): code, name, plan fields (key, label, type, required), results
# (code, label, finishes, requires a comment).
TYPOLOGIES = [
    (
        "COLLECTIONS",
        "Collections (arrears)",
        [
            PLAN,
            PRODUCT,
            ("instalmentsOverdue", "Instalments overdue", "NUMBER", True),
            ("amountDue", "Amount due", "NUMBER", True),
            ("dueDate", "Due date", "DATE", True),
        ],
        [
            ("PAID", "Paid", True, False),
            ("PROMISE_TO_PAY", "Promise to pay", True, True),
            ("PAYMENT_PLAN_AGREED", "Payment plan agreed", True, True),
            ("REFUSES_TO_PAY", "Refuses to pay", True, True),
            ("WRONG_NUMBER", "Wrong number", True, False),
            ("NO_ANSWER", "No answer", False, False),
            ("CALL_BACK", "Call back later", False, True),
        ],
    ),
    (
        "SCORING",
        "Scoring of new plans",
        [
            PLAN,
            PRODUCT,
            ("amount", "Amount", "NUMBER", True),
            ("startDate", "Start date", "DATE", False),
        ],
        [
            ("APPROVED", "Approved", True, False),
            ("REJECTED", "Rejected", True, True),
            ("DOCUMENTS_MISSING", "Documents missing", False, True),
            ("NO_ANSWER", "No answer", False, False),
        ],
    ),
    (
        "BID_INVITATION",
        "Bid invitation",
        [
            PLAN,
            PRODUCT,
            ("group", "Group", "TEXT", True),
            ("bidDate", "Bid date", "DATE", True),
            ("minimumBid", "Minimum bid", "NUMBER", False),
        ],
        [
            ("WILL_BID", "Will bid", True, False),
            ("NOT_INTERESTED", "Not interested", True, True),
            ("ALREADY_AWARDED", "Already awarded", True, False),
            ("NO_ANSWER", "No answer", False, False),
            ("CALL_BACK", "Call back later", False, True),
        ],
    ),
]


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch copy: on SQLite the copy drops AUTOINCREMENT, and pruned
    # event ids would then be given out again (a resuming subscriber would miss events).
    op.add_column("events", sa.Column("manager_team_ids", sa.JSON(), nullable=False, server_default="[]"))

    typologies = op.create_table(
        "typologies",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("plan_fields", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_typologies"),
        sa.UniqueConstraint("code", name="uq_typologies_code"),
    )
    results = op.create_table(
        "typology_results",
        sa.Column("id", BigId, nullable=False),
        sa.Column("typology_id", BigId, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("finishes", sa.Boolean(), nullable=False),
        sa.Column("requires_comment", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["typology_id"], ["typologies.id"], name="fk_typology_results_typology_id_typologies"),
        sa.PrimaryKeyConstraint("id", name="pk_typology_results"),
    )
    op.create_index("uq_typology_results_typology_code", "typology_results", ["typology_id", "code"], unique=True)

    op.create_table(
        "campaigns",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("search_name", sa.String(200), nullable=False),
        sa.Column("typology_id", BigId, nullable=False),
        sa.Column("team_id", BigId, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("status IN ('DRAFT', 'ACTIVE', 'PAUSED', 'CLOSED')", name="ck_campaigns_status"),
        sa.CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="ck_campaigns_dates"),
        sa.ForeignKeyConstraint(["typology_id"], ["typologies.id"], name="fk_campaigns_typology_id_typologies"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_campaigns_team_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_name_id", "campaigns", ["name", "id"])
    op.create_index("ix_campaigns_team_id", "campaigns", ["team_id"])

    op.create_table(
        "campaign_operators",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_operators_campaign_id_campaigns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_campaign_operators_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name="pk_campaign_operators"),
    )
    op.create_index("ix_campaign_operators_user_id", "campaign_operators", ["user_id"])

    op.create_table(
        "gestiones",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("operator_id", BigId, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result_id", BigId, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", Stamp, nullable=True),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("status IN ('PENDING', 'IN_PROGRESS', 'FINISHED')", name="ck_gestiones_status"),
        sa.CheckConstraint("status = 'PENDING' OR operator_id IS NOT NULL", name="ck_gestiones_worked_by_operator"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name="fk_gestiones_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_gestiones_contact_id_contacts"),
        sa.ForeignKeyConstraint(["operator_id"], ["users.id"], name="fk_gestiones_operator_id_users"),
        sa.ForeignKeyConstraint(["result_id"], ["typology_results.id"], name="fk_gestiones_result_id_typology_results"),
        sa.PrimaryKeyConstraint("id", name="pk_gestiones"),
    )
    op.create_index(
        "uq_gestiones_open_contact",
        "gestiones",
        ["campaign_id", "contact_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'FINISHED'"),
        postgresql_where=sa.text("status <> 'FINISHED'"),
    )
    op.create_index(
        "ix_gestiones_operator_queue",
        "gestiones",
        ["operator_id", sa.text("priority DESC"), "attempts", "id"],
        sqlite_where=sa.text("status = 'PENDING'"),
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_gestiones_campaign_pool",
        "gestiones",
        ["campaign_id", sa.text("priority DESC"), "attempts", "id"],
        sqlite_where=sa.text("status = 'PENDING' AND operator_id IS NULL"),
        postgresql_where=sa.text("status = 'PENDING' AND operator_id IS NULL"),
    )
    op.create_index("ix_gestiones_campaign_id", "gestiones", ["campaign_id", "id"])
    op.create_index("ix_gestiones_operator_id", "gestiones", ["operator_id", "id"])
    op.create_index("ix_gestiones_contact_id", "gestiones", ["contact_id"])

    op.create_table(
        "gestion_comments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("gestion_id", BigId, nullable=False),
        sa.Column("author_id", BigId, nullable=True),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["gestion_id"], ["gestiones.id"], name="fk_gestion_comments_gestion_id_gestiones", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_gestion_comments_author_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_gestion_comments"),
    )
    op.create_index("ix_gestion_comments_gestion_id", "gestion_comments", ["gestion_id", "id"])

    op.create_table(
        "gestion_attachments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("gestion_id", BigId, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", BigId, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("uploaded_by_id", BigId, nullable=True),
        sa.Column("uploaded_by_name", sa.String(200), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["gestion_id"], ["gestiones.id"], name="fk_gestion_attachments_gestion_id_gestiones", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name="fk_gestion_attachments_uploaded_by_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_gestion_attachments"),
        sa.UniqueConstraint("storage_key", name="uq_gestion_attachments_storage_key"),
    )
    op.create_index("ix_gestion_attachments_gestion_id", "gestion_attachments", ["gestion_id", "id"])

    for typology, outcomes in shipped(datetime.now(UTC)):
        op.bulk_insert(typologies, [typology])
        typology_id = (
            op.get_bind()
            .execute(sa.text("SELECT id FROM typologies WHERE code = :c"), {"c": typology["code"]})
            .scalar()
        )
        op.bulk_insert(results, [{**r, "typology_id": typology_id} for r in outcomes])


def shipped(now: datetime) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each shipped typology's row and its results' rows (without typology_id); the tests reload them."""
    return [
        (
            {
                "code": code,
                "name": name,
                "plan_fields": [
                    {"key": key, "label": label, "type": kind, "options": [], "required": required}
                    for key, label, kind, required in fields
                ],
                "active": True,
                "created_at": now,
                "updated_at": now,
            },
            [
                {
                    "code": result,
                    "label": label,
                    "finishes": finishes,
                    "requires_comment": comment,
                    "position": position,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for position, (result, label, finishes, comment) in enumerate(outcomes)
            ],
        )
        for code, name, fields, outcomes in TYPOLOGIES
    ]


def downgrade() -> None:
    op.drop_table("gestion_attachments")
    op.drop_table("gestion_comments")
    op.drop_table("gestiones")
    op.drop_table("campaign_operators")
    op.drop_table("campaigns")
    op.drop_table("typology_results")
    op.drop_table("typologies")
    op.drop_column("events", "manager_team_ids")
