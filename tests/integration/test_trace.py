"""The tracer through a real server: the exact waypoints of each kind of request."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.integration.apps.traced_app import app, bare_app, toolkit_app

from ferry.server import cli
from ferry.server.testing import run_in_thread
from ferry.server.trace import WAYPOINTS, RequestTrace
from ferry.server.trace_command import trace_request
from ferry.server.trace_report import format_mermaid, format_traces

ROOT = Path(__file__).parents[2]

# The path through the app's two middleware, in and out.
ENTER = ["middleware:enter ServerErrorMiddleware", "middleware:enter ExceptionMiddleware"]
LEAVE = ["middleware:leave ExceptionMiddleware", "middleware:leave ServerErrorMiddleware"]
ARRIVE = ["accept", "receive_bytes", "parse", "dispatch"]
ANSWER = ["send_bytes:http.response.start", "send_bytes:http.response.body", "finish"]


def label(trace: RequestTrace) -> list[str]:
    """Each waypoint's name with the fact that tells it apart from its neighbours."""
    labels = []
    for w in trace.waypoints:
        facts = w.facts
        if w.name == "middleware":
            labels.append(f"middleware:{facts['event']} {facts['middleware']}")
        elif w.name == "route":
            labels.append(f"route:{facts['match']}")
        elif w.name == "solve":
            labels.append(f"solve:{facts['call']}")
        elif w.name == "send_bytes":
            labels.append(f"send_bytes:{facts['event']}")
        else:
            labels.append(w.name)
    return labels


def only(traces: list[RequestTrace]) -> RequestTrace:
    assert len(traces) == 1
    return traces[0]


def test_get_with_a_path_parameter_passes_every_waypoint_in_order() -> None:
    traces, response = trace_request(app, "GET", "/items/3?public=false")
    trace = only(traces)
    assert response.status == 200
    assert json.loads(response.body) == {"id": 3, "name": "item 3", "public": False}
    assert label(trace) == [
        *ARRIVE,
        *ENTER,
        "route:full",
        "solve:read_item",
        "endpoint",
        "encode",
        "respond",
        *ANSWER,
        *LEAVE,
    ]
    numbers = [w.number for w in trace.waypoints if w.name != "middleware"]
    assert numbers == sorted(numbers)  # the hops come in the order of DESIGN.md
    route = trace.first("route")
    assert route is not None
    assert route.facts["pattern"] == "/items/{item_id}"
    assert route.facts["path_params"] == {"item_id": "3"}
    solved = trace.first("solve")
    assert solved is not None
    assert solved.facts["values"] == {"item_id": 3, "public": False}
    endpoint = trace.first("endpoint")
    assert endpoint is not None
    assert endpoint.function == "tests.integration.apps.traced_app:read_item"
    assert endpoint.facts["returns"] == "Item"
    encode = trace.first("encode")
    assert encode is not None
    assert encode.facts["response_model"] == "Item"
    assert encode.facts["body_bytes"] == len(response.body)
    finish = trace.first("finish")
    assert finish is not None
    assert finish.facts == {"status": 200, "keep_alive": True}


def test_each_waypoint_names_the_function_at_the_line_it_cites() -> None:
    traces, _ = trace_request(app, "GET", "/items/3")
    elapsed = [w.elapsed_us for w in only(traces).waypoints]
    assert elapsed == sorted(elapsed)
    for waypoint in only(traces).waypoints:
        assert waypoint.layer == WAYPOINTS[waypoint.name].layer
        path, line = waypoint.location.rsplit(":", 1)
        assert not Path(path).is_absolute()  # relative to the project
        source = (ROOT / path).read_text().splitlines()
        name = waypoint.function.rsplit(".", 1)[-1].split(":")[-1]
        assert re.match(rf"\s*(async )?def {name}\(", source[int(line) - 1]), waypoint


def test_post_with_a_body_and_a_dependency_solves_the_dependency_first() -> None:
    traces, response = trace_request(app, "POST", "/items", body='{"name": "pen"}')
    assert response.status == 201
    assert json.loads(response.body)["name"] == "pen by ada"
    trace = only(traces)
    assert label(trace) == [
        *ARRIVE,
        *ENTER,
        "route:full",
        "solve:current_user",
        "solve:create_item",
        "endpoint",
        "encode",
        "respond",
        *ANSWER,
        *LEAVE,
    ]
    solves = [w for w in trace.waypoints if w.name == "solve"]
    assert solves[1].facts["dependencies"] == ["current_user"]
    assert "item" in solves[1].facts["values"]
    parse = trace.first("parse")
    assert parse is not None
    assert parse.facts["method"] == "POST"


