"""The benchmark suite: `python bench/run.py [--quick] [--out docs/performance.md]`.

In order, each step logged with the time it started:
1. the peers' environment (bench/.peers) and wrk (apt-get, when missing);
2. in-process framework cost, router scaling and an in-process profile (no sockets);
3. server only: the minimal ASGI app on each server, and the bare-protocol ceiling;
4. full stack: `GET /users/{user_id}` and `POST /users` on ferry + ferry.api and on
   uvicorn + FastAPI;
5. WebSocket echo: messages per second over 50 connections, on Ferry and on uvicorn
   (`--ws wsproto` and `--ws websockets`), with our own client (bench/ws_load.py);
   then memory: RSS idle and with 1,000 idle keep-alive connections;
6. profiles of `ferry serve` under load;
7. results.json and the charts in docs/performance/, then docs/performance.md.

A step that fails is noted in the report and the run goes on. `--quick` makes one short
round of fewer targets (under 3 minutes); the full run takes about 11 minutes on 2 cores.
`--no-peers` measures Ferry alone, without making the peers' environment.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench import load, ws_load  # noqa: E402
from bench.peers import (  # noqa: E402
    PEERS_DIR,
    ensure_peers,
    package_versions,
    python_version,
    uv_command,
)
from bench.report import write_report  # noqa: E402

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    """How long and how often each part runs."""

    mode: str
    rounds: int
    seconds: float
    warm_up_seconds: float
    connections: int
    inprocess_iterations: int
    inprocess_rounds: int
    router_iterations: int
    router_budget_seconds: float
    memory_connections: int
    profile_seconds: float


FULL = Settings(
    mode="full",
    rounds=5,
    seconds=8,
    warm_up_seconds=2,
    connections=load.CONNECTIONS,
    inprocess_iterations=2000,
    inprocess_rounds=5,
    router_iterations=20000,
    router_budget_seconds=0.25,
    memory_connections=1000,
    profile_seconds=5,
)
QUICK = Settings(
    mode="quick",
    rounds=1,
    seconds=3,
    warm_up_seconds=1,
    connections=load.CONNECTIONS,
    inprocess_iterations=500,
    inprocess_rounds=3,
    router_iterations=5000,
    router_budget_seconds=0.05,
    memory_connections=1000,
    profile_seconds=3,
)


class Log:
    """Progress lines on stdout, each with the seconds since the run began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)


def attempt(step: str, failures: list[str], log: Log, action: Callable[[], T]) -> T | None:
    """Run one step; on failure note it (the report lists it) and go on."""
    log(step)
    try:
        return action()
    except Exception as exc:  # one broken step must not lose the others' numbers
        failures.append(f"{step}: {type(exc).__name__}: {exc}")
        log(f"  failed: {type(exc).__name__}: {exc}")
        return None


