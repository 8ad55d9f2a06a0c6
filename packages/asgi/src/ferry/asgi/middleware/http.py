"""HTTPMiddleware: middleware written as one function, `dispatch(request, call_next)`.

    async def dispatch(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)      # the next app's response, not yet sent
        response.headers["x-served-by"] = "ferry"
        return response

How one request goes through it:

    __call__            opens a task group for the request and awaits dispatch(...)
    call_next(request)  starts the next app as a task of that group; its `send` hands each
                        message over a memory stream with no buffer; call_next returns once
                        `http.response.start` arrives, as a response whose body is read
                        from the stream while it is being sent
    __call__            sends the response dispatch returned, then waits (never cancels)
                        until the next app, background tasks included, has finished

What that gives, where a hidden task group usually takes it away:
- Context variables set in dispatch before call_next are seen by the next app, its body
  iterators and its background tasks: the app's task is started from dispatch's context.
- Background tasks run to completion after the client has its response.
- Streaming passes through piece by piece, with back-pressure: the stream holds nothing,
  so the next app's `send` waits until the middleware has passed the previous piece on.
- An exception from the next app before its response starts is raised from call_next; a
  later one propagates out of the middleware. Neither is wrapped in an ExceptionGroup.
  An app that returns before its last body message, without having heard the client
  leave, is an error too (a RuntimeError): a cut-off body must not pass for a whole one.

A response the next app started but dispatch did not return is dropped: the next app's
`send` raises OSError, as an ASGI 2.4 server's does when the client is gone (older specs:
the message is discarded, and `receive` reports `http.disconnect` once the request ends).

A body a middleware already read (`await request.body()`, kept under `BODY_KEY`) reaches
the next app again: its first `receive()` returns it whole; later calls go to the real
`receive`, so `http.disconnect` still arrives. The next app sees only
`http.response.start` and `http.response.body`; other response messages (trailers, for
one) are refused with a RuntimeError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ferry.asgi.requests import BODY_KEY, Request
from ferry.asgi.responses import Response, StreamingResponse
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

CallNext = Callable[[Request], Awaitable[StreamingResponse]]
Dispatch = Callable[[Request, CallNext], Awaitable[Response]]


class HTTPMiddleware:
    """Run `dispatch(request, call_next)` around the next app, for HTTP requests.

    Give `dispatch` as an argument, or subclass and override the `dispatch` method.
    `call_next(request)` runs the next app and returns its response as soon as it has
    started: status and headers can be changed, `body_iterator` read, or another response
    returned instead. Other scope types (websocket, lifespan) go straight to the next app.

    Raises:
        Exception: whatever the next app or dispatch raised, never wrapped in a group.

    Example:
        >>> async def add_header(request: Request, call_next: CallNext) -> Response:
        ...     response = await call_next(request)
        ...     response.headers["x-frame-options"] = "DENY"
        ...     return response
        >>> app = HTTPMiddleware(app, dispatch=add_header)  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, dispatch: Dispatch | None = None) -> None:
        self.app = app
        self.dispatch_func: Dispatch = self.dispatch if dispatch is None else dispatch

    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        """Answer `request`, usually through `await call_next(request)`; for subclasses."""
        raise NotImplementedError("give HTTPMiddleware a dispatch function or override dispatch")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        calls: list[_DownstreamCall] = []
        error: Exception | None = None
        async with anyio.create_task_group() as task_group:

            async def call_next(request: Request) -> StreamingResponse:
                call = _DownstreamCall(self.app, request.scope, receive)
                calls.append(call)
                # Started from dispatch's task, the app's task copies dispatch's context:
                # the context variables set so far are visible downstream.
                task_group.start_soon(call.run)
                return await call.response()

            try:
                response = await self.dispatch_func(Request(scope, receive), call_next)
                await response(scope, receive, send)
            except Exception as exc:
                # Raised again once the task group is done: raised inside it, the error
                # would cancel the next app (and its background tasks) and come out
                # wrapped in an ExceptionGroup.
                error = exc
            finally:
                for call in calls:
                    call.drop()
        if error is not None:
            raise error
        for call in calls:
            call.raise_unreported_error()


