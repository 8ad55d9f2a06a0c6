"""run_in_threadpool and iterate_in_threadpool: worker threads on asyncio, uvloop and trio."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

from ferry.asgi import concurrency, iterate_in_threadpool, run_in_threadpool

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="none")

Main = Callable[[], Coroutine[Any, Any, Any]]


def run_with_uvloop(main: Main) -> Any:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


# Every test below runs on each of these: the thread hop differs between them.
RUNNERS: dict[str, Callable[[Main], Any]] = {
    "asyncio": lambda main: asyncio.run(main()),
    "uvloop": run_with_uvloop,
    "trio": lambda main: anyio.run(main, backend="trio"),
}


@pytest.fixture(params=sorted(RUNNERS))
def run(request: pytest.FixtureRequest) -> Callable[[Main], Any]:
    return RUNNERS[request.param]


def add(a: int, b: int, *, times: int = 1) -> tuple[int, str]:
    return (a + b) * times, threading.current_thread().name


def test_returns_the_result_of_a_call_in_another_thread(run: Callable[[Main], Any]) -> None:
    async def main() -> tuple[int, str]:
        return await run_in_threadpool(add, 2, 3)

    result, thread_name = run(main)
    assert result == 5
    assert thread_name != threading.current_thread().name


def test_passes_keyword_arguments(run: Callable[[Main], Any]) -> None:
    async def main() -> tuple[int, str]:
        return await run_in_threadpool(add, 2, b=3, times=4)

    assert run(main)[0] == 20


def test_an_exception_reaches_the_caller_unchanged(run: Callable[[Main], Any]) -> None:
    error = LookupError("no such user")

    def fail() -> None:
        raise error

    async def main() -> BaseException:
        with pytest.raises(LookupError) as caught:
            await run_in_threadpool(fail)
        return caught.value

    assert run(main) is error


def test_stop_iteration_becomes_a_runtime_error(run: Callable[[Main], Any]) -> None:
    def stop() -> None:
        raise StopIteration

    async def main() -> None:
        with pytest.raises(RuntimeError):
            await run_in_threadpool(stop)

    run(main)


def test_context_variables_are_copied_into_the_call(run: Callable[[Main], Any]) -> None:
    def read_and_set() -> str:
        seen = REQUEST_ID.get()
        REQUEST_ID.set("set in the thread")
        return seen

    async def main() -> tuple[str, str]:
        REQUEST_ID.set("abc")
        seen = await run_in_threadpool(read_and_set)
        return seen, REQUEST_ID.get()

    # The call sees the caller's value; what it sets stays in its copy.
    assert run(main) == ("abc", "abc")


def test_the_event_loop_keeps_running_during_a_call(run: Callable[[Main], Any]) -> None:
    async def main() -> list[str]:
        events: list[str] = []
        released = threading.Event()

        def blocking() -> None:
            assert released.wait(5)
            events.append("call returned")

        async def ticker() -> None:
            await anyio.sleep(0.01)
            events.append("loop ran")
            released.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            await run_in_threadpool(blocking)
        return events

    assert run(main) == ["loop ran", "call returned"]


def test_calls_in_a_row_reuse_one_worker_thread(run: Callable[[Main], Any]) -> None:
    def ident() -> int:
        return threading.get_ident()

    async def main() -> set[int]:
        return {await run_in_threadpool(ident) for _ in range(20)}

    assert len(run(main)) == 1


def test_the_default_thread_limiter_caps_concurrent_calls(run: Callable[[Main], Any]) -> None:
    lock = threading.Lock()
    three_running = threading.Event()
    running = 0
    most = 0

    def busy() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 3:
                three_running.set()
        # Hold the first three calls until all three run, so that a fourth would overlap.
        assert three_running.wait(5)
        time.sleep(0.01)
        with lock:
            running -= 1

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 3
        async with anyio.create_task_group() as tasks:
            for _ in range(10):
                tasks.start_soon(run_in_threadpool, busy)

    run(main)
    assert most == 3


def test_a_cancelled_caller_waits_for_its_call_to_finish(run: Callable[[Main], Any]) -> None:
    events: list[str] = []

    async def main() -> None:
        started = threading.Event()
        release = threading.Event()

        def slow() -> None:
            started.set()
            assert release.wait(5)
            time.sleep(0.02)
            events.append("call finished")

        async def caller() -> None:
            try:
                await run_in_threadpool(slow)
            finally:
                events.append("caller resumed")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(caller)
            assert await anyio.to_thread.run_sync(started.wait, 5)
            tasks.cancel_scope.cancel()
            release.set()
        events.append("task group done")

    run(main)
    assert events == ["call finished", "caller resumed", "task group done"]


def test_a_plain_asyncio_cancellation_leaves_the_call_running() -> None:
    # As with anyio: only anyio cancel scopes are held off; asyncio.wait_for returns at once.
    events: list[str] = []
    release = threading.Event()

    def slow() -> None:
        assert release.wait(5)
        events.append("call finished")

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run_in_threadpool(slow), 0.01)
        events.append("caller timed out")
        release.set()
        # The limiter token came back: a next call runs (it may wait for `slow` to end).
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        await run_in_threadpool(events.append, "next call")

    asyncio.run(main())
    assert events[0] == "caller timed out"
    assert sorted(events[1:]) == ["call finished", "next call"]


def test_a_caller_cancelled_before_the_call_does_not_make_it(run: Callable[[Main], Any]) -> None:
    calls: list[str] = []

    async def main() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await run_in_threadpool(calls.append, "made")

    run(main)
    assert calls == []


def test_waiting_for_a_call_under_a_cancelled_scope_does_not_spin(
    run: Callable[[Main], Any],
) -> None:
    # The wait is shielded from anyio: were it not, anyio would cancel the waiting task again
    # on every turn of the loop, and the loop would burn a core until the call returned.
    async def main() -> float:
        release = threading.Event()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_in_threadpool, release.wait, 5)
            await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()
            used_before = time.process_time()
            threading.Timer(0.3, release.set).start()
        return time.process_time() - used_before

    assert run(main) < 0.15


def test_check_cancelled_stops_a_call_whose_caller_was_cancelled(
    run: Callable[[Main], Any],
) -> None:
    outcome: list[str] = []

    def until_cancelled() -> None:
        for _ in range(500):  # 5 s at most
            try:
                anyio.from_thread.check_cancelled()
            except BaseException:
                outcome.append("stopped by the cancellation")
                raise
            time.sleep(0.01)
        outcome.append("ran to the end")

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_in_threadpool, until_cancelled)
            await anyio.sleep(0.05)
            tasks.cancel_scope.cancel()

    run(main)
    assert outcome == ["stopped by the cancellation"]


def test_from_thread_run_is_cancelled_with_the_caller(run: Callable[[Main], Any]) -> None:
    outcome: list[str] = []

    async def nap() -> None:
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            outcome.append("nap cancelled")
            raise

    def call_back() -> None:
        with contextlib.suppress(BaseException):
            anyio.from_thread.run(nap)

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_in_threadpool, call_back)
            await anyio.sleep(0.05)
            tasks.cancel_scope.cancel()

    run(main)
    assert outcome == ["nap cancelled"]


def test_from_thread_run_gets_back_to_the_event_loop(run: Callable[[Main], Any]) -> None:
    async def double(value: int) -> int:
        await anyio.lowlevel.checkpoint()
        return value * 2

    def in_thread() -> int:
        anyio.from_thread.check_cancelled()
        return anyio.from_thread.run(double, 21)

    async def main() -> int:
        return await run_in_threadpool(in_thread)

    assert run(main) == 42


def test_iterates_a_sync_iterable_in_worker_threads(run: Callable[[Main], Any]) -> None:
    def numbers() -> Iterator[tuple[int, str]]:
        for number in range(3):
            yield number, threading.current_thread().name

    async def main() -> list[tuple[int, str]]:
        return [item async for item in iterate_in_threadpool(numbers())]

    items = run(main)
    assert [number for number, _ in items] == [0, 1, 2]
    assert threading.current_thread().name not in {name for _, name in items}


def test_an_iterator_error_reaches_the_caller(run: Callable[[Main], Any]) -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("broken")

    seen: list[int] = []

    async def consume() -> None:
        async for item in iterate_in_threadpool(broken()):
            seen.append(item)

    async def main() -> list[int]:
        with pytest.raises(ValueError, match="broken"):
            await consume()
        return seen

    assert run(main) == [1]


def test_a_call_outliving_its_event_loop_frees_its_worker() -> None:
    # The caller's loop is closed while the call still runs; the worker must go back to idle
    # and serve the next loop, not die or hang.
    started = threading.Event()
    release = threading.Event()

    def slow() -> int:
        started.set()
        assert release.wait(5)
        return threading.get_ident()

    loop = asyncio.new_event_loop()
    abandoned = loop.create_task(run_in_threadpool(slow))
    loop.run_until_complete(asyncio.to_thread(started.wait, 5))
    loop.close()
    assert not abandoned.done()
    idle_before = len(concurrency._idle_workers)
    release.set()
    deadline = time.monotonic() + 5
    while len(concurrency._idle_workers) == idle_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(concurrency._idle_workers) == idle_before + 1
    del abandoned
    gc.collect()


def test_workers_idle_for_long_are_retired(monkeypatch: pytest.MonkeyPatch) -> None:
    def worker_threads() -> int:
        return sum(thread.name == "ferry worker" for thread in threading.enumerate())

    async def many_at_once() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(6):
                tasks.start_soon(run_in_threadpool, time.sleep, 0.02)

    asyncio.run(many_at_once())
    assert worker_threads() >= 6
    monkeypatch.setattr(concurrency, "_MAX_IDLE_SECONDS", 0.0)

    async def one_at_a_time() -> None:
        for _ in range(len(concurrency._idle_workers)):
            await run_in_threadpool(time.sleep, 0.001)

    before = worker_threads()
    asyncio.run(one_at_a_time())
    deadline = time.monotonic() + 5
    while worker_threads() > 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker_threads() < before
    assert worker_threads() <= 2


FORK_SCRIPT = """
import asyncio, os, signal, sys, time
from ferry.asgi import run_in_threadpool

