"""The app that `make run` serves.

Until the typed layer lands this is a minimal ASGI app; it answers every HTTP request
with a short greeting and supports the lifespan protocol.
"""

from __future__ import annotations

from typing import Any

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable

GREETING = b"Hello from Ferry! The demo user API is on its way.\n"


async def app(scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answer every HTTP request with a greeting; accept lifespan events."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": GREETING})
