"""HTTPMiddleware: dispatch(request, call_next) around the next app.

Besides the basics (headers, stacking, answering alone), each of the four things a hidden
task group tends to break has its tests: context variables, background tasks, streaming
with back-pressure, and exceptions. Then the request body: read by a middleware (this one
or a pure ASGI one) and read again downstream. The last tests run the key cases through
`httpx.AsyncClient` on an event loop of the test's own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextvars import ContextVar

import anyio
import anyio.to_thread
import httpx
import pytest

from ferry.asgi.background import BackgroundTask, BackgroundTasks
from ferry.asgi.middleware.http import CallNext, HTTPMiddleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from ferry.asgi.testing import ASGITransport, TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

user: ContextVar[str] = ContextVar("user", default="nobody")


async def pass_through(request: Request, call_next: CallNext) -> Response:
    return await call_next(request)


def answering(response: Response) -> ASGIApp:
    """An app that sends `response` to HTTP requests and ignores the lifespan."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await response(scope, receive, send)

    return app


async def echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    """An endpoint that answers with the body it reads through its own Request."""
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    body = await request.body()
    await JSONResponse({"endpoint read": body.decode()})(scope, receive, send)


class ErrorRecorder:
    """A pure ASGI middleware that notes what comes out of the app inside it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.errors: list[BaseException] = []
        self.returned = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        if scope["type"] == "http":
            self.returned += 1


def http_scope(spec_version: str = "2.4") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }


# The basics


def test_headers_and_status_changed_in_dispatch_reach_the_client() -> None:
    async def dispatch(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-middleware"] = "yes"
        del response.headers["x-internal"]
        response.status_code = 203
        return response

    app = HTTPMiddleware(PlainTextResponse("hello", headers={"x-internal": "1"}), dispatch)

    response = TestClient(app).get("/")

    assert response.status_code == 203
    assert response.text == "hello"
    assert response.headers["x-middleware"] == "yes"
    assert "x-internal" not in response.headers


def test_a_subclass_overriding_dispatch_is_used() -> None:
    class PoweredBy(HTTPMiddleware):
        async def dispatch(self, request: Request, call_next: CallNext) -> Response:
            response = await call_next(request)
            response.headers["x-powered-by"] = "ferry"
            return response

    response = TestClient(PoweredBy(PlainTextResponse("hello"))).get("/")

    assert response.headers["x-powered-by"] == "ferry"
    assert response.text == "hello"


def test_two_stacked_middlewares_each_add_their_header() -> None:
    async def add_inner(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers.append("x-trail", "inner")
        return response

    async def add_outer(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers.append("x-trail", "outer")
        return response

    inner = HTTPMiddleware(PlainTextResponse("hello"), dispatch=add_inner)
    app = HTTPMiddleware(inner, dispatch=add_outer)

    response = TestClient(app).get("/")

    assert response.headers.get_list("x-trail") == ["inner", "outer"]
    assert response.text == "hello"


def test_dispatch_can_answer_without_calling_the_next_app() -> None:
    called: list[str] = []

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append("next app")

    async def refuse(request: Request, call_next: CallNext) -> Response:
        return PlainTextResponse("no entry", status_code=403)

    response = TestClient(HTTPMiddleware(next_app, dispatch=refuse)).get("/")

    assert (response.status_code, response.text) == (403, "no entry")
    assert called == []


def test_dispatch_can_read_the_next_body_and_answer_with_a_new_response() -> None:
    async def shout(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        body = b""
        async for chunk in response.body_iterator:
            assert isinstance(chunk, bytes)
            body += chunk
        return PlainTextResponse(body.upper(), status_code=response.status_code)

    async def words() -> AsyncIterator[bytes]:
        yield b"quiet "
        yield b"words"

    app = HTTPMiddleware(StreamingResponse(words(), status_code=202), dispatch=shout)

    response = TestClient(app).get("/")

    assert (response.status_code, response.text) == (202, "QUIET WORDS")


def test_a_middleware_without_a_dispatch_raises_not_implemented_error() -> None:
    with pytest.raises(NotImplementedError):
        TestClient(HTTPMiddleware(PlainTextResponse("hello"))).get("/")


def test_other_scope_types_go_straight_to_the_next_app() -> None:
    calls: list[tuple[str, Receive, Send]] = []

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append((scope["type"], receive, send))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    async def never(request: Request, call_next: CallNext) -> Response:
        raise AssertionError("dispatch runs for HTTP only")

    app = HTTPMiddleware(next_app, dispatch=never)

    async def main() -> None:
        await app({"type": "websocket"}, receive, send)
        await app({"type": "lifespan"}, receive, send)

    anyio.run(main)
    assert calls == [("websocket", receive, send), ("lifespan", receive, send)]


def test_call_next_raises_when_the_next_app_sends_no_response() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    with pytest.raises(RuntimeError, match=r"without sending 'http\.response\.start'"):
        TestClient(HTTPMiddleware(silent, dispatch=pass_through)).get("/")


def test_a_body_message_before_the_start_is_refused() -> None:
    async def hasty(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"too soon"})

    with pytest.raises(RuntimeError, match=r"Expected 'http\.response\.start'"):
        TestClient(HTTPMiddleware(hasty, dispatch=pass_through)).get("/")


def test_a_message_after_the_last_body_message_is_refused() -> None:
    async def chatty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await PlainTextResponse("done")(scope, receive, send)
        await send({"type": "http.response.body", "body": b"more"})

    recorder = ErrorRecorder(HTTPMiddleware(chatty, dispatch=pass_through))
    # The error comes after the response: the recorder is where to see it.
    with TestClient(recorder, raise_server_exceptions=False) as client:
        assert client.get("/").text == "done"

    [error] = recorder.errors
    assert isinstance(error, RuntimeError)
    assert "after the response ended" in str(error)


def test_a_background_task_dispatch_adds_runs_after_the_response() -> None:
    events: list[str] = []

    async def note() -> None:
        events.append("noted")

    async def add_task(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.background = BackgroundTask(note)
        return response

    app = HTTPMiddleware(answering(PlainTextResponse("hello")), dispatch=add_task)
    with TestClient(app) as client:
        assert client.get("/").text == "hello"

    assert events == ["noted"]


# 1. Context variables


def test_a_context_variable_set_in_dispatch_is_seen_by_the_app_its_body_and_its_tasks() -> None:
    seen: list[tuple[str, str]] = []

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        seen.append(("app", user.get()))

        async def body() -> AsyncIterator[bytes]:
            seen.append(("body", user.get()))
            yield b"hello"

        async def note() -> None:
            seen.append(("async task", user.get()))

        def note_sync() -> None:
            seen.append(("sync task", user.get()))

        tasks = BackgroundTasks()
        tasks.add_task(note)
        tasks.add_task(note_sync)
        await StreamingResponse(body(), background=tasks)(scope, receive, send)

    async def log_in(request: Request, call_next: CallNext) -> Response:
        user.set("ada")
        return await call_next(request)

    with TestClient(HTTPMiddleware(next_app, dispatch=log_in)) as client:
        assert client.get("/").text == "hello"

    assert seen == [("app", "ada"), ("body", "ada"), ("async task", "ada"), ("sync task", "ada")]


# 2. Background tasks


def test_a_background_task_runs_to_completion_after_the_response_is_sent() -> None:
    events: list[str] = []

    async def slow_task() -> None:
        await anyio.sleep(0.2)
        events.append("task finished")

    response = PlainTextResponse("hello", background=BackgroundTask(slow_task))
    app = HTTPMiddleware(answering(response), dispatch=pass_through)

    with TestClient(app) as client:
        assert client.get("/").text == "hello"
        assert events == []  # the client has its answer; the task still sleeps
    # Leaving the client waits for the app, which waits for its task: never cancels it.
    assert events == ["task finished"]


# 3. Streaming


def test_streamed_chunks_reach_the_client_while_the_app_is_still_producing() -> None:
    first_chunk_read = threading.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        # Only a middleware that passes "first" on at once lets the client set the event
        # (a threading.Event: the client runs in the test's thread, the app in the portal's).
        waited = await anyio.to_thread.run_sync(first_chunk_read.wait, 2)
        assert waited, "the client never had the first chunk"
        yield b"second"

    app = HTTPMiddleware(answering(StreamingResponse(chunks())), dispatch=pass_through)

    with TestClient(app) as client, client.stream("GET", "/") as response:
        pieces = response.iter_raw()
        assert next(pieces) == b"first"
        first_chunk_read.set()
        assert b"".join(pieces) == b"second"


def test_streaming_holds_no_buffer_between_the_app_and_the_middleware() -> None:
    produced: list[int] = []

    async def numbers() -> AsyncIterator[bytes]:
        for number in range(5):
            produced.append(number)
            yield str(number).encode()

    app = HTTPMiddleware(StreamingResponse(numbers()), dispatch=pass_through)
    sent: list[Message] = []
    first_chunk_held = anyio.Event()
    client_ready = anyio.Event()

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def slow_send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"0":
            first_chunk_held.set()
            await client_ready.wait()

    async def main() -> None:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(app, http_scope(), receive, slow_send)
            await first_chunk_held.wait()
            await anyio.wait_all_tasks_blocked()
            # "0" is held by the client's send; "1" waits in the app's send; no more.
            assert produced == [0, 1]
            client_ready.set()

    anyio.run(main)
    assert produced == [0, 1, 2, 3, 4]
    assert [message.get("body") for message in sent[1:]] == [b"0", b"1", b"2", b"3", b"4", b""]


def test_a_client_leaving_mid_stream_ends_the_next_app() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"tick"
            await anyio.sleep(0.001)

    recorder = ErrorRecorder(
        HTTPMiddleware(answering(StreamingResponse(endless())), dispatch=pass_through)
    )

    with TestClient(recorder) as client, client.stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"tick"
    # Leaving the client waited for the app: it ended, without an error.
    assert (recorder.returned, recorder.errors) == (1, [])


# 4. Exceptions


def test_an_error_before_the_response_starts_is_raised_from_call_next() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("no response")

    async def rescue(request: Request, call_next: CallNext) -> Response:
        try:
            return await call_next(request)
        except ValueError as exc:
            return PlainTextResponse(f"rescued: {exc}", status_code=502)

    response = TestClient(HTTPMiddleware(broken, dispatch=rescue)).get("/")

    assert (response.status_code, response.text) == (502, "rescued: no response")


def test_an_uncaught_error_before_the_response_starts_propagates_unwrapped() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("no response")

    recorder = ErrorRecorder(HTTPMiddleware(broken, dispatch=pass_through))

    with pytest.raises(ValueError, match="no response"):
        TestClient(recorder).get("/")
    assert [type(error) for error in recorder.errors] == [ValueError]


def test_an_error_after_the_response_started_propagates_unwrapped() -> None:
    async def half() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ValueError("mid-stream")

    streaming = HTTPMiddleware(answering(StreamingResponse(half())), dispatch=pass_through)
    recorder = ErrorRecorder(streaming)

    with TestClient(recorder) as client, pytest.raises(ValueError, match="mid-stream"):
        client.get("/")
    assert [type(error) for error in recorder.errors] == [ValueError]


def test_an_os_error_of_the_apps_own_after_the_start_still_propagates() -> None:
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ConnectionRefusedError("the database is down")

    recorder = ErrorRecorder(HTTPMiddleware(half, dispatch=pass_through))

    with TestClient(recorder) as client, pytest.raises(ConnectionRefusedError):
        client.get("/")
    assert [type(error) for error in recorder.errors] == [ConnectionRefusedError]


def test_an_app_returning_before_its_last_body_message_is_an_error() -> None:
    async def cut_off(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})

    recorder = ErrorRecorder(HTTPMiddleware(cut_off, dispatch=pass_through))

    with TestClient(recorder) as client, pytest.raises(RuntimeError, match="before its last"):
        client.get("/")
    assert [type(error) for error in recorder.errors] == [RuntimeError]


def test_an_app_that_heard_the_client_leave_may_end_before_its_last_body_message() -> None:
    sent: list[Message] = []
    first_chunk_sent = anyio.Event()

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"

    async def receive() -> Message:
        await first_chunk_sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        # Before ASGI 2.4, a server discards what is sent after the client left.
        sent.append(message)
        if message.get("body"):
            first_chunk_sent.set()

    app = HTTPMiddleware(next_app, dispatch=pass_through)
    anyio.run(app, http_scope(spec_version="2.3"), receive, send)

    assert [message.get("body") for message in sent] == [None, b"partial", b""]


def test_an_error_in_a_background_task_propagates_out_of_the_middleware() -> None:
    async def failing_task() -> None:
        raise ValueError("in the background")

    response = PlainTextResponse("hello", background=BackgroundTask(failing_task))
    recorder = ErrorRecorder(HTTPMiddleware(answering(response), dispatch=pass_through))

    # The error comes after the response: the recorder is where to see it.
    with TestClient(recorder, raise_server_exceptions=False) as client:
        assert client.get("/").text == "hello"

    assert [type(error) for error in recorder.errors] == [ValueError]


def test_an_error_in_dispatch_after_call_next_propagates_unwrapped() -> None:
    async def fussy(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        raise LookupError("dispatch changed its mind")

    recorder = ErrorRecorder(HTTPMiddleware(PlainTextResponse("hello"), dispatch=fussy))

    with pytest.raises(LookupError):
        TestClient(recorder).get("/")
    assert [type(error) for error in recorder.errors] == [LookupError]


def test_a_response_dispatch_does_not_send_makes_the_apps_send_raise_os_error() -> None:
    told: list[str] = []

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.body", "body": b"unwanted", "more_body": True})
        except OSError:
            told.append("OSError")

    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("instead")

    recorder = ErrorRecorder(HTTPMiddleware(next_app, dispatch=replace))
    with TestClient(recorder) as client:
        assert client.get("/").text == "instead"

    assert told == ["OSError"]
    assert recorder.errors == []


def test_a_dropped_response_ends_quietly_when_the_app_lets_os_error_through() -> None:
    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("instead")

    recorder = ErrorRecorder(HTTPMiddleware(PlainTextResponse("unwanted"), dispatch=replace))
    with TestClient(recorder) as client:
        assert client.get("/").text == "instead"

    assert (recorder.returned, recorder.errors) == (1, [])


def test_under_an_older_asgi_spec_a_dropped_responses_messages_are_discarded() -> None:
    heard: list[str] = []
    sent: list[Message] = []
    response_complete = anyio.Event()

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"unwanted", "more_body": True})
        heard.append((await receive())["type"])

    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("instead")

    async def receive() -> Message:
        await response_complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            response_complete.set()

    app = HTTPMiddleware(next_app, dispatch=replace)
    anyio.run(app, http_scope(spec_version="2.3"), receive, send)

    assert heard == ["http.disconnect"]
    assert [message.get("body") for message in sent] == [None, b"instead"]


# The request body, read by a middleware and again downstream


def test_a_raw_app_receives_the_body_dispatch_already_read() -> None:
    received: list[Message] = []

    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        received.append(message)
        await PlainTextResponse(message["body"])(scope, receive, send)

    async def read_first(request: Request, call_next: CallNext) -> Response:
        assert await request.json() == {"name": "ada"}
        return await call_next(request)

    app = HTTPMiddleware(raw_app, dispatch=read_first)
    response = TestClient(app).post("/", content=b'{"name": "ada"}')

    assert response.text == '{"name": "ada"}'
    assert received == [{"type": "http.request", "body": b'{"name": "ada"}', "more_body": False}]


def test_after_the_replayed_body_receive_passes_http_disconnect_through() -> None:
    received: list[str] = []

    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        received.append((await receive())["type"])
        await PlainTextResponse("ok")(scope, receive, send)
        received.append((await receive())["type"])

    async def read_first(request: Request, call_next: CallNext) -> Response:
        await request.body()
        return await call_next(request)

    with TestClient(HTTPMiddleware(raw_app, dispatch=read_first)) as client:
        assert client.post("/", content=b"data").text == "ok"

    assert received == ["http.request", "http.disconnect"]


def test_an_endpoint_reads_the_body_again_after_dispatch_read_it() -> None:
    seen: list[object] = []

    async def read_first(request: Request, call_next: CallNext) -> Response:
        seen.append(await request.json())
        return await call_next(request)

    app = HTTPMiddleware(echo_body, dispatch=read_first)
    response = TestClient(app).post("/", json={"name": "ada"})

    assert seen == [{"name": "ada"}]
    assert response.json() == {"endpoint read": '{"name":"ada"}'}


def test_dispatch_reads_the_body_after_the_endpoint_read_it() -> None:
    seen: list[bytes] = []

    async def read_after(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        seen.append(await request.body())
        return response

    app = HTTPMiddleware(echo_body, dispatch=read_after)
    response = TestClient(app).post("/", content=b"hello")

    assert response.json() == {"endpoint read": "hello"}
    assert seen == [b"hello"]


class BodyReader:
    """A pure ASGI middleware that reads the body before or after the next app."""

    def __init__(self, app: ASGIApp, when: str) -> None:
        self.app = app
        self.when = when
        self.seen: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.when == "before":
            self.seen.append(await Request(scope, receive).body())
        await self.app(scope, receive, send)
        if self.when == "after":
            self.seen.append(await Request(scope, receive).body())


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_pure_asgi_middleware_and_the_endpoint_both_read_the_body(when: str) -> None:
    app = BodyReader(echo_body, when)

    response = TestClient(app).post("/", content=b"hello")

    assert response.json() == {"endpoint read": "hello"}
    assert app.seen == [b"hello"]


def test_a_raw_app_behind_http_middleware_gets_a_body_an_outer_middleware_read() -> None:
    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        await PlainTextResponse(message["body"])(scope, receive, send)

    app = BodyReader(HTTPMiddleware(raw_app, dispatch=pass_through), "before")

    response = TestClient(app).post("/", content=b"hello")

    assert response.text == "hello"
    assert app.seen == [b"hello"]


# The same key cases through httpx.AsyncClient, on an event loop of the test's own


def async_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ASGITransport(app), base_url="http://testserver")


def test_async_client_streams_chunks_while_the_app_is_still_producing() -> None:
    async def main() -> None:
        first_chunk_read = anyio.Event()

        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            with anyio.fail_after(2):
                await first_chunk_read.wait()
            yield b"second"

        app = HTTPMiddleware(answering(StreamingResponse(chunks())), dispatch=pass_through)
        async with async_client(app) as client, client.stream("GET", "/") as response:
            pieces = response.aiter_raw()
            assert await pieces.__anext__() == b"first"
            first_chunk_read.set()
            assert b"".join([piece async for piece in pieces]) == b"second"

    anyio.run(main)


def test_async_client_gets_its_response_before_the_background_task_ends() -> None:
    events: list[str] = []

    async def slow_task() -> None:
        await asyncio.sleep(0.2)
        events.append("task finished")

    async def main() -> None:
        response = PlainTextResponse("hello", background=BackgroundTask(slow_task))
        app = HTTPMiddleware(answering(response), dispatch=pass_through)
        async with async_client(app) as client:
            assert (await client.get("/")).text == "hello"
            assert events == []
        assert events == ["task finished"]

    asyncio.run(main())


def test_async_client_app_sees_the_context_variable_set_in_dispatch() -> None:
    seen: list[str] = []

    async def next_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        async def body() -> AsyncIterator[bytes]:
            seen.append(user.get())
            yield b"hello"

        async def note() -> None:
            seen.append(user.get())

        await StreamingResponse(body(), background=BackgroundTask(note))(scope, receive, send)

    async def log_in(request: Request, call_next: CallNext) -> Response:
        user.set("grace")
        return await call_next(request)

    async def main() -> None:
        async with async_client(HTTPMiddleware(next_app, dispatch=log_in)) as client:
            assert (await client.get("/")).text == "hello"

    anyio.run(main)
    assert seen == ["grace", "grace"]


def test_async_client_sees_errors_from_call_next_and_after_the_start_unwrapped() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("no response")

    async def rescue(request: Request, call_next: CallNext) -> Response:
        try:
            return await call_next(request)
        except ValueError:
            return PlainTextResponse("rescued", status_code=502)

    async def half() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ValueError("mid-stream")

    async def main() -> None:
        async with async_client(HTTPMiddleware(broken, dispatch=rescue)) as client:
            assert (await client.get("/")).status_code == 502
        streaming = HTTPMiddleware(answering(StreamingResponse(half())), dispatch=pass_through)
        async with async_client(streaming) as client:
            with pytest.raises(ValueError, match="mid-stream"):
                await client.get("/")

    asyncio.run(main())
