"""Portable text matching helpers."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from sqlalchemy import ColumnElement, and_, false, true
from sqlalchemy.orm import QueryableAttribute

# Longest text a search or text filter takes. Each becomes LIKE patterns, which SQLite refuses past
# 50,000 bytes (and a keyword's many terms make a statement too complex); no name is this long.
MAX_SEARCH_LENGTH = 200
# Code points that are not Unicode scalar values: no backend can store one.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class SearchTooLong(ValueError):
    """A search text longer than MAX_SEARCH_LENGTH: the client's mistake, not a failure."""


def bounded(text: str) -> str:
    """The text of a search or text filter, refused when longer than any match could be."""
    if len(text) > MAX_SEARCH_LENGTH:
        raise SearchTooLong(f"A search text may have at most {MAX_SEARCH_LENGTH} characters")
    return text


def storable(text: str) -> bool:
    """Whether text can be stored, and so compared in SQL: no NUL (PostgreSQL text cannot hold one,
    and its driver fails on it) and no lone surrogate. A filter given text that is not matches nothing."""
    return "\x00" not in text and not LONE_SURROGATE.search(text)


_PHONE_PUNCTUATION = re.compile(r"[\s\-\.\(\)\+/]")


def fold(text: str) -> str:
    """Lower case, accents removed, whitespace collapsed: "José  PÉREZ" -> "jose perez"."""
    if text.isascii():
        # The same result (NFKD and casefold leave ASCII as lower() does) at a fifth of the cost:
        # a bulk call folds the name of each of its contacts' history entries.
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def matches(keyword: str, column: ColumnElement[str] | QueryableAttribute[str]) -> ColumnElement[bool]:
    """Every word of the keyword, folded, is in `column`, a folded text (db.models.Folded).

    The rule of every text filter but the contacts' (search_terms, which also knows phones and
    documents): "gaston" finds "Gastón", "lopez ana" finds "Ana López", on both backends alike,
    since both sides are folded in Python and LIKE only compares them.
    """
    if not storable(bounded(keyword)):
        return false()
    return and_(true(), *(column.contains(word, autoescape=True) for word in fold(keyword).split(" ") if word))


def national_phone_digits(e164: str) -> str | None:
    """The digits of a stored phone's national dialling form, where they are not already inside
    its E.164 digits (which search_text holds too); None otherwise.

    The form comes from phonenumbers' formatting metadata for the number's own country: for
    Argentina it carries the trunk "0" and, for a mobile, the "15" after the area code
    (+5491145551234 -> "011 15-4555-1234", +541145551234 -> "011 4555-1234"), so "011 15 4555
    1234", "15 4555 1234" and "(011) 4555-1234" are substrings of what is stored, while a fixed
    line's national form does not find the mobile with the same digits.
    """
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    national = digits(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return None if national in digits(e164) else national


def search_terms(keyword: str) -> list[str]:
    """The terms a keyword must all contain. A phone or document typed with punctuation
    ("+54 9 11 4444-5555", "20-12345678-3") becomes its digits, matching however it was stored."""
    compact = _PHONE_PUNCTUATION.sub("", bounded(keyword))
    if len(compact) >= 3 and compact.isdigit():
        return [compact]
    return [term for term in fold(keyword).split(" ") if term]


def search_document(*parts: str | None) -> str:
    """The normalised text a contact is found by; each part folded, phones also as bare digits."""
    return " ".join(fold(p) for p in parts if p)


def starts_with(column: ColumnElement[str] | QueryableAttribute[str], prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, phrased as the range [prefix, next) that a B-tree answers.

    Only for columns that compare bytewise (db.models.FoldedKey: COLLATE "C" on PostgreSQL,
    SQLite's BINARY), where the strings starting with a prefix are exactly that range; under
    a language collation, punctuation weighs nothing and the range would miss some.
    """
    if not prefix:
        return true()
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000  # surrogates cannot be stored, so nothing sorts among them
    if last > 0x10FFFF:
        return column.startswith(prefix, autoescape=True)
    return and_(column >= prefix, column < prefix[:-1] + chr(last))
