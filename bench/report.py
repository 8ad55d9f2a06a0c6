"""docs/performance.md from one run's results: the tables, the targets of issue 6, the charts.

Everything here reads the results dict that bench/run.py builds (and saves as JSON beside
the charts); nothing is measured here, so the report can be rebuilt from a saved run:

    python -m bench.report docs/performance/results.json docs/performance.md
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.profiles import LayerProfile

# The peers each Ferry target is compared with, by target key.
SERVER_BASELINE = "uvicorn-h11"
FULL_STACK_PEERS = ("uvicorn-h11", "uvicorn-httptools")
MEMORY_BASELINE = "uvicorn-h11"
WEBSOCKET_BASELINE = "uvicorn-wsproto"
AREA_TITLES = {
    "server_only": "Server only",
    "full_stack": "Full stack",
    "inprocess": "In-process typed layer",
    "router": "Router",
    "memory": "Memory",
    "websocket": "WebSocket echo",
}


@dataclass(frozen=True, slots=True)
class Goal:
    """One target of issue 6 and what this run measured for it."""

    name: str
    measured: float | None  # None: not measured in this run
    goal: str
    met: bool | None
    shown: str = ""  # how `measured` reads, e.g. "2.10x"
    area: str = ""  # server_only, full_stack, inprocess, router or memory


# --- numbers from the results -------------------------------------------------------------


def median_rps(case: dict[str, Any]) -> float:
    return float(statistics.median(run["requests_per_second"] for run in case["runs"]))


def rps_range(case: dict[str, Any]) -> tuple[float, float]:
    rates = [run["requests_per_second"] for run in case["runs"]]
    return min(rates), max(rates)


def median_mps(case: dict[str, Any]) -> float:
    return float(statistics.median(run["messages_per_second"] for run in case["runs"]))


def median_of(case: dict[str, Any], key: str) -> float:
    return float(statistics.median(run[key] for run in case["runs"]))


def find_case(cases: Sequence[dict[str, Any]], target: str, endpoint: str | None = None) -> Any:
    for case in cases:
        if case["target"] == target and (endpoint is None or case["endpoint"] == endpoint):
            return case
    return None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def times(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def framework_median(framework: dict[str, Any], stack: str, endpoint: str) -> float | None:
    samples = framework.get("samples", {}).get(stack, {}).get(endpoint)
    return statistics.median(samples) if samples else None


def router_median(router: dict[str, Any], name: str, size: int) -> float | None:
    samples = router.get("samples", {}).get(name, {}).get(str(size))
    return statistics.median(samples) if samples else None


def per_connection_bytes(entry: dict[str, Any]) -> float:
    return float((entry["loaded_kib"] - entry["idle_kib"]) * 1024 / max(1, entry["connections"]))


def goals(results: dict[str, Any]) -> list[Goal]:
    """Every target of issue 6, judged on this run's numbers."""
    found: list[Goal] = []
    server = results.get("server_only", [])
    ferry = find_case(server, "ferry")
    baseline = find_case(server, SERVER_BASELINE)
    value = ratio(ferry and median_rps(ferry), baseline and median_rps(baseline))
    found.append(
        Goal(
            "Server only: `ferry serve` ÷ `uvicorn --http h11 --loop asyncio`",
            value,
            ">= 1.80x",
            None if value is None else value >= 1.8,
            times(value),
            "server_only",
        )
    )
    full = results.get("full_stack", [])
    for endpoint in ("GET /users/{user_id}", "POST /users"):
        ours = find_case(full, "ferry", endpoint)
        for peer, wanted, label in (
            ("uvicorn-h11", 3.0, "uvicorn (h11) + FastAPI"),
            ("uvicorn-httptools", 1.75, "uvicorn (httptools, uvloop) + FastAPI"),
        ):
            theirs = find_case(full, peer, endpoint)
            value = ratio(ours and median_rps(ours), theirs and median_rps(theirs))
            found.append(
                Goal(
                    f"Full stack `{endpoint}`: ferry + ferry.api ÷ {label}",
                    value,
                    f">= {wanted:.2f}x",
                    None if value is None else value >= wanted,
                    times(value),
                    "full_stack",
                )
            )
    framework = results.get("inprocess", {}).get("framework", {})
    for endpoint in framework.get("endpoints", []):
        value = ratio(
            framework_median(framework, "ferry.api", endpoint),
            framework_median(framework, "FastAPI", endpoint),
        )
        found.append(
            Goal(
                f"In-process `{endpoint}`: ferry.api µs ÷ FastAPI µs",
                value,
                "<= 0.25",
                None if value is None else value <= 0.25,
                "-" if value is None else f"{value:.2f}",
                "inprocess",
            )
        )
    router = results.get("inprocess", {}).get("router", {})
    sizes = router.get("sizes", [])
    if sizes:
        ratios = [
            ratio(
                router_median(router, "ferry.asgi", size), router_median(router, "Starlette", size)
            )
            for size in sizes
        ]
        known = [value for value in ratios if value is not None]
        worst = max(known) if known else None
        found.append(
            Goal(
                "Router: ferry.asgi µs ÷ Starlette µs, worst size",
                worst,
                "< 1 at every size",
                None if worst is None or len(known) < len(sizes) else worst < 1.0,
                "-" if worst is None else f"{worst:.2f}",
                "router",
            )
        )
        growth = ratio(
            router_median(router, "ferry.asgi", max(sizes)),
            router_median(router, "ferry.asgi", min(sizes)),
        )
        found.append(
            Goal(
                f"Router: ferry.asgi at {max(sizes):,} routes ÷ at {min(sizes)} route",
                growth,
                "< 2.00x",
                None if growth is None else growth < 2.0,
                times(growth),
                "router",
            )
        )
    echo = results.get("websocket", [])
    ours_echo, theirs_echo = find_case(echo, "ferry"), find_case(echo, WEBSOCKET_BASELINE)
    value = ratio(ours_echo and median_mps(ours_echo), theirs_echo and median_mps(theirs_echo))
    found.append(
        Goal(
            "WebSocket echo: `ferry serve` ÷ `uvicorn --ws wsproto` (issue 7)",
            value,
            "> 1.00x",
            None if value is None else value > 1.0,
            times(value),
            "websocket",
        )
    )
    memory = results.get("memory", [])
    ours_memory = next((entry for entry in memory if entry["target"] == "ferry"), None)
    theirs_memory = next((entry for entry in memory if entry["target"] == MEMORY_BASELINE), None)
    value = ratio(
        ours_memory and per_connection_bytes(ours_memory),
        theirs_memory and per_connection_bytes(theirs_memory),
    )
    found.append(
        Goal(
            "Memory per idle keep-alive connection: ferry ÷ uvicorn (h11)",
            value,
            "<= 1.00x",
            None if value is None else value <= 1.0,
            times(value),
            "memory",
        )
    )
    return found


