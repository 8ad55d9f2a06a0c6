"""An app to test: a lifespan that makes the app's state, and a dependency to override."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from ferry.api import App, Depends


@dataclass
class Counter:
    """Made once at start-up by the lifespan; endpoints receive it by its class."""

    hits: dict[str, int] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[Counter]:
    yield Counter()


app = App(title="Greeter", lifespan=lifespan)


def greeting_word() -> str:
    """In production this might read a translation file; tests replace it."""
    return "Hello"


@app.get("/greet/{name}")
async def greet(
    name: str, counter: Counter, word: Annotated[str, Depends(greeting_word)]
) -> dict[str, object]:
    counter.hits[name] = counter.hits.get(name, 0) + 1
    return {"text": f"{word}, {name}!", "times": counter.hits[name]}
