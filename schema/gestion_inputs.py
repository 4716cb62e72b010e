"""Inputs and payloads of typologies, campaigns and gestiones (G1-G6)."""

import enum
from datetime import date
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from db.keyset import PageRequest, paginate_sequence
from db.models import CampaignStatus, FieldType, GestionStatus
from schema import docs
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

docs.enum(
    AddOutcome,
    name="GestionAddOutcome",
    description="What addGestiones did with one client.",
    values={
        "CREATED": "A gestión was created.",
        "DUPLICATE": "The client already has an open gestión in the campaign: reported, not added twice.",
        "REJECTED": "Left out; `rejection` says why.",
    },
)
docs.enum(
    Refusal,
    name="ContactRefusal",
    description="Why a contact given by id was left out.",
    values={"NOT_VISIBLE": "No such contact, or one you may not see.", "ARCHIVED": "The contact is archived."},
)
docs.enum(
    Strategy,
    name="DistributionStrategy",
    description="How distributeGestiones deals a campaign's unassigned gestiones.",
    values={
        "EVEN": "The least loaded operators first, so all end with open gestiones as alike as possible.",
        "ROUND_ROBIN": "One each in turn, in the order the operators are given, whatever they hold.",
    },
)
docs.enum(
    TransferOutcome,
    name="GestionTransferOutcome",
    description="What transferGestiones did with one gestión.",
    values={
        "TRANSFERRED": "It now belongs to the new operator.",
        "UNCHANGED": "It already belonged to that operator.",
        "REJECTED": "Left as it was; `rejection` says why.",
    },
)
docs.enum(
    TransferRejection,
    name="GestionTransferRejection",
    description="Why a gestión was not transferred.",
    values={
        "NOT_VISIBLE": "No such gestión, or one you may not see.",
        "IN_PROGRESS": "Someone is attending it; transfer it once they save it.",
        "FINISHED": "It is finished.",
        "NOT_AN_OPERATOR": "The new operator does not operate its campaign.",
    },
)


@strawberry.input(description="One field of a typology's plan, defined as custom fields are.")
class PlanFieldInput:
    key: str = strawberry.field(
        description="Key under which each gestión's plan holds the value; unique in the typology."
    )
    label: str = strawberry.field(description="Label shown to operators.")
    type: FieldType = strawberry.field(description="What values it takes.")
    options: list[str] = strawberry.field(default_factory=list, description="The choices of a CHOICE field.")
    required: bool = strawberry.field(default=False, description="Whether every gestión's plan must give a value.")

    def to_service(self) -> typologies.PlanFieldData:
        return typologies.PlanFieldData(self.key, self.label, self.type, tuple(self.options), self.required)


@strawberry.input(description="A new typology (ADMIN, G1).")
class CreateTypologyInput:
    code: str = strawberry.field(description="Capital letters, digits or _, e.g. COLLECTIONS.")
    name: str = strawberry.field(description=docs.NAME)
    plan_fields: list[PlanFieldInput] = strawberry.field(
        description="The plan information its gestiones carry, in display order."
    )


@strawberry.input(description="Only the fields you give change.")
class UpdateTypologyInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    plan_fields: list[PlanFieldInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The complete new list of plan fields; existing gestiones keep their plans.",
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Deactivate (false) or activate (true): an inactive typology takes no new campaigns.",
    )


@strawberry.input(description="A new result of a typology (ADMIN, G5).")
class CreateTypologyResultInput:
    typology_id: strawberry.ID = strawberry.field(description="The typology it belongs to.")
    code: str = strawberry.field(description="Stable code, unique within the typology (ALREADY_EXISTS).")
    label: str = strawberry.field(description="Label shown to operators.")
    finishes: bool = strawberry.field(default=True, description="False: the gestión goes back to the queue.")
    requires_comment: bool = strawberry.field(
        default=False, description="Whether saving with this result needs a comment."
    )
    position: int | None = strawberry.field(default=None, description="Last when not given.")


@strawberry.input(description="Only the fields you give change; a result is deactivated, never deleted.")
class UpdateTypologyResultInput:
    label: str | None = strawberry.field(default=strawberry.UNSET, description="New label.")
    finishes: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether the result finishes the gestión."
    )
    requires_comment: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether it needs a comment."
    )
    position: int | None = strawberry.field(default=strawberry.UNSET, description="New display order.")
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Deactivate (false) or activate (true): an inactive result is not offered.",
    )


