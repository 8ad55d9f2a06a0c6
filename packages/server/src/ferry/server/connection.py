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

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11

from ferry.server.config import Config
from ferry.server.errors import ASGIProtocolError, canned_response
from ferry.server.request_head import read_request_head
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

# The status line of each status that has a reason phrase.
_STATUS_LINES = {
    status: b"HTTP/1.1 %d %b\r\n" % (status, reason) for status, reason in _REASONS.items()
}

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
    return b"".join([name + b": " + value + b"\r\n" for name, value in headers])


# RFC 9110 §5.6.2 token and §5.5 field-value (no CR, LF, NUL, nor whitespace at either
# end), checked for all of a response's names (values) at once: joined by LF, which
# neither may contain, and the count of LFs confirms that none of them did.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_FIELD_VALUE = rb"(?:[^\x00\t\n\v\f\r ]+(?:[ \t]+[^\x00\t\n\v\f\r ]+)*)?"
_NAMES = re.compile(_TOKEN + rb"(?:\n" + _TOKEN + rb")*")
_VALUES = re.compile(_FIELD_VALUE + rb"(?:\n" + _FIELD_VALUE + rb")*")

# What is being read: a request head, a Content-Length body, or nothing (the request
# is complete; bytes of the next one wait until the response is done).
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})

_HEAD = 0
_BODY = 1
_DONE = 2

# How the response body is framed (RFC 9112 §6): by Content-Length, chunked, or by
# closing the connection (an HTTP/1.0 client and a body of unknown length).
_LENGTH = 0
_CHUNKED = 1
_CLOSE = 2


def _comma_tokens(value: bytes) -> list[bytes]:
    """The lowercased items of a comma-separated header value (RFC 9110 §5.6.1)."""
    return [item.strip() for item in value.lower().split(b",") if item.strip()]


def _connection_set_by_app(
    headers: list[tuple[bytes, bytes]], keep_alive: bool
) -> tuple[bool, list[tuple[bytes, bytes]]]:
    """Read the app's own `Connection` header: `close` in it closes after the response.

    When the connection is to close, the app's `Connection` headers are dropped; the
    caller writes one `connection: close`.
    """
    for name, value in headers:
        if name.lower() == b"connection" and b"close" in _comma_tokens(value):
            keep_alive = False
    if keep_alive:
        return True, headers
    return False, [(n, v) for n, v in headers if n.lower() != b"connection"]


