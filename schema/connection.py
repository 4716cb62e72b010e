"""Relay cursor connections (X1), built from the one keyset paginator in db.keyset."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from db.keyset import Page
from schema import docs

T = TypeVar("T")


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More rows follow this page (ask with `after: endCursor`).")
    has_previous_page: bool = strawberry.field(
        description="Rows come before this page (ask with `before: startCursor`)."
    )
    start_cursor: str | None = strawberry.field(description="The first row's cursor; null on an empty page.")
    end_cursor: str | None = strawberry.field(description="The last row's cursor; null on an empty page.")


@strawberry.type(description="A row of a page and its cursor (Relay).")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description=docs.CURSOR)
    node: T = strawberry.field(description=docs.EDGE_NODE)


@strawberry.type(
    description=(
        "A page of a list (Relay cursor connection): `first`/`after` page forwards, `last`/`before` backwards; "
        "pass either first or last and either after or before; the page size defaults to the server's "
        "limit (100 unless configured) and a larger one is refused. totalCount is only computed when you select it."
    )
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description=docs.EDGES)
    nodes: list[T] = strawberry.field(description=docs.NODES)
    page_info: PageInfo = strawberry.field(description=docs.PAGE_INFO)
    count_rows: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Rows in the whole filtered list (one extra query).")
    async def total_count(self) -> int:
        return await self.count_rows()


def connection(page: Page[Any], convert: Callable[[Any], T], count: Callable[[], Awaitable[int]]) -> Connection[T]:
    nodes: Sequence[T] = [convert(row) for row in page.rows]
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
        nodes=list(nodes),
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count_rows=count,
    )
