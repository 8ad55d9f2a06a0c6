"""Form bodies to `FormData`: `multipart/form-data` and `application/x-www-form-urlencoded`.

python-multipart's streaming parsers find the structure in the bytes; this module turns
their callbacks into text fields (`str`) and files (`UploadFile`), and enforces the limits
that keep one request from taking a worker's memory or time:

    max_fields      text fields: multipart parts without a filename, or urlencoded pairs
    max_files       file parts: multipart parts whose Content-Disposition has a filename
    max_part_size   bytes of one text field's value, of one part's header block, and of
                    one urlencoded name=value pair

Every limit and every malformed body raises `MultiPartException` the moment it is found, so
the rest of the body is never read into memory. File contents go to `spooled_file()`,
written with `await upload.write(...)` so that disk writes run in a worker thread; files
opened before an error are closed before the error leaves `parse_form`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote_to_bytes

import anyio
from python_multipart import MultipartParser, QuerystringParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ferry.asgi.datastructures import FormData, Headers, UploadFile, spooled_file
from ferry.asgi.exceptions import MultiPartException

# RFC 2046 §5.1.1 allows boundaries of up to 70 characters; python-multipart accepts up to
# 256 for clients that go over, and so do we. A longer one is refused before any parsing.
MAX_BOUNDARY_LENGTH = 256


async def parse_form(
    headers: Headers,
    stream: AsyncIterator[bytes],
    *,
    max_files: int,
    max_fields: int,
    max_part_size: int,
) -> FormData:
    """Parse a request body as a form, as its Content-Type says.

    `multipart/form-data` and `application/x-www-form-urlencoded` are parsed; any other
    content type gives an empty `FormData` and leaves `stream` unread.

    Raises:
        MultiPartException: the body is malformed (a missing or invalid boundary, a body
            cut off before its closing boundary, a part without a name) or goes over
            `max_files`, `max_fields` or `max_part_size`.
    """
    content_type, params = parse_options_header(headers.get("content-type", ""))
    if content_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if boundary is None:
            raise MultiPartException("Missing boundary in multipart/form-data content type.")
        multipart = _MultipartReader(
            boundary, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
        return await multipart.read(stream)
    if content_type == b"application/x-www-form-urlencoded":
        charset = _charset(params.get(b"charset"))
        urlencoded = _UrlencodedReader(charset, max_fields=max_fields, max_part_size=max_part_size)
        return await urlencoded.read(stream)
    return FormData()


class _MultipartReader:
    """One multipart body: the parser's callbacks build the form part by part (RFC 7578)."""

    def __init__(
        self, boundary: bytes, *, max_files: int, max_fields: int, max_part_size: int
    ) -> None:
        _check_boundary(boundary)
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[tuple[str, UploadFile | str]] = []
        self.uploads: list[UploadFile] = []  # every file opened, to close them on error
        self.file_count = 0
        self.field_count = 0
        self.ended = False  # the closing boundary was seen
        # The parser's callbacks are synchronous; file data waits here until the chunk
        # has been parsed and is then written with `await`. None marks a file's end.
        self.pending_writes: list[tuple[UploadFile, bytes | None]] = []
        # The part being parsed.
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.header_bytes = 0
        self.name = ""
        self.charset = "utf-8"
        self.upload: UploadFile | None = None
        self.data = bytearray()
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self.on_part_begin,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
                "on_end": self.on_end,
            },
        )

    async def read(self, stream: AsyncIterator[bytes]) -> FormData:
        received_bytes = False
        try:
            async for chunk in stream:
                if not chunk:
                    continue
                received_bytes = True
                try:
                    self.parser.write(chunk)
                except FormParserError as exc:
                    raise MultiPartException(f"Malformed multipart body: {exc}") from exc
                await self.write_pending()
            self.parser.finalize()
            # An empty body is taken as an empty form; anything else must reach the
            # closing boundary, or the last part may be silently cut short.
            if received_bytes and not self.ended:
                raise MultiPartException("The multipart body ended before its closing boundary.")
        except BaseException:
            # Shielded: a cancelled request must still remove its spooled files.
            with anyio.CancelScope(shield=True):
                for upload in self.uploads:
                    await upload.close()
            raise
        return FormData(self.items)

    async def write_pending(self) -> None:
        for upload, data in self.pending_writes:
            if data is None:
                await upload.seek(0)
            else:
                await upload.write(data)
        self.pending_writes.clear()

    # The parser's callbacks, in the order it calls them for each part.

    def on_part_begin(self) -> None:
        self.raw_headers = []
        self.header_field.clear()
        self.header_value.clear()
        self.header_bytes = 0
        self.upload = None
        self.data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.count_header_bytes(end - start)
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.count_header_bytes(end - start)
        self.header_value += data[start:end]

    def count_header_bytes(self, size: int) -> None:
        # python-multipart bounds each header line and the number of headers; this bounds
        # the block as a whole with the same limit as a field's value.
        self.header_bytes += size
        if self.header_bytes > self.max_part_size:
            raise MultiPartException(
                f"A part's headers exceeded the maximum size of {self.max_part_size} bytes."
            )

    def on_header_end(self) -> None:
        self.raw_headers.append((bytes(self.header_field).lower(), bytes(self.header_value)))
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        headers = Headers(raw=self.raw_headers)
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise MultiPartException("A multipart part has no Content-Disposition header.")
        # RFC 7578 §4.2: `name` is required. parse_options_header ignores the RFC 2231
        # `name*=` / `filename*=` forms, which §4.2 forbids, so they cannot override these.
        _, options = parse_options_header(disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise MultiPartException(
                'The Content-Disposition header field "name" must be provided.'
            )
        self.name = _decode(raw_name, "utf-8")
        _, type_options = parse_options_header(headers.get("content-type"))
        self.charset = _charset(type_options.get(b"charset"))
        raw_filename = options.get(b"filename")
        if raw_filename is None:
            self.field_count += 1
            if self.field_count > self.max_fields:
                raise MultiPartException(
                    f"Too many fields. Maximum number of fields is {self.max_fields}."
                )
            return
        self.file_count += 1
        if self.file_count > self.max_files:
            raise MultiPartException(
                f"Too many files. Maximum number of files is {self.max_files}."
            )
        upload = UploadFile(
            spooled_file(), size=0, filename=_decode(raw_filename, "utf-8"), headers=headers
        )
        self.uploads.append(upload)
        self.items.append((self.name, upload))
        self.upload = upload

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.upload is not None:
            self.pending_writes.append((self.upload, data[start:end]))
            return
        # A text field is kept in memory, so it is refused as soon as it is too big.
        if len(self.data) + (end - start) > self.max_part_size:
            raise MultiPartException(
                f"A form field exceeded the maximum size of {self.max_part_size} bytes."
            )
        self.data += data[start:end]

    def on_part_end(self) -> None:
        if self.upload is not None:
            self.pending_writes.append((self.upload, None))
        else:
            self.items.append((self.name, _decode(bytes(self.data), self.charset)))

    def on_end(self) -> None:
        self.ended = True


def _check_boundary(boundary: bytes) -> None:
    # RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace, all printable ASCII. A CR
    # or LF would let the boundary line itself be split; an empty one matches everywhere.
    if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MultiPartException(
            f"Invalid multipart boundary: it must be 1 to {MAX_BOUNDARY_LENGTH} characters long."
        )
    if any(byte < 0x20 or byte > 0x7E for byte in boundary) or boundary.endswith(b" "):
        raise MultiPartException("Invalid multipart boundary: it has characters not allowed.")


class _UrlencodedReader:
    """One `application/x-www-form-urlencoded` body: name=value pairs joined by "&"."""

    def __init__(self, charset: str, *, max_fields: int, max_part_size: int) -> None:
        self.charset = charset
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[tuple[str, UploadFile | str]] = []
        self.field_count = 0
        self.name = bytearray()
        self.value = bytearray()
        # Only "&" separates pairs: treating ";" as a separator too would let a body mean
        # different things to different parsers (python-multipart GHSA-6jv3-5f52-599m).
        self.parser = QuerystringParser(
            callbacks={
                "on_field_start": self.on_field_start,
                "on_field_name": self.on_field_name,
                "on_field_data": self.on_field_data,
                "on_field_end": self.on_field_end,
            }
        )

    async def read(self, stream: AsyncIterator[bytes]) -> FormData:
        async for chunk in stream:
            if chunk:
                try:
                    self.parser.write(chunk)
                except FormParserError as exc:  # pragma: no cover - only in strict mode
                    raise MultiPartException(f"Malformed form body: {exc}") from exc
        self.parser.finalize()
        return FormData(self.items)

    def on_field_start(self) -> None:
        self.field_count += 1
        if self.field_count > self.max_fields:
            raise MultiPartException(
                f"Too many fields. Maximum number of fields is {self.max_fields}."
            )
        self.name.clear()
        self.value.clear()

    def on_field_name(self, data: bytes, start: int, end: int) -> None:
        self.check_size(end - start)
        self.name += data[start:end]

    def on_field_data(self, data: bytes, start: int, end: int) -> None:
        self.check_size(end - start)
        self.value += data[start:end]

    def check_size(self, extra: int) -> None:
        if len(self.name) + len(self.value) + extra > self.max_part_size:
            raise MultiPartException(
                f"A form field exceeded the maximum size of {self.max_part_size} bytes."
            )

    def on_field_end(self) -> None:
        self.items.append((_unquote(self.name, self.charset), _unquote(self.value, self.charset)))


def _unquote(raw: bytearray, charset: str) -> str:
    # The WHATWG urlencoded parser: "+" is a space, then %XX escapes become bytes, and the
    # bytes are decoded once (so raw UTF-8 and escaped UTF-8 give the same text).
    return _decode(unquote_to_bytes(bytes(raw).replace(b"+", b" ")), charset)


def _charset(raw_charset: bytes | None) -> str:
    if not raw_charset:
        return "utf-8"
    return raw_charset.decode("latin-1")


def _decode(raw: bytes, charset: str) -> str:
    # The charset comes from the client: an unknown name, or a codec that is not a text
    # encoding ("base64", "zip"), falls back to UTF-8 rather than failing the request.
    try:
        return raw.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", errors="replace")
