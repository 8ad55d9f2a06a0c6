"""HTTPSRedirectMiddleware: http to https and ws to wss, with 307 and default ports dropped."""

from __future__ import annotations

import anyio
import pytest

from ferry.asgi.middleware.httpsredirect import HTTPSRedirectMiddleware
from ferry.asgi.responses import PlainTextResponse
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send


async def homepage(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("secure")(scope, receive, send)


def client_for(base_url: str) -> TestClient:
    return TestClient(HTTPSRedirectMiddleware(homepage), base_url=base_url, follow_redirects=False)


def call(app: ASGIApp, scope: Scope) -> list[Message]:
    """Call `app` directly; return the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent


def websocket_scope(**extra: object) -> Scope:
    return {
        "type": "websocket",
        "scheme": "ws",
        "path": "/chat",
        "query_string": b"room=1",
        "headers": [(b"host", b"example.com:80")],
        **extra,
    }


def test_https_request_reaches_the_app() -> None:
    response = client_for("https://testserver").get("/")
    assert response.status_code == 200
    assert response.text == "secure"


def test_http_request_is_redirected_with_307_keeping_path_and_query() -> None:
    response = client_for("http://testserver").post("/a/b?x=1&y=2")
    assert response.status_code == 307
    assert response.headers["location"] == "https://testserver/a/b?x=1&y=2"


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("example.com:80", "https://example.com/"),
        ("example.com:443", "https://example.com/"),
        ("example.com:8080", "https://example.com:8080/"),
        ("[::1]:80", "https://[::1]/"),
        ("[::1]", "https://[::1]/"),
    ],
)
def test_default_ports_are_dropped(host: str, location: str) -> None:
    response = client_for("http://testserver").get("/", headers={"host": host})
    assert response.headers["location"] == location


def test_redirected_client_gets_the_app() -> None:
    client = TestClient(HTTPSRedirectMiddleware(homepage), base_url="http://testserver")
    response = client.get("/page")
    assert response.status_code == 200
    assert response.url == "https://testserver/page"


def test_websocket_is_redirected_to_wss_where_the_server_allows_denial_responses() -> None:
    scope = websocket_scope(extensions={"websocket.http.response": {}})
    start, body = call(HTTPSRedirectMiddleware(homepage), scope)
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 307
    assert (b"location", b"wss://example.com/chat?room=1") in start["headers"]
    assert body == {"type": "websocket.http.response.body", "body": b""}


def test_websocket_is_closed_where_the_server_cannot_redirect_it() -> None:
    sent = call(HTTPSRedirectMiddleware(homepage), websocket_scope())
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_wss_websocket_reaches_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["scheme"])

    assert call(HTTPSRedirectMiddleware(app), websocket_scope(scheme="wss")) == []
    assert seen == ["wss"]


def test_lifespan_scope_passes_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    assert call(HTTPSRedirectMiddleware(app), {"type": "lifespan"}) == []
    assert seen == ["lifespan"]
