"""build_http_scope(): a request line, headers and the connection's addresses -> the scope.

The reader (Ferry's own for plain heads, h11 for the rest) has already validated the
request line and the headers and lowercased the header names, so nothing here parses or
checks them again (ASGI HTTP spec, "HTTP Connection Scope").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from ferry.server.config import Config
from ferry.server.proxy_headers import resolve_proxy
from ferry.server.types import ASGIVersions, HTTPScope

ASGI_VERSIONS: ASGIVersions = {"version": "3.0", "spec_version": "2.4"}

# RFC 9110 §2.5: a later 1.x minor version is answered as 1.1.
_HTTP_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}


def build_http_scope(
    method: bytes,
    target: bytes,
    http_version: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
    state: dict[str, Any] | None,
    trusted_proxy: bool,
    config: Config,
) -> HTTPScope:
    """Build the `http` scope for one request.

    `path` is `raw_path` percent-decoded as UTF-8 (invalid sequences become U+FFFD);
    `query_string` stays raw. With `trusted_proxy`, `X-Forwarded-*` and `Forwarded`
    headers may change `client` and `scheme`. `state` is copied so that one request's
    changes never reach another's.
    """
    raw_path, _, query_string = target.partition(b"?")
    if not raw_path.startswith(b"/"):
        raw_path = _origin_form(raw_path)
    if b"%" in raw_path:
        path = unquote_to_bytes(raw_path).decode("utf-8", "replace")
    else:
        path = raw_path.decode("utf-8", "replace")
    if trusted_proxy:
        client, scheme = resolve_proxy(headers, client, scheme, config)
    scope: HTTPScope = {
        "type": "http",
        "asgi": ASGI_VERSIONS,
        "http_version": _HTTP_VERSIONS.get(http_version, "1.1"),
        "method": method.decode("ascii"),
        "scheme": scheme,
        "path": root_path + path,
        "raw_path": root_path.encode("utf-8") + raw_path if root_path else raw_path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": headers,
        "client": client,
        "server": server,
    }
    if state is not None:
        scope["state"] = state.copy()
    return scope


def _origin_form(target: bytes) -> bytes:
    """The path of an absolute-form or asterisk-form target (RFC 9112 §3.2.2, §3.2.4)."""
    if target == b"*":
        return b"*"
    _, sep, rest = target.partition(b"://")
    if not sep:
        return target
    slash = rest.find(b"/")
    return rest[slash:] if slash >= 0 else b"/"
