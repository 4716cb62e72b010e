"""Campaign and gestión types (G1-G7): typologies and results, campaigns, gestiones, comments, attachments."""

from datetime import date, datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from db import models
from db.keyset import PageRequest
from db.models import CampaignStatus, ChannelKind, FieldType, GestionStatus
from schema import docs, sql_map
from schema.connection import Connection
from schema.contact_types import BADGE_ROWS, Contact, PortfolioBadge
from schema.node import Node, to_global_id
from schema.types import AuditEvent, CursorArg, Info, PageArg, Team, User, nested_connection
from services import typologies

docs.enum(
    CampaignStatus,
    name="CampaignStatus",
    description="DRAFT → ACTIVE ⇄ PAUSED → CLOSED; CLOSED is final (G1).",
    values={
        "DRAFT": "Being prepared: gestiones may be added, none is handed out.",
        "ACTIVE": "Hands out work to its operators.",
        "PAUSED": "Keeps its gestiones and hands out none until active again.",
        "CLOSED": "Done for good: no new gestiones, no work.",
    },
)
docs.enum(
    GestionStatus,
    name="GestionStatus",
    description="Where a gestión stands (G2).",
    values={
        "PENDING": "Waiting: in the campaign's pool or for its assigned operator.",
        "IN_PROGRESS": "An operator took it and is working it.",
        "FINISHED": "Saved with a result that finishes it; reopenGestion brings it back.",
    },
)


@strawberry.type(description="One field of a typology's plan information (G2).")
class PlanField:
    key: str = strawberry.field(description="Key under which a gestión's `plan` holds the value.")
    label: str = strawberry.field(description="Label shown to operators.")
    type: FieldType = strawberry.field(description="What values it takes; lines are validated against it.")
    options: list[str] = strawberry.field(description="The allowed values of a CHOICE field; empty otherwise.")
    required: bool = strawberry.field(description="Whether every gestión's plan must give a value.")


@strawberry.type(description="A result an operator may give a gestión of this typology (G1, G5).")
class TypologyResult(Node):
    code: str = strawberry.field(
        description="Stable code, unique within the typology; saveGestion's `finish.resultCode` names it."
    )
    label: str = strawberry.field(description="Label shown to operators.")
    finishes: bool = strawberry.field(description="False: the gestión goes back to the queue with this result.")
    requires_comment: bool = strawberry.field(
        description="Whether saving with this result needs a comment (REQUIRED otherwise)."
    )
    position: int = strawberry.field(description="Display order, smallest first.")
    active: bool = strawberry.field(description=docs.ACTIVE)

    @classmethod
    def from_row(cls, row: models.TypologyResult) -> "TypologyResult":
        return cls(
            id=to_global_id("TypologyResult", row.id),
            code=row.code,
            label=row.label,
            finishes=row.finishes,
            requires_comment=row.requires_comment,
            position=row.position,
            active=row.active,
        )


@strawberry.type(description="A way of working gestiones: its plan's fields and its result catalogue (G1).")
class Typology(Node):
    pk: strawberry.Private[int]
    code: str = strawberry.field(description="Stable short code, unique.")
    name: str = strawberry.field(description=docs.NAME)
    active: bool = strawberry.field(description=docs.ACTIVE)
    plan_fields: list[PlanField] = strawberry.field(
        description="The plan information its gestiones carry, in display order."
    )

    @classmethod
    def from_row(cls, row: models.Typology) -> "Typology":
        return cls(
            id=to_global_id("Typology", row.id),
            pk=row.id,
            code=row.code,
            name=row.name,
            active=row.active,
            plan_fields=[
                PlanField(
                    key=f.key, label=f.label, type=FieldType(f.type), options=list(f.options), required=f.required
                )
                for f in typologies.plan_fields(row)
            ],
        )

    @strawberry.field(description="Its results in their order; inactive ones only when asked.")
    async def results(
        self,
        info: Info,
        include_inactive: Annotated[bool, strawberry.argument(description=docs.INCLUDE_INACTIVE)] = False,
    ) -> list[TypologyResult]:
        rows = await info.context.loaders.results_by_typology.load(self.pk)
        return [TypologyResult.from_row(r) for r in rows if include_inactive or r.active]


