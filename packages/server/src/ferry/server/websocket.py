"""WebSockets on wsproto: a sans-IO core and the asyncio adapter that drives it.

When `HTTPConnection` reports a `WebSocketUpgrade`, `HTTPProtocol` hands its transport to
a `WebSocketProtocol` (`transport.set_protocol`), so a plain request never pays for any of
this. The split is the one of the HTTP side:

    WebSocketConnection   bytes in -> ASGI `websocket.*` events; ASGI messages -> bytes.
                          No socket, loop or clock. The handshake's answer (101, a denial
                          response, 403, 500) is written by the HTTP connection.
    WebSocketProtocol     the asyncio Protocol: the app's task, its receive() and send(),
                          the bounded incoming queue, keep-alive pings, close deadlines,
                          graceful shutdown (close 1012).

The ASGI side follows the WebSocket spec 2.4, with the `websocket.http.response` extension.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.utilities import LocalProtocolError, generate_accept_token

from ferry.server.config import Config
from ferry.server.connection import HTTPConnection, WebSocketUpgrade
from ferry.server.errors import ASGIProtocolError, ClientDisconnected
from ferry.server.logs import access_logger, error_logger, format_websocket_line
from ferry.server.types import ASGIApplication, HTTPScope, Message, Scope

if TYPE_CHECKING:
    from ferry.server.flow import FlowControl
    from ferry.server.protocol import ServerState

# RFC 6455 §7.4.1 status codes used by the server.
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006  # never sent: the connection dropped without a Close frame
INVALID_PAYLOAD = 1007  # a text message that is not UTF-8
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012

# How long a Close frame we sent may wait for the client's reply before the socket closes.
CLOSE_TIMEOUT_S = 5.0


_TEXT = 0x1
_BINARY = 0x2


def build_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame as a server sends it, with no extension (RFC 6455 §5.2).

    This is what wsproto makes for a whole message when no extension was agreed; the
    server builds it itself because a message sent is the commonest thing it does, and a
    server frame is only a head and the payload as it is (§5.1: servers do not mask).
    """
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, length))
    elif length < 0x10000:
        head = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return head + payload


def read_plain_frame(data: bytes, pos: int) -> tuple[int, bytes] | None:
    """The frame at data[pos:] if it is a whole, final, masked text or binary frame.

    Returns where the frame ends and its unmasked payload; None for anything else (control
    frames, fragments, RSV bits, an unmasked or unfinished frame, a length not in its
    shortest form), which wsproto then judges. RFC 6455 §5.2: the first byte is FIN,
    three RSV bits and the opcode, so 0x81 and 0x82 are exactly "final text/binary, no
    RSV"; the second is the MASK bit and a 7-bit length, where 126 and 127 announce a 16-
    or 64-bit length, in the shortest form that fits (a 64-bit length with its top bit set,
    also refused, is too long ever to be whole in the buffer).
    """
    if len(data) - pos < 6 or data[pos] not in (0x81, 0x82) or data[pos + 1] < 0x80:
        return None
    length = data[pos + 1] & 0x7F
    start = pos + 2
    if length == 126:
        length = int.from_bytes(data[start : start + 2], "big")
        start += 2
        if length < 126:
            return None
    elif length == 127:
        length = int.from_bytes(data[start : start + 8], "big")
        start += 8
        if length < 0x10000:
            return None
    end = start + 4 + length
    if end > len(data):
        return None
    # §5.3: byte i of the payload is XORed with byte i % 4 of the masking key. As one big
    # integer, the whole payload is unmasked in a single XOR rather than a loop per byte.
    repeats = (length + 3) // 4
    key = (data[start : start + 4] * repeats)[:length]
    masked = int.from_bytes(data[start + 4 : end], "little")
    payload = (masked ^ int.from_bytes(key, "little")).to_bytes(length, "little")
    return end, payload


def _frame_size(head: bytes) -> int | None:
    """The whole size of the frame that `head` begins (header and payload), None while the
    header is incomplete; its fields are not judged here (§5.2)."""
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    size = 2 + (4 if head[1] & 0x80 else 0)
    if length == 126:
        length, size = int.from_bytes(head[2:4], "big"), size + 2
    elif length == 127:
        length, size = int.from_bytes(head[2:10], "big"), size + 8
    if len(head) < size:
        return None
    return size + length


