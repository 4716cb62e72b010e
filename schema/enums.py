"""GraphQL enums: the services' own enum classes, registered under their GraphQL names."""

import enum

from db.models import ConversationStatus, MessageDirection, PresenceStatus, Role, RoutingMethod
from schema import docs
from services.audit import AuditAction, Period, ResourceType
from services.users import UserOrder

docs.enum(
    Role,
    name="Role",
    description="What a user may see and do (R1).",
    values={
        "ADMIN": "The whole account: users, teams, catalogues, settings, every resource.",
        "SUPERVISOR": "Manages the teams it supervises and their subtrees, and what belongs to them.",
        "AGENT": "Works its own portfolios, conversations and gestiones, and its teams' contacts.",
    },
)
docs.enum(
    AuditAction,
    name="AuditAction",
    description="What an audit event records (AU1).",
    values={
        "CREATED": "The resource was created.",
        "BULK_CREATED": "A bulk call created many resources; its entries list them.",
        "ARCHIVED": "The resource was archived: kept for history, no longer edited.",
        "UPDATED": "Some of its fields changed (see `changes`).",
        "ACTIVATED": "It was activated again.",
        "DEACTIVATED": "It was deactivated.",
        "DELETED": "It was deleted.",
        "ASSIGNED": "Contacts were assigned to a portfolio, or work to someone.",
        "MOVED": "It moved: contacts from another portfolio, or a team under another parent.",
        "REMOVED": "Contacts were removed from a portfolio, or something from the resource.",
        "MEMBER_ADDED": "A user joined the team.",
        "MEMBER_REMOVED": "A user left the team.",
        "SUPERVISOR_ADDED": "A user became a supervisor of the team.",
        "SUPERVISOR_REMOVED": "A user stopped supervising the team.",
        "PAUSED": "The campaign was paused.",
        "CLOSED": "It was closed (a campaign, sales attentions).",
        "OPERATOR_ADDED": "Operators were added to the campaign.",
        "OPERATOR_REMOVED": "Operators were removed from the campaign.",
        "TRANSFERRED": "It was handed to another agent or team.",
        "ATTENDED": "An operator opened the gestión to work it.",
        "COMMENTED": "A comment was left on the gestión.",
        "RESULT_RECORDED": "A result was recorded on the gestión.",
        "FINISHED": "The gestión was finished with a result.",
        "RELEASED": "The gestión went back to its queue unworked.",
        "REOPENED": "It was reopened (a finished gestión, a resolved conversation).",
        "ATTACHED": "A file was attached.",
        "RESOLVED": "The conversation was resolved.",
        "REPLIED": "A message was sent on the conversation.",
        "EXPORTED": "An export was requested.",
        "CANCELLED": "A background job was cancelled.",
    },
)
docs.enum(
    ResourceType,
    name="ResourceType",
    description="The kind of resource an audit event is about.",
    values={
        "USER": "A User.",
        "TEAM": "A Team.",
        "CONTACT": "A Contact.",
        "COMPANY": "A Company.",
        "DOCUMENT_TYPE": "A DocumentType.",
        "CUSTOM_FIELD": "A CustomFieldDefinition.",
        "PORTFOLIO": "A Portfolio.",
        "TYPOLOGY": "A Typology or one of its results.",
        "CAMPAIGN": "A Campaign.",
        "GESTION": "A Gestion.",
        "CONVERSATION": "A Conversation.",
        "ROUTING_SETTINGS": "The account's RoutingSettings.",
        "SALES_CATALOG_ENTRY": "A SalesCatalogEntry (interest, origin or close reason).",
        "SALES_ATTENTION": "A SalesAttention.",
        "SALES_VIEW": "A SalesView.",
        "JOB": "A background Job.",
        "BATCH": "A bulk call: the event is its own resource and its entries list what it did.",
    },
)
docs.enum(
    Period,
    name="Period",
    description="Date presets in the account's time zone; whole local days and months.",
    values={
        "TODAY": "Since local midnight.",
        "THIS_WEEK": "Since Monday's local midnight.",
        "THIS_MONTH": "Since the first of this month.",
        "THIS_YEAR": "Since the first of January.",
        "YESTERDAY": "The whole of yesterday.",
        "LAST_7_DAYS": "The seven days ending with today.",
        "LAST_30_DAYS": "The thirty days ending with today.",
        "LAST_MONTH": "The whole previous calendar month.",
    },
)
docs.enum(
    UserOrder,
    name="UserOrderField",
    description="What the users list sorts by.",
    values={
        "NAME": "Name, case- and accent-insensitive.",
        "EMAIL": "Email address.",
        "CREATED_AT": "When the user was created.",
    },
)
docs.enum(
    ConversationStatus,
    name="ConversationStatus",
    description="Where a conversation stands (A1).",
    values={
        "UNASSIGNED": "Waiting in its team's queue for an agent (A3).",
        "OPEN": "Assigned to an agent who works it.",
        "RESOLVED": "Done; a new message from the client reopens it within the reopen window.",
    },
)
docs.enum(
    MessageDirection,
    name="MessageDirection",
    description="Who a message is from and who reads it.",
    values={
        "IN": "From the client, received through an integrator.",
        "OUT": "An agent's reply, for the integrator to deliver on the channel.",
        "NOTE": "An internal note: never delivered to the client.",
    },
)
docs.enum(
    RoutingMethod,
    name="RoutingMethod",
    description="How a new conversation finds an agent once portfolio routing (P7) found none (A2).",
    values={
        "ROUND_ROBIN": "Strict turns over the ONLINE agents, skipping anyone not online.",
        "LOAD_BALANCED": "The ONLINE agent with the fewest open conversations.",
        "LAST_RESPONSIBLE": "The agent who last interacted with the contact, online or not.",
        "DEFAULT_GROUP": "The queue of a chosen team, online or not.",
        "BY_CHANNEL": "Agents chosen per channel kind, online or not.",
    },
)
docs.enum(
    PresenceStatus,
    name="PresenceStatus",
    description="Whether an agent is at work (R4); routing methods that need someone online skip the others.",
    values={
        "ONLINE": "At work: routing may give them conversations.",
        "AWAY": "Signed in but not taking new work.",
        "OFFLINE": "Not at work; also set shortly after their last live connection closes.",
    },
)
UserOrderField = UserOrder


class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


docs.enum(
    OrderDirection,
    name="OrderDirection",
    description="Sort direction.",
    values={"ASC": "Smallest, earliest or A first.", "DESC": "Largest, latest or Z first."},
)

__all__ = ["AuditAction", "OrderDirection", "Period", "ResourceType", "Role", "UserOrderField"]
