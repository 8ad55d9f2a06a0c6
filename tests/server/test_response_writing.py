"""How HTTPConnection writes responses, read back by an h11 client that sent the request.

The connection writes response heads and bodies itself (h11 only reads the odd request).
The property test sends any response (status, headers, a body in one message or streamed)
to a GET or a HEAD over HTTP/1.1 (read by Ferry's own reader) or HTTP/1.0 (read by h11),
and an h11 client, which is strict about framing, must read back exactly what the app sent,
end the message where it ends, and agree with `conn.keep_alive`. The examples pin the
framing the app may choose itself, its mistakes, and the two heads written outside `send()`.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Any

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import field_values, tokens

from ferry.server.config import Config
from ferry.server.connection import (
    DefaultHeaders,
    HTTPConnection,
    RequestComplete,
    RequestReceived,
)
from ferry.server.errors import ASGIProtocolError
from ferry.server.trace import ConnectionTrace, RequestTrace
from ferry.server.types import Message

CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8000)
DATE = b"Sat, 21 Nov 2026 15:47:14 GMT"

GET = b"GET / HTTP/1.1\r\nhost: t\r\n\r\n"
GET_10 = b"GET / HTTP/1.0\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n"
HEAD_10 = b"HEAD / HTTP/1.0\r\n\r\n"

# Headers that frame the response or decide the connection's fate, and the two defaults:
# the property test's random headers leave them out, the examples set them on purpose.
_CHOSEN_BY_CASE = {b"content-length", b"transfer-encoding", b"connection", b"server", b"date"}


def make_connection(**options: Any) -> HTTPConnection:
    config = Config(app="x:y", **options)
    defaults = DefaultHeaders(config)
    defaults.set_date(DATE)
    return HTTPConnection(config, client=CLIENT, server=SERVER, default_headers=defaults)


def start(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes = b"", more_body: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more_body}


def received(conn: HTTPConnection, request: bytes) -> None:
    """Feed a whole request without a body; it must be reported whole."""
    happened = conn.receive_bytes(request)
    assert [type(event) for event in happened] == [RequestReceived, RequestComplete]


def client_for(method: bytes, *, close: bool = False) -> tuple[h11.Connection, bytes]:
    """An h11 client that sent `method /`, and the bytes it sent."""
    client = h11.Connection(h11.CLIENT)
    headers = [(b"host", b"t")]
    if close:
        headers.append((b"connection", b"close"))
    data = client.send(h11.Request(method=method, target=b"/", headers=headers))
    data += client.send(h11.EndOfMessage())
    assert data is not None
    return client, data


class ReadBack:
    """One response as an h11 client reads it."""

    def __init__(self, client: h11.Connection, data: bytes) -> None:
        self.client = client
        self.response: h11.Response | None = None
        self.content = b""
        self.needed_eof = False  # the body ended only when the server closed
        client.receive_data(data)
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                self.response = event
            elif isinstance(event, h11.Data):
                self.content += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif event is h11.NEED_DATA and not self.needed_eof:
                self.needed_eof = True
                client.receive_data(b"")
            else:
                raise AssertionError(f"the response does not read back: {event!r}")
        assert self.response is not None
        # Nothing may follow the end of the message (a stray chunk, body bytes, ...).
        assert client.trailing_data[0] == b""

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        assert self.response is not None
        return list(self.response.headers)

    def values(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]

    @property
    def server_must_close(self) -> bool:
        return self.client.their_state in (h11.MUST_CLOSE, h11.CLOSED)


def read_back(data: bytes, method: bytes = b"GET", *, close: bool = False) -> ReadBack:
    client, _ = client_for(method, close=close)
    return ReadBack(client, data)


def collected_trace(conn: HTTPConnection) -> list[RequestTrace]:
    traces: list[RequestTrace] = []
    conn.trace = ConnectionTrace(traces.append, root=os.getcwd())
    return traces


def reader_of(conn: HTTPConnection) -> object:
    assert conn.trace is not None
    parse = conn.trace.current.first("parse")
    assert parse is not None
    return parse.facts["reader"]


# --- any response, read back by h11 --------------------------------------------------------

_COMMON_STATUSES = [200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 400, 401, 403, 404]
_ODD_STATUSES = [203, 205, 226, 299, 308, 418, 421, 425, 451, 499, 500, 502, 503, 511, 599]
statuses = st.one_of(
    st.sampled_from(_COMMON_STATUSES),
    st.sampled_from(_ODD_STATUSES),
    st.integers(200, 599),
)
app_headers = st.lists(
    st.tuples(tokens(16).filter(lambda name: name.lower() not in _CHOSEN_BY_CASE), field_values()),
    max_size=8,
)
pieces = st.binary(max_size=64)


@settings(max_examples=400, deadline=None)
@given(
    status=statuses,
    headers=app_headers,
    streamed=st.lists(pieces, max_size=4),
    last=pieces,
    method=st.sampled_from([b"GET", b"HEAD"]),
    http_10=st.booleans(),
    request_close=st.booleans(),
    app_close=st.integers(-1, 8),
    app_framing=st.sampled_from(["none", "none", "content-length", "chunked"]),
    app_framing_at=st.integers(0, 8),
)
def test_any_response_reads_back_as_the_app_sent_it(
    status: int,
    headers: list[tuple[bytes, bytes]],
    streamed: list[bytes],
    last: bytes,
    method: bytes,
    http_10: bool,
    request_close: bool,
    app_close: int,
    app_framing: str,
    app_framing_at: int,
) -> None:
    # h11 only sends HTTP/1.1: for an HTTP/1.0 request the client sends `connection: close`
    # instead, which tells it the same about the connection; the server gets real 1.0 bytes.
    client, request = client_for(method, close=request_close or http_10)
    if http_10:
        request = method + b" / HTTP/1.0\r\n"
        request += b"connection: close\r\n\r\n" if request_close else b"\r\n"
    conn = make_connection()
    collected_trace(conn)
    received(conn, request)
    assert reader_of(conn) == ("h11" if http_10 else "ferry")

    content = b"".join(streamed) + last
    sent_headers = list(headers)
    if app_framing == "content-length":
        framing_header = (b"Content-Length", b"%d" % len(content))
        sent_headers.insert(min(app_framing_at, len(sent_headers)), framing_header)
    elif app_framing == "chunked":
        framing_header = (b"Transfer-Encoding", b"chunked")
        sent_headers.insert(min(app_framing_at, len(sent_headers)), framing_header)
    if app_close >= 0:
        sent_headers.insert(min(app_close, len(sent_headers)), (b"Connection", b"close"))
    data = conn.send(start(status, sent_headers))
    assert data == b""
    for piece in streamed:
        data += conn.send(body(piece, more_body=True))
    data += conn.send(body(last))

    read = ReadBack(client, data)
    response = read.response
    assert response is not None
    assert response.http_version == b"1.1"
    assert response.status_code == status
    assert response.reason == _reason(status)

    no_content = status in (204, 304)
    has_body = method == b"GET" and not no_content
    assert read.content == (content if has_body else b"")
    # The length is known when the app said it, or when the body came in one message (but
    # a HEAD with no body at all is answered as a GET of unknown length would be).
    if app_framing == "none":
        length_known = not streamed and not (method == b"HEAD" and not last)
    else:
        length_known = app_framing == "content-length"
    close_delimited = http_10 and not length_known and has_body
    assert read.needed_eof == close_delimited
    keep_alive = not (http_10 or request_close or app_close >= 0 or close_delimited)
    assert conn.keep_alive == keep_alive
    assert read.server_must_close == (not keep_alive)

    # The app's headers in order, names lowercased, values as sent; the headers the
    # connection chose (framing, close) among them; the defaults last, once each.
    expected = [(name.lower(), value) for name, value in headers]
    assert [field for field in read.headers if field[0] not in _CHOSEN_BY_CASE] == expected
    rest = [field for field in read.headers if field[0] in _CHOSEN_BY_CASE]
    added: list[tuple[bytes, bytes]] = [(b"server", b"ferry"), (b"date", DATE)]
    if status == 204:
        pass  # no framing headers on a 204, not even the app's (RFC 9110 §8.6)
    elif app_framing == "content-length" or (not no_content and length_known):
        # The app's Content-Length is kept for a 304 (the length a GET would have).
        added.append((b"content-length", b"%d" % len(content)))
    elif not http_10 and (app_framing == "chunked" or not no_content):
        added.append((b"transfer-encoding", b"chunked"))
    if not keep_alive:
        added.append((b"connection", b"close"))
    assert sorted(rest) == sorted(added)
    assert sorted(read.headers[-2:]) == [(b"date", DATE), (b"server", b"ferry")]


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


# --- Content-Length set by the app -----------------------------------------------------------


def test_app_content_length_larger_than_the_body_is_refused_and_writes_nothing() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"content-length", b"10")]))
    with pytest.raises(ASGIProtocolError, match="less body than its Content-Length"):
        conn.send(body(b"hello"))
    assert conn.response_complete
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b"world"))


def test_app_content_length_smaller_than_the_body_is_refused_and_writes_nothing() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"content-length", b"2")]))
    with pytest.raises(ASGIProtocolError, match="more body than its Content-Length"):
        conn.send(body(b"hello"))
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b""))


def test_streamed_body_shorter_than_the_app_content_length_is_refused_at_its_end() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"Content-Length", b"10")]))
    data = conn.send(body(b"hello", more_body=True))
    head, _, written = data.partition(b"\r\n\r\n")
    assert b"\r\ncontent-length: 10\r\n" in (head + b"\r\n").lower()
    assert b"transfer-encoding" not in head.lower()
    assert written == b"hello"
    with pytest.raises(ASGIProtocolError, match="less body"):
        conn.send(body(b"!"))
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b"abcd"))


def test_streamed_body_longer_than_the_app_content_length_is_refused_at_the_piece_too_many() -> (
    None
):
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"content-length", b"4")]))
    assert conn.send(body(b"ab", more_body=True)).endswith(b"\r\n\r\nab")
    with pytest.raises(ASGIProtocolError, match="more body"):
        conn.send(body(b"cde", more_body=True))
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b""))


def test_streamed_body_that_matches_the_app_content_length_keeps_the_connection_alive() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"content-length", b"6")]))
    data = conn.send(body(b"abc", more_body=True))
    data += conn.send(body(b"", more_body=True))
    data += conn.send(body(b"def"))
    read = read_back(data)
    assert read.content == b"abcdef"
    assert read.values(b"content-length") == [b"6"]
    assert read.values(b"transfer-encoding") == []
    assert conn.keep_alive
    assert not read.server_must_close


@pytest.mark.parametrize(
    "lengths",
    [
        [(b"content-length", b"5"), (b"content-length", b"6")],
        [(b"content-length", b"5, 6")],
        [(b"Content-Length", b"5"), (b"content-length", b"5, 6")],
        [(b"content-length", b"")],
        [(b"content-length", b"-5")],
        [(b"content-length", b"+5")],
        [(b"content-length", b"0x5")],
        [(b"content-length", b"5 5")],
    ],
)
def test_conflicting_or_malformed_app_content_length_is_refused(
    lengths: list[tuple[bytes, bytes]],
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"x-a", b"1"), *lengths]))
    with pytest.raises(ASGIProtocolError, match="Content-Length"):
        conn.send(body(b"hello"))
    assert conn.response_complete
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b"hello"))


@pytest.mark.parametrize(
    "lengths",
    [
        [(b"content-length", b"5"), (b"Content-Length", b"5")],
        [(b"content-length", b"5, 5")],
        [(b"content-length", b"5,5"), (b"content-length", b"5")],
    ],
)
def test_agreeing_app_content_lengths_are_written_once(
    lengths: list[tuple[bytes, bytes]],
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, lengths))
    data = conn.send(body(b"hello"))
    assert data.lower().count(b"content-length") == 1
    read = read_back(data)
    assert read.values(b"content-length") == [b"5"]
    assert read.content == b"hello"
    assert conn.keep_alive


# --- Transfer-Encoding set by the app --------------------------------------------------------


@pytest.mark.parametrize(
    "encoding",
    [b"gzip", b"gzip, chunked", b"chunked, gzip", b"identity", b"deflate", b"chunked, chunked"],
)
def test_transfer_coding_other_than_chunked_is_refused(encoding: bytes) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"Transfer-Encoding", encoding)]))
    with pytest.raises(ASGIProtocolError, match="Transfer-Encoding other than chunked"):
        conn.send(body(b"hello"))
    assert conn.response_complete
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b"hello"))


def test_two_transfer_encoding_headers_are_refused() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")]))
    with pytest.raises(ASGIProtocolError, match="Transfer-Encoding"):
        conn.send(body(b"hello"))


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b"CHUNKED"])
def test_app_chunked_with_a_body_in_one_piece_is_written_chunked(value: bytes) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"Transfer-Encoding", value), (b"x-a", b"1")]))
    data = conn.send(body(b"hello"))
    head, _, written = data.partition(b"\r\n\r\n")
    assert written == b"5\r\nhello\r\n0\r\n\r\n"
    assert b"content-length" not in head.lower()
    read = read_back(data)
    assert read.values(b"transfer-encoding") == [b"chunked"]
    assert read.values(b"x-a") == [b"1"]
    assert read.content == b"hello"
    assert conn.keep_alive


def test_app_chunked_with_an_empty_body_writes_only_the_last_chunk() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"transfer-encoding", b"chunked")]))
    data = conn.send(body(b""))
    assert data.endswith(b"\r\n\r\n0\r\n\r\n")
    assert read_back(data).content == b""


def test_app_chunked_wins_over_app_content_length() -> None:
    # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; only one is written.
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]))
    data = conn.send(body(b"hello"))
    read = read_back(data)
    assert read.values(b"content-length") == []
    assert read.values(b"transfer-encoding") == [b"chunked"]
    assert read.content == b"hello"


def test_app_chunked_to_an_http_1_0_client_is_close_delimited() -> None:
    conn = make_connection()
    received(conn, GET_10)
    conn.send(start(200, [(b"transfer-encoding", b"chunked")]))
    data = conn.send(body(b"hello", more_body=True)) + conn.send(body(b" world"))
    assert data.endswith(b"\r\n\r\nhello world")
    read = read_back(data, close=True)
    assert read.needed_eof
    assert read.values(b"transfer-encoding") == []
    assert read.values(b"connection") == [b"close"]
    assert read.content == b"hello world"
    assert not conn.keep_alive


# --- Connection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [(b"Connection", b"close")],
        [(b"connection", b"Close")],
        [(b"connection", b"x-trace, close")],
        [(b"connection", b"close"), (b"Connection", b"close")],
        [(b"connection", b"keep-alive"), (b"connection", b"close")],
    ],
)
def test_app_connection_close_ends_keep_alive_with_one_connection_close(
    headers: list[tuple[bytes, bytes]],
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"x-a", b"1"), *headers, (b"x-b", b"2")]))
    data = conn.send(body(b"bye"))
    assert not conn.keep_alive
    assert data.lower().count(b"connection:") == 1
    read = read_back(data)
    assert read.values(b"connection") == [b"close"]
    assert read.headers[:2] == [(b"x-a", b"1"), (b"x-b", b"2")]
    assert read.server_must_close
    assert read.content == b"bye"


def test_app_connection_close_on_a_streamed_response_still_chunks_it() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"connection", b"close")]))
    data = conn.send(body(b"a", more_body=True)) + conn.send(body(b"b"))
    read = read_back(data)
    assert read.values(b"transfer-encoding") == [b"chunked"]
    assert read.values(b"connection") == [b"close"]
    assert not read.needed_eof
    assert read.content == b"ab"
    assert not conn.keep_alive


def test_app_connection_without_close_is_written_as_is_and_keeps_alive() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"Connection", b"keep-alive")]))
    read = read_back(conn.send(body(b"hi")))
    assert read.values(b"connection") == [b"keep-alive"]
    assert conn.keep_alive
    assert not read.server_must_close


def test_request_connection_close_is_answered_with_one_connection_close() -> None:
    conn = make_connection()
    received(conn, b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    conn.send(start(200, [(b"connection", b"close")]))
    data = conn.send(body(b"hi"))
    assert data.lower().count(b"connection:") == 1
    assert not conn.keep_alive


# --- HTTP/1.0, HEAD, 204 and 304 --------------------------------------------------------------


def test_http_1_0_streamed_response_is_close_delimited() -> None:
    conn = make_connection()
    received(conn, GET_10)
    conn.send(start(200, [(b"content-type", b"text/plain")]))
    data = conn.send(body(b"one ", more_body=True))
    data += conn.send(body(b"", more_body=True))
    data += conn.send(body(b"two", more_body=True))
    data += conn.send(body(b""))
    head, _, written = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert written == b"one two"  # no chunk framing at all
    lowered = head.lower()
    assert b"transfer-encoding" not in lowered
    assert b"content-length" not in lowered
    assert lowered.count(b"\r\nconnection: close") == 1
    read = read_back(data, close=True)
    assert read.needed_eof
    assert read.content == b"one two"
    assert not conn.keep_alive


def test_http_1_0_response_in_one_message_has_a_length_and_closes() -> None:
    conn = make_connection()
    received(conn, GET_10)
    conn.send(start())
    read = read_back(conn.send(body(b"hello")), close=True)
    assert not read.needed_eof
    assert read.values(b"content-length") == [b"5"]
    assert read.values(b"connection") == [b"close"]
    assert not conn.keep_alive


def test_head_with_unknown_length_writes_the_head_only_and_keeps_alive() -> None:
    conn = make_connection()
    received(conn, HEAD)
    conn.send(start(200, [(b"content-type", b"text/plain")]))
    data = conn.send(body(b"hello", more_body=True))
    data += conn.send(body(b"world", more_body=True))
    data += conn.send(body(b""))
    assert data.endswith(b"\r\n\r\n")
    assert data.count(b"\r\n\r\n") == 1
    assert b"hello" not in data
    assert b"world" not in data
    read = read_back(data, b"HEAD")
    # As a GET of unknown length would be answered, minus the body.
    assert read.values(b"transfer-encoding") == [b"chunked"]
    assert read.values(b"content-length") == []
    assert read.content == b""
    assert conn.keep_alive
    assert not read.server_must_close


def test_http_1_0_head_with_unknown_length_writes_the_head_only() -> None:
    conn = make_connection()
    received(conn, HEAD_10)
    conn.send(start())
    data = conn.send(body(b"hello", more_body=True)) + conn.send(body(b""))
    assert data.endswith(b"\r\n\r\n")
    assert b"hello" not in data
    read = read_back(data, b"HEAD", close=True)
    assert not read.needed_eof
    assert read.values(b"transfer-encoding") == []
    assert read.values(b"connection") == [b"close"]
    assert not conn.keep_alive


def test_head_with_a_body_in_one_message_gets_the_length_of_the_get() -> None:
    conn = make_connection()
    received(conn, HEAD)
    conn.send(start())
    data = conn.send(body(b"hello"))
    assert data.endswith(b"\r\n\r\n")
    read = read_back(data, b"HEAD")
    assert read.values(b"content-length") == [b"5"]
    assert read.content == b""
    assert conn.keep_alive


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("streamed", [False, True])
def test_no_content_status_with_a_body_from_the_app_writes_no_body(
    status: int, streamed: bool
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(status, [(b"x-a", b"1")]))
    if streamed:
        data = conn.send(body(b"ignored", more_body=True)) + conn.send(body(b"too"))
    else:
        data = conn.send(body(b"ignored"))
    assert data.endswith(b"\r\n\r\n")
    assert data.count(b"\r\n\r\n") == 1
    assert b"ignored" not in data
    lowered = data.lower()
    assert b"content-length" not in lowered
    assert b"transfer-encoding" not in lowered
    read = read_back(data)
    assert read.response is not None
    assert read.response.status_code == status
    assert read.content == b""
    assert conn.keep_alive
    assert not read.server_must_close


@pytest.mark.parametrize("framing", [(b"transfer-encoding", b"chunked"), (b"content-length", b"7")])
def test_no_content_204_never_carries_framing_headers_even_from_the_app(
    framing: tuple[bytes, bytes],
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(204, [framing]))
    data = conn.send(body(b"ignored"))
    assert b"ignored" not in data
    lowered = data.lower()
    assert b"transfer-encoding" not in lowered
    assert b"content-length" not in lowered


def test_304_keeps_the_content_length_the_app_gives_for_the_get() -> None:
    # RFC 9110 §8.6: a 304 may carry the Content-Length a 200 to the GET would have.
    conn = make_connection()
    received(conn, GET)
    conn.send(start(304, [(b"content-length", b"1234")]))
    data = conn.send(body(b""))
    assert data.endswith(b"\r\n\r\n")
    read = read_back(data)
    assert read.values(b"content-length") == [b"1234"]
    assert read.content == b""
    assert conn.keep_alive


# --- header fields HTTP/1.1 cannot carry ------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        (b"x-a", b"one\rtwo"),
        (b"x-a", b"one\ntwo"),
        (b"x-a", b"one\r\ntwo"),
        (b"x-a", b"one\x00two"),
        (b"x-a", b" leading"),
        (b"x-a", b"trailing "),
        (b"x-a", b"\tleading-tab"),
        (b"x-a", b"trailing-tab\t"),
        (b"x-a", b" "),
        (b"x-a", b"\r\n"),
        (b"x-a", b"one\x0btwo"),
        (b"x-a", b"one\x0ctwo"),
        (b"x\ra", b"1"),
        (b"x\na", b"1"),
        (b"x\x00a", b"1"),
        (b" x-a", b"1"),
        (b"x-a ", b"1"),
        (b"x a", b"1"),
        (b"x:a", b"1"),
        (b"", b"1"),
        (b"x-\xe9", b"1"),
        (b"x-a\r\nset-cookie", b"evil=1"),
    ],
)
@pytest.mark.parametrize("position", ["alone", "first", "last"])
def test_header_field_http_cannot_carry_is_refused_and_nothing_is_written(
    field: tuple[bytes, bytes], position: str
) -> None:
    others = [(b"content-type", b"text/plain"), (b"x-ok", b"fine")]
    headers = {
        "alone": [field],
        "first": [field, *others],
        "last": [*others, field],
    }[position]
    conn = make_connection()
    received(conn, GET)
    assert conn.send(start(200, headers)) == b""
    with pytest.raises(ASGIProtocolError, match="Invalid response header"):
        conn.send(body(b"hello"))
    assert not conn.response_started
    assert conn.response_complete
    with pytest.raises(ASGIProtocolError):
        conn.send(body(b"hello"))


def test_header_field_http_cannot_carry_is_refused_on_a_streamed_response_too() -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [(b"x-a", b"a\r\nset-cookie: evil=1")]))
    with pytest.raises(ASGIProtocolError, match="Invalid response header value"):
        conn.send(body(b"hello", more_body=True))
    assert not conn.response_started


@pytest.mark.parametrize(
    "field",
    [
        (b"x-a", b""),
        (b"x-a", b"inner  spaces\tand\ttabs"),
        (b"x-a", b"obs-text \xe9\xff"),
        (b"X-Mixed-Case", b"v"),
        (b"!#$%&'*+-.^_`|~", b"token-chars"),
    ],
)
def test_header_fields_at_the_edges_of_the_grammar_are_written(
    field: tuple[bytes, bytes],
) -> None:
    conn = make_connection()
    received(conn, GET)
    conn.send(start(200, [field]))
    read = read_back(conn.send(body(b"hi")))
    assert read.headers[0] == (field[0].lower(), field[1])


# --- heads written outside send() -------------------------------------------------------------


def test_send_100_continue_bytes() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(
        b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n"
    )
    assert [type(event) for event in happened] == [RequestReceived]
    assert conn.awaits_100_continue
    data = conn.send_100_continue()
    assert data == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.awaits_100_continue
    assert not conn.response_started
    # The final response that follows reads back after the 100 as h11 expects it.
    conn.receive_bytes(b"ok")
    conn.send(start(201))
    data += conn.send(body(b"made"))
    client = h11.Connection(h11.CLIENT)
    client.send(
        h11.Request(
            method=b"POST",
            target=b"/",
            headers=[(b"host", b"t"), (b"content-length", b"2"), (b"expect", b"100-continue")],
        )
    )
    client.receive_data(data)
    informational = client.next_event()
    assert isinstance(informational, h11.InformationalResponse)
    assert informational.status_code == 100
    final = client.next_event()
    assert isinstance(final, h11.Response)
    assert final.status_code == 201
    assert conn.keep_alive


def test_send_switching_protocols_head() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(
        b"GET /ws HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    )
    assert len(happened) == 1
    data = conn.send_switching_protocols(
        [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ]
    )
    assert data == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: websocket\r\n"
        b"connection: Upgrade\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"server: ferry\r\n"
        b"date: " + DATE + b"\r\n"
        b"\r\n"
    )
    assert conn.response_started
    assert conn.response_complete
    # h11, as the client that asked for the upgrade, accepts the head and switches.
    client = h11.Connection(h11.CLIENT)
    client.send(
        h11.Request(
            method=b"GET",
            target=b"/ws",
            headers=[(b"host", b"t"), (b"upgrade", b"websocket"), (b"connection", b"upgrade")],
        )
    )
    client.send(h11.EndOfMessage())
    client.receive_data(data + b"\x81\x00")
    switched = client.next_event()
    assert isinstance(switched, h11.InformationalResponse)
    assert switched.status_code == 101
    assert client.their_state is h11.SWITCHED_PROTOCOL
    assert client.trailing_data[0] == b"\x81\x00"


def test_send_switching_protocols_refuses_a_header_http_cannot_carry() -> None:
    conn = make_connection()
    with pytest.raises(ASGIProtocolError, match="Invalid response header"):
        conn.send_switching_protocols([(b"x-a", b"one\r\nset-cookie: evil=1")])
    assert not conn.response_started