# --- markdown ---------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def number(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def load_rows(
    cases: Sequence[dict[str, Any]], baselines: Sequence[tuple[str, str]]
) -> list[list[str]]:
    """Rows of a load table; one ratio column per (target key, endpoint-or-empty) baseline."""
    rows = []
    for case in cases:
        low, high = rps_range(case)
        row = [
            f"**{case['label']}**" if case["is_ferry"] else case["label"],
            number(median_rps(case)),
            f"{number(low)}-{number(high)}",
            number(median_of(case, "p50_ms"), 2),
            number(median_of(case, "p99_ms"), 2),
            str(sum(run["errors"] for run in case["runs"])),
        ]
        for target, _title in baselines:
            other = find_case(cases, target, case["endpoint"])
            row.append(times(ratio(median_rps(case), other and median_rps(other))))
        rows.append(row)
    return rows


def machine_section(meta: dict[str, Any]) -> list[str]:
    machine = meta.get("machine", {})
    lines = ["## The machine and the tools", ""]
    rows = [[key, str(value)] for key, value in machine.items()]
    rows += [[f"Python ({where})", version] for where, version in meta.get("pythons", {}).items()]
    rows += [[name, version] for name, version in meta.get("tools", {}).items()]
    lines += table(["what", "value"], rows)
    versions = meta.get("versions", {})
    if versions:
        lines += ["Package versions (workspace environment / peers environment):", ""]
        lines += table(
            ["package", "workspace", "peers"],
            [
                [name, versions.get("workspace", {}).get(name, "-"), peer_version]
                for name, peer_version in versions.get("peers", {}).items()
            ],
        )
    return lines


