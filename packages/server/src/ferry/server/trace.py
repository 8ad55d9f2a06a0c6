"""The tracer: the waypoints one request passes, from `accept` to `finish`.

With `ferry serve --trace` (or `ferry trace`), the server gives each connection a
`ConnectionTrace` and puts the current request's `RequestTrace` in the scope under
`"ferry.trace"`. Every layer that owns a hop reports it from the function that does the
hop, in one line:

    trace = scope.get("ferry.trace")
    if trace is not None:
        trace.waypoint("route", pattern="/users/{user_id}", path_params={"user_id": 1})

`waypoint()` is the whole interface. The other layers never import this module (the
toolkit does not know the server); they only look for the key, so an app that does not
look reports nothing and still works. When tracing is off, none of this runs: no trace
objects exist, the scope has no `"ferry.trace"` key, and each hook costs one dict lookup.

Each record says which function did the hop (`module:qualname` and `path:line`, read from
the caller's frame, only when tracing is on), when (µs since the connection was accepted),
and the facts that explain it (bytes read, the route that matched, the status...). A
finished request's `RequestTrace` goes to a sink: `ferry serve --trace` prints it to
stderr, `ferry trace` keeps it to print in the format asked for (`trace_report.py`).
"""

from __future__ import annotations

import linecache
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, NamedTuple


class WaypointInfo(NamedTuple):
    """A waypoint's place on the path of a request, as DESIGN.md lists them."""

    number: int
    layer: str
    summary: str


# The path of one request. The layer is the one that reports the waypoint.
WAYPOINTS: dict[str, WaypointInfo] = {
    "accept": WaypointInfo(1, "server", "the listening socket accepts a connection"),
    "receive_bytes": WaypointInfo(
        2, "server", "bytes read from the socket are fed to the sans-IO connection"
    ),
    "parse": WaypointInfo(
        3,
        "server",
        "a request head is read (plain ones by Ferry, others by h11); the scope is built",
    ),
    "dispatch": WaypointInfo(4, "server", "the app is called as app(scope, receive, send)"),
    "middleware": WaypointInfo(5, "toolkit", "a middleware is entered or left"),
    "route": WaypointInfo(6, "toolkit", "the router matches path and method"),
    "solve": WaypointInfo(7, "typed", "parameters are validated, dependencies solved"),
    "endpoint": WaypointInfo(8, "typed", "the endpoint function runs"),
    "encode": WaypointInfo(9, "typed", "the return value becomes JSON bytes"),
    "respond": WaypointInfo(10, "toolkit", "the response sends its ASGI messages"),
    "send_bytes": WaypointInfo(11, "server", "ASGI messages become bytes on the transport"),
    "finish": WaypointInfo(12, "server", "keep the connection alive, or close it"),
}

# Facts are for people and JSON: anything else is shown by its (shortened) repr.
_MAX_REPR = 120


