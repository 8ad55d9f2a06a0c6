"""The tracer's records and reports, and `ferry serve --trace` on stderr."""

from __future__ import annotations

import json
import os
import queue
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.server.testing import run_in_thread
from ferry.server.trace import WAYPOINTS, ConnectionTrace, RequestTrace, plain, project_root
from ferry.server.trace_command import TracedResponse, parse_header, request_bytes
from ferry.server.trace_report import format_markdown, format_mermaid, format_text
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope


async def echo_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def collected() -> tuple[list[RequestTrace], ConnectionTrace]:
    traces: list[RequestTrace] = []
    return traces, ConnectionTrace(traces.append, root=os.getcwd())


def test_the_waypoints_are_numbered_one_to_twelve_in_order() -> None:
    assert [info.number for info in WAYPOINTS.values()] == list(range(1, 13))
    assert {info.layer for info in WAYPOINTS.values()} == {"server", "toolkit", "typed"}


def test_a_waypoint_names_its_caller_and_where_it_is_defined() -> None:
    traces, connection = collected()

    def reporting_function() -> None:
        connection.waypoint("accept", client=("127.0.0.1", 1))

    reporting_function()
    connection.finish(deliver=True)
    (waypoint,) = traces[0].waypoints
    assert waypoint.function.endswith(
        ":test_a_waypoint_names_its_caller_and_where_it_is_defined.<locals>.reporting_function"
    )
    path, line = waypoint.location.rsplit(":", 1)
    assert path == os.path.relpath(__file__)
    with open(__file__) as source:
        assert "def reporting_function" in source.read().splitlines()[int(line) - 1]
    assert waypoint.facts == {"client": ["127.0.0.1", 1]}
    assert waypoint.elapsed_us >= 0


class Layer:
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None: ...


class InheritsCall(Layer):
    pass


class NoCall:
    pass


def test_where_may_name_a_class_a_method_or_a_function() -> None:
    _, connection = collected()
    assert connection.describe(InheritsCall)[0] == f"{Layer.__module__}:Layer.__call__"
    assert connection.describe(Layer().__call__)[0].endswith(":Layer.__call__")
    assert connection.describe(len) == ("builtins:len", "?")
    assert connection.describe(NoCall)[1] == "?"


def test_paths_are_shown_relative_to_the_project_or_site_packages() -> None:
    connection = ConnectionTrace(lambda trace: None, root="/srv/project")
    assert connection.relative_path("/srv/project/app/main.py") == "app/main.py"
    assert connection.relative_path("/usr/lib/python3/site-packages/h11/_state.py") == (
        "h11/_state.py"
    )
    assert connection.relative_path("/elsewhere/x.py") == "/elsewhere/x.py"


def test_a_request_trace_is_delivered_once_and_then_takes_no_more() -> None:
    traces, connection = collected()
    connection.waypoint("accept")
    request = connection.current
    connection.waypoint("finish", status=200, keep_alive=True)
    connection.finish(deliver=False)
    assert traces == []
    request.waypoint("middleware", event="leave", middleware="X")
    connection.deliver(request)
    connection.deliver(request)
    request.waypoint("respond", status=500)  # too late: a background task, say
    assert traces == [request]
    assert [w.name for w in request.waypoints] == ["accept", "finish", "middleware"]
    assert connection.current is not request
    assert connection.current.waypoints == []


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    )
)
def test_facts_are_always_json_ready(value: object) -> None:
    facts = plain(value)
    assert json.loads(json.dumps(facts)) == facts


def test_other_facts_become_short_reprs() -> None:
    assert plain(b"GET") == "GET"
    assert plain(("a", 1)) == ["a", 1]
    assert plain({1: object}) == {"1": "<class 'object'>"}
    long = plain("x" * 500)
    assert len(long) == 120
    assert long.endswith("…")
    assert plain(range(1000)) == "range(0, 1000)"