def method_section(meta: dict[str, Any]) -> list[str]:
    settings = meta.get("settings", {})
    return [
        "## How it was measured",
        "",
        f"- Load: wrk `-t1 -c{settings.get('connections', 64)} --latency`, keep-alive, to "
        "127.0.0.1 only. Each server runs pinned to core 0 (`taskset -c 0`), wrk to core 1. "
        "One worker process per server, access logs off.",
        f"- Each target is checked for the right answer, warmed up for "
        f"{settings.get('warm_up_seconds')} s, then measured in {settings.get('rounds')} "
        f"interleaved round(s) (A B C … A B C …) of {settings.get('seconds')} s each; "
        "the tables give the median over rounds, the range, and the median p50/p99 latency.",
        "- Ratios compare targets measured in the same run; absolute numbers depend on the "
        "machine and on whatever else ran on it (see the load average above).",
        "- In-process: each app is called as `app(scope, receive, send)` with a prebuilt "
        "scope (copied per call), a list-backed `receive` and a `send` that appends to a "
        f"list, on one asyncio event loop; {settings.get('inprocess_iterations')} requests "
        f"per measurement, {settings.get('inprocess_rounds')} interleaved rounds, median "
        "reported. The harness alone (an app that sends two prebuilt messages) costs "
        f"{number(meta.get('floor_us'), 1)} µs per request and is included in every number.",
        "- Servers from Ferry run from the workspace environment; the peers from "
        "`bench/.peers`, a virtual environment the harness makes with the same interpreter. "
        "Ferry's packages are also installed there (editable) so the in-process comparison "
        "runs both on one event loop.",
        "",
    ]


def goals_section(found: Sequence[Goal]) -> list[str]:
    lines = ["## The targets of issue 6", ""]
    rows = [[goal.name, goal.shown, goal.goal, verdict(goal.met)] for goal in found]
    lines += table(["target", "this run", "goal", ""], rows)
    met = sum(1 for goal in found if goal.met)
    judged = sum(1 for goal in found if goal.met is not None)
    lines += [f"{met} of {judged} measured targets met.", ""]
    return lines


def server_section(results: dict[str, Any], charts: dict[str, str]) -> list[str]:
    cases = results.get("server_only", [])
    if not cases:
        return []
    lines = [
        "## Server only: the minimal ASGI app",
        "",
        "`bench/apps/raw_asgi.py` answers every request with `Hello, world!`; the bare "
        "protocol (`bench/apps/bare_protocol.py`) answers canned bytes with no parsing at all "
        "and is the ceiling for a Python server here. wrk's requests are plain HTTP/1.1 "
        "heads, so `ferry serve` reads them with its own reader (`request_head.py`), not h11; "
        "h11 reads only the requests that reader declines (see docs/server-behavior.md).",
        "",
    ]
    ceiling = find_case(cases, "bare")
    rows = load_rows(cases, [(SERVER_BASELINE, "")])
    for row, case in zip(rows, cases, strict=True):
        row.append(times(ratio(median_rps(case), ceiling and median_rps(ceiling))))
    header = ["server", "req/s", "min-max", "p50 ms", "p99 ms", "errors"]
    lines += table([*header, "÷ uvicorn (h11)", "÷ bare asyncio"], rows)
    if "server_only" in charts:
        lines += [f"![Server only]({charts['server_only']})", ""]
    return lines


