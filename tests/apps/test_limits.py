"""Request bodies over 1 MiB get 413 before they are read in full, declared or chunked."""

from __future__ import annotations

import json
from collections.abc import Iterator

from tests.apps.conftest import PASSWORD

from ferry.asgi.testing import TestClient

MIB = 1024 * 1024
CHUNK_BYTES = 64 * 1024


def registration_of(size: int) -> bytes:
    """A valid registration, padded with whitespace to exactly `size` bytes."""
    body = json.dumps({"username": "ada", "password": PASSWORD}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


class Chunks:
    """A request body sent in chunks, counting how many the server pulled."""

    def __init__(self, body: bytes, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.body = body
        self.chunk_bytes = chunk_bytes
        self.sent_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.chunk_bytes):
            chunk = self.body[start : start + self.chunk_bytes]
            self.sent_bytes += len(chunk)
            yield chunk


def test_a_body_of_exactly_1_mib_is_accepted(client: TestClient) -> None:
    body = registration_of(MIB)
    assert len(body) == MIB
    response = client.post("/users", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201


def test_a_chunked_body_of_exactly_1_mib_is_accepted(client: TestClient) -> None:
    chunks = Chunks(registration_of(MIB))
    response = client.post("/users", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 201
    assert chunks.sent_bytes == MIB


def test_a_declared_length_of_1_mib_plus_1_gets_413_without_reading_the_body(
    client: TestClient,
) -> None:
    chunks = Chunks(registration_of(MIB + 1))
    response = client.post(
        "/users",
        content=chunks,
        headers={"content-type": "application/json", "content-length": str(MIB + 1)},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
    assert chunks.sent_bytes == 0
    assert client.get("/users/ada").status_code == 404


def test_a_chunked_body_of_1_mib_plus_1_gets_413(client: TestClient) -> None:
    chunks = Chunks(registration_of(MIB + 1))
    response = client.post("/users", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
    assert client.get("/users/ada").status_code == 404


def test_a_long_chunked_body_is_refused_before_it_is_read_in_full(client: TestClient) -> None:
    chunks = Chunks(b"x" * (8 * MIB))
    response = client.post("/users", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    # The count passes the limit within one chunk after 1 MiB; the rest stays unsent.
    assert chunks.sent_bytes <= MIB + CHUNK_BYTES


def test_every_endpoint_refuses_a_body_over_1_mib(client: TestClient) -> None:
    for method, path in [("POST", "/auth/token"), ("PATCH", "/users/me"), ("POST", "/auth/logout")]:
        response = client.request(method, path, content=b"a" * (MIB + 1))
        assert response.status_code == 413
        assert response.json() == {"detail": "request body too large"}
