"""Running sync code without blocking the event loop: worker threads.

Sync endpoints, sync dependencies, sync exception handlers, sync background tasks and sync
iterators all go through these two functions; there is no second, synchronous request path.

On asyncio (and uvloop) a call goes to a small pool of worker threads of this module's own: the
job is put on an idle thread's queue and its result comes back with `call_soon_threadsafe`, one
thread switch each way. That costs about half of what `anyio.to_thread.run_sync` does per call,
and a sync endpoint pays it on every request. On any other backend (trio) the call goes to
`anyio.to_thread.run_sync`. Either way the call behaves as under `anyio.to_thread.run_sync`:

- at most as many calls run at once as anyio's default thread limiter allows (40 unless you set
  `anyio.to_thread.current_default_thread_limiter().total_tokens`); the rest wait their turn;
- the caller's context variables are visible inside the call;
- a caller in a cancelled anyio cancel scope (a task group, `anyio.fail_after`) is not started if
  it was cancelled before the call, and otherwise waits for the call to return; a plain asyncio
  cancellation (`task.cancel()`, `asyncio.wait_for`) returns at once and leaves the call running;
- `anyio.from_thread.run()` and `anyio.from_thread.check_cancelled()` work inside the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import queue
import sys
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
#
# anyio.from_thread finds the event loop and the caller's cancel scope in thread-locals that
# anyio's own workers set. They are private to anyio (hence the fallbacks: without them the
# call still runs, and from_thread needs an explicit token=), and so is a scope's parent.

_anyio_threadlocals: threading.local | None
try:
    from anyio._core._eventloop import threadlocals as _anyio_threadlocals
except ImportError:  # pragma: no cover
    _anyio_threadlocals = None

# sniffio (if installed) must not report "asyncio" in a thread that runs no event loop.
_async_library: contextvars.ContextVar[str | None] | None
try:
    from sniffio import current_async_library_cvar as _async_library
except ImportError:  # pragma: no cover
    _async_library = None

# A worker idle for this long is retired when a job is next handed out.
_MAX_IDLE_SECONDS = 10.0


class _LoopState:
    """What every job on one event loop needs: its thread limiter and its anyio backend.

    Kept in a weak dictionary keyed by the loop, so nothing here may refer to the loop.
    """

    __slots__ = ("backend", "limiter")

    def __init__(self) -> None:
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        self.backend = anyio.lowlevel.current_token().backend_class


_loop_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)


class _Job:
    """One call to make in a worker thread, and how to report back to its event loop."""

    __slots__ = ("args", "backend", "cancel_scope", "context", "func", "future", "loop")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        backend: Any,
        cancel_scope: anyio.CancelScope | None,
    ) -> None:
        self.func = func
        self.args = args
        self.context = contextvars.copy_context()
        if _async_library is not None and _async_library.get() is not None:
            self.context.run(_async_library.set, None)
        self.loop = loop
        self.backend = backend
        self.cancel_scope = cancel_scope  # what from_thread.check_cancelled() looks at
        self.future: asyncio.Future[Any] = loop.create_future()


class _Worker:
    """A worker thread that makes the calls put on its queue until it gets `None`."""

    __slots__ = ("idle_since", "jobs")

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.idle_since = 0.0
        # An empty context of its own (Python 3.14 would copy the creator's): every job brings
        # its caller's. Daemon: an idle worker must not keep the interpreter alive at exit.
        options: dict[str, Any] = {}
        if sys.version_info >= (3, 14):  # pragma: no cover
            options["context"] = contextvars.Context()
        thread = threading.Thread(target=self._run, name="ferry worker", daemon=True, **options)
        thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if _anyio_threadlocals is not None:
                _anyio_threadlocals.current_token = anyio.lowlevel.EventLoopToken(
                    job.backend, job.loop
                )
                _anyio_threadlocals.current_cancel_scope = job.cancel_scope
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.context.run(job.func, *job.args)
            except BaseException as exc:
                error = exc
            if _anyio_threadlocals is not None:  # an idle worker holds on to no loop
                del _anyio_threadlocals.current_token, _anyio_threadlocals.current_cancel_scope
            # Idle before reporting: a report that a stopped loop drops must not strand us.
            _make_idle(self)
            # RuntimeError: the loop closed while the call ran, so nobody is waiting.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_report, job, result, error)
            del job, result, error  # nor on to the last call's objects


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
    # Retire the workers idle for too long, the oldest first.
    now = time.monotonic()
    while _idle_workers:
        try:
            oldest = _idle_workers[0]
            if now - oldest.idle_since <= _MAX_IDLE_SECONDS:
                break
            _idle_workers.remove(oldest)
        except (IndexError, ValueError):  # another event loop's thread took it meanwhile
            continue
        oldest.jobs.put(None)
    return worker


def _report(job: _Job, result: Any, error: BaseException | None) -> None:
    # Runs on the job's event loop.
    future = job.future
    if future.done():  # the caller was cancelled and has moved on
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, StopIteration):  # a future cannot carry StopIteration
        replacement = RuntimeError("the call raised StopIteration")
        replacement.__cause__ = error
        future.set_exception(replacement)
    else:
        future.set_exception(error)


async def _run_on_worker(
    loop: asyncio.AbstractEventLoop, func: Callable[..., T], args: tuple[Any, ...]
) -> T:
    state = _loop_states.get(loop)
    if state is None:
        state = _loop_states[loop] = _LoopState()
    await anyio.lowlevel.checkpoint_if_cancelled()
    borrower = asyncio.current_task()
    try:
        state.limiter.acquire_on_behalf_of_nowait(borrower)
    except anyio.WouldBlock:
        await state.limiter.acquire_on_behalf_of(borrower)
    try:
        # Shielded from anyio cancel scopes, not from task.cancel(): as anyio's own workers.
        with anyio.CancelScope(shield=True) as shield:
            caller_scope: anyio.CancelScope | None = getattr(shield, "_parent_scope", None)
            job = _Job(func, args, loop, state.backend, caller_scope)
            _take_idle_worker().jobs.put(job)
            result: T = await job.future
        return result
    finally:
        state.limiter.release_on_behalf_of(borrower)
