"""WebSocket echo under load: messages per second over many connections, Ferry and uvicorn.

The client is ours, run in a process of its own pinned to the client core (`taskset -c 1`)
while the server runs on core 0, as wrk does for HTTP:

    python -m bench.ws_load --port 8000 --connections 50 --seconds 8     # prints JSON

Each connection does the opening handshake (no extensions offered, so no compression
anywhere), then round trips one text message at a time: send, wait for the echo, send
again. Counting starts once every connection is open and lasts a fixed time; each echo is
checked against what was sent. The frames are made once (a fixed mask) and read with a
small parser, so the client spends little of its core per message. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONNECTIONS = 50
MESSAGE_BYTES = 64
HANDSHAKE_SECONDS = 10.0


# --- the client (runs in its own process) ---------------------------------------------------


def masked_text_frame(payload: bytes) -> bytes:
    """One final text frame as a client must send it (RFC 6455 §5.2, §5.3), payload < 126."""
    mask = b"\x37\xfa\x21\x3d"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


class EchoConnection(asyncio.Protocol):
    """One client WebSocket doing round trips, one message in flight at a time."""

    def __init__(self, run: EchoRun) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.open = False
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.run.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        run = self.run
        if not self.open:
            self.buffer += data
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                run.fail(f"handshake refused: {head[:60]!r}")
                return
            self.open = True
            self.buffer = b""
            run.opened(self)
            data = rest
            if not data:
                return
        if not self.buffer and data == run.reply:  # the usual case: exactly one echo
            self.echoed()
            return
        self.buffer += data
        self.parse()

    def parse(self) -> None:
        # Server frames are unmasked (RFC 6455 §5.1): a 2-byte head, 2 more for 126..65535.
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                self.run.fail("a frame over 64 KiB")
                return
            if len(buffer) < start + length:
                break
            payload = buffer[start : start + length]
            buffer = buffer[start + length :]
            if opcode == 0x1:
                if payload != self.run.payload:
                    self.run.fail(f"wrong echo: {payload[:40]!r}")
                    return
                self.echoed()
            elif opcode == 0x8:
                self.run.fail("the server closed a connection")
                return
            # Pings and pongs are left unanswered: a run is shorter than any ping timeout.
        self.buffer = buffer

    def echoed(self) -> None:
        run = self.run
        now = run.clock()
        if run.counting:
            run.messages += 1
            run.latencies.append(now - self.sent_at)
        self.send()

    def send(self) -> None:
        if self.run.sending and self.transport is not None:
            self.sent_at = self.run.clock()
            self.transport.write(self.run.frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.run.sending:
            self.run.fail(f"connection lost: {exc}")


@dataclass
class EchoRun:
    """The shared state of one client run."""

    port: int
    connections: int
    payload: bytes
    loop: asyncio.AbstractEventLoop
    frame: bytes = b""
    reply: bytes = b""
    open_connections: list[EchoConnection] = field(default_factory=list)
    all_open: asyncio.Future[None] | None = None
    counting: bool = False
    sending: bool = True
    messages: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frame = masked_text_frame(self.payload)
        self.reply = bytes([0x81, len(self.payload)]) + self.payload
        self.all_open = self.loop.create_future()
        self.clock = time.perf_counter  # uvloop's loop.time() has millisecond steps

    def opened(self, connection: EchoConnection) -> None:
        self.open_connections.append(connection)
        done = self.all_open is None or self.all_open.done()
        if len(self.open_connections) == self.connections and not done:
            self.all_open.set_result(None)  # type: ignore[union-attr]

    def fail(self, reason: str) -> None:
        self.errors.append(reason)
        if self.all_open is not None and not self.all_open.done():
            self.all_open.set_exception(RuntimeError(reason))


async def run_client(port: int, connections: int, seconds: float, size: int) -> dict[str, Any]:
    """Open `connections` WebSockets to 127.0.0.1:port/ws and echo for `seconds`."""
    loop = asyncio.get_running_loop()
    run = EchoRun(port, connections, b"m" * size, loop)
    transports: list[asyncio.BaseTransport] = []
    try:
        for _ in range(connections):
            transport, _protocol = await loop.create_connection(
                lambda: EchoConnection(run), "127.0.0.1", port
            )
            transports.append(transport)
        assert run.all_open is not None
        await asyncio.wait_for(run.all_open, HANDSHAKE_SECONDS)
        for connection in run.open_connections:
            connection.send()
        await asyncio.sleep(min(0.2, seconds / 10))  # every connection in its stride
        run.counting = True
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        run.counting = False
        elapsed = time.perf_counter() - started
        client_cpu = (time.process_time() - cpu_started) / elapsed
        run.sending = False
    finally:
        run.sending = False
        for opened in transports:
            opened.close()
    latencies = sorted(run.latencies)

    def percentile(share: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000.0

    return {
        "messages_per_second": run.messages / elapsed,
        "messages": run.messages,
        "seconds": elapsed,
        "connections": connections,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "client_cpu": client_cpu,  # of one core: near 1.0, the client limits the rate
        "errors": len(run.errors),
        "first_error": run.errors[0] if run.errors else "",
    }


def client_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="WebSocket echo load on 127.0.0.1; JSON out.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=MESSAGE_BYTES)
    args = parser.parse_args(argv)
    if not 0 < args.size < 126:
        parser.error("--size must be 1 to 125 bytes")
    try:
        import uvloop
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        result = runner.run(run_client(args.port, args.connections, args.seconds, args.size))
    print(json.dumps(result))
    return 0


# --- the harness side (bench/run.py) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EchoResult:
    """One client run against one server."""

    messages_per_second: float
    messages: int
    p50_ms: float
    p99_ms: float
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "messages_per_second": self.messages_per_second,
            "messages": self.messages,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "errors": self.errors,
        }


def run_echo_client(
    port: int, seconds: float, connections: int = CONNECTIONS, core: str | None = None
) -> EchoResult:
    """The client in a process of its own (pinned to `core` when given); its numbers."""
    command = [
        sys.executable, "-m", "bench.ws_load",
        "--port", str(port), "--connections", str(connections), "--seconds", str(seconds),
    ]  # fmt: skip
    if core is not None:
        command = ["taskset", "-c", core, *command]
    output = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + HANDSHAKE_SECONDS + 30,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    data = json.loads(output)
    if data["errors"] and not data["messages"]:
        raise RuntimeError(f"no echo at all: {data['first_error']}")
    return EchoResult(
        data["messages_per_second"],
        data["messages"],
        data["p50_ms"],
        data["p99_ms"],
        data["errors"],
    )


@dataclass(slots=True)
class EchoCase:
    """One server's echo results, one per round."""

    target: str
    label: str
    is_ferry: bool
    runs: list[EchoResult] = field(default_factory=list)

    def median_mps(self) -> float:
        return statistics.median(run.messages_per_second for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": "websocket",
            "target": self.target,
            "label": self.label,
            "endpoint": "WebSocket echo",
            "is_ferry": self.is_ferry,
            "runs": [run.to_json() for run in self.runs],
        }


