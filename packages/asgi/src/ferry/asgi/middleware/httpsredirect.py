"""HTTPSRedirectMiddleware: sends every plain-text request to its secure twin.

    http://example.com/a?b=1      ->  307  https://example.com/a?b=1
    ws://example.com:80/chat      ->  307  wss://example.com/chat  (default ports dropped)

307 keeps the method and body (RFC 9110 §15.4.8), so a POST is repeated as a POST over
https. A websocket can only be redirected where the server supports the ASGI "WebSocket
Denial Response" extension; elsewhere it is closed (which the server answers with 403).
"""

from __future__ import annotations

from ferry.asgi.datastructures import URL
from ferry.asgi.responses import RedirectResponse
from ferry.asgi.types import ASGIApp, Receive, Scope, Send

SECURE_SCHEMES = {"http": "https", "ws": "wss"}

# RFC 6455 §7.4.1: 1008, the endpoint refuses a message that violates its policy.
WS_POLICY_VIOLATION = 1008


class HTTPSRedirectMiddleware:
    """Redirect http to https and ws to wss, keeping host, path and query.

    Example:
        >>> app = HTTPSRedirectMiddleware(app)  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        default_scheme = "http" if scope["type"] == "http" else "ws"
        scheme = scope.get("scheme", default_scheme)
        if scheme not in SECURE_SCHEMES:
            await self.app(scope, receive, send)
            return
        url = URL(scope=scope)
        netloc = drop_default_port(url.netloc)
        secure_url = url.replace(scheme=SECURE_SCHEMES[scheme], netloc=netloc)
        response = RedirectResponse(secure_url, status_code=307)
        if scope["type"] == "http":
            await response(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": ""})


def drop_default_port(netloc: str) -> str:
    """`netloc` without a ":80" or ":443" port (the new scheme's default, or the old one's).

    Parsed by hand rather than with `URL.port`, which raises on a port that is not a number.
    """
    host, colon, port = netloc.rpartition(":")
    if colon and port in ("80", "443"):
        return host
    return netloc
