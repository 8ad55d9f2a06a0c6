"""What the server refuses and when it gives up: malformed requests, limits, timeouts, flow control.

Every refusal is a canned response followed by a close, and the server goes on serving:
each test that expects one also checks that a fresh connection still gets 200.
"""

from __future__ import annotations

import asyncio
import select
import threading
import time
from typing import Any

import pytest
from tests.integration.http_helpers import (
    ResponseReader,
    connect,
    exchange,
    get_status,
    is_closed_by_server,
    ok_app,
    read_body,
    read_response,
    read_until_closed,
    respond,
    serve,
    status_of,
    wait_for,
    wait_until,
)

from ferry.server.types import ASGIApplication, ASGIReceiveCallable, ASGISendCallable, Scope

MIB = 1024 * 1024


def rejection(request: bytes, app: ASGIApplication = ok_app, **options: Any) -> bytes:
    """Everything the server writes back for `request` before it closes.

    Also checks that the server still answers a fresh connection afterwards.
    """
    with serve(app, **options) as url:
        with connect(url) as sock:
            sock.sendall(request)
            data = read_until_closed(sock)
        assert get_status(url) == 200
    return data


def length_echo(calls: list[Scope]) -> ASGIApplication:
    """An app that reads the whole body and answers with its length."""

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        calls.append(scope)
        body = await read_body(receive)
        await respond(send, b"%d" % len(body))

    return app


# --- malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    [
        b"GARBAGE",
        b"GET /",
        b"GET / HTTP/1.1 extra",
        b"GET  / HTTP/1.1",
        b"GET / HTTX/1.1",
        b"G\x00T / HTTP/1.1",
    ],
)
def test_malformed_request_line_gets_400_and_a_close(request_line: bytes) -> None:
    data = rejection(request_line + b"\r\nHost: test\r\n\r\n")

    assert status_of(data) == 400
    assert b"connection: close" in data.lower()


@pytest.mark.parametrize(
    "header_line",
    [b"Bad Name: v", b"Bad\x01Name: v", b"NoColon", b": no name", b"X-A : space before colon"],
)
def test_malformed_header_line_gets_400(header_line: bytes) -> None:
    data = rejection(b"GET / HTTP/1.1\r\nHost: test\r\n" + header_line + b"\r\n\r\n")

    assert status_of(data) == 400


def test_obs_fold_at_the_start_of_the_headers_gets_400() -> None:
    data = rejection(b"GET / HTTP/1.1\r\n Host: test\r\n\r\n")

    assert status_of(data) == 400


def test_obs_fold_continuing_a_header_gets_400() -> None:
    data = rejection(
        b"GET / HTTP/1.1\r\nHost: test\r\nX-A: one\r\n  two\r\nConnection: close\r\n\r\n"
    )

    assert status_of(data) == 400


def test_content_length_together_with_transfer_encoding_gets_400() -> None:
    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        length_echo([]),
    )

    assert status_of(data) == 400


def test_two_different_content_lengths_get_400() -> None:
    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        length_echo([]),
    )

    assert status_of(data) == 400


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX\r\n0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n"],
    ids=["size not hex", "data longer than its size", "negative size"],
)
def test_bad_chunk_framing_gets_400(chunks: bytes) -> None:
    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks,
        length_echo([]),
    )

    assert status_of(data) == 400


def test_transfer_encoding_other_than_chunked_gets_501() -> None:
    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n", length_echo([])
    )

    assert status_of(data) == 501


@pytest.mark.parametrize("version", [b"2.0", b"3.0", b"0.9"])
def test_request_line_with_an_http_version_other_than_1_x_gets_505(version: bytes) -> None:
    data = rejection(b"GET / HTTP/" + version + b"\r\nHost: test\r\n\r\n")

    assert status_of(data) == 505


def test_http_1_1_request_without_host_gets_400() -> None:
    assert status_of(rejection(b"GET / HTTP/1.1\r\n\r\n")) == 400


# --- size limits -----------------------------------------------------------------------------


def test_head_growing_over_max_header_bytes_gets_431() -> None:
    # The head never ends: the limit must be enforced while it is still arriving.
    data = rejection(
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 8192, max_header_bytes=4096
    )

    assert status_of(data) == 431


def test_complete_head_over_max_header_bytes_gets_431() -> None:
    data = rejection(
        b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n",
        max_header_bytes=4096,
    )

    assert status_of(data) == 431


def test_head_just_under_max_header_bytes_is_served() -> None:
    request = b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"

    with serve(ok_app, max_header_bytes=4096) as url:
        assert exchange(url, request).status == 200


def test_declared_body_over_max_body_bytes_gets_413_before_the_app_is_called() -> None:
    calls: list[Scope] = []

    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1001\r\n\r\n",
        length_echo(calls),
        max_body_bytes=1000,
    )

    assert status_of(data) == 413
    assert [scope["method"] for scope in calls] == ["GET"]  # only the fresh request after


def test_declared_body_at_max_body_bytes_is_served() -> None:
    with serve(length_echo([]), max_body_bytes=1000) as url:
        response = exchange(
            url, b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"a" * 1000
        )

    assert (response.status, response.body) == (200, b"1000")


