"""The PNG charts of docs/performance.md, drawn with matplotlib from a run's results.json.

matplotlib lives only in the peers environment, so this runs there:

    bench/.peers/bin/python -m bench.charts docs/performance/results.json docs/performance

It prints the name of each chart it wrote.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FERRY_COLOUR = "#1f6feb"
PEER_COLOUR = "#9aa4ae"
CEILING_COLOUR = "#d0d7de"


def pyplot() -> Any:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def colour(case: dict[str, Any]) -> str:
    if case["is_ferry"]:
        return FERRY_COLOUR
    return CEILING_COLOUR if case["target"].startswith("bare") else PEER_COLOUR


def rates(case: dict[str, Any]) -> tuple[float, float, float]:
    values = [run["requests_per_second"] for run in case["runs"]]
    return statistics.median(values), min(values), max(values)


def bar_chart(plt: Any, cases: Sequence[dict[str, Any]], title: str, path: Path) -> None:
    """Horizontal bars of median req/s with the min-max range as an error bar."""
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(cases) + 1.5))
    labels = [case["label"] for case in cases]
    medians = [rates(case)[0] for case in cases]
    lows = [rates(case)[0] - rates(case)[1] for case in cases]
    highs = [rates(case)[2] - rates(case)[0] for case in cases]
    axes.barh(labels, medians, xerr=[lows, highs], color=[colour(case) for case in cases])
    axes.invert_yaxis()
    axes.set_xlabel("requests per second (median; bar: min-max)")
    axes.set_title(title)
    for index, value in enumerate(medians):
        axes.text(value, index, f" {value:,.0f}", va="center", fontsize=8)
    axes.set_xlim(
        0, max(medians + [low + high for low, high in zip(medians, highs, strict=True)]) * 1.15
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def full_stack_chart(plt: Any, cases: Sequence[dict[str, Any]], path: Path) -> None:
    endpoints = list(dict.fromkeys(case["endpoint"] for case in cases))
    figure, all_axes = plt.subplots(1, len(endpoints), figsize=(6 * len(endpoints), 3.2))
    for axes, endpoint in zip(list(getattr(all_axes, "flat", [all_axes])), endpoints, strict=True):
        chosen = [case for case in cases if case["endpoint"] == endpoint]
        medians = [rates(case)[0] for case in chosen]
        axes.barh(
            [case["label"] for case in chosen],
            medians,
            color=[colour(case) for case in chosen],
        )
        axes.invert_yaxis()
        axes.set_title(endpoint)
        axes.set_xlabel("requests per second (median)")
        for index, value in enumerate(medians):
            axes.text(value, index, f" {value:,.0f}", va="center", fontsize=8)
        axes.set_xlim(0, max(medians) * 1.18)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def inprocess_chart(plt: Any, framework: dict[str, Any], path: Path) -> None:
    endpoints = framework["endpoints"]
    stacks = framework["stacks"]
    figure, axes = plt.subplots(figsize=(9, 0.9 * len(endpoints) + 1.5))
    height = 0.8 / len(stacks)
    palette = {"ferry.api": FERRY_COLOUR, "ferry.asgi": "#54aeff"}
    peers = {"FastAPI": "#6e7781", "Starlette": "#afb8c1"}
    for number, stack in enumerate(stacks):
        values = [statistics.median(framework["samples"][stack][name]) for name in endpoints]
        positions = [index + number * height for index in range(len(endpoints))]
        axes.barh(
            positions,
            values,
            height=height,
            label=stack,
            color=palette.get(stack, peers.get(stack, PEER_COLOUR)),
        )
    axes.set_yticks([index + 0.4 - height / 2 for index in range(len(endpoints))])
    axes.set_yticklabels(endpoints)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("µs per request, in-process (log scale; lower is better)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def router_chart(plt: Any, router: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 3.8))
    sizes = router["sizes"]
    for name, by_size in router["samples"].items():
        values = [statistics.median(by_size[str(size)]) for size in sizes]
        style = {"color": FERRY_COLOUR} if name.startswith("ferry") else {"color": "#6e7781"}
        axes.plot(sizes, values, marker="o", label=name, **style)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("routes in the table")
    axes.set_ylabel("µs to route to the last one")
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def memory_chart(plt: Any, memory: Sequence[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(memory) + 1.5))
    per = [
        (entry["loaded_kib"] - entry["idle_kib"]) / max(1, entry["connections"]) for entry in memory
    ]
    axes.barh(
        [entry["label"] for entry in memory],
        per,
        color=[FERRY_COLOUR if entry["is_ferry"] else PEER_COLOUR for entry in memory],
    )
    axes.invert_yaxis()
    axes.set_xlabel(
        f"KiB of RSS per idle keep-alive connection ({memory[0]['connections']:,} open)"
    )
    for index, value in enumerate(per):
        axes.text(value, index, f" {value:.1f}", va="center", fontsize=8)
    axes.set_xlim(0, max(per) * 1.15)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_all(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every chart the results have data for; returns the files written."""
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if results.get("server_only"):
        path = out_dir / "server_only.png"
        bar_chart(plt, results["server_only"], "Server only: the minimal ASGI app", path)
        written.append(path)
    if results.get("full_stack"):
        path = out_dir / "full_stack.png"
        full_stack_chart(plt, results["full_stack"], path)
        written.append(path)
    inprocess = results.get("inprocess", {})
    if inprocess.get("framework"):
        path = out_dir / "inprocess.png"
        inprocess_chart(plt, inprocess["framework"], path)
        written.append(path)
    if inprocess.get("router"):
        path = out_dir / "router.png"
        router_chart(plt, inprocess["router"], path)
        written.append(path)
    if results.get("memory"):
        path = out_dir / "memory.png"
        memory_chart(plt, results["memory"], path)
        written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    results = json.loads(Path(argv[0]).read_text())
    for path in draw_all(results, Path(argv[1])):
        print(path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
