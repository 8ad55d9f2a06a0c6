"""Trace one request from Python: what `ferry trace` does, for a test or a notebook."""

from __future__ import annotations

from ferry.api import App
from ferry.server.trace_command import trace_request
from ferry.server.trace_report import format_mermaid

app = App()


@app.get("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    return {"hello": name}


def hops(path: str) -> list[str]:
    """The waypoint names of one GET to `path`, in the order the request passed them."""
    traces, response = trace_request(app, "GET", path)
    assert response.status == 200
    return [waypoint.name for waypoint in traces[0].waypoints]


def diagram(path: str) -> str:
    """The Mermaid sequence diagram of one GET to `path`."""
    traces, _ = trace_request(app, "GET", path)
    return format_mermaid(traces[0])
