"""The tables. Relationships are not mapped: nested data goes through scoped batch queries."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from db.base import Base, BigId, UTCDateTime, utcnow
from db.search import fold


def folded_key(length: int) -> String:
    """A folded search and sort key. It compares bytewise on both backends (SQLite's default
    BINARY), so that ORDER BY is the same everywhere and a prefix is an index range
    (db.search.starts_with)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


FoldedKey = folded_key(401)


def partial_index(name: str, *columns: Any, where: str, **kw: Any) -> Index:
    """An index of only the rows `where` holds for, the same on both backends."""
    condition = text(where)
    return Index(name, *columns, sqlite_where=condition, postgresql_where=condition, **kw)


class Folded:
    """The default of a column that holds its row's `sources` folded (db.search.fold), joined by " | ".

    Text filters match and name orders sort these columns, never the raw text: SQLite's lower()
    knows only ASCII, and PostgreSQL's lower() and default collations keep accents, so neither
    finds "Gastón" by "gaston", and the two sort raw names differently. Folded, both give one
    answer. Written on every insert (Core ones too, as this default) and, for rows changed
    through the ORM, on every flush (keep_folded below); a set-based UPDATE of a source column
    writes it itself. Migrations backfill with db.migrations.backfill.
    """

    def __init__(self, *sources: str) -> None:
        self.sources = sources

    def of(self, values: Mapping[str, Any]) -> str:
        return " | ".join(fold(values.get(source) or "") for source in self.sources)

    def __call__(self, context: DefaultExecutionContext) -> str:
        return self.of(context.get_current_parameters())  # type: ignore[no-untyped-call]


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    SUPERVISOR = "SUPERVISOR"
    AGENT = "AGENT"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the users filter matches, and the name order of lists (see Folded).
    search_text: Mapped[str] = mapped_column(Text, default=Folded("name", "email"))
    sort_name: Mapped[str] = mapped_column(FoldedKey, default=Folded("name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("role IN ('ADMIN', 'SUPERVISOR', 'AGENT')", name="role"),
        # Case-insensitive uniqueness lives in the database so concurrent sign-ups cannot race.
        Index("uq_users_email_lower", func.lower(email), unique=True),
        Index("ix_users_sort_name_id", "sort_name", "id"),
    )


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # Materialised path "/1/5/9/": a subtree is one indexed prefix match on both backends.
    path: Mapped[str] = mapped_column(Text)
    # fold(name): the filter, the order, and which sibling names are the same (see Folded).
    sort_name: Mapped[str] = mapped_column(FoldedKey, default=Folded("name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "uq_teams_sibling_name",
            func.coalesce(parent_id, 0),
            sort_name,
            unique=True,
        ),
        Index("ix_teams_sort_name_id", "sort_name", "id"),
        # text_pattern_ops lets PostgreSQL use the index for the subtree prefix LIKE.
        Index("ix_teams_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamSupervisor(Base):
    __tablename__ = "team_supervisors"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # No index on the actor or the action: lists walk occurred_at, and a bulk call writes tens of
    # thousands of entries at once, each index costing every one of them. No foreign key either
    # (migration 0007): users are never deleted, and its per-row check was a third of a bulk
    # call's audit INSERT.
    actor_id: Mapped[int | None] = mapped_column(BigId)
    # Denormalised so the trail reads the same after a rename and text search needs no join.
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(BigId)
    resource_name: Mapped[str] = mapped_column(String(400))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The event of the bulk call this entry belongs to (one CONTACT entry per affected contact).
    batch_id: Mapped[int | None] = mapped_column(BigId)
    # The team whose supervisors see this event, when it is one team (each contact's history
    # entry, and most events); an event seen by several lists them in audit_event_teams. On the
    # row, a bulk call's 50,000 entries need no second table's rows: linking them took 0.33 s
    # (migration 0010). No index: readers filter on it while they walk occurred_at.
    team_id: Mapped[int | None] = mapped_column(BigId)
    # fold(actor_name) | fold(resource_name): what the text filter matches (see Folded). No index:
    # the filter is read while walking occurred_at, and a bulk call writes tens of thousands.
    search_text: Mapped[str] = mapped_column(Text, default=Folded("actor_name", "resource_name"))

    __table_args__ = (
        # A resource's history. No id in the key: every entry of a bulk call lands at a random
        # place here, and the narrower key (its entries deduplicated) halves the pages a call
        # of 50,000 dirties (migration 0009); readers sort a history's few rows themselves.
        Index("ix_audit_events_resource", "resource_type", "resource_id"),
        # Only bulk calls' entries have a batch: the rest of the trail stays out of this index.
        partial_index("ix_audit_events_batch_id", "batch_id", "id", where="batch_id IS NOT NULL"),
    )


class AuditEventTeam(Base):
    """The teams of an event seen by several (AuditEvent.team_id holds the one team of the rest)."""

    __tablename__ = "audit_event_teams"

    # No foreign key: events are never deleted, and a per-row check against a table grown in the
    # same transaction (its statistics from before) turned into a scan per row (migration 0007).
    event_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: the trail outlives deleted teams.
    team_id: Mapped[int] = mapped_column(BigId, primary_key=True, index=True)


class ChannelKind(enum.StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    WHATSAPP = "WHATSAPP"
    MESSENGER = "MESSENGER"
    INSTAGRAM = "INSTAGRAM"


class CheckDigit(enum.StrEnum):
    """Check-digit algorithms a document type may use (C6)."""

    NONE = "NONE"
    CUIT = "CUIT"  # Argentina CUIT/CUIL: mod 11 over weights 5432765432
    CPF = "CPF"  # Brazil CPF: two mod-11 digits
    RUC_PE = "RUC_PE"  # Peru RUC: mod 11 over weights 5432765432
    CI_UY = "CI_UY"  # Uruguay cédula: mod 10 over weights 2987634
    RUT_CL = "RUT_CL"  # Chile RUT: mod 11, K for 10


class FieldType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOLEAN = "BOOLEAN"
    CHOICE = "CHOICE"


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(32))
    # fold(name): what company search matches and lists sort by; one company per folded name
    # ("Logística Sur" and "LOGISTICA SUR" are the same company), kept by the database (C3).
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("uq_companies_search_name", "search_name", unique=True),
        Index("uq_companies_tax_id", "tax_id", unique=True),
    )


class DocumentType(Base):
    __tablename__ = "document_types"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    format_regex: Mapped[str] = mapped_column(String(200))
    check_digit: Mapped[str] = mapped_column(String(16), default=CheckDigit.NONE.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CustomFieldDefinition(Base):
    __tablename__ = "custom_field_definitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("type IN ('TEXT', 'NUMBER', 'DATE', 'BOOLEAN', 'CHOICE')", name="type"),)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_names: Mapped[str] = mapped_column(String(200))
    last_names: Mapped[str] = mapped_column(String(200))
    is_vip: Mapped[bool] = mapped_column(Boolean, default=False)
    document_type_id: Mapped[int | None] = mapped_column(ForeignKey("document_types.id"))
    document_number: Mapped[str | None] = mapped_column(String(32))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Maintained by services.contacts (C5): "<name> | <document> | <company> | <channels>", folded,
    # phones also as bare digits. search_name is the folded "first last" that ranks results.
    search_text: Mapped[str] = mapped_column(Text)
    search_name: Mapped[str] = mapped_column(FoldedKey)
    # Folded "last first": the accent-insensitive alphabetical order of lists.
    sort_name: Mapped[str] = mapped_column(FoldedKey)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_contacts_sort_name", "sort_name", "id"),
        # Search results whose first names start with the keyword, in first-name order.
        Index("ix_contacts_search_name", "search_name", "id"),
        Index("ix_contacts_team_sort_name", "team_id", "sort_name", "id"),
        Index("ix_contacts_company_id", "company_id"),
        Index("ix_contacts_document_number", "document_number"),
        Index("ix_contacts_created_at_id", "created_at", "id"),
        # The trigram index PostgreSQL uses for LIKE '%term%' (SQLite scans).
        Index(
            "ix_contacts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            info={"postgresql_only": True},
        ),
    )


class ContactChannel(Base):
    __tablename__ = "contact_channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    # E.164 for phones, the normalised address for emails, the lower-cased handle otherwise.
    normalized: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')", name="kind"),
        Index("uq_contact_channels_contact_kind_normalized", "contact_id", "kind", "normalized", unique=True),
        Index("ix_contact_channels_normalized", "normalized"),
        # A selection by kind reads the contacts from here, not the table (migration 0011).
        Index("ix_contact_channels_kind_contact_id", "kind", "contact_id"),
    )


class ContactAddress(Base):
    __tablename__ = "contact_addresses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    street: Mapped[str] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # At most one primary address per contact, kept by the database (partial index on both backends).
        partial_index(
            "uq_contact_addresses_primary",
            "contact_id",
            unique=True,
            where="is_primary",
        ),
    )


