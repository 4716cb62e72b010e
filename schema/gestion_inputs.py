"""Inputs and payloads of typologies, campaigns and gestiones (G1-G6)."""

import enum
from datetime import date

import strawberry
from strawberry.scalars import JSON

from db.keyset import PageRequest, paginate_sequence
from db.models import CampaignStatus, FieldType, GestionStatus
from schema.connection import Connection, connection
from schema.contact_types import Contact
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.gestion_types import Campaign, Gestion, Typology, TypologyResult
from schema.ids import pks
from schema.node import to_global_id
from schema.portfolio_inputs import ContactSelection
from schema.types import AuditEvent, CursorArg, Info, PageArg, User
from services import campaigns, gestiones, typologies
from services.contacts import Refusal
from services.gestiones import (
    AddedGestion,
    AddOutcome,
    AddResult,
    Distribution,
    Strategy,
    TransferOutcome,
    Transferred,
    TransferRejection,
)

strawberry.enum(AddOutcome, name="GestionAddOutcome")
strawberry.enum(Refusal, name="ContactRefusal", description="Why a contact given by id was left out.")
strawberry.enum(Strategy, name="DistributionStrategy")
strawberry.enum(TransferOutcome, name="GestionTransferOutcome")
strawberry.enum(TransferRejection, name="GestionTransferRejection")


@strawberry.input(description="One field of a typology's plan, defined as custom fields are.")
class PlanFieldInput:
    key: str
    label: str
    type: FieldType
    options: list[str] = strawberry.field(default_factory=list, description="The choices of a CHOICE field.")
    required: bool = False

    def to_service(self) -> typologies.PlanFieldData:
        return typologies.PlanFieldData(self.key, self.label, self.type, tuple(self.options), self.required)


@strawberry.input
class CreateTypologyInput:
    code: str = strawberry.field(description="Capital letters, digits or _, e.g. COLLECTIONS.")
    name: str
    plan_fields: list[PlanFieldInput]


@strawberry.input(description="Only the fields you give change.")
class UpdateTypologyInput:
    name: str | None = strawberry.UNSET
    plan_fields: list[PlanFieldInput] | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class CreateTypologyResultInput:
    typology_id: strawberry.ID
    code: str
    label: str
    finishes: bool = strawberry.field(default=True, description="False: the gestión goes back to the queue.")
    requires_comment: bool = False
    position: int | None = strawberry.field(default=None, description="Last when not given.")


@strawberry.input(description="Only the fields you give change; a result is deactivated, never deleted.")
class UpdateTypologyResultInput:
    label: str | None = strawberry.UNSET
    finishes: bool | None = strawberry.UNSET
    requires_comment: bool | None = strawberry.UNSET
    position: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.type
class TypologyPayload:
    typology: Typology | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TypologyResultPayload:
    result: TypologyResult | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateCampaignInput:
    name: str
    typology_id: strawberry.ID
    team_id: strawberry.ID = strawberry.field(description="The team that runs it; its supervisors manage it.")
    starts_on: date | None = None
    ends_on: date | None = None


@strawberry.input(description="Only the fields you give change; null clears a date.")
class UpdateCampaignInput:
    name: str | None = strawberry.UNSET
    starts_on: date | None = strawberry.UNSET
    ends_on: date | None = strawberry.UNSET


@strawberry.input(description="Narrow the campaigns list; all given conditions must hold.")
class CampaignFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name; accents and case ignored.")
    statuses: list[CampaignStatus] | None = None
    team_ids: list[strawberry.ID] | None = None
    typology_ids: list[strawberry.ID] | None = None
    operator_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Operated by any of these.")

    def to_service(self) -> campaigns.CampaignFilter:
        return campaigns.CampaignFilter(
            search=self.search,
            statuses=tuple(self.statuses or ()),
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            typology_ids=pks(self.typology_ids, "Typology", "filter.typologyIds"),
            operator_ids=pks(self.operator_ids, "User", "filter.operatorIds"),
        )


@strawberry.enum
class CampaignOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"


