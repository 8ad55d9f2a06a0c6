"""docs/tracer.md lists the waypoints the tracer really reports."""

from __future__ import annotations

import re
from pathlib import Path

from ferry.server.trace import WAYPOINTS

PAGE = Path(__file__).parents[2] / "docs" / "tracer.md"
ROW = re.compile(r"^\| (?P<number>\d+) \| `(?P<name>\w+)` \| (?P<layer>\w+) \| .+ \|$")


def test_the_waypoint_table_matches_the_tracer() -> None:
    rows = [m for line in PAGE.read_text(encoding="utf-8").splitlines() if (m := ROW.match(line))]
    assert [(int(m["number"]), m["name"], m["layer"]) for m in rows] == [
        (info.number, name, info.layer) for name, info in WAYPOINTS.items()
    ]
