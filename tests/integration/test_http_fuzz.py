"""Any bytes a client sends get a response with a status, or a close; never a hang, never a crash.

One server serves every example. The client writes its bytes (in random pieces), then
half-closes, so a request cut short is complete as far as it will ever be; the server then
owes it an answer or a close at once. After each example a fresh connection must still get
200, and nothing may have been logged as an error: an exception inside the server would
otherwise look like a plain close from outside.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.integration.http_helpers import (
    ResponseReader,
    connect,
    get_status,
    read_body,
    read_until_closed,
    respond,
    serve,
    status_of,
)
from tests.strategies import framed_requests, in_pieces, mutated_requests, raw_bytes

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope

SOCKET_TIMEOUT_S = 2.0
# The app answers 200; the server itself answers 400 (malformed), 413 (body over the limit),
# 431 (head over the limit), 501 (a transfer coding other than chunked) and 505 (not HTTP/1.x).
EXPECTED_STATUSES = {200, 400, 413, 431, 501, 505}

fuzz_settings = settings(max_examples=60, deadline=None)


async def body_echo(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    await respond(send, await read_body(receive))


class Errors(logging.Handler):
    """Collects the records at ERROR and above of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server_errors() -> Iterator[Errors]:
    handler = Errors()
    # "ferry.error" has the app's and the server's exceptions; "asyncio" has an exception
    # raised in a protocol callback, after which asyncio quietly closes the connection.
    loggers = [logging.getLogger("ferry.error"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture(scope="module")
def url(server_errors: Errors) -> Iterator[str]:
    with serve(
        body_echo,
        max_header_bytes=4096,
        max_body_bytes=64 * 1024,
        timeout_header_s=1.0,
        timeout_keep_alive_s=1.0,
    ) as base_url:
        yield base_url


def send_then_half_close(url: str, pieces: list[bytes]) -> bytes:
    """Write each piece, shut the sending side, and return all the server writes back."""
    with connect(url, SOCKET_TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            # The server has answered and closed already; what it wrote is still readable.
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise
        # A hang shows up here as TimeoutError after SOCKET_TIMEOUT_S.
        return read_until_closed(sock)


def check_answer(url: str, server_errors: Errors, pieces: list[bytes]) -> None:
    data = send_then_half_close(url, pieces)

    assert data == b"" or status_of(data) in EXPECTED_STATUSES, data[:200]
    assert server_errors.records == [], [record.getMessage() for record in server_errors.records]
    assert get_status(url) == 200


@fuzz_settings
@given(pieces=raw_bytes().flatmap(in_pieces))
def test_random_bytes_get_a_status_or_a_close_and_the_server_keeps_serving(
    url: str, server_errors: Errors, pieces: list[bytes]
) -> None:
    check_answer(url, server_errors, pieces)


@fuzz_settings
@given(pieces=mutated_requests().flatmap(in_pieces))
def test_mutated_requests_get_a_status_or_a_close_and_the_server_keeps_serving(
    url: str, server_errors: Errors, pieces: list[bytes]
) -> None:
    check_answer(url, server_errors, pieces)


@fuzz_settings
@given(framed=framed_requests(), data=st.data())
def test_valid_request_sent_in_random_pieces_gets_200_with_its_body(
    url: str, server_errors: Errors, framed: tuple[bytes, bytes], data: st.DataObject
) -> None:
    request, body = framed
    method = request.split(b" ", 1)[0]
    with connect(url, SOCKET_TIMEOUT_S) as sock:
        for piece in data.draw(in_pieces(request)):
            sock.sendall(piece)
        response = ResponseReader(sock).read(method)

    assert response.status == 200
    if method == b"HEAD":
        # No body; a Content-Length, if any, is the one a GET would have had.
        assert response.body == b""
        assert response.header(b"content-length") in (None, b"%d" % len(body))
    else:
        assert response.body == body
    assert server_errors.records == []