@strawberry.input
class CampaignOrder:
    field: CampaignOrderField = CampaignOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC

    def to_service(self) -> tuple[campaigns.CampaignOrder, bool]:
        return campaigns.CampaignOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Narrow the operator panel (G3); all given conditions must hold.")
class GestionFilter:
    campaign_ids: list[strawberry.ID] | None = None
    search: str | None = strawberry.field(
        default=None, description="Last and/or first names of the client; accents and case ignored."
    )
    result_codes: list[str] | None = strawberry.field(default=None, description="With one of these last results.")
    statuses: list[GestionStatus] | None = None
    operator_ids: list[strawberry.ID] | None = None
    unassigned: bool | None = strawberry.field(default=None, description="True: given to nobody yet; false: given.")
    contact_ids: list[strawberry.ID] | None = None

    def to_service(self) -> gestiones.GestionFilter:
        return gestiones.GestionFilter(
            campaign_ids=pks(self.campaign_ids, "Campaign", "filter.campaignIds"),
            search=self.search,
            result_codes=tuple(self.result_codes or ()),
            statuses=tuple(self.statuses or ()),
            operator_ids=pks(self.operator_ids, "User", "filter.operatorIds"),
            unassigned=self.unassigned,
            contact_ids=pks(self.contact_ids, "Contact", "filter.contactIds"),
        )


@strawberry.enum
class GestionOrderField(enum.Enum):
    PRIORITY = "PRIORITY"
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input(description="PRIORITY (the default) is the order save-and-next hands them out.")
class GestionOrder:
    field: GestionOrderField = GestionOrderField.PRIORITY
    direction: OrderDirection = OrderDirection.ASC

    def to_service(self) -> tuple[gestiones.GestionOrder, bool]:
        return gestiones.GestionOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(description="A client line with its own plan information.")
class GestionLineInput:
    contact_id: strawberry.ID
    plan: JSON
    priority: int | None = None


@strawberry.input(
    description=(
        "Either `contacts` (ids or a contacts filter) with one `plan` for all of them, or `lines`, each with its own."
    )
)
class AddGestionesInput:
    campaign_id: strawberry.ID
    contacts: ContactSelection | None = None
    plan: JSON | None = None
    priority: int | None = strawberry.field(default=None, description="Higher first; from -1000 to 1000, default 0.")
    lines: list[GestionLineInput] | None = None