@strawberry.type(description="Result of a typology mutation.")
class TypologyPayload:
    typology: Typology | None = strawberry.field(default=None, description="The typology; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of a typology result mutation.")
class TypologyResultPayload:
    result: TypologyResult | None = strawberry.field(default=None, description="The result; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="A new campaign (G1), created as DRAFT.")
class CreateCampaignInput:
    name: str = strawberry.field(description=docs.NAME)
    typology_id: strawberry.ID = strawberry.field(description="Its typology (INACTIVE when deactivated).")
    team_id: strawberry.ID = strawberry.field(description="The team that runs it; its supervisors manage it.")
    starts_on: date | None = strawberry.field(default=None, description="First day work is planned.")
    ends_on: date | None = strawberry.field(
        default=None, description="Last day work is planned; not before startsOn (INVALID)."
    )


@strawberry.input(description="Only the fields you give change; null clears a date.")
class UpdateCampaignInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    starts_on: date | None = strawberry.field(default=strawberry.UNSET, description="New first day; null clears it.")
    ends_on: date | None = strawberry.field(default=strawberry.UNSET, description="New last day; null clears it.")


@strawberry.input(description="Narrow the campaigns list; all given conditions must hold.")
class CampaignFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name; accents and case ignored.")
    statuses: list[CampaignStatus] | None = strawberry.field(default=None, description="With any of these statuses.")
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Belonging to any of these teams."
    )
    typology_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Of any of these typologies.")
    operator_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Operated by any of these.")

    def to_service(self) -> campaigns.CampaignFilter:
        return campaigns.CampaignFilter(
            search=self.search,
            statuses=tuple(self.statuses or ()),
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            typology_ids=pks(self.typology_ids, "Typology", "filter.typologyIds"),
            operator_ids=pks(self.operator_ids, "User", "filter.operatorIds"),
        )


class CampaignOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"


docs.enum(
    CampaignOrderField,
    name="CampaignOrderField",
    description="What the campaigns list sorts by.",
    values={
        "NAME": "Name, case- and accent-insensitive.",
        "CREATED_AT": "When the campaign was created.",
    },
)


@strawberry.input(description="Sort order of the campaigns list (default: by name, ascending).")
class CampaignOrder:
    field: CampaignOrderField = strawberry.field(default=CampaignOrderField.NAME, description=docs.ORDER_FIELD)
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description=docs.ORDER_DIRECTION)

    def to_service(self) -> tuple[campaigns.CampaignOrder, bool]:
        return campaigns.CampaignOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.type(description="Result of a campaign mutation.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(default=None, description="The campaign; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="Narrow the operator panel (G3); all given conditions must hold.")
class GestionFilter:
    campaign_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In any of these campaigns.")
    search: str | None = strawberry.field(
        default=None, description="Last and/or first names of the client; accents and case ignored."
    )
    result_codes: list[str] | None = strawberry.field(default=None, description="With one of these last results.")
    statuses: list[GestionStatus] | None = strawberry.field(default=None, description="With any of these statuses.")
    operator_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Given to any of these operators."
    )
    unassigned: bool | None = strawberry.field(default=None, description="True: given to nobody yet; false: given.")
    contact_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="For any of these clients.")

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


class GestionOrderField(enum.Enum):
    PRIORITY = "PRIORITY"
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


docs.enum(
    GestionOrderField,
    name="GestionOrderField",
    description="What the gestiones list sorts by.",
    values={
        "PRIORITY": "Priority, higher first (ties: oldest first); the operator queue's order.",
        "NAME": "Client's name, case- and accent-insensitive.",
        "CREATED_AT": "When the gestión was created.",
        "UPDATED_AT": "When the gestión last changed.",
    },
)


@strawberry.input(description="PRIORITY (the default) is the order save-and-next hands them out.")
class GestionOrder:
    field: GestionOrderField = strawberry.field(default=GestionOrderField.PRIORITY, description=docs.ORDER_FIELD)
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description=docs.ORDER_DIRECTION)

    def to_service(self) -> tuple[gestiones.GestionOrder, bool]:
        return gestiones.GestionOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(description="A client line with its own plan information.")
