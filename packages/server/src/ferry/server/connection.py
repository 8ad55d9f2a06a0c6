"""HTTPConnection: one HTTP/1.1 connection as a sans-IO state machine on h11.

This module does no I/O. Bytes from the client go in through `receive_bytes()` and come
out as a list of what happened (a request arrived, a piece of its body, its end, the
client closed, or a protocol error with the canned response it implies). ASGI messages
from the app go in through `send()` and come out as the bytes to write. The time, the
socket and the tasks belong to the adapter in `protocol.py`.

    conn = HTTPConnection(config, client=("127.0.0.1", 50000), server=("127.0.0.1", 8000))
    happened = conn.receive_bytes(b"GET / HTTP/1.1\\r\\nhost: t\\r\\n\\r\\n")
    data = conn.send({"type": "http.response.start", "status": 200, "headers": []})
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11

from ferry.server.config import Config
from ferry.server.errors import ASGIProtocolError, canned_response
from ferry.server.scope import build_http_scope
from ferry.server.trace import ConnectionTrace
from ferry.server.types import HTTPScope, Message

# --- What receive_bytes() reports -------------------------------------------------------


@dataclass(slots=True)
class RequestReceived:
    """A complete request head arrived; `scope` is the ASGI `http` scope built from it."""

    scope: HTTPScope


@dataclass(slots=True)
class BodyReceived:
    """A piece of the current request's body."""

    body: bytes


@dataclass(slots=True)
class RequestComplete:
    """The current request's body is complete."""


@dataclass(slots=True)
class WebSocketUpgrade:
    """A valid WebSocket opening handshake arrived (RFC 6455 §4.2.1).

    `scope` is the request's `http` scope; `websocket.py` takes the connection over from
    here. Nothing has been written yet: the app decides between accepting and denying.
    """

    scope: HTTPScope
    key: bytes
    subprotocols: list[str]
    extensions: list[str]


@dataclass(slots=True)
class ClientClosed:
    """The client closed its side of the connection."""


@dataclass(slots=True)
class Rejected:
    """The client broke the protocol or a limit: write `data` (maybe empty), then close.

    `data` is empty when a request was already handed to the app: whether a canned
    response for `status` can still be written depends on what the app has sent.
    `reason` says what was wrong, for the server's log (never for the client).
    """

    status: int
    data: bytes
    reason: str = ""


Happened = (
    RequestReceived | BodyReceived | RequestComplete | ClientClosed | Rejected | WebSocketUpgrade
)

_REQUEST_COMPLETE = RequestComplete()
_CLIENT_CLOSED = ClientClosed()

# The reason phrase of each status (RFC 9110 §15), written after the status code.
_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}

# RFC 9110 §6.4.1: these responses never have content, whatever their headers say.
_NO_CONTENT_STATUSES = frozenset({204, 304})


