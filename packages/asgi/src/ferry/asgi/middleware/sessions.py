"""SessionMiddleware: a session dict kept in a signed cookie.

The session is `scope["session"]` (`request.session`): a plain dict of JSON values. It lives
on the client, in one cookie:

    <payload>.<timestamp>.<signature>

    payload     the session as JSON, in unpadded URL-safe base64
    timestamp   when the cookie was signed, in whole seconds since the epoch
    signature   HMAC-SHA256 of "<payload>.<timestamp>", in unpadded URL-safe base64

The client can read the session (it is signed, not encrypted) but not change it: a cookie
whose signature does not match, or older than `max_age`, gives an empty session. The cookie
is set again on every response while the session is not empty (so its age restarts), and
cleared when a session that was loaded has been emptied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from time import time
from typing import Any, Literal

from ferry.asgi.requests import HTTPConnection
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

# Keeps session signatures apart from any other HMAC the app makes with the same secret.
_KEY_CONTEXT = b"ferry.asgi.sessions"


class SessionMiddleware:
    """Load `scope["session"]` from a signed cookie; store it back on the response.

    Args:
        app: the ASGI app.
        secret_key: the signing key; anyone who knows it can forge sessions.
        session_cookie: the cookie's name.
        max_age: seconds a session lasts since its last response; None for a browser
            session cookie that is never refused for its age.
        path: the cookie's Path.
        same_site: the cookie's SameSite: "lax", "strict" or "none".
        https_only: add Secure, so the browser sends the cookie over https only.
        domain: the cookie's Domain, to share it with subdomains.

    Raises:
        ValueError: `secret_key` is empty, `same_site` is not lax, strict or none, or
            `session_cookie`, `path` or `domain` has a character that would break the cookie.

    Example:
        >>> app = SessionMiddleware(app, secret_key=os.environ["SECRET"])  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
    ) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        if same_site.lower() not in ("lax", "strict", "none"):
            raise ValueError(f"same_site must be 'lax', 'strict' or 'none', not {same_site!r}")
        # These go into the Set-Cookie header as they are: one ";" or CR LF would add
        # attributes or headers of its own (RFC 6265 §4.1.1).
        if not _fits_cookie(session_cookie, forbidden=';=, "') or session_cookie == "":
            raise ValueError(f"session_cookie: {session_cookie!r} is not a cookie name")
        if not _fits_cookie(path) or not (domain is None or _fits_cookie(domain)):
            raise ValueError("path and domain must be printable and without ';'")
        self.app = app
        secret = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
        self.signing_key = hmac.new(secret, _KEY_CONTEXT, hashlib.sha256).digest()
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.path = path
        attributes = ["HttpOnly", f"SameSite={same_site}"]
        if https_only:
            attributes.append("Secure")
        if domain is not None:
            attributes.append(f"Domain={domain}")
        self.cookie_attributes = "; ".join(attributes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cookie = HTTPConnection(scope).cookies.get(self.session_cookie)
        session = self.load_session(cookie) if cookie is not None else None
        scope["session"] = session or {}
        loaded = bool(session)

        async def send_with_session_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie_header = self.session_cookie_header(scope["session"], loaded)
                if cookie_header is not None:
                    # A new header list: the app's (a reused Response's) stays unchanged.
                    headers = [*message.get("headers", []), (b"set-cookie", cookie_header)]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_session_cookie)

    def session_cookie_header(self, session: dict[str, Any], loaded: bool) -> bytes | None:
        """The Set-Cookie value for the session at response time, or None to send none."""
        if session:
            value = self.sign_session(session)
            max_age = f"; Max-Age={self.max_age}" if self.max_age is not None else ""
            header = f"{self.session_cookie}={value}; Path={self.path}{max_age}"
        elif loaded:
            expires = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            header = f"{self.session_cookie}=null; Path={self.path}; {expires}"
        else:
            return None
        return f"{header}; {self.cookie_attributes}".encode("latin-1")

    def sign_session(self, session: dict[str, Any]) -> str:
        """The cookie value for `session`, signed now."""
        data = json.dumps(session, separators=(",", ":")).encode("utf-8")
        signed = _b64encode(data) + b"." + str(int(time())).encode("ascii")
        return (signed + b"." + self.signature(signed)).decode("ascii")

    def load_session(self, cookie: str) -> dict[str, Any] | None:
        """The session in a cookie value; None when it is malformed, forged or too old."""
        try:
            raw = cookie.encode("ascii")
        except UnicodeEncodeError:
            return None
        signed, _, signature = raw.rpartition(b".")
        # compare_digest takes as long whatever the first wrong byte: no timing oracle.
        if not signed or not hmac.compare_digest(signature, self.signature(signed)):
            return None
        payload, _, timestamp = signed.partition(b".")
        if not (timestamp.isdigit() and payload):
            return None
        if self.max_age is not None and time() - int(timestamp) > self.max_age:
            return None
        try:
            session = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error):
            return None
        return session if isinstance(session, dict) else None

    def signature(self, signed: bytes) -> bytes:
        return _b64encode(hmac.new(self.signing_key, signed, hashlib.sha256).digest())


def _fits_cookie(value: str, forbidden: str = ";") -> bool:
    return value.isascii() and value.isprintable() and not any(c in value for c in forbidden)


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
