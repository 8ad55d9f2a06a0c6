"""FileResponse: a file from disk, with validators, conditional requests and byte ranges.

    FileResponse(path)                       200, Content-Length, Last-Modified, ETag,
                                             Accept-Ranges: bytes
    If-None-Match / If-Modified-Since match  304 and no body          (RFC 9110 §13.1.2-3)
    Range: bytes=0-99                        206 with Content-Range   (RFC 9110 §14.2, §14.4)
    Range: bytes=0-9,50-59                   206 multipart/byteranges (RFC 9110 §14.6)
    Range no byte of the file satisfies      416, Content-Range: bytes */size
    Range malformed, or too many ranges      ignored: 200 with the whole file
    If-Range that no longer matches          the Range is ignored     (RFC 9110 §13.1.5)

A response is an ASGI app: each call reads the request's conditional and range headers from
the scope it is called with, so one FileResponse can answer many requests. The file is
stat'ed, opened and read (64 KiB at a time) in worker threads, never on the event loop.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
import stat
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

import anyio

from ferry.asgi.background import BackgroundTask
from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.datastructures import Headers, MutableHeaders
from ferry.asgi.responses import Response
from ferry.asgi.types import Message, Receive, Scope, Send

__all__ = ["MAX_RANGES", "FileResponse", "parse_range_header"]

PathLike = str | os.PathLike[str]

# More range-specs than this and the Range header is ignored (a 200 with the whole file).
# RFC 9110 §14.2 lets a server ignore a Range "that consists of more than two overlapping
# ranges, or a set of many small ranges": both are how a client asks for a response many
# times the file's size, or costs the server time per range (the Starlette Range DoS).
MAX_RANGES = 100

# RFC 9110 §15.4.5: a 304 carries the fields a 200 would have had among these, and
# (since it has an ETag) no other representation metadata.
_NOT_MODIFIED_RAW = frozenset(
    (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary")
)

# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes only DQUOTE
# (a comma may sit inside a tag, so a list of tags is found, not split on commas).
_ENTITY_TAG = re.compile(r'(?:W/)?"[^"]*"')

# RFC 9110 §14.1.2: int-range = first-pos "-" [ last-pos ]; suffix-range = "-" suffix-length;
# the positions are 1*DIGIT (ASCII digits only, hence [0-9] and not \d).
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")

# A position longer than this many digits is past the end of any file; treating it as
# "huge" avoids converting thousands of digits to an int.
_MAX_POSITION_DIGITS = 18
_HUGE: int = 10**_MAX_POSITION_DIGITS


class FileResponse(Response):
    """Send the file at `path`, answering conditional and range requests.

    The media type is guessed from `filename` (else `path`); text types get
    `; charset=utf-8`. `filename` adds a `Content-Disposition` of `content_disposition_type`
    (RFC 6266; `filename*=utf-8''...` when the name is not plain ASCII). `stat_result`,
    when given, sets Content-Length, Last-Modified and ETag at once; otherwise the file is
    stat'ed each time the response is sent. `method` is accepted for compatibility and not
    used: the request method comes from the scope.

    Raises (when sent):
        RuntimeError: the file does not exist, is not a regular file, or shrank while it
            was being sent.

    Example:
        >>> FileResponse("report.pdf", filename="report.pdf").headers["content-disposition"]
        'attachment; filename="report.pdf"'
    """

    chunk_size = 64 * 1024

    def __init__(
        self,
        path: PathLike,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        method: str | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = path
        self.status_code = status_code
        self.filename = filename
        self.method = method
        if media_type is None:
            media_type = mimetypes.guess_type(filename or path)[0] or "text/plain"
        self.media_type = media_type
        self.background = background
        self.init_headers(headers)
        self.headers.setdefault("accept-ranges", "bytes")
        if filename is not None:
            self.headers.setdefault(
                "content-disposition", _content_disposition(content_disposition_type, filename)
            )
        self.stat_result = stat_result
        if stat_result is not None:
            self.set_stat_headers(stat_result)

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        """Set Content-Length, Last-Modified and ETag from `stat_result` (unless set)."""
        for key, value in _stat_headers(stat_result).items():
            self.headers.setdefault(key, value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stat_result = self.stat_result
        if stat_result is None:
            stat_result = await self._stat()
        # Headers for this call only: the same response may answer another request later,
        # perhaps after the file has changed.
        headers = MutableHeaders(raw=list(self.raw_headers))
        if self.stat_result is None:
            for key, value in _stat_headers(stat_result).items():
                headers.setdefault(key, value)
        method = scope["method"].upper()
        status, pieces = self._plan(Headers(scope=scope), method, headers, stat_result.st_size)
        trace = scope.get("ferry.trace")
        if trace is not None:
            trace.waypoint(
                "respond", response=type(self).__name__, status=status, path=str(self.path)
            )

        if method == "HEAD" or not any(isinstance(piece, tuple) for piece in pieces):
            await self._send(send, status, headers, None, [])
        else:
            # Opened before http.response.start, so a missing file fails as a clean 500.
            try:
                file = await anyio.open_file(self.path, "rb")
            except FileNotFoundError:
                raise RuntimeError(f"File at path {self.path} does not exist.") from None
            async with file:
                await self._send(send, status, headers, file, pieces)
        # Runs even if the client left early: a file's background task is often the
        # clean-up of that very file.
        if self.background is not None:
            await self.background()

    async def _stat(self) -> os.stat_result:
        try:
            stat_result = await run_in_threadpool(os.stat, self.path)
        except FileNotFoundError:
            raise RuntimeError(f"File at path {self.path} does not exist.") from None
        if not stat.S_ISREG(stat_result.st_mode):
            raise RuntimeError(f"File at path {self.path} is not a file.")
        return stat_result

    def _plan(
        self, request_headers: Headers, method: str, headers: MutableHeaders, size: int
    ) -> tuple[int, list[bytes | tuple[int, int]]]:
        """Decide the status and the body: pieces of literal bytes and (start, stop) spans
        of the file. `headers` is changed to match."""
        whole_file: list[bytes | tuple[int, int]] = [(0, size)]
        # Preconditions and ranges only refine a 200 (RFC 9110 §13.2.1, §14.2): a 404 page
        # or another status is sent as it is. Only GET and HEAD answer a match with 304
        # and take ranges; other methods get the file as it is (a match there would call
        # for a 412, which a file download never needs).
        if self.status_code != 200 or method not in ("GET", "HEAD"):
            return self.status_code, whole_file

        # RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
        if_none_match = request_headers.getlist("if-none-match")
        if_modified_since = request_headers.get("if-modified-since")
        if if_none_match:
            not_modified = _etag_matches_any(", ".join(if_none_match), headers.get("etag"))
        elif if_modified_since is not None:
            not_modified = _not_modified_since(if_modified_since, headers.get("last-modified"))
        else:
            not_modified = False
        if not_modified:
            headers.raw[:] = [item for item in headers.raw if item[0] in _NOT_MODIFIED_RAW]
            return 304, []

        range_header = request_headers.get("range")
        if range_header is None or size == 0:
            # An empty file has no byte range to name in a Content-Range; the whole
            # (empty) file is always a correct answer to a range request.
            return 200, whole_file
        if_range = request_headers.get("if-range")
        if if_range is not None and not _if_range_matches(
            if_range, headers.get("etag"), headers.get("last-modified")
        ):
            return 200, whole_file
        ranges = parse_range_header(range_header, size)
        if ranges is None:
            return 200, whole_file
        if not ranges:
            del headers["content-type"]
            headers["content-range"] = f"bytes */{size}"
            headers["content-length"] = "0"
            return 416, []
        if len(ranges) == 1:
            start, stop = ranges[0]
            headers["content-range"] = f"bytes {start}-{stop - 1}/{size}"
            headers["content-length"] = str(stop - start)
            return 206, [(start, stop)]
        return 206, _multipart(ranges, size, headers)

    async def _send(
        self,
        send: Send,
        status: int,
        headers: MutableHeaders,
        file: anyio.AsyncFile[bytes] | None,
        pieces: list[bytes | tuple[int, int]],
    ) -> None:
        async with aclosing(self._messages(status, headers, file, pieces)) as messages:
            async for message in messages:
                try:
                    await send(message)
                except OSError:
                    # ASGI 2.4: send() raises OSError once the client has gone; the rest
                    # of the file is not wanted.
                    return

    async def _messages(
        self,
        status: int,
        headers: MutableHeaders,
        file: anyio.AsyncFile[bytes] | None,
        pieces: list[bytes | tuple[int, int]],
    ) -> AsyncGenerator[Message, None]:
        yield {"type": "http.response.start", "status": status, "headers": headers.raw}
        for piece in pieces:
            if isinstance(piece, bytes):
                yield {"type": "http.response.body", "body": piece, "more_body": True}
                continue
            assert file is not None
            start, stop = piece
            await file.seek(start)
            while start < stop:
                chunk = await file.read(min(self.chunk_size, stop - start))
                if not chunk:
                    raise RuntimeError(f"File at path {self.path} shrank while it was sent.")
                start += len(chunk)
                yield {"type": "http.response.body", "body": chunk, "more_body": True}
        yield {"type": "http.response.body", "body": b"", "more_body": False}


def parse_range_header(value: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges a Range header asks of a `size`-byte file, as sorted, disjoint
    (start, stop) spans; `[]` when none is satisfiable (a 416); None when the header is to
    be ignored: malformed, another unit, or more than MAX_RANGES ranges.

    Linear in the header's length: one split, one match per range-spec, then a sort of at
    most MAX_RANGES spans.

    Example:
        >>> parse_range_header("bytes=0-9, 5-19, -5", 100)
        [(0, 20), (95, 100)]
    """
    # RFC 9110 §14.1.2: ranges-specifier = range-unit "=" range-set; units are
    # case-insensitive. range-set = 1#range-spec, and a list may hold empty elements
    # (§5.6.1.2), which are skipped.
    unit, equals, range_set = value.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes":
        return None
    if range_set.count(",") > 2 * MAX_RANGES:
        return None  # give up before looking at each of many elements
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]
    if not specs or len(specs) > MAX_RANGES:
        return None
    spans: list[tuple[int, int]] = []
    for spec in specs:
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        if not first:
            # suffix-range: the last N bytes; the whole file when N exceeds it (§14.1.3).
            suffix_length = _position(last)
            if suffix_length > 0:
                spans.append((max(size - suffix_length, 0), size))
            continue
        start = _position(first)
        if last:
            end = _position(last)
            if end < start:
                return None  # §14.1.1: an int-range whose last-pos < first-pos is invalid
            stop = min(end + 1, size)
        else:
            stop = size
        # §14.1.1: a range starting at or past the end is unsatisfiable; it is dropped,
        # and the request is a 416 only when no range is left.
        if start < size:
            spans.append((start, stop))
    return _coalesce(spans)


