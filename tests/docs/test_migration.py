"""Every Ferry name in docs/migration.md's tables exists, and every option there is real."""

from __future__ import annotations

import importlib
import re

from tests.docs.pages import DOCS, option_strings, subcommand_parsers

PAGE = DOCS / "migration.md"
CODE = re.compile(r"`([^`]+)`")


def ferry_cells() -> list[str]:
    """The code spans in the Ferry column (the second) of each table row."""
    spans = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and not set(cells[1]) <= {"-"}:
            spans += CODE.findall(cells[1])
    return spans


def resolves(dotted: str) -> bool:
    """True when `dotted` is a module, or a module's attribute (one or more levels deep)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_ferry_name_in_the_tables_exists() -> None:
    names = [span for span in ferry_cells() if span.startswith("ferry.")]
    assert len(names) > 60
    missing = [name for name in names if not resolves(name)]
    assert not missing, f"docs/migration.md names what Ferry does not have: {missing}"


def test_every_option_in_the_tables_exists() -> None:
    known = option_strings(subcommand_parsers()["serve"])
    flags = [span for span in ferry_cells() if span.startswith("--")]
    assert len(flags) > 30
    missing = [flag for flag in flags if flag not in known]
    assert not missing, f"docs/migration.md names options ferry serve lacks: {missing}"