class Portfolio(Base):
    """A group of contacts owned by a team and/or an agent (P1)."""

    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # fold(name): what the portfolios search matches and lists sort by (see Folded).
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("team_id IS NOT NULL OR agent_id IS NOT NULL", name="owner"),
        Index("ix_portfolios_search_name_id", "search_name", "id"),
        # One portfolio per folded name in a team, and among an agent's portfolios of no team.
        partial_index(
            "uq_portfolios_team_name",
            "team_id",
            "search_name",
            unique=True,
            where="team_id IS NOT NULL",
        ),
        partial_index(
            "uq_portfolios_agent_name",
            "agent_id",
            "search_name",
            unique=True,
            where="team_id IS NULL",
        ),
        Index("ix_portfolios_team_id", "team_id"),
        Index("ix_portfolios_agent_id", "agent_id"),
    )


class PortfolioMember(Base):
    """A contact's portfolio. The primary key is the contact: at most one portfolio each (P4)."""

    __tablename__ = "portfolio_members"

    # No foreign key to contacts (migration 0007): contacts are archived, never deleted, and every
    # membership is written from ids read from contacts in the same transaction; the per-row
    # check share-locked, and so rewrote, each contact row: most of a 100,000-contact assignment.
    contact_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The portfolio exists: triggers check it once per statement (migration 0008), where a
    # foreign key checked each row, half of a 50,000-contact INSERT or UPDATE.
    portfolio_id: Mapped[int] = mapped_column(BigId)
    # Who assigned it is in the audit trail (the contact's ASSIGNED or MOVED entry).
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_portfolio_members_portfolio_id", "portfolio_id", "contact_id"),)


