"""In-process framework cost: each app called directly, with no server and no sockets.

Every stack gets the same prebuilt scope (copied per call, since frameworks write into it), a
list-backed `receive` that hands over the request body once, and a `send` that appends to a
list, all on one asyncio event loop. What is left is the framework's own cost per request:
routing, parameters, validation, dependencies, encoding and the response messages.

Also here: router scaling (the cost of finding the last of 1, 10, 100 and 1,000 routes, the
ferry.asgi Router against Starlette's) and a cProfile of the in-process path summed by layer.

    python -m bench.inprocess --out results.json [--iterations N] [--rounds R] [--no-peers]

Without the peers (Starlette, FastAPI) installed, or with --no-peers, only Ferry is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import importlib.util
import json
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.profiles import LayerProfile, summarize

APPS_DIR = Path(__file__).resolve().parent / "apps"

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One request of the benchmark application and the answer every stack must give."""

    name: str
    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    status: int = 200
    expected: Any = None  # the decoded JSON body, or the text of a plain-text one


USER = {"id": 42, "name": "Ada Lovelace", "email": "ada@example.com", "active": True}
USER_BODY = b'{"name": "Ada Lovelace", "email": "ada@example.com", "age": 36}'

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET /plaintext", "GET", "/plaintext", expected="Hello, world!"),
    Endpoint("GET /json", "GET", "/json", expected={"message": "Hello, world!"}),
    Endpoint("GET /users/{user_id}", "GET", "/users/42", b"verbose=true", expected=USER),
    Endpoint(
        "POST /users", "POST", "/users", body=USER_BODY, status=201, expected={**USER, "id": 1}
    ),
    Endpoint("GET /deps/sync", "GET", "/deps/sync", expected={"greeting": "hello"}),
    Endpoint("GET /deps/async", "GET", "/deps/async", expected={"greeting": "hello"}),
)


@dataclass(frozen=True, slots=True)
class Stack:
    """A framework and the module (in bench/apps) that holds the benchmark app written on it."""

    name: str
    module: str
    is_peer: bool
    peer_of: str | None = None  # for a peer: the Ferry stack it is compared with


STACKS: tuple[Stack, ...] = (
    Stack("ferry.api", "ferry_api_app", is_peer=False),
    Stack("FastAPI", "fastapi_app", is_peer=True, peer_of="ferry.api"),
    Stack("ferry.asgi", "ferry_asgi_app", is_peer=False),
    Stack("Starlette", "starlette_app", is_peer=True, peer_of="ferry.asgi"),
)
ROUTER_SIZES = (1, 10, 100, 1000)


def peers_installed() -> bool:
    """Whether Starlette and FastAPI can be imported here (they live in the peers venv)."""
    return all(importlib.util.find_spec(name) is not None for name in ("starlette", "fastapi"))


def chosen_stacks(include_peers: bool) -> list[Stack]:
    """The stacks to measure: Ferry's always, the peers' when asked for and installed."""
    with_peers = include_peers and peers_installed()
    return [stack for stack in STACKS if with_peers or not stack.is_peer]


def load_app(module: str) -> ASGIApp:
    """The `app` of a module in bench/apps."""
    if str(APPS_DIR) not in sys.path:
        sys.path.insert(0, str(APPS_DIR))
    app: ASGIApp = importlib.import_module(module).app
    return app


def build_scope(endpoint: Endpoint) -> dict[str, Any]:
    """The ASGI `http` scope a server would build for this endpoint's request."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
    ]
    if endpoint.body:
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(endpoint.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": endpoint.method,
        "scheme": "http",
        "path": endpoint.path,
        "raw_path": endpoint.path.encode(),
        "query_string": endpoint.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def list_receive(body: bytes) -> Receive:
    """A `receive` backed by a list: the request body once, then `http.disconnect`."""
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        return {"type": "http.disconnect"}

    return receive


async def call_app(app: ASGIApp, scope: dict[str, Any], body: bytes) -> list[Message]:
    """Call `app` once and return the messages it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(scope), list_receive(body), send)
    return sent