class DefaultHeaders:
    """The headers added to every response (`Server`, `Date`, `--header` ones).

    They are checked once, when the `Config` is made, and kept as ready-made bytes that
    are appended to the head h11 writes, so h11 does not validate them again on every
    response. A header the app sets itself replaces the default of the same name. The
    adapter refreshes `date` once a second, so the connection never reads a clock.
    """

    __slots__ = ("_date", "_fixed", "headers", "include_date", "names", "raw")

    def __init__(self, config: Config) -> None:
        fixed: list[tuple[bytes, bytes]] = []
        if config.server_header:
            fixed.append((b"server", b"ferry"))
        fixed.extend((n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in config.headers)
        self._fixed = fixed
        self._date = b""
        self.include_date = config.date_header
        self.headers: list[tuple[bytes, bytes]] = []
        self.names: frozenset[bytes] = frozenset()
        self.raw = b""
        self._update(fixed)

    @property
    def date(self) -> bytes:
        """The current `Date` value (RFC 9110 §5.6.7 IMF-fixdate)."""
        return self._date

    def set_date(self, date: bytes) -> None:
        """Take a new `Date` value; called by the adapter when the second changes."""
        self._date = date
        if self.include_date:
            self._update([*self._fixed, (b"date", date)])

    def _update(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.names = frozenset(name for name, _ in headers)
        self.raw = render_headers(headers)

    def raw_without(self, names: set[bytes]) -> bytes:
        """The default headers as bytes, less those whose names are in `names`."""
        return render_headers([(n, v) for n, v in self.headers if n not in names])


def _comma_list(value: bytes) -> list[str]:
    return [item.strip() for item in value.decode("latin-1").split(",") if item.strip()]


def _is_websocket_request(headers: list[tuple[bytes, bytes]]) -> bool:
    """`Upgrade: websocket` with `upgrade` among the `Connection` options (RFC 6455 §4.1)."""
    upgrade = connection = False
    for name, value in headers:
        if name == b"upgrade":
            upgrade = upgrade or b"websocket" in value.lower()
        elif name == b"connection":
            connection = connection or any(
                token.strip() == b"upgrade" for token in value.lower().split(b",")
            )
    return upgrade and connection


def render_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Header lines as HTTP/1.1 writes them: `name: value` and CRLF each."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


class HTTPConnection:
    """The sans-IO core of one HTTP/1.1 connection: bytes <-> ASGI events, no I/O.

    One request is in flight at a time: h11 holds pipelined bytes back until the current
    response is complete, and `receive_bytes()` / `next_events()` then report the next
    request.
    """

    def __init__(
        self,
        config: Config,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        *,
        scheme: str = "http",
        default_headers: DefaultHeaders | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.server = server
        self.scheme = scheme
        self.default_headers = default_headers or DefaultHeaders(config)
        self.state = state
        self.trusted_proxy = config.is_trusted_proxy(client[0] if client else None)
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=config.max_header_bytes)
        self._max_body_bytes = config.max_body_bytes
        self._websockets = config.ws != "none"
        self._head_tail = b""
        self._buffered_obs_fold = False
        self.trace: ConnectionTrace | None = None  # set by the adapter under --trace
        self._start_cycle()

    def _start_cycle(self) -> None:
        # Per-request state, reset for each request on this connection.
        self._method = b""
        self._body_bytes = 0
        self._request_complete = False
        # (status, headers) of http.response.start, held until the first body message
        self._response_start: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self.response_started = False  # bytes of the response head were produced
        self.response_complete = False
        self._response_has_body = True

    # --- bytes in --------------------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        """False once this connection must close after the current response."""
        return self._h11.our_state is not h11.MUST_CLOSE and self._h11.their_state not in (
            h11.MUST_CLOSE,
            h11.CLOSED,
            h11.ERROR,
        )

    @property
    def is_idle(self) -> bool:
        """True between requests: no request head has started to arrive."""
        return self._h11.their_state is h11.IDLE and not self._h11.trailing_data[0]

    @property
    def awaits_100_continue(self) -> bool:
        """The client sent `Expect: 100-continue` and waits before sending the body."""
        return self._h11.they_are_waiting_for_100_continue

    def receive_bytes(self, data: bytes) -> list[Happened]:
        """Feed bytes read from the socket; report what they completed."""
        if self._h11.their_state is h11.IDLE and self._obs_fold_in(data):
            return [self._reject(400, "obs-fold")]
        self._h11.receive_data(data)
        return self.next_events()

    def _obs_fold_in(self, data: bytes) -> bool:
        # RFC 9112 §5.2: a header line continued on the next line (obs-fold) is refused
        # with 400. h11 would silently join it, so the head is checked before h11 sees it.
        # Only the head is searched: it ends at the first empty line (CRLF or a bare LF),
        # which may be split across pieces, so the last bytes of an unfinished head are
        # carried over in `_head_tail` (a body may well start with a space).
        buffer = self._head_tail + data
        ends = [i for i in (buffer.find(b"\n\r\n"), buffer.find(b"\n\n")) if i >= 0]
        if ends:
            head = buffer[: min(ends) + 1]
            self._head_tail = b""
        else:
            head = buffer
            self._head_tail = buffer[-2:]
        return b"\n " in head or b"\n\t" in head

    def receive_eof(self) -> list[Happened]:
        """The client half-closed or closed the connection."""
        self._h11.receive_data(b"")
        return self.next_events()

    def next_events(self) -> list[Happened]:
        """Report what the bytes received so far complete.

        Also called by the adapter after a response completes, to pick up a pipelined
        request that h11 held back.
        """
        happened: list[Happened] = []
        h11_conn = self._h11
        if self._buffered_obs_fold:
            self._buffered_obs_fold = False
            return [self._reject(400, "obs-fold")]
        while True:
            try:
                event = h11_conn.next_event()
            except h11.RemoteProtocolError as exc:
                happened.append(self._reject(exc.error_status_hint, str(exc)))
                return happened
            event_type = type(event)
            if event_type is h11.Data:
                self._receive_body(event.data, happened)  # type: ignore[union-attr]
                if happened and type(happened[-1]) is Rejected:
                    return happened
            elif event_type is h11.Request:
                rejected = self._receive_request(event, happened)  # type: ignore[arg-type]
                if rejected:
                    return happened
            elif event_type is h11.EndOfMessage:
                self._request_complete = True
                if self.response_complete:
                    # The app answered without reading the whole body; now that the rest
                    # has been read (and dropped) the next request may begin.
                    if h11_conn.our_state is h11.DONE:
                        self._next_cycle()
                else:
                    happened.append(_REQUEST_COMPLETE)
            elif event is h11.NEED_DATA or event is h11.PAUSED:
                return happened
            elif event_type is h11.ConnectionClosed:
                happened.append(_CLIENT_CLOSED)
                return happened
            # h11 reports nothing else to a server.

    def _receive_request(self, request: h11.Request, happened: list[Happened]) -> bool:
        if not request.http_version.startswith(b"1."):
            # h11 parses any HTTP/d.d; only 1.x is spoken here (RFC 9110 §15.6.6).
            happened.append(self._reject(505))
            return True
        if request.method == b"CONNECT":
            # A 2xx to CONNECT turns the connection into a tunnel, which is not served.
            happened.append(self._reject(501))
            return True
        headers = list(request.headers)
        # h11 limits only a head that is still incomplete; a head that arrived whole in
        # one read is measured here (as sent, give or take whitespace).
        head_bytes = len(request.method) + len(request.target) + 12
        content_length = -1
        chunked = False
        upgrade = False
        for name, value in headers:
            head_bytes += len(name) + len(value) + 4
            if name == b"content-length":
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"upgrade":
                upgrade = True
        if head_bytes > self.config.max_header_bytes:
            happened.append(self._reject(431))
            return True
        if chunked and content_length >= 0:
            # RFC 9112 §6.3: both framings at once is how requests are smuggled.
            happened.append(self._reject(400, "both Content-Length and Transfer-Encoding"))
            return True
        if self._max_body_bytes and content_length > self._max_body_bytes:
            # RFC 9110 §15.5.14: refuse before the app reads any of it.
            happened.append(self._reject(413))
            return True
        self._method = request.method
        scope = build_http_scope(
            request,
            headers=headers,
            client=self.client,
            server=self.server,
            scheme=self.scheme,
            root_path=self.config.root_path,
            state=self.state,
            trusted_proxy=self.trusted_proxy,
            config=self.config,
        )
        if self.trace is not None:
            scope["ferry.trace"] = self.trace.current  # type: ignore[typeddict-unknown-key]
            self.trace.waypoint(
                "parse",
                h11_event=type(request).__name__,
                method=scope["method"],
                path=scope["path"],
                target=request.target,
                http_version=scope["http_version"],
                headers=len(headers),
            )
        if upgrade and self._websockets and _is_websocket_request(headers):
            # The only branch a plain request pays for is the `upgrade` flag above.
            return self._receive_websocket(request, scope, happened)
        happened.append(RequestReceived(scope))
        return False

    def _receive_websocket(
        self, request: h11.Request, scope: HTTPScope, happened: list[Happened]
    ) -> bool:
        key = b""
        version = b""
        subprotocols: list[str] = []
        extensions: list[str] = []
        for name, value in scope["headers"]:
            if name == b"sec-websocket-key":
                key = value
            elif name == b"sec-websocket-version":
                version = value
            elif name == b"sec-websocket-protocol":
                subprotocols.extend(_comma_list(value))
            elif name == b"sec-websocket-extensions":
                extensions.extend(_comma_list(value))
        # RFC 6455 §4.2.1: a GET over HTTP/1.1 with a key and version 13. A refusal is
        # answered as a request that never reached the app.
        self._method = b""
        if request.method != b"GET" or request.http_version != b"1.1":
            happened.append(self._reject(400, "WebSocket handshake must be GET over HTTP/1.1"))
        elif not key:
            happened.append(self._reject(400, "WebSocket handshake without Sec-WebSocket-Key"))
        elif version.strip() != b"13":
            happened.append(self._reject(400, "WebSocket handshake with a version other than 13"))
        else:
            self._method = request.method
            happened.append(WebSocketUpgrade(scope, key.strip(), subprotocols, extensions))
        return True

    def _receive_body(self, data: bytes, happened: list[Happened]) -> None:
        self._body_bytes += len(data)
        if self._max_body_bytes and self._body_bytes > self._max_body_bytes:
            happened.append(self._reject(413))
        elif not self.response_complete:
            happened.append(BodyReceived(data))

    def _reject(self, status: int, reason: str = "") -> Rejected:
        """The client broke the protocol or a limit: a canned response if none started."""
        if (
            self._method
            or self.response_started
            or self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE)
        ):
            # A request was already handed to the app (this error is in its body or in
            # bytes after it) and the app may be answering: the adapter, which knows
            # whether the app has written anything, decides between a canned response
            # and a bare close.
            return Rejected(status, b"", reason)
        self.response_started = self.response_complete = True
        # The body never quotes the client's bytes back: only the status's own phrase.
        return Rejected(status, self.canned(status), reason)

    def send_switching_protocols(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """The `101 Switching Protocols` head that accepts a WebSocket upgrade.

        Raises:
            ASGIProtocolError: a header h11 refuses (such as a value with CR or LF).
        """
        try:
            data = self._h11.send(h11.InformationalResponse(status_code=101, headers=headers))
        except h11.LocalProtocolError as exc:
            raise ASGIProtocolError(f"Invalid response header: {exc}") from None
        self.response_started = self.response_complete = True
        defaults = self.default_headers
        return (data or b"")[:-2] + defaults.raw + b"\r\n"

    @property
    def upgrade_data(self) -> bytes:
        """Bytes that arrived after the upgrade request: the first frames of the new protocol."""
        return self._h11.trailing_data[0]

    def canned(self, status: int, detail: str | None = None) -> bytes:
        """A canned response that also closes the connection (see `errors.canned_response`)."""
        date = self.default_headers.date if self.default_headers.include_date else b""
        # No Date line at all before the adapter has set one.
        return canned_response(status, detail, date=date or None)

    # --- ASGI messages in, bytes out -------------------------------------------------

    def send_100_continue(self) -> bytes:
        """The bytes of `100 Continue`, sent when the app first asks for the body."""
        return self._h11.send(h11.InformationalResponse(status_code=100, headers=[])) or b""

    def send(self, message: Message) -> bytes:
        """Turn one ASGI `http.response.*` message from the app into bytes to write.

        Raises:
            ASGIProtocolError: the message is out of order, has the wrong type or keys of
                the wrong type, or carries a header h11 refuses (such as a value with CR
                or LF). The response is then not written.
        """
        message_type = message["type"]
        if message_type == "http.response.start":
            if self._response_start is not None or self.response_started:
                raise ASGIProtocolError(
                    "Expected 'http.response.body', got a second 'http.response.start'."
                )
            self._response_start = self._check_start(message)
            return b""
        if message_type == "http.response.body":
            if self.response_complete:
                raise ASGIProtocolError(
                    "Unexpected 'http.response.body' after the response was complete."
                )
            if self._response_start is None and not self.response_started:
                raise ASGIProtocolError(
                    "Expected 'http.response.start' before 'http.response.body'."
                )
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if not isinstance(body, bytes | bytearray | memoryview):
                raise ASGIProtocolError("'http.response.body' needs 'body' to be bytes.")
            return self._send_body(bytes(body), bool(more_body))
        raise ASGIProtocolError(
            f"Expected 'http.response.start' or 'http.response.body', got {message_type!r}."
        )

    def _check_start(self, message: Message) -> tuple[int, list[tuple[bytes, bytes]]]:
        status = message.get("status")
        if type(status) is not int or not 200 <= status <= 599:
            raise ASGIProtocolError(
                f"'http.response.start' needs an int 'status' from 200 to 599, got {status!r}."
            )
        # ASGI allows any iterable of pairs: read it once, into a list we own.
        headers = []
        for header in message.get("headers", ()):
            try:
                name, value = header
            except (TypeError, ValueError):
                name = value = None
            if type(name) is not bytes or type(value) is not bytes:
                raise ASGIProtocolError(
                    f"'http.response.start' headers must be (bytes, bytes) pairs, got {header!r}."
                )
            headers.append((name, value))
        return status, headers

    def _send_body(self, body: bytes, more_body: bool) -> bytes:
        out = b""
        start = self._response_start
        if start is not None:
            # The head was held back until now so that a body known in full gets a
            # Content-Length (one write, keep-alive) instead of chunked framing.
            self._response_start = None
            out = self._send_head(start, None if more_body else len(body))
        h11_conn = self._h11
        try:
            if body and self._response_has_body:
                out += h11_conn.send(h11.Data(data=body)) or b""
            if not more_body:
                out += h11_conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            # e.g. more body than its own Content-Length declared.
            self.response_complete = True
            raise ASGIProtocolError(f"Invalid response body: {exc}") from None
        if not more_body:
            self._finish_response()
        return out

    def _send_head(
        self, start: tuple[int, list[tuple[bytes, bytes]]], content_length: int | None
    ) -> bytes:
        status, headers = start
        is_head = self._method == b"HEAD"
        self._response_has_body = status not in _NO_CONTENT_STATUSES and not is_head
        if self._h11.they_are_waiting_for_100_continue:
            # A final answer before 100 Continue: the client may or may not send the body
            # now (RFC 9110 §10.1.1), so the connection cannot be trusted for another request.
            headers.append((b"connection", b"close"))
        names = {name.lower() for name, _ in headers}
        if (
            content_length is not None
            and status not in _NO_CONTENT_STATUSES
            and not (is_head and content_length == 0)  # RFC 9110 §9.3.2: only GET's length
            and b"content-length" not in names
            and b"transfer-encoding" not in names
        ):
            headers.append((b"content-length", b"%d" % content_length))
        try:
            response = h11.Response(
                status_code=status, headers=headers, reason=_REASONS.get(status, b"")
            )
            data = self._h11.send(response) or b""
        except h11.LocalProtocolError as exc:
            # RFC 9112 §2.2: no CR, LF or NUL in a field; never write a split response.
            self.response_complete = True
            raise ASGIProtocolError(f"Invalid response header: {exc}") from None
        self.response_started = True
        defaults = self.default_headers
        raw = defaults.raw_without(names) if defaults.names & names else defaults.raw
        # h11's head ends with the empty line; the default headers go just before it.
        return data[:-2] + raw + b"\r\n"

    def _finish_response(self) -> None:
        self.response_complete = True
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            # Keep-alive: ready for the next request, which may already be buffered
            # (pipelining); `has_buffered_bytes` tells the adapter to ask next_events().
            self._next_cycle()

    @property
    def has_buffered_bytes(self) -> bool:
        """Bytes of a next request (pipelining), or the client's EOF, wait in h11's buffer."""
        data, closed = self._h11.trailing_data
        return bool(data) or closed

    def _next_cycle(self) -> None:
        self._h11.start_next_cycle()
        self._start_cycle()
        buffered = self._h11.trailing_data[0]
        if buffered:
            self._buffered_obs_fold = self._obs_fold_in(buffered)
