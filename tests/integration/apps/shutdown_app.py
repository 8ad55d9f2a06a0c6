"""An ASGI app for the graceful-shutdown tests; it reports what it saw on stdout.

`/slow` answers after SLOW_S seconds. `/stream` sends a chunk every 0.1 s forever and stops
only when `send()` fails or `http.disconnect` arrives. Lifespan start-up and shutdown are
printed, so a test can see that shutdown ran.
"""

from __future__ import annotations

import asyncio

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope

SLOW_S = 1.0


def report(line: str) -> None:
    print(line, flush=True)


async def lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            report("startup complete")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            report("shutdown complete")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    start = {"type": "http.response.start", "status": 200, "headers": []}
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW_S)
        await send(start)
        await send({"type": "http.response.body", "body": b"slow done"})
        return
    if scope["path"] == "/stream":
        await send(start)
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
                await asyncio.sleep(0.1)
        except OSError:
            report("stream ended: send failed")
        return
    await send(start)
    await send({"type": "http.response.body", "body": b"ok"})