# What the key told the metadata: memberships are emptied before their portfolios (tests' cleanup).
Base.metadata.tables["portfolio_members"].add_is_dependent_on(Base.metadata.tables["portfolios"])


class Event(Base):
    """The event log (RT4): what changed, for whom, in commit order; the source of every live push.

    Ids increase in commit order (services.events takes a lock while writing them), so a
    subscriber that has seen id N has seen everything committed before it that it may see.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    # Who may receive it: these users, and whoever sees any of these teams (db.scopes.may_receive).
    user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    team_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # …and the admins and supervisors who see any of these teams, but not their agents.
    manager_team_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set once the event was announced on the broadcaster; the relay announces the rest.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_events_occurred_at", "occurred_at"),
        partial_index(
            "ix_events_unpublished",
            "id",
            where="published_at IS NULL",
        ),
        # SQLite would otherwise reuse the ids of pruned events.
        {"sqlite_autoincrement": True},
    )


class EventLogState(Base):
    """One row: the highest event id pruned, below which a subscription cannot resume."""

    __tablename__ = "event_log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pruned_through: Mapped[int] = mapped_column(BigId, default=0)


class PresenceStatus(enum.StrEnum):
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    OFFLINE = "OFFLINE"


class Presence(Base):
    """A user's presence (R4), shared by every API process."""

    __tablename__ = "presences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the user's last live connection closed, plus the grace: OFFLINE then, unless it is back.
    offline_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("status IN ('ONLINE', 'AWAY', 'OFFLINE')", name="status"),)


