"""Write docs/request-lifecycle.md from its template and real traces of the demo API.

    uv run --no-sync python -m docs.gen_request_lifecycle          # (re)write the page
    uv run --no-sync python -m docs.gen_request_lifecycle --check  # exit 1 when out of date

The prose lives in docs/templates/request-lifecycle.md. The facts come from tracing the
demo API (`users_api`, on a fresh SQLite file) with the real server, as `ferry trace` does:
`POST /users` creates `ada`, then `GET /users/ada` reads her back, each on its own
connection. The template's markers are replaced by what the traces say:

    <!-- trace: GET /users/ada -->    the table of that request's waypoints
    <!-- hop: GET route -->           the function of that waypoint, its file and line, and
                                      the lines around the report (for `middleware`, the
                                      first one entered)

Times, ports and dates change from run to run, so they are left out: the page is the same
each time the code is. `make docs` runs this; tests/docs/test_request_lifecycle.py fails
when the committed page is stale or cites a line that no longer holds its function.
"""

from __future__ import annotations

import argparse
import ast
import http.client
import queue
import re
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ferry.server.testing import run_in_thread
from ferry.server.trace import RequestTrace, Waypoint
from ferry.server.trace_command import request_bytes
from users_api.auth import PasswordHasher
from users_api.main import create_app
from users_api.settings import Settings

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "request-lifecycle.md"
TEMPLATE = ROOT / "docs" / "templates" / "request-lifecycle.md"

# The requests, in order; the first makes the user the second one reads.
REQUESTS: tuple[tuple[str, str, str | None], ...] = (
    ("POST", "/users", '{"username": "ada", "password": "correct horse battery"}'),
    ("GET", "/users/ada", None),
)
# A fixed Host header keeps the byte counts the same whatever port the server gets.
HOST = "api.example"
# Facts that differ from run to run (addresses, ports) stay off the page.
UNSTABLE_FACTS = {"client", "server"}
# A function this short is shown whole; a longer one around the place of the report.
WHOLE = 24
BEFORE, AFTER = 9, 8
HOOK = re.compile(r"^\s*if (self\.|context\.)?trace is not None:")
FETCH = re.compile(r"^\s*trace = scope\.get\(\"ferry\.trace\"\)$")
ATTEMPTS = 3
MARKER = re.compile(r"^<!-- (?P<kind>trace|hop): (?P<what>.+) -->$")


def trace_demo() -> dict[str, RequestTrace]:
    """Serve the demo API, send `REQUESTS`, and return each one's trace by request line.

    Each request goes out in one write, so that it arrives in one read; a run where the
    network split one anyway (the page would show two `receive_bytes`) is done again.
    """
    for _ in range(ATTEMPTS):
        traces = _trace_once()
        if all(_reads(trace) == 1 for trace in traces.values()):
            return traces
    raise RuntimeError(f"a request arrived in pieces {ATTEMPTS} times in a row")


def _reads(trace: RequestTrace) -> int:
    return sum(1 for waypoint in trace.waypoints if waypoint.name == "receive_bytes")


def _trace_once() -> dict[str, RequestTrace]:
    traces: queue.Queue[RequestTrace] = queue.Queue()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/users.db")
        # A cheap password hash: the page is about the path, not about scrypt's cost.
        app = create_app(settings, hasher=PasswordHasher(n=2**4))
        with run_in_thread(app, trace_sink=traces.put, access_log=False) as url:
            address = urlsplit(url)
            for method, path, body in REQUESTS:
                with socket.create_connection((address.hostname, address.port), 5) as sock:
                    headers = [("Content-Type", "application/json")] if body else []
                    data = body.encode("utf-8") if body is not None else None
                    sock.sendall(request_bytes(method, path, HOST, headers, data))
                    answer = http.client.HTTPResponse(sock)
                    answer.begin()
                    answer.read()
                if answer.status >= 400:
                    raise RuntimeError(f"{method} {path} answered {answer.status}")
            found = [traces.get(timeout=5) for _ in REQUESTS]
    return {trace.request_line: trace for trace in found}


def _facts(waypoint: Waypoint) -> str:
    shown = {k: v for k, v in waypoint.facts.items() if k not in UNSTABLE_FACTS}
    text = ", ".join(f"{key}={value}" for key, value in shown.items())
    return text.replace("|", "\\|")


