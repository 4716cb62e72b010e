"""The sales panel's shared inputs (S3-S5): its filter, a selection of attentions, and columns.

The filter becomes services.sales_panel.SalesFilter, the one definition the page, the bulk calls
and the export read; a saved view stores the same filter (SalesFilter.to_stored).
"""

from datetime import datetime

import strawberry

from db.models import SalesAttentionStatus, SalesCatalogKind
from schema import docs
from schema.enums import Period
from schema.ids import optional_pk, pks
from services import sales_panel
from services.errors import ErrorCode, fail

docs.enum(
    SalesAttentionStatus,
    name="SalesAttentionStatus",
    description="Where a commercial attention stands (S1).",
    values={
        "OPEN": "Being worked.",
        "PENDING": "Waiting on the client or a follow-up; `pendingSince` says since when.",
        "CLOSED": "Done, with a close reason.",
    },
)
docs.enum(
    SalesCatalogKind,
    name="SalesCatalogKind",
    description="The sales panel's catalogues an admin manages.",
    values={
        "INTEREST": "What a contact is interested in.",
        "ORIGIN": "Where a contact came from (a campaign, a channel).",
        "CLOSE_REASON": "Why an attention was closed.",
    },
)
docs.enum(
    sales_panel.Column,
    name="SalesColumn",
    description="A column of the sales panel and its exports.",
    values={
        "FULL_NAME": "The contact's full name.",
        "PHONE": "The contact's first phone or WhatsApp number.",
        "EMAIL": "The contact's first e-mail.",
        "INTEREST": "The interest's name.",
        "ORIGIN": "The origin's name.",
        "AGENT": "The agent's name.",
        "GROUP": "The group's (team's) name.",
        "STATUS": "OPEN, PENDING or CLOSED.",
        "CLOSE_REASON": "The close reason's name.",
        "PENDING_SINCE": "When it became PENDING.",
        "CREATED_AT": "When the attention was created.",
        "CLOSED_AT": "When it was closed.",
        "UPDATED_AT": "When it last changed.",
        "COMPANY": "The contact's company.",
        "DOCUMENT_NUMBER": "The contact's document number.",
        "VIP": "Whether the contact is VIP.",
    },
)

_PERIOD = "A preset in the account's time zone; LAST_7_DAYS when neither it nor from/to is given."


@strawberry.input(description="A contact custom field (C7) whose value must equal `value`.")
class SalesCustomFieldCondition:
    key: str = strawberry.field(description="The custom field's key.")
    value: str = strawberry.field(description="The value it must equal.")


@strawberry.input(description="Narrow the sales panel (S3); all given conditions must hold.")
class SalesAttentionFilter:
    text: str | None = strawberry.field(default=None, description="Over the contact's name, phones and e-mails.")
    period: Period | None = strawberry.field(default=None, description=_PERIOD)
    from_: datetime | None = strawberry.field(default=None, name="from", description="A custom range's start.")
    to: datetime | None = strawberry.field(default=None, description="A custom range's end (inclusive; now if absent).")
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="A group and its subgroups; the highest group you can access when absent."
    )
    agent_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="These users' attentions.")
    unassigned: bool | None = strawberry.field(
        default=None, description="True: also (or, without agentIds, only) the attentions nobody has."
    )
    statuses: list[SalesAttentionStatus] | None = strawberry.field(
        default=None, description="With any of these statuses."
    )
    interest_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="With any of these interests."
    )
    origin_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="With any of these origins.")
    close_reason_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Closed with any of these reasons."
    )
    custom_fields: list[SalesCustomFieldCondition] | None = strawberry.field(
        default=None, description="Each one counts as one filter of a view's twelve."
    )

    def to_service(self, field: str = "filter") -> sales_panel.SalesFilter:
        entry = "SalesCatalogEntry"
        return sales_panel.SalesFilter(
            text=self.text or None,
            period=self.period,
            since=self.from_,
            until=self.to,
            team_id=optional_pk(self.team_id, "Team", f"{field}.teamId"),
            agent_ids=pks(self.agent_ids, "User", f"{field}.agentIds"),
            unassigned=bool(self.unassigned),
            statuses=tuple(self.statuses or ()),
            interest_ids=pks(self.interest_ids, entry, f"{field}.interestIds"),
            origin_ids=pks(self.origin_ids, entry, f"{field}.originIds"),
            close_reason_ids=pks(self.close_reason_ids, entry, f"{field}.closeReasonIds"),
            custom_fields=tuple((c.key, c.value) for c in self.custom_fields or ()),
        )


@strawberry.input(
    one_of=True,
    description="Which attentions: these ids (from the panel's selection), or everything matching a filter.",
)
class SalesAttentionSelection:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Global ids of attentions; an id you cannot see is REJECTED as NOT_FOUND."
    )
    filter: SalesAttentionFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Every attention you see matching this filter, read when the call runs."
    )

    def to_service(self) -> sales_panel.SalesFilter:
        """Ids select exactly those (within what you see); a filter everything it matches."""
        if isinstance(self.filter, SalesAttentionFilter):
            return self.filter.to_service("selection.filter")
        ids = pks(self.ids if isinstance(self.ids, list) else (), "SalesAttention", "selection.ids")
        if not ids:
            raise fail(ErrorCode.REQUIRED, "Select at least one attention", "selection.ids")
        # Chosen rows are not narrowed by the default period: the selection is what was picked.
        return sales_panel.SalesFilter(ids=ids)


@strawberry.input(
    one_of=True, description="A column: one of the panel's own, or a contact custom field (C7) by its key."
)
class SalesColumnInput:
    field: sales_panel.Column | None = strawberry.field(
        default=strawberry.UNSET, description="One of the panel's own columns."
    )
    custom_field_key: str | None = strawberry.field(
        default=strawberry.UNSET, description="The key of a contact custom field."
    )

    def to_service(self) -> str:
        if isinstance(self.custom_field_key, str):
            return sales_panel.CUSTOM_FIELD_PREFIX + self.custom_field_key
        assert isinstance(self.field, sales_panel.Column)  # one_of: exactly one is given
        return self.field.value
