"""Live updates over WebSockets: an echo socket, and the user events of this instance.

    WS /ws/echo     echo          every text or binary message comes straight back
    WS /ws/events   user_events   a JSON text message for each user created, updated, deleted

The events and their limits are described in events.py. A listener too slow to keep up
is closed with 1013 (try again later); what it sends is read and ignored.
"""

from __future__ import annotations

import anyio

from ferry.api import APIRouter, WebSocket
from users_api.events import Subscription
from users_api.routes import AppState

TRY_AGAIN_LATER = 1013  # RFC 6455 §7.4.1, in the IANA WebSocket close code registry

live = APIRouter(prefix="/ws", tags=["live"])


@live.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    """Send every message back as it came, text as text and binary as binary."""
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@live.websocket("/events")
async def user_events(websocket: WebSocket, state: AppState) -> None:
    """Relay the user events of this instance until the client leaves.

    The subscription starts before the accept: a client that has its 101 hears of every
    change made after it.
    """
    with state.events.subscribe() as subscription:
        await websocket.accept()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_relay, websocket, subscription, tasks.cancel_scope)
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # the client only listens: what it sends is ignored
            tasks.cancel_scope.cancel()


async def _relay(
    websocket: WebSocket, subscription: Subscription, scope: anyio.CancelScope
) -> None:
    async for event in subscription.events:
        await websocket.send_json(event)
    if subscription.overflowed:
        await websocket.close(TRY_AGAIN_LATER, "too far behind")
    scope.cancel()