class LiveConnection(Base):
    """An open WebSocket of a signed-in user, kept alive by its API process's heartbeat."""

    __tablename__ = "live_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(36), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Typology(Base):
    """A way of working gestiones (G1): what its plans hold and which results end a call."""

    __tablename__ = "typologies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # fold(name): the order of the list (see Folded).
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    # The plan's fields, as custom fields are defined: [{key, label, type, options, required}].
    plan_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TypologyResult(Base):
    """One entry of a typology's result catalogue (G1, G5)."""

    __tablename__ = "typology_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    typology_id: Mapped[int] = mapped_column(ForeignKey("typologies.id"))
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    # False: the gestión goes back to the operator's queue with this result (no answer, call back).
    finishes: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("uq_typology_results_typology_code", "typology_id", "code", unique=True),)


class CampaignStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"


class Campaign(Base):
    """Gestiones worked the same way, by a team's operators (G1)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # fold(name): what the campaigns search matches and lists sort by (see Folded).
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    typology_id: Mapped[int] = mapped_column(ForeignKey("typologies.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('DRAFT', 'ACTIVE', 'PAUSED', 'CLOSED')", name="status"),
        CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates"),
        Index("ix_campaigns_search_name_id", "search_name", "id"),
        Index("ix_campaigns_team_id", "team_id"),
    )


class CampaignOperator(Base):
    """An agent assigned to work a campaign (G1)."""

    __tablename__ = "campaign_operators"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GestionStatus(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"


class Gestion(Base):
    """One client line of a campaign (G2). Name and phones are read from the contact (C8)."""

    __tablename__ = "gestiones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=GestionStatus.PENDING.value)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("typology_results.id"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Validated against the campaign typology's plan fields when written.
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Times it was saved with a result that does not finish it: later in the operator's queue.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'IN_PROGRESS', 'FINISHED')", name="status"),
        CheckConstraint("status = 'PENDING' OR operator_id IS NOT NULL", name="worked_by_operator"),
        # At most one open gestión per client and campaign, kept by the database (G2).
        partial_index(
            "uq_gestiones_open_contact",
            "campaign_id",
            "contact_id",
            unique=True,
            where="status <> 'FINISHED'",
        ),
        # An operator's queue, in the order save-and-next hands it out.
        partial_index(
            "ix_gestiones_operator_queue",
            "operator_id",
            text("priority DESC"),
            "attempts",
            "id",
            where="status = 'PENDING'",
            info={"descending_key": True},
        ),
        # A campaign's pool of gestiones nobody was given yet, in the same order.
        partial_index(
            "ix_gestiones_campaign_pool",
            "campaign_id",
            text("priority DESC"),
            "attempts",
            "id",
            where="status = 'PENDING' AND operator_id IS NULL",
            info={"descending_key": True},
        ),
        Index("ix_gestiones_campaign_id", "campaign_id", "id"),
        Index("ix_gestiones_operator_id", "operator_id", "id"),
        Index("ix_gestiones_contact_id", "contact_id"),
    )


class GestionComment(Base):
    __tablename__ = "gestion_comments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gestion_id: Mapped[int] = mapped_column(ForeignKey("gestiones.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Denormalised like the audit trail's actor: the comment reads the same after a rename.
    author_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_gestion_comments_gestion_id", "gestion_id", "id"),)


class GestionAttachment(Base):
    """A file attached to a gestión (G7); its bytes live in the attachment store under `storage_key`."""

    __tablename__ = "gestion_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gestion_id: Mapped[int] = mapped_column(ForeignKey("gestiones.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_gestion_attachments_gestion_id", "gestion_id", "id"),)


# --- conversations and routing (A1-A5, P7) ---------------------------------------------------


class ConversationStatus(enum.StrEnum):
    UNASSIGNED = "UNASSIGNED"
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class MessageDirection(enum.StrEnum):
    IN = "IN"  # from the client, through an integrator
    OUT = "OUT"  # an agent's reply, delivered to the channel by the integrator
    NOTE = "NOTE"  # internal, never delivered


class RoutingMethod(enum.StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LOAD_BALANCED = "LOAD_BALANCED"
    LAST_RESPONSIBLE = "LAST_RESPONSIBLE"
    DEFAULT_GROUP = "DEFAULT_GROUP"
    BY_CHANNEL = "BY_CHANNEL"


class RoutingSettings(Base):
    """The account's one row of routing settings (A2): written by the migration, edited by admins."""

    __tablename__ = "routing_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(24), default=RoutingMethod.ROUND_ROBIN.value)
    # DEFAULT_GROUP's team.
    default_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # Where a contact created by intake (an unknown sender) is filed.
    intake_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # The most OPEN conversations an agent holds before the router passes it over; none: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    # A client writing again within this long reopens its RESOLVED conversation; later, a new one.
    reopen_window_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint(
            "method IN ('ROUND_ROBIN', 'LOAD_BALANCED', 'LAST_RESPONSIBLE', 'DEFAULT_GROUP', 'BY_CHANNEL')",
            name="method",
        ),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity"),
        CheckConstraint("reopen_window_minutes >= 0", name="reopen_window"),
    )


