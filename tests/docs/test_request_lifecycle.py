"""docs/request-lifecycle.md is what tracing the demo API gives now, and cites real code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from docs import gen_request_lifecycle
from ferry.server.trace import RequestTrace

ROOT = Path(__file__).parents[2]
# `module:qualname` then `path:line`, in a table row or in a hop's heading line.
CITATION = re.compile(
    r"`(?P<function>[\w.]+:[\w.<>]+)`(?: \| | in )`(?P<path>[\w/.-]+\.py):(?P<line>\d+)`"
)


@pytest.fixture(scope="module")
def traces() -> dict[str, RequestTrace]:
    return gen_request_lifecycle.trace_demo()


def test_the_committed_page_is_up_to_date(traces: dict[str, RequestTrace]) -> None:
    committed = gen_request_lifecycle.PAGE.read_text(encoding="utf-8")
    assert committed == gen_request_lifecycle.generate(traces), (
        "docs/request-lifecycle.md is out of date: run `make docs` "
        "(or `uv run --no-sync python -m docs.gen_request_lifecycle`) and commit it"
    )


def defined_at(path: Path, line: int) -> set[str]:
    """The qualified names of the functions whose `def` is on `line` of `path`."""
    names: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if child.lineno == line:
                    names.add(f"{prefix}{child.name}")
                visit(child, f"{prefix}{child.name}.<locals>.")

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return names


def test_every_cited_line_holds_the_function_it_names() -> None:
    page = gen_request_lifecycle.PAGE.read_text(encoding="utf-8")
    citations = list(CITATION.finditer(page))
    assert len(citations) > 30  # two tables and the hops
    for citation in citations:
        qualname = citation["function"].split(":", 1)[1]
        path = ROOT / citation["path"]
        assert path.is_file(), citation[0]
        assert qualname in defined_at(path, int(citation["line"])), citation[0]


def test_every_waypoint_of_the_get_has_a_hop_on_the_page(traces: dict[str, RequestTrace]) -> None:
    page = gen_request_lifecycle.PAGE.read_text(encoding="utf-8")
    names = {w.name for w in traces["GET /users/ada"].waypoints}
    assert len(names) == 12
    for name in names:
        assert f"`{name}`:" in page, name


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "request-lifecycle.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen_request_lifecycle, "PAGE", stale)
    assert gen_request_lifecycle.main(["--check"]) == 1
    assert gen_request_lifecycle.main([]) == 0
    assert gen_request_lifecycle.main(["--check"]) == 0


def test_a_cited_function_that_moved_is_caught(traces: dict[str, RequestTrace]) -> None:
    waypoint = traces["GET /users/ada"].first("route")
    assert waypoint is not None
    path, line = waypoint.location.rsplit(":", 1)
    moved = type(waypoint)(
        waypoint.number,
        waypoint.name,
        waypoint.layer,
        waypoint.elapsed_us,
        waypoint.function,
        f"{path}:{int(line) + 1}",
        waypoint.facts,
    )
    with pytest.raises(RuntimeError, match="does not hold"):
        gen_request_lifecycle.hop(moved)