def build_websocket_scope(http_scope: HTTPScope, subprotocols: list[str]) -> Scope:
    """The ASGI `websocket` scope for an upgrade request, from its `http` scope."""
    scope: dict[str, Any] = dict(http_scope)
    del scope["method"]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if http_scope["scheme"] in ("https", "wss") else "ws"
    scope["subprotocols"] = subprotocols
    scope["extensions"] = {"websocket.http.response": {}}
    return scope


@dataclass(slots=True)
class Closed:
    """What receive_bytes() reports last when the conversation is over."""

    code: int
    reason: str


# The states of the handshake and of the conversation after it.
_CONNECTING = 0  # waiting for the app's accept, close or denial
_DENYING = 1  # the app started a denial response
_OPEN = 2
_CLOSING = 3  # we sent a Close frame; waiting for the client's
_CLOSED = 4  # nothing more is read or written


class WebSocketConnection:
    """The sans-IO core of one WebSocket: bytes <-> ASGI `websocket.*` events, no I/O.

    `receive_bytes()` returns the ASGI events for the app (`websocket.receive`, and
    `websocket.disconnect` once); what must be written in answer (a pong, a Close reply)
    waits in `data_to_send()`. `send()` turns one app message into bytes. `closed`
    becomes True once the transport should be closed after writing.
    """

    def __init__(self, config: Config, http: HTTPConnection, upgrade: WebSocketUpgrade) -> None:
        self.config = config
        self.http = http
        self.upgrade = upgrade
        self.state = _CONNECTING
        self.closed = False  # the adapter closes the transport once this is set
        self.close_code: int | None = None
        self.ping_outstanding = False
        self._ws: Connection | None = None
        self._buffered = http.upgrade_data  # frames sent before our 101 (allowed to pipeline)
        self._out: list[bytes] = []
        self._fragments: list[Any] = []
        self._message_size = 0
        self._max_size = config.ws_max_size_bytes
        self._plain_frames = False  # set at the accept when no extension was agreed
        # Where wsproto stands in the stream of frames (see _receive_plain).
        self._wsproto_head = b""  # the start of a frame whose header is still incomplete
        self._wsproto_left = 0  # bytes still to come of the frame it is reading
        self._wsproto_in_message = False  # it holds the start of a fragmented message

    # --- bytes in --------------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> list[Message]:
        """Feed bytes from the socket; return the ASGI events they complete."""
        if self._ws is None:
            self._buffered += data  # before accept: held for the frame parser
            return []
        if self.state == _CLOSED:
            return []
        if self._buffered:  # frames from before the accept come first
            data, self._buffered = self._buffered + data, b""
        if self._plain_frames and self.state == _OPEN:
            return self._receive_plain(data)
        self._ws.receive_data(data)
        return self._events()

    def _receive_plain(self, data: bytes) -> list[Message]:
        """Read whole plain data frames ourselves; hand everything else to wsproto.

        The rule that keeps the two readers in step: we read a frame only where wsproto is
        *clean*, between frames (no header or payload of one half-received) and between
        messages (no fragmented message begun). Anything else, including a frame not yet
        whole, goes to wsproto, and from then on every byte does until the frame it is
        reading ends. We follow its frame headers to know where that is, so no byte is held
        back from wsproto, none is read twice, and the order of events is the order of frames.
        """
        ws = self._ws
        assert ws is not None
        happened: list[Message] = []
        pos, end = 0, len(data)
        while pos < end and self.state == _OPEN:
            if self._wsproto_left:  # the rest of a frame wsproto is reading
                take = min(self._wsproto_left, end - pos)
                self._wsproto_left -= take
                ws.receive_data(data[pos : pos + take])
                pos += take
                happened += self._events()
                continue
            head = self._wsproto_head
            if not head and not self._wsproto_in_message:
                frame = read_plain_frame(data, pos)
                if frame is not None:
                    is_text = data[pos] == 0x81
                    pos, payload = frame
                    happened += self._plain_message(is_text, payload)
                    continue
            # A frame for wsproto: its header (at most 14 bytes, §5.2) says where it ends.
            start = head + data[pos : pos + 14 - len(head)]
            size = _frame_size(start)
            if size is None:  # wsproto judges the part it has (a bad opcode needs 2 bytes)
                self._wsproto_head = start
                ws.receive_data(data[pos:])
                pos = end
                happened += self._events()
                break
            if start[0] & 0x0F < 0x8:  # a data frame: FIN says whether its message ends
                self._wsproto_in_message = not start[0] & 0x80
            self._wsproto_head = b""
            self._wsproto_left = size - len(head)
        if pos < end and self.state == _CLOSING:
            ws.receive_data(data[pos:])  # read after the client's Close comes (§1.4)
        return happened

    def receive_eof(self) -> list[Message]:
        """The socket closed: a disconnect with 1006 unless a Close frame came first."""
        was_open = self.state == _OPEN
        self.state = _CLOSED
        self.closed = True
        if not was_open:
            return []  # the app heard of the close already, or was never connected
        return [self._disconnect(ABNORMAL_CLOSURE, "")]

    def _events(self) -> list[Message]:
        ws = self._ws
        assert ws is not None
        happened: list[Message] = []
        for event in ws.events():
            event_type = type(event)
            if event_type is TextMessage or event_type is BytesMessage:
                if self.state != _OPEN:
                    continue  # after our Close, data is read and dropped (RFC 6455 §1.4)
                data = cast(TextMessage | BytesMessage, event)
                message = self._message(data.data, event_type is TextMessage, data.message_finished)
                if message is not None:
                    happened.append(message)
                elif self.state == _CLOSING:  # the message was too big
                    happened.append(self._disconnect(MESSAGE_TOO_BIG, ""))
                    break
            elif event_type is Ping:
                self._out.append(ws.send(cast(Ping, event).response()))
            elif event_type is Pong:
                self.ping_outstanding = False
            elif event_type is CloseConnection:
                happened += self._client_closed(cast(CloseConnection, event))
                break
        return happened

    def _plain_message(self, is_text: bool, payload: bytes) -> list[Message]:
        """The events of a whole message read by `read_plain_frame`, as wsproto's would be."""
        if is_text:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:  # §8.1: not UTF-8 fails the connection, 1007
                return self._client_closed(CloseConnection(INVALID_PAYLOAD, str(exc)))
            message = self._message(text, True, True)
        else:
            message = self._message(payload, False, True)
        if message is None:  # the message was too big
            return [self._disconnect(MESSAGE_TOO_BIG, "")]
        return [message]

    def _client_closed(self, close: CloseConnection) -> list[Message]:
        """The client sent a Close, or a frame that could not be read (wsproto's or ours)."""
        ws = self._ws
        assert ws is not None
        code, reason = int(close.code), close.reason or ""
        if ws.state is ConnectionState.REMOTE_CLOSING:
            # RFC 6455 §5.5.1: answer a Close with a Close, then the server closes.
            self._out.append(ws.send(close.response()))
        elif ws.state is ConnectionState.OPEN:
            # A frame could not be read: the failure names the code (1002, 1007...).
            self._out.append(ws.send(CloseConnection(code=code, reason=reason)))
        was_open = self.state == _OPEN
        self.state = _CLOSED
        self.closed = True
        return [self._disconnect(code, reason)] if was_open else []

    def _message(self, data: Any, is_text: bool, finished: bool) -> Message | None:
        self._message_size += len(data)
        if self._message_size > self._max_size:
            # Text is measured in characters, bytes in bytes: neither can exceed the limit
            # by more than one read's worth before the close.
            self._out.append(self.close(MESSAGE_TOO_BIG, "message too big"))
            return None
        if not finished:
            self._fragments.append(data)
            return None
        if self._fragments:
            self._fragments.append(data)
            data = ("" if is_text else b"").join(self._fragments)
            self._fragments.clear()
        self._message_size = 0
        if is_text:
            return {"type": "websocket.receive", "bytes": None, "text": data}
        return {"type": "websocket.receive", "bytes": bytes(data), "text": None}

    def _disconnect(self, code: int, reason: str) -> Message:
        self.close_code = code
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    def data_to_send(self) -> bytes:
        """Bytes owed to the client by what was received (pongs, a Close reply)."""
        if not self._out:
            return b""  # the usual case: a message asks for no answer
        data = b"".join(self._out)
        self._out.clear()
        return data

    # --- ASGI messages in, bytes out -------------------------------------------------

    def send(self, message: Message) -> bytes:
        """Turn one ASGI message from the app into bytes to write.

        Raises:
            ASGIProtocolError: the message is out of order or malformed.
        """
        message_type = message.get("type")
        state = self.state
        if state == _CONNECTING:
            if message_type == "websocket.accept":
                return self._accept(message)
            if message_type == "websocket.close":
                # ASGI: a close before the handshake is answered rejects it with 403.
                self.state = _CLOSED
                self.closed = True
                self.http.response_started = self.http.response_complete = True
                return self.http.canned(403)
            if message_type == "websocket.http.response.start":
                self.state = _DENYING
                return self.http.send({**message, "type": "http.response.start"})
        elif state == _DENYING and message_type == "websocket.http.response.body":
            data = self.http.send({**message, "type": "http.response.body"})
            if not message.get("more_body", False):
                self.state = _CLOSED
                self.closed = True
            return data
        elif state == _OPEN:
            if message_type == "websocket.send":
                return self._send_data(message)
            if message_type == "websocket.close":
                code = message.get("code")
                reason = message.get("reason") or ""
                if code is None:
                    code = NORMAL_CLOSURE
                if type(code) is not int or not isinstance(reason, str):
                    raise ASGIProtocolError("'websocket.close' needs an int code, a str reason.")
                return self.close(code, reason)
        elif state in (_CLOSING, _CLOSED) and message_type in ("websocket.send", "websocket.close"):
            raise ClientDisconnected("the WebSocket is closed")
        raise ASGIProtocolError(f"Unexpected ASGI message {message_type!r} in this state.")

    def _accept(self, message: Message) -> bytes:
        subprotocol = message.get("subprotocol")
        headers = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", generate_accept_token(self.upgrade.key)),
        ]
        if subprotocol is not None:
            if not isinstance(subprotocol, str):
                raise ASGIProtocolError("'websocket.accept' needs 'subprotocol' to be a str.")
            headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        extensions: list[Extension] = []
        if self.config.ws_per_message_deflate:
            deflate = PerMessageDeflate()
            for offer in self.upgrade.extensions:
                if offer.split(";", 1)[0].strip() != deflate.name:
                    continue
                accepted = deflate.accept(offer)
                if accepted is None or accepted is False:
                    continue
                offered = (
                    deflate.name
                    if accepted is True or not accepted
                    else f"{deflate.name}; {accepted}"
                )
                headers.append((b"sec-websocket-extensions", offered.encode("latin-1")))
                extensions.append(deflate)
                break
        for header in message.get("headers", ()):
            try:
                name, value = header
            except (TypeError, ValueError):
                name = value = None
            if type(name) is not bytes or type(value) is not bytes:
                raise ASGIProtocolError(
                    f"'websocket.accept' headers must be (bytes, bytes) pairs, got {header!r}."
                )
            headers.append((name.lower(), value))
        data = self.http.send_switching_protocols(headers)
        self.state = _OPEN
        self._ws = Connection(ConnectionType.SERVER, extensions=extensions)
        self._plain_frames = not extensions
        return data

    def pending_events(self) -> list[Message]:
        """Events for frames that arrived before the accept (the adapter asks once)."""
        return self.receive_bytes(b"") if self._ws is not None and self.state == _OPEN else []

    def _send_data(self, message: Message) -> bytes:
        ws = self._ws
        assert ws is not None
        text = message.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise ASGIProtocolError("'websocket.send' needs 'text' to be a str.")
            if self._plain_frames:
                return build_frame(_TEXT, text.encode("utf-8"))
            return ws.send(TextMessage(data=text))
        data = message.get("bytes")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ASGIProtocolError("'websocket.send' needs 'bytes' or 'text'.")
        if self._plain_frames:
            return build_frame(_BINARY, bytes(data))
        return ws.send(BytesMessage(data=bytes(data)))

    def close(self, code: int, reason: str = "") -> bytes:
        """Start the closing handshake (RFC 6455 §7.1.2); b"" if it has already started."""
        ws = self._ws
        if ws is None or self.state != _OPEN:
            return b""
        self.state = _CLOSING
        self.close_code = code
        try:
            return ws.send(CloseConnection(code=code, reason=reason or None))
        except LocalProtocolError:  # pragma: no cover - the state says it is open
            return b""

    def ping(self, payload: bytes = b"") -> bytes:
        """A keep-alive Ping; its Pong clears `ping_outstanding`."""
        if self._ws is None or self.state != _OPEN:
            return b""
        self.ping_outstanding = True
        return self._ws.send(Ping(payload=payload))

    @property
    def accepted(self) -> bool:
        """True once the 101 was produced."""
        return self._ws is not None

    @property
    def is_open(self) -> bool:
        """True while messages may still be sent."""
        return self.state == _OPEN

    @property
    def handshake_answered(self) -> bool:
        """True once anything of the handshake's answer was produced."""
        return self.state != _CONNECTING


