"""The live-updates endpoints of the users API: /ws/echo and /ws/events.

Through the TestClient on SQLite (the events do not depend on the database), and once over a
real socket; the example client in docs/examples/ws_client.py runs against `ferry serve` in
docs/examples/test_websockets.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.apps.conftest import PASSWORD, bearer
from tests.integration.ws_helpers import TextMessage, ws_connect

from ferry.asgi.testing import TestClient
from users_api.events import EventHub
from users_api.live import TRY_AGAIN_LATER, _relay


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is tested here is the same on both databases."""
    return f"sqlite:///{tmp_path}/users.db"


def test_echo_sends_text_and_bytes_back(client: TestClient) -> None:
    with client.websocket_connect("/ws/echo") as ws:
        ws.send_text("héllo")
        assert ws.receive_text() == "héllo"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"


def test_created_updated_and_deleted_users_are_announced(client: TestClient) -> None:
    with client.websocket_connect("/ws/events") as ws:
        created = client.post("/users", json={"username": "ada", "password": PASSWORD})
        assert created.status_code == 201
        assert ws.receive_json() == {"event": "user.created", "user": created.json()}
        token = client.post("/auth/token", data={"username": "ada", "password": PASSWORD})
        auth = bearer(token.json()["access_token"])
        updated = client.patch("/users/me", json={"display_name": "Ada L."}, headers=auth)
        assert updated.status_code == 200
        assert ws.receive_json() == {"event": "user.updated", "user": updated.json()}
        assert client.delete("/users/me", headers=auth).status_code == 204
        assert ws.receive_json() == {"event": "user.deleted", "user": {"username": "ada"}}


def test_refused_changes_announce_nothing_and_no_event_carries_a_secret(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/events") as ws:
        assert (
            client.post("/users", json={"username": "bob", "password": "short"}).status_code == 422
        )
        client.post("/users", json={"username": "bob", "password": PASSWORD})
        assert (
            client.post("/users", json={"username": "bob", "password": PASSWORD}).status_code == 409
        )
        token = client.post("/auth/token", data={"username": "bob", "password": PASSWORD})
        auth = bearer(token.json()["access_token"])
        changed = client.patch("/users/me", json={"password": "another password"}, headers=auth)
        assert changed.status_code == 200
        first, second = ws.receive_text(), ws.receive_text()
        ws.send_text("anything")  # a listener's own messages are ignored
        assert client.delete("/users/bob").status_code == 405
        client.post("/users", json={"username": "cyd", "password": PASSWORD})
        third = ws.receive_text()
    events = [json.loads(text) for text in (first, second, third)]
    assert [event["event"] for event in events] == ["user.created", "user.updated", "user.created"]
    assert [event["user"]["username"] for event in events] == ["bob", "bob", "cyd"]
    for text in (first, second, third):
        for secret in (PASSWORD, "another password", "scrypt"):
            assert secret not in text
    assert set(events[0]["user"]) == {"username", "display_name", "created_at"}


def test_every_listener_hears_every_event(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws/events") as one,
        client.websocket_connect("/ws/events") as two,
    ):
        client.post("/users", json={"username": "eve", "password": PASSWORD})
        assert one.receive_json()["user"]["username"] == "eve"
        assert two.receive_json()["user"]["username"] == "eve"
    # Both have left: a later change has nobody to tell, and nothing breaks.
    assert client.post("/users", json={"username": "fay", "password": PASSWORD}).status_code == 201


# --- the hub and the relay, without a client ---------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(events=st.lists(st.integers(), max_size=20), max_queued=st.integers(1, 8))
def test_a_listener_gets_events_in_order_until_its_queue_overflows(
    events: list[int], max_queued: int
) -> None:
    hub = EventHub(max_queued=max_queued)
    with hub.subscribe() as subscription:
        for n in events:
            hub.publish({"n": n})
        assert subscription.overflowed is (len(events) > max_queued)
        assert hub.listeners == (0 if subscription.overflowed else 1)
        received = []
        while True:
            try:
                received.append(subscription.events.receive_nowait()["n"])
            except (anyio.WouldBlock, anyio.EndOfStream):  # still subscribed / dropped
                break
    assert received == events[:max_queued]
    assert hub.listeners == 0


class _RecordingWebSocket:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed: tuple[int, str | None] | None = None

    async def send_json(self, data: Any) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def test_a_listener_too_far_behind_gets_what_was_queued_then_1013() -> None:
    async def main() -> _RecordingWebSocket:
        hub = EventHub(max_queued=2)
        websocket = _RecordingWebSocket()
        with hub.subscribe() as subscription, anyio.CancelScope() as scope:
            for n in range(3):
                hub.publish({"n": n})
            await _relay(websocket, subscription, scope)  # type: ignore[arg-type]
        return websocket

    websocket = asyncio.run(main())
    assert websocket.sent == [{"n": 0}, {"n": 1}]
    assert websocket.closed == (TRY_AGAIN_LATER, "too far behind")


# --- over a real socket ------------------------------------------------------------------------


def test_events_reach_a_listener_over_a_real_socket(live_server: str) -> None:
    with (
        ws_connect(live_server, "/ws/events") as listener,
        ws_connect(live_server, "/ws/echo") as echo,
    ):
        echo.send(TextMessage(data="ping"))
        assert echo.receive_message() == "ping"
        created = httpx.post(live_server + "/users", json={"username": "gus", "password": PASSWORD})
        assert created.status_code == 201
        event = json.loads(listener.receive_message())
        assert event == {"event": "user.created", "user": created.json()}