def websocket_targets(quick: bool, include_peers: bool) -> list[Any]:
    """The echo app on Ferry and on uvicorn with each of its WebSocket implementations."""
    # Imported here: the client process (`python -m bench.ws_load`) stays light.
    from bench.load import FERRY_DEFAULT_LOOP, ferry_target, uvicorn_target

    app = "ws_echo:app"
    targets = [ferry_target(app, "ferry", f"ferry serve ({FERRY_DEFAULT_LOOP})")]
    if not quick:
        targets.append(ferry_target(app, "ferry-asyncio", "ferry serve --loop asyncio", "asyncio"))
    if include_peers:
        for ws in ("wsproto", "websockets"):
            base = uvicorn_target(
                app, f"uvicorn-{ws}", f"uvicorn --ws {ws} (uvloop)", "httptools", "uvloop"
            )
            targets.append(type(base)(base.key, base.label, (*base.argv, "--ws", ws)))
        if not quick:
            base = uvicorn_target(
                app, "uvicorn-wsproto-asyncio", "uvicorn --ws wsproto (asyncio)", "h11", "asyncio"
            )
            targets.append(type(base)(base.key, base.label, (*base.argv, "--ws", "wsproto")))
    return targets


def measure_websockets(
    targets: Sequence[Any],
    rounds: int,
    seconds: float,
    warm_up_seconds: float,
    log_dir: Path,
    failures: list[str],
    progress: Any = print,
    connections: int = CONNECTIONS,
) -> list[EchoCase]:
    """Every target: warmed up, then measured in interleaved rounds (A B C ... A B C ...)."""
    # Imported here: the client process (`python -m bench.ws_load`) stays light.
    from bench.load import CLIENT_CORE, running

    cases: list[EchoCase] = []
    with running(targets, log_dir, failures) as servers:
        plan = [
            (server, EchoCase(server.target.key, server.target.label, server.target.is_ferry))
            for server in servers
        ]
        cases = [case for _, case in plan]
        for server, _case in plan:
            run_echo_client(server.port, warm_up_seconds, connections, CLIENT_CORE)
        for number in range(rounds):
            progress(f"  websocket echo: round {number + 1} of {rounds}")
            for server, case in plan:
                case.runs.append(run_echo_client(server.port, seconds, connections, CLIENT_CORE))
    return cases


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(client_main())
