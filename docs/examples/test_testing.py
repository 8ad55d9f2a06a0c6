"""Testing an app in-process: the TestClient, the lifespan, and dependency overrides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from docs.examples.testing_app import app, greeting_word
from ferry.asgi.testing import TestClient


@pytest.fixture
def client() -> Iterator[TestClient]:
    """`with` runs the lifespan: start-up on entry, shutdown on exit."""
    with TestClient(app) as client:
        yield client


def test_greets_and_counts(client: TestClient) -> None:
    assert client.get("/greet/ada").json() == {"text": "Hello, ada!", "times": 1}
    assert client.get("/greet/ada").json()["times"] == 2


def test_a_dependency_can_be_overridden(client: TestClient) -> None:
    app.dependency_overrides[greeting_word] = lambda: "Ahoy"
    try:
        assert client.get("/greet/ada").json()["text"] == "Ahoy, ada!"
    finally:
        app.dependency_overrides.clear()
    assert client.get("/greet/ada").json()["text"] == "Hello, ada!"
