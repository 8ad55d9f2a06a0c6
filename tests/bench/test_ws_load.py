"""The WebSocket echo benchmark keeps working: its client against Ferry for a moment, and
its place in the report. `make bench` does the real run, with uvicorn beside Ferry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.integration.http_helpers import address

from bench import report, ws_load
from ferry.server.testing import run_in_thread
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope

pytestmark = pytest.mark.slow

APPS_DIR = str(Path(ws_load.__file__).parent / "apps")


def test_the_echo_client_counts_checked_round_trips() -> None:
    with run_in_thread("ws_echo:app", app_dir=APPS_DIR, lifespan="off") as url:
        _, port = address(url)
        result = asyncio.run(ws_load.run_client(port, connections=5, seconds=0.3, size=64))
    assert result["errors"] == 0, result["first_error"]
    assert result["connections"] == 5
    assert result["messages"] > 50
    assert result["messages_per_second"] == pytest.approx(result["messages"] / result["seconds"])
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_the_client_process_prints_json_the_harness_reads() -> None:
    with run_in_thread("ws_echo:app", app_dir=APPS_DIR, lifespan="off") as url:
        _, port = address(url)
        result = ws_load.run_echo_client(port, seconds=0.3, connections=3)
    assert result.errors == 0
    assert result.messages > 0


def test_a_wrong_echo_is_an_error() -> None:
    async def shout(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": "M" * 64})

    with run_in_thread(shout, lifespan="off") as url:
        _, port = address(url)
        result = asyncio.run(ws_load.run_client(port, connections=2, seconds=0.2, size=64))
    assert result["messages"] == 0
    assert result["errors"] == 2
    assert result["first_error"].startswith("wrong echo")


def test_the_masked_frame_is_what_a_client_must_send() -> None:
    frame = ws_load.masked_text_frame(b"hello")
    assert frame[:2] == b"\x81\x85"
    mask = frame[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:])) == b"hello"


def _case(target: str, rates: list[float], is_ferry: bool = False) -> dict[str, Any]:
    runs = [
        {"messages_per_second": r, "messages": int(r), "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
        for r in rates
    ]
    return {"target": target, "label": target, "is_ferry": is_ferry, "runs": runs}


def test_the_report_judges_ferry_against_uvicorn_wsproto(tmp_path: Path) -> None:
    results = {
        "meta": {"mode": "quick"},
        "websocket": [
            _case("ferry", [30000.0, 33000.0, 31000.0], is_ferry=True),
            _case("uvicorn-wsproto", [20000.0]),
            _case("uvicorn-websockets", [25000.0]),
        ],
    }
    out = tmp_path / "performance.md"
    report.write_report(results, out, charts={})
    text = out.read_text()
    assert "## WebSocket echo" in text
    assert "| **ferry** | 31,000 | 30,000-33,000 | 1.00 | 2.00 | 0 | 1.55x |" in text
    assert (
        "| WebSocket echo: `ferry serve` ÷ `uvicorn --ws wsproto` (issue 7) | 1.55x | > 1.00x "
        "| met |" in text
    )
