"""The throwaway PostgreSQL server in tests/apps/postgres.py: it starts, serves, isolates, stops."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.apps import postgres
from tests.apps.postgres import (
    PostgresError,
    fresh_database,
    postgres_available,
    run_psql,
    running_postgres,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not postgres_available(),
        reason="PostgreSQL's initdb/pg_ctl (or, as root, the postgres account) are missing",
    ),
]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def created_dirs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    # Records the directories the fixture creates, so a test can watch its own one go away.
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(
        suffix: str | None = None, prefix: str | None = None, dir: str | None = None
    ) -> str:
        path = real_mkdtemp(suffix, prefix, dir)
        made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    return made


def _port_accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_url_names_the_ferry_role_and_database_on_loopback(server_url: str) -> None:
    parts = urlsplit(server_url)
    assert parts.scheme == "postgresql"
    assert (parts.username, parts.password) == ("ferry", "ferry")
    assert parts.hostname == "127.0.0.1"
    assert parts.port is not None
    assert parts.path == "/ferry"


def test_server_accepts_a_connection_as_ferry(server_url: str) -> None:
    assert run_psql(server_url, "SELECT current_user, current_database()").strip() == "ferry|ferry"


def test_wrong_password_is_refused(server_url: str) -> None:
    wrong = server_url.replace("ferry:ferry@", "ferry:not-the-password@")
    with pytest.raises(PostgresError, match="password authentication failed"):
        run_psql(wrong, "SELECT 1")


def test_fresh_database_is_new_and_empty(server_url: str) -> None:
    url = fresh_database(server_url)
    assert url != server_url
    assert url.startswith(server_url.rsplit("/", 1)[0] + "/ferry_test_")
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert run_psql(url, tables).strip() == "0"
    assert run_psql(url, "SELECT current_database()").strip() == urlsplit(url).path[1:]


def test_fresh_databases_do_not_share_tables(server_url: str) -> None:
    first, second = fresh_database(server_url), fresh_database(server_url)
    assert first != second
    run_psql(first, "CREATE TABLE marker (id integer)")
    assert run_psql(first, "SELECT to_regclass('public.marker')").strip() == "marker"
    assert run_psql(second, "SELECT to_regclass('public.marker')").strip() == ""
    assert run_psql(server_url, "SELECT to_regclass('public.marker')").strip() == ""


def test_leaving_the_block_stops_the_server_and_removes_its_directory(
    created_dirs: list[Path],
) -> None:
    with running_postgres() as url:
        port = urlsplit(url).port
        assert port is not None
        [directory] = created_dirs
        assert (directory / "data" / "postmaster.pid").is_file()
        assert _port_accepts_connections(port)
    assert not _port_accepts_connections(port)
    assert not directory.exists()
    with pytest.raises(PostgresError):
        run_psql(url, "SELECT 1")


def test_a_server_that_fails_to_start_reports_its_log_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch, created_dirs: list[Path]
) -> None:
    monkeypatch.setattr(postgres, "SERVER_SETTINGS", ("shared_buffers=plenty",))
    with pytest.raises(PostgresError, match="did not start") as caught, running_postgres():
        pytest.fail("the server started with an invalid setting")  # pragma: no cover
    assert 'invalid value for parameter "shared_buffers"' in str(caught.value)
    [directory] = created_dirs
    assert not directory.exists()


def test_psycopg_connects_with_the_url(server_url: str) -> None:
    # The demo app's driver; the URL must work for it exactly as given.
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(server_url) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("ferry",)
