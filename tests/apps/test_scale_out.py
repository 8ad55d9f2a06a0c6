"""Several instances on one database, as the README runs them: separate `ferry serve`
processes (and `--workers 2`), sharing users, tokens and login failures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.apps.conftest import PASSWORD, bearer, login, register, token_for

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def ferry_serve(database_url: str, *options: str) -> Iterator[str]:
    """`ferry serve users_api.main:app` in a process of its own; yields its base URL."""
    port = free_port()
    script = Path(sys.executable).with_name("ferry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ferry.server"]
    environ = {**os.environ, "USERS_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [*command, "serve", "users_api.main:app", "--port", str(port), *options],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                pytest.fail(f"ferry serve did not start:\n{process.stderr.read().decode()}")
            time.sleep(0.05)
        yield base_url
    finally:
        os.killpg(
            process.pid, signal.SIGTERM
        )  # the session we started: the process and its workers
        process.wait(timeout=START_TIMEOUT_S)
        assert process.stderr is not None
        process.stderr.close()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_ferry_serve_processes_on_one_database_share_tokens_and_lockout(
    database_url: str, audited: Callable[[str], httpx.Client]
) -> None:
    with (
        ferry_serve(database_url) as first_url,
        ferry_serve(database_url) as second_url,
        audited(first_url) as first,
        audited(second_url) as second,
    ):
        register(first, "ada")
        token = token_for(first, "ada")
        assert second.get("/users/me", headers=bearer(token)).json()["username"] == "ada"
        assert second.post("/auth/logout", headers=bearer(token)).status_code == 204
        assert first.get("/users/me", headers=bearer(token)).status_code == 401
        for client in (first, second) * 5:
            assert login(client, "ada", "not the password").status_code == 401
        assert login(first, "ada", PASSWORD).status_code == 429
        assert login(second, "ada", PASSWORD).status_code == 429


def test_workers_of_one_ferry_serve_share_the_database(
    database_url: str, audited: Callable[[str], httpx.Client]
) -> None:
    with ferry_serve(database_url, "--workers", "2") as base_url:
        # A new connection per request, so the requests spread over both workers.
        with audited(base_url) as client:
            register(client, "ada")
        tokens = []
        for _ in range(4):
            with audited(base_url) as client:
                tokens.append(token_for(client, "ada"))
        for token in tokens:
            for _ in range(3):
                with audited(base_url) as client:
                    assert client.get("/users/me", headers=bearer(token)).status_code == 200
