"""Test clients that call an ASGI app in-process, with the httpx API.

    with TestClient(app) as client:          # runs lifespan start-up and shutdown
        assert client.get("/").status_code == 200

    async with httpx.AsyncClient(transport=ASGITransport(app), base_url="http://testserver") as c:
        response = await c.get("/")

`ASGITransport` is the one transport underneath both: inside `async with`, each request's
app runs as a task of the transport's task group, so the request body streams in and the
response body streams out while the app runs. `TestClient` drives the same transport from
synchronous code through an anyio blocking portal (an event loop in a thread).

    with client.websocket_connect("/ws") as websocket:   # a WebSocketTestSession
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"

A websocket session runs the app as a task in the same portal (or in one of its own,
outside `with TestClient`), and plays the client's side of the ASGI websocket messages.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

import anyio
import anyio.abc
import anyio.from_thread
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ferry.asgi.types import ASGIApp, Message, Scope
from ferry.asgi.websockets import (
    ABNORMAL_CLOSURE,
    NORMAL_CLOSURE,
    WebSocketDisconnect,
    WebSocketState,
    next_app_state,
)

_ASGI = {"version": "3.0", "spec_version": "2.4"}


class _Exchange:
    """One request/response between the transport and the app."""

    def __init__(self, app: ASGIApp, scope: Scope, request: httpx.Request) -> None:
        self.app = app
        self.scope = scope
        self.request_stream = _aiter_request(request)
        self.request_complete = False
        self.started = False  # http.response.start was sent
        self.response_started = anyio.Event()  # also set when the app ends, to wake waiters
        self.response_complete = anyio.Event()
        self.disconnected = anyio.Event()
        self.finished = anyio.Event()  # disconnected, or the response is complete
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body_out: MemoryObjectSendStream[bytes]
        self.body_in: MemoryObjectReceiveStream[bytes]
        self.body_out, self.body_in = anyio.create_memory_object_stream[bytes](math.inf)
        self.error: BaseException | None = None

    async def receive(self) -> Message:
        if self.request_complete or self.disconnected.is_set():
            # ASGI: after the body, receive() waits until the client leaves or the
            # response is complete.
            await self.finished.wait()
            return {"type": "http.disconnect"}
        try:
            chunk = await self.request_stream.__anext__()
        except StopAsyncIteration:
            self.request_complete = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        if self.disconnected.is_set():
            raise OSError("the test client closed the response")
        if message["type"] == "http.response.start":
            if self.started:
                raise RuntimeError("Expected 'http.response.body', got 'http.response.start'.")
            self.status = message["status"]
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self.started = True
            self.response_started.set()
        elif message["type"] == "http.response.body":
            if not self.started:
                raise RuntimeError("Expected 'http.response.start' before 'http.response.body'.")
            if self.response_complete.is_set():
                raise RuntimeError("Unexpected 'http.response.body' after the response ended.")
            body = message.get("body", b"")
            if body and self.scope["method"] != "HEAD":
                await self.body_out.send(bytes(body))
            if not message.get("more_body", False):
                self.response_complete.set()
                self.finished.set()
                self.body_out.close()
        else:
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} in an HTTP app.")

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self.error = exc
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
        finally:
            self.body_out.close()
            self.response_started.set()


async def _aiter_request(request: httpx.Request) -> AsyncIterator[bytes]:
    stream = request.stream
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:  # a sync client's body; bytes in memory or a generator
            yield chunk


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, raise_app_exceptions: bool) -> None:
        self.exchange = exchange
        self.raise_app_exceptions = raise_app_exceptions

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.exchange.body_in:
            yield chunk
        error = self.exchange.error
        if error is not None and self.raise_app_exceptions:
            raise error

    async def aclose(self) -> None:
        self.exchange.disconnected.set()
        self.exchange.finished.set()
        self.exchange.body_in.close()


class ASGITransport(httpx.AsyncBaseTransport):
    """An httpx transport that calls an ASGI app in-process.

    Used inside `async with` (as `httpx.AsyncClient` does), it runs the app's lifespan
    and streams both ways; used without it, each request runs to completion first.

    Args:
        app: the ASGI app.
        raise_app_exceptions: re-raise an exception from the app in the caller (else the
            client gets a 500 when the response had not started).
        root_path: the scope's `root_path`.
        client: the scope's `client` address.
        lifespan: "auto" runs the lifespan protocol and tolerates apps without it; "off"
            skips it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        lifespan: Literal["auto", "off"] = "auto",
    ) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self.lifespan = lifespan
        self.state: dict[str, Any] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._lifespan_stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> ASGITransport:
        stack = contextlib.AsyncExitStack()
        self._task_group = await stack.enter_async_context(anyio.create_task_group())
        # The lifespan has a stack of its own, closed before the task group's: a startup
        # or shutdown failure then leaves the task group without an error to wrap in an
        # ExceptionGroup, and reaches the caller as it was raised.
        lifespan_stack = contextlib.AsyncExitStack()
        try:
            if self.lifespan != "off":
                await lifespan_stack.enter_async_context(self._run_lifespan())
        except BaseException:
            self._task_group = None
            await stack.aclose()
            raise
        self._exit_stack, self._lifespan_stack = stack, lifespan_stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        lifespan_stack, self._lifespan_stack = self._lifespan_stack, None
        self._task_group = None
        try:
            if lifespan_stack is not None:
                await lifespan_stack.aclose()
        finally:
            if stack is not None:
                # An exception from the block propagates by itself; handing it to the task
                # group would wrap it in an ExceptionGroup.
                await stack.aclose()

    @contextlib.asynccontextmanager
    async def _run_lifespan(self) -> AsyncIterator[None]:
        assert self._task_group is not None
        to_app, app_inbox = anyio.create_memory_object_stream[Message](math.inf)
        from_app, outbox = anyio.create_memory_object_stream[Message](math.inf)
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}

        async def run() -> None:
            try:
                await self.app(scope, app_inbox.receive, from_app.send)
            except BaseException as exc:
                # Nobody listens any more after a failed startup or shutdown was reported.
                with contextlib.suppress(anyio.BrokenResourceError):
                    from_app.send_nowait({"type": "ferry.testing.error", "error": exc})
                if isinstance(exc, anyio.get_cancelled_exc_class()):  # pragma: no cover
                    raise
            finally:
                from_app.close()

        self._task_group.start_soon(run)
        # Every end is closed on the way out: an unclosed stream warns when it is collected.
        with to_app, app_inbox, outbox:
            await to_app.send({"type": "lifespan.startup"})
            answer = await _next_message(outbox)
            if answer["type"] == "lifespan.startup.failed":
                raise RuntimeError(answer.get("message") or "lifespan startup failed")
            supported = answer["type"] == "lifespan.startup.complete"
            try:
                yield
            finally:
                if supported:
                    await to_app.send({"type": "lifespan.shutdown"})
                    answer = await _next_message(outbox)
                    if answer["type"] == "lifespan.shutdown.failed":
                        raise RuntimeError(answer.get("message") or "lifespan shutdown failed")

    def _scope(self, request: httpx.Request) -> Scope:
        url = request.url
        default_port = {"http": 80, "https": 443}[url.scheme]
        port = url.port or default_port
        host_header = url.host if url.port in (None, default_port) else f"{url.host}:{port}"
        headers = [(k.lower(), v) for k, v in request.headers.raw]
        if not any(name == b"host" for name, _ in headers):
            headers.insert(0, (b"host", host_header.encode("ascii")))
        raw_path = url.raw_path.partition(b"?")[0]
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": self.root_path + unquote(raw_path.decode("ascii")),
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": url.query,
            "root_path": self.root_path,
            "headers": headers,
            "client": self.client,
            "server": (url.host, port),
            "extensions": {},
            "state": self.state.copy(),
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Call the app with `request`; return once the app has started its response."""
        exchange = _Exchange(self.app, self._scope(request), request)
        if self._task_group is None:
            await exchange.run()
        else:
            self._task_group.start_soon(exchange.run)
            await exchange.response_started.wait()
        if not exchange.started:
            exchange.body_in.close()  # no response will read it
        if exchange.error is not None and not exchange.started:
            if self.raise_app_exceptions:
                raise exchange.error
            # stream=, not content=: a response made with content= counts as read already,
            # and the clients above read the raw stream.
            body = b"Internal Server Error"
            return httpx.Response(
                500,
                headers={
                    "content-type": "text/plain; charset=utf-8",
                    "content-length": str(len(body)),
                },
                stream=httpx.ByteStream(body),
                request=request,
            )
        if not exchange.started:
            raise RuntimeError("The app returned without starting a response.")
        return httpx.Response(
            exchange.status,
            headers=exchange.headers,
            stream=_ResponseStream(exchange, self.raise_app_exceptions),
            request=request,
        )


async def _next_message(outbox: MemoryObjectReceiveStream[Message]) -> Message:
    try:
        message = await outbox.receive()
    except anyio.EndOfStream:
        return {"type": "ferry.testing.returned"}  # the app returned: no lifespan support
    if message["type"] == "ferry.testing.error":
        return {"type": "ferry.testing.returned"}
    return message


class _PortalTransport(httpx.BaseTransport):
    """A sync transport: runs the async transport's calls through a blocking portal."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        portal = self.client._portal
        if portal is None:
            # Outside `with`: a short-lived event loop, and the response read in full.
            with anyio.from_thread.start_blocking_portal(**self.client.async_backend) as portal:
                transport = self.client.transport_without_lifespan()
                with portal.wrap_async_context_manager(transport):
                    response = portal.call(transport.handle_async_request, request)
                    content = portal.call(_read_all, response)
            # stream=, not content=: the body stays unread, so iter_raw() still gives it.
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=httpx.ByteStream(content),
                request=request,
            )
        response = portal.call(self.client.asgi_transport.handle_async_request, request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncStream(portal, response),
            request=request,
        )