def test_a_path_no_route_matches_is_traced_to_its_404() -> None:
    traces, response = trace_request(app, "GET", "/nowhere")
    assert response.status == 404
    trace = only(traces)
    assert label(trace) == [*ARRIVE, *ENTER, "route:none", "respond", *ANSWER, *LEAVE]
    respond = trace.first("respond")
    assert respond is not None
    assert respond.facts["status"] == 404


def test_invalid_parameters_stop_at_solve_with_a_422() -> None:
    traces, response = trace_request(app, "GET", "/items/x")
    assert response.status == 422
    trace = only(traces)
    assert label(trace) == [
        *ARRIVE,
        *ENTER,
        "route:full",
        "solve:read_item",
        "respond",
        *ANSWER,
        *LEAVE,
    ]
    solved = trace.first("solve")
    assert solved is not None
    assert solved.facts["errors"] == 1


def test_an_exception_answered_by_a_handler_skips_encode() -> None:
    traces, response = trace_request(app, "GET", "/refused")
    assert response.status == 409
    assert label(only(traces)) == [
        *ARRIVE,
        *ENTER,
        "route:full",
        "solve:refuse",
        "endpoint",
        "respond",
        *ANSWER,
        *LEAVE,
    ]


def test_a_streaming_response_writes_one_piece_at_a_time() -> None:
    traces, response = trace_request(toolkit_app, "GET", "/stream")
    assert response.body == b"one two three"
    trace = only(traces)
    assert label(trace) == [
        *ARRIVE,
        *ENTER,
        "route:full",
        "endpoint",
        "respond",
        "send_bytes:http.response.start",
        *["send_bytes:http.response.body"] * 4,  # three pieces and the end
        "finish",
        *LEAVE,
    ]
    endpoint = trace.first("endpoint")
    assert endpoint is not None
    assert endpoint.layer == "toolkit"
    assert endpoint.function == "tests.integration.apps.traced_app:stream"
    respond = trace.first("respond")
    assert respond is not None
    assert respond.facts["streaming"] is True


def test_an_app_that_reports_nothing_shows_the_server_waypoints_only() -> None:
    traces, response = trace_request(bare_app, "GET", "/")
    assert label(only(traces)) == [*ARRIVE, *ANSWER]
    assert b"ferry.trace" in response.body  # the tracer rides in the scope


def test_a_second_request_on_a_kept_alive_connection_has_its_own_trace() -> None:
    traces: queue.Queue[RequestTrace] = queue.Queue()
    with run_in_thread(app, trace_sink=traces.put, access_log=False) as url:
        address = urlsplit(url)
        client = http.client.HTTPConnection(address.hostname or "", address.port)
        for item_id in (1, 2):
            client.request("GET", f"/items/{item_id}")
            assert client.getresponse().read()
        client.close()
        first, second = traces.get(timeout=5), traces.get(timeout=5)
    assert first.request_line == "GET /items/1"
    assert second.request_line == "GET /items/2"
    assert label(second)[:3] == ["receive_bytes", "parse", "dispatch"]  # no second accept
    assert label(second)[-3:] == ["finish", *LEAVE]
    assert second.waypoints[0].elapsed_us > first.waypoints[-1].elapsed_us


def test_tracing_off_leaves_the_scope_and_the_response_as_they_were() -> None:
    _, traced = trace_request(bare_app, "GET", "/")
    with run_in_thread(bare_app, access_log=False) as url:
        address = urlsplit(url)
        client = http.client.HTTPConnection(address.hostname or "", address.port)
        client.request("GET", "/")
        answer = client.getresponse()
        plain_body = answer.read()
        plain_headers = [h for h in answer.getheaders() if h[0] != "date"]
        assert len(plain_headers) == len(answer.getheaders()) - 1
        client.close()
    # The scope differs by the tracer's key alone; the headers are the same ones.
    assert traced.body.split() == sorted([*plain_body.split(), b"ferry.trace"])
    assert [name for name, _ in traced.headers] == [name for name, _ in plain_headers] + ["date"]
    assert traced.status == answer.status == 200


def test_the_app_answers_alike_with_and_without_tracing() -> None:
    with run_in_thread(app, access_log=False) as url:
        address = urlsplit(url)
        client = http.client.HTTPConnection(address.hostname or "", address.port)
        answers = []
        for method, path, body in (
            ("GET", "/items/3?public=false", None),
            ("POST", "/items", '{"name": "pen"}'),
            ("GET", "/items/x", None),
            ("GET", "/refused", None),
        ):
            headers = {"content-type": "application/json"} if body else {}
            client.request(method, path, body=body, headers=headers)
            answer = client.getresponse()
            answers.append((answer.status, answer.read()))
        client.close()
    for (method, path, body), untraced in zip(
        (
            ("GET", "/items/3?public=false", None),
            ("POST", "/items", '{"name": "pen"}'),
            ("GET", "/items/x", None),
            ("GET", "/refused", None),
        ),
        answers,
        strict=True,
    ):
        _, traced = trace_request(app, method, path, body=body)
        assert (traced.status, traced.body) == untraced


