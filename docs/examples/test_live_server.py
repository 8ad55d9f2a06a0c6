"""Testing an app against a real server with the `live_server` fixture of ferry-server."""

from __future__ import annotations

import httpx
import pytest

from docs.examples.hello import app
from ferry.server.types import ASGIApplication


@pytest.fixture
def asgi_app() -> ASGIApplication:
    """The app that `live_server` serves."""
    return app


def test_hello_over_a_real_socket(live_server: str) -> None:
    response = httpx.get(live_server + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
