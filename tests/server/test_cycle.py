"""RequestCycle, the receive() and send() an app sees, and FlowControl under it.

The cycle runs against a stand-in for the asyncio adapter: a real `HTTPConnection` fed with
bytes, a real `FlowControl` over a transport that only records calls, and lists that record
what the cycle writes, completes and fails. Each test runs its own event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, cast

import pytest

from ferry.server.config import Config
from ferry.server.connection import (
    BodyReceived,
    Happened,
    HTTPConnection,
    RequestComplete,
    RequestReceived,
)
from ferry.server.cycle import RequestCycle
from ferry.server.errors import ASGIProtocolError, ClientDisconnected
from ferry.server.flow import FlowControl
from ferry.server.logs import error_logger
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Message, Scope

if TYPE_CHECKING:
    from ferry.server.protocol import HTTPProtocol

App = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

GET = b"GET / HTTP/1.1\r\nhost: t\r\n\r\n"
START: Message = {"type": "http.response.start", "status": 200, "headers": []}
DISCONNECT: Message = {"type": "http.disconnect"}


def post(length: int, *extra: bytes) -> bytes:
    head = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n" % length
    return head + b"".join(line + b"\r\n" for line in extra) + b"\r\n"


def body(data: bytes = b"", more_body: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more_body}


def request(data: bytes, more_body: bool) -> Message:
    return {"type": "http.request", "body": data, "more_body": more_body}


class FakeTransport(asyncio.Transport):
    """Records the reading calls that FlowControl makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.closing = False

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def is_closing(self) -> bool:
        return self.closing


class FakeServerState:
    def __init__(self) -> None:
        self.active_requests = 1
        self.tasks: set[asyncio.Task[None]] = set()


class FakeProtocol:
    """What a RequestCycle uses of HTTPProtocol, recording each call."""

    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn
        self.transport = FakeTransport()
        self.flow = FlowControl(self.transport)
        self.state = FakeServerState()
        self.written: list[bytes] = []
        self.completed: list[RequestCycle] = []
        self.failures: list[tuple[bool, str]] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def response_complete(self, cycle: RequestCycle) -> None:
        self.completed.append(cycle)

    def fail_response(self, cycle: RequestCycle, *, started: bool, reason: str) -> None:
        self.failures.append((started, reason))


def open_cycle(data: bytes) -> tuple[RequestCycle, FakeProtocol]:
    """A cycle for the request in `data`, fed whatever of its body `data` holds."""
    conn = HTTPConnection(Config(app="x:y"), client=("127.0.0.1", 50000), server=None)
    happened = conn.receive_bytes(data)
    received = happened[0]
    assert isinstance(received, RequestReceived)
    protocol = FakeProtocol(conn)
    cycle = RequestCycle(received.scope, cast("HTTPProtocol", protocol), 0.0)
    deliver(cycle, happened[1:])
    return cycle, protocol


def feed(cycle: RequestCycle, protocol: FakeProtocol, data: bytes) -> None:
    """More bytes from the client, passed on as the adapter does."""
    deliver(cycle, protocol.conn.receive_bytes(data))


