"""Graceful shutdown of a real `ferry serve` process on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "apps"
START_TIMEOUT_S = 15.0

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Running:
    """A `ferry serve` process on a free port, with its output collected."""

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferry.server",
                "serve",
                "shutdown_app:app",
                "--app-dir",
                str(APPS),
                "--port",
                str(self.port),
                "--no-access-log",
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_until_serving()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early: {self.lines}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not start")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for server in started:
        server.stop()


def start(running: list[Running], *options: str) -> Running:
    server = Running(*options)
    running.append(server)
    return server


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(running: list[Running]) -> None:
    server = start(running)
    with server.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        time.sleep(0.3)  # the request is now in the app
        server.signal(signal.SIGTERM)
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"slow done")
    assert server.wait() == 0
    assert "shutdown complete" in server.lines


def test_sigint_stops_accepting_new_connections(running: list[Running]) -> None:
    server = start(running)
    with server.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        time.sleep(0.3)
        server.signal(signal.SIGINT)
        time.sleep(0.3)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        assert read_all(sock).endswith(b"slow done")
    assert server.wait() == 0


def test_idle_keep_alive_connections_are_closed_at_once(running: list[Running]) -> None:
    server = start(running, "--timeout-keep-alive", "60")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        assert sock.recv(65536).endswith(b"ok")
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        assert sock.recv(65536) == b""  # closed by the server, not by the 60 s timeout
        assert server.wait() == 0
    assert time.monotonic() - began < 5


def test_endless_stream_is_told_of_the_disconnect_after_the_timeout(
    running: list[Running],
) -> None:
    server = start(running, "--timeout-graceful-shutdown", "1")
    with server.connect() as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        assert b"tick" in sock.recv(65536)
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        read_all(sock)  # the server closes the stream
        assert server.wait() == 0
    assert time.monotonic() - began < 6
    assert "stream ended: send failed" in server.lines
    assert "shutdown complete" in server.lines


def test_lifespan_startup_failure_exits_non_zero_with_the_apps_message(tmp_path: Path) -> None:
    app_file = tmp_path / "failing_app.py"
    app_file.write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "ferry.server", "serve", "failing_app:app"),
            *("--app-dir", str(tmp_path), "--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert result.returncode != 0
    assert "no database" in result.stderr
    assert "Traceback" not in result.stderr
