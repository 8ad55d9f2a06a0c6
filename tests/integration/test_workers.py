"""`ferry serve --workers N` and `--reload`: real processes, real signals, 127.0.0.1 only.

Each test starts the `ferry` command in a session of its own and kills it in `finally`,
whatever happened; its workers notice that the supervisor is gone and stop by themselves.
Requests open a new connection each time (`connection: close`), so each one is a fresh
accept by whichever worker is free.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "apps"
START_TIMEOUT_S = 20.0

Address = int | str  # a TCP port on 127.0.0.1, or the path of a Unix socket


def ferry_command() -> list[str]:
    script = Path(sys.executable).with_name("ferry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ferry.server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def connect(address: Address, timeout_s: float) -> socket.socket:
    if isinstance(address, int):
        return socket.create_connection(("127.0.0.1", address), timeout=timeout_s)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def get(address: Address, path: str = "/", timeout_s: float = 5.0) -> str:
    """The body of a GET on a new connection; raises OSError if the exchange fails."""
    with connect(address, timeout_s) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise OSError(f"unexpected response: {head[:60]!r}")
    return body.decode()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(address: Address) -> bool:
    try:
        get(address, timeout_s=1.0)
    except OSError:
        return False
    return True


def pids_serving(address: Address, requests: int = 6) -> set[int]:
    # /block holds a worker's event loop, so concurrent requests spread over the workers.
    with ThreadPoolExecutor(requests) as pool:
        return {int(body) for body in pool.map(lambda _: get(address, "/block"), range(requests))}


def pids_until(address: Address, done: Callable[[set[int]], bool], what: str) -> set[int]:
    """The pids that served requests, gathered until `done` says they are enough."""
    seen: set[int] = set()
    deadline = time.monotonic() + 15.0
    while not done(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; served by {seen}")
        seen |= pids_serving(address)
    return seen


def two_pids(address: Address) -> set[int]:
    return pids_until(address, lambda seen: len(seen) >= 2, "two workers")


def is_running(pid: int) -> bool:
    # A stopped worker is reaped by the supervisor, or by init once orphaned; until then it
    # is a zombie, which has exited all the same.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc/self"):
        return True  # no procfs: the signal check has to do
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:  # reaped since the signal check
        return False


class Ferry:
    """A running `ferry serve` process and the address it serves on."""

    def __init__(self, process: subprocess.Popen[bytes], address: Address, log: Path) -> None:
        self.process = process
        self.address = address
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(self.address):
            if self.process.poll() is not None:
                raise AssertionError(f"ferry exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"ferry did not answer in time:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 15.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


@contextlib.contextmanager
def ferry_serve(
    tmp_path: Path,
    *options: str,
    app: str = "pid_app:app",
    uds: str | None = None,
    ready: bool = True,
) -> Iterator[Ferry]:
    """Run `ferry serve app` with `options`; wait until it answers, unless not `ready`."""
    address: Address = free_port() if uds is None else uds
    log = tmp_path / "ferry.log"
    command = [
        *ferry_command(),
        "serve",
        app,
        *(["--port", str(address)] if uds is None else ["--uds", uds]),
        # Pinned: these tests are about supervision, not about choosing an event loop.
        "--loop",
        "asyncio",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
        *options,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    ferry = Ferry(process, address, log)
    try:
        if ready:
            ferry.wait_until_ready()
        yield ferry
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
def test_two_workers_serve_requests_from_two_processes(tmp_path: Path) -> None:
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2") as ferry:
        pids = two_pids(ferry.address)
        assert len(pids) == 2
        assert ferry.process.pid not in pids
        assert ferry.stop() == 0


@pytest.mark.slow
def test_killed_worker_is_replaced_and_the_server_keeps_answering(tmp_path: Path) -> None:
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2") as ferry:
        pids = two_pids(ferry.address)
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        assert int(get(ferry.address)) in pids - {victim}  # the other worker answers at once
        seen = pids_until(ferry.address, lambda seen: bool(seen - pids), "a new worker")
        assert victim not in seen
        assert "died" in ferry.output()
        assert ferry.stop() == 0


@pytest.mark.slow
def test_sigterm_stops_the_workers_and_the_supervisor_exits_0(tmp_path: Path) -> None:
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2") as ferry:
        pids = two_pids(ferry.address)
        assert ferry.stop() == 0
        assert not any(is_running(pid) for pid in pids)


@pytest.mark.slow
def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2") as ferry:
        pids = two_pids(ferry.address)
        ferry.process.kill()
        ferry.process.wait(timeout=10)
        wait_for(lambda: not any(is_running(pid) for pid in pids), 15, "orphaned workers to stop")


@pytest.mark.slow
def test_sighup_replaces_every_worker_without_refusing_a_connection(tmp_path: Path) -> None:
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2") as ferry:
        old = two_pids(ferry.address)
        refused: list[OSError] = []
        other_failures: list[OSError] = []
        served_by: set[int] = set()
        done = threading.Event()

        def keep_asking() -> None:
            while not done.is_set():
                try:
                    served_by.add(int(get(ferry.address)))
                except ConnectionRefusedError as exc:
                    refused.append(exc)
                except OSError as exc:
                    other_failures.append(exc)

        client = threading.Thread(target=keep_asking)
        client.start()
        try:
            ferry.process.send_signal(signal.SIGHUP)
            wait_for(lambda: not any(is_running(pid) for pid in old), 20, "old workers to stop")
            new = two_pids(ferry.address)
        finally:
            done.set()
            client.join(timeout=10)
        assert not refused, refused[:3]
        # The listening socket never goes away, and an old worker answers every connection
        # it had accepted before it was told to stop: no reset either.
        assert not other_failures, other_failures[:3]
        assert not new & old
        assert served_by & old  # the client loop ran before and after the replacement
        assert served_by - old
        assert ferry.stop() == 0


@pytest.mark.slow
def test_second_sigterm_stops_waiting_for_requests_in_flight(tmp_path: Path) -> None:
    options = ("--app-dir", str(APPS), "--workers", "2", "--timeout-graceful-shutdown", "60")
    with ferry_serve(tmp_path, *options) as ferry:
        in_flight = threading.Event()

        def ask_slowly() -> None:
            with contextlib.suppress(OSError), connect(ferry.address, 60) as sock:
                sock.sendall(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
                sock.recv(1)  # the headers: the request is in flight
                in_flight.set()
                while sock.recv(65536):  # until the forced exit cuts it short
                    pass

        slow = threading.Thread(target=ask_slowly)
        slow.start()
        assert in_flight.wait(timeout=10)
        ferry.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping the workers" in ferry.output(), 10, "the first signal")
        assert ferry.process.poll() is None  # /slow would hold it for a minute
        assert ferry.stop(timeout_s=15) == 0  # the second SIGTERM: well within that minute
        assert "forcing the workers to exit" in ferry.output()
        slow.join(timeout=10)


def run_ferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ferry_command(), *args],
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )


@pytest.mark.slow
def test_supervisor_on_a_taken_port_exits_1_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ferry("serve", "pid_app:app", "--port", str(port), "--workers", "2")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(f"ferry: error: cannot bind 127.0.0.1:{port}")


@pytest.mark.slow
def test_reload_of_a_missing_directory_exits_1_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_ferry("serve", "pid_app:app", "--reload", "--reload-dir", str(missing))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"ferry: error: reload_dirs: {str(missing)!r} is not a directory"
    )


@pytest.mark.slow
def test_workers_that_cannot_import_the_app_stop_the_supervisor_with_1(tmp_path: Path) -> None:
    port = free_port()
    command = [*ferry_command(), "serve", "no_such_module_x:app", "--port", str(port)]
    result = subprocess.run(
        [*command, "--workers", "2"], capture_output=True, timeout=30, start_new_session=True
    )
    assert result.returncode == 1
    assert b"ferry: error: app: module 'no_such_module_x' not found" in result.stderr


VERSIONED_APP = """
VERSION = {version!r}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = VERSION.encode()
    await send({{"type": "http.response.start", "status": 200,
                 "headers": [(b"content-length", b"%d" % len(body))]}})
    await send({{"type": "http.response.body", "body": body}})
