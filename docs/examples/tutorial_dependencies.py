"""Tutorial, step 3: dependencies. Shared parameters, a resource with clean-up, nesting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from ferry.api import App, Depends, Query

app = App(title="Dependencies")


class Paging:
    """A class is a dependency too: its __init__ parameters are read from the request."""

    def __init__(
        self,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> None:
        self.offset = offset
        self.limit = limit


class Database:
    """Stands in for a real connection; `closed` lets the tests see the clean-up."""

    def __init__(self) -> None:
        self.rows = [f"row {number}" for number in range(1, 31)]
        self.closed = False

    def close(self) -> None:
        self.closed = True


OPENED: list[Database] = []


def get_db() -> Iterator[Database]:
    """A generator dependency: set-up before `yield`, clean-up after the response is sent."""
    db = Database()
    OPENED.append(db)
    try:
        yield db
    finally:
        db.close()


DB = Annotated[Database, Depends(get_db)]


def visible_rows(db: DB, paging: Annotated[Paging, Depends()]) -> list[str]:
    """Dependencies nest: this one needs the database and the paging."""
    return db.rows[paging.offset : paging.offset + paging.limit]


@app.get("/rows")
async def list_rows(rows: Annotated[list[str], Depends(visible_rows)], db: DB) -> dict[str, object]:
    """get_db runs once for this request, though two parameters depend on it."""
    return {"rows": rows, "total": len(db.rows)}
