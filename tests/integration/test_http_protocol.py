"""HTTP/1.1 on a real server, byte by byte: the scope, bodies, connections, headers, failures.

Each test serves a small inline ASGI app with `run_in_thread` and talks to it over a raw
socket, so what is asserted is exactly what goes over the wire.
"""

from __future__ import annotations

import email.utils
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.integration.http_helpers import (
    TIMEOUT_S,
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

from ferry.server.types import (
    ASGIApplication,
    ASGIReceiveCallable,
    ASGISendCallable,
    Message,
    Scope,
)

GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def recording(scopes: list[Scope]) -> ASGIApplication:
    """An app that keeps a copy of each scope and answers 200 "ok"."""

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        scopes.append(dict(scope))
        await read_body(receive)
        await respond(send)

    return app


def scope_for(request: bytes, **options: Any) -> Scope:
    """The scope the server builds for `request` (sent on a new connection)."""
    scopes: list[Scope] = []
    with serve(recording(scopes), **options) as url:
        assert exchange(url, request).status == 200
    assert len(scopes) == 1
    return scopes[0]


def with_ok_route(app: ASGIApplication) -> ASGIApplication:
    """`app`, except that GET /ok answers 200: proof that the server still serves."""

    async def dispatch(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["path"] == "/ok":
            await ok_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


# --- the scope -------------------------------------------------------------------------------


def test_scope_type_is_http_with_asgi_3_and_spec_version_2_4() -> None:
    scope = scope_for(GET)

    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}


def test_scope_has_the_method_http_version_and_scheme_of_the_request() -> None:
    scope = scope_for(b"DELETE /users/1 HTTP/1.1\r\nHost: test\r\n\r\n")

    assert (scope["method"], scope["http_version"], scope["scheme"]) == ("DELETE", "1.1", "http")


def test_scope_http_version_is_1_0_for_an_http_1_0_request() -> None:
    assert scope_for(b"GET / HTTP/1.0\r\n\r\n")["http_version"] == "1.0"


def test_scope_path_is_percent_decoded_as_utf8_and_raw_path_is_as_sent() -> None:
    scope = scope_for(b"GET /caf%C3%A9/a%20b%2Fc HTTP/1.1\r\nHost: test\r\n\r\n")

    assert scope["path"] == "/café/a b/c"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b%2Fc"


def test_scope_path_decodes_invalid_utf8_as_replacement_characters() -> None:
    scope = scope_for(b"GET /%FFx HTTP/1.1\r\nHost: test\r\n\r\n")

    assert scope["path"] == "/\ufffdx"
    assert scope["raw_path"] == b"/%FFx"


def test_scope_query_string_is_the_raw_bytes_after_the_question_mark() -> None:
    scope = scope_for(b"GET /search?q=a%20b&x=1&x=2 HTTP/1.1\r\nHost: test\r\n\r\n")

    assert scope["path"] == "/search"
    assert scope["query_string"] == b"q=a%20b&x=1&x=2"


def test_scope_query_string_is_empty_bytes_without_a_question_mark() -> None:
    assert scope_for(GET)["query_string"] == b""


def test_scope_root_path_is_the_configured_one_and_prefixes_the_path() -> None:
    scope = scope_for(b"GET /users HTTP/1.1\r\nHost: test\r\n\r\n", root_path="/api")

    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/users"
    assert scope["raw_path"] == b"/api/users"


def test_scope_root_path_is_empty_by_default() -> None:
    assert scope_for(GET)["root_path"] == ""


def test_scope_headers_are_lowercased_byte_pairs_in_the_order_sent() -> None:
    request = (
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Custom: Some Value\r\nACCEPT: a\r\nAccept: b\r\n\r\n"
    )

    headers = scope_for(request)["headers"]

    assert headers == [
        (b"host", b"test"),
        (b"x-custom", b"Some Value"),
        (b"accept", b"a"),
        (b"accept", b"b"),
    ]


def test_scope_client_and_server_are_the_two_ends_of_the_socket() -> None:
    scopes: list[Scope] = []
    with serve(recording(scopes)) as url, connect(url) as sock:
        sock.sendall(GET)
        assert read_response(sock).status == 200
        client, server = sock.getsockname(), sock.getpeername()

    assert tuple(scopes[0]["client"]) == client
    assert tuple(scopes[0]["server"]) == server


def test_scope_state_is_a_copy_so_one_request_never_sees_another_requests_changes() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            scope["state"]["from_startup"] = "yes"
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(dict(scope["state"]))
        scope["state"]["from_request"] = scope["path"]
        await respond(send)

    with serve(app, lifespan="on") as url:
        assert get_status(url, "/first") == 200
        assert get_status(url, "/second") == 200

    assert seen == [{"from_startup": "yes"}, {"from_startup": "yes"}]


# --- the request body ------------------------------------------------------------------------


def body_recording(messages: queue.Queue[Message]) -> ASGIApplication:
    """An app that hands each message it receives to the test as it arrives."""

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        while True:
            message = await receive()
            messages.put(dict(message))
            if message["type"] != "http.request" or not message["more_body"]:
                break
        await respond(send)

    return app


def test_chunked_request_body_reaches_the_app_piece_by_piece_with_more_body() -> None:
    messages: queue.Queue[Message] = queue.Queue()
    with serve(body_recording(messages)) as url, connect(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"5\r\nhello\r\n")
        first = messages.get(timeout=TIMEOUT_S)
        sock.sendall(b"6\r\n world\r\n")
        second = messages.get(timeout=TIMEOUT_S)
        sock.sendall(b"0\r\n\r\n")
        last = messages.get(timeout=TIMEOUT_S)
        assert read_response(sock).status == 200

    assert first == {"type": "http.request", "body": b"hello", "more_body": True}
    assert second == {"type": "http.request", "body": b" world", "more_body": True}
    assert last == {"type": "http.request", "body": b"", "more_body": False}


def test_content_length_request_body_reaches_the_app_piece_by_piece_with_more_body() -> None:
    messages: queue.Queue[Message] = queue.Queue()
    with serve(body_recording(messages)) as url, connect(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello")
        first = messages.get(timeout=TIMEOUT_S)
        sock.sendall(b" world")
        last = messages.get(timeout=TIMEOUT_S)
        assert read_response(sock).status == 200

    assert first == {"type": "http.request", "body": b"hello", "more_body": True}
    assert last == {"type": "http.request", "body": b" world", "more_body": False}


def test_request_without_a_body_gives_one_empty_final_http_request() -> None:
    messages: queue.Queue[Message] = queue.Queue()
    with serve(body_recording(messages)) as url:
        assert exchange(url, GET).status == 200

    assert messages.get_nowait() == {"type": "http.request", "body": b"", "more_body": False}
    assert messages.empty()


# --- connections -----------------------------------------------------------------------------


def path_echo(scopes: list[Scope]) -> ASGIApplication:
    """An app that answers each request with its path, and records the scopes."""

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        scopes.append(scope)
        await read_body(receive)
        await respond(send, scope["path"].encode())

    return app


def test_two_requests_on_one_keep_alive_connection_are_both_answered() -> None:
    scopes: list[Scope] = []
    with serve(path_echo(scopes)) as url, connect(url) as sock:
        reader = ResponseReader(sock)
        sock.sendall(b"GET /one HTTP/1.1\r\nHost: test\r\n\r\n")
        first = reader.read()
        sock.sendall(b"GET /two HTTP/1.1\r\nHost: test\r\n\r\n")
        second = reader.read()

    assert (first.status, first.body, second.status, second.body) == (200, b"/one", 200, b"/two")
    assert first.header(b"connection") is None
    assert scopes[0]["client"] == scopes[1]["client"]


def test_pipelined_requests_sent_in_one_write_are_answered_in_order() -> None:
    scopes: list[Scope] = []
    with serve(path_echo(scopes)) as url, connect(url) as sock:
        sock.sendall(
            b"GET /1 HTTP/1.1\r\nHost: test\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /3 HTTP/1.1\r\nHost: test\r\n\r\n"
        )
        reader = ResponseReader(sock)
        bodies = [reader.read().body for _ in range(3)]

    assert bodies == [b"/1", b"/2", b"/3"]


def test_http_1_0_request_without_keep_alive_is_answered_and_then_closed() -> None:
    with serve(ok_app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        response = read_response(sock)
        closed = is_closed_by_server(sock, 2.0)

    assert (response.status, response.body) == (200, b"ok")
    assert closed


def test_http_1_0_keep_alive_request_gets_a_complete_response() -> None:
    # h11 does not keep HTTP/1.0 connections alive, so the server closes after answering;
    # the response must still be whole and must not promise a connection it then closes.
    with serve(ok_app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = read_response(sock)
        closed = is_closed_by_server(sock, 2.0)

    assert (response.status, response.body, response.header(b"content-length")) == (
        200,
        b"ok",
        b"2",
    )
    assert closed
    assert response.header(b"connection") != b"keep-alive"


def test_connection_close_from_the_client_is_honoured() -> None:
    with serve(ok_app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        response = read_response(sock)
        closed = is_closed_by_server(sock, 2.0)

    assert response.status == 200
    assert response.header(b"connection") == b"close"
    assert closed


def test_a_half_close_is_taken_as_the_client_leaving() -> None:
    # TCP cannot tell a half-close from a close until a write fails; like uvicorn, the
    # server treats the client's FIN as a disconnect so that waiting apps hear of it.
    seen: list[str] = []
    done = threading.Event()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        seen.append((await receive())["type"])
        done.set()

    with serve(app) as url, connect(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert read_until_closed(sock) == b""
        assert done.wait(5)

    assert seen == ["http.disconnect"]


# --- response framing ------------------------------------------------------------------------


def test_response_streamed_with_more_body_is_sent_chunked() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve(app) as url:
        response = exchange(url, GET)

    assert response.header(b"transfer-encoding") == b"chunked"
    assert not response.has_header(b"content-length")
    assert response.body == b"one,two,three"


def test_response_body_in_one_message_gets_a_content_length() -> None:
    with serve(ok_app) as url:
        response = exchange(url, GET)

    assert response.header(b"content-length") == b"2"
    assert not response.has_header(b"transfer-encoding")


def test_content_length_set_by_the_app_is_kept_and_not_repeated() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"abc", headers=[(b"Content-Length", b"3")])

    with serve(app) as url:
        response = exchange(url, GET)

    assert [name for name, _ in response.headers].count(b"content-length") == 1
    assert response.body == b"abc"


def test_expect_100_continue_gets_100_once_the_app_reads_the_body() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"got " + await read_body(receive))

    with serve(app) as url, connect(url) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        reader = ResponseReader(sock)
        informational = reader.read_informational(b"POST")
        sock.sendall(b"hello")
        response = reader.read(b"POST")

    assert informational == 100
    assert (response.status, response.body) == (200, b"got hello")


def test_expect_100_continue_gets_no_100_when_the_app_answers_without_reading() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"no thanks", status=403)

    with serve(app) as url, connect(url) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        response = read_response(sock, b"POST")

    assert response.informational == []
    assert (response.status, response.body) == (403, b"no thanks")


def test_head_gets_the_headers_of_get_with_its_content_length_and_no_body() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"hello world", headers=[(b"content-type", b"text/plain")])

    with serve(app) as url, connect(url) as sock:
        reader = ResponseReader(sock)
        # The GET behind the HEAD is read from where the HEAD response ends: a body byte
        # sent after the HEAD head would spoil it.
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n" + GET)
        head = reader.read(b"HEAD")
        get = reader.read(b"GET")

    assert (head.status, head.body) == (200, b"")
    assert head.header(b"content-length") == b"11"
    assert head.header(b"content-type") == b"text/plain"
    assert get.body == b"hello world"


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_status_carries_no_body_even_when_the_app_gives_one(status: int) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["path"] == "/after":
            await respond(send, b"after")
        else:
            await respond(send, b"must not be sent", status=status)

    with serve(app) as url, connect(url) as sock:
        sock.sendall(GET + b"GET /after HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        data = read_until_closed(sock)

    head, _, rest = data.partition(b"\r\n\r\n")
    assert status_of(head) == status
    assert b"must not be sent" not in data
    assert status_of(rest) == 200
    assert rest.endswith(b"\r\n\r\nafter")


def test_204_response_has_no_content_length_header() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"", status=204)

    with serve(app) as url:
        response = exchange(url, GET)

    assert response.status == 204
    assert not response.has_header(b"content-length")
    assert not response.has_header(b"transfer-encoding")


# --- headers the server adds -----------------------------------------------------------------


def test_date_and_server_headers_are_added_to_every_response() -> None:
    with serve(ok_app) as url:
        response = exchange(url, GET)

    assert response.header(b"server") == b"ferry"
    date = response.header(b"date")
    assert date is not None
    sent_at = email.utils.parsedate_to_datetime(date.decode("ascii"))
    assert sent_at.tzinfo is not None
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 5


def test_server_header_can_be_switched_off() -> None:
    with serve(ok_app, server_header=False) as url:
        response = exchange(url, GET)

    assert not response.has_header(b"server")
    assert response.has_header(b"date")


def test_date_header_can_be_switched_off() -> None:
    with serve(ok_app, date_header=False) as url:
        response = exchange(url, GET)

    assert not response.has_header(b"date")
    assert response.header(b"server") == b"ferry"


def test_configured_default_headers_are_added_to_every_response() -> None:
    with serve(ok_app, headers=(("x-a", "1"), ("X-Powered-By", "tests"))) as url:
        response = exchange(url, GET)

    assert response.header(b"x-a") == b"1"
    assert response.header(b"x-powered-by") == b"tests"


def test_server_and_date_headers_set_by_the_app_are_not_sent_twice() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        headers = [(b"server", b"my-app"), (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")]
        await respond(send, headers=headers)

    with serve(app) as url:
        response = exchange(url, GET)

    # RFC 9110 §6.6.1 and §10.2.4: Date and Server are singleton fields.
    assert response.header(b"server") == b"my-app"
    assert response.header(b"date") == b"Thu, 01 Jan 2026 00:00:00 GMT"


# --- disconnects -----------------------------------------------------------------------------


def test_app_waiting_in_receive_gets_http_disconnect_when_the_client_closes() -> None:
    received: queue.Queue[Message] = queue.Queue()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        received.put(dict(await receive()))

    with serve(app) as url:
        with connect(url) as sock:
            sock.sendall(GET)
            time.sleep(0.05)  # the app is now waiting in receive()
        message = received.get(timeout=TIMEOUT_S)

    assert message == {"type": "http.disconnect"}


def test_app_waiting_for_more_body_gets_http_disconnect_when_the_client_closes() -> None:
    messages: queue.Queue[Message] = queue.Queue()

    with serve(body_recording(messages)) as url:
        with connect(url) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
            first = messages.get(timeout=TIMEOUT_S)
        last = messages.get(timeout=TIMEOUT_S)

    assert first == {"type": "http.request", "body": b"abc", "more_body": True}
    assert last == {"type": "http.disconnect"}


def test_send_after_the_client_disconnected_raises_oserror_in_the_app() -> None:
    errors: queue.Queue[BaseException | None] = queue.Queue()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        assert (await receive())["type"] == "http.disconnect"
        try:
            await respond(send)
        except BaseException as exc:
            errors.put(exc)
            raise
        errors.put(None)

    with serve(with_ok_route(app)) as url:
        with connect(url) as sock:
            sock.sendall(GET)
        error = errors.get(timeout=TIMEOUT_S)
        assert get_status(url, "/ok") == 200

    assert isinstance(error, OSError)


# --- apps that misbehave ---------------------------------------------------------------------

INVALID_MESSAGES: dict[str, list[Message]] = {
    "body before start": [{"type": "http.response.body", "body": b"x"}],
    "start twice": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.start", "status": 200, "headers": []},
    ],
    "wrong type": [{"type": "http.response.begin", "status": 200}],
    "status not an int": [{"type": "http.response.start", "status": "200", "headers": []}],
    "status out of range": [{"type": "http.response.start", "status": 1000, "headers": []}],
    "header name not bytes": [
        {"type": "http.response.start", "status": 200, "headers": [("x-a", b"1")]}
    ],
    "header value not bytes": [
        {"type": "http.response.start", "status": 200, "headers": [(b"x-a", 1)]}
    ],
    "body not bytes": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": "text"},
    ],
}


@pytest.mark.parametrize("messages", INVALID_MESSAGES.values(), ids=INVALID_MESSAGES.keys())
def test_invalid_app_message_raises_in_the_app_gets_500_and_the_server_keeps_serving(
    messages: list[Message],
) -> None:
    errors: list[Exception] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        try:
            for message in messages:
                await send(message)
        except Exception as exc:
            errors.append(exc)
            raise
        await send({"type": "http.response.body", "body": b""})

    with serve(with_ok_route(app)) as url, connect(url) as sock:
        sock.sendall(GET)
        data = read_until_closed(sock)
        assert get_status(url, "/ok") == 200

    assert len(errors) == 1
    assert status_of(data) == 500


def test_message_after_the_response_is_complete_raises_and_the_response_stands() -> None:
    errors: list[Exception] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, b"done")
        try:
            await send({"type": "http.response.body", "body": b"extra"})
        except Exception as exc:
            errors.append(exc)

    with serve(app) as url, connect(url) as sock:
        reader = ResponseReader(sock)
        sock.sendall(GET)
        first = reader.read()
        sock.sendall(GET)
        second = reader.read()

    assert (first.body, second.body) == (b"done", b"done")
    assert len(errors) == 2


def test_app_raising_before_start_gets_a_short_plain_text_500_without_the_traceback() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raise RuntimeError("secret detail of the failure")

    with serve(with_ok_route(app)) as url:
        with connect(url) as sock:
            sock.sendall(GET)
            response = read_response(sock)
            closed = is_closed_by_server(sock, 2.0)
        assert get_status(url, "/ok") == 200

    assert response.status == 500
    assert (response.header(b"content-type") or b"").startswith(b"text/plain")
    assert len(response.body) < 100
    assert b"secret" not in response.body
    assert b"Traceback" not in response.body
    assert b"RuntimeError" not in response.body
    assert closed


def test_app_raising_after_start_closes_the_connection_with_an_incomplete_body() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("failed half way")

    with serve(with_ok_route(app)) as url:
        with connect(url) as sock:
            sock.sendall(GET)
            data = read_until_closed(sock)
        assert get_status(url, "/ok") == 200

    assert status_of(data) == 200
    assert b"transfer-encoding: chunked" in data.lower()
    assert b"partial" in data
    # The last chunk (RFC 9112 §7.1) never comes, so the client knows the body is cut.
    assert not data.endswith(b"0\r\n\r\n")


def test_app_returning_without_a_response_gets_500() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)

    with serve(with_ok_route(app)) as url:
        response = exchange(url, GET)
        assert get_status(url, "/ok") == 200

    assert response.status == 500


