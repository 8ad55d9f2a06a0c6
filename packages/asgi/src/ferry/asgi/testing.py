"""Test clients that call an ASGI app in-process, with the httpx API.

    with TestClient(app) as client:          # runs lifespan start-up and shutdown
        assert client.get("/").status_code == 200

    async with httpx.AsyncClient(transport=ASGITransport(app), base_url="http://testserver") as c:
        response = await c.get("/")

`ASGITransport` is the one transport underneath both: inside `async with`, each request's
app runs as a task of the transport's task group, so the request body streams in and the
response body streams out while the app runs. `TestClient` drives the same transport from
synchronous code through an anyio blocking portal (an event loop in a thread).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

import anyio
import anyio.abc
import anyio.from_thread
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ferry.asgi.types import ASGIApp, Message, Scope

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
