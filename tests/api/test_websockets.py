"""Typed websocket routes: parameters, dependencies, 1008 on invalid input."""

from typing import Annotated

import pytest

from ferry.api import APIRouter, App, Depends, Query, WebSocket, WebSocketDisconnect
from ferry.asgi.testing import TestClient


def test_typed_websocket_gets_path_and_query_parameters() -> None:
    app = App()

    @app.websocket("/rooms/{room_id}")
    async def room(websocket: WebSocket, room_id: int, nick: str = "anon") -> None:
        await websocket.accept()
        await websocket.send_json({"room": room_id, "nick": nick})
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/rooms/7?nick=ada") as ws:
        assert ws.receive_json() == {"room": 7, "nick": "ada"}


def test_invalid_websocket_parameters_close_with_1008() -> None:
    app = App()
    called: list[int] = []

    @app.websocket("/rooms/{room_id}")
    async def room(
        websocket: WebSocket, room_id: int, limit: Annotated[int, Query(ge=1)] = 1
    ) -> None:
        called.append(room_id)
        await websocket.accept()

    with TestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/rooms/x"):
            pass
        assert refused.value.code == 1008
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/rooms/1?limit=0"),
        ):
            pass
        assert refused.value.code == 1008
    assert called == []


def test_websocket_dependencies_and_routers() -> None:
    app = App()
    router = APIRouter(prefix="/chat")

    def user(token: str) -> str:
        return f"user-{token}"

    @router.websocket("/echo")
    async def echo(websocket: WebSocket, who: Annotated[str, Depends(user)]) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"{who}: {text}")

    app.include_router(router)
    with TestClient(app) as client, client.websocket_connect("/chat/echo?token=t1") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "user-t1: hello"
