"""What the `inbox` subscription delivers (RT1): one message per event of the log, with its id.

Every field is a plain value read from the event itself: a live message is resolved outside
any operation, so it asks no loader and no database.
"""

from datetime import datetime
from typing import Annotated, Any

import strawberry

from db.models import (
    CampaignStatus,
    ChannelKind,
    ConversationStatus,
    GestionStatus,
    JobStatus,
    MessageDirection,
    PresenceStatus,
)
from schema import docs
from schema.contact_types import PortfolioBadge
from schema.enums import AuditAction
from schema.node import to_global_id
from schema.notification_types import NotificationKind
from services.conversation_events import ConversationChange
from services.events import EventKind, LoggedEvent
from services.gestiones import AssignmentAction, GestionChange
from services.portfolio_events import PortfolioChange

docs.enum(
    PortfolioChange,
    name="PortfolioChange",
    description="What happened to a portfolio.",
    values={
        "RENAMED": "It has a new name.",
        "OWNER_CHANGED": "Its owning team or agent changed.",
        "ACTIVATED": "It takes new contacts again.",
        "DEACTIVATED": "It no longer takes new contacts.",
        "DELETED": "It is gone; its contacts are in no portfolio.",
    },
)
docs.enum(
    AssignmentAction,
    name="GestionAssignmentAction",
    description="How gestiones changed hands.",
    values={
        "ASSIGNED": "Given to an operator who had none of them.",
        "TRANSFERRED": "Moved from one operator to another.",
        "UNASSIGNED": "Taken back: they belong to nobody now.",
    },
)
docs.enum(
    GestionChange,
    name="GestionChange",
    description="What happened to a gestión.",
    values={
        "ATTENDED": "An operator started working it.",
        "COMMENTED": "Saved with a comment; it stays open.",
        "RESULT_RECORDED": "Saved with a result that does not finish it.",
        "FINISHED": "Finished with a result.",
        "RELEASED": "Its operator let it go unworked.",
        "REOPENED": "A finished gestión was opened again.",
    },
)
docs.enum(
    ConversationChange,
    name="ConversationChange",
    description="What happened to a conversation.",
    values={
        "CREATED": "It came in (routed, or queued when nobody could take it) or was started.",
        "ASSIGNED": "Given to an agent by hand, or routed again.",
        "TAKEN": "An agent took it from the queue.",
        "TRANSFERRED": "Moved to another agent or team.",
        "RESOLVED": "It was resolved.",
        "REOPENED": "The client wrote again within the reopen window.",
    },
)


def badge_of(payload: dict[str, Any] | None) -> PortfolioBadge | None:
    """A badge as services.portfolio_events.badge_payload wrote it."""
    if not payload:
        return None
    return PortfolioBadge.of(
        payload["portfolioId"],
        payload["portfolioName"],
        bool(payload.get("active", True)),
        payload.get("agentName"),
        payload.get("teamName"),
    )


@strawberry.type(description="Contacts joined, moved between or left portfolios: their badges changed (P8).")
class PortfolioContactsChanged:
    action: AuditAction = strawberry.field(description="ASSIGNED, MOVED or REMOVED.")
    portfolio: PortfolioBadge | None = strawberry.field(description="Where they are now; null when REMOVED.")
    previous_portfolio: PortfolioBadge | None = strawberry.field(description="Where they were; null when ASSIGNED.")
    contact_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000: a bulk change comes in parts.")
    contact_count: int = strawberry.field(
        description="Contacts in the whole change; contactIds may list only part of them."
    )


@strawberry.type(description="A contact's VIP star was set or cleared.")
class ContactVipChanged:
    contact_id: strawberry.ID = strawberry.field(description=docs.ref("the contact"))
    is_vip: bool = strawberry.field(description="Whether it is VIP now.")


@strawberry.type(description="A portfolio was renamed, given to other owners, (de)activated or deleted.")
class PortfolioChanged:
    change: PortfolioChange = strawberry.field(description="What happened to the portfolio.")
    badge: PortfolioBadge = strawberry.field(description="The portfolio's badge as it is now (before, if DELETED).")