def test_chunked_body_growing_over_max_body_bytes_gets_413() -> None:
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"

    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk * 2
        + b"0\r\n\r\n",
        length_echo([]),
        max_body_bytes=1500,
    )

    assert status_of(data) == 413


def test_default_max_body_bytes_is_10_mib() -> None:
    data = rejection(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % (10 * MIB + 1),
        length_echo([]),
    )

    assert status_of(data) == 413


def test_max_body_bytes_0_means_no_limit() -> None:
    size = 10 * MIB + 1

    with serve(length_echo([]), max_body_bytes=0) as url, connect(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % size)
        sock.sendall(b"a" * size)
        response = read_response(sock, b"POST")

    assert (response.status, response.body) == (200, b"%d" % size)


def test_request_over_limit_concurrency_gets_503_while_the_others_are_served() -> None:
    release = threading.Event()
    entered = threading.Event()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["path"] == "/block":
            entered.set()
            await wait_until(release)
        await respond(send)

    with serve(app, limit_concurrency=1) as url, connect(url) as blocked:
        blocked.sendall(b"GET /block HTTP/1.1\r\nHost: test\r\n\r\n")
        wait_for(entered)
        with connect(url) as refused:
            refused.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            data = read_until_closed(refused)
        release.set()
        blocked_status = read_response(blocked).status
        after_status = get_status(url)

    assert status_of(data) == 503
    assert (blocked_status, after_status) == (200, 200)


# --- timeouts --------------------------------------------------------------------------------


def test_head_not_complete_within_timeout_header_s_gets_408_then_a_close() -> None:
    with serve(ok_app, timeout_header_s=0.5) as url, connect(url) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n")
        data = read_until_closed(sock)
        elapsed = time.monotonic() - started

    assert status_of(data) == 408
    assert 0.4 <= elapsed < 2.0


def test_head_trickled_a_byte_at_a_time_still_times_out() -> None:
    # Slowloris: every byte arrives in time, the whole head never does.
    head = b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 200
    with serve(ok_app, timeout_header_s=0.5) as url, connect(url) as sock:
        started = time.monotonic()
        for byte in head:
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                break
            sock.sendall(bytes([byte]))
        data = read_until_closed(sock)
        elapsed = time.monotonic() - started

    assert status_of(data) == 408
    assert elapsed < 2.0


def test_idle_keep_alive_connection_is_closed_after_timeout_keep_alive_s() -> None:
    with serve(ok_app, timeout_keep_alive_s=0.5) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(sock).status == 200
        idle_since = time.monotonic()
        closed = is_closed_by_server(sock, 3.0)
        elapsed = time.monotonic() - idle_since

    assert closed
    assert 0.4 <= elapsed < 2.0


def test_keep_alive_connection_used_again_in_time_stays_open() -> None:
    with serve(ok_app, timeout_keep_alive_s=0.5) as url, connect(url) as sock:
        reader = ResponseReader(sock)
        statuses = []
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            statuses.append(reader.read().status)
            time.sleep(0.3)

    assert statuses == [200, 200, 200]


def test_slow_app_is_not_cut_off_by_the_header_or_keep_alive_timeout() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        await asyncio.sleep(1.0)  # three times both timeouts
        await respond(send, b"slow")

    with serve(app, timeout_header_s=0.3, timeout_keep_alive_s=0.3) as url:
        response = exchange(url, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")

    assert (response.status, response.body) == (200, b"slow")


# --- flow control ----------------------------------------------------------------------------


def test_large_body_for_an_app_not_reading_yet_is_held_back_and_arrives_whole_in_pieces() -> None:
    size = 24 * MIB
    release = threading.Event()
    pieces: list[int] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await wait_until(release)
        while True:
            message = await receive()
            pieces.append(len(message.get("body", b"")))
            if not message.get("more_body", False):
                break
        await respond(send, b"%d" % sum(pieces))

    with serve(app, max_body_bytes=0) as url, connect(url) as sock:
        sent = threading.Event()

        def upload() -> None:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % size)
            sock.sendall(b"a" * size)
            sent.set()

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(0.5)
        # The server stopped reading: the client cannot get the body off its hands.
        sent_before_the_app_read = sent.is_set()
        release.set()
        uploader.join(10)
        response = read_response(sock, b"POST")

    assert not sent_before_the_app_read
    assert (response.status, response.body) == (200, b"%d" % size)
    assert len(pieces) > 1
    # What waited for the app is bounded by the read buffer, not by the body's size.
    assert max(pieces) <= 1 * MIB


def test_large_streamed_response_to_a_client_not_reading_blocks_the_apps_send() -> None:
    chunk = b"x" * (64 * 1024)
    total = 50 * MIB
    sent = [0]
    finished = threading.Event()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while sent[0] < total:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent[0] += len(chunk)
        await send({"type": "http.response.body", "body": b""})
        finished.set()

    with serve(app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(0.5)
        sent_after_a_pause = sent[0]
        time.sleep(0.3)
        sent_after_a_longer_pause = sent[0]
        response = read_response(sock)
        wait_for(finished)

    assert sent_after_a_pause < total // 4
    assert sent_after_a_longer_pause == sent_after_a_pause
    assert len(response.body) == total
