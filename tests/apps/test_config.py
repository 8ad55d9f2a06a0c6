"""Configuration (USERS_DATABASE_URL, USERS_TOKEN_TTL), the database choice and migrations."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest
from tests.apps.conftest import register, run_sql

from ferry.asgi.testing import TestClient
from users_api.db import PostgresDatabase, SQLiteDatabase, _use_wal, database_from_url
from users_api.main import create_app
from users_api.settings import Settings, SettingsError


def test_the_defaults_are_a_sqlite_file_under_var_and_a_one_hour_token() -> None:
    settings = Settings.from_environ({})
    assert settings.database_url == "sqlite:///var/users.db"
    assert settings.token_ttl_s == 3600


def test_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_environ(
        {"USERS_DATABASE_URL": "postgresql://u:p@db:5432/users", "USERS_TOKEN_TTL": "60"}
    )
    assert settings == Settings(database_url="postgresql://u:p@db:5432/users", token_ttl_s=60)


def test_settings_are_read_once_when_the_app_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERS_DATABASE_URL", f"sqlite:///{tmp_path}/first.db")
    monkeypatch.setenv("USERS_TOKEN_TTL", "77")
    app = create_app()
    monkeypatch.setenv("USERS_TOKEN_TTL", "88")
    with TestClient(app) as client:
        register(client, "ada")
        response = client.post(
            "/auth/token", data={"username": "ada", "password": "correct horse battery"}
        )
        assert response.json()["expires_in"] == 77
    assert (tmp_path / "first.db").exists()


@pytest.mark.parametrize("ttl", ["soon", "0", "-5", "1.5", ""])
def test_a_bad_token_lifetime_fails_at_start_up_naming_the_variable(ttl: str) -> None:
    with pytest.raises(SettingsError, match="USERS_TOKEN_TTL"):
        Settings.from_environ({"USERS_TOKEN_TTL": ttl})


@pytest.mark.parametrize("url", ["mysql://db/users", "users.db", "http://example.com"])
def test_an_unsupported_database_url_fails_at_start_up_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match="USERS_DATABASE_URL"):
        Settings.from_environ({"USERS_DATABASE_URL": url})


def test_a_sqlite_url_is_relative_to_the_current_directory_with_three_slashes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = database_from_url("sqlite:///var/users.db")
    absolute = database_from_url("sqlite:////srv/data/users.db")
    assert isinstance(relative, SQLiteDatabase)
    assert relative.path == os.path.join(str(tmp_path), "var", "users.db")
    assert isinstance(absolute, SQLiteDatabase)
    assert absolute.path == "/srv/data/users.db"


def test_a_postgresql_url_chooses_postgresql() -> None:
    for url in ("postgresql://u:p@127.0.0.1:5432/users", "postgres://u@localhost/users"):
        assert isinstance(database_from_url(url), PostgresDatabase)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "mysql://db/users"])
def test_a_database_url_without_a_usable_target_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="USERS_DATABASE_URL"):
        database_from_url(url)


def test_start_up_creates_the_database_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "var" / "users.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{path}"))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
    assert path.exists()
    [(mode,)] = run_sql(f"sqlite:///{path}", "PRAGMA journal_mode")
    assert mode == "wal"


def test_migrations_run_once_however_often_and_however_many_instances_start(
    database_url: str,
) -> None:
    async def start_three_at_once() -> None:
        databases = [database_from_url(database_url) for _ in range(3)]
        async with anyio.create_task_group() as group:
            for database in databases:
                group.start_soon(database.open)
        for database in databases:
            await database.close()

    anyio.run(start_three_at_once)
    anyio.run(start_three_at_once)
    assert run_sql(database_url, "SELECT version FROM schema_migrations") == [(1,)]


def test_the_app_module_serves_an_app_made_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERS_DATABASE_URL", f"sqlite:///{tmp_path}/module.db")
    monkeypatch.delitem(sys.modules, "users_api.main", raising=False)
    import users_api.main

    with TestClient(users_api.main.app) as client:
        assert client.get("/healthz").status_code == 200
    assert (tmp_path / "module.db").exists()


class LockedAtFirst:
    """A connection whose first `failures` statements find the database locked."""

    def __init__(self, failures: int, message: str = "database is locked") -> None:
        self.failures = failures
        self.message = message
        self.statements: list[str] = []

    def execute(self, statement: str) -> None:
        self.statements.append(statement)
        if len(self.statements) <= self.failures:
            raise sqlite3.OperationalError(self.message)


def test_switching_to_wal_waits_for_a_locked_file() -> None:
    connection = LockedAtFirst(failures=2)
    _use_wal(connection, timeout_s=5.0)  # type: ignore[arg-type]
    assert connection.statements == ["PRAGMA journal_mode = WAL"] * 3


def test_switching_to_wal_gives_up_after_the_timeout_or_on_another_error() -> None:
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _use_wal(LockedAtFirst(failures=1000), timeout_s=0.05)  # type: ignore[arg-type]
    other = LockedAtFirst(failures=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        _use_wal(other, timeout_s=5.0)  # type: ignore[arg-type]
    assert len(other.statements) == 1
