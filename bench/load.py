"""Load over real sockets: servers on 127.0.0.1, wrk as the client, memory with idle connections.

Each server runs pinned to core 0 (`taskset -c 0`) on a free port; wrk runs pinned to core 1
with keep-alive (`-t1 -c64 --latency`). A server is ready when it answers a request; it is
stopped by its PID with SIGINT, then SIGKILL after a timeout. Traffic only ever goes to
127.0.0.1, and every wrk run has a fixed duration.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import pstats
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.inprocess import APPS_DIR, ENDPOINTS, Endpoint
from bench.peers import PEERS_DIR
from bench.profiles import LayerProfile, summarize

BENCH_DIR = Path(__file__).resolve().parent
POST_SCRIPT = BENCH_DIR / "post_user.lua"
SERVER_CORE = "0"
CLIENT_CORE = "1"
CONNECTIONS = 64
READY_SECONDS = 30.0
STOP_SECONDS = 10.0


# `ferry serve --loop auto` picks uvloop when the workspace has it (the `uvloop` extra).
FERRY_DEFAULT_LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


class ServerFailed(Exception):
    """A server did not start, or answered wrong; the message has the tail of its log."""


@dataclass(frozen=True, slots=True)
class Target:
    """A server (with the app it serves) as a command line; `{port}` is filled in at start."""

    key: str
    label: str
    argv: tuple[str, ...]
    is_ferry: bool = False
    optional: bool = False  # the run goes on without it if it does not start


def workspace_command(name: str, module: str) -> list[str]:
    """A console script of the workspace's environment, or `python -m module` in its place."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def peer_command(name: str) -> list[str]:
    return [str(PEERS_DIR / "bin" / name)]


def ferry_target(app: str, key: str, label: str, loop: str = "auto") -> Target:
    argv = [
        *workspace_command("ferry", "ferry.server"),
        "serve",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-keep-alive",
        "60",
        "--loop",
        loop,
        "--app-dir",
        str(APPS_DIR),
    ]
    return Target(key, label, tuple(argv), is_ferry=True)


def uvicorn_target(app: str, key: str, label: str, http: str, loop: str) -> Target:
    argv = [
        *peer_command("uvicorn"),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--http",
        http,
        "--loop",
        loop,
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-keep-alive",
        "60",
    ]
    return Target(key, label, tuple(argv))


def hypercorn_target(app: str) -> Target:
    argv = [*peer_command("hypercorn"), app, "--bind", "127.0.0.1:{port}", "--log-level", "warning"]
    return Target("hypercorn", "hypercorn (asyncio)", tuple(argv), optional=True)


def granian_target(app: str) -> Target:
    argv = [
        *peer_command("granian"),
        "--interface",
        "asgi",
        "--http",
        "1",
        "--no-ws",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        "1",
        "--log-level",
        "warning",
        app,
    ]
    return Target("granian", "granian (ASGI, 1 worker)", tuple(argv), optional=True)


def bare_target(uvloop: bool) -> Target:
    argv = [sys.executable, str(APPS_DIR / "bare_protocol.py"), "--port", "{port}"]
    if uvloop:
        return Target("bare-uvloop", "bare protocol, uvloop (ceiling)", (*argv, "--uvloop"))
    return Target("bare", "bare protocol, asyncio (ceiling)", tuple(argv))


def server_only_targets(quick: bool, include_peers: bool) -> list[Target]:
    """The minimal ASGI app on each server, and the bare-protocol ceiling."""
    app = "raw_asgi:app"
    targets = [ferry_target(app, "ferry", f"ferry serve ({FERRY_DEFAULT_LOOP})")]
    if not quick:
        targets.append(ferry_target(app, "ferry-asyncio", "ferry serve --loop asyncio", "asyncio"))
    if include_peers:
        targets.append(
            uvicorn_target(app, "uvicorn-h11", "uvicorn (h11, asyncio)", "h11", "asyncio")
        )
        targets.append(
            uvicorn_target(
                app, "uvicorn-httptools", "uvicorn (httptools, uvloop)", "httptools", "uvloop"
            )
        )
        if not quick:
            targets.append(hypercorn_target(app))
            targets.append(granian_target(app))
    targets.append(bare_target(uvloop=False))
    if not quick:
        targets.append(bare_target(uvloop=True))
    return targets


def full_stack_targets(include_peers: bool) -> list[Target]:
    """The benchmark app on `ferry serve` + ferry.api and on uvicorn + FastAPI."""
    targets = [ferry_target("ferry_api_app:app", "ferry", "ferry serve + ferry.api")]
    if include_peers:
        targets.append(
            uvicorn_target(
                "fastapi_app:app", "uvicorn-h11", "uvicorn (h11) + FastAPI", "h11", "asyncio"
            )
        )
        targets.append(
            uvicorn_target(
                "fastapi_app:app",
                "uvicorn-httptools",
                "uvicorn (httptools, uvloop) + FastAPI",
                "httptools",
                "uvloop",
            )
        )
    return targets


