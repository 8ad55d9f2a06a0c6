"""Tutorial, step 5: test the app in-process with the TestClient, no server or socket."""

from __future__ import annotations

from docs.examples import (
    tutorial_bodies,
    tutorial_dependencies,
    tutorial_params,
    tutorial_security,
)
from ferry.asgi.testing import TestClient


def test_path_and_query_parameters() -> None:
    client = TestClient(tutorial_params.app)
    assert client.get("/books/2").json() == {"title": "Cosmos", "genre": "science"}
    assert client.get("/books/9").status_code == 404
    assert client.get("/books/0").status_code == 422  # Path(ge=1)
    assert client.get("/books/two").status_code == 422
    assert client.get("/books").json() == ["Dune", "Cosmos", "Emma"]
    assert client.get("/books", params={"genre": "fiction", "limit": 1}).json() == ["Dune"]
    assert client.get("/books?q=em").json() == ["Emma"]
    assert client.get("/books?genre=poetry").status_code == 422  # not a Genre


def test_body_and_response_models() -> None:
    client = TestClient(tutorial_bodies.app)
    account = {"email": "ada@example.org", "name": "Ada", "password": "s3cret-enough"}
    created = client.post("/accounts", json=account)
    assert created.status_code == 201
    assert created.json() == {"id": 1, "email": "ada@example.org", "name": "Ada"}
    assert client.get("/accounts/1").json() == created.json()
    too_short = client.post("/accounts", json={**account, "password": "short"})
    assert too_short.status_code == 422
    assert too_short.json()["detail"][0]["loc"] == ["body", "password"]


def test_dependencies_are_solved_once_and_cleaned_up() -> None:
    client = TestClient(tutorial_dependencies.app)
    tutorial_dependencies.OPENED.clear()
    response = client.get("/rows", params={"offset": 28})
    assert response.json() == {"rows": ["row 29", "row 30"], "total": 30}
    [db] = tutorial_dependencies.OPENED  # one Database for the two parameters
    assert db.closed
    assert client.get("/rows?limit=0").status_code == 422


def test_oauth2_bearer_tokens() -> None:
    client = TestClient(tutorial_security.app)
    anonymous = client.get("/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/token", data={"username": "ada", "password": "guess"})
    assert wrong.status_code == 401
    login = client.post("/token", data={"username": "ada", "password": "correct horse battery"})
    token = login.json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"username": "ada"}
    assert client.get("/me", headers={"Authorization": "Bearer nope"}).status_code == 401