class RoutingChannelAgent(Base):
    """BY_CHANNEL: the agents who take a channel kind's conversations (A2)."""

    __tablename__ = "routing_channel_agents"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (CheckConstraint("kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')", name="kind"),)


class RoutingTurn(Base):
    """Whose turn it is in one ring of agents (A2, A5): the last one given a conversation.

    A ring is a set of agents taking turns ("all", "team:<id>", "channel:<kind>"). The row is
    locked while a conversation is routed, so turns are strict across API processes.
    """

    __tablename__ = "routing_turns"

    ring: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgentLoad(Base):
    """An agent's OPEN conversations, counted as they change (LOAD_BALANCED, capacity, A4), and
    when it was last given one (LOAD_BALANCED's tie-break). Kept by services.agent_loads."""

    __tablename__ = "agent_loads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    open_conversations: Mapped[int] = mapped_column(Integer, default=0)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("open_conversations >= 0", name="open_conversations"),)


class Conversation(Base):
    """A client's conversation on one of its channels (A1). Name and address are read from the
    contact (C8); the channel's kind and normalised address are kept here, so it survives the
    channel being edited away and intake finds it by what the integrator sends."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("contact_channels.id", ondelete="SET NULL"))
    channel_kind: Mapped[str] = mapped_column(String(16))
    channel_address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.UNASSIGNED.value)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Whose it is for visibility (supervisors, the queue agents may take from): the contact's
    # team, or the team it was routed to (a team-owned portfolio, DEFAULT_GROUP, a transfer).
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    # The portfolio that routed it (P7, P9), if one did.
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolios.id", ondelete="SET NULL"))
    # The routing decision (A2): rule, candidates, skipped and why, chosen. Null: not routed.
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('UNASSIGNED', 'OPEN', 'RESOLVED')", name="status"),
        CheckConstraint("channel_kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')", name="kind"),
        CheckConstraint("status <> 'OPEN' OR agent_id IS NOT NULL", name="open_has_agent"),
        CheckConstraint("status <> 'UNASSIGNED' OR agent_id IS NULL", name="unassigned_has_none"),
        # One conversation not RESOLVED per contact and address: concurrent intake of two
        # messages from a new sender meets here, and the loser appends to the winner's.
        partial_index(
            "uq_conversations_open_address",
            "contact_id",
            "channel_kind",
            "channel_address",
            unique=True,
            where="status <> 'RESOLVED'",
        ),
        # The queue (A3): oldest first per team, what the dispenser walks.
        partial_index("ix_conversations_queue", "team_id", "created_at", "id", where="status = 'UNASSIGNED'"),
        Index("ix_conversations_contact_created", "contact_id", "created_at", "id"),
        Index("ix_conversations_agent_assigned", "agent_id", "assigned_at"),
        Index("ix_conversations_team_created", "team_id", "created_at", "id"),
        Index("ix_conversations_created", "created_at", "id"),
        # The monitoring table and the reports (A4, P9, migration 0016): what an agent resolved,
        # and what came in through a portfolio, is OPEN in it and was resolved, each one index
        # range per row of a page. Partial where they can be, so intake writes only the second.
        partial_index("ix_conversations_agent_resolved", "agent_id", "resolved_at", where="status = 'RESOLVED'"),
        Index("ix_conversations_portfolio_created", "portfolio_id", "created_at"),
        partial_index(
            "ix_conversations_portfolio_open", "portfolio_id", where="status = 'OPEN' AND portfolio_id IS NOT NULL"
        ),
        partial_index(
            "ix_conversations_portfolio_resolved",
            "portfolio_id",
            "resolved_at",
            where="status = 'RESOLVED' AND portfolio_id IS NOT NULL",
        ),
    )


class ConversationMessage(Base):
    """One entry of a conversation's timeline (A1): the client's, an agent's reply, or a note."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Denormalised like a gestión comment's: reads the same after a rename. Null for the client.
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The integrator's id for an incoming message: a retried webhook finds it and changes nothing.
    external_id: Mapped[str | None] = mapped_column(String(200))
    # A call's length (a conversation on PHONE).
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("direction IN ('IN', 'OUT', 'NOTE')", name="direction"),
        CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name="duration"),
        Index("ix_conversation_messages_timeline", "conversation_id", "sent_at", "id"),
        partial_index(
            "uq_conversation_messages_external_id", "external_id", unique=True, where="external_id IS NOT NULL"
        ),
    )


