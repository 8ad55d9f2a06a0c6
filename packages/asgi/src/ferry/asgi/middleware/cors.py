"""CORSMiddleware: answers CORS preflights and marks cross-origin responses as readable.

The CORS protocol (Fetch standard §3.2) has two halves:

    OPTIONS + Origin + Access-Control-Request-Method   a preflight: answered here, 200 or 400;
                                                       the app never sees it
    any other request with Origin                      the app answers; its response gets
                                                       Access-Control-Allow-Origin and friends

Requests without `Origin` are same-origin (or not from a browser) and pass untouched, as do
websocket and lifespan scopes: CORS does not apply to websockets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ferry.asgi.datastructures import Headers, MutableHeaders
from ferry.asgi.responses import PlainTextResponse
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

# Fetch §2.2.2: CORS-safelisted request headers; a preflight may name them without them
# being allowed explicitly.
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})


class CORSMiddleware:
    """Cross-Origin Resource Sharing for the wrapped app.

    Args:
        app: the ASGI app.
        allow_origins: origins allowed, e.g. "https://example.org"; "*" allows any.
        allow_methods: methods a preflight may ask for; "*" allows the common ones.
        allow_headers: request headers a preflight may ask for (besides the safelisted
            ones); "*" allows any.
        allow_credentials: let browsers send cookies and read the answer. The origin is
            then always echoed: browsers refuse "*" with credentials.
        allow_origin_regex: origins allowed when the whole origin matches this pattern.
        allow_private_network: answer Private Network Access preflights with "true".
        expose_headers: response headers the browser lets scripts read.
        max_age: seconds a browser may cache a preflight's answer.

    Example:
        >>> app = CORSMiddleware(app, allow_origins=["https://example.org"])  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        allow_private_network: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.allow_origins = frozenset(allow_origins)
        self.allow_all_origins = "*" in self.allow_origins
        self.allow_origin_regex = (
            re.compile(allow_origin_regex) if allow_origin_regex is not None else None
        )
        methods = ALL_METHODS if "*" in allow_methods else allow_methods
        self.allow_methods = tuple(method.upper() for method in methods)
        self.allow_all_headers = "*" in allow_headers
        # Header names are case-insensitive; browsers send them lowercased in
        # Access-Control-Request-Headers (Fetch §4.8).
        self.allow_headers = sorted(
            SAFELISTED_HEADERS | {header.lower() for header in allow_headers if header != "*"}
        )
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        self.expose_headers = tuple(expose_headers)
        self.max_age = max_age
        # The answer depends on the request's Origin unless it is a plain "*": then the
        # origin is echoed and `Vary: Origin` tells caches so (Fetch §3.2.5).
        self.echo_origin = not self.allow_all_origins or allow_credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = self.preflight_response(headers)
            await response(scope, receive, send)
            return

        async def send_with_cors_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self.add_cors_headers(message, origin)
            await send(message)

        await self.app(scope, receive, send_with_cors_headers)

    def is_allowed_origin(self, origin: str) -> bool:
        """True when `origin` is listed, matches the regex as a whole, or any is allowed."""
        if self.allow_all_origins or origin in self.allow_origins:
            return True
        return self.allow_origin_regex is not None and bool(
            self.allow_origin_regex.fullmatch(origin)
        )

    def preflight_response(self, request_headers: Headers) -> PlainTextResponse:
        """The answer to a preflight: 200 "OK", or 400 naming each part that is not allowed."""
        origin = request_headers["origin"]
        requested_method = request_headers["access-control-request-method"]
        requested_headers = request_headers.get("access-control-request-headers")
        headers: dict[str, str] = {}
        failures: list[str] = []

        if self.echo_origin:
            headers["Vary"] = "Origin"
        if not self.is_allowed_origin(origin):
            failures.append("origin")
        elif self.echo_origin:
            headers["Access-Control-Allow-Origin"] = origin
        else:
            headers["Access-Control-Allow-Origin"] = "*"
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"

        headers["Access-Control-Allow-Methods"] = ", ".join(self.allow_methods)
        if requested_method not in self.allow_methods:
            failures.append("method")

        if self.allow_all_headers:
            # "*" in Access-Control-Allow-Headers does not cover Authorization and means
            # nothing with credentials, so the headers asked for are named back instead.
            if requested_headers is not None:
                headers["Access-Control-Allow-Headers"] = requested_headers
        else:
            headers["Access-Control-Allow-Headers"] = ", ".join(self.allow_headers)
            if requested_headers is not None:
                names = (name.strip().lower() for name in requested_headers.split(","))
                if any(name and name not in self.allow_headers for name in names):
                    failures.append("headers")

        # Private Network Access: a public page asking for a private address says so with
        # this header; the answer must opt in explicitly.
        if "access-control-request-private-network" in request_headers:
            if self.allow_private_network:
                headers["Access-Control-Allow-Private-Network"] = "true"
            else:
                failures.append("private-network")

        headers["Access-Control-Max-Age"] = str(self.max_age)
        if failures:
            detail = "Disallowed CORS " + ", ".join(failures)
            return PlainTextResponse(detail, status_code=400, headers=headers)
        return PlainTextResponse("OK", status_code=200, headers=headers)

    def add_cors_headers(self, message: Message, origin: str) -> Message:
        """A copy of the `http.response.start` message with the CORS headers for `origin`.

        The message's header list is copied, never changed in place: a `Response` object
        reused for many requests must not keep one request's origin.
        """
        message = {**message, "headers": list(message.get("headers", []))}
        headers = MutableHeaders(scope=message)
        if self.echo_origin:
            headers.add_vary_header("Origin")
        if not self.is_allowed_origin(origin):
            return message
        headers["Access-Control-Allow-Origin"] = origin if self.echo_origin else "*"
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ", ".join(self.expose_headers)
        return message
