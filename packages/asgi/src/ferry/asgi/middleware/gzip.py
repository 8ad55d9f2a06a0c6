"""GZipMiddleware: compresses response bodies for clients that accept gzip.

The first body message decides, since only then is the size known:

    one message, under minimum_size     sent unchanged
    one message, at least minimum_size  compressed; Content-Length is the compressed size
    more_body=True                      streamed: each message is compressed and flushed as
                                        it comes, so the client gets every piece at once;
                                        Content-Length is dropped (the server chunks)

Left alone: responses that already have a Content-Encoding, `text/event-stream` (each event
must reach the client as soon as it is sent), and partial content (its Content-Range counts
bytes of the uncompressed body).
"""

from __future__ import annotations

import zlib

from ferry.asgi.datastructures import Headers, MutableHeaders
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

EXCLUDED_CONTENT_TYPES = ("text/event-stream",)


class GZipMiddleware:
    """Gzip response bodies when the request's Accept-Encoding allows it.

    Args:
        app: the ASGI app.
        minimum_size: bodies sent in one message below this many bytes are not compressed.
        compresslevel: 1 (fastest) to 9 (smallest).

    Example:
        >>> app = GZipMiddleware(app, minimum_size=1000)  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 500, compresslevel: int = 9) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not accepts_gzip(Headers(scope=scope).get("accept-encoding", "")):
            await self.app(scope, receive, send)
            return
        responder = _GZipResponder(send, self.minimum_size, self.compresslevel)
        await self.app(scope, receive, responder.send)


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an Accept-Encoding value allows gzip (RFC 9110 §12.5.3).

    `gzip;q=0` refuses it; `*` stands for every coding not named.
    """
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, parameters = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding] = quality
    if "gzip" in qualities:
        return qualities["gzip"] > 0
    return qualities.get("*", 0.0) > 0


class _GZipResponder:
    """The `send` of one response: holds back `http.response.start` until the first body
    message says whether to compress."""

    def __init__(self, send: Send, minimum_size: int, compresslevel: int) -> None:
        self.downstream_send = send
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.pending_start: Message | None = None
        self.compressor: zlib._Compress | None = None
        self.passthrough = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = Headers(raw=list(message.get("headers", [])))
            content_type = headers.get("content-type", "")
            self.passthrough = (
                "content-encoding" in headers
                or "content-range" in headers
                or content_type.lower().startswith(EXCLUDED_CONTENT_TYPES)
            )
            if self.passthrough:
                await self.downstream_send(message)
            else:
                self.pending_start = message
            return
        if self.passthrough:
            await self.downstream_send(message)
        elif message["type"] != "http.response.body":
            # Anything else (trailers, an extension's message) carries no body to compress;
            # before the first body it means there will be none to compress at all.
            if self.pending_start is not None:
                await self.send_pending_start()
                self.passthrough = True
            await self.downstream_send(message)
        elif self.pending_start is not None:
            await self.send_first_body(message)
        else:
            await self.send_next_body(message)

    async def send_pending_start(self) -> None:
        assert self.pending_start is not None
        start, self.pending_start = self.pending_start, None
        await self.downstream_send(start)

    async def send_first_body(self, message: Message) -> None:
        assert self.pending_start is not None
        body = bytes(message.get("body", b""))
        more_body = bool(message.get("more_body", False))
        if not more_body and (not body or len(body) < self.minimum_size):
            await self.send_pending_start()
            self.passthrough = True
            await self.downstream_send(message)
            return
        # 16 + MAX_WBITS: a gzip header and trailer around the deflate stream (zlib docs).
        self.compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        compressed = self.compress(body, more_body)
        # A new header list: the app's (a reused Response's raw_headers) stays unchanged.
        start = {**self.pending_start, "headers": list(self.pending_start.get("headers", []))}
        self.pending_start = None
        headers = MutableHeaders(scope=start)
        headers["content-encoding"] = "gzip"
        headers.add_vary_header("Accept-Encoding")
        if more_body:
            del headers["content-length"]
        else:
            headers["content-length"] = str(len(compressed))
        await self.downstream_send(start)
        await self.downstream_send({**message, "body": compressed})

    async def send_next_body(self, message: Message) -> None:
        if self.compressor is None:
            # A body before http.response.start: let the server report the misuse.
            await self.downstream_send(message)
            return
        body = bytes(message.get("body", b""))
        more_body = bool(message.get("more_body", False))
        await self.downstream_send({**message, "body": self.compress(body, more_body)})

    def compress(self, body: bytes, more_body: bool) -> bytes:
        assert self.compressor is not None
        if not more_body:
            return self.compressor.compress(body) + self.compressor.flush(zlib.Z_FINISH)
        if not body:
            return b""
        # Z_SYNC_FLUSH ends the piece on a byte boundary so the client can decompress
        # everything sent so far, without waiting for the rest of the stream.
        return self.compressor.compress(body) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
