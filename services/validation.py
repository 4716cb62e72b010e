"""Field validation for contacts (C1, C6, C7): phones, emails, handles, documents, custom fields."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

import phonenumbers
import re2
from email_validator import EmailNotValidError, validate_email

from db.models import ChannelKind, CheckDigit, FieldType
from services.common import require_storable
from services.errors import DomainError, ErrorCode, Problem, fail

# Character classes are spelled out: \d would also accept Arabic-Indic and other Unicode digits.
_HANDLES = {
    ChannelKind.INSTAGRAM: re.compile(r"[a-z0-9._]{1,30}"),
    # A username, or the numeric id of a profile that has none.
    ChannelKind.MESSENGER: re.compile(r"[a-z0-9.]{5,50}|[0-9]{5,20}"),
}
_PROFILE_URLS = {
    ChannelKind.INSTAGRAM: re.compile(r"(https?://)?(www\.)?instagram\.com/", re.IGNORECASE),
    ChannelKind.MESSENGER: re.compile(
        r"(https?://)?(www\.|m\.)?(m\.me/|facebook\.com/|messenger\.com/t/)", re.IGNORECASE
    ),
}
_DOCUMENT_NOISE = re.compile(r"[\s./\-]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Integral floats beyond this print digits the float never held; they stay floats.
_SAFE_INTEGER = 2**53
_MAX_TEXT = 1000
# db.models: Contact.document_number and Company.tax_id; any admin-defined format is held to it.
MAX_DOCUMENT_NUMBER = 32

# Document formats are admins' patterns run on clients' numbers, up to 5,000 of them in one
# createContacts, on the event loop: RE2 matches in time linear in the number, whatever the
# pattern, where Python's re backtracks ((A+)+B doubles its work with every character).
_FORMAT_OPTIONS = re2.Options()
# RE2 would print every refused pattern to stderr; the admin gets the reason instead.
_FORMAT_OPTIONS.log_errors = False
# Per compiled pattern (8 MiB by default): formats are short and numbers shorter.
_FORMAT_OPTIONS.max_mem = 1 << 20
_REPETITION = re.compile(r"\{[0-9]+(,[0-9]*)?\}")


def normalise_phone(value: str, *, default_region: str, field: str) -> str:
    """The number in E.164; numbers typed without + belong to default_region."""
    # Argentina: phonenumbers drops the trunk "0" and the "15" typed after the area code and
    # writes the mobile "9" after +54 instead, so "+54 9 11 4444-5555", "011 15-4444-5555" and
    # "9 11 4444 5555" are all +5491144445555. Without a 9 or a 15, "11 4444 5555" is a valid
    # fixed line, +541144445555: the digits alone cannot tell, so it is not turned into a mobile.
    try:
        number = phonenumbers.parse(value, default_region.upper())
    except phonenumbers.NumberParseException:
        raise fail(ErrorCode.INVALID, "Not a phone number", field) from None
    if not phonenumbers.is_valid_number(number):
        raise fail(ErrorCode.INVALID, "Not a valid phone number for its country", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, *, field: str) -> str:
    """The address as email-validator normalises it (domain lower-cased, local part kept)."""
    try:
        # Deliverability needs DNS; the format check is what an API can promise.
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise fail(ErrorCode.INVALID, f"Not a valid email address: {exc}", field) from None


def normalise_handle(kind: ChannelKind, value: str, *, field: str) -> str:
    """The lower-cased user name of an Instagram or Messenger handle, @name or profile URL."""
    pattern, url = _HANDLES.get(kind), _PROFILE_URLS.get(kind)
    if pattern is None or url is None:
        raise ValueError(f"{kind} is not a handle channel")
    handle = value.strip()
    link = url.match(handle)
    if link:
        # Links copied from a browser carry "?igsh=…" or "/" after the name.
        handle = re.split(r"[?#]", handle[link.end() :], maxsplit=1)[0].rstrip("/")
    handle = handle.removeprefix("@").lower()
    if not pattern.fullmatch(handle):
        raise fail(ErrorCode.INVALID, f"Not a valid {kind.value.lower()} user name", field)
    return handle


def normalise_channel(kind: ChannelKind, value: str, *, default_region: str, field: str) -> str:
    """The value a channel is stored and matched by: E.164, email address or handle."""
    if not value or not value.strip():
        raise fail(ErrorCode.REQUIRED, "Must not be blank", field)
    if kind in (ChannelKind.PHONE, ChannelKind.WHATSAPP):
        return normalise_phone(value, default_region=default_region, field=field)
    if kind is ChannelKind.EMAIL:
        # Lower-cased whole: mail systems treat "Ana.Gomez@" and "ana.gomez@" as one mailbox, so a
        # contact's channels (unique on the normalised value) hold it once; the value keeps its case.
        return normalise_email(value, field=field).lower()
    return normalise_handle(kind, value, field=field)


def normalise_document_number(raw: str) -> str:
    """The number without spaces, dots, dashes or slashes, upper-cased."""
    return _DOCUMENT_NOISE.sub("", raw).upper()


def clean_document_number(raw: str, *, field: str) -> str:
    """A document number or tax id as stored: normalised, storable and no longer than its column."""
    number = require_storable(normalise_document_number(raw), field)
    if len(number) > MAX_DOCUMENT_NUMBER:
        raise fail(ErrorCode.TOO_LONG, f"Must have at most {MAX_DOCUMENT_NUMBER} characters", field)
    return number


def _digits(number: str) -> bool:
    return number.isascii() and number.isdigit()


def _mod11(body: str, weights: Sequence[int]) -> int:
    return 11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11


def _check_ok(number: str, rule: CheckDigit) -> bool:
    if rule is CheckDigit.NONE:
        return True
    if rule is CheckDigit.CUIT:
        if len(number) != 11 or not _digits(number):
            return False
        check = _mod11(number[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        # 10 has no digit: AFIP never issues such a number (it changes the prefix instead).
        return check != 10 and {11: 0}.get(check, check) == int(number[10])
    if rule is CheckDigit.RUC_PE:
        if len(number) != 11 or not _digits(number):
            return False
        check = _mod11(number[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        return {10: 0, 11: 1}.get(check, check) == int(number[10])
    if rule is CheckDigit.CPF:
        # 000.000.000-00 … 999.999.999-99 pass the arithmetic but are not issued.
        if len(number) != 11 or not _digits(number) or len(set(number)) == 1:
            return False
        for size in (9, 10):
            total = sum(int(d) * w for d, w in zip(number[:size], range(size + 1, 1, -1), strict=True))
            if (total * 10) % 11 % 10 != int(number[size]):
                return False
        return True
    if rule is CheckDigit.CI_UY:
        if not _digits(number) or not 2 <= len(number) <= 8:
            return False
        body = number[:-1].zfill(7)
        total = sum(int(d) * w for d, w in zip(body, (2, 9, 8, 7, 6, 3, 4), strict=True))
        return (10 - total % 10) % 10 == int(number[-1])
    if rule is CheckDigit.RUT_CL:
        body, given = number[:-1], number[-1:]
        if not _digits(body):
            return False
        total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
        check = 11 - total % 11
        return given == {11: "0", 10: "K"}.get(check, str(check))
    raise AssertionError(f"unknown check digit rule {rule}")


def _brace_not_repeating(pattern: str) -> bool:
    """Whether an unescaped `{` outside a class opens no repetition ({n}, {n,}, {n,m}).

    RE2 reads such a brace as literal text where Python repeats ("a{,3}"): refused, so a format
    means the same to both. A repetition too large for Python ("a{99999999999}") is one here;
    re.compile's OverflowError refuses it in check_format_pattern.
    """
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A `]` first in a class, after an optional `^`, is a member, not its end.
            i += 2 if pattern.startswith("^", i + 1) else 1
            i += 1 if pattern.startswith("]", i) else 0
            continue
        elif char == "{":
            repetition = _REPETITION.match(pattern, i)
            if repetition is None:
                return True
            i = repetition.end()
            continue
        i += 1
    return False


def check_format_pattern(pattern: str, field: str) -> None:
    """Refuse a document format unless Python's re and RE2 both read it, and alike."""
    if _brace_not_repeating(pattern):
        raise fail(
            ErrorCode.INVALID, "A { must start a repetition such as {3}, {3,} or {3,8}; write \\{ for a brace", field
        )
    with warnings.catch_warnings():
        # Python warns where a pattern is ambiguous ("[[:digit:]]"); RE2 reads it another way.
        warnings.simplefilter("error")
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError, Warning) as exc:
            raise fail(ErrorCode.INVALID, f"Not a valid regular expression: {exc}", field) from None
    try:
        _document_format(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise fail(
            ErrorCode.INVALID,
            f"Formats are matched in linear time, without backreferences or lookaround: {reason}",
            field,
        ) from None


@lru_cache(maxsize=64)
def _document_format(pattern: str) -> Any:
    return re2.compile(pattern, options=_FORMAT_OPTIONS)


def check_document(number: str, *, type_code: str, regex: str, rule: CheckDigit, field: str) -> None:
    """Refuse a cleaned document number (clean_document_number) that misses its type's format or check digit."""
    try:
        matcher = _document_format(regex)
    except re2.error:
        # A format stored before formats had to run in linear time.
        raise fail(
            ErrorCode.INVALID, f"The {type_code} format cannot be checked: an admin must change it", field
        ) from None
    # Document numbers are ASCII; a shipped \d would otherwise let other scripts' digits in,
    # stored in a form that a search typed with 0-9 never finds.
    if not number.isascii() or not matcher.fullmatch(number):
        raise fail(ErrorCode.INVALID, f"Does not match the {type_code} format", field)
    if not _check_ok(number, rule):
        raise fail(ErrorCode.INVALID, f"The check digit of this {type_code} is wrong", field)


class Definition(Protocol):
    """What validation reads of a custom field definition (db.models.CustomFieldDefinition)."""

    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def options(self) -> Sequence[str]: ...
    @property
    def required(self) -> bool: ...
    @property
    def active(self) -> bool: ...


def _number(value: object, field: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail(ErrorCode.INVALID, "Must be a number", field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            # int(), not float(): a long integer keeps every digit it was typed with.
            return int(text)
        if not _DECIMAL.fullmatch(text):
            raise fail(ErrorCode.INVALID, "Must be a number", field)
        value = float(text)
    if not math.isfinite(value):
        raise fail(ErrorCode.INVALID, "Must be a finite number", field)
    return int(value) if value.is_integer() and abs(value) < _SAFE_INTEGER else value


def _value(definition: Definition, value: object, field: str) -> object:
    kind = FieldType(definition.type)
    if kind is FieldType.TEXT:
        if not isinstance(value, str):
            raise fail(ErrorCode.INVALID, "Must be text", field)
        text = require_storable(value.strip(), field)
        if len(text) > _MAX_TEXT:
            raise fail(ErrorCode.TOO_LONG, f"Must have at most {_MAX_TEXT} characters", field)
        return text
    if kind is FieldType.NUMBER:
        return _number(value, field)
    if kind is FieldType.DATE:
        # date.fromisoformat alone also takes "20261101" and week dates such as "2026-W01-1".
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
            raise fail(ErrorCode.INVALID, "Must be a date as YYYY-MM-DD", field)
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise fail(ErrorCode.INVALID, "Not a date in the calendar", field) from None
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise fail(ErrorCode.INVALID, "Must be true or false", field)
        return value
    if not isinstance(value, str) or value.strip() not in definition.options:
        raise fail(ErrorCode.INVALID, f"Must be one of: {', '.join(definition.options)}", field)
    return value.strip()


def validate_custom_fields(
    values: Mapping[str, object],
    definitions: Sequence[Definition],
    *,
    require_all: bool,
    field: str = "customFields",
    noun: str = "custom field",
    listed: bool = False,
) -> dict[str, object]:
    """Cleaned values by key (None means clear it); every problem is raised together.

    `listed`: the values came as a list of {key, value}, in this order and each key once, so a
    problem names the item (`customFields.2.value`, `.key` for an unknown key) and a required
    one left out names the list; otherwise they came as an object (`plan.amount`). `noun` is
    what a definition is called where the values belong ("plan field" for a typology's plan).
    """
    by_key = {d.key: d for d in definitions if d.active}
    problems: list[Problem] = []
    cleaned: dict[str, object] = {}
    for position, (key, value) in enumerate(values.items()):
        if listed:
            path, key_path = f"{field}.{position}.value", f"{field}.{position}.key"
        else:
            path = key_path = f"{field}.{key}"
        definition = by_key.get(key)
        if definition is None:
            problems.append(Problem(ErrorCode.INVALID, f"No such {noun}", key_path))
            continue
        # A blank string clears the field as null does: forms send "" for an emptied input.
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
                missing = field if listed else f"{field}.{definition.key}"
                problems.append(Problem(ErrorCode.REQUIRED, f"{definition.label} is required", missing))
    if problems:
        raise DomainError(*problems)
    return cleaned
