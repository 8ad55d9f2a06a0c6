"""HTTPEndpoint: a class whose methods named after HTTP methods answer the requests.

    class User(HTTPEndpoint):
        async def get(self, request): ...
        def delete(self, request): ...   # sync methods run in a worker thread

Only the standard methods (RFC 9110 §9) are looked up, so a request with a method such
as "DISPATCH" can never reach an attribute that is not a handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.exceptions import HTTPException
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse, Response
from ferry.asgi.routing import STANDARD_METHODS
from ferry.asgi.types import Receive, Scope, Send


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
