"""WebSocket: the app's side of one websocket connection, over the ASGI websocket messages.

The conversation (ASGI spec, "WebSocket"), with the state each side is in:

    client: websocket.connect ─> websocket.receive ... ─> websocket.disconnect
            CONNECTING           CONNECTED                DISCONNECTED

    app:    websocket.accept ─> websocket.send ... ─> websocket.close
            CONNECTING           CONNECTED             DISCONNECTED
        or  websocket.http.response.start ─> websocket.http.response.body ...
            CONNECTING (denied)              RESPONSE, then DISCONNECTED

Both states are kept as data (the tables below), and a message out of turn is a
`RuntimeError` that names the messages that were expected. `WebSocketDisconnect` is what the
receive helpers raise when the client has gone: it is how an endpoint learns of it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from ferry.asgi.requests import HTTPConnection
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

# RFC 6455 §7.4.1: 1000 is a normal closure; 1006 is never sent, it reports a connection
# that ended without a close frame (a lost client, or a handshake that never completed).
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006

# The ASGI extension that lets an app answer the handshake with an HTTP response.
DENIAL_RESPONSE_EXTENSION = "websocket.http.response"


class WebSocketState(enum.Enum):
    """Where one side of a websocket is: before the handshake, open, closed, or denied."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):
    """The websocket is closed: the client left with `code` (RFC 6455 §7.4) and `reason`.

    Raised by `receive_text()` and the other helpers when `websocket.disconnect` arrives,
    and by `send()` with code 1006 when the server says the client is gone (ASGI 2.4).
    """

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}" if self.reason else str(self.code)


_S = WebSocketState

# What the client may send in each of its states, and the state each message leads to.
CLIENT_MESSAGES: dict[WebSocketState, dict[str, WebSocketState]] = {
    _S.CONNECTING: {"websocket.connect": _S.CONNECTED},
    _S.CONNECTED: {"websocket.receive": _S.CONNECTED, "websocket.disconnect": _S.DISCONNECTED},
    _S.DISCONNECTED: {},
}

# The same for the app. A response body ends the response unless `more_body` is set.
APP_MESSAGES: dict[WebSocketState, dict[str, WebSocketState]] = {
    _S.CONNECTING: {
        "websocket.accept": _S.CONNECTED,
        "websocket.close": _S.DISCONNECTED,
        "websocket.http.response.start": _S.RESPONSE,
    },
    _S.CONNECTED: {"websocket.send": _S.CONNECTED, "websocket.close": _S.DISCONNECTED},
    _S.RESPONSE: {"websocket.http.response.body": _S.DISCONNECTED},
    _S.DISCONNECTED: {},
}


def expected_message_error(expected: Iterable[str], got: str) -> RuntimeError:
    """The error for an ASGI message out of turn: it names the messages that were expected."""
    names = [f'"{name}"' for name in expected]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return RuntimeError(f"Expected ASGI message {listed}, but got {got!r}.")


def next_app_state(state: WebSocketState, message: Message) -> WebSocketState:
    """The app's state once it has sent `message` in `state` (see `APP_MESSAGES`).

    Raises:
        RuntimeError: the message is out of turn (the error names those expected), or the
            app has closed the websocket already.
    """
    allowed = APP_MESSAGES[state]
    if not allowed:
        raise RuntimeError('Cannot call "send" once a close message has been sent.')
    kind = message["type"]
    if kind not in allowed:
        raise expected_message_error(allowed, kind)
    if kind == "websocket.http.response.body" and message.get("more_body", False):
        return WebSocketState.RESPONSE
    return allowed[kind]