class GestionLineInput:
    contact_id: strawberry.ID = strawberry.field(description="The client: a contact you can see, not archived.")
    plan: JSON = strawberry.field(
        description="Plan information, an object keyed by the typology's plan fields (validated: INVALID, REQUIRED)."
    )
    priority: int | None = strawberry.field(default=None, description="Higher first; from -1000 to 1000, default 0.")


@strawberry.input(
    description=(
        "Either `contacts` (ids or a contacts filter) with one `plan` for all of them, or `lines`, each with its own."
    )
)
class AddGestionesInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign to add to (CONFLICT when closed).")
    contacts: ContactSelection | None = strawberry.field(
        default=None, description="The clients, all with the same `plan`."
    )
    plan: JSON | None = strawberry.field(
        default=None, description="Plan information for every client given in `contacts`."
    )
    priority: int | None = strawberry.field(default=None, description="Higher first; from -1000 to 1000, default 0.")
    lines: list[GestionLineInput] | None = strawberry.field(
        default=None,
        description="Clients each with its own plan; at most the server's limit per call (LIMIT_EXCEEDED).",
    )


@strawberry.type(description="What addGestiones did with one client.")
class GestionAddResult:
    contact_pk: strawberry.Private[int]
    gestion_pk: strawberry.Private[int | None]
    contact_id: strawberry.ID = strawberry.field(description="The client's global id, as given.")
    outcome: AddOutcome = strawberry.field(description="What happened to it.")
    rejection: Refusal | None = strawberry.field(description="Set when the outcome is REJECTED.")

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
    campaign: Campaign | None = strawberry.field(default=None, description="The campaign; null when refused.")
    created_count: int = strawberry.field(default=0, description="Gestiones created.")
    duplicate_count: int = strawberry.field(
        default=0, description="Clients that already had an open gestión in the campaign (not added twice)."
    )
    rejected_count: int = strawberry.field(default=0, description="Clients rejected.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)

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
        outcomes: Annotated[list[AddOutcome] | None, strawberry.argument(description=docs.OUTCOMES)] = None,
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
    count: int = strawberry.field(description="Gestiones the operator was given by this call.")

    @strawberry.field(description="The operator; null when you cannot see them.")
    async def operator(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.operator_pk)
        return User.from_row(row) if row else None


@strawberry.type(description="Result of distributeGestiones.")
class DistributeGestionesPayload:
    done: strawberry.Private[Distribution | None] = None
    campaign: Campaign | None = strawberry.field(default=None, description="The campaign; null when refused.")
    distributed_count: int = strawberry.field(default=0, description="Gestiones handed out.")
    shares: list[OperatorShare] = strawberry.field(
        default_factory=list, description="Per operator, in the order given."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)

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
    gestion_id: strawberry.ID = strawberry.field(description="The gestión's global id, as given.")
    outcome: TransferOutcome = strawberry.field(description="What happened to it.")
    rejection: TransferRejection | None = strawberry.field(description="Set when the outcome is REJECTED.")

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

    @strawberry.field(description="The gestión; null when you cannot see it.")
    async def gestion(self, info: Info) -> Gestion | None:
        row = await info.context.loaders.gestion_by_id.load(self.gestion_pk) if self.gestion_pk else None
        return Gestion.from_row(row) if row else None


@strawberry.type(description="Result of transferGestiones: each gestión is moved or rejected on its own (X2).")
class TransferGestionesPayload:
    transferred_count: int = strawberry.field(default=0, description="Gestiones moved.")
    results: list[GestionTransferResult] = strawberry.field(default_factory=list, description=docs.BULK_RESULTS)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of a gestión mutation.")
class GestionPayload:
    gestion: Gestion | None = strawberry.field(default=None, description="The gestión; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.input(description="Finish the gestión with a result of its typology's catalogue.")
class FinishInput:
    result_code: str = strawberry.field(
        description="The result's code (INVALID unless an active result of the campaign's typology)."
    )


@strawberry.type(description="Result of saveGestion.")
class SaveGestionPayload:
    gestion: Gestion | None = strawberry.field(default=None, description="The gestión saved.")
    next: Gestion | None = strawberry.field(
        default=None, description="With next: true, your next gestión, already yours; null when none is waiting."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
