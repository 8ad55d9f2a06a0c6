"""TrustedHostMiddleware: exact hosts, `*.` wildcards, the www redirect, bad Host headers."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from ferry.asgi.middleware.trusted_host import TrustedHostMiddleware, split_host
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send


async def homepage(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    await PlainTextResponse(f"hello {request.url}")(scope, receive, send)


def client_for(
    allowed_hosts: Sequence[str] | None, base_url: str = "http://testserver", **options: bool
) -> TestClient:
    app = TrustedHostMiddleware(homepage, allowed_hosts, **options)
    return TestClient(app, base_url=base_url, follow_redirects=False)


def call(app: ASGIApp, scope: Scope) -> list[Message]:
    """Call `app` directly; return the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent


def test_any_host_is_allowed_by_default() -> None:
    response = TestClient(TrustedHostMiddleware(homepage)).get("/", headers={"host": "evil.test"})
    assert response.status_code == 200


def test_none_allows_any_host() -> None:
    response = client_for(None).get("/", headers={"host": "evil.test"})
    assert response.status_code == 200


def test_listed_host_reaches_the_app() -> None:
    response = client_for(["example.com"], base_url="http://example.com").get("/a")
    assert response.status_code == 200
    assert response.text == "hello http://example.com/a"


def test_unlisted_host_gets_400() -> None:
    response = client_for(["example.com"]).get("/", headers={"host": "evil.test"})
    assert response.status_code == 400
    assert response.text == "Invalid host header"


def test_missing_host_gets_400() -> None:
    app = TrustedHostMiddleware(homepage, ["example.com"])
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    start = call(app, scope)[0]
    assert start["status"] == 400


def test_host_port_is_ignored() -> None:
    response = client_for(["example.com"]).get("/", headers={"host": "example.com:8443"})
    assert response.status_code == 200


def test_host_is_compared_case_insensitively() -> None:
    response = client_for(["Example.COM"]).get("/", headers={"host": "EXAMPLE.com"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("host", "status_code"),
    [
        ("api.example.com", 200),
        ("a.b.example.com", 200),
        ("example.com", 400),
        ("evilexample.com", 400),
        ("example.com.evil.test", 400),
    ],
)
def test_wildcard_matches_subdomains_only(host: str, status_code: int) -> None:
    response = client_for(["*.example.com"]).get("/", headers={"host": host})
    assert response.status_code == status_code


@pytest.mark.parametrize("host", ["example.com:abc", "example.com:80:80", "example.com/x", ""])
def test_malformed_host_header_gets_400(host: str) -> None:
    response = client_for(["example.com"]).get("/", headers={"host": host})
    assert response.status_code == 400


def test_ipv6_host_with_port() -> None:
    assert split_host("[::1]:8000") == ("[::1]", "8000")
    response = client_for(["[::1]"]).get("/", headers={"host": "[::1]:8000"})
    assert response.status_code == 200


def test_bare_domain_redirects_to_www_keeping_path_and_query() -> None:
    client = client_for(["www.example.com"], base_url="https://example.com")
    response = client.get("/a/b?x=1")
    assert response.status_code == 307
    assert response.headers["location"] == "https://www.example.com/a/b?x=1"


def test_www_redirect_keeps_the_port() -> None:
    response = client_for(["www.example.com"]).get("/", headers={"host": "example.com:8000"})
    assert response.headers["location"] == "http://www.example.com:8000/"


def test_www_redirect_can_be_turned_off() -> None:
    client = client_for(["www.example.com"], base_url="http://example.com", www_redirect=False)
    response = client.get("/")
    assert response.status_code == 400


@pytest.mark.parametrize("pattern", ["*example.com", "example.*", "*.*.example.com", "**"])
def test_bad_wildcard_fails_at_start_up(pattern: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        TrustedHostMiddleware(homepage, [pattern])


def test_one_string_instead_of_a_list_fails_at_start_up() -> None:
    with pytest.raises(TypeError, match="allowed_hosts"):
        TrustedHostMiddleware(homepage, "example.com")


def test_websocket_with_unlisted_host_is_closed() -> None:
    app = TrustedHostMiddleware(homepage, ["example.com"])
    scope: Scope = {"type": "websocket", "path": "/", "headers": [(b"host", b"evil.test")]}
    assert call(app, scope) == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_websocket_with_listed_host_reaches_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    scope: Scope = {"type": "websocket", "path": "/", "headers": [(b"host", b"example.com")]}
    assert call(TrustedHostMiddleware(app, ["example.com"]), scope) == []
    assert seen == ["websocket"]


def test_lifespan_scope_passes_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    assert call(TrustedHostMiddleware(app, ["example.com"]), {"type": "lifespan"}) == []
    assert seen == ["lifespan"]