def full_stack_section(results: dict[str, Any], charts: dict[str, str]) -> list[str]:
    cases = results.get("full_stack", [])
    if not cases:
        return []
    lines = [
        "## Full stack: server + typed framework",
        "",
        "`GET /users/{user_id}?verbose=true` (an `int` path parameter, a `bool` query "
        "parameter, a four-field response model) and `POST /users` (a validated JSON body, "
        "201); wrk sends the body with `bench/post_user.lua`.",
        "",
    ]
    header = ["stack", "req/s", "min-max", "p50 ms", "p99 ms", "errors"]
    header += ["÷ uvicorn (h11) + FastAPI", "÷ uvicorn (httptools, uvloop) + FastAPI"]
    for endpoint in dict.fromkeys(case["endpoint"] for case in cases):
        chosen = [case for case in cases if case["endpoint"] == endpoint]
        lines += [f"### `{endpoint}`", ""]
        lines += table(header, load_rows(chosen, [(peer, "") for peer in FULL_STACK_PEERS]))
    if "full_stack" in charts:
        lines += [f"![Full stack]({charts['full_stack']})", ""]
    return lines


def inprocess_section(results: dict[str, Any], charts: dict[str, str]) -> list[str]:
    framework = results.get("inprocess", {}).get("framework", {})
    if not framework:
        return []
    stacks = framework["stacks"]
    lines = [
        "## In-process framework cost (no sockets)",
        "",
        "µs per request, each app called directly; lower is better.",
        "",
    ]
    header = ["endpoint"]
    pairs = [("ferry.api", "FastAPI"), ("ferry.asgi", "Starlette")]
    for ours, theirs in pairs:
        header.append(ours)
        if theirs in stacks:
            header += [theirs, f"{ours} ÷ {theirs}"]
    rows = []
    for endpoint in framework["endpoints"]:
        row = [f"`{endpoint}`"]
        for ours, theirs in pairs:
            mine = framework_median(framework, ours, endpoint)
            row.append(number(mine, 1))
            if theirs in stacks:
                other = framework_median(framework, theirs, endpoint)
                row += [number(other, 1), number(ratio(mine, other), 2)]
        rows.append(row)
    lines += table(header, rows)
    lines += [
        "The toolkit apps (`ferry_asgi_app.py`, `starlette_app.py`) do the same work by hand: "
        "the dependency chain is two plain calls, the body is validated with the same "
        "pydantic model. Sync endpoints and dependencies run in a worker thread on every "
        "stack, which is most of `/deps/sync`'s cost: one thread hop per request on Ferry "
        "(the whole sync chain goes in one call, on Ferry's own worker threads), one on the "
        "Starlette app (anyio's threads) and three on FastAPI (anyio's threads).",
        "",
    ]
    if "inprocess" in charts:
        lines += [f"![In-process cost]({charts['inprocess']})", ""]
    return lines


def router_section(results: dict[str, Any], charts: dict[str, str]) -> list[str]:
    router = results.get("inprocess", {}).get("router", {})
    if not router:
        return []
    lines = [
        "## Router scaling",
        "",
        "µs to route a request to the last of N routes `/r{i}/items/{item_id:int}` (the "
        "endpoint does nothing), called in-process.",
        "",
    ]
    names = list(router["samples"])
    smallest = min(router["sizes"])
    rows = []
    for size in router["sizes"]:
        ours = router_median(router, "ferry.asgi", size)
        row = [f"{size:,}", number(ours, 2)]
        if "Starlette" in names:
            theirs = router_median(router, "Starlette", size)
            row += [number(theirs, 2), number(ratio(ours, theirs), 2)]
        row.append(times(ratio(ours, router_median(router, "ferry.asgi", smallest))))
        rows.append(row)
    header = ["routes", "ferry.asgi µs"]
    if "Starlette" in names:
        header += ["Starlette µs", "ferry ÷ Starlette"]
    lines += table([*header, f"ferry ÷ ferry at {smallest}"], rows)
    if "router" in charts:
        lines += [f"![Router scaling]({charts['router']})", ""]
    return lines


