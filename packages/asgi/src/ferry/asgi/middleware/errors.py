"""ServerErrorMiddleware: the outermost layer; turns an unhandled exception into a 500.

It answers 500 (a traceback page only with `debug=True`) if the response has not started,
then re-raises, so that the server logs the exception once and closes the connection when
the response had started.
"""

from __future__ import annotations

import html
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.requests import Request
from ferry.asgi.responses import HTMLResponse, PlainTextResponse, Response
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send


class ServerErrorMiddleware:
    """Answer an unhandled exception with a 500, then re-raise it for the server."""

    def __init__(
        self,
        app: ASGIApp,
        handler: Callable[[Request, Exception], Any] | None = None,
        debug: bool = False,
    ) -> None:
        self.app = app
        self.handler = handler
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
            if not response_started:
                response = await self.error_response(Request(scope), exc)
                await response(scope, receive, send)
            raise

    async def error_response(self, request: Request, exc: Exception) -> Response:
        """The 500 to send: the app's handler's, a debug page, or plain text."""
        if self.debug:
            return self.debug_response(request, exc)
        if self.handler is not None:
            if inspect.iscoroutinefunction(self.handler):
                response: Response = await self.handler(request, exc)
            else:
                response = await run_in_threadpool(self.handler, request, exc)
            return response
        return PlainTextResponse("Internal Server Error", status_code=500)

    def debug_response(self, request: Request, exc: Exception) -> Response:
        """A traceback, as HTML for browsers and as text otherwise (debug only)."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if "text/html" in request.headers.get("accept", ""):
            title = html.escape(f"{type(exc).__name__}: {exc}")
            page = (
                f"<!doctype html><html><head><title>500 {title}</title></head><body>"
                f"<h1>500 Server Error</h1><h2>{title}</h2><pre>{html.escape(text)}</pre>"
                "</body></html>"
            )
            return HTMLResponse(page, status_code=500)
        return PlainTextResponse(text, status_code=500)
