"""The pytest plugin of ferry-server: a `live_server` fixture for integration tests.

Installed with the distribution (entry point `pytest11`). Define an `asgi_app` fixture that
returns your app; `live_server` serves it on a free port and yields the base URL:

    @pytest.fixture
    def asgi_app():
        return app

    def test_home(live_server):
        assert httpx.get(live_server + "/").status_code == 200
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferry.server.testing import run_in_thread
from ferry.server.types import ASGIApplication


@pytest.fixture
def live_server(asgi_app: ASGIApplication) -> Iterator[str]:
    """The base URL of a real server running the app from your `asgi_app` fixture."""
    with run_in_thread(asgi_app) as url:
        yield url