def websocket_section(results: dict[str, Any]) -> list[str]:
    cases = results.get("websocket", [])
    if not cases:
        return []
    lines = [
        "## WebSocket echo",
        "",
        "`bench/apps/ws_echo.py` (raw ASGI) sends every message back. The client "
        "(`bench/ws_load.py`, asyncio and uvloop, pinned to core 1) opens 50 WebSockets "
        "without extensions and round trips a 64-byte text message on each, one in flight "
        "per connection, for a fixed time; every echo is checked. Latency is per round trip.",
        "",
    ]
    baseline = find_case(cases, WEBSOCKET_BASELINE)
    rows = []
    for case in cases:
        rates = [run["messages_per_second"] for run in case["runs"]]
        rows.append(
            [
                f"**{case['label']}**" if case["is_ferry"] else case["label"],
                number(median_mps(case)),
                f"{number(min(rates))}-{number(max(rates))}",
                number(median_of(case, "p50_ms"), 2),
                number(median_of(case, "p99_ms"), 2),
                str(sum(run["errors"] for run in case["runs"])),
                times(ratio(median_mps(case), baseline and median_mps(baseline))),
            ]
        )
    header = ["server", "messages/s", "min-max", "p50 ms", "p99 ms", "errors"]
    lines += table([*header, "÷ uvicorn --ws wsproto"], rows)
    return lines


def memory_section(results: dict[str, Any], charts: dict[str, str]) -> list[str]:
    memory = results.get("memory", [])
    if not memory:
        return []
    connections = memory[0]["connections"]
    lines = [
        "## Memory",
        "",
        f"Server RSS after one request (idle), then with {connections:,} idle keep-alive "
        "connections open (each has sent one request and read its response); the minimal "
        "app, keep-alive timeout 60 s.",
        "",
    ]
    baseline = next((entry for entry in memory if entry["target"] == MEMORY_BASELINE), None)
    rows = []
    for entry in memory:
        per = per_connection_bytes(entry)
        label = f"**{entry['label']}**" if entry["is_ferry"] else entry["label"]
        rows.append(
            [
                label,
                number(entry["idle_kib"] / 1024, 1),
                number(entry["loaded_kib"] / 1024, 1),
                number(per / 1024, 2),
                times(ratio(per, baseline and per_connection_bytes(baseline))),
            ]
        )
    header = ["server", "idle MiB", f"with {connections:,} MiB", "KiB per connection"]
    lines += table([*header, "÷ uvicorn (h11)"], rows)
    if "memory" in charts:
        lines += [f"![Memory]({charts['memory']})", ""]
    return lines


def measured_us(results: dict[str, Any], profile: LayerProfile) -> float | None:
    """µs per request, without the profiler, of the measurement a profile is of.

    Under load a server is pinned to one saturated core, so 1 / (req/s) is its time per
    request; in-process, the table's median.
    """
    basis = profile.basis
    if "group" in basis:
        case = find_case(results.get(basis["group"], []), basis["target"], basis["endpoint"])
        return 1e6 / median_rps(case) if case else None
    if "stack" in basis:
        framework = results.get("inprocess", {}).get("framework", {})
        return framework_median(framework, basis["stack"], basis["endpoint"])
    return None


def profile_lines(profile: LayerProfile, per_request_us: float | None) -> list[str]:
    lines = [f"### {profile.title}", ""]
    facts = []
    if per_request_us is not None:
        facts.append(f"{per_request_us:.0f} µs per request as measured")
    if profile.requests:
        under = profile.total_seconds / profile.requests * 1e6
        facts.append(f"{under:.0f} µs under the profiler ({profile.requests:,} requests)")
    if facts:
        lines += ["; ".join(facts).capitalize() + ".", ""]
    header = ["layer", "share of the time"]
    if per_request_us is not None:
        header.append("≈ µs per request")
    rows = []
    for layer, share in profile.shares.items():
        row = [layer, f"{share * 100:.1f}%"]
        if per_request_us is not None:
            row.append(f"{share * per_request_us:.1f}")
        rows.append(row)
    lines += table(header, rows)
    lines += ["Costliest functions (own time):", ""]
    lines += [f"- {share * 100:.1f}% `{name}`" for name, share in profile.top]
    return [*lines, ""]


def profile_area(profile: LayerProfile) -> str:
    return profile.basis.get("group", "inprocess" if "stack" in profile.basis else "")