# --- the formats -------------------------------------------------------------------------

_MERMAID_LINE = re.compile(
    r"^(sequenceDiagram"
    r"|    participant (client|server|toolkit|typed|app) as [a-z ]+"
    r"|    (client|server|toolkit|typed|app)(->>|-->>)(client|server|toolkit|typed|app): [^;#\n]+"
    r"|%% .*)$"
)


def test_the_mermaid_diagram_is_a_well_formed_sequence_diagram() -> None:
    traces, _ = trace_request(app, "POST", "/items", body='{"name": "pen"}')
    diagram = format_mermaid(only(traces))
    lines = diagram.splitlines()
    assert lines[0] == "sequenceDiagram"
    for line in lines:
        assert _MERMAID_LINE.match(line), line
    declared = {line.split()[1] for line in lines if line.startswith("    participant")}
    used = set(re.findall(r"^    (\w+)-{1,2}>>(\w+):", diagram, re.M))
    assert {name for pair in used for name in pair} == declared
    assert "    typed->>app: 8 endpoint create_item" in lines
    assert lines[-3].startswith("    server->>server: 12 finish")
    assert lines[-1] == "    toolkit-->>toolkit: 5 middleware leave ServerErrorMiddleware"


def test_the_json_document_holds_every_waypoint() -> None:
    traces, _ = trace_request(app, "GET", "/items/3")
    document = json.loads(format_traces(traces, "json"))
    assert [w["name"] for w in document[0]["waypoints"]] == [w.name for w in only(traces).waypoints]
    assert document[0]["request"] == "GET /items/3"
    assert document[0]["outcome"] == "200, keep-alive"
    first = document[0]["waypoints"][0]
    assert set(first) == {"number", "name", "layer", "elapsed_us", "function", "location", "facts"}


# --- the commands --------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", ["text", "markdown", "mermaid", "json"])
def test_ferry_trace_prints_the_trace_and_the_response(
    format_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "trace",
            "tests.integration.apps.traced_app:app",
            "post",
            "/items",
            "-H",
            "X-Request-Id: 42",
            "-d",
            '{"name": "pen"}',
            "--format",
            format_name,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    if format_name == "json":
        document = json.loads(out)
        assert document["response"]["status"] == 201
        assert document["traces"][0]["request"] == "POST /items"
        assert document["traces"][0]["waypoints"][3]["name"] == "dispatch"
    elif format_name == "mermaid":
        assert out.startswith("sequenceDiagram\n")
        assert out.rstrip().endswith("%% response: 201 Created")
    else:
        assert "POST /items" in out
        assert "HTTP/1.1 201 Created" in out
        assert '"name":"pen by ada"' in out
        assert "ferry.api.solve:solve" in out


def test_ferry_trace_refuses_a_header_without_a_colon(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["trace", "tests.integration.apps.traced_app:app", "GET", "/", "-H", "oops"])
    assert code == 2
    assert "not a 'Name: value' header" in capsys.readouterr().err


def test_ferry_trace_names_an_app_it_cannot_import(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["trace", "no_such_module_here:app", "GET", "/"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("ferry: error: ")
    assert "no_such_module_here" in err


def _ferry() -> list[str]:
    script = Path(sys.executable).with_name("ferry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ferry.server"]


@pytest.mark.slow
def test_ferry_trace_runs_as_a_command() -> None:
    result = subprocess.run(
        [*_ferry(), "trace", "tests.integration.apps.traced_app:bare_app", "GET", "/x"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("== GET /x -> 200, keep-alive\n")
    assert "HTTP/1.1 200 OK" in result.stdout


def test_a_websocket_handshake_is_traced_up_to_the_upgrade() -> None:
    traces: queue.Queue[RequestTrace] = queue.Queue()
    with run_in_thread(app, trace_sink=traces.put, access_log=False) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
                b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
            )
            trace = traces.get(timeout=5)
            assert sock.recv(100).startswith(b"HTTP/1.1 403 ")  # no such websocket route
    assert [w.name for w in trace.waypoints] == ["accept", "receive_bytes", "parse", "finish"]
    assert trace.waypoints[-1].facts == {"upgrade": "websocket", "keep_alive": False}