# --- sales panel, background jobs, files and notifications (S1-S6) -----------------------------


class SalesCatalogKind(enum.StrEnum):
    INTEREST = "INTEREST"
    ORIGIN = "ORIGIN"
    CLOSE_REASON = "CLOSE_REASON"


class SalesCatalogEntry(Base):
    """One entry of an admin-managed catalogue of the sales panel (S1): what a client is
    interested in, where it came from (web form, WhatsApp, referral, campaign…), why it closed.
    One table for the three, so one service and one set of calls manage them."""

    __tablename__ = "sales_catalog_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # fold(name): unique per kind, and the order of the list (see Folded).
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("kind IN ('INTEREST', 'ORIGIN', 'CLOSE_REASON')", name="kind"),
        Index("uq_sales_catalog_entries_kind_name", "kind", "search_name", unique=True),
    )


class SalesAttentionStatus(enum.StrEnum):
    OPEN = "OPEN"
    PENDING = "PENDING"
    CLOSED = "CLOSED"


class SalesAttention(Base):
    """A contact's commercial attention (S1). Name, phone and e-mail are read from the contact (C8)."""

    __tablename__ = "sales_attentions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    interest_id: Mapped[int | None] = mapped_column(ForeignKey("sales_catalog_entries.id"))
    origin_id: Mapped[int | None] = mapped_column(ForeignKey("sales_catalog_entries.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The group (S1, S3): whose supervisors see it. The agent, when there is one, belongs to it.
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(16), default=SalesAttentionStatus.OPEN.value)
    close_reason_id: Mapped[int | None] = mapped_column(ForeignKey("sales_catalog_entries.id"))
    # Set when it became PENDING, cleared when it leaves PENDING.
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('OPEN', 'PENDING', 'CLOSED')", name="status"),
        CheckConstraint(
            "(status = 'CLOSED') = (close_reason_id IS NOT NULL AND closed_at IS NOT NULL)", name="closed_has_reason"
        ),
        CheckConstraint("(status = 'PENDING') = (pending_since IS NOT NULL)", name="pending_since"),
        # At most one attention not CLOSED per contact (S1), kept by the database.
        partial_index("uq_sales_attentions_open_contact", "contact_id", unique=True, where="status <> 'CLOSED'"),
        # The panel: newest first, for everyone (admins) and per group or agent (S3).
        Index("ix_sales_attentions_created", "created_at", "id"),
        Index("ix_sales_attentions_team_created", "team_id", "created_at", "id"),
        Index("ix_sales_attentions_agent_created", "agent_id", "created_at", "id"),
        # The text filter: the matching contacts' attentions within the period, found in the index.
        Index("ix_sales_attentions_contact_created", "contact_id", "created_at"),
    )