# --- processes ---------------------------------------------------------------------------


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise RLIMIT_NOFILE's soft limit (servers started later inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return wanted if soft == resource.RLIM_INFINITY else soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(slots=True)
class RunningServer:
    target: Target
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_server(target: Target, log_dir: Path, cwd: Path = APPS_DIR) -> RunningServer:
    """Start a server pinned to the server core and wait until it answers a request.

    It runs in `cwd`, bench/apps unless said otherwise, so every server imports the apps
    the same way.
    """
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in target.argv]
    log = log_dir / f"{target.key}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RunningServer(target, port, process, log)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"{target.label} exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            http_request(port, "GET", "/", timeout=1.0)
            return server
        time.sleep(0.1)
    stop_server(server)
    raise ServerFailed(f"{target.label} did not answer in {READY_SECONDS:.0f} s:\n{log_tail(log)}")


def stop_server(server: RunningServer, timeout: float = STOP_SECONDS) -> int | None:
    """SIGINT to the server's PID; SIGKILL if it has not exited within `timeout`."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


@contextlib.contextmanager
def running(
    targets: Sequence[Target], log_dir: Path, failures: list[str]
) -> Iterator[list[RunningServer]]:
    """Start each target (a failed optional one is noted in `failures` and left out)."""
    servers: list[RunningServer] = []
    try:
        for target in targets:
            try:
                servers.append(start_server(target, log_dir))
            except ServerFailed as exc:
                if not target.optional:
                    raise
                failures.append(f"{target.label}: did not start, left out ({exc})")
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def http_request(
    port: int, method: str, path: str, body: bytes = b"", timeout: float = 5.0
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body else {}
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_endpoint(server: RunningServer, endpoint: Endpoint) -> None:
    """Raise ServerFailed unless the server answers the endpoint as every stack must."""
    path = endpoint.path + ("?" + endpoint.query.decode() if endpoint.query else "")
    status, raw = http_request(server.port, endpoint.method, path, endpoint.body)
    answer: Any = raw.decode() if isinstance(endpoint.expected, str) else json.loads(raw or b"0")
    if status != endpoint.status or answer != endpoint.expected:
        raise ServerFailed(f"{server.target.label} {endpoint.name}: {status} {raw[:200]!r}")


# --- wrk -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors and non-2xx/3xx answers


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> WrkResult:
    """The numbers of a `wrk --latency` report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise ValueError(f"not a wrk report: {output[:300]!r}")

    def percentile(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(found.group(1)) * UNITS_MS[found.group(2)] if found else float("nan")

    count = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        requests=int(count.group(1)) if count else 0,
        errors=errors,
    )


