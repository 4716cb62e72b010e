"""Field validation for contacts (C1, C6, C7): phones, emails, handles, documents, custom fields."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from db.models import ChannelKind, CheckDigit, FieldType
from services.errors import DomainError, ErrorCode, Problem, fail

_INSTAGRAM = re.compile(r"[a-z0-9._]{1,30}")
_MESSENGER = re.compile(r"[a-z0-9.]{5,50}|\d{5,20}")
_URL_PREFIX = re.compile(r"^(https?://)?(www\.)?(instagram\.com/|m\.me/|facebook\.com/|messenger\.com/t/)", re.I)
_DOCUMENT_NOISE = re.compile(r"[\s./\-]")


def normalise_phone(value: str, *, default_region: str, field: str) -> str:
    """E.164. For Argentina, phonenumbers folds the mobile "9" after +54 and the national
    "0…15" form into one number, so "+54 9 11 4444-5555" and "011 15-4444-5555" agree."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise fail(ErrorCode.INVALID, "Not a phone number", field) from None
    if not phonenumbers.is_valid_number(number):
        raise fail(ErrorCode.INVALID, "Not a valid phone number for its country", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, *, field: str) -> str:
    try:
        # Deliverability needs DNS; the format check is what an API can promise.
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise fail(ErrorCode.INVALID, f"Not a valid email address: {exc}", field) from None


def normalise_handle(kind: ChannelKind, value: str, *, field: str) -> str:
    handle = _URL_PREFIX.sub("", value.strip()).lstrip("@").strip("/").lower()
    pattern = _INSTAGRAM if kind is ChannelKind.INSTAGRAM else _MESSENGER
    if not pattern.fullmatch(handle):
        raise fail(ErrorCode.INVALID, f"Not a valid {kind.value.lower()} user name", field)
    return handle


def normalise_channel(kind: ChannelKind, value: str, *, default_region: str, field: str) -> str:
    if not value or not value.strip():
        raise fail(ErrorCode.REQUIRED, "Must not be blank", field)
    if kind in (ChannelKind.PHONE, ChannelKind.WHATSAPP):
        return normalise_phone(value, default_region=default_region, field=field)
    if kind is ChannelKind.EMAIL:
        return normalise_email(value, field=field)
    return normalise_handle(kind, value, field=field)


def normalise_document_number(raw: str) -> str:
    return _DOCUMENT_NOISE.sub("", raw).upper()


def _mod11(body: str, weights: Sequence[int]) -> int:
    return 11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11


def _check_ok(number: str, rule: CheckDigit) -> bool:
    if rule is CheckDigit.NONE:
        return True
    if rule is CheckDigit.CUIT:
        if len(number) != 11 or not number.isdigit():
            return False
        check = _mod11(number[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        check = {11: 0}.get(check, check)
        return check != 10 and check == int(number[10])
    if rule is CheckDigit.RUC_PE:
        if len(number) != 11 or not number.isdigit():
            return False
        check = _mod11(number[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        return {10: 0, 11: 1}.get(check, check) == int(number[10])
    if rule is CheckDigit.CPF:
        if len(number) != 11 or not number.isdigit() or len(set(number)) == 1:
            return False
        for size in (9, 10):
            total = sum(int(d) * w for d, w in zip(number[:size], range(size + 1, 1, -1), strict=True))
            digit = (total * 10) % 11 % 10
            if digit != int(number[size]):
                return False
        return True
    if rule is CheckDigit.CI_UY:
        if not number.isdigit() or not 7 <= len(number) <= 8:
            return False
        body = number[:-1].zfill(7)
        total = sum(int(d) * w for d, w in zip(body, (2, 9, 8, 7, 6, 3, 4), strict=True))
        return (10 - total % 10) % 10 == int(number[-1])
    if rule is CheckDigit.RUT_CL:
        body, given = number[:-1], number[-1]
        if not body.isdigit():
            return False
        total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
        check = 11 - total % 11
        expected = {11: "0", 10: "K"}.get(check, str(check))
        return given == expected
    raise AssertionError(f"unknown check digit rule {rule}")


def check_document(number: str, *, type_code: str, regex: str, rule: CheckDigit, field: str) -> None:
    if not re.fullmatch(regex, number):
        raise fail(ErrorCode.INVALID, f"Does not match the {type_code} format", field)
    if not _check_ok(number, rule):
        raise fail(ErrorCode.INVALID, f"The check digit of this {type_code} is wrong", field)


class Definition(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def options(self) -> list[str]: ...
    @property
    def required(self) -> bool: ...
    @property
    def active(self) -> bool: ...


def _value(definition: Definition, value: object, field: str) -> object:
    kind = FieldType(definition.type)
    if kind is FieldType.TEXT:
        if not isinstance(value, str):
            raise fail(ErrorCode.INVALID, "Must be text", field)
        text = value.strip()
        if len(text) > 1000:
            raise fail(ErrorCode.TOO_LONG, "Must have at most 1000 characters", field)
        return text
    if kind is FieldType.NUMBER:
        number: float
        if isinstance(value, bool):
            raise fail(ErrorCode.INVALID, "Must be a number", field)
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise fail(ErrorCode.INVALID, "Must be a number", field) from None
        else:
            raise fail(ErrorCode.INVALID, "Must be a number", field)
        if not math.isfinite(number):
            raise fail(ErrorCode.INVALID, "Must be a finite number", field)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind is FieldType.DATE:
        if not isinstance(value, str):
            raise fail(ErrorCode.INVALID, "Must be a date as YYYY-MM-DD", field)
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise fail(ErrorCode.INVALID, "Must be a date as YYYY-MM-DD", field) from None
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise fail(ErrorCode.INVALID, "Must be true or false", field)
        return value
    if not isinstance(value, str) or value not in definition.options:
        raise fail(ErrorCode.INVALID, f"Must be one of: {', '.join(definition.options)}", field)
    return value


def validate_custom_fields(
    values: Mapping[str, object], definitions: Sequence[Definition], *, require_all: bool, field: str = "customFields"
) -> dict[str, object]:
    """Cleaned values by key (None means clear it); every problem is raised together."""
    by_key = {d.key: d for d in definitions if d.active}
    problems: list[Problem] = []
    cleaned: dict[str, object] = {}
    for key, value in values.items():
        path = f"{field}.{key}"
        definition = by_key.get(key)
        if definition is None:
            problems.append(Problem(ErrorCode.INVALID, "No such custom field", path))
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            if definition.required:
                problems.append(Problem(ErrorCode.REQUIRED, f"{definition.label} is required", path))
            else:
                cleaned[key] = None
            continue
        try:
            cleaned[key] = _value(definition, value, path)
        except DomainError as error:
            problems.extend(error.problems)
    if require_all:
        for definition in by_key.values():
            if definition.required and definition.key not in values:
                problems.append(
                    Problem(ErrorCode.REQUIRED, f"{definition.label} is required", f"{field}.{definition.key}")
                )
    if problems:
        raise DomainError(*problems)
    return cleaned