def profile_section(results: dict[str, Any], found: Sequence[Goal]) -> list[str]:
    saved = [*results.get("server_profiles", []), *results.get("inprocess", {}).get("profiles", [])]
    profiles = [LayerProfile.from_json(data) for data in saved]
    if not profiles:
        return []
    lines = ["## Where the time goes", ""]
    missed_areas = list(dict.fromkeys(goal.area for goal in found if goal.met is False))
    if missed_areas:
        lines += ["The missed targets, and the layers that take the time (profiles below):", ""]
    for area in missed_areas:
        missed = [goal for goal in found if goal.area == area and goal.met is False]
        lines.append(f"- **{AREA_TITLES.get(area, area)}**: missed")
        lines += [f"  - {goal.name}: {goal.shown} (goal {goal.goal})" for goal in missed]
        if area == "router":
            lines.append(
                "  - where: `Router.candidates` (the route tree) and `Route.matches` (the "
                "regex and converters) in `ferry/asgi/routing.py`; see the router table."
            )
        for profile in profiles:
            if profile_area(profile) != area:
                continue
            per_request = measured_us(results, profile)
            parts = []
            for layer, share in list(profile.shares.items())[:4]:
                estimate = f" ≈ {share * per_request:.0f} µs" if per_request else ""
                parts.append(f"{layer} {share * 100:.0f}%{estimate}")
            lines.append(f"  - where, {profile.title}: " + ", ".join(parts) + ".")
    if missed_areas:
        lines.append("")
    lines += [
        "cProfile's own cost per call inflates code made of many small calls (h11, the server) "
        "against code in C (pydantic-core, uvloop), so the shares say where to look, not the "
        "exact split; the µs column spreads the time measured without the profiler by those "
        "shares. The server profiles are taken while wrk loads the server, after the warm-up; "
        "the in-process ones over the same calls as the in-process table. The time of a C "
        "function is charged to the layer that called it.",
        "",
    ]
    for profile in profiles:
        lines += profile_lines(profile, measured_us(results, profile))
    return lines


def notes_section(results: dict[str, Any]) -> list[str]:
    failures = results.get("failures", [])
    notes = results.get("meta", {}).get("notes", [])
    if not failures and not notes:
        return []
    lines = ["## Notes and failures", ""]
    lines += [f"- {note}" for note in notes]
    lines += [f"- {failure}" for failure in failures]
    return [*lines, ""]


def render(results: dict[str, Any], charts: dict[str, str]) -> str:
    """The whole of docs/performance.md."""
    meta = results.get("meta", {})
    found = goals(results)
    lines = [
        "# Performance",
        "",
        f"Written by `make bench` ({meta.get('mode', 'full')} mode) on {meta.get('started', '?')}, "
        f"in {number(meta.get('duration_seconds'), 0)} s. Run it again with `make bench` "
        "(about 15 minutes on two cores) or `make bench BENCH_ARGS=--quick` (under 3); "
        "`bench/README.md` describes the harness. The raw numbers are in "
        "`performance/results.json`.",
        "",
    ]
    if meta.get("mode") == "quick":
        lines += [
            "> A quick run: one short round per target and fewer targets. Its ratios are "
            "indicative; the full run's are the ones to quote.",
            "",
        ]
    lines += goals_section(found)
    lines += server_section(results, charts)
    lines += full_stack_section(results, charts)
    lines += websocket_section(results)
    lines += inprocess_section(results, charts)
    lines += router_section(results, charts)
    lines += memory_section(results, charts)
    lines += profile_section(results, found)
    lines += notes_section(results)
    lines += machine_section(meta)
    lines += method_section(meta)
    return "\n".join(lines).rstrip() + "\n"


def write_report(results: dict[str, Any], out: Path, charts: dict[str, str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, charts))


def main(argv: Sequence[str]) -> int:
    results_path, out = Path(argv[0]), Path(argv[1])
    results = json.loads(results_path.read_text())
    charts = {
        path.stem: f"{results_path.parent.name}/{path.name}"
        for path in sorted(results_path.parent.glob("*.png"))
    }
    write_report(results, out, charts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
