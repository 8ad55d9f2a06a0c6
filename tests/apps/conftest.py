"""Fixtures for the users API tests: each test runs on SQLite and again on PostgreSQL.

- `database_url`: a new, empty database per test: a file under tmp_path, or a fresh
  database on a throwaway PostgreSQL server started once per session.
- `clock`: a fake clock the app reads, so lockout windows and expiry need no waiting.
- `client`: a TestClient on a fresh app, its lifespan running. Every response any test
  gets (through `client`, `make_client` or `audited`) is checked at the end of the test
  by `audit`: no password sent, password hash or salt made, stored token digest,
  traceback or SQL text may appear in a body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.apps.postgres import fresh_database, postgres_available, running_postgres

from ferry.api import App
from ferry.asgi.testing import TestClient
from ferry.server.types import ASGIApplication
from users_api.auth import PasswordHasher
from users_api.db import Database
from users_api.main import create_app
from users_api.settings import Settings

# Cheap enough for hundreds of logins; the production cost has a test of its own.
FAST_HASHER = PasswordHasher(n=2**8, r=8, p=1)
START_TIME = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PASSWORD = "correct horse battery"

# Text that only a leak would put in a response body.
FORBIDDEN_TEXT = (
    "Traceback",
    'File "',
    "SELECT ",
    "INSERT INTO",
    "DELETE FROM",
    "UPDATE users",
    "sqlite3",
    "psycopg",
    "IntegrityError",
    "OperationalError",
    "UNIQUE constraint",
    "scrypt$",
)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = START_TIME) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Audit:
    """What a test sent, the hashes the app made, and every body the test received."""

    passwords: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)  # every other string value a request carried
    hashes: list[str] = field(default_factory=list)
    bodies: list[tuple[str, str]] = field(default_factory=list)  # (request line, body)

    def on_request(self, request: httpx.Request) -> None:
        self.sent.update(urllib.parse.unquote(part) for part in request.url.path.split("/"))
        self.sent.update(value for _, value in request.url.params.multi_items())
        try:
            content = request.content
        except httpx.RequestNotRead:
            return  # a streamed body: the tests that stream send no passwords
        for name, value in _string_fields(content):
            if "password" in name:
                self.passwords.add(value)
            else:
                self.sent.add(value)

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        content_type = response.headers.get("content-type", "")
        if "javascript" in content_type or "css" in content_type:
            return  # Swagger UI's own files
        request = response.request
        self.bodies.append((f"{request.method} {request.url}", response.text))

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """httpx event hooks that feed this audit."""
        return {"request": [self.on_request], "response": [self.on_response]}

    def secrets(self) -> list[str]:
        """What must never appear in a body, whoever sent what."""
        found: list[str] = []
        for password in self.passwords:
            if len(password) >= 6:  # a shorter one could turn up by chance
                found.extend([password, json.dumps(password)[1:-1]])
        for stored in self.hashes:
            _, _, _, _, salt, key = stored.split("$")
            found.extend([stored, salt, key])
            found.extend([base64.b64decode(salt).hex(), base64.b64decode(key).hex()])
        for _, body in self.bodies:
            token = _access_token(body)
            if token is not None:
                found.append(hashlib.sha256(token.encode()).hexdigest())
        return found

    def check(self) -> None:
        """Fail the test if any body holds a secret, a traceback or SQL text."""
        secrets = self.secrets()
        # A client may send SQL-looking text (a display name, an invalid username) and
        # get it back, in its profile or in a 422: that is an echo, not a leak.
        echoes = [v for v in self.sent if any(text in v for text in FORBIDDEN_TEXT)]
        for request_line, body in self.bodies:
            for secret in secrets:
                assert secret not in body, f"{request_line}: the body holds {secret!r}"
            for echo in echoes:
                body = body.replace(json.dumps(echo)[1:-1], "").replace(echo, "")
            for text in FORBIDDEN_TEXT:
                assert text not in body, f"{request_line}: the body holds {text!r}"


def _string_fields(content: bytes) -> list[tuple[str, str]]:
    # The top-level string values of a JSON object or an urlencoded form.
    try:
        data = json.loads(content)
    except ValueError:
        form = urllib.parse.parse_qsl(content.decode("utf-8", "replace"))
        return [(name, value) for name, value in form]
    if not isinstance(data, dict):
        return []
    return [(str(name), value) for name, value in data.items() if isinstance(value, str)]


def _access_token(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


@pytest.fixture(autouse=True)
def audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Audit]:
    """Records what must stay secret, and checks every response of the test at its end."""
    record = Audit()
    real_hash = PasswordHasher.hash

    def recording_hash(self: PasswordHasher, password: str) -> str:
        stored = real_hash(self, password)
        record.hashes.append(stored)
        return stored

    monkeypatch.setattr(PasswordHasher, "hash", recording_hash)
    yield record
    record.check()


# --- databases ---


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server started for this test session."""
    if not postgres_available():
        pytest.skip("PostgreSQL's initdb/pg_ctl (or, as root, the postgres account) are missing")
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/users.db"
    server: str = request.getfixturevalue("postgres_server")
    return fresh_database(server)


