"""A real server for integration tests: `run_in_thread()` and the `live_server` fixture.

    from ferry.server.testing import run_in_thread

    with run_in_thread(app) as base_url:
        assert httpx.get(base_url + "/").status_code == 200

The `live_server` pytest fixture is built on it (see `ferry.server.pytest_plugin`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ferry.server.config import Config
from ferry.server.server import Server, loop_factory
from ferry.server.trace import TraceSink
from ferry.server.types import ASGIApplication

START_TIMEOUT_S = 10.0


@contextmanager
def run_in_thread(
    app: ASGIApplication | str, *, trace_sink: TraceSink | None = None, **options: Any
) -> Iterator[str]:
    """Serve `app` on 127.0.0.1, on a free port, in a background thread; yield its URL.

    `options` are `Config` fields (for example `timeout_keep_alive_s=1`); the event loop
    is asyncio unless `loop="uvloop"` is given. With a `trace_sink`, every request is
    traced and its `RequestTrace` passed to the sink (from the server's thread). Leaving the
    block shuts the server down gracefully and waits for its thread.

    Raises:
        RuntimeError: the server did not start (the cause is chained), or did not stop.
    """
    options.setdefault("host", "127.0.0.1")
    options.setdefault("port", 0)
    options.setdefault("timeout_graceful_shutdown_s", 5.0)
    options.setdefault("loop", "asyncio")
    config = Config(app=app, **options)
    server = Server(config, trace_sink=trace_sink)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            with asyncio.Runner(loop_factory=loop_factory(config)) as runner:
                runner.run(server.serve())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=serve, name="ferry-live-server", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.005)
    if not server.started:
        thread.join(START_TIMEOUT_S)
        raise RuntimeError("the server did not start") from (failure[0] if failure else None)
    address = server.addresses[0]
    if isinstance(address, str):
        url = f"http+unix://{address}"
    else:
        scheme = "https" if config.is_ssl else "http"
        url = f"{scheme}://{address[0]}:{address[1]}"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(config.timeout_graceful_shutdown_s + START_TIMEOUT_S)
        if thread.is_alive():  # pragma: no cover - a server that hangs is a bug
            raise RuntimeError("the server did not stop")
