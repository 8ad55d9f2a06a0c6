"""Traces as people and tools read them: text, Markdown, a Mermaid diagram, JSON.

`ferry serve --trace` prints `format_text()` of each request to stderr (`print_trace`);
`ferry trace --format ...` picks one of `FORMATS`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ferry.server.trace import RequestTrace, Waypoint


def _facts(waypoint: Waypoint) -> str:
    return " ".join(
        f"{key}={value if isinstance(value, str) else _json(value)}"
        for key, value in waypoint.facts.items()
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _outcome(trace: RequestTrace) -> str:
    finish = trace.first("finish")
    return "unfinished" if finish is None else _outcome_of(finish)


def _outcome_of(finish: Waypoint) -> str:
    facts = finish.facts
    status = facts.get("status", facts.get("refused", facts.get("upgrade", "?")))
    return f"{status}, {'keep-alive' if facts.get('keep_alive') else 'close'}"


def format_text(trace: RequestTrace) -> str:
    """One block: the request line and outcome, then each waypoint on three lines."""
    lines = [f"== {trace.request_line or '(no request)'} -> {_outcome(trace)}"]
    indent = " " * 37
    for w in trace.waypoints:
        lines.append(f"{w.number:>3}  {w.name:<14}{w.layer:<8}{w.elapsed_us:>8} µs  {w.function}")
        lines.append(f"{indent}at {w.location}")
        if w.facts:
            lines.append(f"{indent}{_facts(w)}")
    return "\n".join(lines) + "\n"


def format_markdown(trace: RequestTrace) -> str:
    """A Markdown table of the waypoints under a heading with the request line."""
    lines = [
        f"#### `{trace.request_line or '(no request)'}` → {_outcome(trace)}",
        "",
        "| # | waypoint | layer | µs | function | location | facts |",
        "|---|---|---|---:|---|---|---|",
    ]
    for w in trace.waypoints:
        facts = _facts(w).replace("|", "\\|")
        lines.append(
            f"| {w.number} | `{w.name}` | {w.layer} | {w.elapsed_us} | `{w.function}` "
            f"| `{w.location}` | {facts} |"
        )
    return "\n".join(lines) + "\n"


# Who talks to whom at each waypoint, for the sequence diagram.
_ARROWS: dict[str, tuple[str, str, str]] = {
    "accept": ("client", "server", "->>"),
    "receive_bytes": ("client", "server", "->>"),
    "parse": ("server", "server", "->>"),
    "dispatch": ("server", "toolkit", "->>"),
    "middleware": ("toolkit", "toolkit", "->>"),
    "route": ("toolkit", "toolkit", "->>"),
    "solve": ("typed", "typed", "->>"),
    "endpoint": ("typed", "app", "->>"),
    "encode": ("app", "typed", "-->>"),
    "respond": ("toolkit", "server", "->>"),
    "send_bytes": ("server", "client", "-->>"),
    "finish": ("server", "server", "->>"),
}
PARTICIPANTS = {
    "client": "client",
    "server": "server",
    "toolkit": "toolkit",
    "typed": "typed layer",
    "app": "app",
}
_SUMMARY_FACTS = {
    "receive_bytes": ("bytes",),
    "parse": ("method", "target"),
    "dispatch": ("app",),
    "middleware": ("event", "middleware"),
    "route": ("match", "pattern"),
    "solve": ("call",),
    "endpoint": ("endpoint",),
    "encode": ("response_model",),
    "respond": ("status",),
    "send_bytes": ("event", "bytes"),
}


def _mermaid_text(text: str) -> str:
    # `;` and `#` end a message or start an entity in Mermaid.
    return text.replace(";", ",").replace("#", "no. ")


def format_mermaid(trace: RequestTrace) -> str:
    """A Mermaid sequence diagram across client, server, toolkit, typed layer and app."""
    toolkit_seen = any(w.layer == "toolkit" for w in trace.waypoints)
    steps: list[tuple[str, str, str, str]] = []
    for w in trace.waypoints:
        source, target, arrow = _ARROWS[w.name]
        if w.name == "dispatch" and not toolkit_seen:
            target = "app"  # an app that reports nothing of its own
        elif w.name == "middleware" and w.facts.get("event") == "leave":
            arrow = "-->>"
        summary = " ".join(
            str(w.facts[key]) for key in _SUMMARY_FACTS.get(w.name, ()) if key in w.facts
        )
        if w.name == "finish":
            summary = _outcome_of(w)
        label = _mermaid_text(f"{w.number} {w.name} {summary}".strip())
        steps.append((source, target, arrow, label))
    used = {name for step in steps for name in step[:2]}
    lines = ["sequenceDiagram"]
    lines.extend(
        f"    participant {key} as {label}" for key, label in PARTICIPANTS.items() if key in used
    )
    lines.extend(f"    {source}{arrow}{target}: {label}" for source, target, arrow, label in steps)
    return "\n".join(lines) + "\n"


def trace_as_dict(trace: RequestTrace) -> dict[str, Any]:
    """The trace as JSON-ready data: the request line, the outcome, the waypoints."""
    return {
        "request": trace.request_line,
        "outcome": _outcome(trace),
        "waypoints": [w.as_dict() for w in trace.waypoints],
    }


def format_json(trace: RequestTrace) -> str:
    """The trace as one JSON document."""
    return json.dumps(trace_as_dict(trace), ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[RequestTrace], str]] = {
    "text": format_text,
    "markdown": format_markdown,
    "mermaid": format_mermaid,
    "json": format_json,
}


def print_trace(trace: RequestTrace) -> None:
    """The `ferry serve --trace` sink: the text block on stderr."""
    sys.stderr.write(format_text(trace))
    sys.stderr.flush()


def format_traces(traces: Sequence[RequestTrace], format_name: str) -> str:
    """Several traces in one format (a JSON list for `json`)."""
    if format_name == "json":
        return json.dumps([trace_as_dict(t) for t in traces], ensure_ascii=False, indent=2) + "\n"
    return "\n".join(FORMATS[format_name](t) for t in traces)
