"""Helpers for the HTTP integration tests: serve an app, talk to it over a raw socket.

    with serve(app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
        response = ResponseReader(sock).read()

`ResponseReader` parses what the server writes with an h11 client connection, so a
response that is not valid HTTP/1.1 fails the test where it is read. The small ASGI
helpers at the end (`read_body`, `respond`, `wait_until`) keep the inline apps short.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

from ferry.server.testing import run_in_thread
from ferry.server.types import ASGIApplication, ASGIReceiveCallable, ASGISendCallable, Scope

TIMEOUT_S = 5.0
"""How long a socket read may block before the test fails: far above any healthy answer."""

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


# --- the server ------------------------------------------------------------------------------


@contextmanager
def serve(app: ASGIApplication, **options: Any) -> Iterator[str]:
    """`run_in_thread(app, **options)` with lifespan off unless asked for.

    The inline apps of these tests speak only `http`; an app blocked in a test's event
    would otherwise also block the lifespan start-up.
    """
    options.setdefault("lifespan", "off")
    with run_in_thread(app, **options) as url:
        yield url


def address(url: str) -> tuple[str, int]:
    """The (host, port) of a base URL such as "http://127.0.0.1:8000"."""
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def connect(url: str, timeout_s: float = TIMEOUT_S) -> socket.socket:
    """A TCP connection to the server at `url`; use it in a `with` block."""
    return socket.create_connection(address(url), timeout=timeout_s)


# --- reading responses -----------------------------------------------------------------------


@dataclass
class Response:
    """One response as the client saw it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: bytes = b"1.1"
    informational: list[int] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        """The value of the header `name` (lowercase), or None; fails if it is repeated."""
        values = [value for key, value in self.headers if key == name]
        assert len(values) <= 1, f"{name!r} appears {len(values)} times"
        return values[0] if values else None

    def has_header(self, name: bytes) -> bool:
        return any(key == name for key, _ in self.headers)


class ResponseReader:
    """Reads the responses that arrive on one socket, in order, with an h11 client.

    h11 needs to know the request each response answers (a HEAD response has no body),
    so `read(method)` tells it about a request with that method; the bytes actually sent
    are the test's own.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._conn = h11.Connection(h11.CLIENT)
        self._in_progress = False
        self._informational: list[int] = []

    def _begin(self, method: bytes) -> None:
        if self._in_progress:
            return
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        self._conn.send(h11.Request(method=method, target="/", headers=[("host", "test")]))
        self._conn.send(h11.EndOfMessage())
        self._in_progress = True

    def _next_event(self) -> Any:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._conn.receive_data(self.sock.recv(65536))

    def read_informational(self, method: bytes = b"GET") -> int:
        """Read a 1xx response that must come next; return its status."""
        self._begin(method)
        event = self._next_event()
        assert isinstance(event, h11.InformationalResponse), f"expected a 1xx, got {event!r}"
        self._informational.append(event.status_code)
        return event.status_code

    def read(self, method: bytes = b"GET") -> Response:
        """Read the next complete response (after any 1xx responses, which it records)."""
        self._begin(method)
        while True:
            event = self._next_event()
            if isinstance(event, h11.InformationalResponse):
                self._informational.append(event.status_code)
                continue
            assert isinstance(event, h11.Response), f"expected a response, got {event!r}"
            break
        head = event
        body = bytearray()
        while True:
            event = self._next_event()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"expected the response body, got {event!r}")
        self._in_progress = False
        informational, self._informational = self._informational, []
        return Response(
            status=head.status_code,
            headers=list(head.headers),
            body=bytes(body),
            http_version=head.http_version,
            informational=informational,
        )


def read_response(sock: socket.socket, method: bytes = b"GET") -> Response:
    """Read one response from a socket that carries only this one."""
    return ResponseReader(sock).read(method)


def read_until_closed(sock: socket.socket) -> bytes:
    """Every byte until the server closes; a reset counts as a close.

    Raises:
        TimeoutError: the server neither wrote nor closed for the socket's timeout.
    """
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def is_closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    """True when the server closes within `wait_s` without writing anything more."""
    sock.settimeout(wait_s)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    assert data == b"", f"expected a close, got {data!r}"
    return True


def status_of(data: bytes) -> int | None:
    """The status of the response that `data` starts with, or None if it is not one."""
    match = _STATUS_LINE.match(data)
    return int(match[1]) if match else None


def exchange(url: str, request: bytes, method: bytes = b"GET") -> Response:
    """Send `request` on a new connection and read one response."""
    with connect(url) as sock:
        sock.sendall(request)
        return read_response(sock, method)


def get_status(url: str, target: str = "/") -> int:
    """The status of `GET target` on a new connection."""
    request = f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    return exchange(url, request.encode("ascii")).status


def wait_for(condition: threading.Event, timeout_s: float = TIMEOUT_S) -> None:
    """Block the test until `condition` is set; fail after `timeout_s`."""
    assert condition.wait(timeout_s), "timed out waiting for the app"


def eventually(check: Callable[[], object], timeout_s: float = TIMEOUT_S) -> None:
    """Poll the callable `check` until it returns true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        time.sleep(0.01)


# --- inside the apps -------------------------------------------------------------------------


async def read_body(receive: ASGIReceiveCallable) -> bytes:
    """The whole request body (empty if the client disconnects first)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message["body"])
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def respond(
    send: ASGISendCallable,
    body: bytes = b"ok",
    status: int = 200,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A response with its whole body in one message."""
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def wait_until(condition: threading.Event, timeout_s: float = TIMEOUT_S) -> None:
    """Wait in the app (without blocking the server's loop) until the test sets `condition`."""
    deadline = time.monotonic() + timeout_s
    while not condition.is_set():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the app")
        await asyncio.sleep(0.005)


async def ok_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Reads the body and answers 200 "ok"."""
    assert scope["type"] == "http"
    await read_body(receive)
    await respond(send)