def run_inprocess(python: Path, settings: Settings, include_peers: bool) -> dict[str, Any]:
    """The in-process part, in a process of its own pinned to the server core."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "inprocess.json"
        command = [
            "taskset", "-c", load.SERVER_CORE, str(python), "-m", "bench.inprocess",
            "--out", str(out),
            "--iterations", str(settings.inprocess_iterations),
            "--router-iterations", str(settings.router_iterations),
            "--router-budget", str(settings.router_budget_seconds),
            "--rounds", str(settings.inprocess_rounds),
        ]  # fmt: skip
        if not include_peers:
            command.append("--no-peers")
        subprocess.run(command, check=True, cwd=ROOT, timeout=600)
        data: dict[str, Any] = json.loads(out.read_text())
        return data


def machine_info() -> dict[str, str]:
    info = {"CPU": platform.processor() or platform.machine()}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                info["CPU"] = line.split(":", 1)[1].strip()
                break
    info["cores"] = str(os.cpu_count())
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        info["memory"] = f"{total_kib / 1024 / 1024:.1f} GiB"
    os_release = Path("/etc/os-release")
    if os_release.exists():
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["OS"] = line.split("=", 1)[1].strip('"')
    info["kernel"] = platform.release()
    return info


def command_output(command: Sequence[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if result.stdout or result.stderr
        else "-"
    )


def tool_versions() -> dict[str, str]:
    ferry = load.workspace_command("ferry", "ferry.server")
    return {
        "wrk": command_output(["wrk", "-v"]).split(" Copyright")[0],
        "uv": command_output([*uv_command(), "--version"]),
        "ferry": command_output([*ferry, "--version"]),
        "taskset": command_output(["taskset", "--version"]),
    }


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(settings: Settings, out: Path, include_peers: bool) -> dict[str, Any]:
    log = Log()
    started = datetime.datetime.now(datetime.UTC)
    failures: list[str] = []
    notes: list[str] = []
    log_dir = PEERS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    setup_log = log_dir / "setup.log"
    load_at_start = os.getloadavg()[0]
    open_files = load.raise_open_files_limit()
    log(f"{settings.mode} run; open-files limit {open_files}; load average {load_average()}")

    peers_python: Path | None = None
    if include_peers:
        peers_python = attempt(
            "the peers' environment (bench/.peers)", failures, log, lambda: ensure_peers(setup_log)
        )
        if peers_python is None:
            notes.append("The peers' environment could not be made: Ferry was measured alone.")
    with_peers = peers_python is not None
    wrk = attempt("wrk", failures, log, lambda: load.ensure_wrk(setup_log))

    inprocess_python = peers_python or Path(sys.executable)
    inprocess = attempt(
        "in-process framework cost and router scaling",
        failures,
        log,
        lambda: run_inprocess(inprocess_python, settings, with_peers),
    )

    server_only: list[Any] = []
    full_stack: list[Any] = []
    websocket: list[Any] = []
    memory: list[Any] = []
    server_profiles: list[Any] = []
    if wrk is not None:
        measured = attempt(
            "server only: the minimal ASGI app",
            failures,
            log,
            lambda: load.measure_group(
                "server only",
                load.server_only_targets(settings.mode == "quick", with_peers),
                [load.server_only_endpoint()],
                settings.rounds,
                settings.seconds,
                settings.warm_up_seconds,
                log_dir,
                failures,
                log,
            ),
        )
        server_only = [case.to_json() for case in measured or []]
        measured = attempt(
            "full stack: GET /users/{user_id} and POST /users",
            failures,
            log,
            lambda: load.measure_group(
                "full stack",
                load.full_stack_targets(with_peers),
                load.full_stack_endpoints(),
                settings.rounds,
                settings.seconds,
                settings.warm_up_seconds,
                log_dir,
                failures,
                log,
            ),
        )
        full_stack = [case.to_json() for case in measured or []]
        echoed = attempt(
            "websocket echo: 50 connections, one message in flight each",
            failures,
            log,
            lambda: ws_load.measure_websockets(
                ws_load.websocket_targets(settings.mode == "quick", with_peers),
                settings.rounds,
                settings.seconds,
                settings.warm_up_seconds,
                log_dir,
                failures,
                log,
            ),
        )
        websocket = [case.to_json() for case in echoed or []]
        for target in load.memory_targets(with_peers):
            result = attempt(
                f"memory: {target.label}",
                failures,
                log,
                functools.partial(
                    load.measure_memory, target, settings.memory_connections, log_dir
                ),
            )
            if result is not None:
                memory.append(result.to_json())
        for app, endpoint, title, group in (
            (
                "raw_asgi:app",
                load.server_only_endpoint(),
                "ferry serve, the minimal app, under load",
                "server_only",
            ),
            (
                "ferry_api_app:app",
                load.full_stack_endpoints()[0],
                "ferry serve + ferry.api, GET /users/{user_id}, under load",
                "full_stack",
            ),
        ):
            profile = attempt(
                f"profile: {title}",
                failures,
                log,
                functools.partial(
                    load.profile_server,
                    load.ferry_target(app, "ferry", "ferry serve"),
                    endpoint,
                    settings.profile_seconds,
                    log_dir,
                    title,
                    group,
                ),
            )
            if profile is not None:
                server_profiles.append(profile.to_json())

    if load_at_start > 0.5:
        notes.append(
            f"Other work was running on the machine when the run began (load average "
            f"{load_at_start:.2f}): absolute numbers are lower and noisier than on an idle "
            "machine; the ratios, from interleaved rounds, suffer less."
        )
    if any(case["target"] == "granian" for case in server_only):
        notes.append(
            "granian runs its Rust runtime threads beside the Python worker; pinned to core 0 "
            "like every server, it shares that core among them."
        )
    pythons = {"harness and Ferry's servers": python_version(Path(sys.executable))}
    versions = {"workspace": package_versions(Path(sys.executable)), "peers": {}}
    if peers_python is not None:
        pythons["peers"] = python_version(peers_python)
        versions["peers"] = package_versions(peers_python)
    else:
        versions["peers"] = {name: "-" for name in versions["workspace"]}
    finished = time.monotonic() - log.started
    results: dict[str, Any] = {
        "meta": {
            "mode": settings.mode,
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "duration_seconds": finished,
            "settings": asdict(settings),
            "machine": {
                **machine_info(),
                "load average at start / end": f"{load_at_start:.2f} / {os.getloadavg()[0]:.2f}",
            },
            "pythons": pythons,
            "tools": tool_versions(),
            "versions": versions,
            "notes": notes,
            "floor_us": (inprocess or {}).get("framework", {}).get("floor_us"),
        },
        "server_only": server_only,
        "full_stack": full_stack,
        "websocket": websocket,
        "inprocess": inprocess or {},
        "memory": memory,
        "server_profiles": server_profiles,
        "failures": failures,
    }
    assets = out.parent / out.stem  # docs/performance.md -> docs/performance/
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    charts: dict[str, str] = {}
    if peers_python is not None:
        drawn = attempt(
            "charts",
            failures,
            log,
            lambda: subprocess.run(
                [
                    str(peers_python),
                    "-m",
                    "bench.charts",
                    str(assets / "results.json"),
                    str(assets),
                ],
                check=True,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            ).stdout.split(),
        )
        charts = {Path(name).stem: f"{assets.name}/{name}" for name in drawn or []}
    results["meta"]["duration_seconds"] = time.monotonic() - log.started
    (assets / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, out, charts)
    log(f"wrote {out} and {assets}/ in {results['meta']['duration_seconds']:.0f} s")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ferry's benchmarks; writes docs/performance.md.")
    parser.add_argument("--quick", action="store_true", help="one short round (under 3 minutes)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-peers", action="store_true", help="measure Ferry alone")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    results = run(settings, args.out.resolve(), include_peers=not args.no_peers)
    return 1 if not results["server_only"] and not results["inprocess"] else 0


if __name__ == "__main__":
    sys.exit(main())
