"""HTTPConnection, the sans-IO core: bytes in, events out; ASGI messages in, bytes out.

Every test here feeds bytes to one connection and reads what it reports; nothing opens a
socket, starts a loop or reads a clock. Responses are checked either as literal bytes or by
reading them back with an h11 client, which is stricter about framing than any assertion.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.server.sansio import read_response

from ferry.server.config import Config
from ferry.server.connection import (
    BodyReceived,
    ClientClosed,
    DefaultHeaders,
    Happened,
    HTTPConnection,
    Rejected,
    RequestComplete,
    RequestReceived,
)
from ferry.server.errors import ASGIProtocolError
from ferry.server.types import Message

CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8000)
DATE = b"Sat, 21 Nov 2026 15:47:14 GMT"
EVENT_TYPES = (RequestReceived, BodyReceived, RequestComplete, ClientClosed, Rejected)

GET = b"GET / HTTP/1.1\r\nhost: t\r\n\r\n"


def make_connection(**options: Any) -> HTTPConnection:
    return HTTPConnection(Config(app="x:y", **options), client=CLIENT, server=SERVER)


def start(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes = b"", more_body: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more_body}


def respond(conn: HTTPConnection, data: bytes = b"hi", status: int = 200) -> bytes:
    """Answer the current request with one body message, as most apps do."""
    return conn.send(start(status)) + conn.send(body(data))


def kinds(happened: list[Happened]) -> list[type]:
    return [type(event) for event in happened]


def header(response: h11.Response, name: bytes) -> bytes | None:
    values = [value for key, value in response.headers if key == name]
    assert len(values) <= 1
    return values[0] if values else None


# --- requests in ----------------------------------------------------------------------------


def test_get_yields_request_received_then_request_complete() -> None:
    happened = make_connection().receive_bytes(GET)
    assert kinds(happened) == [RequestReceived, RequestComplete]
    received = happened[0]
    assert isinstance(received, RequestReceived)
    assert received.scope["method"] == "GET"
    assert received.scope["client"] == CLIENT
    assert received.scope["server"] == SERVER


def test_request_head_in_pieces_is_reported_once_it_is_complete() -> None:
    conn = make_connection()
    assert conn.receive_bytes(b"GET / HT") == []
    assert conn.receive_bytes(b"TP/1.1\r\nhost: t\r\n") == []
    assert kinds(conn.receive_bytes(b"\r\n")) == [RequestReceived, RequestComplete]


def test_request_body_arrives_as_body_received_then_request_complete() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello")
    assert kinds(happened) == [RequestReceived, BodyReceived, RequestComplete]
    assert happened[1] == BodyReceived(b"hello")


def _frame_chunked(data: bytes, cuts: list[int]) -> bytes:
    bounds = [0, *sorted(set(cuts)), len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    # No empty pieces: receive_bytes(b"") would tell h11 that the client closed.
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(
    content=st.binary(max_size=2048),
    chunked=st.booleans(),
    data=st.data(),
)
def test_body_split_anywhere_comes_out_whole_in_order(
    content: bytes, chunked: bool, data: st.DataObject
) -> None:
    if chunked:
        cuts = data.draw(st.lists(st.integers(0, len(content)), max_size=8), label="chunks")
        head = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        request = head + _frame_chunked(content, cuts)
    else:
        head = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n" % len(content)
        request = head + content
    splits = data.draw(st.lists(st.integers(0, len(request)), max_size=30), label="splits")
    conn = make_connection()
    happened: list[Happened] = []
    for piece in _split(request, splits):
        happened += conn.receive_bytes(piece)
    assert type(happened[0]) is RequestReceived
    assert type(happened[-1]) is RequestComplete
    pieces = happened[1:-1]
    assert all(isinstance(event, BodyReceived) and event.body for event in pieces)
    assert b"".join(event.body for event in pieces if isinstance(event, BodyReceived)) == content


def test_connection_is_idle_only_between_requests() -> None:
    conn = make_connection()
    assert conn.is_idle
    conn.receive_bytes(b"GET / HT")
    assert not conn.is_idle
    conn.receive_bytes(b"TP/1.1\r\nhost: t\r\n\r\n")
    assert not conn.is_idle
    respond(conn)
    assert conn.is_idle


def test_eof_between_requests_yields_client_closed() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    respond(conn)
    assert kinds(conn.receive_eof()) == [ClientClosed]


def test_eof_in_the_middle_of_a_request_head_is_rejected_with_400() -> None:
    conn = make_connection()
    conn.receive_bytes(b"GET / HTTP/1.1\r\nhost")
    [rejected] = conn.receive_eof()
    assert isinstance(rejected, Rejected)
    assert rejected.status == 400


# --- pipelining ------------------------------------------------------------------------------


def test_pipelined_request_waits_until_the_first_response_is_complete() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(GET + b"GET /second HTTP/1.1\r\nhost: t\r\n\r\n")
    assert kinds(happened) == [RequestReceived, RequestComplete]
    assert conn.next_events() == []
    conn.send(start())
    assert conn.next_events() == []
    conn.send(body(b"first"))
    assert conn.has_buffered_bytes
    second = conn.next_events()
    assert kinds(second) == [RequestReceived, RequestComplete]
    assert isinstance(second[0], RequestReceived)
    assert second[0].scope["path"] == "/second"


def test_pipelined_request_is_answered_on_the_same_connection() -> None:
    conn = make_connection()
    conn.receive_bytes(GET + GET)
    first = respond(conn, b"one")
    conn.next_events()
    second = respond(conn, b"two")
    assert read_response(first)[1] == b"one"
    assert read_response(second)[1] == b"two"
    assert conn.keep_alive
    assert not conn.has_buffered_bytes


def test_without_a_pipelined_request_nothing_is_buffered() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    respond(conn)
    assert not conn.has_buffered_bytes


def test_app_answering_before_the_body_drops_the_rest_and_reads_the_next_request() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(
        b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabcd"
    )
    assert kinds(happened) == [RequestReceived, BodyReceived]
    response, _ = read_response(respond(conn, b"too late", status=413))
    assert response.status_code == 413
    happened = conn.receive_bytes(b"efghij" + b"GET /next HTTP/1.1\r\nhost: t\r\n\r\n")
    assert kinds(happened) == [RequestReceived, RequestComplete]
    assert isinstance(happened[0], RequestReceived)
    assert happened[0].scope["path"] == "/next"


def test_app_answering_before_the_body_keeps_the_connection_alive() -> None:
    conn = make_connection()
    conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n")
    respond(conn)
    assert conn.keep_alive
    assert conn.receive_bytes(b"0123456789") == []


# --- responses out ---------------------------------------------------------------------------


def test_response_start_alone_produces_no_bytes() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    assert conn.send(start()) == b""


def test_response_with_one_body_message_gets_content_length_in_one_bytes_value() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start(200, [(b"content-type", b"text/plain")]))
    data = conn.send(body(b"hello"))
    head, _, content = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"\r\ncontent-length: 5" in head
    assert b"transfer-encoding" not in head
    assert content == b"hello"


def test_content_length_from_the_app_is_kept_not_doubled() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start(200, [(b"Content-Length", b"5")]))
    data = conn.send(body(b"hello"))
    assert data.lower().count(b"content-length") == 1


def test_streamed_response_uses_chunked_framing() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start())
    data = conn.send(body(b"hello", more_body=True))
    assert b"\r\ntransfer-encoding: chunked\r\n" in data.lower()
    assert b"content-length" not in data.lower()
    assert data.endswith(b"\r\n\r\n5\r\nhello\r\n")
    assert conn.send(body(b"", more_body=True)) == b""
    assert conn.send(body(b"!")) == b"1\r\n!\r\n0\r\n\r\n"


def test_streamed_response_reads_back_whole() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    data = conn.send(start())
    for piece in (b"a", b"bc", b"", b"def"):
        data += conn.send(body(piece, more_body=True))
    data += conn.send(body())
    assert read_response(data)[1] == b"abcdef"


def test_head_response_has_no_body_bytes() -> None:
    conn = make_connection()
    conn.receive_bytes(b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n")
    conn.send(start(200, [(b"content-length", b"5")]))
    data = conn.send(body(b"hello"))
    assert data.endswith(b"\r\n\r\n")
    assert b"hello" not in data
    assert read_response(data, method=b"HEAD")[1] == b""


def test_streamed_head_response_has_no_body_bytes() -> None:
    conn = make_connection()
    conn.receive_bytes(b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n")
    conn.send(start())
    data = conn.send(body(b"hello", more_body=True)) + conn.send(body(b"world"))
    assert data.endswith(b"\r\n\r\n")
    assert b"hello" not in data
    assert b"world" not in data


def test_head_response_with_an_empty_body_claims_no_content_length() -> None:
    conn = make_connection()
    conn.receive_bytes(b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n")
    conn.send(start(200, [(b"content-type", b"text/plain")]))
    data = conn.send(body(b""))
    assert b"content-length: 0" not in data


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_status_has_no_body_bytes_and_no_content_length(status: int) -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start(status))
    data = conn.send(body(b"ignored"))
    assert data.startswith(b"HTTP/1.1 %d" % status)
    assert data.endswith(b"\r\n\r\n")
    assert b"ignored" not in data
    assert b"content-length" not in data
    assert b"transfer-encoding" not in data


def test_default_headers_add_date_server_and_configured_headers() -> None:
    config = Config(app="x:y", headers=(("X-Powered-By", "ferry"),))
    defaults = DefaultHeaders(config)
    defaults.set_date(DATE)
    conn = HTTPConnection(config, client=CLIENT, server=SERVER, default_headers=defaults)
    conn.receive_bytes(GET)
    response, _ = read_response(respond(conn))
    assert header(response, b"date") == DATE
    assert header(response, b"server") == b"ferry"
    assert header(response, b"x-powered-by") == b"ferry"


def test_new_date_is_used_by_the_next_response() -> None:
    config = Config(app="x:y")
    defaults = DefaultHeaders(config)
    defaults.set_date(DATE)
    conn = HTTPConnection(config, client=CLIENT, server=SERVER, default_headers=defaults)
    conn.receive_bytes(GET + GET)
    respond(conn)
    conn.next_events()
    defaults.set_date(b"Sun, 22 Nov 2026 00:00:00 GMT")
    response, _ = read_response(respond(conn))
    assert header(response, b"date") == b"Sun, 22 Nov 2026 00:00:00 GMT"


def test_server_and_date_headers_can_be_turned_off() -> None:
    config = Config(app="x:y", server_header=False, date_header=False)
    defaults = DefaultHeaders(config)
    defaults.set_date(DATE)
    conn = HTTPConnection(config, client=CLIENT, server=SERVER, default_headers=defaults)
    conn.receive_bytes(GET)
    response, _ = read_response(respond(conn))
    assert header(response, b"date") is None
    assert header(response, b"server") is None
    assert b"date:" not in conn.canned(500)


def test_canned_response_carries_the_current_date() -> None:
    config = Config(app="x:y")
    defaults = DefaultHeaders(config)
    defaults.set_date(DATE)
    conn = HTTPConnection(config, client=CLIENT, server=SERVER, default_headers=defaults)
    assert b"\r\ndate: " + DATE + b"\r\n" in conn.canned(503)


def test_canned_response_before_any_date_has_no_empty_date_field() -> None:
    assert b"date: \r\n" not in make_connection().canned(500)


# --- the app's mistakes ----------------------------------------------------------------------


def test_body_before_start_names_the_expected_start() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    with pytest.raises(ASGIProtocolError, match=re.escape("Expected 'http.response.start'")):
        conn.send(body(b"hi"))


def test_second_start_names_the_expected_body() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start())
    with pytest.raises(ASGIProtocolError, match=re.escape("Expected 'http.response.body'")):
        conn.send(start())


def test_second_start_after_body_bytes_names_the_expected_body() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start())
    conn.send(body(b"a", more_body=True))
    with pytest.raises(ASGIProtocolError, match=re.escape("Expected 'http.response.body'")):
        conn.send(start())


def test_body_after_the_response_is_complete_is_refused() -> None:
    conn = make_connection()
    conn.receive_bytes(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    respond(conn)
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        conn.send(body(b"more"))


def test_unknown_message_type_names_both_expected_types() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    with pytest.raises(
        ASGIProtocolError, match=re.escape("Expected 'http.response.start' or 'http.response.body'")
    ):
        conn.send({"type": "websocket.send", "text": "hi"})


@pytest.mark.parametrize("status", [99, 100, 199, 600, "200", None])
def test_start_with_a_bad_status_is_refused(status: object) -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    with pytest.raises(ASGIProtocolError, match="'status'"):
        conn.send({"type": "http.response.start", "status": status})


@pytest.mark.parametrize(
    "bad_header",
    [("content-type", b"text/plain"), (b"content-type", "text/plain"), (b"x",)],
)
def test_start_with_headers_that_are_not_bytes_pairs_is_refused(bad_header: object) -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    with pytest.raises(ASGIProtocolError, match="headers must be"):
        conn.send({"type": "http.response.start", "status": 200, "headers": [bad_header]})


def test_start_with_a_header_that_is_not_a_sequence_is_refused() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    with pytest.raises(ASGIProtocolError, match="headers must be"):
        conn.send({"type": "http.response.start", "status": 200, "headers": [None]})


def test_body_that_is_not_bytes_is_refused() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start())
    with pytest.raises(ASGIProtocolError, match="'body' to be bytes"):
        conn.send({"type": "http.response.body", "body": "text"})


def test_more_body_than_the_declared_content_length_is_refused() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start(200, [(b"content-length", b"2")]))
    with pytest.raises(ASGIProtocolError, match="Invalid response body"):
        conn.send(body(b"too long"))


@pytest.mark.parametrize(
    "injected",
    [
        (b"x-note", b"a\r\nset-cookie: evil=1"),
        (b"x-note", b"a\nset-cookie: evil=1"),
        (b"x-note", b"a\rset-cookie: evil=1"),
        (b"x-note\r\nset-cookie", b"evil=1"),
    ],
)
def test_cr_or_lf_in_a_header_is_refused_and_nothing_is_written(
    injected: tuple[bytes, bytes],
) -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    written = conn.send(start(200, [injected]))
    with pytest.raises(ASGIProtocolError, match="Invalid response header"):
        written += conn.send(body(b"hi"))
    assert b"evil" not in written
    with pytest.raises(ASGIProtocolError):
        conn.send(body(b"hi"))


def test_headers_given_as_an_iterator_are_written() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send({"type": "http.response.start", "status": 200, "headers": iter([(b"x-a", b"1")])})
    response, _ = read_response(conn.send(body(b"hi")))
    assert header(response, b"x-a") == b"1"


# --- the client's mistakes and limits --------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host (RFC 9112 section 3.2)
        b"GET / HTTP/1.1\r\nhost: t\r\nbad header\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: t\r\ncontent-length: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
    ],
    ids=[
        "request-line",
        "no-host",
        "header-line",
        "content-length",
        "two-content-lengths",
    ],
)
def test_malformed_request_is_rejected_with_a_canned_400(request_bytes: bytes) -> None:
    happened = make_connection().receive_bytes(request_bytes)
    assert kinds(happened) == [Rejected]
    rejected = happened[0]
    assert isinstance(rejected, Rejected)
    assert rejected.status == 400
    assert rejected.data.startswith(b"HTTP/1.1 400")
    assert b"\r\nconnection: close\r\n" in rejected.data


def test_unknown_transfer_coding_is_rejected_with_a_canned_501() -> None:
    # RFC 9112 section 6.1: a transfer coding the server does not understand.
    conn = make_connection()
    [rejected] = conn.receive_bytes(
        b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip\r\n\r\n"
    )
    assert isinstance(rejected, Rejected)
    assert rejected.status == 501
    assert rejected.data.startswith(b"HTTP/1.1 501")


def test_malformed_chunk_size_after_the_head_is_rejected_with_400_left_to_the_adapter() -> None:
    # The request was handed to the app, which may be answering: the adapter decides
    # whether the canned 400 can still be written.
    conn = make_connection()
    head = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    assert kinds(conn.receive_bytes(head)) == [RequestReceived]
    [rejected] = conn.receive_bytes(b"zz\r\n")
    assert isinstance(rejected, Rejected)
    assert rejected.status == 400
    assert rejected.data == b""


def test_protocol_error_after_the_response_started_gives_no_bytes() -> None:
    conn = make_connection()
    head = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    conn.receive_bytes(head)
    conn.send(start())
    conn.send(body(b"partial", more_body=True))
    [rejected] = conn.receive_bytes(b"zz\r\n")
    assert isinstance(rejected, Rejected)
    assert (rejected.status, rejected.data) == (400, b"")


def test_request_head_over_max_header_bytes_is_rejected_with_431() -> None:
    conn = make_connection(max_header_bytes=1024)
    happened = conn.receive_bytes(b"GET / HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 2000)
    assert kinds(happened) == [Rejected]
    rejected = happened[0]
    assert isinstance(rejected, Rejected)
    assert rejected.status == 431
    assert rejected.data.startswith(b"HTTP/1.1 431")


def test_request_head_under_max_header_bytes_is_accepted() -> None:
    conn = make_connection(max_header_bytes=1024)
    happened = conn.receive_bytes(
        b"GET / HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 900 + b"\r\n\r\n"
    )
    assert kinds(happened) == [RequestReceived, RequestComplete]


def test_declared_content_length_over_the_limit_is_rejected_with_413_before_the_request() -> None:
    conn = make_connection(max_body_bytes=100)
    happened = conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 101\r\n\r\n")
    assert kinds(happened) == [Rejected]
    rejected = happened[0]
    assert isinstance(rejected, Rejected)
    assert rejected.status == 413
    assert rejected.data.startswith(b"HTTP/1.1 413")


def test_declared_content_length_at_the_limit_is_accepted() -> None:
    conn = make_connection(max_body_bytes=5)
    happened = conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello")
    assert kinds(happened) == [RequestReceived, BodyReceived, RequestComplete]


def test_streamed_body_over_the_limit_is_rejected_with_413() -> None:
    conn = make_connection(max_body_bytes=8)
    head = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    assert kinds(conn.receive_bytes(head + b"5\r\nhello\r\n")) == [RequestReceived, BodyReceived]
    happened = conn.receive_bytes(b"5\r\nworld\r\n")
    assert kinds(happened) == [Rejected]
    rejected = happened[0]
    assert isinstance(rejected, Rejected)
    assert rejected.status == 413
    assert rejected.data == b""  # the adapter writes the 413 if the app has written nothing


def test_max_body_bytes_0_means_no_limit() -> None:
    conn = make_connection(max_body_bytes=0)
    content = b"x" * 100_000
    happened = conn.receive_bytes(
        b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n" % len(content) + content
    )
    assert kinds(happened)[-1] is RequestComplete
    assert b"".join(e.body for e in happened if isinstance(e, BodyReceived)) == content


# --- keep-alive ------------------------------------------------------------------------------


def test_http_1_1_request_keeps_the_connection_alive() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    respond(conn)
    assert conn.keep_alive


def test_connection_close_from_the_client_ends_keep_alive() -> None:
    conn = make_connection()
    conn.receive_bytes(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    assert not conn.keep_alive
    response, _ = read_response(respond(conn))
    assert header(response, b"connection") == b"close"
    assert not conn.keep_alive


def test_http_1_0_request_ends_keep_alive() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(b"GET / HTTP/1.0\r\n\r\n")
    assert isinstance(happened[0], RequestReceived)
    assert happened[0].scope["http_version"] == "1.0"
    assert not conn.keep_alive
    data = respond(conn)
    assert data.startswith(b"HTTP/1.1 200")
    assert not conn.keep_alive


def test_connection_close_from_the_app_ends_keep_alive() -> None:
    conn = make_connection()
    conn.receive_bytes(GET)
    conn.send(start(200, [(b"connection", b"close")]))
    conn.send(body(b"bye"))
    assert not conn.keep_alive


# --- 100-continue ----------------------------------------------------------------------------


def test_expect_100_continue_is_reported_until_100_continue_is_sent() -> None:
    conn = make_connection()
    head = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n"
    assert kinds(conn.receive_bytes(head)) == [RequestReceived]
    assert conn.awaits_100_continue
    assert conn.send_100_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.awaits_100_continue
    assert kinds(conn.receive_bytes(b"ok")) == [BodyReceived, RequestComplete]


def test_request_without_expect_does_not_await_100_continue() -> None:
    conn = make_connection()
    conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n")
    assert not conn.awaits_100_continue


# --- any bytes at all ------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /a%2Fb?x=%zz HTTP/1.1\r\n",
        b"HEAD http://example.com/ HTTP/1.1\r\n",
        b"GET / HTTP/1.0\r\n",
        b"host: t\r\n",
        b"content-length: 3\r\n",
        b"content-length: 99999999999999999999\r\n",
        b"transfer-encoding: chunked\r\n",
        b"transfer-encoding: gzip, chunked\r\n",
        b"expect: 100-continue\r\n",
        b"connection: close\r\n",
        b"x-forwarded-for: 203.0.113.7, [::1]:80, unknown\r\n",
        b'forwarded: for="[2001:db8::1]:4711";proto=https, for=_hidden\r\n',
        b"x-forwarded-proto: https\r\n",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"ffffffff\r\n",
        b"\r\n",
        b"abc",
        b" ",
        b":",
        b"\x00",
        b"\xff\xfe",
    ]
)
_CLIENT_BYTES = st.one_of(
    st.binary(min_size=1, max_size=512),
    st.lists(_FRAGMENTS, min_size=1, max_size=24).map(b"".join),
)


@given(
    data=_CLIENT_BYTES,
    cuts=st.lists(st.integers(0, 4096), max_size=12),
    answer_early=st.booleans(),
    send_eof=st.booleans(),
)
def test_any_bytes_in_any_pieces_yield_only_events_never_an_exception(
    data: bytes, cuts: list[int], answer_early: bool, send_eof: bool
) -> None:
    # The adapter's part, reduced: answer each request (at once, or once its body is in),
    # pick up pipelined requests, and stop after a rejection or a close.
    conn = make_connection(max_header_bytes=256, max_body_bytes=64)
    answered = True

    def handle(happened: list[Happened]) -> bool:
        nonlocal answered
        pending = list(happened)
        # A rejection ends the connection before the app of a request in the same batch
        # could answer: the adapter disconnects that request's cycle first.
        rejected = any(isinstance(event, Rejected) for event in pending)
        while pending:
            event = pending.pop(0)
            assert isinstance(event, EVENT_TYPES)
            if isinstance(event, Rejected | ClientClosed):
                if isinstance(event, Rejected):
                    assert event.status in (400, 413, 431, 501)
                    assert not event.data or event.data.startswith(b"HTTP/1.1 %d" % event.status)
                return False
            if isinstance(event, RequestReceived):
                answered = False
            if rejected:
                continue
            if not answered and (answer_early or isinstance(event, RequestComplete)):
                answered = True
                respond(conn, b"ok")
                if not conn.keep_alive:
                    return False
                if conn.has_buffered_bytes:
                    more = conn.next_events()
                    rejected = any(isinstance(event, Rejected) for event in more)
                    pending += more
        return True

    for piece in _split(data, cuts):
        if not handle(conn.receive_bytes(piece)):
            return
    if send_eof:
        handle(conn.receive_eof())


def test_a_header_the_app_sets_replaces_the_default_of_the_same_name() -> None:
    conn = make_connection(headers=(("x-frame-options", "DENY"),))
    conn.default_headers.set_date(b"Sat, 21 Nov 2026 15:00:00 GMT")
    conn.receive_bytes(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
    data = conn.send(start(headers=[(b"Server", b"mine"), (b"x-frame-options", b"SAMEORIGIN")]))
    data += conn.send(body(b"hi"))
    response, content = read_response(data)
    assert [value for name, value in response.headers if name == b"server"] == [b"mine"]
    assert [value for name, value in response.headers if name == b"x-frame-options"] == [
        b"SAMEORIGIN"
    ]
    assert [value for name, value in response.headers if name == b"date"] == [
        b"Sat, 21 Nov 2026 15:00:00 GMT"
    ]
    assert content == b"hi"


def test_a_body_starting_with_a_space_after_a_head_split_at_its_end_is_not_obs_fold() -> None:
    conn = make_connection()
    head = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r"
    assert conn.receive_bytes(head) == []
    happened = conn.receive_bytes(b"\n ab")
    assert kinds(happened) == [RequestReceived, BodyReceived, RequestComplete]


def test_obs_fold_split_across_pieces_is_still_refused() -> None:
    conn = make_connection()
    assert conn.receive_bytes(b"GET / HTTP/1.1\r\nhost: t\r\nx-a: one\r\n") == []
    [rejected] = conn.receive_bytes(b" two\r\n\r\n")
    assert isinstance(rejected, Rejected)
    assert rejected.status == 400
