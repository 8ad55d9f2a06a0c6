"""Response and its family: each one is an ASGI app that sends itself.

    Response              bytes or str content with a media type
    ├── PlainTextResponse, HTMLResponse
    ├── JSONResponse      content encoded as compact UTF-8 JSON
    ├── RedirectResponse  307 (by default) with a Location header
    └── StreamingResponse a sync or async iterator, sent piece by piece
FileResponse (files.py) sends a file with ETag, conditional requests and ranges.

`await response(scope, receive, send)` sends `http.response.start` and
`http.response.body`, then runs the response's background task.
"""

from __future__ import annotations

import functools
import http.cookies
import json
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import quote

import anyio

from ferry.asgi.background import BackgroundTask
from ferry.asgi.concurrency import iterate_in_threadpool
from ferry.asgi.datastructures import URL, MutableHeaders
from ferry.asgi.types import Message, Receive, Scope, Send

ContentStream = AsyncIterable[str | bytes | memoryview] | Iterable[str | bytes | memoryview]


@functools.lru_cache(maxsize=64)
def _content_type_header(media_type: str, charset: str) -> bytes:
    """The Content-Type value for a media type; text types name their charset."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=" + charset
    return media_type.encode("latin-1")


class Response:
    """A response with its whole body known up front.

    Raises:
        ValueError: a header value holds CR, LF or NUL (it could split the response).

    Example:
        >>> Response("hi", media_type="text/plain").body
        b'hi'
    """

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self.body = self.render(content)
        self.init_headers(headers)

    def render(self, content: Any) -> bytes:
        """The body bytes for `content` (str is encoded with the charset)."""
        if content is None:
            return b""
        if isinstance(content, (bytes, memoryview)):  # a tuple: no union built per call
            return bytes(content)
        return str(content).encode(self.charset)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Build `raw_headers`: the given ones plus Content-Length and Content-Type."""
        raw: list[tuple[bytes, bytes]] = []
        has_length = has_type = False
        if headers:
            checked = MutableHeaders()
            for key, value in headers.items():
                checked.append(key, value)
            raw = checked.raw
            names = {name for name, _ in raw}
            has_length = b"content-length" in names
            has_type = b"content-type" in names
        body = getattr(self, "body", None)
        if (
            body is not None
            and not has_length
            and not (self.status_code < 200 or self.status_code in (204, 304))
        ):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        if self.media_type is not None and not has_type:
            raw.append((b"content-type", _content_type_header(self.media_type, self.charset)))
        self.raw_headers = raw

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, changeable until the response is sent."""
        headers = self.__dict__.get("_headers")
        if headers is None:
            headers = self.__dict__["_headers"] = MutableHeaders(raw=self.raw_headers)
        return headers

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a `Set-Cookie` header with every attribute of RFC 6265 (and Partitioned).

        Raises:
            ValueError: `samesite` is not lax, strict or none.
        """
        cookie: http.cookies.BaseCookie[str] = http.cookies.SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime):
                morsel["expires"] = format_datetime(expires, usegmt=True)
            else:
                morsel["expires"] = expires
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite
        cookie_value = cookie.output(header="").strip()
        if partitioned:
            cookie_value += "; Partitioned"
        self.raw_headers.append((b"set-cookie", cookie_value.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire the cookie `key` in the browser."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = scope.get("ferry.trace")
        if trace is not None:
            trace.waypoint(
                "respond",
                response=type(self).__name__,
                status=self.status_code,
                body_bytes=len(self.body),
                headers=len(self.raw_headers),
            )
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})
        if self.background is not None:
            await self.background()


class HTMLResponse(Response):
    """A `text/html` response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A `text/plain` response."""

    media_type = "text/plain"


class JSONResponse(Response):
    """`content` as compact UTF-8 JSON (NaN and infinities are refused)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")


class RedirectResponse(Response):
    """A redirect (307 by default) to `url`; non-ASCII characters are percent-encoded."""

    def __init__(
        self,
        url: str | URL,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(
            content=b"", status_code=status_code, headers=headers, background=background
        )
        location = quote(str(url), safe=":/%#?=@[]!$&'()*+,;")
        self.headers["location"] = location


class _ClientGone(Exception):
    """send() failed because the client disconnected (raised and caught in this module)."""


class StreamingResponse(Response):
    """A body sent piece by piece from a sync or async iterator.

    Sync iterators are advanced in a worker thread. Streaming stops when the client
    disconnects.
    """

    body_iterator: AsyncIterable[str | bytes | memoryview]

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if isinstance(content, AsyncIterable):
            self.body_iterator = content
        else:
            self.body_iterator = iterate_in_threadpool(content)
        self.status_code = status_code
        self.media_type = self.media_type if media_type is None else media_type
        self.background = background
        self.init_headers(headers)

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self.body_iterator:
                if isinstance(chunk, str):
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
        finally:
            # A client that left stops the loop above between two pieces; closing the
            # generator now runs its cleanup (a cursor, a file) at once, not at collection.
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b""})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = scope.get("ferry.trace")
        if trace is not None:
            trace.waypoint(
                "respond", response=type(self).__name__, status=self.status_code, streaming=True
            )
        spec_version = tuple(map(int, scope.get("asgi", {}).get("spec_version", "2.0").split(".")))
        if spec_version >= (2, 4):
            # ASGI 2.4: send() raises OSError once the client is gone; that ends the stream.
            # Only send()'s OSError means that: one from the body iterator is the app's.
            async def send_or_stop(message: Message) -> None:
                try:
                    await send(message)
                except OSError as exc:
                    raise _ClientGone from exc

            try:
                await self._stream(send_or_stop)
            except _ClientGone:
                return
        else:
            # Older servers: watch for http.disconnect beside the stream.
            async with anyio.create_task_group() as task_group:

                async def stream_then_stop() -> None:
                    await self._stream(send)
                    task_group.cancel_scope.cancel()

                task_group.start_soon(stream_then_stop)
                while (await receive())["type"] != "http.disconnect":
                    pass
                task_group.cancel_scope.cancel()
        if self.background is not None:
            await self.background()
