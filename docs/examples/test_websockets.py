"""The WebSocket example client against the users API under a real `ferry serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apps.test_scale_out import ferry_serve

from docs.examples import ws_client

pytestmark = pytest.mark.slow


def _register(url: str, *names: str) -> None:
    for name in names:
        response = httpx.post(url + "/users", json={"username": name, "password": "long enough"})
        assert response.status_code == 201


def test_the_example_client_echoes_and_watches_user_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def session(url: str) -> tuple[str, list[dict[str, Any]]]:
        echoed = await ws_client.echo(url, "hello")
        client = await ws_client.connect(url, "/ws/events")
        await asyncio.to_thread(_register, url, "ada", "bob")
        return echoed, await ws_client.watch_users(client, count=2)

    with ferry_serve(f"sqlite:///{tmp_path}/users.db") as url:
        echoed, events = asyncio.run(session(url))
    assert echoed == "hello"
    assert [(event["event"], event["user"]["username"]) for event in events] == [
        ("user.created", "ada"),
        ("user.created", "bob"),
    ]
    assert capsys.readouterr().out.splitlines() == ["user.created ada", "user.created bob"]


def test_a_path_without_a_websocket_is_refused_with_its_status(tmp_path: Path) -> None:
    with (
        ferry_serve(f"sqlite:///{tmp_path}/users.db") as url,
        pytest.raises(ws_client.WebSocketClosed) as refused,
    ):
        asyncio.run(ws_client.connect(url, "/ws/nowhere"))
    assert refused.value.code == 403
