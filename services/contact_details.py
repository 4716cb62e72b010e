"""A contact's channels and addresses (C1, C4): add, edit, remove, one primary address.

Each edit's audit row holds the contact's whole list before and after (`channels`, `addresses`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ChannelKind, Contact, ContactAddress, ContactChannel
from services import validation
from services.common import UNSET, Maybe
from services.contacts import (
    ADDRESS_FIELDS,
    AddressData,
    Problems,
    address_row,
    audited_address,
    audited_channel,
    channels_of,
    get_visible,
    record_change,
    refresh_search,
    snapshot,
)
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal


async def _editable(session: AsyncSession, actor: Principal, contact_id: int, field: str) -> Contact:
    contact = await get_visible(session, actor, contact_id, field, for_update=True)
    if contact.archived_at is not None:
        raise fail(ErrorCode.CONFLICT, "Archived contacts cannot be edited", field)
    return contact


async def _channels(session: AsyncSession, contact_id: int) -> list[str]:
    return [audited_channel(kind, normalized) for kind, normalized in await channels_of(session, contact_id)]


async def _refresh(session: AsyncSession, contact: Contact) -> list[str]:
    """refresh_search after a channel edit; the channels it read, as _channels lists them."""
    return [audited_channel(kind, normalized) for kind, normalized in await refresh_search(session, contact)]


async def _addresses(session: AsyncSession, contact_id: int) -> list[dict[str, Any]]:
    # Columns, not entities: _make_primary's UPDATEs leave the loaded rows' isPrimary stale.
    rows = await session.execute(
        select(*(getattr(ContactAddress, column) for column in ADDRESS_FIELDS))
        .where(ContactAddress.contact_id == contact_id)
        .order_by(ContactAddress.id)
    )
    return [audited_address(row._asdict()) for row in rows.all()]


async def _record_list(
    session: AsyncSession, actor: Principal, contact: Contact, name: str, before: list[Any], after: list[Any]
) -> None:
    """Audit an edit of one of the contact's lists (`channels`, `addresses`): the whole list before and after."""
    if before != after:
        await record_change(
            session, actor, contact, snapshot(contact), extra={name: {"before": before, "after": after}}
        )


async def add_channel(
    session: AsyncSession, actor: Principal, contact_id: int, *, kind: ChannelKind, value: str, default_region: str
) -> ContactChannel:
    contact = await _editable(session, actor, contact_id, "contactId")
    normalized = validation.normalise_channel(kind, value, default_region=default_region, field="value")
    before = await _channels(session, contact.id)
    if audited_channel(kind.value, normalized) in before:
        raise fail(ErrorCode.ALREADY_EXISTS, "The contact already has this channel", "value")
    channel = ContactChannel(contact_id=contact.id, kind=kind.value, value=value.strip(), normalized=normalized)
    session.add(channel)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise fail(ErrorCode.ALREADY_EXISTS, "The contact already has this channel", "value") from None
    await _record_list(session, actor, contact, "channels", before, await _refresh(session, contact))
    return channel


async def remove_channel(session: AsyncSession, actor: Principal, channel_id: int) -> Contact:
    channel = await session.get(ContactChannel, channel_id)
    if channel is None:
        raise not_found("Channel", "id")
    contact = await _editable(session, actor, channel.contact_id, "id")
    before = await _channels(session, contact.id)
    await session.execute(delete(ContactChannel).where(ContactChannel.id == channel.id))
    await _record_list(session, actor, contact, "channels", before, await _refresh(session, contact))
    return contact


async def _address(session: AsyncSession, actor: Principal, address_id: int) -> tuple[ContactAddress, Contact]:
    address = await session.get(ContactAddress, address_id)
    if address is None:
        raise not_found("Address", "id")
    contact = await _editable(session, actor, address.contact_id, "id")
    return address, contact


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