class WebSocket(HTTPConnection):
    """One websocket connection: the handshake, messages both ways, and the close.

    The URL, headers, query and path parameters and cookies are the handshake request's.

    Example:
        >>> async def echo(websocket: WebSocket) -> None:  # doctest: +SKIP
        ...     await websocket.accept()
        ...     async for text in websocket.iter_text():
        ...         await websocket.send_text(text)
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope)
        assert scope["type"] == "websocket"
        self._receive = receive
        self._send = send
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING

    # --- raw messages ---

    async def receive(self) -> Message:
        """The next message from the client: `websocket.connect`, `.receive` or `.disconnect`.

        Raises:
            RuntimeError: the message is not one the client may send now, or the client has
                already disconnected.
        """
        allowed = CLIENT_MESSAGES[self.client_state]
        if not allowed:
            raise RuntimeError('Cannot call "receive" once a disconnect message has been received.')
        message = await self._receive()
        kind = message["type"]
        if kind not in allowed:
            raise expected_message_error(allowed, kind)
        self.client_state = allowed[kind]
        return message

    async def send(self, message: Message) -> None:
        """Send an ASGI message to the client, if it is one the app may send now.

        Raises:
            RuntimeError: the message is out of turn (the error names those expected), or
                the websocket is closed already.
            WebSocketDisconnect: (1006) the server reports that the client has gone.
        """
        state = next_app_state(self.application_state, message)
        if state is WebSocketState.RESPONSE and not self.supports_denial_response:
            raise RuntimeError(
                f"The server does not support the {DENIAL_RESPONSE_EXTENSION!r} extension."
            )
        self.application_state = state
        try:
            await self._send(message)
        except OSError:
            # ASGI 2.4: a server's send() raises OSError once the client has gone; the app
            # learns of it the way it learns of any disconnect.
            self.application_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(code=ABNORMAL_CLOSURE) from None

    # --- the handshake and the close ---

    @property
    def supports_denial_response(self) -> bool:
        """Whether the server lets the app answer the handshake with an HTTP response."""
        return DENIAL_RESPONSE_EXTENSION in self.scope.get("extensions", {})

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the connection, with one of the client's subprotocols and extra headers.

        Raises:
            RuntimeError: the connection was accepted, closed or denied already.
        """
        if self.client_state is WebSocketState.CONNECTING:
            await self.receive()  # websocket.connect
        await self.send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or [])}
        )

    async def close(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Close the connection with `code` (RFC 6455 §7.4); before `accept()`, refuse it."""
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    async def send_denial_response(self, response: ASGIApp) -> None:
        """Refuse the handshake with an HTTP response (a `Response`) instead of accepting.

        Raises:
            RuntimeError: the server does not support the "websocket.http.response"
                extension (close the websocket instead), or the handshake is over.
        """
        if not self.supports_denial_response:
            raise RuntimeError(
                f"The server does not support the {DENIAL_RESPONSE_EXTENSION!r} extension."
            )

        async def send_as_websocket(message: Message) -> None:
            # A Response speaks `http.response.*`; the extension's messages are the same
            # ones under the `websocket.` prefix.
            if message["type"].startswith("http.response."):
                message = {**message, "type": "websocket." + message["type"]}
            await self.send(message)

        await response(self.scope, self.receive, send_as_websocket)

    # --- text, bytes and JSON ---

    async def receive_text(self) -> str:
        """The next text message.

        Raises:
            WebSocketDisconnect: the client disconnected.
            RuntimeError: the websocket is not accepted, or the message is binary.
        """
        payload = await self._receive_payload("text")
        assert isinstance(payload, str)
        return payload

    async def receive_bytes(self) -> bytes:
        """The next binary message.

        Raises:
            WebSocketDisconnect: the client disconnected.
            RuntimeError: the websocket is not accepted, or the message is text.
        """
        payload = await self._receive_payload("bytes")
        assert isinstance(payload, bytes)
        return payload

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """The next message parsed as JSON; `mode` says whether it comes as text or binary.

        Raises:
            WebSocketDisconnect: the client disconnected.
            ValueError: the message is not valid JSON (`json.JSONDecodeError`).
        """
        payload = await self._receive_payload(_payload_key(mode))
        return json.loads(payload)

    async def iter_text(self) -> AsyncIterator[str]:
        """Each text message until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Each binary message until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """Each text message parsed as JSON, until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send `data` as compact JSON, in a text message or (as UTF-8) a binary one."""
        key = _payload_key(mode)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if key == "text":
            await self.send({"type": "websocket.send", "text": text})
        else:
            await self.send({"type": "websocket.send", "bytes": text.encode("utf-8")})

    async def _receive_payload(self, key: Literal["text", "bytes"]) -> str | bytes:
        if self.application_state is not WebSocketState.CONNECTED:
            raise RuntimeError('WebSocket is not connected. Need to call "accept" first.')
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", NORMAL_CLOSURE), message.get("reason"))
        # ASGI: a websocket.receive message carries exactly one of "bytes" and "text".
        payload: str | bytes | None = message.get(key)
        if payload is None:
            other = "binary" if key == "text" else "text"
            wanted = "text" if key == "text" else "binary"
            raise RuntimeError(f"Expected a {wanted} websocket message, but got a {other} one.")
        return payload


def _payload_key(mode: str) -> Literal["text", "bytes"]:
    if mode == "text":
        return "text"
    if mode == "binary":
        return "bytes"
    raise ValueError(f'mode must be "text" or "binary", not {mode!r}')


class WebSocketClose:
    """An ASGI app that closes (or, before the handshake, refuses) a websocket.

    Example:
        >>> await WebSocketClose(code=1008)(scope, receive, send)  # doctest: +SKIP
    """

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": self.code, "reason": self.reason})
