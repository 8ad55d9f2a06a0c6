"""GET /healthz (contract endpoint 9), and the JSON shape of every error."""

from __future__ import annotations

from pathlib import Path

from tests.apps.conftest import FAST_HASHER, AppFactory, ClientFactory, register, run_sql

from ferry.asgi.testing import TestClient
from users_api.main import create_app
from users_api.settings import Settings


def test_healthz_answers_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_users_table_cannot_be_read(
    client: TestClient, database_url: str
) -> None:
    run_sql(database_url, "ALTER TABLE users RENAME TO users_elsewhere")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    run_sql(database_url, "ALTER TABLE users_elsewhere RENAME TO users")
    assert client.get("/healthz").status_code == 200


def test_healthz_answers_503_when_the_sqlite_file_became_unreadable(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "users.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"), hasher=FAST_HASHER)
    with make_client(app) as client:
        register(client, "ada")
        path.write_bytes(b"this is no longer a SQLite database" * 100)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable"}


def test_an_unhandled_error_is_a_500_that_leaks_no_traceback_or_sql(
    make_app: AppFactory, make_client: ClientFactory, database_url: str
) -> None:
    with make_client(make_app(), raise_server_exceptions=False) as client:
        register(client, "ada")
        run_sql(database_url, "ALTER TABLE users RENAME TO users_elsewhere")
        for response in (
            client.get("/users/ada"),
            client.get("/users"),
            client.post("/users", json={"username": "bob", "password": "correct horse"}),
        ):
            assert response.status_code == 500
            assert response.json() == {"detail": "Internal Server Error"}
            assert response.headers["content-type"] == "application/json"
            assert "users_elsewhere" not in response.text
            assert "users" not in response.text


ERRORS = [
    ("GET", "/nowhere", 404),
    ("PUT", "/users", 405),
    ("DELETE", "/users/ada", 405),
    ("GET", "/auth/token", 405),
    ("GET", "/users/nobody", 404),
    ("GET", "/users/me", 401),
    ("POST", "/users", 422),
    ("POST", "/auth/token", 422),
]


def test_every_error_is_json_with_a_detail(client: TestClient) -> None:
    for method, path, status in ERRORS:
        response = client.request(method, path)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"detail"}


def test_a_json_body_with_another_content_type_is_refused_with_json(client: TestClient) -> None:
    response = client.post(
        "/users",
        content=b'{"username": "ada", "password": "correct horse"}',
        headers={"content-type": "text/plain"},
    )
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"detail"}
    assert client.get("/users/ada").status_code == 404