async def _read_all(response: httpx.Response) -> bytes:
    # The body as the app sent it: the httpx.Response made from it decodes it (gzip) once.
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()  # also when the app's error is raised at the end


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, portal: anyio.from_thread.BlockingPortal, response: httpx.Response):
        self.portal = portal
        self.iterator = response.aiter_raw()
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.portal.call(self.iterator.__anext__)
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self.portal.call(self.response.aclose)


# --- websockets ---------------------------------------------------------------------------

# RFC 6455 §7.4.1: the close code a server reports when the app failed.
_INTERNAL_ERROR = 1011

# RFC 6455 §4.1: the handshake request's headers (the key is the RFC's own sample nonce).
_HANDSHAKE_HEADERS = {
    "connection": "upgrade",
    "upgrade": "websocket",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
}


# Both bases define __setstate__ (for pickling, which this exception is never used for).
class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """The HTTP response an app refused a websocket with, raised on entering the session.

    It is an `httpx.Response` (status_code, headers, content, text, json()) and a
    `WebSocketDisconnect` (code 1006: RFC 6455 §7.1.5, no close frame was ever sent).
    """

    def __init__(
        self,
        status_code: int,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        request: httpx.Request,
    ) -> None:
        httpx.Response.__init__(
            self, status_code, headers=headers, content=content, request=request
        )
        WebSocketDisconnect.__init__(self, ABNORMAL_CLOSURE, self.reason_phrase)

    def __str__(self) -> str:
        return f"the app denied the websocket with {self.status_code} {self.reason_phrase}"


