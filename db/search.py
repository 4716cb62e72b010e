"""Portable text matching helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.orm import QueryableAttribute

LIKE_ESCAPE = "\\"


def contains(text: str, *columns: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of the columns; the text's wildcards are literal."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(func.lower(c).like(pattern, escape=LIKE_ESCAPE) for c in columns))