# --- the asyncio adapter -------------------------------------------------------------------

_CONNECT: Message = {"type": "websocket.connect"}


class WebSocketProtocol:
    """The asyncio Protocol of one WebSocket, after `HTTPProtocol` handed over its transport.

    It receives the transport already connected (no `connection_made`), runs the app as a
    task, and answers the server's clock (`check_deadline`) and shutdown (`shutdown`,
    `abandon`) like an HTTP connection.
    """

    def __init__(
        self,
        state: ServerState,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        flow: FlowControl,
        http: HTTPConnection,
        upgrade: WebSocketUpgrade,
    ) -> None:
        self.state = state
        self.config = config = state.config
        self.loop = loop
        self.transport = transport
        self.flow = flow
        self.conn = WebSocketConnection(config, http, upgrade)
        self.scope = build_websocket_scope(upgrade.scope, upgrade.subprotocols)
        self._queue: collections.deque[Message] = collections.deque([_CONNECT])
        self._waiter: asyncio.Future[None] | None = None
        self._disconnected = False  # the app was (or will be) given websocket.disconnect
        self._deadline = 0.0  # when a Close we sent, or a ping, must be answered by
        interval = config.ws_ping_interval_s
        self._next_ping = loop.time() + interval if interval else 0.0
        self._start_time = loop.time() if state.access_log else 0.0
        self.task: asyncio.Task[None] | None = None

    def start(self, app: ASGIApplication) -> None:
        """Run the app for this WebSocket; it counts as an active request until it ends."""
        state = self.state
        state.active_requests += 1
        task = self.loop.create_task(self.run(app))
        self.task = task
        state.tasks.add(task)
        task.add_done_callback(self._app_done)

    def _app_done(self, task: asyncio.Task[None]) -> None:
        # A callback, not a `finally`: it runs even for a task cancelled before it started.
        self.state.tasks.discard(task)
        self.state.active_requests -= 1

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        """Not called: the transport arrives connected, from `HTTPProtocol`."""

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the core, queue what it reports, write what it owes."""
        self._deliver(self.conn.receive_bytes(data))

    def eof_received(self) -> bool | None:
        """The client closed its side: the WebSocket is over."""
        self._deliver(self.conn.receive_eof())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: tell the app, wake a blocked sender."""
        self.state.connections.discard(self)
        self._deliver(self.conn.receive_eof())
        self._disconnected = True
        self._wake()
        self.flow.connection_lost()

    def pause_writing(self) -> None:
        """asyncio: the write buffer is over its high-water mark."""
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        """asyncio: the write buffer has drained below its low-water mark."""
        self.flow.resume_writing()

    def _deliver(self, events: list[Message]) -> None:
        conn = self.conn
        data = conn.data_to_send()
        if data:
            self._write(data)
        if events:
            for event in events:
                if event["type"] == "websocket.disconnect":
                    self._disconnected = True
            self._queue.extend(events)
            if len(self._queue) >= self.config.ws_max_queue:
                self.flow.pause_reading()  # resumed as the app takes messages
            self._wake()
        if conn.state == _CLOSING and not self._deadline:
            self._deadline = self.loop.time() + CLOSE_TIMEOUT_S
        if conn.closed:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- what the app sees -----------------------------------------------------------------

    async def receive(self) -> Message:
        """The ASGI `receive`: connect, then messages, then one `websocket.disconnect`."""
        while not self._queue:
            if self.conn.closed or self.transport.is_closing():
                code = self.conn.close_code or ABNORMAL_CLOSURE
                return {"type": "websocket.disconnect", "code": code, "reason": ""}
            waiter = self.loop.create_future()
            self._waiter = waiter
            await waiter
        message = self._queue.popleft()
        if len(self._queue) < self.config.ws_max_queue:
            self.flow.resume_reading()
        return message

    async def send(self, message: Message) -> None:
        """The ASGI `send`: accept or deny, messages, close.

        Raises:
            ClientDisconnected: the client is gone (an `OSError`, as ASGI asks).
            ASGIProtocolError: the message is out of order or malformed.
        """
        conn = self.conn
        if self._disconnected or self.transport.is_closing():
            raise ClientDisconnected("the client disconnected")
        if self.flow.writing_paused:
            await self.flow.drain()
            if self._disconnected:
                raise ClientDisconnected("the client disconnected")
        if conn.state == _OPEN and message.get("type") == "websocket.send":
            self._write(conn.send(message))  # the commonest message: no state to follow up
            return
        answered = conn.handshake_answered
        data = conn.send(message)
        if data:
            self._write(data)
        if not conn.handshake_answered:
            return
        message_type = message["type"]
        if not answered and self.state.access_log:
            if message_type == "websocket.accept":
                self._log_handshake(101, "accepted")
            elif message_type == "websocket.close":
                self._log_handshake(403, "rejected")
            else:
                self._log_handshake(message.get("status", 0), "denied")
        if message_type == "websocket.accept":
            self._deliver(conn.pending_events())
        elif conn.state == _CLOSING and not self._deadline:
            self._deadline = self.loop.time() + CLOSE_TIMEOUT_S
        elif conn.closed:
            self.transport.close()

    async def run(self, app: ASGIApplication) -> None:
        """Call the app; answer for it when it fails or returns without closing."""
        try:
            await app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                error_logger.error("Exception in ASGI application", exc_info=exc)
            self._fail()
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            if not self.conn.handshake_answered:
                error_logger.error("ASGI callable returned without accepting the WebSocket.")
            self._fail(NORMAL_CLOSURE)

    def _fail(self, code: int = INTERNAL_ERROR) -> None:
        """500 before the handshake was answered; else close with `code` (1011 on error)."""
        conn = self.conn
        if conn.state == _CONNECTING:
            conn.state = _CLOSED
            conn.closed = True
            self._write(conn.http.canned(500))
            self.transport.close()
            if self.state.access_log:
                self._log_handshake(500, "failed")
        elif conn.state == _DENYING:
            conn.state = _CLOSED
            self.transport.close()  # a denial response cut short
        elif conn.is_open:
            self._write(conn.close(code, "" if code == NORMAL_CLOSURE else "internal error"))
            self._deadline = self.loop.time() + CLOSE_TIMEOUT_S

    def _log_handshake(self, status: int, outcome: str) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        scope = self.scope
        access_logger.info(
            format_websocket_line(
                scope["client"],
                scope["path"],
                scope["query_string"],
                status,
                outcome,
                (self.loop.time() - self._start_time) * 1000.0,
            )
        )

    # --- the server's clock and shutdown ---------------------------------------------------

    def check_deadline(self, now: float) -> None:
        """Send keep-alive pings; close when a ping or our Close goes unanswered."""
        conn = self.conn
        if self._deadline and now >= self._deadline:
            if conn.is_open and conn.ping_outstanding:
                # No pong in time: the client is gone or stuck.
                self._write(conn.close(INTERNAL_ERROR, "keepalive ping timeout"))
            self._deadline = 0.0
            self._disconnected = True
            self.transport.close()
            return
        if self._next_ping and now >= self._next_ping and conn.is_open:
            self._next_ping = now + self.config.ws_ping_interval_s
            if not conn.ping_outstanding:
                self._write(conn.ping())
                if self.config.ws_ping_timeout_s and not self._deadline:
                    self._deadline = now + self.config.ws_ping_timeout_s
        if self._deadline and not conn.ping_outstanding and conn.is_open:
            self._deadline = 0.0  # the pong came

    def shutdown(self) -> None:
        """Graceful shutdown: close an open WebSocket with 1012 (service restart)."""
        conn = self.conn
        if conn.is_open:
            self._write(conn.close(SERVICE_RESTART, "server shutting down"))
            self._queue.append(conn._disconnect(SERVICE_RESTART, "server shutting down"))
            self._disconnected = True
            self._wake()
            self._deadline = self.loop.time() + CLOSE_TIMEOUT_S

    def abandon(self) -> None:
        """Shutdown timed out: tell the app the client is gone and close the socket."""
        self._disconnected = True
        self._wake()
        self.transport.close()
