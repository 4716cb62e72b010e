"""The export of the sales panel (S5): what to export and how the CSV is written."""

import strawberry

from schema import docs
from schema.errors import UserError
from schema.job_types import Job
from schema.sales_inputs import SalesAttentionSelection, SalesColumnInput


@strawberry.input(description="Export the attentions selected (by ids or by a filter) as CSV, in the background.")
class ExportSalesAttentionsInput:
    selection: SalesAttentionSelection = strawberry.field(description="Which attentions.")
    view_id: strawberry.ID | None = strawberry.field(
        default=None, description="Take the columns of this saved view of yours (when `columns` is not given)."
    )
    columns: list[SalesColumnInput] | None = strawberry.field(
        default=None, description="The columns in order; else the view's, else the default set."
    )
    delimiter: str = strawberry.field(
        default=";", description='";" (what a Spanish-locale Excel expects), ",", "|" or a tab.'
    )


@strawberry.type(description="Result of exportSalesAttentions: a queued job, or userErrors and nothing queued.")
class ExportSalesAttentionsPayload:
    job: Job | None = strawberry.field(
        default=None, description="Queued; its file is announced in your notifications when ready."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