@strawberry.type(description="A user's presence changed (R4).")
class PresenceChanged:
    user_id: strawberry.ID = strawberry.field(description=docs.ref("the user"))
    user_name: str = strawberry.field(description="The user's name.")
    status: PresenceStatus = strawberry.field(description="Their presence now.")


@strawberry.type(description="Gestiones were given to an operator, moved between operators, or taken back (G2).")
class GestionesAssigned:
    # Names unlike the other payloads' fields of other types: a client selects them side by side.
    assignment: AssignmentAction = strawberry.field(
        description="Given (ASSIGNED), moved (TRANSFERRED) or taken back (UNASSIGNED)."
    )
    campaign_id: strawberry.ID = strawberry.field(description=docs.ref("the campaign"))
    campaign_name: str = strawberry.field(description="The campaign's name.")
    operator_id: strawberry.ID | None = strawberry.field(description="Who has them now; null when UNASSIGNED.")
    previous_operator_id: strawberry.ID | None = strawberry.field(description="Who had them; null when ASSIGNED.")
    gestion_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000: a bulk change comes in parts.")
    gestion_count: int = strawberry.field(
        description="Gestiones in the whole change; gestionIds may list only part of them."
    )


@strawberry.type(description="A gestión was attended, saved, finished, released or reopened (G5).")
class GestionChanged:
    gestion_change: GestionChange = strawberry.field(description="What happened to it.")
    gestion_id: strawberry.ID = strawberry.field(description=docs.ref("the gestión"))
    campaign_id: strawberry.ID = strawberry.field(description=docs.ref("the gestión's campaign"))
    gestion_status: GestionStatus = strawberry.field(description="Its status now.")
    result_code: str | None = strawberry.field(description="Its last result's code; null when none.")
    operator_id: strawberry.ID | None = strawberry.field(description="Its operator now; null when unassigned.")


@strawberry.type(description="A campaign you work or supervise was activated, paused or closed.")
class CampaignChanged:
    campaign_id: strawberry.ID = strawberry.field(description=docs.ref("the campaign"))
    campaign_name: str = strawberry.field(description="The campaign's name.")
    campaign_status: CampaignStatus = strawberry.field(description="Its status now.")


@strawberry.type(
    description="A conversation you work, supervise or may take came in, was assigned, taken, transferred, "
    "resolved or reopened (A1-A3)."
)
class ConversationChanged:
    conversation_change: ConversationChange = strawberry.field(description="What happened to it.")
    conversation_id: strawberry.ID = strawberry.field(description=docs.ref("the conversation"))
    contact_id: strawberry.ID = strawberry.field(description=docs.ref("the conversation's contact"))
    conversation_status: ConversationStatus = strawberry.field(description="Its status now.")
    channel: ChannelKind = strawberry.field(description="Its channel kind.")
    agent_id: strawberry.ID | None = strawberry.field(description="Who has it now; null while UNASSIGNED.")
    previous_agent_id: strawberry.ID | None = strawberry.field(description="Who had it before; null when nobody did.")
    team_id: strawberry.ID = strawberry.field(description="Its team now.")
    previous_team_id: strawberry.ID | None = strawberry.field(description="Its team before a transfer; null otherwise.")


@strawberry.type(description="A message joined a conversation you work, supervise or may take (A1).")
class ConversationMessageAdded:
    conversation_id: strawberry.ID = strawberry.field(description=docs.ref("the conversation"))
    contact_id: strawberry.ID = strawberry.field(description=docs.ref("the conversation's contact"))
    message_id: strawberry.ID = strawberry.field(description=docs.ref("the ConversationMessage"))
    direction: MessageDirection = strawberry.field(
        description="IN from the client; OUT an agent's reply, for the integrator to deliver; NOTE internal."
    )
    channel: ChannelKind = strawberry.field(description="The conversation's channel kind.")
    author_name: str | None = strawberry.field(description="Null for the client's own messages.")
    text: str = strawberry.field(description="The message's text.")
    sent_at: datetime = strawberry.field(description="When it was sent.")


@strawberry.type(description="An agent's count of OPEN conversations changed: the monitoring table's 'open now' (A4).")
class AgentLoadChanged:
    user_id: strawberry.ID = strawberry.field(description=docs.ref("the agent"))
    open_conversations: int = strawberry.field(description="Their OPEN conversations now.")


