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
from schema.contact_types import PortfolioBadge
from schema.enums import AuditAction
from schema.node import to_global_id
from schema.notification_types import NotificationKind
from services.conversation_events import ConversationChange
from services.events import EventKind, LoggedEvent
from services.gestiones import AssignmentAction, GestionChange
from services.portfolio_events import PortfolioChange

strawberry.enum(PresenceStatus, name="PresenceStatus")
strawberry.enum(PortfolioChange, name="PortfolioChange")
strawberry.enum(AssignmentAction, name="GestionAssignmentAction")
strawberry.enum(GestionChange, name="GestionChange")
strawberry.enum(ConversationChange, name="ConversationChange")


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
    contact_count: int


@strawberry.type(description="A contact's VIP star was set or cleared.")
class ContactVipChanged:
    contact_id: strawberry.ID
    is_vip: bool


@strawberry.type(description="A portfolio was renamed, given to other owners, (de)activated or deleted.")
class PortfolioChanged:
    change: PortfolioChange
    badge: PortfolioBadge = strawberry.field(description="The portfolio's badge as it is now (before, if DELETED).")


@strawberry.type(description="A user's presence changed (R4).")
class PresenceChanged:
    user_id: strawberry.ID
    user_name: str
    status: PresenceStatus


@strawberry.type(description="Gestiones were given to an operator, moved between operators, or taken back (G2).")
class GestionesAssigned:
    # Names unlike the other payloads' fields of other types: a client selects them side by side.
    assignment: AssignmentAction
    campaign_id: strawberry.ID
    campaign_name: str
    operator_id: strawberry.ID | None = strawberry.field(description="Who has them now; null when UNASSIGNED.")
    previous_operator_id: strawberry.ID | None = strawberry.field(description="Who had them; null when ASSIGNED.")
    gestion_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000: a bulk change comes in parts.")
    gestion_count: int


@strawberry.type(description="A gestión was attended, saved, finished, released or reopened (G5).")
class GestionChanged:
    gestion_change: GestionChange
    gestion_id: strawberry.ID
    campaign_id: strawberry.ID
    gestion_status: GestionStatus
    result_code: str | None
    operator_id: strawberry.ID | None


@strawberry.type(description="A campaign you work or supervise was activated, paused or closed.")
class CampaignChanged:
    campaign_id: strawberry.ID
    campaign_name: str
    campaign_status: CampaignStatus


@strawberry.type(
    description="A conversation you work, supervise or may take came in, was assigned, taken, transferred, "
    "resolved or reopened (A1-A3)."
)
class ConversationChanged:
    conversation_change: ConversationChange
    conversation_id: strawberry.ID
    contact_id: strawberry.ID
    conversation_status: ConversationStatus
    channel: ChannelKind
    agent_id: strawberry.ID | None = strawberry.field(description="Who has it now; null while UNASSIGNED.")
    previous_agent_id: strawberry.ID | None
    team_id: strawberry.ID
    previous_team_id: strawberry.ID | None


@strawberry.type(description="A message joined a conversation you work, supervise or may take (A1).")
class ConversationMessageAdded:
    conversation_id: strawberry.ID
    contact_id: strawberry.ID
    message_id: strawberry.ID
    direction: MessageDirection = strawberry.field(
        description="IN from the client; OUT an agent's reply, for the integrator to deliver; NOTE internal."
    )
    channel: ChannelKind
    author_name: str | None = strawberry.field(description="Null for the client's own messages.")
    text: str
    sent_at: datetime


@strawberry.type(description="An agent's count of OPEN conversations changed: the monitoring table's 'open now' (A4).")
class AgentLoadChanged:
    user_id: strawberry.ID
    open_conversations: int


@strawberry.type(description="A notification was added to your centre (S6); read it with `notifications`.")
class NotificationAdded:
    notification_id: strawberry.ID
    notification_kind: NotificationKind
    message: str
    created_at: datetime


@strawberry.type(description="Sales attentions of groups you supervise were closed or transferred in bulk (S5).")
class SalesAttentionsChanged:
    attention_change: AuditAction = strawberry.field(description="CLOSED or TRANSFERRED.")
    attention_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000: a bulk change comes in parts.")
    attention_count: int
    group_ids: list[strawberry.ID] = strawberry.field(description="The groups they were in and went to.")


@strawberry.type(
    description="A background job you asked for (an export) progressed, or ended (DONE, FAILED, CANCELLED)."
)
class JobProgress:
    job_id: strawberry.ID
    job_kind: str
    job_status: JobStatus
    done_count: int
    total_count: int | None


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
    strawberry.union("InboxPayload"),
]


@strawberry.type(description="One event for you. Resume after a disconnection with inbox(after: <its id>).")
class InboxEvent:
    id: strawberry.ID
    occurred_at: datetime
    payload: InboxPayload

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
