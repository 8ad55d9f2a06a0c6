"""The examples in the docs, run as they are written."""

from __future__ import annotations

from docs.examples import thread_pool, toolkit_app, typed_app
from ferry.asgi.testing import TestClient


def test_toolkit_example_answers_its_routes() -> None:
    client = TestClient(toolkit_app.app)
    assert client.get("/").text == "Hello from ferry.asgi"
    assert client.get("/notes/1").json() == {"id": 1, "text": "buy milk"}
    assert client.get("/notes/2").json() == {"detail": "note not found"}


def test_typed_example_validates_filters_and_documents() -> None:
    notes: dict[int, typed_app.NoteIn] = {}
    typed_app.app.dependency_overrides[typed_app.store] = lambda: notes
    client = TestClient(typed_app.app)
    created = client.post("/notes", json={"text": "hello", "secret": "s3"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "text": "hello"}
    assert client.get("/notes/1").json() == {"id": 1, "text": "hello"}
    assert client.get("/notes?limit=0").status_code == 422
    assert client.post("/notes", json={"text": ""}).status_code == 422
    assert "/notes/{note_id}" in client.get("/openapi.json").json()["paths"]
    typed_app.app.dependency_overrides.clear()


def test_thread_pool_example_raises_the_limit_and_calls_back_into_the_loop() -> None:
    with TestClient(thread_pool.app) as client:
        assert client.get("/thread-limit").json() == {"total_tokens": 100}
        assert client.get("/convert?amount=10").json() == {"amount": 10.8}
        assert client.get("/convert?amount=10&currency=EUR").json() == {"amount": 10.0}
        missing = client.get("/convert?amount=10&currency=XYZ")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no rate for XYZ"}
        assert client.get("/convert?amount=ten").status_code == 422
