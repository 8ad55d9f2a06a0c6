"""The tracer page's example, run as written."""

from __future__ import annotations

from docs.examples import tracing


def test_the_example_sees_every_hop_of_a_typed_request() -> None:
    names = tracing.hops("/hello/ada")
    assert names[:4] == ["accept", "receive_bytes", "parse", "dispatch"]
    assert names.count("middleware") == 4  # two entered, two left
    for hop in ("route", "solve", "endpoint", "encode", "respond", "send_bytes", "finish"):
        assert hop in names


def test_the_example_draws_the_request() -> None:
    lines = tracing.diagram("/hello/ada").splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "    typed->>app: 8 endpoint hello" in lines
