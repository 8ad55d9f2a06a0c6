"""parse_form(): multipart and urlencoded bodies, their limits, and the advisories they answer.

Most tests call `parse_form` directly with a body cut into chunks; the end-to-end ones send
real httpx-encoded forms through the TestClient to an app that answers with the form as JSON.
Every parse runs under a time limit, and the flood tests count how much of the body was read,
so a hang or unbounded buffering fails the test instead of stalling it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry.asgi import forms
from ferry.asgi.datastructures import FormData, Headers, UploadFile, spooled_file
from ferry.asgi.exceptions import ClientDisconnect, MultiPartException
from ferry.asgi.forms import parse_form
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse
from ferry.asgi.testing import TestClient
from ferry.asgi.types import Receive, Scope, Send

BOUNDARY = b"ferry-boundary-1234"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY.decode()}"
URLENCODED = "application/x-www-form-urlencoded"
CLOSE = b"--" + BOUNDARY + b"--\r\n"
MiB = 1024 * 1024
TIME_LIMIT_SECONDS = 5

# What a parsed form becomes in these tests: text as str, a file as (filename, content).
Item = str | tuple[str | None, bytes]


def field(name: str, value: bytes, headers: bytes = b"", *, filename: str | None = None) -> bytes:
    """One multipart part, with its opening delimiter."""
    disposition = f'Content-Disposition: form-data; name="{name}"'.encode()
    if filename is not None:
        disposition += f'; filename="{filename}"'.encode()
    return b"--" + BOUNDARY + b"\r\n" + disposition + b"\r\n" + headers + b"\r\n" + value + b"\r\n"


class Body:
    """A request body handed over in chunks, counting the bytes the parser has taken."""

    def __init__(self, data: bytes | list[bytes], chunk_size: int = 64 * 1024) -> None:
        self.data = data
        self.chunk_size = chunk_size
        self.consumed = 0

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self.data, list):
            yield from self.data
            return
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            # A checkpoint per chunk, as a real receive() has: the time limit can fire.
            await anyio.lowlevel.checkpoint()
            self.consumed += len(chunk)
            yield chunk
        yield b""


async def materialize(form: FormData) -> list[tuple[str, Item]]:
    items: list[tuple[str, Item]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            items.append((name, (value.filename, await value.read())))
        else:
            items.append((name, value))
    await form.close()
    return items


def parse(
    body: bytes | Body,
    content_type: str | None = MULTIPART,
    *,
    max_files: int = 1000,
    max_fields: int = 1000,
    max_part_size: int = MiB,
) -> list[tuple[str, Item]]:
    """Parse `body` with parse_form and return its items; files are read and closed."""
    stream = body if isinstance(body, Body) else Body(body)
    headers = Headers({"content-type": content_type} if content_type is not None else {})

    async def main() -> list[tuple[str, Item]]:
        with anyio.fail_after(TIME_LIMIT_SECONDS):
            form = await parse_form(
                headers,
                stream.stream(),
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
            )
            return await materialize(form)

    return anyio.run(main)


def encode(data: dict[str, list[str]], files: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    """A form as httpx encodes it: (content type, body)."""
    request = httpx.Request("POST", "http://testserver/", data=data, files=files or None)
    return request.headers["content-type"], request.read()


# --- urlencoded ------------------------------------------------------------------------------


def test_urlencoded_fields_keep_their_order_and_repeats() -> None:
    assert parse(b"a=1&b=2&a=3", URLENCODED) == [("a", "1"), ("b", "2"), ("a", "3")]


def test_urlencoded_plus_and_escapes_decode_as_utf8() -> None:
    body = "n+1=a+b%20c%C3%A9&raw=é%2B".encode()
    assert parse(body, URLENCODED) == [("n 1", "a b cé"), ("raw", "é+")]


def test_urlencoded_uses_the_charset_parameter() -> None:
    assert parse(b"x=%E9", URLENCODED + "; charset=latin-1") == [("x", "é")]


def test_urlencoded_bad_escapes_and_bytes_are_kept_or_replaced() -> None:
    assert parse(b"x=%zz%&y=%FF", URLENCODED) == [("x", "%zz%"), ("y", "\ufffd")]


def test_urlencoded_blank_values_and_names_without_equals() -> None:
    assert parse(b"a&b=&=c&&", URLENCODED) == [("a", ""), ("b", ""), ("", "c")]


def test_urlencoded_semicolon_is_not_a_separator() -> None:
    # python-multipart GHSA-6jv3-5f52-599m: ";" as a separator lets parsers disagree.
    assert parse(b"a=1;b=2", URLENCODED) == [("a", "1;b=2")]


def test_urlencoded_empty_body_is_an_empty_form() -> None:
    assert parse(b"", URLENCODED) == []


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "multipart/x"])
def test_other_content_types_give_an_empty_form_without_reading(content_type: str | None) -> None:
    body = Body(b'{"a": 1}')
    assert parse(body, content_type) == []
    assert body.consumed == 0


def test_urlencoded_over_max_fields_is_refused() -> None:
    assert len(parse(b"a=1&" * 3, URLENCODED, max_fields=3)) == 3
    with pytest.raises(
        MultiPartException, match=r"Too many fields\. Maximum number of fields is 3\."
    ):
        parse(b"a=1&" * 4, URLENCODED, max_fields=3)


@pytest.mark.parametrize("body", [b"a=123456", b"abcd=567", b"abcdefg", b"x=1&abcdefg"])
def test_urlencoded_field_over_max_part_size_is_refused(body: bytes) -> None:
    assert parse(body[:-1], URLENCODED, max_part_size=6)
    with pytest.raises(MultiPartException, match="maximum size of 6 bytes"):
        parse(body, URLENCODED, max_part_size=6)


# --- multipart: what it parses to ----------------------------------------------------------


def test_multipart_text_fields_and_files_in_order() -> None:
    body = (
        field("a", b"1")
        + field("upload", b"file\r\ncontent", b"Content-Type: text/plain\r\n", filename="f.txt")
        + field("a", "é".encode())
        + CLOSE
    )
    assert parse(body) == [("a", "1"), ("upload", ("f.txt", b"file\r\ncontent")), ("a", "é")]


def test_multipart_upload_file_has_its_headers_size_and_is_rewound() -> None:
    body = field("f", b"hello", b"Content-Type: image/png\r\nX-Extra: 1\r\n", filename="a.png")

    async def main() -> None:
        form = await parse_form(
            Headers({"content-type": MULTIPART}),
            Body(body + CLOSE).stream(),
            max_files=1,
            max_fields=0,
            max_part_size=MiB,
        )
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert upload.filename == "a.png"
        assert upload.content_type == "image/png"
        assert upload.headers["x-extra"] == "1"
        assert upload.size == 5
        assert await upload.read() == b"hello"
        await form.close()
        assert upload.file.closed

    anyio.run(main)


def test_multipart_empty_filename_is_still_a_file() -> None:
    # A browser's empty <input type=file> sends filename="" and no content.
    assert parse(field("f", b"", filename="") + CLOSE) == [("f", ("", b""))]


def test_multipart_windows_path_filename_keeps_only_the_name() -> None:
    assert parse(field("f", b"x", filename="C:\\\\dir\\\\a.txt") + CLOSE) == [
        ("f", ("a.txt", b"x"))
    ]


def test_multipart_value_uses_the_part_charset() -> None:
    body = field("t", "é".encode("latin-1"), b"Content-Type: text/plain; charset=latin-1\r\n")
    assert parse(body + CLOSE) == [("t", "é")]


@pytest.mark.parametrize("charset", ["no-such-charset", "base64", "undefined", "a\\x00b"])
def test_multipart_unusable_charsets_fall_back_to_utf8(charset: str) -> None:
    headers = f"Content-Type: text/plain; charset={charset}\r\n".encode()
    assert parse(field("t", "é".encode(), headers) + CLOSE) == [("t", "é")]


def test_multipart_invalid_utf8_is_replaced() -> None:
    assert parse(field("t", b"a\xffb") + CLOSE) == [("t", "a\ufffdb")]


def test_multipart_names_are_utf8() -> None:
    assert parse(field("ünï", b"1") + CLOSE) == [("ünï", "1")]


def test_multipart_content_type_and_quoted_boundary() -> None:
    content_type = f'Multipart/Form-Data; charset=utf-8; boundary="{BOUNDARY.decode()}"'
    assert parse(field("a", b"1") + CLOSE, content_type) == [("a", "1")]


def test_multipart_boundary_with_spaces_and_punctuation() -> None:
    boundary = "a b'()+_,-./:=?c"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--{boundary}--'
    content_type = f'multipart/form-data; boundary="{boundary}"'
    assert parse(body.encode(), content_type) == [("a", "1")]


def test_multipart_empty_body_is_an_empty_form() -> None:
    assert parse(b"") == []


def test_multipart_with_no_parts_is_an_empty_form() -> None:
    assert parse(CLOSE) == []


def test_multipart_rfc2231_parameters_cannot_override_name_or_filename() -> None:
    # RFC 7578 §4.2 forbids `name*=`; honouring it would let a part smuggle another name.
    headers = b"Content-Disposition: form-data; name=\"a\"; name*=UTF-8''b\r\n"
    body = b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n1\r\n" + CLOSE
    assert parse(body) == [("a", "1")]


def test_multipart_crlf_preamble_and_epilogue_are_ignored() -> None:
    body = b"\r\n\r\n" + field("a", b"1") + CLOSE + b"epilogue\r\n--" + BOUNDARY + b"\r\n"
    assert parse(body) == [("a", "1")]


def test_multipart_content_transfer_encoding_is_ignored() -> None:
    # RFC 7578 §4.7: senders must not use it; the bytes are kept as sent.
    body = field("a", b"aGk=", b"Content-Transfer-Encoding: base64\r\n") + CLOSE
    assert parse(body) == [("a", "aGk=")]


def test_multipart_file_over_the_memory_limit_rolls_over_to_disk() -> None:
    content = bytes(range(256)) * (6 * 1024)  # 1.5 MiB: over spooled_file's 1 MiB
    body = field("f", content, filename="big.bin") + CLOSE

    async def main() -> None:
        form = await parse_form(
            Headers({"content-type": MULTIPART}),
            Body(body, chunk_size=50_000).stream(),
            max_files=1,
            max_fields=0,
            max_part_size=1024,  # files are not bound by max_part_size
        )
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert getattr(upload.file, "_rolled", False)
        assert upload.size == len(content)
        assert await upload.read() == content
        await form.close()

    anyio.run(main)


def test_multipart_exact_limits_are_allowed() -> None:
    body = field("a", b"x" * 100) + field("b", b"") + field("f", b"yy", filename="f") + CLOSE
    items = parse(body, max_fields=2, max_files=1, max_part_size=100)
    assert items == [("a", "x" * 100), ("b", ""), ("f", ("f", b"yy"))]


# --- multipart: limits and malformed bodies ------------------------------------------------


def test_missing_boundary_is_refused() -> None:
    with pytest.raises(MultiPartException, match="Missing boundary"):
        parse(field("a", b"1") + CLOSE, "multipart/form-data")


@pytest.mark.parametrize(
    "boundary",
    ['""', '"ab "', "a\x01b", "é", "x" * 257],
    ids=["empty", "trailing-space", "control", "non-ascii", "too-long"],
)
def test_invalid_boundaries_are_refused(boundary: str) -> None:
    with pytest.raises(MultiPartException, match="Invalid multipart boundary"):
        parse(b"", f"multipart/form-data; boundary={boundary}")


def test_too_many_fields_is_refused() -> None:
    body = field("a", b"1") * 3 + CLOSE
    with pytest.raises(
        MultiPartException, match=r"Too many fields\. Maximum number of fields is 2\."
    ):
        parse(body, max_fields=2)


def test_too_many_files_is_refused() -> None:
    body = field("f", b"1", filename="a") * 3 + CLOSE
    with pytest.raises(
        MultiPartException, match=r"Too many files\. Maximum number of files is 2\."
    ):
        parse(body, max_files=2)


def test_fields_and_files_are_counted_apart() -> None:
    body = field("a", b"1") * 2 + field("f", b"1", filename="a") * 2 + CLOSE
    assert len(parse(body, max_fields=2, max_files=2)) == 4


def test_text_field_over_max_part_size_is_refused() -> None:
    with pytest.raises(MultiPartException, match="A form field exceeded the maximum size of 100"):
        parse(field("a", b"x" * 101) + CLOSE, max_part_size=100)


def test_header_block_over_max_part_size_is_refused() -> None:
    headers = b"X-Pad: " + b"p" * 100 + b"\r\n"
    with pytest.raises(MultiPartException, match="A part's headers exceeded the maximum size"):
        parse(field("a", b"1", headers) + CLOSE, max_part_size=100)


def test_part_without_content_disposition_is_refused() -> None:
    body = b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n" + CLOSE
    with pytest.raises(MultiPartException, match="no Content-Disposition"):
        parse(body)


def test_part_without_a_name_is_refused() -> None:
    body = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n'
    with pytest.raises(MultiPartException, match='"name" must be provided'):
        parse(body + CLOSE)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage before the boundary\r\n" + field("a", b"1") + CLOSE,
        b"--wrong-boundary\r\n",
        field("a", b"1").replace(b"\r\n", b"\n") + CLOSE,
        field("a", b"1", b"No colon here\r\n") + CLOSE,
        field("a", b"1", b"Bad Name: x\r\n") + CLOSE,
        field("a", b"1", b": empty name\r\n") + CLOSE,
        b"--" + BOUNDARY + b"\r\n\r\r" + CLOSE,
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=a\r\r\n\r\nx" + CLOSE,
    ],
    ids=["preamble", "boundary", "lf-only", "no-colon", "space-in-name", "empty-name", "cr", "cr2"],
)
def test_malformed_multipart_is_refused(body: bytes) -> None:
    with pytest.raises(MultiPartException):
        parse(body)


@pytest.mark.parametrize("cut", [1, 10, 30, 60, 75, -10, -4, -1])
def test_body_cut_off_before_the_closing_boundary_is_refused(cut: int) -> None:
    body = field("a", b"1") + field("f", b"content", filename="f.txt") + CLOSE.rstrip()
    with pytest.raises(
        MultiPartException, match=r"^(Malformed multipart body|The multipart body ended before)"
    ):
        parse(body[:cut])


@pytest.fixture
def opened_files(monkeypatch: pytest.MonkeyPatch) -> list[BinaryIO]:
    """Every file the parser spools, recorded to check that each one gets closed."""
    opened: list[BinaryIO] = []

    def recording_spooled_file(max_memory_bytes: int = MiB) -> BinaryIO:
        file = spooled_file(max_memory_bytes)
        opened.append(file)
        return file

    monkeypatch.setattr(forms, "spooled_file", recording_spooled_file)
    return opened


@pytest.mark.parametrize(
    "tail",
    [b"", field("a", b"x" * 200) + CLOSE, field("f", b"1", filename="3") + CLOSE, b"--junk\r\n"],
    ids=["truncated", "field-too-big", "too-many-files", "malformed"],
)
def test_files_opened_before_an_error_are_closed(opened_files: list[BinaryIO], tail: bytes) -> None:
    body = field("f", b"1" * 2 * MiB, filename="1") + field("f", b"2", filename="2") + tail
    with pytest.raises(MultiPartException):
        parse(body, max_files=2, max_part_size=100)
    assert len(opened_files) == 2
    assert all(file.closed for file in opened_files)


def test_files_are_closed_when_the_client_disconnects(opened_files: list[BinaryIO]) -> None:
    async def disconnecting_stream() -> AsyncIterator[bytes]:
        yield field("f", b"data", filename="f")
        raise ClientDisconnect()

    async def main() -> None:
        await parse_form(
            Headers({"content-type": MULTIPART}),
            disconnecting_stream(),
            max_files=1,
            max_fields=1,
            max_part_size=MiB,
        )

    with pytest.raises(ClientDisconnect):
        anyio.run(main)
    assert len(opened_files) == 1
    assert opened_files[0].closed


# --- advisories: floods and oversized pieces must end quickly, reading little ---------------
# Each parse runs under anyio.fail_after(TIME_LIMIT_SECONDS); `consumed` shows it stopped early.


def test_flood_of_tiny_fields_stops_at_max_fields() -> None:
    # Starlette CVE-2023-30798: unlimited parts exhausted CPU and memory.
    body = Body(field("a", b"") * 100_000 + CLOSE)
    with pytest.raises(MultiPartException, match="Too many fields"):
        parse(body, max_fields=1000)
    assert body.consumed < 200 * 1024


def test_flood_of_empty_files_stops_at_max_files() -> None:
    body = Body(field("f", b"", filename="f") * 100_000 + CLOSE)
    with pytest.raises(MultiPartException, match="Too many files"):
        parse(body, max_files=1000)
    assert body.consumed < 200 * 1024


def test_flood_of_nameless_tiny_parts_is_refused_at_the_first() -> None:
    body = Body((b"--" + BOUNDARY + b"\r\n\r\n\r\n") * 200_000 + CLOSE)
    with pytest.raises(MultiPartException, match="no Content-Disposition"):
        parse(body)
    assert body.consumed <= 64 * 1024


def test_flood_of_urlencoded_fields_stops_at_max_fields() -> None:
    # Starlette CVE-2026-54283: the urlencoded path ignored max_fields.
    body = Body(b"f=v&" * 1_000_000)
    with pytest.raises(MultiPartException, match="Too many fields"):
        parse(body, URLENCODED, max_fields=1000)
    assert body.consumed <= 64 * 1024


def test_huge_text_field_stops_reading_past_max_part_size() -> None:
    # Starlette GHSA-f96h-pmfr-66vw: a part without a filename was buffered whole.
    body = Body(field("a", b"x" * 50 * MiB) + CLOSE)
    with pytest.raises(MultiPartException, match="maximum size"):
        parse(body, max_part_size=MiB)
    assert body.consumed <= MiB + 2 * 64 * 1024


def test_huge_urlencoded_value_stops_reading_past_max_part_size() -> None:
    body = Body(b"a=" + b"x" * 50 * MiB)
    with pytest.raises(MultiPartException, match="maximum size"):
        parse(body, URLENCODED, max_part_size=MiB)
    assert body.consumed <= MiB + 2 * 64 * 1024


def test_huge_urlencoded_name_stops_reading_past_max_part_size() -> None:
    body = Body(b"x" * 50 * MiB)
    with pytest.raises(MultiPartException, match="maximum size"):
        parse(body, URLENCODED, max_part_size=MiB)
    assert body.consumed <= MiB + 2 * 64 * 1024


def test_flood_of_part_headers_is_refused() -> None:
    # python-multipart GHSA-pp6c-gr5w-3c5g: unbounded header count and size per part.
    headers = b"X-A: b\r\n" * 500_000
    body = Body(field("a", b"1", headers) + CLOSE)
    with pytest.raises(MultiPartException):
        parse(body)
    assert body.consumed <= 64 * 1024


def test_huge_part_header_value_is_refused() -> None:
    body = Body(field("a", b"1", b"X-A: " + b"v" * 20 * MiB + b"\r\n") + CLOSE)
    with pytest.raises(MultiPartException):
        parse(body)
    assert body.consumed <= 64 * 1024


def test_crlf_preamble_flood_is_skipped_quickly() -> None:
    # python-multipart GHSA-59g5-xgcq-4qw3 and GHSA-mj87-hwqh-73pj: CR/LF before the first
    # boundary was handled one byte (and one log line) at a time.
    body = b"\r\n" * 10 * MiB + field("a", b"1") + CLOSE
    assert parse(body) == [("a", "1")]


def test_cr_only_preamble_flood_is_skipped_quickly() -> None:
    assert parse(b"\r" * 20 * MiB + field("a", b"1") + CLOSE) == [("a", "1")]


def test_epilogue_flood_is_discarded_quickly() -> None:
    body = field("a", b"1") + CLOSE + (b"\r\n" + b"x" * 100) * 200_000 + b"\r" * 5 * MiB
    assert parse(body) == [("a", "1")]


def test_boundary_of_extreme_length_is_refused_before_reading() -> None:
    boundary = "b" * MiB
    body = Body(b"--" + boundary.encode() + b"\r\n")
    with pytest.raises(MultiPartException, match="Invalid multipart boundary"):
        parse(body, f"multipart/form-data; boundary={boundary}")
    assert body.consumed == 0


def test_longest_allowed_boundary_still_parses() -> None:
    boundary = "b" * forms.MAX_BOUNDARY_LENGTH
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--{boundary}--'
    assert parse(part.encode(), f"multipart/form-data; boundary={boundary}") == [("a", "1")]


def test_content_type_with_pathological_parameters_parses_quickly() -> None:
    # python-multipart CVE-2024-24762: a regex over the Content-Type parameters backtracked.
    content_type = MULTIPART + '; a="' * 13_000
    assert parse(field("a", b"1") + CLOSE, content_type) == [("a", "1")]


def test_cr_garbage_after_a_boundary_becomes_data_or_an_error() -> None:
    # A delimiter followed by CRs is not a delimiter: the bytes stay in the part, where
    # max_part_size bounds them.
    body = Body(field("a", b"1")[:-2] + b"\r\n--" + BOUNDARY + b"\r" * 10 * MiB + CLOSE)
    with pytest.raises(MultiPartException, match="maximum size"):
        parse(body)
    assert body.consumed <= MiB + 2 * 64 * 1024


def test_cr_garbage_between_parts_is_kept_as_data_when_small() -> None:
    garbage = b"\r\n--" + BOUNDARY + b"\r\r\r"
    body = field("a", b"1" + garbage) + CLOSE
    assert parse(body) == [("a", "1" + garbage.decode())]


def test_partial_boundaries_in_a_file_parse_in_linear_time() -> None:
    # Each "\r\n--" + a boundary prefix makes the parser start a match and back off.
    content = (b"\r\n--" + BOUNDARY[:-1] + b"\r") * 400_000
    assert parse(field("f", content, filename="f") + CLOSE) == [("f", ("f", content))]


# --- properties ------------------------------------------------------------------------------

form_names = st.text(
    st.characters(codec="utf-8", exclude_characters='"\\', min_codepoint=0x20),
    max_size=10,
)
form_values = st.text(st.characters(codec="utf-8"), max_size=30)
form_data = st.dictionaries(form_names, st.lists(form_values, min_size=1, max_size=3), max_size=6)
# httpx sends an empty `data=` with no body and no Content-Type, so the urlencoded case has one.
nonempty_form_data = st.dictionaries(
    form_names, st.lists(form_values, min_size=1, max_size=3), min_size=1, max_size=6
)


def split(data: st.DataObject, body: bytes) -> list[bytes]:
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=8))))
    bounds = [0, *cuts, len(body)]
    return [body[start:end] for start, end in itertools.pairwise(bounds)]


def expected_items(form: dict[str, list[str]]) -> list[tuple[str, Item]]:
    return [(name, value) for name, values in form.items() for value in values]


@settings(max_examples=150, deadline=None)
@given(form=nonempty_form_data, data=st.data())
def test_urlencoded_round_trip_in_any_chunks(
    form: dict[str, list[str]], data: st.DataObject
) -> None:
    content_type, body = encode(form, {})
    assert content_type == URLENCODED
    assert parse(Body(split(data, body)), content_type) == expected_items(form)


@settings(max_examples=150, deadline=None)
@given(form=form_data, content=st.binary(max_size=200), data=st.data())
def test_multipart_round_trip_in_any_chunks(
    form: dict[str, list[str]], content: bytes, data: st.DataObject
) -> None:
    content_type, body = encode(form, {"upload": ("f.bin", content)})
    expected = [*expected_items(form), ("upload", ("f.bin", content))]
    assert parse(Body(split(data, body)), content_type) == expected


VALID_BODY = (
    field("a", b"1")
    + field("f", b"x\r\n-y", b"Content-Type: text/plain; charset=latin-1\r\n", filename="f")
    + CLOSE
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(VALID_BODY)),
            st.integers(0, 8),
            st.binary(max_size=6) | st.sampled_from([b"\r\n", b"\r", b"--", b":", b";", b'"']),
        ),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
def test_mangled_multipart_parses_or_raises_multipart_exception(
    edits: list[tuple[int, int, bytes]], data: st.DataObject
) -> None:
    body = VALID_BODY
    for position, removed, inserted in edits:
        body = body[:position] + inserted + body[position + removed :]
    try:
        items = parse(Body(split(data, body)), max_fields=3, max_files=3, max_part_size=100)
    except MultiPartException:
        return
    assert all(isinstance(name, str) for name, _ in items)


# --- end to end: real httpx forms through the TestClient ------------------------------------


async def form_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the form as JSON; limits come from the query string."""
    request = Request(scope, receive)
    limits = {key: int(value) for key, value in request.query_params.items()}
    response: JSONResponse | PlainTextResponse
    try:
        form = await request.form(**limits)
    except MultiPartException as exc:
        response = PlainTextResponse(str(exc), status_code=400)
    else:
        content: list[list[object]] = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                file_content = (await value.read()).decode("latin-1")
                description = [value.filename, value.content_type, value.size, file_content]
                content.append([name, description])
            else:
                content.append([name, value])
        assert await request.form() is form  # parsed once, then kept
        await request.close()
        response = JSONResponse(content)
    await response(scope, receive, send)


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Outside `with`: each request runs on its own, without the lifespan protocol.
    client = TestClient(form_app)
    yield client
    client.close()


