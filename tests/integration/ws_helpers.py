"""A small blocking WebSocket client for the integration tests: wsproto on a raw socket.

    with ws_connect(url, "/echo") as client:
        client.send(TextMessage(data="hi"))
        assert client.receive_message() == "hi"

The handshake is wsproto's own, so a server answer that is not valid RFC 6455 fails
where it is read. Every read is bounded by `TIMEOUT_S`.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.integration.http_helpers import TIMEOUT_S, address
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension


class WSClient:
    """One client WebSocket over a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events: deque[Event] = deque()
        self.accepted: AcceptConnection | None = None
        self.eof = False

    def handshake(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        extensions: Sequence[Extension] | None = None,
    ) -> Event:
        """Send the opening handshake; return the AcceptConnection or RejectConnection."""
        self.send(
            Request(
                host="127.0.0.1",
                target=path,
                subprotocols=subprotocols or [],
                extensions=list(extensions or []),
            )
        )
        event = self.next_event()
        if isinstance(event, AcceptConnection):
            self.accepted = event
        return event

    def send(self, event: Event) -> None:
        self.sock.sendall(self.ws.send(event))

    def next_event(self) -> Event:
        """The next event from the server; reads more bytes as needed."""
        while not self.events:
            data = b"" if self.eof else self.sock.recv(65536)
            if not data:
                self.eof = True
                self.ws.receive_data(None)
            else:
                self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Ping):
                    self.send(event.response())
                self.events.append(event)
        return self.events.popleft()

    def receive_message(self) -> str | bytes:
        """The next whole message (fragments joined); fails on anything else."""
        parts: list[str | bytes] = []
        while True:
            event = self.next_event()
            if isinstance(event, Ping):
                continue
            assert isinstance(event, Message), event
            parts.append(event.data)
            if event.message_finished:
                if isinstance(event, TextMessage):
                    return "".join(str(part) for part in parts)
                return b"".join(bytes(part) for part in parts)  # type: ignore[arg-type]

    def receive_close(self) -> CloseConnection:
        """Skip to the server's Close frame, answer it, and return it."""
        while True:
            event = self.next_event()
            if isinstance(event, CloseConnection):
                if self.ws.state.name == "REMOTE_CLOSING":
                    self.send(event.response())
                return event
            assert isinstance(event, Message | Ping), event

    def reject_body(self) -> bytes:
        """The body of a rejection, after a RejectConnection with has_body."""
        body = b""
        while True:
            event = self.next_event()
            assert isinstance(event, RejectData), event
            body += event.data
            if event.body_finished:
                return body


@contextmanager
def ws_socket(url: str) -> Iterator[socket.socket]:
    sock = socket.create_connection(address(url), timeout=TIMEOUT_S)
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def ws_connect(
    url: str,
    path: str = "/",
    subprotocols: list[str] | None = None,
    extensions: Sequence[Extension] | None = None,
) -> Iterator[WSClient]:
    """An accepted WebSocket to `path`; fails if the server does not accept."""
    with ws_socket(url) as sock:
        client = WSClient(sock)
        event = client.handshake(path, subprotocols, extensions)
        assert isinstance(event, AcceptConnection), event
        yield client


__all__ = [
    "BytesMessage",
    "CloseConnection",
    "RejectConnection",
    "TextMessage",
    "WSClient",
    "ws_connect",
    "ws_socket",
]
