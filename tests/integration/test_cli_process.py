"""The `ferry` console script as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.server import __version__

APPS = Path(__file__).parent / "apps"
TIMEOUT_S = 20.0


def ferry_command() -> list[str]:
    script = Path(sys.executable).with_name("ferry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ferry.server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            return sock.recv(12) == b"HTTP/1.1 200"
    except OSError:
        return False


def run_ferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ferry_command(), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        start_new_session=True,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ferry: error:")]


@pytest.mark.slow
def test_version_runs_as_a_module_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ferry.server", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0
    assert result.stdout.startswith(f"ferry {__version__} ")


@pytest.mark.slow
def test_unknown_module_exits_non_zero_with_one_line_naming_it() -> None:
    result = run_ferry("serve", "no_such_module_x:app", "--port", str(free_port()))
    assert result.returncode != 0
    assert error_lines(result.stderr) == ["ferry: error: app: module 'no_such_module_x' not found"]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_taken_port_exits_non_zero_with_one_line_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ferry("serve", "pid_app:app", "--app-dir", str(APPS), "--port", str(port))
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert f"127.0.0.1:{port}" in line
    assert "in use" in line
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_usage_error_exits_2() -> None:
    result = run_ferry("serve", "pid_app:app", "--port", "eighty")
    assert result.returncode == 2
    assert "'eighty' is not an integer" in result.stderr


@pytest.mark.slow
def test_sigterm_after_start_exits_0(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "ferry.log"
    command = [*ferry_command(), "serve", "pid_app:app", "--app-dir", str(APPS)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not answers(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
