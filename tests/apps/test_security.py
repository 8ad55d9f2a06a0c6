"""Security probes: SQL-injection strings in every input, and what responses never hold.

Each response of every test in this folder is also checked by the `audit` fixture
(conftest.py) for passwords, hashes, salts, stored token digests, tracebacks and SQL.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from tests.apps.conftest import PASSWORD, Audit, bearer, login, register, run_sql, token_for

from ferry.asgi.testing import TestClient

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "ada' --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1; DELETE FROM tokens",
    "' UNION SELECT password_hash, 1, 1, 1 FROM users --",
    "ada'); UPDATE users SET display_name = 'pwned'; --",
    "\\'; DROP TABLE login_failures; --",
    "%s",
    "%(username)s",
    "?",
    "$1",
    "ada\x00' OR 1=1",
]


def snapshot(database_url: str) -> dict[str, Any]:
    """Everything the database holds (the injection must change none of it)."""
    return {
        table: sorted(map(repr, run_sql(database_url, f"SELECT * FROM {table}")))
        for table in ("users", "tokens", "schema_migrations")
    }


@pytest.fixture
def populated(client: TestClient) -> str:
    """Two users, one of them logged in; the token of that login."""
    register(client, "ada", display_name="Ada")
    register(client, "bob", display_name="Bob")
    return token_for(client, "ada")


def test_injection_in_the_username_of_a_registration_gets_422_and_changes_nothing(
    client: TestClient, database_url: str, populated: str
) -> None:
    before = snapshot(database_url)
    for payload in INJECTIONS:
        response = client.post("/users", json={"username": payload, "password": PASSWORD})
        assert response.status_code == 422, payload
    assert snapshot(database_url) == before


def test_injection_in_the_path_gets_422_and_changes_nothing(
    client: TestClient, database_url: str, populated: str
) -> None:
    before = snapshot(database_url)
    for payload in INJECTIONS:
        response = client.get("/users/" + urllib.parse.quote(payload, safe=""))
        assert response.status_code == 422, payload
    assert snapshot(database_url) == before


def test_injection_in_the_query_gets_422_and_changes_nothing(
    client: TestClient, database_url: str, populated: str
) -> None:
    before = snapshot(database_url)
    for payload in INJECTIONS:
        for name in ("limit", "offset"):
            response = client.get("/users", params={name: payload})
            assert response.status_code == 422, payload
    assert snapshot(database_url) == before


def test_injection_in_a_login_gets_401_and_changes_no_user_or_token(
    client: TestClient, database_url: str, populated: str
) -> None:
    before = snapshot(database_url)
    for payload in INJECTIONS:
        assert login(client, payload, "whatever it is").status_code == 401, payload
    for payload in INJECTIONS[:9]:  # ten failures would lock ada out
        assert login(client, "ada", payload + " as a password").status_code == 401, payload
    assert snapshot(database_url) == before
    assert login(client, "bob").status_code == 200


def test_injection_in_the_bearer_token_gets_401_and_changes_nothing(
    client: TestClient, database_url: str, populated: str
) -> None:
    before = snapshot(database_url)
    for payload in INJECTIONS:
        for header in (f"Bearer {payload}", f"Bearer {urllib.parse.quote(payload)}"):
            authorization = {"Authorization": header.replace("\x00", "")}
            assert client.get("/users/me", headers=authorization).status_code == 401, payload
            assert client.post("/auth/logout", headers=authorization).status_code == 401
    assert snapshot(database_url) == before
    assert client.get("/users/me", headers=bearer(populated)).status_code == 200


def test_injection_in_a_display_name_or_password_is_stored_as_plain_text(
    client: TestClient, database_url: str, populated: str
) -> None:
    """Text fields take any text: the payload is stored verbatim, and nothing else moves."""
    others_before = client.get("/users").json()["items"]
    payloads = [p for p in INJECTIONS if "\x00" not in p]  # NUL is refused in a name
    for number, payload in enumerate(payloads):
        username = f"eve_{number:02d}"
        password = payload + " (password)"
        response = client.post(
            "/users", json={"username": username, "password": password, "display_name": payload}
        )
        assert response.status_code == 201, payload
        assert client.get(f"/users/{username}").json()["display_name"] == payload
        headers = bearer(token_for(client, username, password))
        patched = client.patch("/users/me", json={"display_name": payload[::-1]}, headers=headers)
        assert patched.json()["display_name"] == payload[::-1]
    listing = client.get("/users", params={"limit": 100}).json()
    assert [u for u in listing["items"] if not u["username"].startswith("eve_")] == others_before
    assert listing["total"] == 2 + len(payloads)
    assert client.get("/users/me", headers=bearer(populated)).status_code == 200


def test_no_response_holds_a_password_hash_salt_or_token_digest(
    client: TestClient, audit: Audit, database_url: str
) -> None:
    register(client, "ada")
    token = token_for(client, "ada")
    client.get("/users/me", headers=bearer(token))
    client.get("/users/ada")
    client.get("/users")
    client.patch("/users/me", json={"display_name": "Ada"}, headers=bearer(token))
    client.get("/openapi.json")
    [(stored,)] = run_sql(database_url, "SELECT password_hash FROM users")
    assert stored in audit.hashes
    audit.check()  # also run after every test; here with every endpoint exercised
    for _, body in audit.bodies:
        assert "password_hash" not in body
        assert "scrypt" not in body
