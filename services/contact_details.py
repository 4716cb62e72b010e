"""A contact's channels and addresses (C1, C4): add, edit, remove, one primary address."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ChannelKind, Contact, ContactAddress, ContactChannel
from services import validation
from services.contacts import AddressData, Problems, address_row, get_visible, record_change, refresh_search, snapshot
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal


async def _editable(session: AsyncSession, actor: Principal, contact_id: int, field: str) -> Contact:
    contact = await get_visible(session, actor, contact_id, field, for_update=True)
    if contact.archived_at is not None:
        raise fail(ErrorCode.CONFLICT, "Archived contacts cannot be edited", field)
    return contact


async def add_channel(
    session: AsyncSession, actor: Principal, contact_id: int, *, kind: ChannelKind, value: str, default_region: str
) -> ContactChannel:
    contact = await _editable(session, actor, contact_id, "contactId")
    normalized = validation.normalise_channel(kind, value, default_region=default_region, field="value")
    taken = await session.scalar(
        select(ContactChannel.id).where(
            ContactChannel.contact_id == contact.id,
            ContactChannel.kind == kind.value,
            ContactChannel.normalized == normalized,
        )
    )
    if taken:
        raise fail(ErrorCode.ALREADY_EXISTS, "The contact already has this channel", "value")
    channel = ContactChannel(contact_id=contact.id, kind=kind.value, value=value.strip(), normalized=normalized)
    session.add(channel)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise fail(ErrorCode.ALREADY_EXISTS, "The contact already has this channel", "value") from None
    before = snapshot(contact)
    await refresh_search(session, contact)
    await record_change(
        session, actor, contact, before, extra={"channels": {"before": None, "after": f"{kind}:{normalized}"}}
    )
    return channel


async def remove_channel(session: AsyncSession, actor: Principal, channel_id: int) -> Contact:
    channel = await session.get(ContactChannel, channel_id)
    if channel is None:
        raise not_found("Channel", "id")
    contact = await _editable(session, actor, channel.contact_id, "id")
    await session.execute(delete(ContactChannel).where(ContactChannel.id == channel.id))
    before = snapshot(contact)
    await refresh_search(session, contact)
    removed = f"{channel.kind}:{channel.normalized}"
    await record_change(session, actor, contact, before, extra={"channels": {"before": removed, "after": None}})
    return contact


async def _address(session: AsyncSession, actor: Principal, address_id: int) -> tuple[ContactAddress, Contact]:
    address = await session.get(ContactAddress, address_id)
    if address is None:
        raise not_found("Address", "id")
    contact = await _editable(session, actor, address.contact_id, "id")
    return address, contact


def _describe(row: ContactAddress | dict[str, object]) -> str:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    parts = [get("street"), get("number"), get("city"), get("country")]
    return " ".join(str(p) for p in parts if p)


async def _make_primary(session: AsyncSession, contact_id: int, address_id: int) -> None:
    # Clear first: the partial unique index allows one primary per contact at every moment.
    await session.execute(
        update(ContactAddress)
        .where(ContactAddress.contact_id == contact_id, ContactAddress.is_primary.is_(True))
        .values(is_primary=False)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ContactAddress)
        .where(ContactAddress.id == address_id)
        .values(is_primary=True)
        .execution_options(synchronize_session=False)
    )


async def add_address(session: AsyncSession, actor: Principal, contact_id: int, data: AddressData) -> ContactAddress:
    contact = await _editable(session, actor, contact_id, "contactId")
    problems = Problems()
    row = address_row(data, problems)
    problems.raise_any()
    count = await session.scalar(select(func.count()).where(ContactAddress.contact_id == contact.id))
    primary = bool(row.pop("is_primary")) or not count
    address = ContactAddress(contact_id=contact.id, is_primary=False, **row)
    session.add(address)
    await session.flush()
    if primary:
        await _make_primary(session, contact.id, address.id)
    await session.refresh(address)
    before = snapshot(contact)
    await record_change(
        session, actor, contact, before, extra={"addresses": {"before": None, "after": _describe(address)}}
    )
    return address


async def update_address(session: AsyncSession, actor: Principal, address_id: int, data: AddressData) -> ContactAddress:
    """Replace an address's fields (send the whole address); primary is changed with set_primary_address."""
    address, contact = await _address(session, actor, address_id)
    problems = Problems()
    row = address_row(data, problems)
    problems.raise_any()
    row.pop("is_primary")
    old = _describe(address)
    for key, value in row.items():
        setattr(address, key, value)
    await session.flush()
    before = snapshot(contact)
    await record_change(
        session, actor, contact, before, extra={"addresses": {"before": old, "after": _describe(address)}}
    )
    return address


async def remove_address(session: AsyncSession, actor: Principal, address_id: int) -> Contact:
    """Remove an address; when it was the primary one, the oldest remaining address takes over."""
    address, contact = await _address(session, actor, address_id)
    await session.execute(delete(ContactAddress).where(ContactAddress.id == address.id))
    if address.is_primary:
        successor = await session.scalar(
            select(ContactAddress.id)
            .where(ContactAddress.contact_id == contact.id)
            .order_by(ContactAddress.id)
            .limit(1)
        )
        if successor is not None:
            await _make_primary(session, contact.id, successor)
    before = snapshot(contact)
    await record_change(
        session, actor, contact, before, extra={"addresses": {"before": _describe(address), "after": None}}
    )
    return contact


async def set_primary_address(session: AsyncSession, actor: Principal, address_id: int) -> ContactAddress:
    address, contact = await _address(session, actor, address_id)
    if not address.is_primary:
        await _make_primary(session, contact.id, address.id)
        await session.refresh(address)
        before = snapshot(contact)
        await record_change(
            session, actor, contact, before, extra={"primaryAddress": {"before": None, "after": _describe(address)}}
        )
    return address