def trace_table(trace: RequestTrace) -> str:
    """The waypoints of `trace` as a Markdown table (no times: they change every run)."""
    lines = [
        "| # | waypoint | layer | function | file:line | what it did |",
        "|---|---|---|---|---|---|",
    ]
    for w in trace.waypoints:
        lines.append(
            f"| {w.number} | `{w.name}` | {w.layer} | `{w.function}` | `{w.location}` "
            f"| {_facts(w)} |"
        )
    return "\n".join(lines)


def _function_lines(path: Path, qualname: str) -> tuple[int, int]:
    """First and last line of the function `qualname` in `path` (its def, decorators aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes: list[tuple[str, ast.AST]] = [("", tree)]
    while scopes:
        prefix, node = scopes.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if name == qualname and not isinstance(child, ast.ClassDef):
                    return child.lineno, child.end_lineno or child.lineno
                inner = f"{name}." if isinstance(child, ast.ClassDef) else f"{name}.<locals>."
                scopes.append((inner, child))
    raise LookupError(f"{qualname} is not defined in {path}")


def hop(waypoint: Waypoint) -> str:
    """Where `waypoint` happens, and the few lines of code that do it."""
    path_text, line_text = waypoint.location.rsplit(":", 1)
    qualname = waypoint.function.split(":", 1)[1]
    path = ROOT / path_text
    first, last = _function_lines(path, qualname)
    if first != int(line_text):
        raise RuntimeError(f"{waypoint.location} does not hold {waypoint.function}")
    source = path.read_text(encoding="utf-8").splitlines()
    body, at = _without_hook(source[first - 1 : last])
    if len(body) <= WHOLE:
        excerpt = body
    else:
        start = 1 if at is None else max(1, at - BEFORE)
        start = min(start, max(1, len(body) - BEFORE - AFTER))
        end = min(len(body), start + BEFORE + AFTER)
        excerpt = [body[0]]
        if start > 1:
            excerpt.append(_indent(body[start]) + "...")
        excerpt.extend(body[start:end])
        if end < len(body):
            excerpt.append(_indent(body[end - 1]) + "...")
    return "\n".join(
        [
            f"`{waypoint.function}` in `{waypoint.location}`",
            "",
            f"<!-- excerpt of {path_text} -->",
            "```python",
            *excerpt,
            "```",
        ]
    )


def _without_hook(body: list[str]) -> tuple[list[str], int | None]:
    """The function's lines less its tracing lines, and where the first of them was.

    The reports are how a hop is seen, not what it does; the page shows what it does.
    """
    kept: list[str] = []
    first_hook: int | None = None
    skip_deeper_than = -1
    for index, line in enumerate(body):
        depth = len(_indent(line))
        if skip_deeper_than >= 0 and (not line.strip() or depth > skip_deeper_than):
            continue  # inside an `if trace is not None:` block
        skip_deeper_than = -1
        if index and (HOOK.match(line) or FETCH.match(line)):
            first_hook = len(kept) if first_hook is None else first_hook
            if HOOK.match(line):
                skip_deeper_than = depth
            continue
        kept.append(line)
    return kept, first_hook


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def generate(traces: dict[str, RequestTrace] | None = None) -> str:
    """The page: the template with each marker replaced by what the traces say."""
    traces = traces if traces is not None else trace_demo()
    by_method = {line.split()[0]: trace for line, trace in traces.items()}
    out = [
        "<!-- Generated by `python -m docs.gen_request_lifecycle` (run by `make docs`) from",
        "     docs/templates/request-lifecycle.md and traces of the demo API.",
        "     Edit the template, not this page. -->",
        "",
    ]
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        marker = MARKER.match(line)
        if marker is None:
            out.append(line)
        elif marker["kind"] == "trace":
            out.append(trace_table(traces[marker["what"]]))
        else:
            method, name = marker["what"].split()
            waypoint = by_method[method].first(name)
            if waypoint is None:
                raise LookupError(f"{method} has no waypoint {name!r}")
            out.append(hop(waypoint))
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page, or with --check exit 1 when the committed one is out of date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check; write nothing")
    args = parser.parse_args(argv)
    page = generate()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != page:
            print(f"{PAGE.name} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