def deliver(cycle: RequestCycle, happened: list[Happened]) -> None:
    for event in happened:
        if isinstance(event, BodyReceived):
            cycle.body_received(event.body)
        elif isinstance(event, RequestComplete):
            cycle.request_complete()
        else:
            raise AssertionError(f"unexpected {event!r}")


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def error_records() -> Iterator[list[logging.LogRecord]]:
    """What the server logs on 'ferry.error' during the test."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.DEBUG)
    error_logger.addHandler(handler)
    try:
        yield records
    finally:
        error_logger.removeHandler(handler)


# --- receive() -------------------------------------------------------------------------------


def test_receive_gives_a_request_without_body_as_one_empty_final_message() -> None:
    cycle, _ = open_cycle(GET)
    assert asyncio.run(cycle.receive()) == request(b"", more_body=False)


def test_receive_returns_body_pieces_in_the_order_they_arrive() -> None:
    async def scenario() -> list[Message]:
        cycle, protocol = open_cycle(post(6))
        received = []
        for piece in (b"ab", b"cd", b"ef"):
            waiting = asyncio.create_task(cycle.receive())
            await settle()
            assert not waiting.done()
            feed(cycle, protocol, piece)
            received.append(await waiting)
        return received

    assert asyncio.run(scenario()) == [
        request(b"ab", more_body=True),
        request(b"cd", more_body=True),
        request(b"ef", more_body=False),
    ]


def test_receive_joins_pieces_that_arrived_before_it_was_called() -> None:
    cycle, protocol = open_cycle(post(6) + b"ab")
    feed(cycle, protocol, b"cd")
    assert asyncio.run(cycle.receive()) == request(b"abcd", more_body=True)


def test_receive_after_the_whole_body_blocks_until_the_client_disconnects() -> None:
    async def scenario() -> Message:
        cycle, _ = open_cycle(post(2) + b"hi")
        assert await cycle.receive() == request(b"hi", more_body=False)
        waiting = asyncio.create_task(cycle.receive())
        await settle()
        assert not waiting.done()
        cycle.disconnect()
        return await waiting

    assert asyncio.run(scenario()) == DISCONNECT


def test_receive_waiting_after_the_body_returns_disconnect_when_the_response_completes() -> None:
    async def scenario() -> Message:
        cycle, _ = open_cycle(GET)
        await cycle.receive()
        waiting = asyncio.create_task(cycle.receive())
        await settle()
        assert not waiting.done()
        await cycle.send(START)
        await cycle.send(body(b"done"))
        return await waiting

    assert asyncio.run(scenario()) == DISCONNECT


def test_receive_after_the_response_is_complete_returns_disconnect() -> None:
    async def scenario() -> Message:
        cycle, _ = open_cycle(GET)
        await cycle.send(START)
        await cycle.send(body(b"done"))
        return await cycle.receive()

    assert asyncio.run(scenario()) == DISCONNECT


def test_receive_after_the_response_with_the_body_unfinished_returns_disconnect() -> None:
    async def scenario() -> Message:
        cycle, _ = open_cycle(post(10) + b"abc")
        assert await cycle.receive() == request(b"abc", more_body=True)
        await cycle.send(START)
        await cycle.send(body(b"answered early"))
        return await asyncio.wait_for(cycle.receive(), timeout=0.1)

    assert asyncio.run(scenario()) == DISCONNECT


def test_receive_after_a_disconnect_returns_disconnect_even_with_body_waiting() -> None:
    cycle, _ = open_cycle(post(10) + b"abc")
    cycle.disconnect()
    assert asyncio.run(cycle.receive()) == DISCONNECT


def test_receive_waiting_for_body_returns_disconnect_when_the_client_goes() -> None:
    async def scenario() -> Message:
        cycle, _ = open_cycle(post(10))
        waiting = asyncio.create_task(cycle.receive())
        await settle()
        cycle.disconnect()
        return await waiting

    assert asyncio.run(scenario()) == DISCONNECT


def test_receive_taking_the_body_resumes_reading() -> None:
    cycle, protocol = open_cycle(post(4) + b"data")
    protocol.flow.pause_reading()
    asyncio.run(cycle.receive())
    assert protocol.transport.calls == ["pause_reading", "resume_reading"]
    assert not protocol.flow.reading_paused


def test_body_received_reports_how_many_bytes_wait() -> None:
    cycle, _ = open_cycle(post(10))
    assert cycle.body_received(b"abc") == 3
    assert cycle.body_received(b"de") == 5


# --- 100-continue ----------------------------------------------------------------------------


def test_receive_with_expect_100_continue_writes_100_continue_once() -> None:
    async def scenario() -> tuple[list[Message], list[bytes]]:
        cycle, protocol = open_cycle(post(2, b"expect: 100-continue"))
        assert protocol.written == []
        received = []
        for piece in (b"o", b"k"):
            waiting = asyncio.create_task(cycle.receive())
            await settle()
            feed(cycle, protocol, piece)
            received.append(await waiting)
        return received, protocol.written

    received, written = asyncio.run(scenario())
    assert received == [request(b"o", more_body=True), request(b"k", more_body=False)]
    assert len(written) == 1
    assert written[0].startswith(b"HTTP/1.1 100 ")
    assert written[0].endswith(b"\r\n\r\n")


def test_receive_without_expect_writes_nothing_while_it_waits() -> None:
    async def scenario() -> list[bytes]:
        cycle, protocol = open_cycle(post(2))
        waiting = asyncio.create_task(cycle.receive())
        await settle()
        cycle.disconnect()
        await waiting
        return protocol.written

    assert asyncio.run(scenario()) == []


def test_app_that_never_reads_the_body_sends_no_100_continue() -> None:
    async def scenario() -> list[bytes]:
        cycle, protocol = open_cycle(post(2, b"expect: 100-continue"))
        await cycle.send(START)
        await cycle.send(body(b"no thanks"))
        return protocol.written

    written = asyncio.run(scenario())
    assert len(written) == 1
    assert written[0].startswith(b"HTTP/1.1 200 ")


# --- send() ----------------------------------------------------------------------------------


def test_send_writes_the_response_and_reports_it_complete() -> None:
    async def scenario() -> tuple[RequestCycle, FakeProtocol]:
        cycle, protocol = open_cycle(GET)
        await cycle.send({"type": "http.response.start", "status": 201, "headers": []})
        assert protocol.written == []
        await cycle.send(body(b"created"))
        return cycle, protocol

    cycle, protocol = asyncio.run(scenario())
    assert len(protocol.written) == 1
    assert protocol.written[0].startswith(b"HTTP/1.1 201 ")
    assert protocol.written[0].endswith(b"\r\n\r\ncreated")
    assert protocol.completed == [cycle]
    assert cycle.status == 201
    assert cycle.response_bytes == len(b"created")
    assert cycle.response_started
    assert cycle.response_complete


def test_send_streams_each_body_piece_as_it_comes() -> None:
    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(GET)
        await cycle.send(START)
        await cycle.send(body(b"a", more_body=True))
        assert len(protocol.written) == 1
        assert protocol.completed == []
        await cycle.send(body(b"b", more_body=True))
        await cycle.send(body())
        return protocol

    protocol = asyncio.run(scenario())
    assert protocol.written[1:] == [b"1\r\nb\r\n", b"0\r\n\r\n"]
    assert len(protocol.completed) == 1


def test_send_after_the_client_disconnected_raises_client_disconnected() -> None:
    async def scenario() -> None:
        cycle, protocol = open_cycle(GET)
        cycle.disconnect()
        with pytest.raises(ClientDisconnected):
            await cycle.send(START)
        assert protocol.written == []

    asyncio.run(scenario())


def test_client_disconnected_is_an_os_error() -> None:
    assert issubclass(ClientDisconnected, OSError)


def test_send_after_the_response_is_complete_is_refused() -> None:
    async def scenario() -> None:
        cycle, _ = open_cycle(GET)
        await cycle.send(START)
        await cycle.send(body(b"done"))
        with pytest.raises(ASGIProtocolError, match="already complete"):
            await cycle.send(body(b"more"))

    asyncio.run(scenario())


def test_send_waits_while_writing_is_paused_and_resumes_with_it() -> None:
    async def scenario() -> None:
        cycle, protocol = open_cycle(GET)
        await cycle.send(START)
        protocol.flow.pause_writing()
        sending = asyncio.create_task(cycle.send(body(b"later")))
        await settle()
        assert not sending.done()
        assert protocol.written == []
        protocol.flow.resume_writing()
        await sending
        assert protocol.written[0].endswith(b"later")

    asyncio.run(scenario())


def test_send_waiting_to_write_raises_client_disconnected_when_the_connection_is_lost() -> None:
    async def scenario() -> None:
        cycle, protocol = open_cycle(GET)
        await cycle.send(START)
        protocol.flow.pause_writing()
        sending = asyncio.create_task(cycle.send(body(b"never")))
        await settle()
        cycle.disconnect()
        protocol.flow.connection_lost()
        with pytest.raises(ClientDisconnected):
            await sending
        assert protocol.written == []

    asyncio.run(scenario())


# --- run(): the app's failures ---------------------------------------------------------------


async def raise_before_start(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    raise RuntimeError("boom")


async def raise_after_start(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await send(START)
    raise RuntimeError("boom")


async def raise_mid_body(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await send(START)
    await send(body(b"partial", more_body=True))
    raise RuntimeError("boom")


async def return_without_response(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await receive()


async def return_mid_body(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await send(START)
    await send(body(b"partial", more_body=True))


async def answer(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    await send(START)
    await send(body(b"ok"))


def run(app: App, data: bytes = GET) -> tuple[RequestCycle, FakeProtocol]:
    cycle, protocol = open_cycle(data)
    asyncio.run(cycle.run(app))
    return cycle, protocol


def test_app_answering_is_neither_failed_nor_logged(
    error_records: list[logging.LogRecord],
) -> None:
    _, protocol = run(answer)
    assert protocol.failures == []
    assert error_records == []
    assert len(protocol.completed) == 1


def test_app_error_before_the_start_fails_the_response_unstarted(
    error_records: list[logging.LogRecord],
) -> None:
    cycle, protocol = run(raise_before_start)
    assert protocol.failures == [(False, "the app raised")]
    assert cycle.status == 500
    assert [record.getMessage() for record in error_records] == ["Exception in ASGI application"]
    assert error_records[0].exc_info is not None


def test_app_error_after_only_the_start_fails_the_response_unstarted(
    error_records: list[logging.LogRecord],
) -> None:
    # The head is held until the first body message, so nothing was written yet: a 500 fits.
    _, protocol = run(raise_after_start)
    assert protocol.written == []
    assert protocol.failures == [(False, "the app raised")]


def test_app_error_after_body_bytes_were_written_fails_the_response_started(
    error_records: list[logging.LogRecord],
) -> None:
    _, protocol = run(raise_mid_body)
    assert len(protocol.written) == 1
    assert protocol.failures == [(True, "the app raised")]
    assert protocol.completed == []
    assert len(error_records) == 1


def test_app_returning_without_a_response_is_logged_and_failed(
    error_records: list[logging.LogRecord],
) -> None:
    _, protocol = run(return_without_response)
    assert protocol.failures == [(False, "the app returned without completing the response")]
    assert [record.getMessage() for record in error_records] == [
        "ASGI callable returned without completing the response."
    ]


def test_app_returning_in_the_middle_of_its_body_fails_the_response_started(
    error_records: list[logging.LogRecord],
) -> None:
    _, protocol = run(return_mid_body)
    assert protocol.failures == [(True, "the app returned without completing the response")]


def test_app_stopping_at_client_disconnected_is_neither_failed_nor_logged(
    error_records: list[logging.LogRecord],
) -> None:
    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(post(10))
        running = asyncio.create_task(cycle.run(answer_after_body))
        await settle()
        cycle.disconnect()
        await running
        return protocol

    async def answer_after_body(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        assert await receive() == DISCONNECT
        await send(START)

    protocol = asyncio.run(scenario())
    assert protocol.failures == []
    assert error_records == []


def test_app_returning_after_the_client_disconnected_is_not_failed(
    error_records: list[logging.LogRecord],
) -> None:
    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(post(10))
        running = asyncio.create_task(cycle.run(return_without_response))
        await settle()
        cycle.disconnect()
        await running
        return protocol

    protocol = asyncio.run(scenario())
    assert protocol.failures == []
    assert error_records == []


def test_cancelled_app_fails_the_response_and_the_cancellation_propagates() -> None:
    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(post(10))
        running = asyncio.create_task(cycle.run(return_without_response))
        await settle()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return protocol

    protocol = asyncio.run(scenario())
    assert protocol.failures == [(False, "cancelled")]


def test_app_cancelled_after_its_response_is_not_failed() -> None:
    async def answer_then_wait(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await answer(scope, receive, send)
        await asyncio.Event().wait()

    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(GET)
        running = asyncio.create_task(cycle.run(answer_then_wait))
        await settle()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return protocol

    protocol = asyncio.run(scenario())
    assert protocol.failures == []
    assert len(protocol.completed) == 1


def test_run_counts_the_request_as_finished() -> None:
    _, protocol = run(answer)
    assert protocol.state.active_requests == 0


def test_run_forgets_its_task_when_it_ends() -> None:
    async def scenario() -> FakeProtocol:
        cycle, protocol = open_cycle(GET)
        task = asyncio.create_task(cycle.run(answer))
        cycle.task = task
        protocol.state.tasks.add(task)
        await task
        return protocol

    assert asyncio.run(scenario()).state.tasks == set()


def test_run_counts_a_failed_request_as_finished(error_records: list[logging.LogRecord]) -> None:
    _, protocol = run(raise_before_start)
    assert protocol.state.active_requests == 0


# --- FlowControl -----------------------------------------------------------------------------


def test_pause_reading_twice_pauses_the_transport_once() -> None:
    transport = FakeTransport()
    flow = FlowControl(transport)
    flow.pause_reading()
    flow.pause_reading()
    assert flow.reading_paused
    assert transport.calls == ["pause_reading"]


def test_resume_reading_twice_resumes_the_transport_once() -> None:
    transport = FakeTransport()
    flow = FlowControl(transport)
    flow.pause_reading()
    flow.resume_reading()
    flow.resume_reading()
    assert not flow.reading_paused
    assert transport.calls == ["pause_reading", "resume_reading"]


def test_resume_reading_without_a_pause_does_nothing() -> None:
    transport = FakeTransport()
    FlowControl(transport).resume_reading()
    assert transport.calls == []


def test_resume_reading_on_a_closing_transport_only_clears_the_flag() -> None:
    transport = FakeTransport()
    flow = FlowControl(transport)
    flow.pause_reading()
    transport.closing = True
    flow.resume_reading()
    assert not flow.reading_paused
    assert transport.calls == ["pause_reading"]


def test_drain_returns_at_once_while_writing_is_not_paused() -> None:
    flow = FlowControl(FakeTransport())

    async def scenario() -> None:
        await asyncio.wait_for(flow.drain(), timeout=1.0)

    asyncio.run(scenario())


def test_drain_waits_until_writing_resumes_and_wakes_every_writer() -> None:
    async def scenario() -> None:
        flow = FlowControl(FakeTransport())
        flow.pause_writing()
        assert flow.writing_paused
        writers = [asyncio.create_task(flow.drain()) for _ in range(3)]
        await settle()
        assert not any(writer.done() for writer in writers)
        flow.resume_writing()
        assert not flow.writing_paused
        await asyncio.wait_for(asyncio.gather(*writers), timeout=1.0)

    asyncio.run(scenario())


def test_connection_lost_wakes_waiting_writers() -> None:
    async def scenario() -> None:
        flow = FlowControl(FakeTransport())
        flow.pause_writing()
        writer = asyncio.create_task(flow.drain())
        await settle()
        assert not writer.done()
        flow.connection_lost()
        assert not flow.writing_paused
        await asyncio.wait_for(writer, timeout=1.0)

    asyncio.run(scenario())


def test_drain_after_connection_lost_returns_at_once() -> None:
    async def scenario() -> None:
        flow = FlowControl(FakeTransport())
        flow.pause_writing()
        flow.connection_lost()
        await asyncio.wait_for(flow.drain(), timeout=1.0)

    asyncio.run(scenario())


def test_cancelled_writer_does_not_stop_the_others_waking() -> None:
    async def scenario() -> None:
        flow = FlowControl(FakeTransport())
        flow.pause_writing()
        cancelled = asyncio.create_task(flow.drain())
        waiting = asyncio.create_task(flow.drain())
        await settle()
        cancelled.cancel()
        await settle()
        flow.resume_writing()
        await asyncio.wait_for(waiting, timeout=1.0)
        assert cancelled.cancelled()

    asyncio.run(scenario())
