"""RequestCycle: one request and its response; the `receive` and `send` the app sees.

The adapter (`protocol.py`) makes one cycle per request, feeds it the body as it arrives,
and runs `RequestCycle.run(app)` as a task. The cycle turns the app's messages into bytes
through the sans-IO connection and writes them; it owns the rules of ASGI that are about
one request (ASGI HTTP spec 2.4): the body in order, `http.disconnect` once the client has
gone or the response is done, `send()` raising `OSError` after a disconnect, and a 500 or
a close when the app fails.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from ferry.server.errors import ASGIProtocolError, ClientDisconnected
from ferry.server.logs import error_logger
from ferry.server.types import (
    ASGIApplication,
    ASGIReceiveEvent,
    ASGISendEvent,
    HTTPScope,
    Scope,
)

if TYPE_CHECKING:
    from ferry.server.protocol import HTTPProtocol
    from ferry.server.trace import RequestTrace

_DISCONNECT: ASGIReceiveEvent = {"type": "http.disconnect"}


class RequestCycle:
    """One request on a connection, from its head to the end of its response."""

    __slots__ = (
        "_body",
        "_body_complete",
        "_body_delivered",
        "_body_size",
        "_protocol",
        "_waiter",
        "disconnected",
        "response_bytes",
        "response_complete",
        "response_started",
        "scope",
        "start_time",
        "status",
        "task",
        "trace",
    )

    def __init__(self, scope: HTTPScope, protocol: HTTPProtocol, start_time: float) -> None:
        self.scope = scope
        self._protocol = protocol
        self.start_time = start_time
        self._body: list[bytes] = []
        self._body_size = 0
        self._body_complete = False
        self._body_delivered = False  # the last http.request (more_body=False) was received
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.status = 0
        self.response_bytes = 0
        self.task: asyncio.Task[None] | None = None  # set by the adapter unless done eagerly
        self.trace: RequestTrace | None = scope.get("ferry.trace")  # type: ignore[assignment]

    # --- fed by the adapter --------------------------------------------------------------

    def body_received(self, body: bytes) -> int:
        """Queue a piece of the body for the app; returns how many bytes now wait."""
        self._body.append(body)
        self._body_size += len(body)
        self._wake()
        return self._body_size

    def request_complete(self) -> None:
        """The whole body has arrived."""
        self._body_complete = True
        self._wake()

    def disconnect(self) -> None:
        """The client went away (or the server gave up on it): tell the app."""
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- what the app sees ---------------------------------------------------------------

    async def receive(self) -> ASGIReceiveEvent:
        """The ASGI `receive` callable: the body in order, then `http.disconnect`."""
        protocol = self._protocol
        if self.disconnected or self.response_complete:
            return _DISCONNECT
        if not self._body and not self._body_complete:
            if protocol.conn.awaits_100_continue and not self.response_started:
                # RFC 9110 §10.1.1: the client waits for 100 before sending the body.
                protocol.write(protocol.conn.send_100_continue())
            await self._wait()
        elif self._body_delivered:
            # The body is done; ASGI says receive() now blocks until the client leaves or
            # the response is complete.
            await self._wait()
        if self.disconnected or self.response_complete or self._body_delivered:
            return _DISCONNECT
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._body_size = 0
        protocol.flow.resume_reading()
        more_body = not self._body_complete
        if not more_body:
            self._body_delivered = True
        return {"type": "http.request", "body": body, "more_body": more_body}

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        await waiter

    async def send(self, message: ASGISendEvent) -> None:
        """The ASGI `send` callable: `http.response.start`, then `http.response.body`s.

        Raises:
            ClientDisconnected: the client is gone (an `OSError`, as ASGI 2.4 asks).
            ASGIProtocolError: the message is out of order or malformed.
        """
        protocol = self._protocol
        if self.disconnected:
            raise ClientDisconnected("the client disconnected")
        if protocol.flow.writing_paused:
            await protocol.flow.drain()
            if self.disconnected:
                raise ClientDisconnected("the client disconnected")
        if self.response_complete:
            raise ASGIProtocolError(
                f"Unexpected {message.get('type')!r}: the response is already complete."
            )
        data = protocol.conn.send(message)
        if self.trace is not None:
            self.trace.waypoint("send_bytes", event=message["type"], bytes=len(data))
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        self.response_bytes += len(message.get("body", b""))
        if data:
            self.response_started = True
            protocol.write(data)
        if not message.get("more_body", False):
            self.response_complete = True
            self._wake()
            protocol.response_complete(self)

    # --- running the app -------------------------------------------------------------------

    async def run(self, app: ASGIApplication) -> None:
        """Call the app for this request, and answer for it when it fails."""
        if self.trace is not None:
            self.trace.waypoint("dispatch", app=describe_app(app), scope_type=self.scope["type"])
        try:
            await app(cast(Scope, self.scope), self.receive, self.send)
        except ClientDisconnected:
            pass  # the app noticed that the client went away; nothing to answer
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._fail("cancelled")
                raise
            error_logger.error("Exception in ASGI application", exc_info=exc)
            self._fail("the app raised")
        else:
            if not self.response_complete and not self.disconnected:
                error_logger.error("ASGI callable returned without completing the response.")
                self._fail("the app returned without completing the response")
        finally:
            state = self._protocol.state
            state.active_requests -= 1
            if self.task is not None:
                state.tasks.discard(self.task)
            if self.trace is not None:
                self.trace.connection.deliver(self.trace)

    def _fail(self, reason: str) -> None:
        """A 500 when nothing was written yet; else close, so the client sees a cut body."""
        if self.response_complete or self.disconnected:
            return
        self.response_complete = True
        self.status = 500
        self._protocol.fail_response(self, started=self.response_started, reason=reason)


def describe_app(app: object) -> str:
    """`module:qualname` of an ASGI app: a function, or an instance of an app class."""
    named = app if hasattr(app, "__qualname__") else type(app)
    return f"{getattr(named, '__module__', '?')}:{getattr(named, '__qualname__', '?')}"