def ensure_wrk(log: Path) -> str:
    """wrk's path; installed with apt-get (as root) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is missing: install it (apt-get install wrk) and run again")
    with log.open("a") as out:
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
            subprocess.run(
                command,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get installed wrk, but it is not on PATH")
    return found


def run_wrk(port: int, endpoint: Endpoint, seconds: float) -> WrkResult:
    """One wrk run against 127.0.0.1:port, pinned to the client core, keep-alive."""
    path = endpoint.path + ("?" + endpoint.query.decode() if endpoint.query else "")
    command = [
        "taskset",
        "-c",
        CLIENT_CORE,
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if endpoint.method == "POST":
        command += ["-s", str(POST_SCRIPT)]
    command.append(f"http://127.0.0.1:{port}{path}")
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=seconds + 60
    ).stdout
    return parse_wrk(output)


# --- a group of targets, measured in interleaved rounds -------------------------------------


@dataclass(slots=True)
class LoadCase:
    """One target at one endpoint: its wrk results, one per round."""

    group: str
    target: str
    label: str
    endpoint: str
    is_ferry: bool
    runs: list[WrkResult] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(run.requests_per_second for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "target": self.target,
            "label": self.label,
            "endpoint": self.endpoint,
            "is_ferry": self.is_ferry,
            "runs": [
                {
                    "requests_per_second": run.requests_per_second,
                    "p50_ms": run.p50_ms,
                    "p99_ms": run.p99_ms,
                    "requests": run.requests,
                    "errors": run.errors,
                }
                for run in self.runs
            ],
        }


def measure_group(
    group: str,
    targets: Sequence[Target],
    endpoints: Sequence[Endpoint],
    rounds: int,
    seconds: float,
    warm_up_seconds: float,
    log_dir: Path,
    failures: list[str],
    progress: Any = print,
) -> list[LoadCase]:
    """Every target at every endpoint: checked, warmed up, then measured round by round
    (A B C ... A B C ...) so that drift in the machine hits all of them alike."""
    cases: list[LoadCase] = []
    with running(targets, log_dir, failures) as servers:
        plan: list[tuple[RunningServer, Endpoint, LoadCase]] = []
        for server in servers:
            for endpoint in endpoints:
                check_endpoint(server, endpoint)
                case = LoadCase(
                    group,
                    server.target.key,
                    server.target.label,
                    endpoint.name,
                    server.target.is_ferry,
                )
                plan.append((server, endpoint, case))
                cases.append(case)
        for server, endpoint, _case in plan:
            run_wrk(server.port, endpoint, warm_up_seconds)
        for number in range(rounds):
            progress(f"  {group}: round {number + 1} of {rounds}")
            for server, endpoint, case in plan:
                case.runs.append(run_wrk(server.port, endpoint, seconds))
    return cases


def server_only_endpoint() -> Endpoint:
    return Endpoint("GET / (minimal app)", "GET", "/", expected="Hello, world!")


def full_stack_endpoints() -> list[Endpoint]:
    wanted = ("GET /users/{user_id}", "POST /users")
    return [endpoint for endpoint in ENDPOINTS if endpoint.name in wanted]


# --- memory ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryResult:
    target: str
    label: str
    is_ferry: bool
    connections: int
    idle_kib: int
    loaded_kib: int

    @property
    def per_connection_bytes(self) -> float:
        return (self.loaded_kib - self.idle_kib) * 1024 / max(1, self.connections)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "label": self.label,
            "is_ferry": self.is_ferry,
            "connections": self.connections,
            "idle_kib": self.idle_kib,
            "loaded_kib": self.loaded_kib,
        }


def rss_kib(pid: int) -> int:
    """The resident set size of a process, in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def open_idle_connections(port: int, count: int) -> list[socket.socket]:
    """`count` keep-alive connections, each after one request and its full response."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(client)
            client.sendall(REQUEST)
            received = b""
            while not received.endswith(b"Hello, world!"):
                chunk = client.recv(4096)
                if not chunk:
                    raise ConnectionError("the server closed a keep-alive connection")
                received += chunk
    except BaseException:
        for client in sockets:
            client.close()
        raise
    return sockets


def measure_memory(
    target: Target, connections: int, log_dir: Path, settle_seconds: float = 1.0
) -> MemoryResult:
    """Server RSS idle (after one request), then with `connections` idle keep-alive ones."""
    server = start_server(target, log_dir)
    try:
        http_request(server.port, "GET", "/")
        time.sleep(settle_seconds)
        idle = rss_kib(server.process.pid)
        sockets = open_idle_connections(server.port, connections)
        try:
            time.sleep(settle_seconds)
            loaded = rss_kib(server.process.pid)
        finally:
            for client in sockets:
                client.close()
    finally:
        stop_server(server)
    return MemoryResult(target.key, target.label, target.is_ferry, connections, idle, loaded)


def memory_targets(include_peers: bool) -> list[Target]:
    app = "raw_asgi:app"
    targets = [
        ferry_target(app, "ferry", f"ferry serve ({FERRY_DEFAULT_LOOP})"),
        ferry_target(app, "ferry-asyncio", "ferry serve --loop asyncio", "asyncio"),
    ]
    if include_peers:
        targets.append(
            uvicorn_target(app, "uvicorn-h11", "uvicorn (h11, asyncio)", "h11", "asyncio")
        )
        targets.append(
            uvicorn_target(
                app, "uvicorn-httptools", "uvicorn (httptools, uvloop)", "httptools", "uvloop"
            )
        )
    return targets


# --- a profile of the server under load -----------------------------------------------------


def profile_server(
    target: Target,
    endpoint: Endpoint,
    seconds: float,
    log_dir: Path,
    title: str,
    group: str,
    warm_up_seconds: float = 1.0,
) -> LayerProfile:
    """A ferry target's time under wrk load, from cProfile, summed by layer.

    The server runs under bench/profile_server.py: the profiler is on only while wrk loads
    it, after the warm-up, so start-up and shutdown are left out.
    """
    output = log_dir / f"profile-{target.key}-{free_port()}.prof"
    argv = list(target.argv)
    # `ferry serve ...` becomes `python -m bench.profile_server FILE serve ...`.
    serve_at = argv.index("serve")
    profiled = Target(
        target.key,
        target.label,
        (sys.executable, "-m", "bench.profile_server", str(output), *argv[serve_at:]),
        is_ferry=True,
    )
    server = start_server(profiled, log_dir, cwd=BENCH_DIR.parent)
    try:
        check_endpoint(server, endpoint)
        run_wrk(server.port, endpoint, warm_up_seconds)
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        result = run_wrk(server.port, endpoint, seconds)
        server.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not output.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_server(server)
    if not output.exists():
        raise ServerFailed(f"{target.label}: no profile written:\n{log_tail(server.log)}")
    profile = summarize(pstats.Stats(str(output)), title)
    profile.requests = result.requests
    profile.basis = {"group": group, "target": target.key, "endpoint": endpoint.name}
    return profile
