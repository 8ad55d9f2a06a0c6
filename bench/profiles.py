"""Where the time goes: a cProfile run summed by layer (server, h11, toolkit, typed layer ...).

Each function's own time (tottime) goes to the layer that owns its file. A C function (a
builtin, or a method of a C type) has no file, so its time is shared among the layers of the
Python functions that called it, in proportion to the time each caller spent in it: the
`str.split` that the router calls is routing time.
"""

from __future__ import annotations

import pstats
from dataclasses import dataclass, field
from typing import Any

EVENT_LOOP = "event loop (asyncio, uvloop, anyio)"
# (path fragment, layer): the first fragment found in a function's file names its layer.
LAYERS: tuple[tuple[str, str], ...] = (
    ("/ferry/server/", "server (ferry.server)"),
    ("/h11/", "h11"),
    ("/ferry/asgi/", "toolkit (ferry.asgi)"),
    ("/ferry/api/", "typed layer (ferry.api)"),
    ("/uvicorn/", "server (uvicorn)"),
    ("/starlette/", "toolkit (Starlette)"),
    ("/fastapi/", "typed layer (FastAPI)"),
    ("/pydantic", "pydantic"),
    ("/bench/apps/", "the app"),
    ("/bench/", "benchmark harness"),
    ("/asyncio/", EVENT_LOOP),
    ("/anyio/", EVENT_LOOP),
    ("uvloop", EVENT_LOOP),
    ("/threading.py", "threads"),
    ("/concurrent/", "threads"),
)
OTHER = "other (stdlib)"

FunctionKey = tuple[str, int, str]


@dataclass(slots=True)
class LayerProfile:
    """A profile summed by layer: each layer's share of the total, and the costliest functions."""

    title: str
    total_seconds: float
    shares: dict[str, float] = field(default_factory=dict)  # layer -> fraction of the total
    top: list[tuple[str, float]] = field(default_factory=list)  # (function, fraction)
    requests: int = 0  # how many requests the profile covers, when known
    # Which measurement of the run it profiles: {"group", "target", "endpoint"} for load,
    # {"stack", "endpoint"} for in-process; the report turns shares into µs with it.
    basis: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "total_seconds": self.total_seconds,
            "shares": self.shares,
            "top": [list(item) for item in self.top],
            "requests": self.requests,
            "basis": self.basis,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerProfile:
        return cls(
            title=data["title"],
            total_seconds=data["total_seconds"],
            shares=dict(data["shares"]),
            top=[(str(name), float(share)) for name, share in data["top"]],
            requests=int(data.get("requests", 0)),
            basis=dict(data.get("basis", {})),
        )


def layer_of_file(filename: str) -> str | None:
    """The layer a source file belongs to; None for a C function (it has no file)."""
    if filename == "~":
        return None
    for fragment, layer in LAYERS:
        if fragment in filename:
            return layer
    return OTHER


def _c_function_layer(name: str) -> str | None:
    # Some C functions say whose they are in their name.
    for fragment, layer in (("pydantic_core", "pydantic"), ("uvloop", EVENT_LOOP)):
        if fragment in name:
            return layer
    return None


def summarize(stats: pstats.Stats, title: str, top_count: int = 8) -> LayerProfile:
    """Sum a profile's own times by layer; C functions are charged to their callers' layers."""
    raw: dict[FunctionKey, Any] = stats.stats  # type: ignore[attr-defined]
    by_layer: dict[str, float] = {}
    total = 0.0
    for key, (_cc, _nc, own, _cumulative, callers) in raw.items():
        total += own
        filename, _line, name = key
        layer = layer_of_file(filename) or _c_function_layer(name)
        if layer is not None:
            by_layer[layer] = by_layer.get(layer, 0.0) + own
            continue
        # A C function: share its time among its callers' layers.
        caller_times = {
            caller: entry[2] for caller, entry in callers.items() if isinstance(entry, tuple)
        }
        caller_total = sum(caller_times.values())
        if caller_total <= 0:
            by_layer[OTHER] = by_layer.get(OTHER, 0.0) + own
            continue
        for caller, spent in caller_times.items():
            caller_layer = layer_of_file(caller[0]) or OTHER
            by_layer[caller_layer] = by_layer.get(caller_layer, 0.0) + own * spent / caller_total
    if total <= 0:
        return LayerProfile(title=title, total_seconds=0.0)
    shares = {
        layer: seconds / total
        for layer, seconds in sorted(by_layer.items(), key=lambda item: -item[1])
    }
    costliest = sorted(raw.items(), key=lambda item: -item[1][2])[:top_count]
    top = [(_describe(key), entry[2] / total) for key, entry in costliest]
    return LayerProfile(title=title, total_seconds=total, shares=shares, top=top)


def _describe(key: FunctionKey) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/src/", "/bench/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{name} ({filename}:{line})"