asyncio.run(run_in_threadpool(abs, -1))  # leaves an idle worker thread behind
pid = os.fork()
if pid == 0:
    os._exit(asyncio.run(run_in_threadpool(abs, -7)))
for _ in range(1000):  # ten seconds at most, then the child is ended and the test fails
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.01)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
sys.exit("the child hung")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_workers() -> None:
    # The parent's idle workers are threads the child does not have; handing a job to one
    # of them would hang the child.
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORK_SCRIPT],
        timeout=30,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 7, done.stderr.decode()


def test_event_loops_that_made_calls_are_not_kept_alive() -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
    for _ in range(3):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(run_in_threadpool(add, 1, 2))
        loop.close()
        loops.append(weakref.ref(loop))
        del loop
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]


def test_sniffio_finds_no_event_loop_inside_the_call() -> None:
    sniffio = pytest.importorskip("sniffio")

    def library() -> str:
        try:
            return str(sniffio.current_async_library())
        except sniffio.AsyncLibraryNotFoundError:
            return "none"

    async def main() -> tuple[str, str]:
        return sniffio.current_async_library(), await run_in_threadpool(library)

    # anyio.run marks its context as "asyncio"; the worker thread runs no loop at all.
    assert anyio.run(main, backend="asyncio") == ("asyncio", "none")


def test_a_call_that_ends_while_its_loop_is_stopped_frees_its_worker() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> None:
        started.set()
        assert release.wait(5)

    loop = asyncio.new_event_loop()
    abandoned = loop.create_task(run_in_threadpool(slow))
    loop.run_until_complete(asyncio.to_thread(started.wait, 5))
    idle_before = len(concurrency._idle_workers)
    release.set()  # the report is queued on the stopped loop ...
    deadline = time.monotonic() + 5
    while len(concurrency._idle_workers) == idle_before and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.close()  # ... and dropped with it; the worker is idle all the same
    assert len(concurrency._idle_workers) == idle_before + 1
    assert not abandoned.done()
    del abandoned
    gc.collect()