@strawberry.type(description="A notification was added to your centre (S6); read it with `notifications`.")
class NotificationAdded:
    notification_id: strawberry.ID = strawberry.field(description=docs.ref("the notification"))
    notification_kind: NotificationKind = strawberry.field(description="What it tells.")
    message: str = strawberry.field(description="Its text.")
    created_at: datetime = strawberry.field(description="When it was created.")


@strawberry.type(description="Sales attentions of groups you supervise were closed or transferred in bulk (S5).")
class SalesAttentionsChanged:
    attention_change: AuditAction = strawberry.field(description="CLOSED or TRANSFERRED.")
    attention_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000: a bulk change comes in parts.")
    attention_count: int = strawberry.field(
        description="Attentions in the whole change; attentionIds may list only part of them."
    )
    group_ids: list[strawberry.ID] = strawberry.field(description="The groups they were in and went to.")


@strawberry.type(
    description="A background job you asked for (an export) progressed, or ended (DONE, FAILED, CANCELLED)."
)
class JobProgress:
    job_id: strawberry.ID = strawberry.field(description=docs.ref("the job"))
    job_kind: str = strawberry.field(description="What the job does, e.g. SALES_EXPORT.")
    job_status: JobStatus = strawberry.field(description="Its status now.")
    done_count: int = strawberry.field(description="Items done so far.")
    total_count: int | None = strawberry.field(description="Items to do; null while not known yet.")


InboxPayload = Annotated[
    PortfolioContactsChanged
    | ContactVipChanged
    | PortfolioChanged
    | PresenceChanged
    | GestionesAssigned
    | GestionChanged
    | CampaignChanged
    | ConversationChanged
    | ConversationMessageAdded
    | AgentLoadChanged
    | NotificationAdded
    | SalesAttentionsChanged
    | JobProgress,
    strawberry.union("InboxPayload", description="What an inbox event is about; more members may be added."),
]


@strawberry.type(description="One event for you. Resume after a disconnection with inbox(after: <its id>).")
class InboxEvent:
    id: strawberry.ID = strawberry.field(description="The event's id: give it to inbox(after:) to resume from here.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    payload: InboxPayload = strawberry.field(
        description="What happened; select the members you show with inline fragments."
    )

    @classmethod
    def from_event(cls, event: LoggedEvent) -> "InboxEvent":
        return cls(id=to_global_id("Event", event.id), occurred_at=event.occurred_at, payload=_payload(event))


