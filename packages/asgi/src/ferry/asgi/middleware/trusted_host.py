"""TrustedHostMiddleware: refuses requests whose Host header is not one of the app's names.

An app that builds absolute URLs (redirects, password-reset links) from the Host header
trusts the client to name it; this middleware makes that trust safe (Host header attacks).

    example.com        exactly this host
    *.example.com      any subdomain (not example.com itself)
    *                  any host: the middleware does nothing

The port of the Host header is ignored. HTTP requests with another host get 400 "Invalid host
header", or a 307 to `www.<host>` when only that name is allowed; websockets are closed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ferry.asgi.datastructures import URL, Headers
from ferry.asgi.responses import PlainTextResponse, RedirectResponse, Response
from ferry.asgi.types import ASGIApp, Receive, Scope, Send

ENFORCE_DOMAIN_WILDCARD = "Domain wildcard patterns must be like '*.example.com'."

# RFC 6455 §7.4.1: 1008, the endpoint refuses a message that violates its policy.
WS_POLICY_VIOLATION = 1008


class TrustedHostMiddleware:
    """Let through only requests whose Host header matches one of `allowed_hosts`.

    Args:
        app: the ASGI app.
        allowed_hosts: host names, `*.example.com` wildcards, or "*" for any.
        www_redirect: redirect `example.com` to `www.example.com` when only the latter is
            allowed.

    Raises:
        ValueError: a pattern has a "*" anywhere but as a leading `*.` (or alone).

    Example:
        >>> app = TrustedHostMiddleware(app, ["example.com", "*.example.com"])  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] | None = ("*",),
        www_redirect: bool = True,
    ) -> None:
        if allowed_hosts is None:
            allowed_hosts = ("*",)
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be a sequence of host names, not one string")
        for pattern in allowed_hosts:
            if "*" in pattern[1:] or (pattern.startswith("*") and pattern[:2] not in ("*", "*.")):
                raise ValueError(f"allowed_hosts: {pattern!r}: {ENFORCE_DOMAIN_WILDCARD}")
        self.app = app
        # Host names are case-insensitive (RFC 3986 §3.2.2).
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_any = "*" in self.allowed_hosts
        self.www_redirect = www_redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host, port = split_host(Headers(scope=scope).get("host", ""))
        if host and self.is_allowed_host(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": ""})
            return
        response: Response
        if host and self.www_redirect and f"www.{host}" in self.allowed_hosts:
            netloc = f"www.{host}:{port}" if port else f"www.{host}"
            response = RedirectResponse(URL(scope=scope).replace(netloc=netloc))
        else:
            response = PlainTextResponse("Invalid host header", status_code=400)
        await response(scope, receive, send)

    def is_allowed_host(self, host: str) -> bool:
        """True when `host` (lowercased, without its port) matches an allowed pattern."""
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return True
        return False


def split_host(host_header: str) -> tuple[str, str]:
    """A Host header's host (lowercased) and port; ("", "") when it is malformed.

    RFC 9110 §7.2: Host = uri-host [ ":" port ], where an IPv6 host is in brackets and
    port is digits only.
    """
    if host_header.startswith("["):
        address, bracket, rest = host_header.partition("]")
        host = address + bracket
    else:
        host, colon, port = host_header.partition(":")
        rest = colon + port
    port = rest[1:]
    if (rest and rest[0] != ":") or not (port == "" or (port.isascii() and port.isdigit())):
        return "", ""
    return host.lower(), port