class _DownstreamCall:
    """One run of the next app: its `receive` and `send`, and the stream between them."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._body_replayed = False
        self._disconnected = False  # the app has received http.disconnect
        self._response_started = False
        self._response_complete = False
        spec_version = scope.get("asgi", {}).get("spec_version", "2.0")
        self._send_raises_when_gone = tuple(map(int, spec_version.split("."))) >= (2, 4)
        self._body_complete = False  # the middleware has taken the last body message
        self._dropped = False  # the middleware is done with this response
        self.error: Exception | None = None
        self._error_reported = False
        # No buffer: the app's send() returns only once the middleware has taken the message.
        # Closing the receiving end (drop()) makes a send() waiting or to come fail at once.
        self._outbox: MemoryObjectSendStream[Message]
        self._inbox: MemoryObjectReceiveStream[Message]
        self._outbox, self._inbox = anyio.create_memory_object_stream[Message](0)

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception as exc:
            # The OSError our own send() raised after drop() is how the app was told; it
            # ended as asked, which is no error.
            if not (self._dropped and isinstance(exc, OSError)):
                self.error = exc
        finally:
            self._outbox.close()

    async def receive(self) -> Message:
        if not self._body_replayed:
            self._body_replayed = True
            body = self.scope.get(BODY_KEY)
            if body is not None:
                # A middleware read the whole body from the real receive(); give it again.
                return {"type": "http.request", "body": body, "more_body": False}
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._disconnected = True
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if self._response_complete:
            raise RuntimeError(f"Unexpected {kind!r} after the response ended.")
        expected = "http.response.body" if self._response_started else "http.response.start"
        if kind != expected:
            raise RuntimeError(f"Expected {expected!r}, got {kind!r}.")
        if kind == "http.response.start":
            self._response_started = True
        elif not message.get("more_body", False):
            self._response_complete = True
        try:
            await self._outbox.send(message)
        except anyio.BrokenResourceError:  # drop() closed the other end
            self._refuse()

    def _refuse(self) -> None:
        # ASGI 2.4: send() raises OSError once the client is gone; before 2.4 the
        # message was silently discarded.
        if self._send_raises_when_gone:
            raise OSError("the middleware answered with another response") from None

    async def response(self) -> StreamingResponse:
        start = await self._next_message()
        if start is None:
            self.raise_unreported_error()
            raise RuntimeError("The app returned without sending 'http.response.start'.")
        return _DownstreamResponse(start, _Body(self))

    async def next_body(self) -> bytes | None:
        """The next piece of the body; None once the body is complete."""
        if self._body_complete:
            return None
        message = await self._next_message()
        if message is None:
            # The app ended before its last body message: its error is raised here, where
            # the response is being sent. Without an error, that is fine only once the app
            # has heard the client leave; otherwise the client must not take a cut-off
            # body for a whole one.
            self._body_complete = True
            self.raise_unreported_error()
            if not self._disconnected:
                raise RuntimeError("The app returned before its last 'http.response.body'.")
            return None
        self._body_complete = not message.get("more_body", False)
        return bytes(message.get("body", b""))

    async def _next_message(self) -> Message | None:
        # Outside the except block, an error raised again does not get EndOfStream as context.
        try:
            return await self._inbox.receive()
        except anyio.EndOfStream:
            return None

    def drop(self) -> None:
        """The middleware is done with this response: a send() still to come is refused."""
        self._dropped = True
        self._inbox.close()

    def raise_unreported_error(self) -> None:
        if self.error is not None and not self._error_reported:
            self._error_reported = True
            raise self.error


class _Body:
    """The next app's body as an async iterator of bytes, read as it is sent."""

    def __init__(self, call: _DownstreamCall) -> None:
        self.call = call

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while True:
            chunk = await self.call.next_body()
            if chunk is None:
                raise StopAsyncIteration
            if chunk:
                return chunk


class _DownstreamResponse(StreamingResponse):
    """The next app's response as call_next returns it.

    Status and headers come from its `http.response.start` and can be changed until the
    response is sent; `body_iterator` reads the body as the app sends it.
    """

    def __init__(self, start: Message, body: _Body) -> None:
        self.status_code = start["status"]
        self.raw_headers = [(bytes(name), bytes(value)) for name, value in start.get("headers", [])]
        self.background = None
        self.body_iterator = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Unlike StreamingResponse, receive() is not watched for http.disconnect: the next
        # app owns receive(), and it ends (which ends the body) once the client is gone.
        async def send_to_client(message: Message) -> None:
            try:
                await send(message)
            except OSError as exc:
                raise _ClientGone from exc

        try:
            await self._stream(send_to_client)
        except _ClientGone:
            return  # ASGI 2.4: the next app learns it at its next send (see drop())
        if self.background is not None:
            await self.background()


class _ClientGone(Exception):
    # The real send() raised OSError (ASGI 2.4: the client is gone). A separate class, so
    # that an OSError of the next app's own, raised from its body, still propagates.
    pass