def check_answer(stack: str, endpoint: Endpoint, sent: list[Message]) -> None:
    """Raise unless the app answered the endpoint with the status and body every stack gives."""
    if not sent or sent[0].get("type") != "http.response.start":
        raise AssertionError(f"{stack} {endpoint.name}: no response started: {sent!r}")
    status = sent[0]["status"]
    raw = b"".join(message.get("body", b"") for message in sent[1:])
    if status != endpoint.status:
        raise AssertionError(f"{stack} {endpoint.name}: status {status}, body {raw!r}")
    answer = raw.decode() if isinstance(endpoint.expected, str) else json.loads(raw)
    if answer != endpoint.expected:
        raise AssertionError(f"{stack} {endpoint.name}: answered {answer!r}")


async def time_app(app: ASGIApp, scope: dict[str, Any], body: bytes, iterations: int) -> float:
    """Microseconds per request over `iterations` calls, the harness's own work included."""
    sink: list[Message] = []

    async def send(message: Message) -> None:
        sink.append(message)

    started = time.perf_counter()
    for _ in range(iterations):
        await app(dict(scope), list_receive(body), send)
        sink.clear()
    return (time.perf_counter() - started) / iterations * 1e6


async def noop_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The floor: an app that answers with two prebuilt messages, no framework at all."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@dataclass(slots=True)
class FrameworkCost:
    """µs per request for each stack and endpoint, one value per round."""

    iterations: int
    rounds: int
    stacks: list[str]
    endpoints: list[str]
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    floor_us: float = 0.0  # the harness with an app that does nothing

    def median(self, stack: str, endpoint: str) -> float:
        return statistics.median(self.samples[stack][endpoint])

    def to_json(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "rounds": self.rounds,
            "stacks": self.stacks,
            "endpoints": self.endpoints,
            "samples": self.samples,
            "floor_us": self.floor_us,
        }


def measure_framework_cost(
    runner: asyncio.Runner,
    iterations: int = 2000,
    rounds: int = 5,
    include_peers: bool = True,
    endpoints: Sequence[Endpoint] = ENDPOINTS,
) -> FrameworkCost:
    """Time every endpoint on every stack, interleaved: each round visits all of them once.

    Each app is first checked to answer each endpoint right, then warmed up.
    """
    stacks = chosen_stacks(include_peers)
    apps = {stack.name: load_app(stack.module) for stack in stacks}
    scopes = {endpoint.name: build_scope(endpoint) for endpoint in endpoints}
    warm_up = max(10, iterations // 10)
    for name, app in apps.items():
        for endpoint in endpoints:
            scope = scopes[endpoint.name]
            check_answer(name, endpoint, runner.run(call_app(app, scope, endpoint.body)))
            runner.run(time_app(app, scope, endpoint.body, warm_up))
    result = FrameworkCost(
        iterations=iterations,
        rounds=rounds,
        stacks=[stack.name for stack in stacks],
        endpoints=[endpoint.name for endpoint in endpoints],
        samples={name: {endpoint.name: [] for endpoint in endpoints} for name in apps},
    )
    floors: list[float] = []
    for _ in range(rounds):
        for endpoint in endpoints:
            for name, app in apps.items():
                scope = scopes[endpoint.name]
                spent = runner.run(time_app(app, scope, endpoint.body, iterations))
                result.samples[name][endpoint.name].append(spent)
        floors.append(runner.run(time_app(noop_app, scopes[endpoints[0].name], b"", iterations)))
    result.floor_us = statistics.median(floors)
    return result


class NoopEndpoint:
    """A route's endpoint that does nothing, so a router's dispatch is all that is timed."""

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        return None


@dataclass(slots=True)
class RouterScaling:
    """µs to route a request to the last of N routes, per router and N, one value per round."""

    iterations: int
    rounds: int
    sizes: list[int]
    samples: dict[str, dict[int, list[float]]] = field(default_factory=dict)

    def median(self, router: str, size: int) -> float:
        return statistics.median(self.samples[router][size])

    def to_json(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "rounds": self.rounds,
            "sizes": self.sizes,
            "samples": {
                name: {str(size): values for size, values in by_size.items()}
                for name, by_size in self.samples.items()
            },
        }


def build_router(router_module: str, size: int) -> ASGIApp:
    """A router of `size` routes `/r{i}/items/{item_id:int}` from `ferry.asgi` or `starlette`."""
    module = importlib.import_module(router_module)
    routes = [
        module.Route(f"/r{index}/items/{{item_id:int}}", NoopEndpoint()) for index in range(size)
    ]
    router: ASGIApp = module.Router(routes=routes)
    return router


def router_scope(size: int) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": f"/r{size - 1}/items/42",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def calibrated_iterations(
    runner: asyncio.Runner, app: ASGIApp, scope: dict[str, Any], budget_seconds: float, most: int
) -> int:
    """How many calls fit in `budget_seconds` (at least 50, at most `most`)."""
    per_call_us = runner.run(time_app(app, scope, b"", 50))
    return max(50, min(most, int(budget_seconds * 1e6 / per_call_us)))


