"""Testing over a real socket without the fixture: `run_in_thread` as a context manager."""

from __future__ import annotations

import httpx

from ferry.server.testing import run_in_thread


def test_first_app_over_http() -> None:
    # An import string works as well as an app object; the options are Config's fields.
    with run_in_thread("docs.examples.first_app:app", timeout_keep_alive_s=1) as base_url:
        response = httpx.get(base_url + "/hello/ada")
    assert response.status_code == 200
    assert response.headers["server"] == "ferry"
    assert response.json() == {"hello": "ada"}
