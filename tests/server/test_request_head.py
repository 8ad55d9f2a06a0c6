"""read_request_head(), the fast reader of plain HTTP/1.1 request heads, held to h11.

The reader may decline anything (h11 then reads those bytes), but whatever it accepts h11
must accept too: the same method, target and headers, the same Content-Length, and a head
that ends where h11's ends. The property tests check that over valid, mutated and random
bytes and over heads put together from awkward lines. The converse checks that plain
requests are not declined, so the fast path is really taken. The examples pin each reason
to decline and what an accepted head looks like.
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import (
    field_values,
    framed_requests,
    header_blocks,
    header_fields,
    mutated_requests,
    raw_bytes,
    request_lines,
    tokens,
)

from ferry.server.request_head import RequestHead, read_request_head

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

# -- h11 as the reference ------------------------------------------------------------------


def h11_reads(data: bytes) -> tuple[h11.Request, bytes]:
    """The request h11 reads at the start of `data`, and the bytes it leaves after the head."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Request), event
    return event, conn.trailing_data[0]


def h11_content_length(request: h11.Request) -> int:
    return next((int(value) for name, value in request.headers if name == b"content-length"), 0)


def assert_agrees_with_h11(data: bytes, head: RequestHead) -> None:
    """h11 reads the same request from `data`, and from the head alone, ending where `head` does."""
    request, rest = h11_reads(data)
    assert request.http_version == b"1.1"
    assert (head.method, head.target, head.headers) == (
        request.method,
        request.target,
        list(request.headers),
    )
    assert head.content_length == h11_content_length(request)
    assert rest == data[head.size :]
    assert data[: head.size].endswith(b"\r\n\r\n")
    alone, nothing = h11_reads(data[: head.size])
    assert alone == request
    assert nothing == b""


def check(data: bytes) -> RequestHead | None:
    head = read_request_head(data)
    if head is not None:
        assert_agrees_with_h11(data, head)
    return head


# -- heads put together from awkward lines ---------------------------------------------------

_ODD_REQUEST_LINES = [
    b"CONNECT example.com:443 HTTP/1.1\r\n",
    b"GET http://example.com/a HTTP/1.1\r\n",
    b"GET * HTTP/1.1\r\n",
    b"GET / HTTP/1.1\n",
    b"GET  / HTTP/1.1\r\n",
    b"GET / HTTP/1.1 \r\n",
    b"GET / HTTP/2.0\r\n",
    b"get / http/1.1\r\n",
    b"\r\nGET / HTTP/1.1\r\n",
]
_NAMES = [b"Host", b"HOST", b"Content-Length", b"content-length", b"Transfer-Encoding"]
_NAMES += [b"Upgrade", b"Connection", b"Expect", b"X-A"]
_ODD_LINES = [b" folded\r\n", b"\tfolded\r\n", b"X-A: a\n", b"X-A: a\r", b": empty name\r\n"]
_ODD_LINES += [b"X-A:\x00\r\n", b"X-A: \x7f\r\n", b"X-A: \x0b\r\n", b"X A: b\r\n", b"\r\n"]


@st.composite
def awkward_heads(draw: st.DrawFn) -> bytes:
    """A request line and header lines, most well formed, some subtly not, then more bytes."""
    line = draw(
        st.one_of(
            request_lines(http_versions=(b"1.1",)),
            request_lines(),
            st.sampled_from(_ODD_REQUEST_LINES),
        )
    )
    name = st.one_of(tokens(), tokens(), st.sampled_from(_NAMES))
    # Around h11's limit of 20 digits.
    digits = st.text("0123456789", min_size=1, max_size=24).map(str.encode)
    value = st.one_of(field_values(), digits, st.sampled_from([b"1,1", b"+5", b"-1", b"chunked"]))
    space = st.sampled_from([b"", b" ", b"\t", b"  ", b" \t"])
    field = st.builds(
        lambda name, before, value, after: name + b":" + before + value + after + b"\r\n",
        name,
        space,
        value,
        space,
    )
    odd_line = st.sampled_from(_ODD_LINES)
    fields = draw(st.lists(st.one_of(field, field, field, field, odd_line), max_size=6))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):  # mostly one Host
        fields.insert(draw(st.integers(0, len(fields))), b"Host: t\r\n")
    end = draw(st.sampled_from([b"\r\n"] * 5 + [b"\n", b"\r", b""]))
    return line + b"".join(fields) + end + draw(st.binary(max_size=16))


# -- whatever the reader accepts, h11 reads the same way -------------------------------------


@settings(max_examples=200, deadline=None)
@given(framed_requests())
def test_valid_requests_read_as_h11_reads_them(framed: tuple[bytes, bytes]) -> None:
    check(framed[0])


@settings(max_examples=300, deadline=None)
@given(mutated_requests())
def test_mutated_requests_read_as_h11_reads_them(data: bytes) -> None:
    check(data)


@settings(max_examples=2000, deadline=None)
@given(raw_bytes())
def test_raw_bytes_read_as_h11_reads_them(data: bytes) -> None:
    check(data)


@settings(max_examples=400, deadline=None)
@given(awkward_heads())
def test_awkward_heads_read_as_h11_reads_them(data: bytes) -> None:
    check(data)


