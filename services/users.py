"""Users (R1, R5): ADMIN manages them; everyone reads what visibility allows."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Role, TeamMember, TeamSupervisor, User
from db.search import matches
from services import audit, events, validation
from services.audit import AuditAction, ResourceType
from services.auth import check_password_rules, hash_password_off_loop
from services.common import UNSET, Maybe, clean_name, require_admin
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal


class UserOrder(enum.StrEnum):
    NAME = "NAME"
    EMAIL = "EMAIL"
    CREATED_AT = "CREATED_AT"


@dataclass(frozen=True)
class UserFilter:
    search: str | None = None
    roles: tuple[Role, ...] = ()
    active: bool | None = None
    team_ids: tuple[int, ...] = ()


def sort_keys(order: UserOrder, descending: bool) -> tuple[SortKey, ...]:
    first = {
        UserOrder.NAME: SortKey(User.sort_name, "sort_name", "str", descending),
        UserOrder.EMAIL: SortKey(User.email, "email", "str", descending),
        UserOrder.CREATED_AT: SortKey(User.created_at, "created_at", "datetime", descending),
    }[order]
    return (first, SortKey(User.id, "id", "int", descending))


def filtered(viewer: Principal, flt: UserFilter) -> Select[User]:
    stmt = scopes.users(select(User), viewer)
    if flt.search and flt.search.strip():
        stmt = stmt.where(matches(flt.search, User.search_text))
    if flt.roles:
        stmt = stmt.where(User.role.in_([r.value for r in flt.roles]))
    if flt.active is not None:
        stmt = stmt.where(User.is_active.is_(flt.active))
    if flt.team_ids:
        # A team the viewer cannot see filters like a missing one (R3), not by its hidden members.
        scope = viewer.scope_team_ids
        team_ids = [t for t in flt.team_ids if scope is None or t in scope]
        stmt = stmt.where(exists().where(TeamMember.user_id == User.id, TeamMember.team_id.in_(team_ids)))
    return stmt


async def list_users(
    session: AsyncSession,
    viewer: Principal,
    flt: UserFilter,
    page: PageRequest,
    *,
    order: UserOrder = UserOrder.NAME,
    descending: bool = False,
    max_page_size: int,
) -> tuple[Page[User], Select[User]]:
    stmt = filtered(viewer, flt)
    result = await paginate(session, stmt, keys=sort_keys(order, descending), request=page, max_page_size=max_page_size)
    return result, stmt


async def get_visible(session: AsyncSession, viewer: Principal, user_id: int, field: str = "id") -> User:
    user = (await session.execute(scopes.users(select(User).where(User.id == user_id), viewer))).scalar_one_or_none()
    if user is None:
        raise not_found("User", field)
    return user


async def _email_taken(session: AsyncSession, email: str, except_id: int | None = None) -> bool:
    stmt = select(User.id).where(func.lower(User.email) == email.lower())
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    return (await session.scalar(stmt)) is not None


async def _team_ids_of(session: AsyncSession, user_id: int) -> set[int]:
    member = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    supervised = select(TeamSupervisor.team_id).where(TeamSupervisor.user_id == user_id)
    return set((await session.scalars(member.union(supervised))).all())


async def _flush_unique_email(session: AsyncSession, field: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # The pre-check passed but a concurrent request took the address first.
        raise fail(ErrorCode.ALREADY_EXISTS, "A user with this email already exists", field) from None


def _snapshot(user: User) -> dict[str, object]:
    return {"email": user.email, "name": user.name, "role": user.role, "active": user.is_active}


async def create_user(
    session: AsyncSession,
    actor: Principal | None,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
) -> User:
    """Create a user. `actor` None means the operator's CLI, which needs no role."""
    if actor is not None:
        require_admin(actor, "create users")
    email = validation.normalise_email(email, field="email")
    name = clean_name(name, "name")
    check_password_rules(password)
    if await _email_taken(session, email):
        raise fail(ErrorCode.ALREADY_EXISTS, "A user with this email already exists", "email")
    password_hash = await hash_password_off_loop(password)
    user = User(email=email, name=name, role=role.value, password_hash=password_hash, is_active=True)
    session.add(user)
    await _flush_unique_email(session, "email")
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.USER,
        resource_id=user.id,
        resource_name=user.name,
        changed=audit.changes({}, _snapshot(user)),
    )
    return user


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    stmt = select(func.count()).where(User.role == Role.ADMIN.value, User.is_active.is_(True), User.id != user_id)
    return int(await session.scalar(stmt) or 0)


async def update_user(
    session: AsyncSession,
    actor: Principal,
    user_id: int,
    *,
    email: Maybe[str] = UNSET,
    name: Maybe[str] = UNSET,
    role: Maybe[Role] = UNSET,
    password: Maybe[str] = UNSET,
) -> User:
    require_admin(actor, "edit users")
    user = await get_visible(session, actor, user_id)
    before = _snapshot(user)
    if email is not UNSET:
        email = validation.normalise_email(email, field="email")
        if await _email_taken(session, email, except_id=user.id):
            raise fail(ErrorCode.ALREADY_EXISTS, "A user with this email already exists", "email")
        user.email = email
    if name is not UNSET:
        user.name = clean_name(name, "name")
    if role is not UNSET and role.value != user.role:
        if user.role == Role.ADMIN.value and user.is_active and not await _other_active_admins(session, user.id):
            raise fail(ErrorCode.CONFLICT, "The last active admin cannot lose the ADMIN role", "role")
        user.role = role.value
    changed = audit.changes(before, _snapshot(user))
    if password is not UNSET:
        check_password_rules(password, "password")
        user.password_hash = await hash_password_off_loop(password)
        # The trail says that it changed, never what it is.
        changed["password"] = {"before": None, "after": "changed"}
    if not changed:
        return user
    await _flush_unique_email(session, "email")
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATED,
        resource_type=ResourceType.USER,
        resource_id=user.id,
        resource_name=user.name,
        team_ids=await _team_ids_of(session, user.id),
        changed=changed,
    )
    if "role" in changed or "name" in changed:
        events.access_changed(session, [user.id])
    return user


async def set_active(session: AsyncSession, actor: Principal, user_id: int, *, active: bool) -> User:
    """Activate or deactivate; a deactivated user's tokens stop working at once."""
    require_admin(actor, "activate or deactivate users")
    user = await get_visible(session, actor, user_id)
    if user.is_active == active:
        return user
    if not active:
        if user.id == actor.user_id:
            raise fail(ErrorCode.CONFLICT, "You cannot deactivate yourself", "id")
        if user.role == Role.ADMIN.value and not await _other_active_admins(session, user.id):
            raise fail(ErrorCode.CONFLICT, "The last active admin cannot be deactivated", "id")
    user.is_active = active
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.ACTIVATED if active else AuditAction.DEACTIVATED,
        resource_type=ResourceType.USER,
        resource_id=user.id,
        resource_name=user.name,
        team_ids=await _team_ids_of(session, user.id),
        changed={"active": {"before": not active, "after": active}},
    )
    # A deactivated user's live subscriptions end (4403).
    events.access_changed(session, [user.id])
    return user