def test_text_markdown_and_mermaid_show_an_unfinished_request() -> None:
    traces, connection = collected()
    connection.waypoint("accept")
    connection.waypoint("receive_bytes", bytes=10)
    connection.finish(deliver=True)
    (trace,) = traces
    assert format_text(trace).startswith("== (no request) -> unfinished\n")
    assert "bytes=10" in format_text(trace)
    assert "| 2 | `receive_bytes` | server |" in format_markdown(trace)
    assert format_mermaid(trace).splitlines()[-1] == "    client->>server: 2 receive_bytes 10"


def test_a_refused_request_is_traced_to_its_canned_answer() -> None:
    traces: queue.Queue[RequestTrace] = queue.Queue()
    with run_in_thread(echo_app, trace_sink=traces.put, access_log=False) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n bad: fold\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
        trace = traces.get(timeout=5)
    assert [w.name for w in trace.waypoints] == ["accept", "receive_bytes", "finish"]
    assert trace.waypoints[-1].facts == {"refused": 400, "keep_alive": False}


def test_a_client_that_leaves_mid_body_ends_its_trace_with_the_refusal() -> None:
    traces: queue.Queue[RequestTrace] = queue.Queue()
    with run_in_thread(echo_app, trace_sink=traces.put, access_log=False) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabc")
        trace = traces.get(timeout=5)
    names = [w.name for w in trace.waypoints]
    assert names == ["accept", "receive_bytes", "parse", "dispatch", "finish"]
    # The body is cut short: h11 calls that a malformed request, and the app hears
    # http.disconnect instead of the rest.
    assert format_text(trace).startswith("== POST / -> 400, close\n")


def test_serve_with_trace_prints_a_block_per_request_to_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with run_in_thread(echo_app, trace=True, access_log=False) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(b"POST /echo?x=1 HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\nhi")
            assert sock.recv(200).endswith(b"\r\n\r\nhi")
    err = capfd.readouterr().err
    assert "== POST /echo?x=1 -> 200, keep-alive\n" in err
    for name in ("accept", "receive_bytes", "parse", "dispatch", "send_bytes", "finish"):
        assert f"  {name} " in err
    assert "ferry.server.protocol:HTTPProtocol.data_received" in err


def test_header_arguments_need_a_name_and_a_colon() -> None:
    assert parse_header("Content-Type:  application/json ") == ("Content-Type", "application/json")
    assert parse_header("X-Empty:") == ("X-Empty", "")
    for bad in ("no colon", ": value"):
        with pytest.raises(ValueError, match="Name: value"):
            parse_header(bad)
    with pytest.raises(ValueError, match="ISO-8859-1"):
        parse_header("X-Name: 名前")


def test_a_request_is_written_whole_with_host_and_length_added() -> None:
    assert request_bytes("POST", "/x?y=1", "h:1", [("A", "b")], b"hi") == (
        b"POST /x?y=1 HTTP/1.1\r\nHost: h:1\r\nA: b\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert request_bytes("GET", "/", "h:1", [("host", "other")], None) == (
        b"GET / HTTP/1.1\r\nhost: other\r\n\r\n"
    )


def test_a_response_body_that_is_not_utf8_is_shown_as_bytes() -> None:
    response = TracedResponse(200, "OK", [("x", "1")], b"\xff\xfe")
    assert response.as_text() == "HTTP/1.1 200 OK\nx: 1\n\nb'\\xff\\xfe'\n"
    assert response.as_dict()["body"] == "\ufffd\ufffd"


def test_the_project_root_is_found_from_a_folder_inside_it(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "apps" / "users" / "src").mkdir(parents=True)
    (tmp_path / "repo" / "apps" / "users" / "pyproject.toml").write_text("")
    assert project_root(str(tmp_path / "repo" / "apps" / "users" / "src")) == str(tmp_path / "repo")
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    (tmp_path / "lib" / "pyproject.toml").write_text("")
    assert project_root(str(tmp_path / "lib" / "sub")) == str(tmp_path / "lib")
    (tmp_path / "loose").mkdir()
    assert project_root(str(tmp_path / "loose")) == str(tmp_path / "loose")
