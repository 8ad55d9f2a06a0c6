"""Server: bind the sockets, serve connections, keep the clock, shut down gracefully.

    run(app, **options)         build a Config; one process, or a supervisor for workers
    run_server(config)          one process: event loop, signals, exit code
    Server(config).serve()      the async life of one server process

The clock tick (every 0.1 s) refreshes the `Date` header once a second, closes
connections whose header or keep-alive deadline has passed, and notices `should_exit`,
which signal handlers, `limit_max_requests` or an embedding program set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, cast

from ferry.server.config import Config, ConfigError
from ferry.server.errors import StartupError
from ferry.server.importer import import_app
from ferry.server.lifespan import Lifespan
from ferry.server.logs import configure_logging, error_logger
from ferry.server.protocol import HTTPProtocol, ServerState
from ferry.server.trace import TraceSink
from ferry.server.trace_report import print_trace
from ferry.server.types import ASGIApplication

TICK_S = 0.1
# After the graceful-shutdown timeout, apps told of the disconnect get this long to
# return before their tasks are cancelled.
ABANDON_GRACE_S = 1.0
# How long shutdown waits for connections accepted just before the listeners closed.
ACCEPT_GRACE_S = 0.05


class Server:
    """One server process: `await Server(config).serve()` until `should_exit` is set.

    Attributes:
        should_exit: set to True (from any thread) to begin a graceful shutdown.
        force_exit: set to True to skip waiting for requests in flight.
        started: True once the sockets accept connections (`on_started` is called then).
        addresses: the bound (host, port) pairs or Unix socket paths, once started.
    """

    def __init__(
        self,
        config: Config,
        on_started: Callable[[], None] | None = None,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.config = config
        self.on_started = on_started
        self.trace_sink = trace_sink
        self.should_exit = False
        self.force_exit = False
        self.started = False
        self.addresses: list[tuple[str, int] | str] = []
        self.state: ServerState | None = None
        self._servers: list[asyncio.Server] = []
        self._lifespan: Lifespan | None = None
        self._last_date_s = -1

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Start, serve until `should_exit`, then shut down gracefully.

        Raises:
            StartupError: the app cannot be imported, the address cannot be bound, or the
                app's lifespan start-up failed.
        """
        with self._signal_handlers():
            await self.startup(sockets)
            if not self.should_exit:
                await self._main_loop()
            await self.shutdown()

    def load_app(self) -> ASGIApplication:
        """The ASGI app: the one given, or imported from its "module:attr" string."""
        config = self.config
        if isinstance(config.app, str):
            return import_app(config.app, factory=config.factory, app_dir=config.app_dir)
        if config.factory:
            factory = cast(Callable[[], ASGIApplication], config.app)
            return factory()
        return config.app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Import the app, run lifespan start-up, and start accepting connections.

        Raises:
            StartupError: as for `serve()`.
        """
        config = self.config
        app = self.load_app()
        try:
            ssl_context = config.create_ssl_context()
        except ConfigError as exc:
            raise StartupError(str(exc)) from None
        self._lifespan = Lifespan(app, config.lifespan, error_logger)
        await self._lifespan.startup()
        state = ServerState(config, app)
        state.lifespan_state = self._lifespan.state
        state.on_request_limit = self._request_limit_reached
        if config.trace or self.trace_sink is not None:
            state.trace_sink = self.trace_sink or print_trace
        self.state = state
        self._refresh_date()

        loop = asyncio.get_running_loop()
        if sockets is None:
            sockets = bind_sockets(config)
        for sock in sockets:
            server = await loop.create_server(
                lambda: HTTPProtocol(state, loop),
                sock=sock,
                ssl=ssl_context,
                backlog=config.backlog,
            )
            self._servers.append(server)
            self.addresses.append(sock.getsockname())
        scheme = "https" if ssl_context else "http"
        for address in self.addresses:
            if isinstance(address, str):
                where = f"unix socket {address}"
            else:
                host = f"[{address[0]}]" if ":" in address[0] else address[0]
                where = f"{scheme}://{host}:{address[1]}"
            error_logger.info("Ferry serving on %s (Ctrl+C to quit)", where)
        self.started = True
        if self.on_started is not None:
            self.on_started()

    def _request_limit_reached(self) -> None:
        error_logger.warning("Maximum request limit of %s reached.", self.config.limit_max_requests)
        self.should_exit = True

    async def _main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.should_exit:
            await asyncio.sleep(TICK_S)
            self._refresh_date()
            now = loop.time()
            assert self.state is not None
            for protocol in list(self.state.connections):
                protocol.check_deadline(now)

    def _refresh_date(self) -> None:
        now_s = int(asyncio.get_running_loop().time())
        if now_s != self._last_date_s and self.state is not None:
            self._last_date_s = now_s
            self.state.default_headers.set_date(formatdate(usegmt=True).encode("ascii"))

    async def shutdown(self) -> None:
        """Stop accepting, finish or abandon what is in flight, run lifespan shutdown."""
        error_logger.info("Shutting down")
        for server in self._servers:
            server.close()
        if self._servers:
            # A connection the event loop accepted just before close() gets its protocol
            # (connection_made) a few loop turns later; wait for those, so they are among
            # the connections below and get their answer instead of a reset.
            await asyncio.sleep(ACCEPT_GRACE_S)
        state = self.state
        if state is not None:
            state.shutting_down = True
            for protocol in list(state.connections):
                protocol.shutdown()
            await self._wait_for_requests(state)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=ABANDON_GRACE_S)
        if self._lifespan is not None:
            await self._lifespan.shutdown()
        for sock_address in self.addresses:
            if isinstance(sock_address, str) and self.config.uds == sock_address:
                with contextlib.suppress(OSError):
                    os.unlink(sock_address)
        error_logger.info("Finished server process [%d]", os.getpid())

    async def _wait_for_requests(self, state: ServerState) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_graceful_shutdown_s
        while (state.connections or state.tasks) and not self.force_exit:
            if loop.time() >= deadline:
                break
            await asyncio.sleep(TICK_S / 2)
        if not state.connections and not state.tasks:
            return
        error_logger.warning(
            "Graceful shutdown: %d connection(s) still open; telling their apps the client"
            " disconnected",
            len(state.connections),
        )
        for protocol in list(state.connections):
            protocol.abandon()
        if state.tasks and not self.force_exit:
            await asyncio.wait(list(state.tasks), timeout=ABANDON_GRACE_S)
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=ABANDON_GRACE_S)

    @contextlib.contextmanager
    def _signal_handlers(self) -> Any:
        # Signals can only be handled on the main thread; an embedded server in another
        # thread is stopped through should_exit instead.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._handle_exit_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _handle_exit_signal(self) -> None:
        # A second Ctrl+C skips the wait for requests in flight.
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def bind_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets for `config`: its Unix socket, inherited fd, or host:port.

    Raises:
        StartupError: the address cannot be bound (for example, the port is taken).
    """
    try:
        if config.fd is not None:
            sock = socket.socket(fileno=config.fd)
        elif config.uds is not None:
            sock = _bind_unix(config.uds)
        else:
            family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((config.host, config.port))
            except OSError:
                sock.close()
                raise
    except OSError as exc:
        where = config.uds or (f"fd {config.fd}" if config.fd is not None else None)
        where = where or f"{config.host}:{config.port}"
        raise StartupError(f"cannot bind {where}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return [sock]


def _bind_unix(path: str) -> socket.socket:
    # A socket file left by a previous run is removed; any other file is not.
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
    except OSError:
        sock.close()
        raise
    return sock


def loop_factory(config: Config) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop `config.loop` asks for: uvloop for "auto" when it is installed.

    Raises:
        StartupError: "uvloop" was asked for and is not installed.
    """
    if config.loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if config.loop == "uvloop":
                raise StartupError("loop: uvloop is not installed") from None
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_server(
    config: Config,
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run one server process until it is told to stop; return its exit code.

    0 after a clean shutdown; 1 after printing `ferry: error: <reason>` when the server
    could not start. SIGINT and SIGTERM begin a graceful shutdown.
    """
    configure_logging(config.log_level, config.access_log)
    server = Server(config, on_started=on_started)
    try:
        with asyncio.Runner(loop_factory=loop_factory(config)) as runner:
            runner.run(server.serve(sockets))
    except (StartupError, ConfigError) as exc:
        print(f"ferry: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - a signal before handlers were installed
        return 0
    return 0


def run(app: ASGIApplication | str, **options: Any) -> None:
    """Serve `app` (an ASGI app or a "module:attr" string) with the given options.

    Options are `Config`'s fields. With `workers > 1` or `reload`, a supervisor process
    runs the workers.

    Raises:
        ConfigError: an option is invalid.
        SystemExit: the server could not start (with its non-zero exit code).

    Example:
        >>> run("hello:app", port=8000, workers=2)  # doctest: +SKIP
    """
    config = Config(app=app, **options)
    if config.workers > 1 or config.reload:
        from ferry.server.supervisor import run_supervised

        code = run_supervised(config)
    else:
        code = run_server(config)
    if code != 0:
        raise SystemExit(code)