def _payload(event: LoggedEvent) -> Any:
    data = event.payload
    if event.kind is EventKind.PORTFOLIO_CONTACTS:
        ids = data["contactIds"]
        return PortfolioContactsChanged(
            action=AuditAction(data["action"]),
            portfolio=badge_of(data.get("portfolio")),
            previous_portfolio=badge_of(data.get("previous")),
            contact_ids=[to_global_id("Contact", i) for i in ids],
            contact_count=len(ids),
        )
    if event.kind is EventKind.CONTACT_VIP:
        return ContactVipChanged(contact_id=to_global_id("Contact", data["contactId"]), is_vip=data["isVip"])
    if event.kind is EventKind.PORTFOLIO_CHANGED:
        badge = badge_of(data["portfolio"])
        assert badge is not None
        return PortfolioChanged(change=PortfolioChange(data["change"]), badge=badge)
    if event.kind is EventKind.PRESENCE_CHANGED:
        return PresenceChanged(
            user_id=to_global_id("User", data["userId"]),
            user_name=data["userName"],
            status=PresenceStatus(data["status"]),
        )
    if event.kind is EventKind.GESTIONES_ASSIGNED:
        ids = data["gestionIds"]
        return GestionesAssigned(
            assignment=AssignmentAction(data["action"]),
            campaign_id=to_global_id("Campaign", data["campaignId"]),
            campaign_name=data["campaignName"],
            operator_id=_user(data.get("operatorId")),
            previous_operator_id=_user(data.get("previousOperatorId")),
            gestion_ids=[to_global_id("Gestion", i) for i in ids],
            gestion_count=len(ids),
        )
    if event.kind is EventKind.GESTION_CHANGED:
        return GestionChanged(
            gestion_change=GestionChange(data["change"]),
            gestion_id=to_global_id("Gestion", data["gestionId"]),
            campaign_id=to_global_id("Campaign", data["campaignId"]),
            gestion_status=GestionStatus(data["status"]),
            result_code=data.get("resultCode"),
            operator_id=_user(data.get("operatorId")),
        )
    if event.kind is EventKind.CAMPAIGN_CHANGED:
        return CampaignChanged(
            campaign_id=to_global_id("Campaign", data["campaignId"]),
            campaign_name=data["campaignName"],
            campaign_status=CampaignStatus(data["status"]),
        )
    if event.kind is EventKind.CONVERSATION_CHANGED:
        return ConversationChanged(
            conversation_change=ConversationChange(data["change"]),
            conversation_id=to_global_id("Conversation", data["conversationId"]),
            contact_id=to_global_id("Contact", data["contactId"]),
            conversation_status=ConversationStatus(data["status"]),
            channel=ChannelKind(data["channelKind"]),
            agent_id=_user(data.get("agentId")),
            previous_agent_id=_user(data.get("previousAgentId")),
            team_id=to_global_id("Team", data["teamId"]),
            previous_team_id=to_global_id("Team", data["previousTeamId"]) if data.get("previousTeamId") else None,
        )
    if event.kind is EventKind.CONVERSATION_MESSAGE:
        return ConversationMessageAdded(
            conversation_id=to_global_id("Conversation", data["conversationId"]),
            contact_id=to_global_id("Contact", data["contactId"]),
            message_id=to_global_id("ConversationMessage", data["messageId"]),
            direction=MessageDirection(data["direction"]),
            channel=ChannelKind(data["channelKind"]),
            author_name=data.get("authorName"),
            text=data["text"],
            sent_at=datetime.fromisoformat(data["sentAt"]),
        )
    if event.kind is EventKind.AGENT_LOAD_CHANGED:
        return AgentLoadChanged(
            user_id=to_global_id("User", data["userId"]), open_conversations=data["openConversations"]
        )
    if event.kind is EventKind.NOTIFICATION:
        return NotificationAdded(
            notification_id=to_global_id("Notification", data["notificationId"]),
            notification_kind=NotificationKind(data["kind"]),
            message=data["message"],
            created_at=datetime.fromisoformat(data["createdAt"]),
        )
    if event.kind is EventKind.SALES_ATTENTIONS_CHANGED:
        ids = data["attentionIds"]
        return SalesAttentionsChanged(
            attention_change=AuditAction(data["change"]),
            attention_ids=[to_global_id("SalesAttention", i) for i in ids],
            attention_count=len(ids),
            group_ids=[to_global_id("Team", t) for t in data["teamIds"]],
        )
    if event.kind is EventKind.JOB_PROGRESS:
        total = data.get("totalCount")
        return JobProgress(
            job_id=to_global_id("Job", data["jobId"]),
            job_kind=data["kind"],
            job_status=JobStatus(data["status"]),
            done_count=int(data["doneCount"]),
            total_count=int(total) if total is not None else None,
        )
    raise ValueError(f"no inbox message for {event.kind}")


def _user(pk: int | None) -> strawberry.ID | None:
    return to_global_id("User", pk) if pk is not None else None


# Kinds the inbox shows; the others are for the server's own use (ACCESS_CHANGED).
SHOWN = frozenset(
    {
        EventKind.PORTFOLIO_CONTACTS,
        EventKind.CONTACT_VIP,
        EventKind.PORTFOLIO_CHANGED,
        EventKind.PRESENCE_CHANGED,
        EventKind.GESTIONES_ASSIGNED,
        EventKind.GESTION_CHANGED,
        EventKind.CAMPAIGN_CHANGED,
        EventKind.CONVERSATION_CHANGED,
        EventKind.CONVERSATION_MESSAGE,
        EventKind.AGENT_LOAD_CHANGED,
        EventKind.NOTIFICATION,
        EventKind.SALES_ATTENTIONS_CHANGED,
        EventKind.JOB_PROGRESS,
    }
)
