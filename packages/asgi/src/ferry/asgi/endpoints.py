"""HTTPEndpoint: a class whose methods named after HTTP methods answer the requests.

    class User(HTTPEndpoint):
        async def get(self, request): ...
        def delete(self, request): ...   # sync methods run in a worker thread

Only the standard methods (RFC 9110 §9) are looked up, so a request with a method such
as "DISPATCH" can never reach an attribute that is not a handler.

WebSocketEndpoint: a class whose `on_connect`, `on_receive` and `on_disconnect` handle
one websocket, with each message decoded as its `encoding` says.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Generator
from typing import Any, Literal

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.exceptions import HTTPException, WebSocketException
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse, Response
from ferry.asgi.routing import STANDARD_METHODS
from ferry.asgi.types import Message, Receive, Scope, Send
from ferry.asgi.websockets import NORMAL_CLOSURE, WebSocket, WebSocketState


class HTTPEndpoint:
    """A class-based endpoint; route to the class itself: `Route("/u/{id}", User)`."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.scope = scope
        self.receive = receive
        self.send = send
        # HEAD is answered by `get` when there is no `head` (see dispatch), so it is allowed.
        self._allowed_methods = [
            method
            for method in sorted(STANDARD_METHODS)
            if callable(getattr(self, method.lower(), None))
            or (method == "HEAD" and callable(getattr(self, "get", None)))
        ]

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        """Call the handler for the request's method, or answer 405."""
        request = Request(self.scope, receive=self.receive)
        method = request.method
        name = "get" if method == "HEAD" and not hasattr(self, "head") else method.lower()
        handler: Callable[[Request], Any] = self.method_not_allowed
        if method in STANDARD_METHODS and callable(getattr(self, name, None)):
            handler = getattr(self, name)
        if inspect.iscoroutinefunction(handler):
            response = await handler(request)
        else:
            response = await run_in_threadpool(handler, request)
        await response(self.scope, self.receive, self.send)

    async def method_not_allowed(self, request: Request) -> Response:
        """405 with the `Allow` header listing the methods this class answers."""
        headers = {"Allow": ", ".join(self._allowed_methods)}
        if "app" in self.scope:
            raise HTTPException(status_code=405, headers=headers)
        return PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)


# RFC 6455 §7.4.1: the close codes for data the endpoint cannot take, and for its own failure.
UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
INTERNAL_ERROR = 1011


class WebSocketEndpoint:
    """A class-based websocket endpoint; route to the class: `WebSocketRoute("/ws", Chat)`.

    `encoding` decides what `on_receive` gets: "text" (str), "bytes" (bytes), "json"
    (parsed from a text or binary message), or None (whichever the client sent). A message
    of the wrong kind closes the websocket with 1003, malformed JSON with 1007.

    Example:
        >>> class Echo(WebSocketEndpoint):  # doctest: +SKIP
        ...     encoding = "text"
        ...     async def on_receive(self, websocket, data):
        ...         await websocket.send_text(data)
    """

    encoding: Literal["text", "bytes", "json"] | None = None

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        self.scope = scope
        self.receive = receive
        self.send = send

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        """Connect, hand each message to `on_receive`, then call `on_disconnect` with the code.

        When `on_connect` does not accept (it closes or denies the websocket), the
        connection never opened: there are no messages and no `on_disconnect`.
        """
        websocket = WebSocket(self.scope, receive=self.receive, send=self.send)
        await self.on_connect(websocket)
        if websocket.application_state is not WebSocketState.CONNECTED:
            return
        close_code = NORMAL_CLOSURE
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code") or NORMAL_CLOSURE)
                    break
                try:
                    data = await self.decode(websocket, message)
                except WebSocketException as exc:
                    await websocket.close(exc.code, exc.reason)
                    close_code = exc.code
                    break
                await self.on_receive(websocket, data)
        except Exception:
            close_code = INTERNAL_ERROR
            raise
        finally:
            await self.on_disconnect(websocket, close_code)

    async def decode(self, websocket: WebSocket, message: Message) -> Any:
        """The payload of a `websocket.receive` message, as `encoding` says.

        Raises:
            WebSocketException: 1003 for a message of the wrong kind, 1007 for bad JSON.
        """
        text: str | None = message.get("text")
        data: bytes | None = message.get("bytes")
        if self.encoding == "text":
            if text is None:
                raise WebSocketException(UNSUPPORTED_DATA, "Expected a text websocket message.")
            return text
        if self.encoding == "bytes":
            if data is None:
                raise WebSocketException(UNSUPPORTED_DATA, "Expected a binary websocket message.")
            return data
        if self.encoding == "json":
            try:
                return json.loads(text if text is not None else data or b"")
            except ValueError as exc:  # also UnicodeDecodeError, from bytes that are not UTF-8
                raise WebSocketException(INVALID_PAYLOAD, "Malformed JSON data received.") from exc
        return text if text is not None else data

    async def on_connect(self, websocket: WebSocket) -> None:
        """The handshake: accept by default; override to check, pick a subprotocol or refuse."""
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """One message from the client, decoded as `encoding` says; override."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """The connection ended with `close_code` (1011 when a handler raised); override."""
