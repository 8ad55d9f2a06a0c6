"""HTTPProtocol: the asyncio adapter around one sans-IO `HTTPConnection`.

asyncio calls `connection_made` (accept), `data_received` (receive_bytes) and
`connection_lost`; this class feeds the bytes to the connection, starts one
`RequestCycle` task per request, writes what the cycle produces (send_bytes), and keeps
the connection's deadline for the header and keep-alive timeouts. The server's clock tick
calls `check_deadline()`; no timer is armed per request. A WebSocket upgrade hands the
transport to a `WebSocketProtocol` (`websocket.py`) and this object steps aside.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from ferry.server.config import Config
from ferry.server.connection import (
    BodyReceived,
    ClientClosed,
    DefaultHeaders,
    Happened,
    HTTPConnection,
    Rejected,
    RequestComplete,
    RequestReceived,
    WebSocketUpgrade,
)
from ferry.server.cycle import RequestCycle
from ferry.server.flow import FlowControl
from ferry.server.logs import access_logger, error_logger, format_access_line
from ferry.server.trace import ConnectionTrace, TraceSink
from ferry.server.types import ASGIApplication
from ferry.server.websocket import WebSocketProtocol

TaskFactory = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class ServedConnection(Protocol):
    """What the server's clock and shutdown ask of every open connection."""

    def check_deadline(self, now: float) -> None: ...
    def shutdown(self) -> None: ...
    def abandon(self) -> None: ...


