"""A WebSocket client for the users API's live updates: asyncio streams and wsproto.

    python docs/examples/ws_client.py http://127.0.0.1:8000     # print each user event

Any WebSocket client works (a browser's `new WebSocket(...)`, the `websockets` package);
this one needs nothing beyond wsproto, which ferry-server already depends on.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


class WebSocketClosed(Exception):
    """The server closed the WebSocket (or refused to open it); `code` says why."""

    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class WebSocketClient:
    """One open WebSocket: send and receive text; pings are answered on the way."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        self.parts: list[str] = []

    async def _next_event(self) -> Event:
        while not self.pending:
            data = await self.reader.read(65536)
            self.ws.receive_data(data or None)  # None: the server closed the socket
            self.pending.extend(self.ws.events())
            if not data and not self.pending:
                raise WebSocketClosed(1006)
        return self.pending.pop(0)

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        self.writer.write(self.ws.send(TextMessage(data=text)))
        await self.writer.drain()

    async def receive_text(self) -> str:
        """The next whole text message.

        Raises:
            WebSocketClosed: the server closed the WebSocket instead.
        """
        while True:
            event = await self._next_event()
            if isinstance(event, TextMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    text = "".join(self.parts)
                    self.parts.clear()
                    return text
            elif isinstance(event, Ping):
                self.writer.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.writer.write(self.ws.send(event.response()))
                raise WebSocketClosed(event.code)

    async def close(self, code: int = 1000) -> None:
        """Send a Close frame, wait for the server's, and close the socket."""
        self.writer.write(self.ws.send(CloseConnection(code=code)))
        try:
            while not isinstance(await self._next_event(), CloseConnection):
                pass
        except WebSocketClosed:
            pass  # the server closed the socket without answering
        finally:
            self.writer.close()


async def connect(url: str, path: str) -> WebSocketClient:
    """Open a WebSocket to `path` on the server at `url` ("http://127.0.0.1:8000").

    Raises:
        WebSocketClosed: the server refused the handshake (`code` is its HTTP status).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    client = WebSocketClient(reader, writer)
    writer.write(client.ws.send(Request(host=f"{host}:{port}", target=path)))
    event = await client._next_event()
    if isinstance(event, RejectConnection):
        writer.close()
        raise WebSocketClosed(event.status_code)
    assert isinstance(event, AcceptConnection), event
    return client


async def echo(url: str, text: str) -> str:
    """One round trip through `/ws/echo`."""
    client = await connect(url, "/ws/echo")
    try:
        await client.send_text(text)
        return await client.receive_text()
    finally:
        await client.close()


async def watch_users(client: WebSocketClient, count: int | None = None) -> list[dict[str, Any]]:
    """Print the user events of an open `/ws/events` socket (`count` of them, or until closed).

    The server subscribes the socket before it accepts it, so every change made after
    `connect()` returned is seen.
    """
    events: list[dict[str, Any]] = []
    try:
        while count is None or len(events) < count:
            event = json.loads(await client.receive_text())
            print(event["event"], event["user"]["username"], flush=True)
            events.append(event)
    except WebSocketClosed as closed:
        print(f"the server closed the WebSocket ({closed.code})")
    finally:
        await client.close()
    return events


async def main(url: str) -> None:
    """Watch the users of the server at `url` until it closes the socket."""
    await watch_users(await connect(url, "/ws/events"))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