def test_app_returning_after_start_without_the_body_closes_the_connection() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"some", "more_body": True})

    with serve(with_ok_route(app)) as url:
        with connect(url) as sock:
            sock.sendall(GET)
            data = read_until_closed(sock)
        assert get_status(url, "/ok") == 200

    assert status_of(data) == 200
    assert not data.endswith(b"0\r\n\r\n")


def test_crlf_in_a_response_header_value_gets_500_and_the_injected_header_is_never_written() -> (
    None
):
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(send, headers=[(b"x-a", b"ok\r\nx-injected: yes")])

    with serve(with_ok_route(app)) as url:
        with connect(url) as sock:
            sock.sendall(GET)
            data = read_until_closed(sock)
        assert get_status(url, "/ok") == 200

    assert status_of(data) == 500
    assert b"x-injected" not in data
    assert data.count(b"HTTP/1.1") == 1


def test_server_keeps_serving_while_another_connections_app_is_stuck() -> None:
    release = threading.Event()
    entered = threading.Event()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        entered.set()
        await wait_until(release)
        await respond(send, b"released")

    with serve(with_ok_route(app)) as url, connect(url) as stuck:
        stuck.sendall(GET)
        wait_for(entered)
        status = get_status(url, "/ok")
        release.set()
        late = read_response(stuck)

    assert status == 200
    assert late.body == b"released"
