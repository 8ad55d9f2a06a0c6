"""Tutorial, step 1: path and query parameters, with their constraints."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from ferry.api import App, HTTPException, Path, Query

app = App(title="Books")

BOOKS = {
    1: {"title": "Dune", "genre": "fiction"},
    2: {"title": "Cosmos", "genre": "science"},
    3: {"title": "Emma", "genre": "fiction"},
}


class Genre(StrEnum):
    fiction = "fiction"
    science = "science"


@app.get("/books/{book_id}")
async def read_book(book_id: Annotated[int, Path(ge=1)]) -> dict[str, str]:
    """A path parameter: `/books/2`. Not an integer >= 1: 422; no such book: 404."""
    if book_id not in BOOKS:
        raise HTTPException(404, detail="book not found")
    return BOOKS[book_id]


@app.get("/books")
async def list_books(
    genre: Genre | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    q: Annotated[str | None, Query(max_length=20)] = None,
) -> list[str]:
    """Query parameters: `/books?genre=fiction&limit=1`. Each has a default, so each is optional."""
    titles = [
        book["title"]
        for book in BOOKS.values()
        if (genre is None or book["genre"] == genre.value)
        and (q is None or q.lower() in book["title"].lower())
    ]
    return titles[:limit]
