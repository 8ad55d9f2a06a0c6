"""The two request readers of one HTTPConnection, and the hand-over between them.

A plain HTTP/1.1 head that arrived whole is read by Ferry's own reader; any other request
(a head still arriving, a chunked body, HTTP/1.0, an upgrade, anything malformed) by an h11
connection made for it, which hands the bytes after that request back once its response is
done. These tests drive one connection the way the adapter in `protocol.py` does, sans-IO:
requests pipelined in one read, split at any point, answered early or late, with the client
closing its side; the `parse` trace waypoint tells which reader read each request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.server.sansio import read_response
from tests.strategies import framed_requests, header_blocks, in_pieces, request_lines

from ferry.server.config import Config
from ferry.server.connection import (
    BodyReceived,
    ClientClosed,
    Happened,
    HTTPConnection,
    Rejected,
    RequestComplete,
    RequestReceived,
)
from ferry.server.trace import ConnectionTrace, RequestTrace
from ferry.server.types import HTTPScope, Message

CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8000)

PLAIN_A = b"GET /a HTTP/1.1\r\nhost: t\r\n\r\n"
PLAIN_C = b"POST /c?x=1 HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello"
CHUNKED_B = (
    b"POST /b HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
)
HTTP_10 = b"GET /old HTTP/1.0\r\nhost: t\r\n\r\n"


def make_connection(**options: Any) -> HTTPConnection:
    conn = HTTPConnection(Config(app="x:y", **options), client=CLIENT, server=SERVER)
    conn.trace = ConnectionTrace(lambda trace: None, root=os.getcwd())
    return conn


def start(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes = b"", more_body: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more_body}


def answer(conn: HTTPConnection, status: int = 200, content: bytes = b"ok") -> bytes:
    """Answer the current request in one body message, and end its trace as the adapter does."""
    data = conn.send(start(status)) + conn.send(body(content))
    assert conn.trace is not None
    conn.trace.finish(deliver=True)
    return data


def kinds(happened: list[Happened]) -> list[type]:
    return [type(event) for event in happened]


def reader_of(scope: HTTPScope) -> object:
    """Which reader read the request of `scope`: the `reader` fact of its `parse` waypoint."""
    trace = scope["ferry.trace"]  # type: ignore[typeddict-item]
    assert isinstance(trace, RequestTrace)
    parse = trace.first("parse")
    assert parse is not None
    return parse.facts["reader"]


# --- the adapter's part, reduced ----------------------------------------------------------------


@dataclass
class Seen:
    """One request as the app saw it."""

    method: str
    path: str
    query_string: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    reader: object
    body: bytes = b""
    complete: bool = False

    def without_reader(self) -> tuple[object, ...]:
        return (self.method, self.path, self.query_string, self.http_version, self.headers)


@dataclass
class Server:
    """One connection and an app that answers each request with `n:<body>` and a 200.

    Bytes go in through `feed()`, the client's close through `eof()`. The app answers in
    `settle()`: once a request's body is complete or, with `answer_early`, as soon as the
    request arrived. With `eager` it answers at once after each `feed()`, else only when
    the test calls `settle()`, so bytes and the close can pile up while a request waits.
    As the adapter does, it reads on after each response only if the connection stays
    alive, and stops at a rejection.
    """

    answer_early: bool = False
    eager: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    conn: HTTPConnection = field(init=False)
    requests: list[Seen] = field(default_factory=list)  # answered, in order
    responses: list[bytes] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    closed: bool = False  # ClientClosed was reported
    stopped: bool = False  # the adapter would have closed the transport
    current: Seen | None = None

    def __post_init__(self) -> None:
        self.conn = make_connection(**self.options)

    def feed(self, data: bytes) -> None:
        if not self.stopped:
            self.take(self.conn.receive_bytes(data))
            if self.eager:
                self.settle()

    def eof(self) -> None:
        if not self.stopped:
            self.take(self.conn.receive_eof())
            if self.eager:
                self.settle()

    def take(self, happened: list[Happened]) -> None:
        for event in happened:
            if isinstance(event, RequestReceived):
                assert self.current is None, "a second request while one is in flight"
                scope = event.scope
                self.current = Seen(
                    scope["method"],
                    scope["path"],
                    scope["query_string"],
                    scope["http_version"],
                    list(scope["headers"]),
                    reader_of(scope),
                )
            elif isinstance(event, BodyReceived):
                assert self.current is not None, "a body piece with no request in flight"
                assert not self.current.complete
                assert event.body
                self.current.body += event.body
            elif isinstance(event, RequestComplete):
                assert self.current is not None, "a request completed with none in flight"
                self.current.complete = True
            elif isinstance(event, Rejected):
                self.rejected.append(event)
                self.stopped = True
                return
            else:
                assert isinstance(event, ClientClosed)
                assert not self.closed
                self.closed = True
                if self.current is None:
                    self.stopped = True
                    return

    def settle(self) -> None:
        while not self.stopped and self.current is not None:
            seen = self.current
            if not (seen.complete or self.answer_early):
                return
            conn = self.conn
            self.current = None
            n = len(self.requests)
            data = conn.send(start(200, [(b"x-n", b"%d" % n)]))
            data += conn.send(body(b"%d:%s" % (n, seen.body)))
            self.requests.append(seen)
            self.responses.append(data)
            assert conn.trace is not None
            conn.trace.finish(deliver=True)
            if not conn.keep_alive:
                self.stopped = True
                return
            if conn.has_buffered_bytes:
                self.take(conn.next_events())

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    @property
    def readers(self) -> list[object]:
        return [seen.reader for seen in self.requests]

    @property
    def bodies(self) -> list[bytes]:
        return [seen.body for seen in self.requests]


def served(*pieces: bytes, eof: bool = False, **server: Any) -> Server:
    peer = Server(**server)
    for piece in pieces:
        peer.feed(piece)
    if eof:
        peer.eof()
    peer.settle()
    return peer


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# --- the hand-over, by example ----------------------------------------------------------------


def test_plain_chunked_plain_pipelined_in_one_read_are_read_by_ferry_h11_ferry() -> None:
    peer = served(PLAIN_A + CHUNKED_B + PLAIN_C)
    assert peer.paths == ["/a", "/b", "/c"]
    assert peer.readers == ["ferry", "h11", "ferry"]
    assert peer.bodies == [b"", b"abcde", b"hello"]
    assert peer.requests[2].query_string == b"x=1"
    assert not peer.rejected
    assert not peer.stopped
    for n, data in enumerate(peer.responses):
        response, content = read_response(data)
        assert response.status_code == 200
        assert content == b"%d:%s" % (n, peer.bodies[n])
    assert peer.conn.keep_alive
    assert peer.conn.is_idle
    assert not peer.conn.has_buffered_bytes


@pytest.mark.parametrize("eager", [True, False], ids=["answered-at-once", "answered-late"])
def test_plain_chunked_plain_sent_byte_by_byte(eager: bool) -> None:
    # A head that arrives in pieces is h11's to read, whoever reads the next one.
    peer = served(*one_byte_at_a_time(PLAIN_A + CHUNKED_B + PLAIN_C), eager=eager)
    assert peer.paths == ["/a", "/b", "/c"]
    assert peer.bodies == [b"", b"abcde", b"hello"]
    assert not peer.rejected
    if eager:
        assert peer.readers == ["h11", "h11", "h11"]
    else:
        # The first one trickled in; the rest waited whole in the buffer.
        assert peer.readers == ["h11", "h11", "ferry"]
    assert peer.conn.is_idle


def test_chunked_then_plain_then_chunked_hand_back_and_forth() -> None:
    peer = served(CHUNKED_B + PLAIN_A + CHUNKED_B + CHUNKED_B + PLAIN_C + PLAIN_A)
    assert peer.readers == ["h11", "ferry", "h11", "h11", "ferry", "ferry"]
    assert peer.bodies == [b"abcde", b"", b"abcde", b"abcde", b"hello", b""]


def test_head_split_over_two_reads_is_read_by_h11_and_the_next_one_by_ferry() -> None:
    first = b"GET /split HTTP/1.1\r\nhost: t\r\nx-a: 1\r\n\r\n"
    for cut in (3, 17, len(first) - 2, len(first) - 1):
        peer = Server(eager=False)
        peer.feed(first[:cut])
        assert peer.current is None
        assert not peer.conn.is_idle
        peer.feed(first[cut:] + PLAIN_A)
        assert peer.current is not None
        assert peer.current.path == "/split"
        peer.settle()
        assert peer.paths == ["/split", "/a"]
        assert peer.readers == ["h11", "ferry"]
        assert peer.requests[0].headers == [(b"host", b"t"), (b"x-a", b"1")]


def test_head_split_then_plain_sent_in_a_later_read() -> None:
    peer = served(b"GET /split HTTP/1.1\r\nho", b"st: t\r\n\r\n", PLAIN_A, PLAIN_C)
    assert peer.readers == ["h11", "ferry", "ferry"]
    assert peer.bodies == [b"", b"", b"hello"]


def test_http_1_0_after_plain_requests_is_read_by_h11_and_ends_the_connection() -> None:
    peer = served(PLAIN_A + CHUNKED_B + HTTP_10)
    assert peer.paths == ["/a", "/b", "/old"]
    assert peer.readers == ["ferry", "h11", "h11"]
    assert peer.requests[2].http_version == "1.0"
    assert peer.stopped
    assert not peer.conn.keep_alive
    response, _ = read_response(peer.responses[2])
    assert (b"connection", b"close") in list(response.headers)


# --- the client closing its side ----------------------------------------------------------------


def test_eof_in_the_middle_of_a_content_length_body_on_the_fast_path_is_a_400() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabc")
    assert kinds(happened) == [RequestReceived, BodyReceived]
    [received, _] = happened
    assert isinstance(received, RequestReceived)
    assert reader_of(received.scope) == "ferry"
    [rejected] = conn.receive_eof()
    assert isinstance(rejected, Rejected)
    assert rejected.status == 400
    assert rejected.data == b""  # the request is the app's: the adapter decides what to write
    assert not conn.keep_alive


def test_eof_in_the_middle_of_a_content_length_body_read_by_h11_is_a_400_too() -> None:
    conn = make_connection()
    assert conn.receive_bytes(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-") == []
    happened = conn.receive_bytes(b"length: 10\r\n\r\nabc")
    assert kinds(happened) == [RequestReceived, BodyReceived]
    [rejected] = conn.receive_eof()
    assert isinstance(rejected, Rejected)
    assert (rejected.status, rejected.data) == (400, b"")
    assert not conn.keep_alive


def test_eof_in_the_middle_of_a_chunked_body_is_a_400() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(CHUNKED_B[:-7])
    assert kinds(happened)[0] is RequestReceived
    assert set(kinds(happened)[1:]) == {BodyReceived}
    [rejected] = conn.receive_eof()
    assert isinstance(rejected, Rejected)
    assert (rejected.status, rejected.data) == (400, b"")


@pytest.mark.parametrize(
    "pipelined",
    [PLAIN_A, CHUNKED_B, PLAIN_C, PLAIN_A + CHUNKED_B, CHUNKED_B + PLAIN_C, HTTP_10],
    ids=["plain", "chunked", "content-length", "plain+chunked", "chunked+plain", "http/1.0"],
)
@pytest.mark.parametrize("first", [PLAIN_C, CHUNKED_B], ids=["first-plain", "first-chunked"])
def test_eof_after_a_complete_request_serves_the_pipelined_ones_then_closes(
    first: bytes, pipelined: bytes
) -> None:
    peer = Server(eager=False)
    peer.feed(first + pipelined)
    peer.eof()
    assert not peer.stopped
    assert peer.conn.keep_alive  # a request sent before the close is still to be served
    peer.settle()
    expected = served(first + pipelined)
    assert [seen.without_reader() for seen in peer.requests] == [
        seen.without_reader() for seen in expected.requests
    ]
    assert peer.bodies == expected.bodies
    assert peer.stopped
    assert not peer.rejected
    assert not peer.conn.keep_alive


@pytest.mark.parametrize("request_bytes", [PLAIN_A, PLAIN_C, CHUNKED_B, HTTP_10])
def test_eof_right_after_a_whole_request_is_reported_after_it(request_bytes: bytes) -> None:
    conn = make_connection()
    happened = conn.receive_bytes(request_bytes)
    assert kinds(happened)[0] is RequestReceived
    assert kinds(happened)[-1] is RequestComplete
    assert kinds(conn.receive_eof()) == [ClientClosed]
    assert read_response(answer(conn, content=b"late"))[1] == b"late"
    assert not conn.keep_alive


def test_eof_after_a_complete_request_with_half_a_request_pipelined_is_a_canned_400() -> None:
    peer = served(PLAIN_A + b"GET /b HTTP/1.1\r\nhost", eof=True, eager=False)
    assert peer.paths == ["/a"]
    [rejected] = peer.rejected
    assert rejected.status == 400
    assert rejected.data.startswith(b"HTTP/1.1 400 ")


# --- the app answering before the body ----------------------------------------------------------


def test_early_answer_on_the_fast_path_drops_the_rest_of_the_body() -> None:
    conn = make_connection()
    happened = conn.receive_bytes(b"POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabcd")
    assert kinds(happened) == [RequestReceived, BodyReceived]
    data = answer(conn, 413)
    assert read_response(data)[0].status_code == 413
    assert conn.keep_alive
    assert conn.receive_bytes(b"ef") == []
    happened = conn.receive_bytes(b"ghij" + CHUNKED_B)
    assert kinds(happened) == [RequestReceived, BodyReceived, BodyReceived, RequestComplete]
    received = happened[0]
    assert isinstance(received, RequestReceived)
    assert received.scope["path"] == "/b"
    assert reader_of(received.scope) == "h11"


def test_early_answer_on_the_fast_path_with_the_rest_already_pipelined() -> None:
    peer = served(
        b"POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabcdefghij" + PLAIN_A,
        answer_early=True,
    )
    assert peer.paths == ["/up", "/a"]
    assert peer.readers == ["ferry", "ferry"]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "split-head"])
def test_early_answer_on_the_h11_path_drops_the_rest_of_the_body(chunked: bool) -> None:
    conn = make_connection()
    if chunked:
        head = b"POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        first, rest = b"4\r\nabcd\r\n", b"6\r\nefghij\r\n0\r\n\r\n"
    else:
        # A plain head, but split in two: h11 reads it.
        assert conn.receive_bytes(b"POST /up H") == []
        head = b"TTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n"
        first, rest = b"abcd", b"efghij"
    happened = conn.receive_bytes(head + first)
    assert kinds(happened) == [RequestReceived, BodyReceived]
    received = happened[0]
    assert isinstance(received, RequestReceived)
    assert reader_of(received.scope) == "h11"
    answer(conn, 413)
    assert conn.keep_alive
    assert conn.receive_bytes(rest[:3]) == []
    happened = conn.receive_bytes(rest[3:] + PLAIN_A)
    assert kinds(happened) == [RequestReceived, RequestComplete]
    received = happened[0]
    assert isinstance(received, RequestReceived)
    assert received.scope["path"] == "/a"
    assert reader_of(received.scope) == "ferry"


# --- Expect: 100-continue -----------------------------------------------------------------------

_EXPECTING = {
    "fast-path": [
        b"POST /e HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
    ],
    "chunked": [
        b"POST /e HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n"
    ],
    "split-head": [
        b"POST /e HTTP/1.1\r\nhost: t\r\nexp",
        b"ect: 100-continue\r\ncontent-length: 4\r\n\r\n",
    ],
}
_EXPECTED_READER = {"fast-path": "ferry", "chunked": "h11", "split-head": "h11"}


def _expecting(case: str) -> tuple[HTTPConnection, bytes]:
    """A connection with an `Expect: 100-continue` request in, and the body it has coming.

    The first 5 bytes of the body carry some content whatever its framing.
    """
    conn = make_connection()
    *first, last = _EXPECTING[case]
    for piece in first:
        assert conn.receive_bytes(piece) == []
    happened = conn.receive_bytes(last)
    assert kinds(happened) == [RequestReceived]
    received = happened[0]
    assert isinstance(received, RequestReceived)
    assert reader_of(received.scope) == _EXPECTED_READER[case]
    return conn, (b"4\r\nbody\r\n0\r\n\r\n" if case == "chunked" else b"body")


@pytest.mark.parametrize("case", list(_EXPECTING))
def test_expect_100_continue_is_awaited_until_the_body_arrives(case: str) -> None:
    conn, content = _expecting(case)
    assert conn.awaits_100_continue
    happened = conn.receive_bytes(content[:5])
    assert kinds(happened)[0] is BodyReceived
    assert not conn.awaits_100_continue  # the client did not wait after all
    if content[5:]:  # never b"": h11 takes that for the client closing
        happened += conn.receive_bytes(content[5:])
    assert kinds(happened)[-1] is RequestComplete
    data = answer(conn)
    assert b"connection: close" not in data
    assert conn.keep_alive


@pytest.mark.parametrize("case", list(_EXPECTING))
def test_expect_100_continue_is_awaited_until_100_is_sent(case: str) -> None:
    conn, content = _expecting(case)
    assert conn.awaits_100_continue
    assert conn.send_100_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.awaits_100_continue
    happened = conn.receive_bytes(content + PLAIN_A)
    assert kinds(happened) == [BodyReceived, RequestComplete]
    assert happened[0] == BodyReceived(b"body")
    data = answer(conn)
    assert b"connection: close" not in data
    assert conn.keep_alive
    happened = conn.next_events()
    assert kinds(happened) == [RequestReceived, RequestComplete]


@pytest.mark.parametrize("case", list(_EXPECTING))
def test_final_response_before_the_body_closes_the_connection(case: str) -> None:
    # RFC 9110 §10.1.1: the client may or may not send the body now.
    conn, content = _expecting(case)
    data = answer(conn, 417)
    response, _ = read_response(data)
    assert response.status_code == 417
    assert [value for name, value in response.headers if name == b"connection"] == [b"close"]
    assert not conn.keep_alive
    assert not conn.awaits_100_continue
    # If the body comes anyway it is read and dropped; no request after it is served.
    assert conn.receive_bytes(content + PLAIN_A) == []
    assert not conn.keep_alive


@pytest.mark.parametrize("case", list(_EXPECTING))
def test_final_response_after_100_but_before_the_body_keeps_the_connection(case: str) -> None:
    conn, content = _expecting(case)
    conn.send_100_continue()
    data = answer(conn, 413)
    assert b"connection: close" not in data
    assert conn.keep_alive
    happened = conn.receive_bytes(content + PLAIN_A)
    assert kinds(happened) == [RequestReceived, RequestComplete]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST / HTTP/1.0\r\nhost: t\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\nexpect: 100-continue\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\nok",
        b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n"
        b"expect: 100-continue\r\n\r\n0\r\n\r\n",
    ],
    ids=["http/1.0", "no-body", "empty-body", "body-with-head", "empty-chunked"],
)
def test_expect_100_continue_is_not_awaited_when_no_body_is_to_come(request_bytes: bytes) -> None:
    conn = make_connection()
    conn.receive_bytes(request_bytes)
    assert not conn.awaits_100_continue


# --- obs-fold -----------------------------------------------------------------------------------

FOLDED = b"GET /folded HTTP/1.1\r\nhost: t\r\nx-a: one\r\n two\r\n\r\n"


@pytest.mark.parametrize(
    "folded",
    [
        FOLDED,
        FOLDED.replace(b"\r\n two", b"\r\n\ttwo"),
        b"GET /folded HTTP/1.1\r\nhost: t\r\n  t2\r\n\r\n",
        FOLDED.replace(b"\r\n", b"\n"),
        b"POST /folded HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n 2\r\n\r\n"
        b"0\r\n\r\n",
    ],
    ids=["space", "tab", "host", "bare-lf", "chunked"],
)
@pytest.mark.parametrize(
    "before", [b"", PLAIN_A, CHUNKED_B, PLAIN_A + CHUNKED_B], ids=["alone", "p", "c", "pc"]
)
@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_obs_fold_in_a_head_is_refused_with_400(folded: bytes, before: bytes, split: str) -> None:
    data = before + folded
    pieces = [data] if split == "whole" else one_byte_at_a_time(data)
    peer = served(*pieces)
    assert "/folded" not in peer.paths
    assert len(peer.requests) == before.count(b" HTTP/1.1\r\n")
    [rejected] = peer.rejected
    assert rejected.status == 400
    assert rejected.data.startswith(b"HTTP/1.1 400 ")
    assert b"two" not in rejected.data


def test_a_body_that_looks_like_obs_fold_is_not_refused() -> None:
    content = b"\r\n x\n\tyz\n \r\n"
    request = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n" % len(content) + content
    chunked = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(content), content)
    for data in (request, chunked, request + chunked + request):
        for pieces in ([data], one_byte_at_a_time(data)):
            peer = served(*pieces)
            assert not peer.rejected
            assert peer.bodies == [content] * data.count(b" HTTP/1.1\r\n")


# --- which reader read it -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "reader"),
    [
        (PLAIN_A, "ferry"),
        (PLAIN_C, "ferry"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "ferry"),
        (b"GET / HTTP/1.1\r\nhost: t\r\nx-a: \xe9t\xe9\r\n\r\n", "ferry"),
        (b"DELETE /x?y HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\n\r\n", "ferry"),
        (CHUNKED_B, "h11"),
        (HTTP_10, "h11"),
        (b"GET / HTTP/1.0\r\n\r\n", "h11"),
        (b"GET / HTTP/1.1\nhost: t\n\n", "h11"),
        (b"GET / HTTP/1.1\r\nhost: t\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n", "h11"),
        (b"GET http://t/ HTTP/1.1\r\nhost: t\r\n\r\n", "ferry"),
        (b"OPTIONS * HTTP/1.1\r\nhost: t\r\n\r\n", "ferry"),
        (b"GET / HTTP/1.1\r\nhost:t\r\ncontent-length: 0\r\ncontent-length: 0\r\n\r\n", "h11"),
    ],
)
def test_the_parse_waypoint_names_the_reader(request_bytes: bytes, reader: str) -> None:
    conn = make_connection()
    assert conn.trace is not None
    trace = conn.trace.current
    happened = conn.receive_bytes(request_bytes)
    received = happened[0]
    assert isinstance(received, RequestReceived), happened
    assert received.scope["ferry.trace"] is trace  # type: ignore[typeddict-item]
    parse = trace.first("parse")
    assert parse is not None
    assert parse.facts["reader"] == reader
    assert parse.facts["path"] == received.scope["path"]


def test_a_split_head_is_traced_as_read_by_h11() -> None:
    conn = make_connection()
    assert conn.receive_bytes(PLAIN_A[:-1]) == []
    [received, _] = conn.receive_bytes(PLAIN_A[-1:])
    assert isinstance(received, RequestReceived)
    assert reader_of(received.scope) == "h11"


# --- a request that closes the connection, with bytes after it --------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /last HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        pytest.param(
            b"GET /last HTTP/1.0\r\nhost: t\r\n\r\n",
        ),
        pytest.param(
            b"POST /last HTTP/1.1\r\nhost: t\r\nconnection: close\r\n"
            b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
    ],
    ids=["plain-close", "http/1.0", "chunked-close"],
)
def test_bytes_after_a_closing_request_are_ignored_and_the_request_is_answered(
    request_bytes: bytes,
) -> None:
    peer = served(request_bytes + PLAIN_A)
    assert peer.rejected == []
    assert peer.paths == ["/last"]
    assert peer.stopped
    assert not peer.conn.keep_alive


# --- any mix, in any pieces ---------------------------------------------------------------------


@st.composite
def request_mixes(draw: st.DrawFn) -> list[tuple[bytes, bytes, str]]:
    """Valid requests to pipeline: (bytes, body, reader when whole), maybe an HTTP/1.0 last."""
    mix = []
    for data, content in draw(st.lists(framed_requests(max_body_bytes=48), min_size=1, max_size=4)):
        head = data[: data.index(b"\r\n\r\n") + 2]
        chunked = b"\r\nTransfer-Encoding: chunked\r\n" in head
        mix.append((data, content, "h11" if chunked else "ferry"))
    if draw(st.booleans()):
        # HTTP/1.0 closes the connection after its response: it can only come last.
        line = draw(request_lines(http_versions=(b"1.0",)))
        mix.append((line + draw(header_blocks(max_fields=3)), b"", "h11"))
    return mix


@settings(max_examples=150, deadline=None)
@given(mix=request_mixes(), data=st.data())
def test_pipelined_requests_in_any_pieces_are_read_as_when_sent_one_at_a_time(
    mix: list[tuple[bytes, bytes, str]], data: st.DataObject
) -> None:
    alone = Server()
    for request, _, _ in mix:
        alone.feed(request)
        assert alone.current is None  # each one was answered before the next was sent
    assert not alone.rejected
    assert alone.bodies == [content for _, content, _ in mix]
    assert alone.readers == [reader for _, _, reader in mix]
    reference = [seen.without_reader() for seen in alone.requests]

    whole = b"".join(request for request, _, _ in mix)
    together = served(whole)
    assert not together.rejected
    assert [seen.without_reader() for seen in together.requests] == reference
    assert together.bodies == alone.bodies
    assert together.readers == alone.readers

    pieces = data.draw(in_pieces(whole, max_pieces=16), label="pieces")
    settle_after = data.draw(
        st.lists(st.booleans(), min_size=len(pieces), max_size=len(pieces)), label="settle"
    )
    answer_early = data.draw(st.booleans(), label="answer_early")
    eof = data.draw(st.booleans(), label="eof")
    split = Server(answer_early=answer_early, eager=False)
    for piece, settle in zip(pieces, settle_after, strict=True):
        split.feed(piece)
        if settle:
            split.settle()
    if eof:
        split.eof()
    split.settle()
    assert not split.rejected
    assert [seen.without_reader() for seen in split.requests] == reference
    if not answer_early:
        assert split.bodies == alone.bodies
    assert all(reader in ("ferry", "h11") for reader in split.readers)
    for seen, (_, _, reader) in zip(split.requests, mix, strict=True):
        if reader == "h11":
            assert seen.reader == "h11"  # chunked and HTTP/1.0 are always h11's
    last_closes = mix[-1][2] == "h11" and b" HTTP/1.0\r\n" in mix[-1][0]
    if last_closes:
        assert split.stopped
        assert not split.conn.keep_alive
    elif eof:
        # Every request was served; the close ends the connection after the last one.
        assert split.stopped
        assert not split.conn.keep_alive
    else:
        assert not split.stopped
        assert split.conn.is_idle
        assert split.conn.keep_alive