@strawberry.type(description="Gestiones worked the same way by a team's operators (G1).")
class Campaign(Node):
    pk: strawberry.Private[int]
    typology_pk: strawberry.Private[int]
    team_pk: strawberry.Private[int]
    name: str = strawberry.field(description=docs.NAME)
    status: CampaignStatus = strawberry.field(description="Only ACTIVE campaigns hand out work.")
    starts_on: date | None = strawberry.field(
        description="First day work is planned, in the account's time zone; informative."
    )
    ends_on: date | None = strawberry.field(description="Last day work is planned; informative.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Campaign) -> "Campaign":
        return cls(
            id=to_global_id("Campaign", row.id),
            pk=row.id,
            typology_pk=row.typology_id,
            team_pk=row.team_id,
            name=row.name,
            status=CampaignStatus(row.status),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The typology whose results its gestiones take.")
    async def typology(self, info: Info) -> Typology:
        row = await info.context.loaders.typology_by_id.load(self.typology_pk)
        assert row is not None  # a campaign's typology is never deleted
        return Typology.from_row(row)

    @strawberry.field(description="The team that runs it; null when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        row = await info.context.loaders.team_by_id.load(self.team_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="The agents assigned to work it (that you can see).")
    async def operators(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[User]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.campaign_operators, loaders.campaign_operator_count, self.pk, request, User.from_row
        )


@strawberry.type(description="A comment left on a gestión (G5).")
class GestionComment(Node):
    author_pk: strawberry.Private[int | None]
    body: str = strawberry.field(description="The comment's text.")
    author_name: str = strawberry.field(description="The author's name when they wrote it.")
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_row(cls, row: models.GestionComment) -> "GestionComment":
        return cls(
            id=to_global_id("GestionComment", row.id),
            author_pk=row.author_id,
            body=row.body,
            author_name=row.author_name,
            created_at=row.created_at,
        )

    @strawberry.field(description="The author; null when you cannot see them.")
    async def author(self, info: Info) -> User | None:
        if self.author_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.author_pk)
        return User.from_row(row) if row else None


@strawberry.type(description="A file attached to a gestión (G7): download it with GET on `url` and your token.")
class GestionAttachment(Node):
    uploaded_by_pk: strawberry.Private[int | None]
    filename: str = strawberry.field(description="The file's name as uploaded.")
    content_type: str = strawberry.field(description="MIME type, checked against the allowed ones on upload.")
    size_bytes: float = strawberry.field(description="Bytes (a Float: files may pass 2^31).")
    sha256: str = strawberry.field(description="SHA-256 of the content, hex.")
    url: str = strawberry.field(description="Where to download it (same visibility as the gestión).")
    uploaded_by_name: str = strawberry.field(description="The uploader's name when they uploaded it.")
    created_at: datetime = strawberry.field(description="When it was uploaded.")

    @classmethod
    def from_row(cls, row: models.GestionAttachment) -> "GestionAttachment":
        return cls(
            id=to_global_id("GestionAttachment", row.id),
            uploaded_by_pk=row.uploaded_by_id,
            filename=row.filename,
            content_type=row.content_type,
            size_bytes=float(row.size_bytes),
            sha256=row.sha256,
            url=f"/attachments/{row.id}",
            uploaded_by_name=row.uploaded_by_name,
            created_at=row.created_at,
        )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


@strawberry.type(description="One client line of a campaign (G2): read live from its contact (C8).")
class Gestion(Node):
    pk: strawberry.Private[int]
    campaign_pk: strawberry.Private[int]
    contact_pk: strawberry.Private[int]
    operator_pk: strawberry.Private[int | None]
    result_pk: strawberry.Private[int | None]
    status: GestionStatus = strawberry.field(
        description="PENDING, IN_PROGRESS (an operator is working it) or FINISHED."
    )
    priority: int = strawberry.field(description="Higher first in the operator's queue.")
    plan_data: strawberry.Private[dict[str, Any]]
    attempts: int = strawberry.field(description="Times saved with a result that did not finish it.")
    claimed_at: datetime | None = strawberry.field(description="When an operator last took it; null while never taken.")
    finished_at: datetime | None = strawberry.field(description="When it was finished with a result; null while open.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Gestion) -> "Gestion":
        return cls(
            id=to_global_id("Gestion", row.id),
            pk=row.id,
            campaign_pk=row.campaign_id,
            contact_pk=row.contact_id,
            operator_pk=row.operator_id,
            result_pk=row.result_id,
            status=GestionStatus(row.status),
            priority=row.priority,
            plan_data=dict(row.plan or {}),
            attempts=row.attempts,
            claimed_at=row.claimed_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The plan information, by the typology's plan field keys.")
    def plan(self) -> JSON:
        return cast(JSON, self.plan_data)

    async def _campaign_row(self, info: Info) -> models.Campaign | None:
        return await info.context.loaders.campaign_by_id.load(self.campaign_pk)

    @strawberry.field(description="Its campaign; null when you cannot see it.")
    async def campaign(self, info: Info) -> Campaign | None:
        row = await self._campaign_row(info)
        return Campaign.from_row(row) if row else None

    @strawberry.field(description="The client, as the contact is now; null when you cannot see it.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_row(row) if row else None

    @strawberry.field(description="The phone numbers to call (E.164), from the contact's phone and WhatsApp channels.")
    async def phones(self, info: Info) -> list[str]:
        loaders = info.context.loaders
        if await loaders.contact_by_id.load(self.contact_pk) is None:
            return []
        channels = await loaders.channels_by_contact.load(self.contact_pk)
        kinds = (ChannelKind.PHONE.value, ChannelKind.WHATSAPP.value)
        return list(dict.fromkeys(c.normalized for c in channels if c.kind in kinds))

    @strawberry.field(description="The client's portfolio badge (P8); null when in none or not visible.")
    async def badge(self, info: Info) -> PortfolioBadge | None:
        loaders = info.context.loaders
        if await loaders.contact_by_id.load(self.contact_pk) is None:
            return None
        row = await loaders.badge_by_contact.load(self.contact_pk)
        return PortfolioBadge.from_row(row) if row else None

    @strawberry.field(description="The operator it was given to; null when nobody's (or you cannot see them).")
    async def operator(self, info: Info) -> User | None:
        if self.operator_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.operator_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The last result given; null until one is.")
    async def result(self, info: Info) -> TypologyResult | None:
        if self.result_pk is None:
            return None
        row = await info.context.loaders.result_by_id.load(self.result_pk)
        return TypologyResult.from_row(row) if row else None

    @strawberry.field(description="The plan in one line, by its typology's field labels: what a panel row shows.")
    async def plan_summary(self, info: Info) -> str:
        campaign = await self._campaign_row(info)
        typology = await info.context.loaders.typology_by_id.load(campaign.typology_id) if campaign else None
        labels = {f.key: f.label for f in typologies.plan_fields(typology)} if typology else {}
        plan = self.plan_data
        keys = list(labels) + [k for k in plan if k not in labels]
        return " · ".join(f"{labels.get(k, k)}: {_shown(plan[k])}" for k in keys if k in plan)

    @strawberry.field(description="The results its typology offers, in order (G5).")
    async def available_results(self, info: Info) -> list[TypologyResult]:
        campaign = await self._campaign_row(info)
        if campaign is None:
            return []
        rows = await info.context.loaders.results_by_typology.load(campaign.typology_id)
        return [TypologyResult.from_row(r) for r in rows if r.active]

    @strawberry.field(description="Comments, newest first.")
    async def comments(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[GestionComment]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.gestion_comments, loaders.gestion_comment_count, self.pk, request, GestionComment.from_row
        )

    @strawberry.field(
        description="Who did what when (G4), newest first: its own audit trail and the edits of its client since."
    )
    async def history(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[AuditEvent]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.gestion_history, loaders.gestion_history_count, self.pk, request, AuditEvent.from_row
        )

    @strawberry.field(description="Attached files, newest first (G7).")
    async def attachments(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[GestionAttachment]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info,
            loaders.gestion_attachments,
            loaders.gestion_attachment_count,
            self.pk,
            request,
            GestionAttachment.from_row,
        )


# Compiled reads (schema/sql_map.py).
sql_map.declare(
    "TypologyResult",
    {
        "id": sql_map.global_id("TypologyResult"),
        "code": sql_map.text("code"),
        "label": sql_map.text("label"),
        "finishes": sql_map.boolean("finishes"),
        "requiresComment": sql_map.boolean("requires_comment"),
        "position": sql_map.number("position"),
        "active": sql_map.boolean("active"),
    },
)
sql_map.declare(
    "Campaign",
    {
        "id": sql_map.global_id("Campaign"),
        "name": sql_map.text("name"),
        "status": sql_map.text("status"),
        "startsOn": sql_map.day("starts_on"),
        "endsOn": sql_map.day("ends_on"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "team": sql_map.Nested("Team", "teams", "{a}.id = {t}.team_id", visible=sql_map.seen_as_loaded(models.Team)),
    },
)
_CLIENT = sql_map.seen_as_loaded(models.Contact)
sql_map.declare(
    "Gestion",
    {
        "id": sql_map.global_id("Gestion"),
        "status": sql_map.text("status"),
        "priority": sql_map.number("priority"),
        "attempts": sql_map.number("attempts"),
        "claimedAt": sql_map.instant("claimed_at"),
        "finishedAt": sql_map.instant("finished_at"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "campaign": sql_map.Nested(
            "Campaign",
            "campaigns",
            "{a}.id = {t}.campaign_id",
            visible=sql_map.seen_as_loaded(models.Campaign),
        ),
        "contact": sql_map.Nested("Contact", "contacts", "{a}.id = {t}.contact_id", visible=_CLIENT),
        # Each number once, in the order the channels were added.
        "phones": sql_map.Scalar(
            "(SELECT coalesce('[' || string_agg(to_json(n.normalized)::text, ',' ORDER BY n.first) || ']', '[]')"
            " FROM (SELECT c.normalized, min(c.id) AS first FROM contact_channels c WHERE c.contact_id = {t}.contact_id"
            " AND c.kind IN ('PHONE', 'WHATSAPP') GROUP BY c.normalized) n)",
            visible=_CLIENT,
            visible_column="contact_id",
            hidden="'[]'",
        ),
        "badge": sql_map.Nested(
            "PortfolioBadge",
            BADGE_ROWS.replace("{contact}", "{t}.contact_id"),
            "true",
            visible=_CLIENT,
            visible_column="contact_id",
        ),
        "operator": sql_map.Nested(
            "User", "users", "{a}.id = {t}.operator_id", visible=sql_map.seen_as_loaded(models.User)
        ),
        "result": sql_map.Nested("TypologyResult", "typology_results", "{a}.id = {t}.result_id"),
    },
)
