"""Responses: bodies, media types and lengths, cookies, redirects, streaming and its end when
the client leaves, and background tasks run after the body is sent."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from ferry.asgi.background import BackgroundTask, BackgroundTasks
from ferry.asgi.datastructures import URL
from ferry.asgi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send


def make_scope(spec_version: str = "2.4") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
    }


async def empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def call(app: ASGIApp, scope: Scope | None = None, receive: Receive = empty_body) -> list[Message]:
    """Call `app` with a list-backed send; return every message it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope or make_scope(), receive, send)
    return sent


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def header_names(response: Response) -> list[str]:
    return [name.decode("latin-1") for name, _ in response.raw_headers]


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str | None]]:
    """A Set-Cookie value -> (name, value, {lowercased attribute: value, or None for a flag})."""
    first, *attributes = header.split(";")
    name, _, value = first.strip().partition("=")
    parsed: dict[str, str | None] = {}
    for attribute in attributes:
        key, sep, attribute_value = attribute.strip().partition("=")
        parsed[key.lower()] = attribute_value if sep else None
    return name, value, parsed


def set_cookie_of(response: Response) -> tuple[str, str, dict[str, str | None]]:
    return parse_set_cookie(response.headers["set-cookie"])


# --- Response -------------------------------------------------------------------------------------


def test_str_content_is_encoded_with_the_charset() -> None:
    response = Response("grüße", media_type="text/plain")
    assert response.body == "grüße".encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_bytes_content_is_sent_as_given() -> None:
    messages = call(Response(b"\x00\xff", media_type="application/octet-stream"))
    assert messages[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"2"), (b"content-type", b"application/octet-stream")],
    }
    assert messages[1] == {"type": "http.response.body", "body": b"\x00\xff"}


def test_none_content_is_an_empty_body_of_length_zero() -> None:
    response = Response(None, status_code=201)
    assert response.body == b""
    assert response.headers["content-length"] == "0"
    assert body_of(call(response)) == b""


def test_content_length_counts_encoded_bytes_not_characters() -> None:
    assert Response("ünïcödé").headers["content-length"] == str(len("ünïcödé".encode()))


def test_no_media_type_means_no_content_type_header() -> None:
    assert "content-type" not in Response("x").headers


def test_non_text_media_type_gets_no_charset() -> None:
    assert Response(b"x", media_type="image/png").headers["content-type"] == "image/png"


def test_media_type_with_its_own_charset_is_kept() -> None:
    response = Response("x", media_type="text/csv; Charset=latin-1")
    assert response.headers["content-type"] == "text/csv; Charset=latin-1"


def test_subclass_charset_encodes_the_body_and_names_it() -> None:
    class Latin1Response(Response):
        media_type = "text/plain"
        charset = "latin-1"

    response = Latin1Response("café")
    assert response.body == "café".encode("latin-1")
    assert response.headers["content-type"] == "text/plain; charset=latin-1"


def test_given_content_type_and_length_are_not_added_twice() -> None:
    response = Response(
        "abc",
        media_type="text/plain",
        headers={"Content-Type": "text/x-custom", "Content-Length": "3"},
    )
    assert response.headers.getlist("content-type") == ["text/x-custom"]
    assert response.headers.getlist("content-length") == ["3"]


@pytest.mark.parametrize("status_code", [100, 101, 103, 204, 304])
def test_no_content_length_for_a_status_without_a_body(status_code: int) -> None:
    response = Response(None, status_code=status_code)
    assert "content-length" not in response.headers


def test_headers_given_to_the_constructor_are_sent() -> None:
    response = Response("x", headers={"X-Request-ID": "42", "cache-control": "no-store"})
    start = call(response)[0]
    assert (b"x-request-id", b"42") in start["headers"]
    assert (b"cache-control", b"no-store") in start["headers"]


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"], ids=["CR", "LF", "NUL"])
def test_header_value_with_cr_lf_or_nul_is_refused_by_the_constructor(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        Response("x", headers={"x-note": f"a{bad}Set-Cookie: admin=1"})


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"], ids=["CR", "LF", "NUL"])
def test_header_value_with_cr_lf_or_nul_is_refused_when_set_later(bad: str) -> None:
    response = Response("x")
    with pytest.raises(ValueError, match="invalid header"):
        response.headers["x-note"] = f"a{bad}Set-Cookie: admin=1"
    with pytest.raises(ValueError, match="invalid header"):
        response.headers.append("x-note", f"a{bad}b")
    assert "x-note" not in response.headers


def test_headers_changed_after_construction_are_sent() -> None:
    response = Response("x")
    response.headers["x-late"] = "yes"
    assert (b"x-late", b"yes") in call(response)[0]["headers"]


# --- JSON, HTML, plain text -----------------------------------------------------------------------


def test_json_response_is_compact_utf8() -> None:
    response = JSONResponse({"name": "Zoë 🚢", "tags": [1, 2.5, None, True]})
    assert response.body == '{"name":"Zoë 🚢","tags":[1,2.5,null,true]}'.encode()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))


