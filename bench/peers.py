"""The peers' own virtual environment, bench/.peers: the servers and frameworks Ferry is measured
against, at their current releases, plus matplotlib for the charts.

The peers are never dependencies of Ferry's packages. Ferry's packages are installed into
this environment too (editable, from this tree), so that the in-process comparison runs Ferry
and FastAPI on one event loop in one interpreter. Ferry's servers under load run from the
workspace's own environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "bench" / ".peers"
PEERS_PYTHON = PEERS_DIR / "bin" / "python"
PEER_PACKAGES = (
    "uvicorn",
    "websockets",  # uvicorn's default WebSocket implementation
    "wsproto",  # and its `--ws wsproto` one
    "hypercorn",
    "granian",
    "starlette",
    "fastapi",
    "httptools",
    "uvloop",
    "matplotlib",
)
FERRY_PACKAGES = ("packages/server", "packages/asgi", "packages/api")
# The versions the report names: the peers, and what both sides share.
REPORTED = (
    "ferry-server",
    "ferry-asgi",
    "ferry-api",
    "uvicorn",
    "hypercorn",
    "granian",
    "starlette",
    "fastapi",
    "httptools",
    "uvloop",
    "websockets",
    "wsproto",
    "h11",
    "anyio",
    "pydantic",
    "pydantic-core",
    "matplotlib",
)


def uv_command() -> list[str]:
    """How to run uv: `uv run` says where it is; else the one on PATH; else `python3 -m uv`."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    return ["python3", "-m", "uv"]


def ensure_peers(log: Path) -> Path:
    """Create (or update) bench/.peers and return its Python; output goes to `log`."""
    uv = uv_command()
    with log.open("a") as out:
        if not PEERS_PYTHON.exists():
            # The same interpreter as the workspace, so both sides run one Python.
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run(
                [*uv, "venv", "--python", base, str(PEERS_DIR)],
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        install = [*uv, "pip", "install", "--python", str(PEERS_PYTHON)]
        subprocess.run(
            [*install, "--upgrade", *PEER_PACKAGES],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        editables = [arg for path in FERRY_PACKAGES for arg in ("-e", str(ROOT / path))]
        subprocess.run([*install, *editables], check=True, stdout=out, stderr=subprocess.STDOUT)
    return PEERS_PYTHON


def package_versions(python: Path, names: tuple[str, ...] = REPORTED) -> dict[str, str]:
    """The installed version of each package in the environment of `python` ("-" if absent)."""
    script = (
        "import json, sys\n"
        "from importlib import metadata\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        found[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        found[name] = '-'\n"
        "print(json.dumps(found))\n"
    )
    output = subprocess.run(
        [str(python), "-c", script, *names], check=True, capture_output=True, text=True
    ).stdout
    versions: dict[str, str] = json.loads(output)
    return versions


def python_version(python: Path) -> str:
    """`python`'s version and implementation, e.g. "CPython 3.11.7"."""
    script = "import platform; print(platform.python_implementation(), platform.python_version())"
    return subprocess.run(
        [str(python), "-c", script], check=True, capture_output=True, text=True
    ).stdout.strip()