class SalesAttentionConversation(Base):
    """A conversation an agent marked commercial, and the attention it belongs to (S1). A link
    table rather than a column of conversations: intake writes those by the hundred a second."""

    __tablename__ = "sales_attention_conversations"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    attention_id: Mapped[int] = mapped_column(ForeignKey("sales_attentions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_sales_attention_conversations_attention", "attention_id", "conversation_id"),)


class SalesView(Base):
    """A user's saved view of the sales panel (S4): its columns in order and its filters."""

    __tablename__ = "sales_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    search_name: Mapped[str] = mapped_column(folded_key(200), default=Folded("name"))
    # Column ids in order (services.sales_panel.Column values, "customField:<key>" for C7 fields).
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    # services.sales_panel.SalesFilter as stored (SalesFilter.to_stored / from_stored).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("uq_sales_views_user_name", "user_id", "search_name", unique=True),
        partial_index("uq_sales_views_user_default", "user_id", unique=True, where="is_default"),
    )


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Job(Base):
    """Work that outlives a request (exports now; imports, scheduled reports next): written in
    the requesting transaction, claimed by any process under a lease, run again elsewhere when
    the lease runs out (its process died)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What the job does, as its kind's handler reads it (an export: its selection, columns, delimiter).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What it left (an export: its file's id), for the requester.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    done_count: Mapped[int] = mapped_column(BigId, default=0)
    total_count: Mapped[int | None] = mapped_column(BigId)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who runs it now and until when: a lease another process may take over once it has passed.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED')", name="status"),
        # What a worker may claim: queued, or running under a lease that may have run out.
        partial_index("ix_jobs_claimable", "created_at", "id", where="status IN ('QUEUED', 'RUNNING')"),
        Index("ix_jobs_requested_by", "requested_by_id", "created_at", "id"),
    )


class StoredFile(Base):
    """A downloadable file a job made (an export), its bytes behind the attachment store."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_stored_files_expires_at", "expires_at"), Index("ix_stored_files_job_id", "job_id"))


class NotificationKind(enum.StrEnum):
    EXPORT_READY = "EXPORT_READY"
    EXPORT_FAILED = "EXPORT_FAILED"
    ATTENTIONS_TRANSFERRED = "ATTENTIONS_TRANSFERRED"
    CONVERSATION_TRANSFERRED = "CONVERSATION_TRANSFERRED"
    GESTIONES_TRANSFERRED = "GESTIONES_TRANSFERRED"


class Notification(Base):
    """One entry of a user's notification centre (S6)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # One line for the centre's list, written when it is created ("Your export is ready").
    message: Mapped[str] = mapped_column(String(500))
    # What it points at, by kind: fileId and jobId, attentionIds and count, conversationId…
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('EXPORT_READY', 'EXPORT_FAILED', 'ATTENTIONS_TRANSFERRED', 'CONVERSATION_TRANSFERRED', "
            "'GESTIONES_TRANSFERRED')",
            name="kind",
        ),
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        partial_index("ix_notifications_user_unread", "user_id", "created_at", "id", where="read_at IS NULL"),
    )


@cache
def _folded_columns(mapper: Mapper[Any]) -> tuple[tuple[str, Folded], ...]:
    """Once per mapper, not per row written: most have none, and their columns never change."""
    return tuple(
        (key, column.default.arg)  # type: ignore[union-attr]
        for key, column in mapper.columns.items()
        if isinstance(getattr(column.default, "arg", None), Folded)
    )


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def keep_folded(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    """Refold a row's Folded columns from its sources whenever the ORM writes it (a rename)."""
    for key, folded in _folded_columns(mapper):
        sources = {source: getattr(target, source) for source in folded.sources}
        setattr(target, key, folded.of(sources))