"""


@pytest.mark.slow
def test_reload_restarts_the_worker_when_a_watched_file_changes(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = code / "versioned_app.py"
    module.write_text(VERSIONED_APP.format(version="one"))
    options = ("--app-dir", str(code), "--reload", "--reload-dir", str(code))
    with ferry_serve(tmp_path, *options, app="versioned_app:app") as ferry:
        assert get(ferry.address) == "one"
        module.write_text(VERSIONED_APP.format(version="two"))
        wait_for(lambda: get(ferry.address) == "two", 15, "the new version")

        # A change that breaks the app keeps the running worker; the next fix is served.
        module.write_text("this is not python\n")
        wait_for(lambda: "before it started" in ferry.output(), 15, "the failed start")
        assert get(ferry.address) == "two"
        module.write_text(VERSIONED_APP.format(version="three"))
        wait_for(lambda: get(ferry.address) == "three", 15, "the fixed version")
        assert ferry.stop() == 0


@pytest.mark.slow
def test_sighup_keeps_the_unix_socket_in_place(tmp_path: Path) -> None:
    path = str(tmp_path / "ferry.sock")
    with ferry_serve(tmp_path, "--app-dir", str(APPS), "--workers", "2", uds=path) as ferry:
        old = two_pids(path)
        ferry.process.send_signal(signal.SIGHUP)
        wait_for(lambda: not any(is_running(pid) for pid in old), 20, "old workers to stop")
        assert int(get(path)) not in old
        assert ferry.stop() == 0
    assert not os.path.exists(path)


@pytest.mark.slow
def test_reload_with_a_broken_app_waits_for_the_fix(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = code / "versioned_app.py"
    module.write_text("import not_installed_dependency_x\n")
    options = ("--app-dir", str(code), "--reload", "--reload-dir", str(code))
    with ferry_serve(tmp_path, *options, app="versioned_app:app", ready=False) as ferry:
        wait_for(lambda: "waiting for file changes" in ferry.output(), 15, "the failed start")
        assert "No module named 'not_installed_dependency_x'" in ferry.output()
        assert ferry.process.poll() is None
        module.write_text(VERSIONED_APP.format(version="fixed"))
        ferry.wait_until_ready()
        assert get(ferry.address) == "fixed"
        assert ferry.stop() == 0