@dataclass(frozen=True, slots=True)
class Waypoint:
    """One hop of one request, as the layer that did it reported it."""

    number: int
    name: str
    layer: str
    elapsed_us: int  # since the connection was accepted
    function: str  # module:qualname
    location: str  # path:line of the function's definition
    facts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready data."""
        return {
            "number": self.number,
            "name": self.name,
            "layer": self.layer,
            "elapsed_us": self.elapsed_us,
            "function": self.function,
            "location": self.location,
            "facts": self.facts,
        }


@dataclass(slots=True)
class RequestTrace:
    """The waypoints of one request; the object the layers find at `scope["ferry.trace"]`."""

    connection: ConnectionTrace
    waypoints: list[Waypoint] = field(default_factory=list)
    finished: bool = False

    def waypoint(
        self, name: str, /, *, where: Any = None, layer: str | None = None, **facts: Any
    ) -> None:
        """Report waypoint `name`, done by the calling function (or `where`), with `facts`.

        `where` names the function that did the hop when the caller only stands in for it
        (a wrapper reporting that a middleware was entered); `layer` replaces the usual
        layer of the waypoint (a toolkit route calling its endpoint). A report after the
        request finished (a background task, say) is dropped.
        """
        if not self.finished:
            where = where or sys._getframe(1)
            self.waypoints.append(self.connection.record(name, where, facts, layer))

    @property
    def request_line(self) -> str:
        """`METHOD /path?query` of the request, once parsed (else empty)."""
        for waypoint in self.waypoints:
            if waypoint.name == "parse":
                return f"{waypoint.facts['method']} {waypoint.facts['target']}"
        return ""

    def first(self, name: str) -> Waypoint | None:
        """The first waypoint called `name`, if any."""
        return next((w for w in self.waypoints if w.name == name), None)


TraceSink = Callable[[RequestTrace], None]


class ConnectionTrace:
    """The trace of one connection: a `RequestTrace` for each request it carries.

    `accept` and the first bytes happen before a request exists; they belong to the request
    those bytes turn into. At `finish` the next request's trace begins; the finished one is
    delivered to the sink once the app has returned too, so that the middleware left after
    the last byte was written still shows.
    """

    def __init__(self, sink: TraceSink, root: str | None = None) -> None:
        self.sink = sink
        self.root = root if root is not None else project_root(os.getcwd())
        self.start_ns = time.perf_counter_ns()
        self.current = RequestTrace(self)

    def waypoint(self, name: str, /, *, where: Any = None, **facts: Any) -> None:
        """Report a server waypoint for the request in progress (or about to start)."""
        self.current.waypoints.append(self.record(name, where or sys._getframe(1), facts, None))

    def finish(self, *, deliver: bool) -> None:
        """The response is done: later bytes belong to the next request's trace.

        `deliver` hands the finished trace to the sink now (no app is running for it);
        otherwise the request's cycle delivers it when the app returns.
        """
        finished, self.current = self.current, RequestTrace(self)
        if deliver:
            self.deliver(finished)

    def deliver(self, trace: RequestTrace) -> None:
        """Hand `trace` to the sink, once; waypoints reported after this are dropped."""
        if not trace.finished:
            trace.finished = True
            self.sink(trace)

    def record(self, name: str, where: Any, facts: dict[str, Any], layer: str | None) -> Waypoint:
        """A `Waypoint` for `name`, now, done by `where` (a frame or a function)."""
        elapsed_us = (time.perf_counter_ns() - self.start_ns) // 1000
        info = WAYPOINTS[name]
        function, location = self.describe(where)
        return Waypoint(
            info.number,
            name,
            layer or info.layer,
            elapsed_us,
            function,
            location,
            {key: plain(value) for key, value in facts.items()},
        )

    def describe(self, where: Any) -> tuple[str, str]:
        """`(module:qualname, path:line)` of a frame, function, method or class."""
        code: CodeType | None
        if hasattr(where, "f_code"):  # a frame: the caller
            code = where.f_code
            module = where.f_globals.get("__name__", "?")
        else:
            # A class stands for its __call__ (a middleware), a method for its function.
            target = where
            if isinstance(where, type):
                target = next(
                    (k.__dict__["__call__"] for k in where.__mro__ if "__call__" in k.__dict__),
                    where,
                )
            target = getattr(target, "__func__", target)
            code = getattr(target, "__code__", None)
            module = getattr(target, "__module__", None) or "?"
        if code is None:
            return f"{module}:{getattr(where, '__qualname__', repr(where))}", "?"
        line = _def_line(code.co_filename, code.co_firstlineno)
        location = f"{self.relative_path(code.co_filename)}:{line}"
        return f"{module}:{code.co_qualname}", location

    def relative_path(self, filename: str) -> str:
        """A source path relative to the project root or to site-packages."""
        path = os.path.abspath(filename)
        root = self.root.rstrip(os.sep) + os.sep
        if path.startswith(root):
            return path[len(root) :]
        marker = os.sep + "site-packages" + os.sep
        if marker in path:
            return path.split(marker, 1)[1]
        return path


def project_root(start: str) -> str:
    """The project `start` is in: the nearest folder up with `.git`, else with a
    `pyproject.toml`, else `start` itself. Source paths are shown relative to it."""
    found = None
    folder = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        if found is None and os.path.isfile(os.path.join(folder, "pyproject.toml")):
            found = folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return found or os.path.abspath(start)
        folder = parent


def _def_line(filename: str, first_line: int) -> int:
    # A decorated function's code starts at its first decorator; cite the `def` itself.
    line = first_line
    while linecache.getline(filename, line).lstrip().startswith("@"):
        line += 1
        while linecache.getline(filename, line) and not linecache.getline(
            filename, line
        ).lstrip().startswith(("@", "def ", "async def ")):
            line += 1  # a decorator's arguments spread over several lines
    return line


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: containers kept, anything else by a short repr."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_REPR else value[: _MAX_REPR - 1] + "…"
    if isinstance(value, bytes):
        return plain(value.decode("latin-1"))
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 1] + "…"