def run_sql(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement straight on the database, outside the app; the rows it returns."""
    if database_url.startswith("sqlite:"):
        path = database_url.removeprefix("sqlite:///")
        connection = sqlite3.connect(path)
        try:
            rows = connection.execute(sql).fetchall()
            connection.commit()
            return rows
        finally:
            connection.close()
    with psycopg.connect(database_url, autocommit=True) as pg_connection:
        cursor = pg_connection.execute(sql)
        return cursor.fetchall() if cursor.description else []


# --- apps and clients ---


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock."""
    return FakeClock()


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(database_url: str, clock: FakeClock) -> AppFactory:
    """`make_app(**options)`: an app on the test's database, clock and fast hasher."""

    def make(
        *, token_ttl_s: int = 3600, database: Database | None = None, url: str | None = None
    ) -> App:
        settings = Settings(database_url=url or database_url, token_ttl_s=token_ttl_s)
        return create_app(settings, database=database, clock=clock, hasher=FAST_HASHER)

    return make


ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(audit: Audit) -> ClientFactory:
    """`with make_client(app) as client:` a TestClient whose responses are audited."""

    @contextmanager
    def open_client(app: App, *, raise_server_exceptions: bool = True) -> Iterator[TestClient]:
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            client.event_hooks = audit.hooks()
            yield client

    return open_client


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """The app on the test's database."""
    return make_app()


@pytest.fixture
def client(app: App, make_client: ClientFactory) -> Iterator[TestClient]:
    """A client of `app`, inside its lifespan."""
    with make_client(app) as test_client:
        yield test_client


@pytest.fixture
def asgi_app(app: App) -> ASGIApplication:
    """The app that ferry-server's `live_server` fixture serves."""
    return app


@pytest.fixture
def audited(audit: Audit) -> Callable[..., httpx.Client]:
    """`audited(base_url)`: an httpx client of a real server, its responses audited."""

    def make(base_url: str) -> httpx.Client:
        return httpx.Client(base_url=base_url, event_hooks=audit.hooks(), timeout=30)

    return make


# --- helpers the tests share ---


def register(
    client: httpx.Client,
    username: str,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> httpx.Response:
    """POST /users, asserting 201."""
    body = {"username": username, "password": password}
    if display_name is not None:
        body["display_name"] = display_name
    response = client.post("/users", json=body)
    assert response.status_code == 201, response.text
    return response


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """POST /auth/token (no assertion: tests look at the failures too)."""
    return client.post("/auth/token", data={"username": username, "password": password})


def token_for(client: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """A fresh access token, asserting the login succeeds."""
    response = login(client, username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}