def test_client_urlencoded_form(client: TestClient) -> None:
    response = client.post("/", data={"name": "Ada Lovelace", "tags": ["a&b", "c=d"]})
    assert response.status_code == 200
    assert response.json() == [["name", "Ada Lovelace"], ["tags", "a&b"], ["tags", "c=d"]]


def test_client_multipart_form_with_files(client: TestClient) -> None:
    response = client.post(
        "/",
        data={"title": "résumé"},
        files=[
            ("docs", ("a.txt", b"first", "text/plain")),
            ("docs", ("b.bin", b"\x00\xff", "application/octet-stream")),
        ],
    )
    assert response.status_code == 200
    assert response.json() == [
        ["title", "résumé"],
        ["docs", ["a.txt", "text/plain", 5, "first"]],
        ["docs", ["b.bin", "application/octet-stream", 2, "\x00\xff"]],
    ]


def test_client_streamed_multipart_body(client: TestClient) -> None:
    body = field("a", b"1") + field("f", b"z" * 100_000, filename="z") + CLOSE

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 999):
            yield body[start : start + 999]

    response = client.post("/", content=pieces(), headers={"content-type": MULTIPART})
    assert response.json() == [["a", "1"], ["f", ["z", None, 100_000, "z" * 100_000]]]


def test_client_form_limits_answer_400(client: TestClient) -> None:
    response = client.post("/?max_files=1", files=[("f", b"1"), ("f", b"2")])
    assert response.status_code == 400
    assert response.text == "Too many files. Maximum number of files is 1."
    response = client.post("/?max_part_size=5", data={"a": "123456"})
    assert response.status_code == 400
    response = client.post("/?max_fields=1", data={"a": "1", "b": "2"})
    assert response.status_code == 400


def test_client_malformed_multipart_answers_400(client: TestClient) -> None:
    response = client.post("/", content=b"--x\r\n", headers={"content-type": MULTIPART})
    assert response.status_code == 400
    assert "Malformed multipart body" in response.text


def test_client_json_body_gives_an_empty_form(client: TestClient) -> None:
    assert client.post("/", json={"a": 1}).json() == []