# -- plain requests take the fast path ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(framed_requests())
def test_plain_requests_are_not_declined(framed: tuple[bytes, bytes]) -> None:
    data, body = framed
    request, _ = h11_reads(data)
    head = check(data)
    if any(name == b"transfer-encoding" for name, _ in request.headers):
        assert head is None  # chunked is h11's to read
        return
    assert head is not None
    assert head.content_length == len(body)
    assert data[head.size :] == body


@settings(max_examples=300, deadline=None)
@given(request_lines(), header_blocks(), st.binary(max_size=32))
def test_only_http_1_1_heads_are_read(line: bytes, block: bytes, after: bytes) -> None:
    data = line + block + after
    head = check(data)
    assert (head is not None) == line.endswith(b" HTTP/1.1\r\n")
    if head is not None:
        assert head.size == len(line + block)
        assert data[head.size :] == after


@settings(max_examples=200, deadline=None)
@given(header_fields())
def test_every_plain_field_is_kept_in_order(fields: list[tuple[bytes, bytes]]) -> None:
    block = b"".join(name + b": " + value + b"\r\n" for name, value in fields)
    head = check(b"GET / HTTP/1.1\r\n" + block + b"Host: t\r\n\r\n")
    assert head is not None
    expected = [(name.lower(), value) for name, value in fields]
    assert head.headers == [*expected, (b"host", b"t")]


# -- each reason to decline -----------------------------------------------------------------

DECLINED = [
    pytest.param(b"", id="nothing yet"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\n", id="no empty line yet"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\n\r", id="half the empty line"),
    pytest.param(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n", id="HTTP/1.0"),
    pytest.param(b"GET / HTTP/1.1\nHost: t\n\n", id="bare LF"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\n\r\n", id="one bare LF"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n", id="obs-fold"),
    pytest.param(b"\r\n" + GET, id="leading CRLF"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", id="no Host"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no headers"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nhost: t\r\n\r\n", id="two Hosts"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        id="two equal Content-Lengths",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
        id="two Content-Lengths",
    ),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\n", id="CL 5a"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\n", id="CL +5"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", id="CL -1"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1,1\r\n\r\n", id="CL 1,1"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1 1\r\n\r\n", id="CL 1 1"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n", id="CL empty"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \xd9\xa3\r\n\r\n", id="CL non-ASCII digit"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        id="Transfer-Encoding",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: t\r\ntransfer-encoding: identity\r\n\r\n",
        id="Transfer-Encoding identity",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        id="Upgrade",
    ),
    pytest.param(b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", id="CONNECT"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", id="control char"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", id="NUL"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n", id="DEL"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", id="CR in value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", id="space before colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", id="empty name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n", id="name not a token"),
    pytest.param(b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", id="two spaces"),
    pytest.param(b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n", id="space after version"),
    pytest.param(b"GET /\x80 HTTP/1.1\r\nHost: t\r\n\r\n", id="obs-text in target"),
    pytest.param(b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n", id="method not a token"),
    pytest.param(b"GET / http/1.1\r\nHost: t\r\n\r\n", id="lowercase version"),
]


@pytest.mark.parametrize("data", DECLINED)
def test_declines(data: bytes) -> None:
    assert read_request_head(data) is None


# -- what an accepted head looks like ---------------------------------------------------------


def test_reads_a_plain_get() -> None:
    assert check(GET) == RequestHead(b"GET", b"/", [(b"host", b"t")], len(GET), 0)


def test_lowercases_names_and_strips_values_but_keeps_inner_spaces() -> None:
    data = b"GET /a?b=1 HTTP/1.1\r\nHOST:t\r\nX-Thing: \t one  two\tthree \t\r\nX-E:\r\n\r\n"
    head = check(data)
    assert head is not None
    assert head.target == b"/a?b=1"
    assert head.headers == [(b"host", b"t"), (b"x-thing", b"one  two\tthree"), (b"x-e", b"")]


def test_keeps_obs_text_in_values() -> None:
    head = check(b"GET / HTTP/1.1\r\nHost: t\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n")
    assert head is not None
    assert head.headers[-1] == (b"x-name", b"caf\xc3\xa9 \xff")


def test_size_ends_after_the_empty_line_and_the_body_follows() -> None:
    first = b"POST /upload HTTP/1.1\r\nContent-Length:  5 \r\nHost: t\r\n\r\n"
    data = first + b"hello" + GET
    head = check(data)
    assert head is not None
    assert (head.method, head.size, head.content_length) == (b"POST", len(first), 5)
    assert data[head.size : head.size + head.content_length] == b"hello"
    assert read_request_head(data[head.size + head.content_length :]) == read_request_head(GET)


def test_reads_leading_zeros_in_content_length() -> None:
    head = check(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 007\r\n\r\n1234567")
    assert head is not None
    assert head.content_length == 7
    assert head.headers[-1] == (b"content-length", b"007")


def test_reads_extension_methods_and_absolute_targets() -> None:
    head = check(b"PURGE http://t/a HTTP/1.1\r\nHost: t\r\n\r\n")
    assert head is not None
    assert (head.method, head.target) == (b"PURGE", b"http://t/a")


LONG_CONTENT_LENGTH = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: " + b"1" * 21 + b"\r\n\r\n"


def test_declines_a_content_length_h11_refuses() -> None:
    with pytest.raises(h11.RemoteProtocolError, match="bad Content-Length"):
        h11_reads(LONG_CONTENT_LENGTH)
    assert read_request_head(LONG_CONTENT_LENGTH) is None
