"""Process supervision for `--workers N` and `--reload`.

The supervisor binds the listening sockets once and hands them to worker processes, each of
which runs `run_server`. Because the parent keeps the sockets open, connections wait in the
kernel's accept queue while workers come and go: none is refused during a restart.

    SIGTERM, SIGINT   stop every worker gracefully (SIGTERM each); exit 0 if all stopped cleanly
    SIGHUP            replace the workers one by one: start a new one, wait until it accepts
                      connections, then stop an old one
    a .py file change (with --reload): the same one-by-one replacement
    a worker dies     start another in its place

Workers are "spawn"ed, never forked: a fresh interpreter imports the app anew, which is what
a reload needs, and no event loop or thread state is copied out of the parent. Each worker
leaves the terminal's process group, so Ctrl+C reaches the supervisor alone and every worker
is stopped the same way, by the supervisor. A pipe between the two lets a worker report that
it accepts connections, and lets it notice when the supervisor is gone (it then stops too).

The whole supervisor is one loop that waits on the workers' process sentinels, their
"started" pipes, and a wake-up socket that signal handlers and the file watcher write to.
Everything it decides happens in that loop, so no two decisions race. Unix only: it relies
on process groups, SIGHUP and SIGKILL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from ferry.server.config import Config
from ferry.server.errors import StartupError

logger = logging.getLogger("ferry.error")

# A worker that dies before it accepts connections is restarted after this delay, doubled
# on each failure in a row, so a crashing app does not spin the CPU.
FIRST_RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 10.0
# Beyond the graceful-shutdown timeout, time a worker gets for lifespan shutdown and exit
# before it is killed.
STOP_MARGIN_S = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class _FilesChanged:
    paths: tuple[str, ...]


@dataclasses.dataclass(eq=False)
class _Worker:
    process: BaseProcess
    # The supervisor's end of the pipe to the worker: "started" arrives on it, and closing
    # it tells the worker that the supervisor is gone.
    pipe: Connection
    generation: int
    started: bool = False
    pipe_closed: bool = False
    # When the worker was told to stop, and when it will be killed if it has not.
    kill_at: float | None = None
    # The old worker this one replaces once it has started (a one-by-one restart).
    replaces: _Worker | None = None

    @property
    def pid(self) -> int:
        return self.process.pid or 0


def run_supervised(config: Config) -> int:
    """Run `config.workers` worker processes (and, with `config.reload`, a file watcher).

    Must be called from the main thread, which receives the signals (Unix only). Returns
    the exit code: 0 when every worker stopped cleanly after SIGTERM or SIGINT; 1 when a
    worker did not stop cleanly, when no worker could ever start (the worker prints why),
    or when the supervisor cannot start.

    Raises:
        Nothing for a start-up failure: the sockets cannot be bound, or `--reload` has no
        watchfiles or a missing directory; `ferry: error: <reason>` is printed to stderr
        and 1 returned, as `run_server` does.

    Example:
        >>> run_supervised(Config(app="main:app", workers=4))  # doctest: +SKIP
    """
    # Imported here, not at the top: server.run() imports this module.
    from ferry.server.logs import configure_logging
    from ferry.server.server import bind_sockets

    configure_logging(config.log_level, config.access_log)
    try:
        reload_dirs = _reload_dirs(config) if config.reload else []
        sockets = bind_sockets(config)
    except StartupError as exc:
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 1
    try:
        supervisor = Supervisor(config, sockets, reload_dirs)
        return supervisor.run()
    finally:
        for sock in sockets:
            sock.close()
        if config.uds is not None:
            with contextlib.suppress(OSError):
                os.unlink(config.uds)


def _reload_dirs(config: Config) -> list[str]:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise StartupError(
            "reload: needs the watchfiles package: pip install 'ferry-server[reload]'"
        ) from None
    dirs = [os.path.abspath(path) for path in config.reload_dirs or (os.getcwd(),)]
    for path in dirs:
        if not os.path.isdir(path):
            raise StartupError(f"reload_dirs: {path!r} is not a directory")
    return dirs


class Supervisor:
    """The supervisor loop for one set of bound sockets; `run()` returns the exit code."""

    def __init__(
        self, config: Config, sockets: list[socket.socket], reload_dirs: list[str]
    ) -> None:
        self.config = config
        # The workers serve the sockets bound here. The Unix socket file belongs to the
        # supervisor too: a worker stopping in a restart must not remove it (a worker
        # removes the file of the `uds` in its config), so workers are not told its name.
        self.worker_config = dataclasses.replace(config, workers=1, reload=False, uds=None, fd=None)
        self.sockets = sockets
        self.reload_dirs = reload_dirs
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []  # serving, or starting to fill a free place
        self.incoming: _Worker | None = None  # starting, to replace an old worker
        self.stopping: list[_Worker] = []  # told to stop, not yet exited
        # Workers of an older generation are replaced one by one; SIGHUP and file
        # changes start a new generation.
        self.generation = 0
        self.failed_generation = -1  # a replacement of this generation failed to start
        self.shutting_down = False
        self.exit_code = 0
        self.ever_started = False
        self.restart_delay_s = FIRST_RESTART_DELAY_S
        self.restart_at = 0.0
        # With --reload, a worker that cannot start waits for the next change instead.
        self.waiting_for_change = False
        self._events: deque[signal.Signals | _FilesChanged] = deque()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def run(self) -> int:
        """Start the workers and supervise them until they have all stopped."""
        logger.info("Started supervisor process [%d]", os.getpid())
        with self._signal_handlers(), self._file_watcher():
            self._start_missing_workers()
            while not self._finished():
                self._wait()
                self._handle_events()
                self._reap_workers()
                self._kill_overdue_workers()
                self._start_missing_workers()
                self._continue_replacing()
        self._wake_reader.close()
        self._wake_writer.close()
        logger.info("Stopped supervisor process [%d]", os.getpid())
        return self.exit_code

    def _finished(self) -> bool:
        return self.shutting_down and not (self.workers or self.incoming or self.stopping)

    def _all_workers(self) -> list[_Worker]:
        incoming = [self.incoming] if self.incoming else []
        return self.workers + incoming + self.stopping

    # -- waiting -------------------------------------------------------------------------

    def _wait(self) -> None:
        waitables: list[Connection | socket.socket | int] = [self._wake_reader]
        for worker in self._all_workers():
            waitables.append(worker.process.sentinel)
            if not worker.started and not worker.pipe_closed:
                waitables.append(worker.pipe)
        wait(waitables, timeout=self._wait_timeout())
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(512):
                pass

    def _wait_timeout(self) -> float:
        now = time.monotonic()
        deadlines = [w.kill_at for w in self.stopping if w.kill_at is not None]
        if self.restart_at > now:
            deadlines.append(self.restart_at)
        # The sentinels and pipes wake the loop for everything else; the cap is a safety net.
        return max(0.0, min([*deadlines, now + 1.0]) - now)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the buffer is full: the loop is awake anyway
            self._wake_writer.send(b"!")

    # -- events: signals and file changes -------------------------------------------------

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        def handle(signum: int, frame: FrameType | None) -> None:
            self._events.append(signal.Signals(signum))
            self._wake()

        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, handle) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def _file_watcher(self) -> Iterator[None]:
        if not self.reload_dirs:
            yield
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=self._watch_files, args=(stop,), name="ferry-reload", daemon=True
        )
        thread.start()
        logger.info("Watching for file changes in %s", ", ".join(self.reload_dirs))
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5.0)

    def _watch_files(self, stop: threading.Event) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            *self.reload_dirs,
            watch_filter=watchfiles.PythonFilter(),
            stop_event=stop,
            raise_interrupt=False,
        ):
            paths = sorted({os.path.relpath(path) for _, path in changes})
            self._events.append(_FilesChanged(tuple(paths)))
            self._wake()

    def _handle_events(self) -> None:
        while self._events:
            event = self._events.popleft()
            if isinstance(event, _FilesChanged):
                if not self.shutting_down:
                    logger.info("Detected changes in %s; reloading", ", ".join(event.paths))
                    self._new_generation()
            elif event == signal.SIGHUP:
                if not self.shutting_down:
                    logger.info("Received SIGHUP; replacing the workers one by one")
                    self._new_generation()
            else:
                self._shut_down(event)

    def _new_generation(self) -> None:
        self.generation += 1
        self.waiting_for_change = False
        self.restart_at = 0.0
        self.restart_delay_s = FIRST_RESTART_DELAY_S

    def _shut_down(self, sig: signal.Signals) -> None:
        if self.shutting_down:
            # A second signal: do not wait for requests in flight any longer. A worker that
            # is already stopping takes another signal as "force exit"; SIGINT is the one
            # that means so everywhere.
            logger.warning("Received %s again; forcing the workers to exit", sig.name)
            hurry_at = time.monotonic() + STOP_MARGIN_S
            for worker in self.stopping:
                _signal(worker, signal.SIGINT)
                worker.kill_at = min(worker.kill_at or hurry_at, hurry_at)
            return
        logger.info("Received %s; stopping the workers", sig.name)
        self.shutting_down = True
        for worker in [*self.workers, *([self.incoming] if self.incoming else [])]:
            self._stop(worker)
        self.workers = []
        self.incoming = None

    # -- workers --------------------------------------------------------------------------

    def _spawn(self, replaces: _Worker | None = None) -> _Worker:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_run_worker,
            args=(self.worker_config, self.sockets, theirs),
            name="ferry-worker",
        )
        process.start()
        # The child has its own copy now; with ours the only other end, the worker sees
        # the pipe close when the supervisor exits, however it exits.
        theirs.close()
        worker = _Worker(process, ours, self.generation, replaces=replaces)
        logger.info("Started worker process [%d]", worker.pid)
        return worker

    def _stop(self, worker: _Worker) -> None:
        # SIGTERM asks for a graceful stop; SIGINT is kept for "hurry" (see _shut_down).
        _signal(worker, signal.SIGTERM)
        worker.kill_at = time.monotonic() + self.config.timeout_graceful_shutdown_s + STOP_MARGIN_S
        self.stopping.append(worker)

    def _start_missing_workers(self) -> None:
        if self.shutting_down or self.waiting_for_change or time.monotonic() < self.restart_at:
            return
        # An incoming worker whose old worker has died fills that place itself.
        filling = 1 if self.incoming is not None and self.incoming.replaces is None else 0
        for _ in range(self.config.workers - len(self.workers) - filling):
            self.workers.append(self._spawn())

    def _continue_replacing(self) -> None:
        if self.shutting_down or self.incoming is not None:
            return
        if self.generation == self.failed_generation:
            return
        old = next((w for w in self.workers if w.generation < self.generation), None)
        if old is not None:
            self.incoming = self._spawn(replaces=old)

    def _reap_workers(self) -> None:
        # Read "started" first: a worker may report it and die within one wait.
        for worker in self._all_workers():
            self._read_started(worker)
        for worker in self._all_workers():
            if worker.process.exitcode is not None:
                self._on_exit(worker)

    def _read_started(self, worker: _Worker) -> None:
        if worker.started or worker.pipe_closed:
            return
        try:
            if not worker.pipe.poll():
                return
            worker.pipe.recv()
        except (EOFError, OSError):
            # The worker exited without starting; its sentinel reports that. A closed pipe
            # stays readable, so stop waiting on it.
            worker.pipe_closed = True
            return
        worker.started = True
        self.ever_started = True
        self.restart_delay_s = FIRST_RESTART_DELAY_S
        logger.debug("Worker [%d] is accepting connections", worker.pid)
        if worker is self.incoming:
            self.incoming = None
            old = worker.replaces
            worker.replaces = None
            if old is not None and old in self.workers:
                self.workers[self.workers.index(old)] = worker
                logger.info("Worker [%d] replaced by [%d]; stopping it", old.pid, worker.pid)
                self._stop(old)
            else:
                self.workers.append(worker)

    def _on_exit(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        worker.process.join()
        worker.pipe.close()
        if worker in self.stopping:
            self.stopping.remove(worker)
            # Killed by our own SIGTERM before it installed its handlers is clean too:
            # it had not accepted a connection yet.
            if self.shutting_down and code not in (0, -signal.SIGTERM):
                self.exit_code = 1
            logger.info("Worker [%d] stopped (exit code %s)", worker.pid, code)
            return
        if self.incoming is not None and self.incoming.replaces is worker:
            self.incoming.replaces = None  # the incoming worker takes its place
        if worker is self.incoming:
            self.incoming = None
            self.failed_generation = self.generation
            logger.error(
                "New worker [%d] exited with code %s before it started; keeping the old workers",
                worker.pid,
                code,
            )
            if worker.replaces is None:  # the old one died meanwhile: fill the place later
                self._delay_restart()
            return
        self.workers.remove(worker)
        if worker.started:
            logger.warning("Worker [%d] died (exit code %s); restarting", worker.pid, code)
        elif self.config.reload:
            logger.error(
                "Worker [%d] exited with code %s before it started; waiting for file changes",
                worker.pid,
                code,
            )
            self.waiting_for_change = True
        elif not self.ever_started:
            # No worker has ever started: the app cannot run as configured. The worker
            # printed why; retrying would print it forever.
            logger.error("Worker [%d] could not start (exit code %s); stopping", worker.pid, code)
            self.exit_code = 1
            self._shut_down(signal.SIGTERM)
        else:
            logger.warning(
                "Worker [%d] exited with code %s before it started; retrying in %.1f s",
                worker.pid,
                code,
                self.restart_delay_s,
            )
            self._delay_restart()

    def _delay_restart(self) -> None:
        self.restart_at = time.monotonic() + self.restart_delay_s
        self.restart_delay_s = min(self.restart_delay_s * 2, MAX_RESTART_DELAY_S)

    def _kill_overdue_workers(self) -> None:
        now = time.monotonic()
        for worker in self.stopping:
            if worker.kill_at is not None and now >= worker.kill_at:
                logger.warning("Worker [%d] did not stop in time; killing it", worker.pid)
                _signal(worker, signal.SIGKILL)
                worker.kill_at = None


def _signal(worker: _Worker, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just exited: reaped next round
        os.kill(worker.pid, sig)


def _run_worker(config: Config, sockets: list[socket.socket], pipe: Connection) -> None:
    # The body of a worker process: serve, and tell the supervisor once connections are
    # accepted, so that a one-by-one restart knows when to stop the old worker.
    from ferry.server.server import run_server

    # Out of the terminal's process group: Ctrl+C goes to the supervisor only, which
    # stops the workers itself (a worker hit by both would count two signals).
    os.setpgrp()
    threading.Thread(
        target=_stop_with_supervisor, args=(pipe,), name="ferry-supervisor-watch", daemon=True
    ).start()

    def report_started() -> None:
        with contextlib.suppress(OSError):  # the supervisor is gone: the watch stops us
            pipe.send("started")

    sys.exit(run_server(config, sockets, on_started=report_started))


def _stop_with_supervisor(pipe: Connection) -> None:
    # The supervisor never writes to the pipe, so recv() returns only when its end closes:
    # it has exited, even by SIGKILL. Stop gracefully, as on its SIGTERM.
    with contextlib.suppress(EOFError, OSError):
        while True:
            pipe.recv()
    os.kill(os.getpid(), signal.SIGTERM)