def test_json_response_of_none_is_null() -> None:
    assert JSONResponse(None).body == b"null"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_json_response_refuses_nan_and_infinities(value: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        JSONResponse({"value": value})


def test_html_response_is_text_html_in_utf8() -> None:
    response = HTMLResponse("<h1>Olá</h1>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.body == "<h1>Olá</h1>".encode()


def test_plain_text_response_is_text_plain_in_utf8() -> None:
    response = PlainTextResponse("ok", status_code=202)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert call(response)[0]["status"] == 202


# --- redirects ------------------------------------------------------------------------------------


def test_redirect_is_307_with_a_location_and_an_empty_body() -> None:
    response = RedirectResponse("https://example.org/next?a=1")
    messages = call(response)
    assert messages[0]["status"] == 307
    assert response.headers["location"] == "https://example.org/next?a=1"
    assert response.headers["content-length"] == "0"
    assert body_of(messages) == b""


@pytest.mark.parametrize("status_code", [301, 302, 303, 308])
def test_redirect_takes_another_status(status_code: int) -> None:
    response = RedirectResponse(URL("/elsewhere"), status_code=status_code)
    assert response.status_code == status_code
    assert response.headers["location"] == "/elsewhere"


def test_redirect_percent_encodes_non_ascii_but_keeps_existing_escapes() -> None:
    response = RedirectResponse("/café/a%20b?q=ü&r=1#frag")
    assert response.headers["location"] == "/caf%C3%A9/a%20b?q=%C3%BC&r=1#frag"


def test_redirect_to_a_url_with_cr_lf_cannot_split_the_response() -> None:
    response = RedirectResponse("/next\r\nSet-Cookie: admin=1")
    assert response.headers["location"] == "/next%0D%0ASet-Cookie:%20admin=1"
    assert "set-cookie" not in response.headers


# --- cookies --------------------------------------------------------------------------------------


def test_set_cookie_writes_every_attribute() -> None:
    response = Response()
    response.set_cookie(
        "session",
        "abc123",
        max_age=600,
        expires=datetime(2037, 1, 1, tzinfo=UTC),
        path="/app",
        domain="example.org",
        secure=True,
        httponly=True,
        samesite="strict",
        partitioned=True,
    )
    assert set_cookie_of(response) == (
        "session",
        "abc123",
        {
            "max-age": "600",
            "expires": "Thu, 01 Jan 2037 00:00:00 GMT",
            "path": "/app",
            "domain": "example.org",
            "secure": None,
            "httponly": None,
            "samesite": "strict",
            "partitioned": None,
        },
    )


def test_set_cookie_defaults_to_path_root_and_samesite_lax_only() -> None:
    response = Response()
    response.set_cookie("theme", "dark")
    assert set_cookie_of(response) == ("theme", "dark", {"path": "/", "samesite": "lax"})


@pytest.mark.parametrize("samesite", ["strict", "lax", "none", "Strict"])
def test_set_cookie_samesite_is_written_as_given(samesite: Any) -> None:
    response = Response()
    response.set_cookie("a", "1", samesite=samesite)
    assert set_cookie_of(response)[2]["samesite"] == samesite


def test_set_cookie_samesite_none_leaves_the_attribute_out() -> None:
    response = Response()
    response.set_cookie("a", "1", samesite=None, path=None)
    assert set_cookie_of(response) == ("a", "1", {})


def test_set_cookie_with_an_unknown_samesite_is_refused() -> None:
    response = Response()
    with pytest.raises(ValueError, match="samesite"):
        response.set_cookie("a", "1", samesite="sometimes")  # type: ignore[arg-type]
    assert "set-cookie" not in response.headers


def test_set_cookie_expires_as_a_string_is_sent_verbatim() -> None:
    response = Response()
    response.set_cookie("a", "1", expires="Fri, 02 Jan 2037 03:04:05 GMT")
    assert set_cookie_of(response)[2]["expires"] == "Fri, 02 Jan 2037 03:04:05 GMT"


def test_set_cookie_expires_as_seconds_is_a_date_that_far_ahead() -> None:
    response = Response()
    before = time.time()
    response.set_cookie("a", "1", expires=3600)
    expires = set_cookie_of(response)[2]["expires"]
    assert expires is not None
    assert expires.endswith(" GMT")
    when = parsedate_to_datetime(expires).timestamp()
    assert before + 3600 - 1 <= when <= time.time() + 3600 + 1


def test_set_cookie_value_with_separators_is_quoted_not_split() -> None:
    response = Response()
    response.set_cookie("note", "a; b\r\nSet-Cookie: admin=1")
    header = response.headers["set-cookie"]
    assert "\r" not in header
    assert "\n" not in header
    assert header.startswith('note="a\\073 b\\015\\012Set-Cookie: admin=1"')


def test_each_set_cookie_is_its_own_header() -> None:
    response = Response()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    names = [parse_set_cookie(value)[0] for value in response.headers.getlist("set-cookie")]
    assert names == ["a", "b"]


def test_delete_cookie_expires_it_at_once() -> None:
    response = Response()
    response.delete_cookie("session", path="/app", domain="example.org", secure=True)
    name, value, attributes = set_cookie_of(response)
    assert (name, value) == ("session", '""')
    assert attributes["max-age"] == "0"
    expires = attributes["expires"]
    assert expires is not None
    assert parsedate_to_datetime(expires).timestamp() <= time.time() + 1
    assert attributes["path"] == "/app"
    assert attributes["domain"] == "example.org"
    assert "secure" in attributes


# --- streaming ------------------------------------------------------------------------------------


def test_streaming_response_sends_each_piece_of_an_async_generator() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"one "
        yield b"two"

    messages = call(StreamingResponse(pieces(), media_type="text/plain"))
    assert messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        },
        {"type": "http.response.body", "body": b"one ", "more_body": True},
        {"type": "http.response.body", "body": b"two", "more_body": True},
        {"type": "http.response.body", "body": b""},
    ]