def check_header_fields(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse response header fields that HTTP/1.1 cannot carry (RFC 9112 §2.2, §5).

    Raises:
        ASGIProtocolError: a name that is not a token, or a value with CR, LF, NUL or
            whitespace at either end, which could split the response or smuggle a header.
    """
    if not headers:
        return
    names = b"\n".join([name for name, _ in headers])
    values = b"\n".join([value for _, value in headers])
    last = len(headers) - 1
    if (
        _NAMES.fullmatch(names) is None
        or _VALUES.fullmatch(values) is None
        or names.count(b"\n") != last
        or values.count(b"\n") != last
    ):
        for name, value in headers:
            if _NAMES.fullmatch(name) is None or b"\n" in name:
                raise ASGIProtocolError(f"Invalid response header name {name!r}.")
            if _VALUES.fullmatch(value) is None or b"\n" in value:
                raise ASGIProtocolError(f"Invalid response header value {value!r} of {name!r}.")


class HTTPConnection:
    """The sans-IO core of one HTTP/1.1 connection: bytes <-> ASGI events, no I/O.

    Plain request heads are read by `request_head.py`; any other request is read by an
    h11 connection made for it (see `_hand_to_h11`). Responses are written here. One
    request is in flight at a time: bytes of a pipelined request wait until the current
    response is complete, and `next_events()` then reports it.
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
        self._max_body_bytes = config.max_body_bytes
        self._websockets = config.ws != "none"
        self._buffer = b""  # received bytes not read yet (when h11 is not reading)
        self._eof = False  # the client closed its sending side
        self._h11: h11.Connection | None = None  # reads the current request if not plain
        self._head_tail = b""
        self.trace: ConnectionTrace | None = None  # set by the adapter under --trace
        self._start_cycle()

    def _start_cycle(self) -> None:
        # Per-request state, reset for each request on this connection.
        self._reading = _HEAD
        self._method = b""
        self._http_version = b"1.1"
        self._body_left = 0  # bytes of a Content-Length body still to come
        self._body_bytes = 0
        self._request_complete = False
        self._keep_alive = True
        self._expect_continue = False
        # (status, headers) of http.response.start, held until the first body message
        self._response_start: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self.response_started = False  # bytes of the response head were produced
        self.response_complete = False
        self._response_has_body = True
        self._framing = _LENGTH
        self._length_left = 0  # bytes the response's Content-Length still owes

    # --- bytes in --------------------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        """False once this connection must close after the current response."""
        if not self._keep_alive or not self._eof:
            return self._keep_alive
        # The client has closed its side: only a request it sent before that is served.
        return bool(self._h11.trailing_data[0] if self._h11 is not None else self._buffer)

    @property
    def is_idle(self) -> bool:
        """True between requests: no request head has started to arrive."""
        if self._h11 is not None:
            return self._h11.their_state is h11.IDLE and not self._h11.trailing_data[0]
        return self._reading == _HEAD and not self._buffer

    @property
    def awaits_100_continue(self) -> bool:
        """The client sent `Expect: 100-continue` and waits before sending the body."""
        return self._expect_continue

    def receive_bytes(self, data: bytes) -> list[Happened]:
        """Feed bytes read from the socket; report what they completed."""
        h11_conn = self._h11
        if h11_conn is not None:
            if self._request_complete and not self._keep_alive:
                return []  # bytes after a request that closes the connection are dropped
            if h11_conn.their_state is h11.IDLE and self._obs_fold_in(data):
                return [self._reject(400, "obs-fold")]
            h11_conn.receive_data(data)
            return self._next_h11_events()
        self._buffer = self._buffer + data if self._buffer else data
        return self.next_events()

    def receive_eof(self) -> list[Happened]:
        """The client half-closed or closed the connection."""
        self._eof = True
        if self._h11 is not None:
            self._h11.receive_data(b"")
            return self._next_h11_events()
        return self.next_events()

    def next_events(self) -> list[Happened]:
        """Report what the bytes received so far complete.

        Also called by the adapter after a response completes, to pick up a pipelined
        request that waited.
        """
        if self._h11 is not None:
            return self._next_h11_events()
        happened: list[Happened] = []
        while True:
            if self._reading == _BODY:
                if not self._read_body(happened):
                    return happened
            elif self._reading == _DONE:
                # Bytes of the next request wait for this response (pipelining).
                if self._eof and not self._buffer:
                    happened.append(_CLIENT_CLOSED)
                return happened
            elif not self._buffer:
                if self._eof:
                    happened.append(_CLIENT_CLOSED)
                return happened
            else:
                head = read_request_head(self._buffer)
                if head is None:
                    return happened + self._hand_to_h11()
                self._buffer = self._buffer[head.size :]
                if self._receive_request(
                    head.method, head.target, b"1.1", head.headers, happened, head.size
                ):
                    return happened
                self._reading = _BODY
                self._body_left = head.content_length

    def _read_body(self, happened: list[Happened]) -> bool:
        """Read what has arrived of a Content-Length body; False when there is no more."""
        buffer = self._buffer
        left = self._body_left
        if buffer and left:
            piece = buffer if len(buffer) <= left else buffer[:left]
            self._buffer = buffer[len(piece) :]
            self._body_left = left = left - len(piece)
            if not self._receive_body(piece, happened):
                return False
        if left:
            if self._eof:
                happened.append(self._reject(400, "the client closed before the end of the body"))
            return False
        self._reading = _DONE
        self._end_of_request(happened)
        return self._reading == _HEAD  # a new cycle began: read on

    def _end_of_request(self, happened: list[Happened]) -> None:
        self._request_complete = True
        self._expect_continue = False
        if not self.response_complete:
            happened.append(_REQUEST_COMPLETE)
        elif self.keep_alive:
            # The app answered without reading the whole body; now that the rest has
            # been read (and dropped) the next request may begin.
            self._next_cycle()

    def _hand_to_h11(self) -> list[Happened]:
        """Let h11 read the request that starts in the buffer: it is not a plain one."""
        h11_conn = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.config.max_header_bytes
        )
        self._h11 = h11_conn
        self._head_tail = b""
        data, self._buffer = self._buffer, b""
        if self._obs_fold_in(data):
            return [self._reject(400, "obs-fold")]
        h11_conn.receive_data(data)
        if self._eof:
            h11_conn.receive_data(b"")
        return self._next_h11_events()

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

    def _next_h11_events(self) -> list[Happened]:
        happened: list[Happened] = []
        h11_conn = self._h11
        assert h11_conn is not None
        while True:
            try:
                event = h11_conn.next_event()
            except h11.RemoteProtocolError as exc:
                happened.append(self._reject(exc.error_status_hint, str(exc)))
                return happened
            event_type = type(event)
            if event_type is h11.Data:
                if not self._receive_body(event.data, happened):  # type: ignore[union-attr]
                    return happened
            elif event_type is h11.Request:
                request: h11.Request = event  # type: ignore[assignment]
                if self._receive_request(
                    request.method,
                    request.target,
                    request.http_version,
                    list(request.headers),
                    happened,
                ):
                    return happened
            elif event_type is h11.EndOfMessage:
                self._end_of_request(happened)
                if self._h11 is None:  # a new cycle began, read by Ferry again
                    return happened + self.next_events()
                if not self._keep_alive:
                    return happened  # RFC 9112 §9.6: nothing after a closing request is read
            elif event_type is h11.ConnectionClosed:
                happened.append(_CLIENT_CLOSED)
                return happened
            else:  # NEED_DATA, or PAUSED: the rest waits for the response
                return happened

    def _receive_request(
        self,
        method: bytes,
        target: bytes,
        http_version: bytes,
        headers: list[tuple[bytes, bytes]],
        happened: list[Happened],
        head_bytes: int = 0,
    ) -> bool:
        """Check a request head and report it; True when it was refused or taken over."""
        if not http_version.startswith(b"1."):
            # h11 parses any HTTP/d.d; only 1.x is spoken here (RFC 9110 §15.6.6).
            happened.append(self._reject(505))
            return True
        if method == b"CONNECT":
            # A 2xx to CONNECT turns the connection into a tunnel, which is not served.
            happened.append(self._reject(501))
            return True
        if not head_bytes:
            # h11 limits only a head that is still incomplete; a head that arrived whole
            # in one read is measured here (as sent, give or take whitespace).
            head_bytes = len(method) + len(target) + 12
            for name, value in headers:
                head_bytes += len(name) + len(value) + 4
        content_length = -1
        chunked = upgrade = False
        for name, value in headers:
            if name == b"content-length":
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"upgrade":
                upgrade = True
            elif name == b"connection":
                if b"close" in _comma_tokens(value):
                    self._keep_alive = False
            elif name == b"expect":
                self._expect_continue = b"100-continue" in _comma_tokens(value)
        if http_version != b"1.1":
            # HTTP/1.0 closes after each response; its Expect means nothing.
            self._keep_alive = self._expect_continue = False
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
        self._method = method
        self._http_version = http_version
        scope = build_http_scope(
            method,
            target,
            http_version,
            headers,
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
                reader="h11" if self._h11 is not None else "ferry",
                method=scope["method"],
                path=scope["path"],
                target=target,
                http_version=scope["http_version"],
                headers=len(headers),
            )
        if upgrade and self._websockets and _is_websocket_request(headers):
            # The only branch a plain request pays for is the `upgrade` flag above.
            return self._receive_websocket(method, http_version, scope, happened)
        happened.append(RequestReceived(scope))
        return False

    def _receive_websocket(
        self, method: bytes, http_version: bytes, scope: HTTPScope, happened: list[Happened]
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
        if method != b"GET" or http_version != b"1.1":
            happened.append(self._reject(400, "WebSocket handshake must be GET over HTTP/1.1"))
        elif not key:
            happened.append(self._reject(400, "WebSocket handshake without Sec-WebSocket-Key"))
        elif version.strip() != b"13":
            happened.append(self._reject(400, "WebSocket handshake with a version other than 13"))
        else:
            self._method = method
            happened.append(WebSocketUpgrade(scope, key.strip(), subprotocols, extensions))
        return True

    def _receive_body(self, data: bytes, happened: list[Happened]) -> bool:
        """Report a piece of the body; False when it broke the body size limit."""
        self._body_bytes += len(data)
        self._expect_continue = False  # the client did not wait after all
        if self._max_body_bytes and self._body_bytes > self._max_body_bytes:
            happened.append(self._reject(413))
            return False
        if not self.response_complete:
            happened.append(BodyReceived(data))
        return True

    def _reject(self, status: int, reason: str = "") -> Rejected:
        """The client broke the protocol or a limit: a canned response if none started."""
        self._keep_alive = False
        if self._method or self.response_started:
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
            ASGIProtocolError: a header HTTP/1.1 cannot carry (such as a value with CR or LF).
        """
        check_header_fields(headers)
        self.response_started = self.response_complete = True
        return (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            + render_headers(headers)
            + self.default_headers.raw
            + b"\r\n"
        )

    @property
    def upgrade_data(self) -> bytes:
        """Bytes that arrived after the upgrade request: the first frames of the new protocol."""
        return self._h11.trailing_data[0] if self._h11 is not None else self._buffer

    def canned(self, status: int, detail: str | None = None) -> bytes:
        """A canned response that also closes the connection (see `errors.canned_response`)."""
        date = self.default_headers.date if self.default_headers.include_date else b""
        # No Date line at all before the adapter has set one.
        return canned_response(status, detail, date=date or None)

    # --- ASGI messages in, bytes out -------------------------------------------------

    def send_100_continue(self) -> bytes:
        """The bytes of `100 Continue`, sent when the app first asks for the body."""
        self._expect_continue = False
        return b"HTTP/1.1 100 Continue\r\n\r\n"

    def send(self, message: Message) -> bytes:
        """Turn one ASGI `http.response.*` message from the app into bytes to write.

        Raises:
            ASGIProtocolError: the message is out of order, has the wrong type or keys of
                the wrong type, carries a header HTTP/1.1 cannot carry (such as a value
                with CR or LF), or more or less body than its Content-Length. The
                response is then not written.
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
        if self._response_has_body:
            framing = self._framing
            if framing == _LENGTH:
                self._length_left -= len(body)
                if self._length_left < 0 or (not more_body and self._length_left):
                    self.response_complete = True
                    raise ASGIProtocolError(
                        "Invalid response body: "
                        + ("more" if self._length_left < 0 else "less")
                        + " body than its Content-Length."
                    )
                out += body
            elif framing == _CHUNKED:
                if body:
                    out += b"%x\r\n%b\r\n" % (len(body), body)
                if not more_body:
                    out += b"0\r\n\r\n"
            else:
                out += body
        if not more_body:
            self._finish_response()
        return out

    def _send_head(
        self, start: tuple[int, list[tuple[bytes, bytes]]], content_length: int | None
    ) -> bytes:
        status, headers = start
        try:
            check_header_fields(headers)
        except ASGIProtocolError:
            self.response_complete = True  # never write a response that was refused
            raise
        is_head = self._method == b"HEAD"
        no_content = status in _NO_CONTENT_STATUSES
        self._response_has_body = not no_content and not is_head
        keep_alive = self._keep_alive
        if self._expect_continue:
            # A final answer before 100 Continue: the client may or may not send the body
            # now (RFC 9110 §10.1.1), so the connection cannot be trusted for another request.
            keep_alive = self._expect_continue = False
        names = {name.lower() for name, _ in headers}
        if b"connection" in names:
            keep_alive, headers = _connection_set_by_app(headers, keep_alive)
        framing = _LENGTH
        if names & _FRAMING_HEADERS:
            if status == 204:  # RFC 9110 §8.6, RFC 9112 §6.1: never on a 204
                headers = [(n, v) for n, v in headers if n.lower() not in _FRAMING_HEADERS]
            else:
                framing, headers = self._framing_set_by_app(headers, names)
        elif (
            content_length is not None
            and not no_content
            and not (is_head and content_length == 0)  # RFC 9110 §9.3.2: only GET's length
        ):
            self._length_left = content_length
            headers.append((b"content-length", b"%d" % content_length))
        elif not no_content:
            framing = self._unknown_length(headers)  # a HEAD answers as its GET would
        if framing == _CLOSE or not keep_alive:
            self._keep_alive = False
            headers.append((b"connection", b"close"))
        self._framing = framing
        self.response_started = True
        defaults = self.default_headers
        raw = defaults.raw_without(names) if defaults.names & names else defaults.raw
        status_line = _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status
        return status_line + render_headers(headers) + raw + b"\r\n"

    def _unknown_length(self, headers: list[tuple[bytes, bytes]]) -> int:
        """Chunked for an HTTP/1.1 client; for HTTP/1.0 the end of the body is the close."""
        if self._http_version == b"1.1":
            headers.append((b"transfer-encoding", b"chunked"))
            return _CHUNKED
        return _LENGTH if self._method == b"HEAD" else _CLOSE

    def _framing_set_by_app(
        self, headers: list[tuple[bytes, bytes]], names: set[bytes]
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The framing of a response whose app set Content-Length or Transfer-Encoding.

        RFC 9112 §6.1-6.3: Transfer-Encoding wins over Content-Length, and the only coding
        written is chunked; several Content-Lengths must agree.
        """
        if b"transfer-encoding" not in names:
            # The usual case (a framework that knows its body): one plain Content-Length.
            given = [value for name, value in headers if name.lower() == b"content-length"]
            if len(given) == 1 and given[0].isdigit():
                self._length_left = int(given[0])
                return _LENGTH, headers
        lengths: list[bytes] = []
        encodings: list[bytes] = []
        kept: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                lengths.extend(item.strip() for item in value.split(b","))
            elif lower == b"transfer-encoding":
                encodings.extend(_comma_tokens(value))
            else:
                kept.append((name, value))
        self.response_complete = True  # until the checks pass: nothing may follow
        if encodings:
            if encodings != [b"chunked"]:
                raise ASGIProtocolError(
                    "Invalid response header: Transfer-Encoding other than chunked."
                )
            self.response_complete = False
            return self._unknown_length(kept), kept
        if not all(length.isdigit() for length in lengths) or len(set(lengths)) != 1:
            raise ASGIProtocolError(f"Invalid response header: Content-Length {lengths!r}.")
        self.response_complete = False
        self._length_left = int(lengths[0])
        kept.append((b"content-length", lengths[0]))
        return _LENGTH, kept

    def _finish_response(self) -> None:
        self.response_complete = True
        if self._framing == _CLOSE:
            self._keep_alive = False
        if self._request_complete and self.keep_alive:
            # Keep-alive: ready for the next request, which may already be buffered
            # (pipelining); `has_buffered_bytes` tells the adapter to ask next_events().
            self._next_cycle()

    @property
    def has_buffered_bytes(self) -> bool:
        """Bytes of a next request (pipelining), or the client's EOF, wait to be read."""
        if self._h11 is not None:
            data, closed = self._h11.trailing_data
            return bool(data) or closed
        return bool(self._buffer) or self._eof

    def _next_cycle(self) -> None:
        h11_conn = self._h11
        if h11_conn is not None:
            # h11 read that request; the next one is Ferry's to read again.
            self._h11 = None
            self._buffer, closed = h11_conn.trailing_data
            self._eof = self._eof or closed
        self._start_cycle()
