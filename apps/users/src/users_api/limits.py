"""BodyLimitMiddleware: refuse request bodies over a size with 413, before reading them.

A declared `Content-Length` over the limit is answered at once, without reading a byte of
the body. A body without one (chunked, RFC 9112 §7.1) is counted as it streams in, and
the request is answered 413 as soon as the count passes the limit: the rest is never read.
"""

from __future__ import annotations

from ferry.asgi.responses import JSONResponse
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024


class _BodyTooLarge(Exception):
    # Raised from receive() into the app, and caught again below it: the app's own
    # handlers do not know this class, so it passes through them untouched.
    pass


class BodyLimitMiddleware:
    """Answer 413 `{"detail": "request body too large"}` for a body over `max_body_bytes`."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MIB) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self.too_large(scope, receive, send)
            return
        received_bytes = 0
        response_started = False

        async def receive_counted() -> Message:
            nonlocal received_bytes
            message = await receive()
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if received_bytes > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_counted, send_noting_start)
        except _BodyTooLarge:
            if response_started:  # too late for a 413: let the server close the connection
                raise
            await self.too_large(scope, receive, send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the 413."""
        response = JSONResponse({"detail": "request body too large"}, status_code=413)
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # malformed: the server refuses it; here the counting still holds
    return None
