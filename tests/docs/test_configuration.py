"""docs/configuration.md is what `python -m docs.gen_configuration` writes from the CLI now."""

from __future__ import annotations

from pathlib import Path

import pytest

from docs import gen_configuration
from ferry.server.cli import SERVER_OPTIONS


def test_the_committed_page_is_up_to_date() -> None:
    committed = gen_configuration.PAGE.read_text(encoding="utf-8")
    assert committed == gen_configuration.generate(), (
        "docs/configuration.md is out of date: run `make docs` "
        "(or `uv run --no-sync python -m docs.gen_configuration`) and commit it"
    )


def test_every_option_and_its_variable_is_on_the_page() -> None:
    page = gen_configuration.generate()
    for option in SERVER_OPTIONS:
        assert f"`{option.flag}" in page
        assert f"`{option.env}`" in page


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen_configuration, "PAGE", stale)
    assert gen_configuration.main(["--check"]) == 1
    assert gen_configuration.main([]) == 0
    assert gen_configuration.main(["--check"]) == 0
