"""A small ferry.api app: typed parameters, a body model, a dependency, a response model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ferry.api import App, Depends, HTTPException, Query, status

app = App(title="Notes")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)
    secret: str = ""


class NoteOut(BaseModel):
    id: int
    text: str


NOTES: dict[int, NoteIn] = {}


def store() -> dict[int, NoteIn]:
    """The notes; a dependency, so tests can swap it with app.dependency_overrides."""
    return NOTES


Store = Annotated[dict[int, NoteIn], Depends(store)]


@app.post("/notes", status_code=status.HTTP_201_CREATED)
async def create_note(note: NoteIn, notes: Store) -> NoteOut:
    """Create a note; the response model leaves `secret` out."""
    note_id = len(notes) + 1
    notes[note_id] = note
    return NoteOut(id=note_id, text=note.text)


@app.get("/notes/{note_id}")
async def read_note(note_id: int, notes: Store) -> NoteOut:
    """One note, or 404."""
    if note_id not in notes:
        raise HTTPException(404, detail="note not found")
    return NoteOut(id=note_id, text=notes[note_id].text)


@app.get("/notes")
async def list_notes(
    notes: Store, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[NoteOut]:
    """The first `limit` notes."""
    return [NoteOut(id=i, text=n.text) for i, n in list(notes.items())[:limit]]
