"""Compiled reads: a query document whose every field has a SQL mapping runs as one statement
that builds the response's `data` in PostgreSQL (ARCHITECTURE.md, "Speed of reads").

Anything the compiler does not cover runs through strawberry, per operation.
"""

from __future__ import annotations

from typing import Any

from strawberry.schema import BaseSchema

from schema.context import AppState, Context
from services.principal import Principal


class ReadCompiler:
    """Plans cached by document and operation; `run` answers a request or says it cannot."""

    def __init__(self, schema: BaseSchema, app: AppState) -> None:
        self.schema = schema
        self.app = app

    async def run(
        self, context: Context, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> bytes | None:
        """The response's `data` as JSON bytes, or None: strawberry answers this request."""
        return None

    async def statement(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, principal: Principal | None
    ) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL (with $1… parameters) and its parameters that `run` would send; None when not compiled."""
        return None
