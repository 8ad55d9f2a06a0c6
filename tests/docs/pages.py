"""What the docs tests read: the pages, their fenced code blocks, and the `ferry` parser."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ferry.server.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"


def pages() -> list[Path]:
    """Every page a reader sees: docs/*.md and the README.md files."""
    readmes = [
        ROOT / "README.md",
        *ROOT.glob("packages/*/README.md"),
        *ROOT.glob("apps/*/README.md"),
    ]
    return sorted(DOCS.glob("*.md")) + sorted(path for path in readmes if path.exists())


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string's first word, its text and where it starts."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: str  # the line just above the fence ("" when blank or none)

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence[0] * len(fence))
            and lines[end].strip().strip(fence[0]) == ""
        ):
            body.append(lines[end])
            end += 1
        info = opening["info"].strip().split()
        marker = lines[index - 1].strip() if index > 0 else ""
        yield Block(page, index + 1, info[0].lower() if info else "", "\n".join(body), marker)
        index = end + 1


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each `ferry` subcommand, by name."""
    parser = build_parser()
    for action in parser._actions:  # argparse has no public way to list subcommands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("ferry has no subcommands")


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option a parser accepts (`--no-` forms included)."""
    return {flag for action in parser._actions for flag in action.option_strings}