async def _successor(session: AsyncSession, contact_id: int, address_id: int) -> int | None:
    """The address that becomes primary when this one stops being it: the oldest other one."""
    return await session.scalar(
        select(ContactAddress.id)
        .where(ContactAddress.contact_id == contact_id, ContactAddress.id != address_id)
        .order_by(ContactAddress.id)
        .limit(1)
    )


async def add_address(session: AsyncSession, actor: Principal, contact_id: int, data: AddressData) -> ContactAddress:
    contact = await _editable(session, actor, contact_id, "contactId")
    problems = Problems()
    row = address_row(data, problems)
    problems.raise_any()
    before = await _addresses(session, contact.id)
    primary = bool(row.pop("is_primary")) or not before
    address = ContactAddress(contact_id=contact.id, is_primary=False, **row)
    session.add(address)
    await session.flush()
    if primary:
        await _make_primary(session, contact.id, address.id)
    await session.refresh(address)
    await _record_list(session, actor, contact, "addresses", before, await _addresses(session, contact.id))
    return address


@dataclass(frozen=True)
class AddressChanges:
    """An address edit: only the given fields change (None clears an optional one).

    is_primary True makes it the contact's primary address (the others lose it); False on the
    primary one hands that to the oldest other address, as removing it would.
    """

    street: Maybe[str] = UNSET
    city: Maybe[str] = UNSET
    country: Maybe[str] = UNSET
    label: Maybe[str | None] = UNSET
    number: Maybe[str | None] = UNSET
    unit: Maybe[str | None] = UNSET
    region: Maybe[str | None] = UNSET
    postal_code: Maybe[str | None] = UNSET
    is_primary: Maybe[bool] = UNSET


async def update_address(
    session: AsyncSession, actor: Principal, address_id: int, changes: AddressChanges
) -> ContactAddress:
    """Change the given fields of an address; everything is validated before anything is written."""
    address, contact = await _address(session, actor, address_id)
    given = {f.name: getattr(changes, f.name) for f in fields(changes) if getattr(changes, f.name) is not UNSET}
    given.pop("is_primary", None)
    problems = Problems()
    row: dict[str, Any] = {}
    if given:
        current = {column: getattr(address, column) for column in ADDRESS_FIELDS if column != "is_primary"}
        # The merged address is validated whole, so a given value is checked as it would be on
        # creation; with none given (a change of primary only) the stored one stays as it is.
        row = address_row(AddressData(**{**current, **given}), problems)
    successor = None
    if changes.is_primary is False and address.is_primary:
        successor = await _successor(session, contact.id, address.id)
        if successor is None:
            problems.add(ErrorCode.INVALID, "A contact's only address is its primary one", "isPrimary")
    problems.raise_any()
    before = await _addresses(session, contact.id)
    if given:
        for column in given:
            setattr(address, column, row[column])
        await session.flush()
    if changes.is_primary is True and not address.is_primary:
        await _make_primary(session, contact.id, address.id)
    elif successor is not None:
        await _make_primary(session, contact.id, successor)
    await session.refresh(address)
    await _record_list(session, actor, contact, "addresses", before, await _addresses(session, contact.id))
    return address


async def remove_address(session: AsyncSession, actor: Principal, address_id: int) -> Contact:
    """Remove an address; when it was the primary one, the oldest remaining address takes over."""
    address, contact = await _address(session, actor, address_id)
    before = await _addresses(session, contact.id)
    successor = await _successor(session, contact.id, address.id) if address.is_primary else None
    await session.execute(delete(ContactAddress).where(ContactAddress.id == address.id))
    if successor is not None:
        await _make_primary(session, contact.id, successor)
    await _record_list(session, actor, contact, "addresses", before, await _addresses(session, contact.id))
    return contact


async def set_primary_address(session: AsyncSession, actor: Principal, address_id: int) -> ContactAddress:
    return await update_address(session, actor, address_id, AddressChanges(is_primary=True))
