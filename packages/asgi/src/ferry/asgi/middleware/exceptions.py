"""ExceptionMiddleware: answer exceptions with the handler registered for them.

A handler is found by status code (for an `HTTPException`) or by exception class, walking
the exception's MRO, so a handler for a base class catches its subclasses. Handlers take
`(request, exc)` and return a response; sync handlers run in a worker thread. An exception
with no handler propagates to `ServerErrorMiddleware`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.exceptions import HTTPException, MultiPartException, WebSocketException
from ferry.asgi.requests import HTTPConnection, Request
from ferry.asgi.responses import PlainTextResponse, Response
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

ExceptionHandler = Callable[[Any, Exception], Any]


class ExceptionMiddleware:
    """Handle exceptions raised inside: by status code, then along the class's MRO."""

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[Any, ExceptionHandler] | None = None,
        debug: bool = False,
    ) -> None:
        self.app = app
        self.debug = debug
        self._status_handlers: dict[int, ExceptionHandler] = {}
        self._exception_handlers: dict[type[BaseException], ExceptionHandler] = {
            HTTPException: self.http_exception,
            MultiPartException: self.multipart_exception,
        }
        for key, handler in (handlers or {}).items():
            self.add_exception_handler(key, handler)

    def add_exception_handler(
        self, exc_class_or_status_code: int | type[BaseException], handler: ExceptionHandler
    ) -> None:
        """Register `handler` for an exception class or an HTTP status code."""
        if isinstance(exc_class_or_status_code, int):
            self._status_handlers[exc_class_or_status_code] = handler
        else:
            self._exception_handlers[exc_class_or_status_code] = handler

    def lookup_handler(self, exc: Exception) -> ExceptionHandler | None:
        """The handler for `exc`: its status code's, else its nearest class's in the MRO."""
        if isinstance(exc, HTTPException) and exc.status_code in self._status_handlers:
            return self._status_handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self._exception_handlers:
                return self._exception_handlers[cls]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            handler = self.lookup_handler(exc)
            if handler is None:
                if scope["type"] == "websocket" and isinstance(exc, WebSocketException):
                    # RFC 6455 §7.4: close with the code and reason the app chose.
                    await send({"type": "websocket.close", "code": exc.code, "reason": exc.reason})
                    return
                raise
            if response_started:
                raise RuntimeError(
                    "Caught a handled exception, but the response had started."
                ) from exc
            connection: HTTPConnection
            connection = (
                Request(scope, receive) if scope["type"] == "http" else HTTPConnection(scope)
            )
            if inspect.iscoroutinefunction(handler):
                response = await handler(connection, exc)
            else:
                response = await run_in_threadpool(handler, connection, exc)
            if response is not None and scope["type"] == "http":
                await response(scope, receive, send)

    @staticmethod
    def http_exception(request: Request, exc: Exception) -> Response:
        """The default answer to an HTTPException: its detail as text, its headers."""
        assert isinstance(exc, HTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    @staticmethod
    def multipart_exception(request: Request, exc: Exception) -> Response:
        """A malformed form, or one over a limit: 400 with the reason."""
        return PlainTextResponse(str(exc), status_code=400)
