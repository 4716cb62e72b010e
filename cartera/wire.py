"""JSON as it crosses /graphql: what arrives is bounded and valid Unicode, what leaves always encodes.

Every JSON a client sends (an HTTP body, GET's `variables` and `extensions`, multipart
`operations` and `map`, a WebSocket message) is read by `decode`, with the same rules:

- nesting deeper than CARTERA_MAX_JSON_DEPTH is refused, so nothing downstream (coercion,
  validation, storage) ever recurses through an attacker's depth, and Python's own parser
  never reaches its recursion limit. The depth counts from the outermost value a transport
  reads, its own wrapping included: a variable's value may nest one level less than the
  setting over GET (`variables`), two over POST and multipart (the body or `operations`, then
  `variables`), three over WebSocket (the message, its `payload`, then `variables`);
- a lone surrogate ("\\ud800", in a value or a key) is refused: JSON's escapes can spell one,
  but it is not Unicode, so PostgreSQL's driver cannot send it and an error message repeating
  it could not be encoded as UTF-8. GraphQL's lexer already refuses one in a document's strings;
- NaN and Infinity, which Python's parser accepts, are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from db.search import LONE_SURROGATE

# How much of a key or an index a refusal's path shows.
_PATH_PART = 40


class UnusableJSON(ValueError):
    """JSON a request may not carry; the message says where and why, without repeating the text."""


def _refuse_constant(name: str) -> Any:
    raise UnusableJSON(f"{name} is not a JSON value")


def decode(raw: str | bytes, *, max_depth: int, name: str = "") -> Any:
    """The JSON value; ValueError (JSONDecodeError, UnicodeDecodeError) when it is not JSON at all.

    `name` is what the value is within the request (`variables` of a GET), for the refusal's path.
    """
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnusableJSON(f"JSON nested deeper than {max_depth} levels") from None
    _check(value, max_depth, (name,) if name else ())
    return value


def _check(value: Any, max_depth: int, root: tuple[str | int, ...]) -> None:
    # Iterative, since the point is to read input whose depth is not trusted yet. Strings are
    # checked where they are met, and paths kept for containers only: one pass costs a few
    # times what json.loads does.
    if isinstance(value, str):
        _text(value, root)
    pending: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, root)]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        if depth >= max_depth:
            raise UnusableJSON(f"JSON nested deeper than {max_depth} levels")
        for key, child in children:
            if isinstance(key, str) and LONE_SURROGATE.search(key):
                raise UnusableJSON(f"{_where(path)}has a key holding a lone surrogate: text must be valid Unicode")
            if isinstance(child, str):
                _text(child, (*path, key))
            elif isinstance(child, (dict, list)):
                pending.append((child, depth + 1, (*path, key)))


def _text(text: str, path: tuple[str | int, ...]) -> None:
    if LONE_SURROGATE.search(text):
        raise UnusableJSON(f"{_where(path)}holds a lone surrogate: text must be valid Unicode")


def _where(path: tuple[str | int, ...]) -> str:
    if not path:
        return "The JSON "
    shown = (str(p) if len(str(p)) <= _PATH_PART else str(p)[:_PATH_PART] + "…" for p in path)
    return f"`{'.'.join(shown)}` "


def encode(payload: Any) -> bytes:
    """A response body as UTF-8 JSON, whatever text it holds."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form; JSON's \u escapes spell it.
        return json.dumps(payload, separators=(",", ":")).encode()