def test_streaming_response_advances_a_sync_iterator_in_a_worker_thread() -> None:
    threads: list[int] = []

    def pieces() -> Iterator[bytes]:
        for piece in (b"a", b"b", b"c"):
            threads.append(threading.get_ident())
            yield piece

    messages = call(StreamingResponse(pieces()))
    assert body_of(messages) == b"abc"
    assert threads
    assert threading.get_ident() not in threads


def test_streaming_response_encodes_str_pieces_with_the_charset() -> None:
    async def pieces() -> AsyncIterator[str | bytes | memoryview]:
        yield "žluť"
        yield b" & "
        yield memoryview(b"bytes")

    messages = call(StreamingResponse(pieces()))
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body"]
    assert bodies == ["žluť".encode(), b" & ", b"bytes", b""]
    assert all(type(body) is bytes for body in bodies)


def test_streaming_response_has_no_content_length() -> None:
    response = StreamingResponse(iter([b"x"]), status_code=206, headers={"x-a": "1"})
    assert header_names(response) == ["x-a"]


class Counter:
    """An async generator of up to `limit` pieces that records how far it got."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.produced = 0
        self.closed = False
        self.ran_to_end = False

    async def pieces(self) -> AsyncIterator[bytes]:
        try:
            for number in range(self.limit):
                self.produced += 1
                yield b"%d," % number
                await anyio.lowlevel.checkpoint()
            self.ran_to_end = True
        finally:
            self.closed = True


def test_streaming_stops_when_send_raises_os_error_after_a_disconnect() -> None:
    # ASGI 2.4: once the client is gone, send() raises OSError.
    counter = Counter()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if len(sent) == 4:  # start and three pieces
            raise OSError("client disconnected")
        sent.append(message)

    async def main() -> None:
        await StreamingResponse(counter.pieces())(make_scope("2.4"), empty_body, send)
        assert counter.closed  # at once, not whenever the generator is collected

    anyio.run(main)
    assert body_of(sent) == b"0,1,2,"
    assert counter.produced == 4  # the fourth piece's send() failed
    assert not counter.ran_to_end


def test_an_os_error_from_the_body_iterator_is_the_apps_and_propagates() -> None:
    # Only send()'s OSError means the client left; the generator's own is an app error.
    async def failing() -> AsyncIterator[bytes]:
        yield b"first"
        raise ConnectionRefusedError("the upstream service is down")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await StreamingResponse(failing())(make_scope("2.4"), empty_body, send)

    with pytest.raises(ConnectionRefusedError):
        anyio.run(main)
    assert body_of(sent) == b"first"


def test_streaming_stops_on_http_disconnect_for_an_asgi_2_3_server() -> None:
    # Before ASGI 2.4, send() to a gone client may succeed silently: the response must
    # watch receive() for http.disconnect.
    counter = Counter()
    sent: list[Message] = []

    async def main() -> None:
        three_pieces_sent = anyio.Event()

        async def send(message: Message) -> None:
            sent.append(message)
            if len(sent) == 4:
                three_pieces_sent.set()

        async def receive() -> Message:
            await three_pieces_sent.wait()
            return {"type": "http.disconnect"}

        with anyio.fail_after(5):
            await StreamingResponse(counter.pieces())(make_scope("2.3"), receive, send)
        assert counter.closed

    anyio.run(main)
    assert counter.produced < 10
    assert not counter.ran_to_end
    assert sent[-1].get("more_body") is True  # no end of body for a client that left


def test_streaming_for_an_asgi_2_3_server_ends_normally_when_the_client_stays() -> None:
    counter = Counter(limit=3)

    async def stay_connected() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    messages = call(StreamingResponse(counter.pieces()), make_scope("2.3"), stay_connected)
    assert body_of(messages) == b"0,1,2,"
    assert messages[-1] == {"type": "http.response.body", "body": b""}
    assert counter.ran_to_end


def test_sync_iterator_stops_being_advanced_when_the_client_disconnects() -> None:
    advanced: list[int] = []

    def pieces() -> Iterator[bytes]:
        for number in range(1000):
            advanced.append(number)
            yield b"x"

    sent: list[Message] = []

    async def send(message: Message) -> None:
        if len(sent) == 3:
            raise OSError("client disconnected")
        sent.append(message)

    anyio.run(StreamingResponse(pieces()), make_scope("2.4"), empty_body, send)
    assert advanced == [0, 1, 2]


# --- background tasks -----------------------------------------------------------------------------


def recording_send(events: list[str]) -> Send:
    async def send(message: Message) -> None:
        events.append(message["type"])

    return send


def test_sync_background_task_runs_after_the_body_in_a_worker_thread() -> None:
    events: list[str] = []
    threads: list[int] = []

    def task(name: str) -> None:
        threads.append(threading.get_ident())
        events.append(f"task {name}")

    response = Response("x", background=BackgroundTask(task, name="sync"))
    anyio.run(response, make_scope(), empty_body, recording_send(events))
    assert events == ["http.response.start", "http.response.body", "task sync"]
    assert threads != [threading.get_ident()]


def test_async_background_task_runs_after_the_body() -> None:
    events: list[str] = []

    async def task(name: str) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(f"task {name}")

    response = JSONResponse({}, background=BackgroundTask(task, "async"))
    anyio.run(response, make_scope(), empty_body, recording_send(events))
    assert events == ["http.response.start", "http.response.body", "task async"]


def test_background_task_of_a_streaming_response_runs_after_the_last_piece() -> None:
    events: list[str] = []

    async def task() -> None:
        events.append("task")

    response = StreamingResponse(iter([b"a", b"b"]), background=BackgroundTask(task))
    anyio.run(response, make_scope(), empty_body, recording_send(events))
    assert events == ["http.response.start"] + ["http.response.body"] * 3 + ["task"]


def test_background_tasks_run_one_after_another_in_the_order_added() -> None:
    events: list[str] = []

    def sync_task(name: str) -> None:
        time.sleep(0.01)
        events.append(name)

    async def async_task(name: str) -> None:
        events.append(name)

    class AsyncCallable:
        async def __call__(self, name: str) -> None:
            events.append(name)

    tasks = BackgroundTasks()
    tasks.add_task(sync_task, "first")
    tasks.add_task(async_task, name="second")
    tasks.add_task(AsyncCallable(), "third")
    tasks.add_task(sync_task, "fourth")
    response = Response(b"", background=tasks)
    anyio.run(response, make_scope(), empty_body, recording_send(events))
    assert events == [
        "http.response.start",
        "http.response.body",
        "first",
        "second",
        "third",
        "fourth",
    ]
