"""Running sync code without blocking the event loop: worker threads.

Sync endpoints, sync dependencies, sync exception handlers, sync background tasks and sync
iterators all go through these two functions; there is no second, synchronous request path.

On asyncio (and uvloop) a call goes to a small pool of worker threads of this module's own: the
job is put on an idle thread's queue and its result comes back with `call_soon_threadsafe`, one
thread switch each way and nothing more. That is about a third of what `anyio.to_thread.run_sync`
costs per call, and a sync endpoint pays it on every request. On any other backend (trio) the
call goes to `anyio.to_thread.run_sync`. Either way, as with anyio:

- at most as many calls run at once as anyio's default thread limiter allows (40 unless you set
  `anyio.to_thread.current_default_thread_limiter().total_tokens`); the rest wait their turn;
- the caller's context variables are visible inside the call;
- a caller that is cancelled still waits for its call to finish before the cancellation goes on,
  so nothing the call uses is torn down under it;
- `anyio.from_thread.run()` works inside the call, to get back to the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")

# A worker idle for this long is retired the next time a job is handed out.
_MAX_IDLE_SECONDS = 10.0

# Where anyio.from_thread looks for the event loop of the current worker thread. Private to
# anyio, hence the fallback: without it, from_thread calls in a worker need an explicit token=.
_anyio_threadlocals: threading.local | None
try:
    from anyio._core._eventloop import threadlocals as _anyio_threadlocals
except ImportError:  # pragma: no cover
    _anyio_threadlocals = None


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `func(*args, **kwargs)` in a worker thread and return its result.

    Context variables set before the call are visible inside it.
    """
    call: Callable[..., T] = func
    call_args: tuple[Any, ...] = args
    if kwargs:
        call, call_args = functools.partial(func, *args, **kwargs), ()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio, through anyio
        return await anyio.to_thread.run_sync(call, *call_args)
    return await _run_on_worker(loop, call, call_args)


class _StopIteration(Exception):
    # StopIteration cannot cross a thread boundary inside a coroutine (PEP 479).
    pass


def _next(iterator: Iterator[T]) -> T:
    try:
        return next(iterator)
    except StopIteration:
        raise _StopIteration from None


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a sync iterable, each `next()` in a worker thread."""
    iterator = iter(iterable)
    while True:
        try:
            yield await run_in_threadpool(_next, iterator)
        except _StopIteration:
            break


# The asyncio side ---------------------------------------------------------------------------


class _LoopState:
    """What every job on one event loop needs: its thread limiter and its anyio token."""

    __slots__ = ("limiter", "token")

    def __init__(self) -> None:
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        self.token = anyio.lowlevel.current_token()


_loop_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)


class _Job:
    """One call to make in a worker thread, and how to report back to its event loop."""

    __slots__ = ("args", "context", "finished", "func", "future", "loop", "on_finished", "token")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        token: object,
    ) -> None:
        self.func = func
        self.args = args
        self.context = contextvars.copy_context()
        self.loop = loop
        self.token = token
        self.future: asyncio.Future[Any] = loop.create_future()
        self.finished = False
        # Set only when the caller was cancelled and waits for the call to finish.
        self.on_finished: asyncio.Future[None] | None = None


class _Worker:
    """A worker thread that makes the calls put on its queue until it gets `None`."""

    __slots__ = ("idle_since", "jobs")

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.idle_since = 0.0
        # Daemon: an idle worker must not keep the interpreter alive at exit.
        threading.Thread(target=self._run, name="ferry worker", daemon=True).start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if _anyio_threadlocals is not None:
                _anyio_threadlocals.current_token = job.token
                _anyio_threadlocals.current_cancel_scope = None
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.context.run(job.func, *job.args)
            except BaseException as exc:
                error = exc
            try:
                job.loop.call_soon_threadsafe(_report, self, job, result, error)
            except RuntimeError:  # the loop closed while the call ran: nobody is waiting
                _make_idle(self)
            del job, result, error  # an idle worker holds on to nothing


# Idle workers, the most recently used last. Shared by all event loops: a job carries its loop.
_idle_workers: deque[_Worker] = deque()
# A forked child has none of its parent's threads: it must not hand jobs to their queues.
os.register_at_fork(after_in_child=_idle_workers.clear)


def _make_idle(worker: _Worker) -> None:
    worker.idle_since = time.monotonic()
    _idle_workers.append(worker)


def _take_idle_worker() -> _Worker:
    try:
        worker = _idle_workers.pop()
    except IndexError:
        return _Worker()
    try:
        oldest = _idle_workers[0]
        if time.monotonic() - oldest.idle_since > _MAX_IDLE_SECONDS:
            _idle_workers.remove(oldest)
            oldest.jobs.put(None)
    except (IndexError, ValueError):  # another event loop's thread took it meanwhile
        pass
    return worker


def _report(worker: _Worker, job: _Job, result: Any, error: BaseException | None) -> None:
    # Runs on the job's event loop.
    _make_idle(worker)
    job.finished = True
    if job.on_finished is not None:
        job.on_finished.set_result(None)
    if job.future.done():  # the caller was cancelled
        return
    if error is None:
        job.future.set_result(result)
    elif isinstance(error, StopIteration):  # a future cannot carry StopIteration
        job.future.set_exception(RuntimeError("the call raised StopIteration"))
    else:
        job.future.set_exception(error)


async def _run_on_worker(
    loop: asyncio.AbstractEventLoop, func: Callable[..., T], args: tuple[Any, ...]
) -> T:
    state = _loop_states.get(loop)
    if state is None:
        state = _loop_states[loop] = _LoopState()
    borrower = asyncio.current_task()
    try:
        state.limiter.acquire_on_behalf_of_nowait(borrower)
    except anyio.WouldBlock:
        await state.limiter.acquire_on_behalf_of(borrower)
    try:
        job = _Job(func, args, loop, state.token)
        _take_idle_worker().jobs.put(job)
        try:
            result: T = await job.future
        except asyncio.CancelledError:
            await _wait_until_finished(job)
            raise
        return result
    finally:
        state.limiter.release_on_behalf_of(borrower)


async def _wait_until_finished(job: _Job) -> None:
    """Wait, through further cancellations, until the job's call has returned."""
    if job.finished:
        return
    on_finished = job.on_finished = job.loop.create_future()
    while not on_finished.done():
        try:
            await asyncio.shield(on_finished)
        except asyncio.CancelledError:
            continue