@strawberry.type(description="What addGestiones did with one client.")
class GestionAddResult:
    contact_pk: strawberry.Private[int]
    gestion_pk: strawberry.Private[int | None]
    contact_id: strawberry.ID
    outcome: AddOutcome
    rejection: Refusal | None

    @classmethod
    def of(cls, item: AddedGestion | str) -> "GestionAddResult":
        """An outcome; a string is a given id that names no contact, reported as not visible (R3)."""
        if isinstance(item, str):
            return cls(
                contact_pk=0,
                gestion_pk=None,
                contact_id=strawberry.ID(item),
                outcome=AddOutcome.REJECTED,
                rejection=Refusal.NOT_VISIBLE,
            )
        return cls(
            contact_pk=item.contact_id,
            gestion_pk=item.gestion_id,
            contact_id=to_global_id("Contact", item.contact_id),
            outcome=item.outcome,
            rejection=item.rejection,
        )

    @strawberry.field(description="CREATED: the new gestión; DUPLICATE: the open one it already has.")
    async def gestion(self, info: Info) -> Gestion | None:
        if self.gestion_pk is None:
            return None
        row = await info.context.loaders.gestion_by_id.load(self.gestion_pk)
        return Gestion.from_row(row) if row else None

    @strawberry.field(description="The client; null when you cannot see it.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk) if self.contact_pk else None
        return Contact.from_row(row) if row else None


async def _audit_event(info: Info, event_id: int | None) -> AuditEvent | None:
    if event_id is None:
        return None
    row = await info.context.loaders.audit_event_by_id.load(event_id)
    return AuditEvent.from_row(row) if row else None


@strawberry.type(description="What addGestiones did (X2): counts, each client's outcome, the audit record.")
class AddGestionesPayload:
    done: strawberry.Private[AddResult | None] = None
    unreadable: strawberry.Private[tuple[str, ...]] = ()
    campaign: Campaign | None = None
    created_count: int = 0
    duplicate_count: int = 0
    rejected_count: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, done: AddResult, unreadable: list[str]) -> "AddGestionesPayload":
        return cls(
            done=done,
            unreadable=tuple(unreadable),
            campaign=Campaign.from_row(done.campaign),
            created_count=done.counts[AddOutcome.CREATED],
            duplicate_count=done.counts[AddOutcome.DUPLICATE],
            rejected_count=done.counts[AddOutcome.REJECTED] + len(unreadable),
        )

    @strawberry.field(description="Each client's outcome; narrow with `outcomes`.")
    def results(
        self,
        info: Info,
        outcomes: list[AddOutcome] | None = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[GestionAddResult]:
        everything: list[AddedGestion | str] = [*self.unreadable, *(self.done.outcomes if self.done else [])]
        items = [
            o
            for o in everything
            if not outcomes or (AddOutcome.REJECTED if isinstance(o, str) else o.outcome) in outcomes
        ]
        request = PageRequest(first=first, after=after, last=last, before=before)
        page = paginate_sequence(items, request=request, max_page_size=info.context.settings.max_page_size)

        async def count() -> int:
            return len(items)

        return connection(page, GestionAddResult.of, count)

    @strawberry.field(description="The call's event on the campaign; its entries are the new gestiones' CREATED rows.")
    async def audit_event(self, info: Info) -> AuditEvent | None:
        return await _audit_event(info, self.done.event_id if self.done else None)


@strawberry.type(description="How many gestiones one operator was given.")
class OperatorShare:
    operator_pk: strawberry.Private[int]
    count: int

    @strawberry.field
    async def operator(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.operator_pk)
        return User.from_row(row) if row else None


@strawberry.type
class DistributeGestionesPayload:
    done: strawberry.Private[Distribution | None] = None
    campaign: Campaign | None = None
    distributed_count: int = 0
    shares: list[OperatorShare] = strawberry.field(
        default_factory=list, description="Per operator, in the order given."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, done: Distribution) -> "DistributeGestionesPayload":
        return cls(
            done=done,
            campaign=Campaign.from_row(done.campaign),
            distributed_count=done.total,
            shares=[OperatorShare(operator_pk=op, count=n) for op, n in done.given.items()],
        )

    @strawberry.field(description="The call's event on the campaign; its entries are each gestión's ASSIGNED row.")
    async def audit_event(self, info: Info) -> AuditEvent | None:
        return await _audit_event(info, self.done.event_id if self.done else None)


@strawberry.type(description="What transferGestiones did with one gestión.")
class GestionTransferResult:
    gestion_pk: strawberry.Private[int]
    gestion_id: strawberry.ID
    outcome: TransferOutcome
    rejection: TransferRejection | None

    @classmethod
    def of(cls, item: Transferred | str) -> "GestionTransferResult":
        if isinstance(item, str):
            return cls(
                gestion_pk=0,
                gestion_id=strawberry.ID(item),
                outcome=TransferOutcome.REJECTED,
                rejection=TransferRejection.NOT_VISIBLE,
            )
        return cls(
            gestion_pk=item.gestion_id,
            gestion_id=to_global_id("Gestion", item.gestion_id),
            outcome=item.outcome,
            rejection=item.rejection,
        )

    @strawberry.field
    async def gestion(self, info: Info) -> Gestion | None:
        row = await info.context.loaders.gestion_by_id.load(self.gestion_pk) if self.gestion_pk else None
        return Gestion.from_row(row) if row else None


@strawberry.type
class TransferGestionesPayload:
    transferred_count: int = 0
    results: list[GestionTransferResult] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GestionPayload:
    gestion: Gestion | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Finish the gestión with a result of its typology's catalogue.")
class FinishInput:
    result_code: str


@strawberry.type
class SaveGestionPayload:
    gestion: Gestion | None = strawberry.field(default=None, description="The gestión saved.")
    next: Gestion | None = strawberry.field(
        default=None, description="With next: true, your next gestión, already yours; null when none is waiting."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
