"""contacts: companies, document types, custom fields, contacts, channels, addresses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)

# The document types Cartera ships (C6); admins add or change them through the API.
DOCUMENT_TYPES = [
    ("DNI", "DNI (Argentina)", r"\d{7,8}", "NONE"),
    ("CUIT", "CUIT (Argentina)", r"(20|23|24|27|30|33|34)\d{9}", "CUIT"),
    ("CUIL", "CUIL (Argentina)", r"(20|23|24|27)\d{9}", "CUIT"),
    ("RUC", "RUC (Perú)", r"(10|15|16|17|20)\d{9}", "RUC_PE"),
    ("CPF", "CPF (Brasil)", r"\d{11}", "CPF"),
    ("CI_UY", "Cédula de identidad (Uruguay)", r"\d{7,8}", "CI_UY"),
    ("RUT", "RUT (Chile)", r"\d{7,8}[0-9K]", "RUT_CL"),
    ("PASSPORT", "Pasaporte", r"[A-Z0-9]{6,12}", "NONE"),
]


def _stamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", Stamp, nullable=False), sa.Column("updated_at", Stamp, nullable=False)]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "companies",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tax_id", sa.String(32), nullable=True),
        sa.Column("industry", sa.String(100), nullable=True),
        sa.Column("website", sa.String(300), nullable=True),
        sa.Column("address", sa.String(400), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("search_name", sa.String(200), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_index("ix_companies_name_id", "companies", ["name", "id"])
    op.create_index("ix_companies_search_name", "companies", ["search_name"])
    op.create_index("uq_companies_tax_id", "companies", ["tax_id"], unique=True)

    document_types = op.create_table(
        "document_types",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("format_regex", sa.String(200), nullable=False),
        sa.Column("check_digit", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_document_types"),
        sa.UniqueConstraint("code", name="uq_document_types_code"),
    )
    # Stored as UTC; SQLite keeps it without an offset, as db.base.UTCDateTime does.
    shipped = datetime(2026, 11, 22, tzinfo=UTC)
    if not postgres:
        shipped = shipped.replace(tzinfo=None)
    op.bulk_insert(
        document_types,
        [
            {
                "code": code,
                "name": name,
                "format_regex": regex,
                "check_digit": check,
                "active": True,
                "created_at": shipped,
                "updated_at": shipped,
            }
            for code, name, regex, check in DOCUMENT_TYPES
        ],
    )

    op.create_table(
        "custom_field_definitions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            "type IN ('TEXT', 'NUMBER', 'DATE', 'BOOLEAN', 'CHOICE')", name="ck_custom_field_definitions_type"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_custom_field_definitions"),
        sa.UniqueConstraint("key", name="uq_custom_field_definitions_key"),
    )

    op.create_table(
        "contacts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("first_names", sa.String(200), nullable=False),
        sa.Column("last_names", sa.String(200), nullable=False),
        sa.Column("is_vip", sa.Boolean(), nullable=False),
        sa.Column("document_type_id", BigId, nullable=True),
        sa.Column("document_number", sa.String(32), nullable=True),
        sa.Column("company_id", BigId, nullable=True),
        sa.Column("team_id", BigId, nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("search_name", sa.String(401), nullable=False),
        sa.Column("sort_name", sa.String(401), nullable=False),
        sa.Column("archived_at", Stamp, nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["document_type_id"], ["document_types.id"], name="fk_contacts_document_type_id_document_types"
        ),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_contacts_company_id_companies"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_contacts_team_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index("ix_contacts_sort_name", "contacts", ["sort_name", "id"])
    op.create_index("ix_contacts_team_sort_name", "contacts", ["team_id", "sort_name", "id"])
    op.create_index("ix_contacts_company_id", "contacts", ["company_id"])
    op.create_index("ix_contacts_document_number", "contacts", ["document_number"])
    op.create_index("ix_contacts_created_at_id", "contacts", ["created_at", "id"])
    if postgres:
        op.create_index(
            "ix_contacts_search_text_trgm",
            "contacts",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )

    op.create_table(
        "contact_channels",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("normalized", sa.String(320), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.CheckConstraint(
            "kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')", name="ck_contact_channels_kind"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_channels_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_channels"),
    )
    op.create_index(
        "uq_contact_channels_contact_kind_normalized",
        "contact_channels",
        ["contact_id", "kind", "normalized"],
        unique=True,
    )
    op.create_index("ix_contact_channels_normalized", "contact_channels", ["normalized"])

    op.create_table(
        "contact_addresses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column("number", sa.String(20), nullable=True),
        sa.Column("unit", sa.String(50), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("postal_code", sa.String(20), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_addresses_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_addresses"),
    )
    op.create_index("ix_contact_addresses_contact_id", "contact_addresses", ["contact_id"])
    op.create_index(
        "uq_contact_addresses_primary",
        "contact_addresses",
        ["contact_id"],
        unique=True,
        sqlite_where=sa.text("is_primary"),
        postgresql_where=sa.text("is_primary"),
    )


def downgrade() -> None:
    op.drop_table("contact_addresses")
    op.drop_table("contact_channels")
    op.drop_table("contacts")
    op.drop_table("custom_field_definitions")
    op.drop_table("document_types")
    op.drop_table("companies")
