"""The smallest ASGI app: `ferry serve hello:app --app-dir docs/examples`."""

from __future__ import annotations

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answer every HTTP request with "Hello, world!"."""
    if scope["type"] != "http":
        return  # no lifespan support needed: the server's "auto" mode copes
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})