class ServerState:
    """What every connection of one server shares: the app, the config, the counters."""

    def __init__(self, config: Config, app: ASGIApplication) -> None:
        self.config = config
        self.app = app
        self.default_headers = DefaultHeaders(config)
        self.lifespan_state: dict[str, Any] | None = None
        self.connections: set[ServedConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.active_requests = 0
        self.total_requests = 0
        self.shutting_down = False
        self.access_log = config.access_log
        # Where finished request traces go; None when tracing is off (the usual case).
        self.trace_sink: TraceSink | None = None
        # Called once limit_max_requests requests have been served.
        self.on_request_limit: Callable[[], None] = lambda: None


def _task_factory(loop: asyncio.AbstractEventLoop) -> TaskFactory:
    # Python 3.12+ can start a task eagerly: an app that answers without waiting runs to
    # completion inside data_received, without a trip through the event loop.
    eager = getattr(asyncio, "eager_task_factory", None)
    if eager is not None:
        return lambda coro: eager(loop, coro)
    return loop.create_task


# Deadline kinds: what the connection is waiting for when its deadline passes.
_NO_DEADLINE = 0
_HEADER_DEADLINE = 1  # a request head (RFC 9110 §15.5.9: 408 Request Timeout)
_KEEP_ALIVE_DEADLINE = 2  # any byte of the next request on an idle connection


class HTTPProtocol(asyncio.Protocol):
    """An asyncio `Protocol` for one HTTP/1.1 connection."""

    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.config = state.config
        self.loop = loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.conn: HTTPConnection = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.cycle: RequestCycle | None = None
        self.deadline = 0.0
        self.deadline_kind = _NO_DEADLINE
        self._create_task = _task_factory(loop)
        self._processing = False
        self._next_request_ready = False
        self.requests_started = 0
        self.trace: ConnectionTrace | None = None

    # --- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # waypoint: accept
        """A connection was accepted: make its sans-IO core and start the header clock."""
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.flow = FlowControl(transport)
        transport.set_write_buffer_limits(high=self.config.write_high_water_bytes)
        client = _address(transport.get_extra_info("peername"))
        server = _server_address(transport.get_extra_info("sockname"))
        scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.conn = HTTPConnection(
            self.config,
            client,
            server,
            scheme=scheme,
            default_headers=self.state.default_headers,
            state=self.state.lifespan_state,
        )
        self.state.connections.add(self)
        self._set_deadline(_HEADER_DEADLINE)
        if self.state.trace_sink is not None:
            self.trace = self.conn.trace = ConnectionTrace(self.state.trace_sink)
            self.trace.waypoint("accept", client=client, server=server, scheme=scheme)

    def data_received(self, data: bytes) -> None:  # waypoint: receive_bytes
        """Feed bytes from the socket to the connection and act on what they complete."""
        if self.trace is not None:
            self.trace.waypoint("receive_bytes", bytes=len(data))
        self._process(self.conn.receive_bytes(data))
        if self.deadline_kind == _KEEP_ALIVE_DEADLINE and not self.conn.is_idle:
            # Part of the next request head came (a whole one would have started a
            # cycle): the rest of it is now due within the header timeout.
            self._set_deadline(_HEADER_DEADLINE)

    def eof_received(self) -> bool | None:
        """The client closed its sending side: close the connection."""
        self._process(self.conn.receive_eof())
        # TCP cannot tell a half-close from a close; the client is taken to have gone,
        # so an app waiting on it hears http.disconnect (asyncio closes on None).
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: tell the app, wake any blocked sender."""
        self.state.connections.discard(self)
        self.deadline_kind = _NO_DEADLINE
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnect()
        if self.flow is not None:
            self.flow.connection_lost()

    def pause_writing(self) -> None:
        """asyncio: the write buffer is over its high-water mark."""
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        """asyncio: the write buffer has drained below its low-water mark."""
        self.flow.resume_writing()

    # --- what the bytes completed ------------------------------------------------------------

    def _process(self, happened: list[Happened]) -> None:
        # A cycle that completes eagerly calls response_complete() from inside this loop;
        # the next pipelined request is then picked up here, not by recursion.
        if self._processing:
            raise RuntimeError("re-entered HTTPProtocol._process")  # pragma: no cover
        self._processing = True
        try:
            while True:
                for event in happened:
                    self._handle(event)
                if not self._next_request_ready:
                    break
                self._next_request_ready = False
                happened = self.conn.next_events()
        finally:
            self._processing = False

    def _handle(self, event: Happened) -> None:
        event_type = type(event)
        if event_type is RequestReceived:
            self._start_cycle(event)  # type: ignore[arg-type]
        elif event_type is BodyReceived:
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                waiting = cycle.body_received(event.body)  # type: ignore[union-attr]
                if waiting > self.config.read_high_water_bytes:
                    self.flow.pause_reading()
        elif event_type is RequestComplete:
            if self.cycle is not None:
                self.cycle.request_complete()
        elif event_type is Rejected:
            self._reject(event)  # type: ignore[arg-type]
        elif event_type is WebSocketUpgrade:
            self._upgrade(event)  # type: ignore[arg-type]
        elif event_type is ClientClosed and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()

    def _start_cycle(self, event: RequestReceived) -> None:
        state = self.state
        self.deadline_kind = _NO_DEADLINE
        limit = self.config.limit_concurrency
        if limit is not None and state.active_requests >= limit:
            self.write(self.conn.canned(503))
            self.transport.close()
            return
        state.active_requests += 1
        state.total_requests += 1
        self.requests_started += 1
        cycle = RequestCycle(event.scope, self, self.loop.time() if state.access_log else 0.0)
        self.cycle = cycle
        task = self._create_task(cycle.run(state.app))
        if not task.done():  # an eagerly started task may already be finished
            cycle.task = task
            state.tasks.add(task)
        limit = self.config.limit_max_requests
        if limit is not None and state.total_requests >= limit:
            state.on_request_limit()

    def _upgrade(self, event: WebSocketUpgrade) -> None:
        # The transport now belongs to the WebSocket: its bytes go there from here on.
        # An open WebSocket counts toward --limit-concurrency for as long as its app runs,
        # and its handshake toward --limit-max-requests, as a request does.
        state = self.state
        self.deadline_kind = _NO_DEADLINE
        limit = self.config.limit_concurrency
        if limit is not None and state.active_requests >= limit:
            self.write(self.conn.canned(503))
            self.transport.close()
            return
        self.requests_started += 1
        state.total_requests += 1
        websocket = WebSocketProtocol(state, self.loop, self.transport, self.flow, self.conn, event)
        self.transport.set_protocol(websocket)  # type: ignore[arg-type]
        state.connections.discard(self)
        state.connections.add(websocket)
        if self.trace is not None:  # the trace follows HTTP up to the hand-over
            self.trace.waypoint("finish", upgrade="websocket", keep_alive=False)
            self.trace.finish(deliver=True)
        websocket.start(state.app)
        limit = self.config.limit_max_requests
        if limit is not None and state.total_requests >= limit:
            state.on_request_limit()

    def _reject(self, event: Rejected) -> None:
        error_logger.debug("Refused a request with %d: %s", event.status, event.reason)
        data = event.data
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not data and not cycle.response_started:
                data = self.conn.canned(event.status)  # the app has written nothing yet
            cycle.disconnect()
        if data:
            self.write(data)
        self.deadline_kind = _NO_DEADLINE
        self.transport.close()
        if self.trace is not None:
            self.trace.waypoint("finish", refused=event.status, keep_alive=False)
            self.trace.finish(deliver=cycle is None or cycle.task is None)

    # --- called by the cycle ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write bytes to the socket unless it is already closing."""
        if not self.transport.is_closing():
            self.transport.write(data)

    def response_complete(self, cycle: RequestCycle) -> None:  # waypoint: finish
        """The cycle's response is fully written: keep the connection alive or close it."""
        if self.state.access_log:
            self._log_access(cycle)
        if cycle is not self.cycle:
            return
        self.cycle = None
        self.flow.resume_reading()
        keep_alive = self.conn.keep_alive and not self.state.shutting_down
        if self.trace is not None:
            self.trace.waypoint("finish", status=cycle.status, keep_alive=keep_alive)
            self.trace.finish(deliver=False)  # the cycle delivers it when the app returns
        if not keep_alive:
            self.transport.close()
            return
        self._set_deadline(_KEEP_ALIVE_DEADLINE)
        if not self.conn.has_buffered_bytes:
            return  # the usual case: the next request has not arrived yet
        if self._processing:
            self._next_request_ready = True
        else:
            self._process(self.conn.next_events())

    def fail_response(self, cycle: RequestCycle, *, started: bool, reason: str) -> None:
        """The app failed: a 500 if nothing was written yet, else close mid-response."""
        if not started:
            self.write(self.conn.canned(500))
        if self.state.access_log:
            self._log_access(cycle)
        if cycle is self.cycle:
            self.cycle = None
        self.transport.close()
        if self.trace is not None:
            self.trace.waypoint("finish", status=cycle.status, keep_alive=False, failed=reason)
            self.trace.finish(deliver=False)  # the cycle delivers it when the app returns

    def _log_access(self, cycle: RequestCycle) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        scope = cycle.scope
        access_logger.info(
            format_access_line(
                scope["client"],
                scope["method"],
                scope["path"],
                scope["query_string"],
                scope["http_version"],
                cycle.status,
                cycle.response_bytes,
                (self.loop.time() - cycle.start_time) * 1000.0,
            )
        )

    # --- timeouts and shutdown (driven by the server's clock tick) ------------------------

    def _set_deadline(self, kind: int) -> None:
        timeout = (
            self.config.timeout_header_s
            if kind == _HEADER_DEADLINE
            else self.config.timeout_keep_alive_s
        )
        self.deadline = self.loop.time() + timeout
        self.deadline_kind = kind

    def check_deadline(self, now: float) -> None:
        """Close the connection if it has waited too long for a request head or a byte."""
        if self.deadline_kind == _NO_DEADLINE or now < self.deadline:
            return
        if self.deadline_kind == _HEADER_DEADLINE and self.cycle is None:
            # A client too slow to send its request head (slowloris): RFC 9110 §15.5.9.
            self.write(self.conn.canned(408))
        self.deadline_kind = _NO_DEADLINE
        self.transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the response in flight.

        A connection that has not had its first request yet is left to serve one (then
        closed): its client connected before the listener closed and is owed an answer.
        The header timeout still bounds how long it may take.
        """
        if self.cycle is None and self.requests_started and self.conn.is_idle:
            self.transport.close()

    def abandon(self) -> None:
        """Shutdown timed out: tell the app the client is gone and close the socket."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnect()
        self.transport.close()


def _address(value: Any) -> tuple[str, int] | None:
    # IPv4 and IPv6 sockets give (host, port, ...); a Unix socket's peer gives "".
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _server_address(value: Any) -> tuple[str, int | None] | None:
    # ASGI: a Unix socket server is (path, None).
    if isinstance(value, str) and value:
        return (value, None)
    return _address(value)
