"""Apps for the tracer tests: a typed app, a toolkit-only app and a bare ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import BaseModel

from ferry.api import App, Depends
from ferry.asgi import App as ToolkitApp
from ferry.asgi import Request, Route
from ferry.asgi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope


class Item(BaseModel):
    """What the typed app's endpoints return."""

    id: int
    name: str
    public: bool


class NewItem(BaseModel):
    """The body of POST /items."""

    name: str


class Refused(Exception):
    """Raised by an endpoint; answered by the app's handler with 409."""


app = App()


def current_user() -> str:
    return "ada"


@app.get("/items/{item_id}", response_model=Item)
async def read_item(item_id: int, public: bool = True) -> Item:
    return Item(id=item_id, name=f"item {item_id}", public=public)


@app.post("/items", status_code=201)
async def create_item(item: NewItem, user: Annotated[str, Depends(current_user)]) -> Item:
    return Item(id=1, name=f"{item.name} by {user}", public=False)


@app.get("/refused")
async def refuse() -> Item:
    raise Refused


@app.exception_handler(Refused)
async def refused_handler(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "refused"}, status_code=409)


async def stream(request: Request) -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"one ", b"two ", b"three"):
            yield piece

    return StreamingResponse(pieces(), media_type="text/plain")


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


toolkit_app = ToolkitApp(routes=[Route("/stream", stream), Route("/hello", hello)])


async def bare_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """A plain ASGI app that reports nothing itself; it echoes the scope's keys."""
    if scope["type"] != "http":
        return
    body = " ".join(sorted(scope)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
