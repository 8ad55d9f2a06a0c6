"""The benchmark harness keeps working: its in-process parts run on tiny counts, Ferry alone.

No peers' environment is made and no server is started; `make bench` does the real run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bench import inprocess, load, report

pytestmark = pytest.mark.slow

WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.07ms  350.09us   9.95ms   92.26%
    Req/Sec    20.97k     1.02k   22.39k    83.33%
  Latency Distribution
     50%  850.00us
     75%    3.10ms
     90%    3.25ms
     99%    1.20s
  62643 requests in 3.00s, 8.66MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  20871.16
Transfer/sec:      2.88MB
"""


def test_in_process_cost_is_measured_for_every_ferry_endpoint() -> None:
    with asyncio.Runner() as runner:
        cost = inprocess.measure_framework_cost(runner, iterations=3, rounds=2, include_peers=False)
    assert cost.stacks == ["ferry.api", "ferry.asgi"]
    assert cost.endpoints == [endpoint.name for endpoint in inprocess.ENDPOINTS]
    for stack in cost.stacks:
        for endpoint in cost.endpoints:
            assert len(cost.samples[stack][endpoint]) == 2
            assert cost.median(stack, endpoint) > 0
    assert cost.floor_us > 0


def test_router_scaling_is_measured_for_ferry_at_every_size() -> None:
    with asyncio.Runner() as runner:
        scaling = inprocess.measure_router_scaling(
            runner, iterations=60, rounds=1, include_peers=False, budget_seconds=0.001
        )
    assert list(scaling.samples) == ["ferry.asgi"]
    assert scaling.sizes == [1, 10, 100, 1000]
    assert all(scaling.median("ferry.asgi", size) > 0 for size in scaling.sizes)


def test_a_wrong_answer_stops_the_measurement() -> None:
    endpoint = inprocess.ENDPOINTS[0]
    sent: list[dict[str, Any]] = [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"Goodbye"},
    ]
    with pytest.raises(AssertionError, match="answered 'Goodbye'"):
        inprocess.check_answer("ferry.api", endpoint, sent)


def test_the_report_is_written_from_in_process_results_alone(tmp_path: Path) -> None:
    results = {
        "meta": {"mode": "quick", "notes": ["Ferry alone"]},
        "inprocess": inprocess.run_all(
            iterations=3,
            router_iterations=60,
            rounds=1,
            include_peers=False,
            router_budget_seconds=0.001,
        ),
    }
    out = tmp_path / "performance.md"
    report.write_report(results, out, charts={})
    text = out.read_text()
    assert "## In-process framework cost" in text
    assert "## Router scaling" in text
    assert "### ferry.api, GET /users/{user_id}, in-process" in text
    # Without the peers only the router's own growth can be judged; the rest is not measured.
    assert "of 1 measured targets met." in text
    assert "| Server only: `ferry serve` ÷ `uvicorn --http h11 --loop asyncio` | - |" in text
    assert "- Ferry alone" in text


def test_a_wrk_report_is_read_into_numbers() -> None:
    result = load.parse_wrk(WRK_OUTPUT)
    assert result.requests_per_second == pytest.approx(20871.16)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.requests == 62643
    assert result.errors == 8