def _position(digits: str) -> int:
    digits = digits.lstrip("0")
    if len(digits) > _MAX_POSITION_DIGITS:
        return _HUGE
    return int(digits or "0")


def _coalesce(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # RFC 9110 §14.6: a server MAY coalesce ranges that overlap or touch, whatever their
    # order in the request; sorting first makes this one pass (never a scan per range).
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _multipart(
    ranges: list[tuple[int, int]], size: int, headers: MutableHeaders
) -> list[bytes | tuple[int, int]]:
    # RFC 9110 §14.6 and RFC 2046 §5.1.1: each part is a delimiter line, its own
    # Content-Type and Content-Range, a blank line and the bytes; the CRLF before each
    # delimiter belongs to the delimiter. A random boundary cannot be forced into the file.
    boundary = secrets.token_hex(13)
    content_type = headers.get("content-type")
    part_type = f"Content-Type: {content_type}\r\n" if content_type else ""
    pieces: list[bytes | tuple[int, int]] = []
    for index, (start, stop) in enumerate(ranges):
        head = (
            ("\r\n" if index else "")
            + f"--{boundary}\r\n{part_type}"
            + f"Content-Range: bytes {start}-{stop - 1}/{size}\r\n\r\n"
        )
        pieces += [head.encode("latin-1"), (start, stop)]
    pieces.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    length = sum(len(p) if isinstance(p, bytes) else p[1] - p[0] for p in pieces)
    headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
    headers["content-length"] = str(length)
    return pieces


def _stat_headers(stat_result: os.stat_result) -> dict[str, str]:
    # The ETag is strong: the modification time to the nanosecond plus the size changes
    # whenever the bytes do, in practice, and If-Range needs a strong validator (§13.1.5).
    etag = f'"{stat_result.st_mtime_ns:x}-{stat_result.st_size:x}"'
    return {
        "content-length": str(stat_result.st_size),
        "last-modified": formatdate(stat_result.st_mtime, usegmt=True),
        "etag": etag,
    }


def _content_disposition(disposition_type: str, filename: str) -> str:
    # RFC 6266 §4.3: a name that is not plain, quotable ASCII goes in the RFC 8187 form.
    quoted = quote(filename)
    if quoted != filename:
        return f"{disposition_type}; filename*=utf-8''{quoted}"
    return f'{disposition_type}; filename="{filename}"'


def _opaque_tag(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _etag_matches_any(field_value: str, etag: str | None) -> bool:
    # RFC 9110 §13.1.2: "*" matches any current representation; otherwise the weak
    # comparison (§8.8.3.2): the opaque tags are equal, W/ or not.
    if field_value.strip(" \t") == "*":
        return True
    if etag is None:
        return False
    wanted = _opaque_tag(etag.strip())
    return any(_opaque_tag(tag) == wanted for tag in _ENTITY_TAG.findall(field_value))


def _parse_http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _not_modified_since(field_value: str, last_modified: str | None) -> bool:
    # RFC 9110 §13.1.3: not modified when the last modification is at or before the date;
    # a value that is not an HTTP-date is ignored.
    since = _parse_http_date(field_value)
    modified = _parse_http_date(last_modified) if last_modified else None
    return since is not None and modified is not None and modified <= since


def _if_range_matches(field_value: str, etag: str | None, last_modified: str | None) -> bool:
    # RFC 9110 §13.1.5: an entity-tag matches by the strong comparison only (a weak tag
    # never does); a date matches only when it equals the Last-Modified date exactly.
    field_value = field_value.strip(" \t")
    if field_value.startswith(('"', "W/")):
        return (
            etag is not None
            and not field_value.startswith("W/")
            and not etag.startswith("W/")
            and field_value == etag.strip()
        )
    since = _parse_http_date(field_value)
    modified = _parse_http_date(last_modified) if last_modified else None
    return since is not None and since == modified
