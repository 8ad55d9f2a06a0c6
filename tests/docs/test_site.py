"""The docs site builds with `mkdocs build --strict`: a broken link, a page missing from the
nav or a snippet whose file is gone fails here, as it fails `make docs`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.docs.pages import ROOT


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,  # snippet paths are relative to the repository root
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "index.html").is_file()
    for page in ("tutorial", "configuration", "migration"):
        assert (tmp_path / page / "index.html").is_file()