class WebSocketTestSession:
    """The client's side of one websocket to the app; use it in `with`.

    Entering sends `websocket.connect` and waits for the app's answer. Leaving sends
    `websocket.disconnect` (1000) unless the connection is closed already, then waits for
    the app to return, as a server lets it finish; an exception from the app is raised
    again in the test (with `raise_server_exceptions`). When the app closes, the client
    answers with a disconnect echoing its code (RFC 6455 §5.5.1); what the test sends after
    that is lost, as it would be on a socket.

    Raises (on entering):
        WebSocketDisconnect: the app closed the websocket instead of accepting it.
        WebSocketDenialResponse: the app answered the handshake with an HTTP response.
    """

    def __init__(self, client: TestClient, scope: Scope, request: httpx.Request) -> None:
        self.app = client.app
        self.scope = scope
        self.request = request
        self.raise_server_exceptions = client.raise_server_exceptions
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self._client = client
        self._stack = contextlib.ExitStack()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._app_task: Future[None] | None = None
        self._error: Exception | None = None
        self._error_raised = False
        # Set up and used only in the event loop's thread (through the portal):
        self._cancel_scope: anyio.CancelScope | None = None
        self._to_app: MemoryObjectSendStream[Message] | None = None
        self._from_app: MemoryObjectReceiveStream[Message] | None = None
        self._app_state = WebSocketState.CONNECTING  # what the app has sent, as a server sees it
        self._disconnect: Message | None = None  # the websocket.disconnect the app was given

    # --- entering and leaving ---

    def __enter__(self) -> WebSocketTestSession:
        portal = self._client._portal
        if portal is None:
            # Outside `with TestClient`: an event loop for the session's lifetime.
            backend = self._client.async_backend
            portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal(**backend))
        self._portal = portal
        try:
            self._app_task, _ = portal.start_task(self._run)
            self.send({"type": "websocket.connect"})
            message = self.receive()
            if message["type"] == "websocket.http.response.start":
                raise self._denial_response(message)
            if message["type"] == "websocket.close":
                raise WebSocketDisconnect(
                    message.get("code", NORMAL_CLOSURE), message.get("reason")
                )
        except BaseException as exc:
            # A refusal or the app's error: the app has ended or will; anything else
            # (KeyboardInterrupt) stops it.
            self._finish(cancel=not isinstance(exc, Exception))
            raise
        self.accepted_subprotocol = message.get("subprotocol")
        self.extra_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # A failing test does not wait for an app that may never return.
        self._finish(cancel=exc_type is not None)

    def _finish(self, cancel: bool) -> None:
        portal, self._portal = self._portal, None
        if portal is None:
            return
        try:
            if self._app_task is not None:
                if cancel:
                    portal.call(self._cancel_app)
                else:
                    disconnect = {"type": "websocket.disconnect", "code": NORMAL_CLOSURE}
                    portal.call(self._disconnect_app, disconnect)
                self._app_task.result()
            portal.call(self._close_streams)
        finally:
            self._stack.close()
        self._raise_app_error()

    def _raise_app_error(self) -> None:
        if self._error is not None and self.raise_server_exceptions and not self._error_raised:
            self._error_raised = True
            raise self._error

    def _denial_response(self, start: Message) -> WebSocketDenialResponse:
        body: list[bytes] = []
        while True:
            message = self.receive()
            if message["type"] != "websocket.http.response.body":
                break  # the app returned before finishing its response
            body.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                break
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
        return WebSocketDenialResponse(start["status"], headers, b"".join(body), self.request)

    # --- the app's task, in the event loop's thread ---

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        to_app, inbox = anyio.create_memory_object_stream[Message](math.inf)
        outbox, from_app = anyio.create_memory_object_stream[Message](math.inf)
        self._to_app, self._from_app = to_app, from_app

        async def receive() -> Message:
            try:
                return await inbox.receive()
            except anyio.EndOfStream:
                # The client has gone: every later receive() is told so again.
                assert self._disconnect is not None
                return dict(self._disconnect)

        async def send(message: Message) -> None:
            if self._disconnect is not None:
                # ASGI 2.4: send() on a closed connection raises an OSError.
                raise OSError("the websocket client has disconnected")
            was_connected = self._app_state is WebSocketState.CONNECTED
            self._app_state = next_app_state(self._app_state, message)
            outbox.send_nowait(message)
            if self._app_state is WebSocketState.DISCONNECTED:
                # RFC 6455 §5.5.1: the client answers a close with its own, echoing the code.
                # A handshake refused or answered with HTTP never opened: 1006 (§7.1.5).
                code = message.get("code", NORMAL_CLOSURE) if was_connected else ABNORMAL_CLOSURE
                self._disconnect_app({"type": "websocket.disconnect", "code": code})

        with anyio.CancelScope() as self._cancel_scope, inbox, outbox:
            task_status.started()
            try:
                await self.app(self.scope, receive, send)
            except Exception as exc:
                self._error = exc

    def _disconnect_app(self, message: Message) -> None:
        if self._disconnect is not None or self._to_app is None:
            return
        self._disconnect = message
        with contextlib.suppress(anyio.BrokenResourceError):  # the app has returned
            self._to_app.send_nowait(message)
        self._to_app.close()

    async def _deliver(self, message: Message) -> None:
        assert self._to_app is not None
        if message["type"] == "websocket.disconnect":
            self._disconnect_app(message)
        elif self._disconnect is None:
            with contextlib.suppress(anyio.BrokenResourceError):  # the app has returned
                self._to_app.send_nowait(message)

    async def _next_from_app(self) -> Message | None:
        assert self._from_app is not None
        try:
            return await self._from_app.receive()
        except anyio.EndOfStream:
            return None  # the app has returned

    def _cancel_app(self) -> None:
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def _close_streams(self) -> None:
        for stream in (self._to_app, self._from_app):
            if stream is not None:
                stream.close()

    # --- the test's side ---

    def _require_portal(self) -> anyio.from_thread.BlockingPortal:
        if self._portal is None:
            raise RuntimeError("Use the websocket session inside `with`.")
        return self._portal

    def send(self, message: Message) -> None:
        """Send an ASGI message to the app: `websocket.receive` or `websocket.disconnect`."""
        self._require_portal().call(self._deliver, message)

    def receive(self) -> Message:
        """The next ASGI message from the app.

        Once the app has returned, a `websocket.close` (1006, or 1011 after an error).

        Raises:
            Exception: the app's error, with `raise_server_exceptions`.
        """
        message = self._require_portal().call(self._next_from_app)
        if message is None:
            self._raise_app_error()
            code = _INTERNAL_ERROR if self._error is not None else ABNORMAL_CLOSURE
            return {"type": "websocket.close", "code": code, "reason": ""}
        return message

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send `data` as compact JSON, in a text message or (as UTF-8) a binary one."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send_text(text)
        elif mode == "binary":
            self.send_bytes(text.encode("utf-8"))
        else:
            raise ValueError(f'mode must be "text" or "binary", not {mode!r}')

    def close(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Close the websocket from the client's side; the app receives the code."""
        self.send({"type": "websocket.disconnect", "code": code, "reason": reason or ""})

    def receive_text(self) -> str:
        """The next text message.

        Raises:
            WebSocketDisconnect: the app closed the websocket (with its code and reason).
            RuntimeError: the message is binary.
        """
        text = self._receive_payload("text")
        assert isinstance(text, str)
        return text

    def receive_bytes(self) -> bytes:
        """The next binary message.

        Raises:
            WebSocketDisconnect: the app closed the websocket (with its code and reason).
            RuntimeError: the message is text.
        """
        data = self._receive_payload("bytes")
        assert isinstance(data, bytes)
        return data

    def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """The next message, text or binary as `mode` says, parsed as JSON."""
        if mode not in ("text", "binary"):
            raise ValueError(f'mode must be "text" or "binary", not {mode!r}')
        return json.loads(self._receive_payload("text" if mode == "text" else "bytes"))

    def _receive_payload(self, key: Literal["text", "bytes"]) -> str | bytes:
        message = self.receive()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", NORMAL_CLOSURE), message.get("reason"))
        payload: str | bytes | None = message.get(key)
        if payload is None:
            wanted, other = ("text", "binary") if key == "text" else ("binary", "text")
            raise RuntimeError(f"Expected a {wanted} message from the app, but got a {other} one.")
        return payload


class TestClient(httpx.Client):
    """A synchronous httpx client for an ASGI app, called in-process.

    `with TestClient(app) as client:` runs the app's lifespan start-up on entry and its
    shutdown on exit; requests made inside stream both ways. `raise_server_exceptions`
    (default True) re-raises an exception from the app in the test.

    Example:
        >>> with TestClient(app) as client:  # doctest: +SKIP
        ...     assert client.get("/users/ada").json()["username"] == "ada"
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: Literal["asyncio", "trio"] = "asyncio",
        backend_options: dict[str, Any] | None = None,
        cookies: httpx._types.CookieTypes | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client_address = client
        self.async_backend: dict[str, Any] = {
            "backend": backend,
            "backend_options": backend_options or {},
        }
        self.asgi_transport = ASGITransport(
            app, raise_app_exceptions=raise_server_exceptions, root_path=root_path, client=client
        )
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._stack: contextlib.ExitStack | None = None
        super().__init__(
            base_url=base_url,
            headers={"user-agent": "testclient", **(headers or {})},
            transport=_PortalTransport(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    def transport_without_lifespan(self) -> ASGITransport:
        """A fresh transport for one request made outside `with`."""
        return ASGITransport(
            self.app,
            raise_app_exceptions=self.raise_server_exceptions,
            root_path=self.root_path,
            client=self.client_address,
            lifespan="off",
        )

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebSocketTestSession:
        """A websocket session with the app at `url` ("/ws", or "ws://testserver/ws").

        The handshake is a GET built like any request of this client (its base URL, default
        headers and cookies apply); the app sees a `websocket` scope with the
        "websocket.http.response" extension. Use the session in `with`. Sessions opened
        inside `with TestClient(app)` share its event loop, so apps that connect them (a chat
        room) work; outside it each session runs on an event loop of its own.

        Example:
            >>> with client.websocket_connect("/ws", subprotocols=["chat"]) as ws:  # doctest: +SKIP
            ...     ws.send_json({"hello": "world"})
        """
        handshake = dict(_HANDSHAKE_HEADERS)
        if subprotocols:
            handshake["sec-websocket-protocol"] = ", ".join(subprotocols)
        for ws_scheme, http_scheme in (("ws://", "http://"), ("wss://", "https://")):
            if url.startswith(ws_scheme):
                url = http_scheme + url[len(ws_scheme) :]
        request = self.build_request("GET", url, headers={**handshake, **(headers or {})})
        transport = (
            self.asgi_transport if self._portal is not None else self.transport_without_lifespan()
        )
        scope = transport._scope(request)
        del scope["method"]
        scope.update(
            type="websocket",
            scheme={"http": "ws", "https": "wss"}[scope["scheme"]],
            subprotocols=list(subprotocols or []),
            extensions={"websocket.http.response": {}},
        )
        return WebSocketTestSession(self, scope, request)

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan state the app set up (inside `with`)."""
        return self.asgi_transport.state

    def __enter__(self) -> TestClient:
        stack = contextlib.ExitStack()
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal(**self.async_backend))
        try:
            stack.enter_context(portal.wrap_async_context_manager(self.asgi_transport))
        except BaseException:
            stack.close()
            raise
        self._portal, self._stack = portal, stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            stack.__exit__(exc_type, exc_value, traceback)
        super().__exit__(exc_type, exc_value, traceback)
