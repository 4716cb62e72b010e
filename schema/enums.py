"""GraphQL enums: the services' own enum classes, registered under their GraphQL names."""

import enum

import strawberry

from db.models import ConversationStatus, MessageDirection, Role, RoutingMethod
from services.audit import AuditAction, Period, ResourceType
from services.users import UserOrder

strawberry.enum(Role, name="Role")
strawberry.enum(AuditAction, name="AuditAction")
strawberry.enum(ResourceType, name="ResourceType")
strawberry.enum(Period, name="Period", description="Date presets in the account's time zone.")
strawberry.enum(UserOrder, name="UserOrderField")
strawberry.enum(ConversationStatus, name="ConversationStatus")
strawberry.enum(MessageDirection, name="MessageDirection")
strawberry.enum(RoutingMethod, name="RoutingMethod")
UserOrderField = UserOrder


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


__all__ = ["AuditAction", "OrderDirection", "Period", "ResourceType", "Role", "UserOrderField"]