def measure_router_scaling(
    runner: asyncio.Runner,
    iterations: int = 20000,
    rounds: int = 5,
    include_peers: bool = True,
    sizes: Sequence[int] = ROUTER_SIZES,
    budget_seconds: float = 0.25,
) -> RouterScaling:
    """Time routing to the last route of each table size, ferry.asgi against Starlette.

    Each measurement makes `iterations` calls, or fewer when they would take longer than
    `budget_seconds` (a linear scan of 1,000 routes is slow).
    """
    routers = {"ferry.asgi": "ferry.asgi.routing"}
    if include_peers and peers_installed():
        routers["Starlette"] = "starlette.routing"
    tables = {
        (name, size): build_router(module, size)
        for name, module in routers.items()
        for size in sizes
    }
    result = RouterScaling(
        iterations=iterations,
        rounds=rounds,
        sizes=list(sizes),
        samples={name: {size: [] for size in sizes} for name in routers},
    )
    counts = {
        key: calibrated_iterations(runner, router, router_scope(key[1]), budget_seconds, iterations)
        for key, router in tables.items()
    }
    for _ in range(rounds):
        for size in sizes:
            for name in routers:
                count = counts[name, size]
                spent = runner.run(time_app(tables[name, size], router_scope(size), b"", count))
                result.samples[name][size].append(spent)
    return result


def profile_stack(
    runner: asyncio.Runner, stack: Stack, endpoint: Endpoint, iterations: int
) -> LayerProfile:
    """cProfile `iterations` in-process requests to one endpoint, summed by layer."""
    app = load_app(stack.module)
    scope = build_scope(endpoint)
    runner.run(time_app(app, scope, endpoint.body, max(10, iterations // 10)))
    profiler = cProfile.Profile()
    profiler.enable()
    runner.run(time_app(app, scope, endpoint.body, iterations))
    profiler.disable()
    profile = summarize(pstats.Stats(profiler), f"{stack.name}, {endpoint.name}, in-process")
    profile.requests = iterations
    profile.basis = {"stack": stack.name, "endpoint": endpoint.name}
    return profile


def profile_framework(
    runner: asyncio.Runner, iterations: int, include_peers: bool, endpoint_names: Sequence[str]
) -> list[LayerProfile]:
    """Profiles of the typed stacks (ferry.api, and FastAPI for contrast) on these endpoints."""
    by_name = {endpoint.name: endpoint for endpoint in ENDPOINTS}
    profiles = []
    for stack in chosen_stacks(include_peers):
        if stack.name not in ("ferry.api", "FastAPI"):
            continue
        for name in endpoint_names:
            profiles.append(profile_stack(runner, stack, by_name[name], iterations))
    return profiles


def run_all(
    iterations: int,
    router_iterations: int,
    rounds: int,
    include_peers: bool,
    router_budget_seconds: float = 0.25,
    profile_endpoints: Sequence[str] = ("GET /users/{user_id}", "POST /users"),
) -> dict[str, Any]:
    """The in-process part of the benchmark, as JSON-ready data."""
    with asyncio.Runner() as runner:
        cost = measure_framework_cost(runner, iterations, rounds, include_peers)
        routing = measure_router_scaling(
            runner, router_iterations, rounds, include_peers, budget_seconds=router_budget_seconds
        )
        profiles = profile_framework(runner, iterations, include_peers, profile_endpoints)
    return {
        "framework": cost.to_json(),
        "router": routing.to_json(),
        "profiles": [profile.to_json() for profile in profiles],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="In-process framework cost and router scaling.")
    parser.add_argument("--out", type=Path, required=True, help="write the results here (JSON)")
    parser.add_argument("--iterations", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--router-iterations", type=int, default=20000)
    parser.add_argument("--router-budget", type=float, default=0.25, help="seconds at most")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="measure Ferry only")
    args = parser.parse_args(argv)
    results = run_all(
        args.iterations,
        args.router_iterations,
        args.rounds,
        not args.no_peers,
        router_budget_seconds=args.router_budget,
    )
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
