"""`ferry trace MODULE:ATTR METHOD PATH`: one real request, traced, then exit.

The app is served by the real server on an ephemeral loopback port (in a thread), one
request goes to it over a socket with `http.client`, and what comes back is printed: the
trace in the format asked for, then the response. Nothing is simulated: the bytes cross a
real TCP connection, so the trace shows what `ferry serve --trace` would.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

from ferry.server.testing import run_in_thread
from ferry.server.trace import RequestTrace
from ferry.server.trace_report import FORMATS, trace_as_dict

# How long to wait for the trace of a response already received (it is handed over
# from the server's thread right after the last byte is written).
TRACE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class TracedResponse:
    """What the request got back: its status, headers and body."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def as_text(self) -> str:
        """The response as an HTTP/1.1 message, the body decoded as UTF-8 (or shown as bytes)."""
        head = [f"HTTP/1.1 {self.status} {self.reason}"]
        head.extend(f"{name}: {value}" for name, value in self.headers)
        try:
            body = self.body.decode("utf-8")
        except UnicodeDecodeError:
            body = repr(self.body)
        return "\n".join(head) + "\n\n" + body + "\n"

    def as_dict(self) -> dict[str, Any]:
        """The response as JSON-ready data."""
        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body.decode("utf-8", errors="replace"),
        }


def parse_header(text: str) -> tuple[str, str]:
    """`"Name: value"` -> `("Name", "value")`.

    Raises:
        ValueError: there is no colon, no name before it, or a character HTTP/1.1 headers
            cannot carry.
    """
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"not a 'Name: value' header: {text!r}")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"a header must be ISO-8859-1 text: {text!r}") from None
    return name.strip(), value.strip()


def _content_type_for(body: str) -> str:
    # Like curl -d the body is a form unless it is JSON; JSON is what a typed API wants.
    try:
        json.loads(body)
    except ValueError:
        return "application/x-www-form-urlencoded"
    return "application/json"


def request_bytes(
    method: str,
    target: str,
    host: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
) -> bytes:
    """One HTTP/1.1 request as bytes, head and body, so that it goes out in one write.

    One write usually arrives in one read, so a trace shows one `receive_bytes` for a
    small request, as a browser's or curl's would. `Host` and `Content-Length` are added
    unless given.

    Raises:
        ValueError: a header does not fit in ISO-8859-1 (a `UnicodeEncodeError`).
    """
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body is not None and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def trace_request(
    app: Any,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    body: str | None = None,
    **options: Any,
) -> tuple[list[RequestTrace], TracedResponse]:
    """Serve `app`, send one request to it over a socket, return its trace and response.

    `app` is an ASGI app or an import string; `options` are `Config` fields.

    Raises:
        RuntimeError: the server did not start (the cause is chained) or no trace came.
    """
    traces: queue.Queue[RequestTrace] = queue.Queue()
    options.setdefault("access_log", False)
    options.setdefault("log_level", "warning")
    send_headers = list(headers)
    data = body.encode("utf-8") if body is not None else None
    if data is not None and not any(name.lower() == "content-type" for name, _ in send_headers):
        send_headers.append(("Content-Type", _content_type_for(body or "")))
    with run_in_thread(app, trace_sink=traces.put, **options) as base_url:
        address = urlsplit(base_url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        request = request_bytes(method, path, f"{host}:{port}", send_headers, data)
        with socket.create_connection((host, port), timeout=TRACE_WAIT_S) as sock:
            sock.sendall(request)
            answer = http.client.HTTPResponse(sock, method=method)
            answer.begin()
            response = TracedResponse(
                answer.status, answer.reason, answer.getheaders(), answer.read()
            )
        try:
            found = [traces.get(timeout=TRACE_WAIT_S)]
        except queue.Empty:
            raise RuntimeError("the request finished without a trace") from None
    while not traces.empty():  # pragma: no cover - one request makes one trace
        found.append(traces.get_nowait())
    return found, response


def print_traced(
    traces: list[RequestTrace], response: TracedResponse, format_name: str, out: TextIO
) -> None:
    """Write the trace in `format_name`, then the response (inside the document for json)."""
    if format_name == "json":
        document = {"traces": [trace_as_dict(t) for t in traces], "response": response.as_dict()}
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    render = FORMATS[format_name]
    for trace in traces:
        out.write(render(trace))
    if format_name == "markdown":
        out.write("\n```http\n" + response.as_text() + "```\n")
    elif format_name == "mermaid":
        out.write(f"%% response: {response.status} {response.reason}\n")
    else:
        out.write("\n" + response.as_text())
