"""Portable text matching helpers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, true
from sqlalchemy.orm import QueryableAttribute

LIKE_ESCAPE = "\\"
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


def contains(text: str, *columns: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of the columns; the text's wildcards are literal."""
    if not storable(bounded(text)):
        return false()
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(func.lower(c).like(pattern, escape=LIKE_ESCAPE) for c in columns))


_PHONE_PUNCTUATION = re.compile(r"[\s\-\.\(\)\+/]")


def fold(text: str) -> str:
    """Lower case, accents removed, whitespace collapsed: "José  PÉREZ" -> "jose perez"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


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
