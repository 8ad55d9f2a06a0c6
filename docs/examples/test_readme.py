"""The examples at the top of the package README files (copied there verbatim)."""

from __future__ import annotations

from docs.examples import readme_api, readme_asgi
from ferry.asgi.testing import TestClient


def test_api_readme_example() -> None:
    client = TestClient(readme_api.app)
    assert client.get("/hello").json() == {"hello": "world"}
    assert client.get("/hello?name=ada").json() == {"hello": "ada"}
    assert client.get("/hello", params={"name": "x" * 51}).status_code == 422


def test_asgi_readme_example() -> None:
    client = TestClient(readme_asgi.app)
    assert client.get("/").json() == {"hello": "world"}
    assert client.get("/?name=ada").json() == {"hello": "ada"}
