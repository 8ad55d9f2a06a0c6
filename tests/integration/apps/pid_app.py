"""A plain ASGI app that answers with the pid of the process that served the request.

`/block` holds its worker's event loop for a moment (a blocking sleep, on purpose), so that
concurrent requests have to be spread over the other workers. `/slow` sends its headers at
once and its body a minute later, to keep a request in flight during a shutdown.
"""

from __future__ import annotations

import asyncio
import os
import time

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope

BLOCK_S = 0.2
SLOW_S = 60.0


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to set up; returning tells the server so
    if scope["path"] == "/block":
        time.sleep(BLOCK_S)  # noqa: ASYNC251 - blocking on purpose, see above
    body = str(os.getpid()).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    if scope["path"] == "/slow":
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await asyncio.sleep(SLOW_S)
    await send({"type": "http.response.body", "body": body})
