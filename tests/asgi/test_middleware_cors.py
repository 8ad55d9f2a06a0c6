"""CORSMiddleware: simple and preflight requests, origins by list, "*" and regex, credentials,
exposed headers and Vary."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from ferry.asgi.middleware.cors import CORSMiddleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse
from ferry.asgi.testing import TestClient
from ferry.asgi.types import Message, Receive, Scope, Send

ORIGIN = "https://example.org"


async def homepage(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response = PlainTextResponse(f"{request.method} reached the app", headers={"x-app": "1"})
    await response(scope, receive, send)


def client_for(**options: Any) -> TestClient:
    return TestClient(CORSMiddleware(homepage, **options))


def preflight(
    client: TestClient, origin: str = ORIGIN, method: str = "GET", **headers: str
) -> httpx.Response:
    request_headers = {"origin": origin, "access-control-request-method": method}
    request_headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return client.options("/", headers=request_headers)


# --- requests the middleware leaves alone ----------------------------------------------------


def test_request_without_origin_passes_untouched() -> None:
    response = client_for(allow_origins=["*"]).get("/")
    assert response.text == "GET reached the app"
    assert not [name for name in response.headers if name.startswith("access-control-")]
    assert "vary" not in response.headers


def test_options_without_request_method_is_not_a_preflight() -> None:
    response = client_for(allow_origins=[ORIGIN]).options("/", headers={"origin": ORIGIN})
    assert response.text == "OPTIONS reached the app"
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_lifespan_scope_passes_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    anyio.run(CORSMiddleware(app, allow_origins=["*"]), {"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]


# --- simple requests ------------------------------------------------------------------------


def test_simple_request_from_listed_origin_echoes_it_with_vary() -> None:
    response = client_for(allow_origins=[ORIGIN]).get("/", headers={"origin": ORIGIN})
    assert response.text == "GET reached the app"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"
    assert response.headers["x-app"] == "1"


def test_simple_request_with_any_origin_gets_star_and_no_vary() -> None:
    response = client_for(allow_origins=["*"]).get("/", headers={"origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "vary" not in response.headers


def test_simple_request_from_unlisted_origin_gets_no_allow_origin_but_vary() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_credentials=True, expose_headers=["x-app"])
    response = client.get("/", headers={"origin": "https://evil.example"})
    assert response.text == "GET reached the app"
    assert not [name for name in response.headers if name.startswith("access-control-")]
    # A cache must not give this answer to a request from the listed origin.
    assert response.headers["vary"] == "Origin"


def test_any_origin_with_credentials_echoes_the_origin_never_star() -> None:
    client = client_for(allow_origins=["*"], allow_credentials=True)
    response = client.get("/", headers={"origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


def test_exposed_headers_are_listed() -> None:
    client = client_for(allow_origins=[ORIGIN], expose_headers=["x-app", "x-total"])
    response = client.get("/", headers={"origin": ORIGIN})
    assert response.headers["access-control-expose-headers"] == "x-app, x-total"
    assert "access-control-allow-credentials" not in response.headers


def test_vary_is_added_to_the_apps_own_vary() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("hi", headers={"vary": "Accept-Encoding"})(scope, receive, send)

    client = TestClient(CORSMiddleware(app, allow_origins=[ORIGIN]))
    response = client.get("/", headers={"origin": ORIGIN})
    assert response.headers["vary"] == "Accept-Encoding, Origin"


def test_a_reused_response_object_does_not_keep_an_earlier_origin() -> None:
    shared = PlainTextResponse("shared")
    client = TestClient(CORSMiddleware(shared, allow_origins=[ORIGIN, "https://b.example"]))
    first = client.get("/", headers={"origin": ORIGIN})
    second = client.get("/", headers={"origin": "https://b.example"})
    third = client.get("/", headers={"origin": "https://evil.example"})
    assert first.headers["access-control-allow-origin"] == ORIGIN
    assert second.headers["access-control-allow-origin"] == "https://b.example"
    assert "access-control-allow-origin" not in third.headers
    assert second.headers.get_list("vary") == ["Origin"]


# --- origin regex ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.org", True),
        ("https://api.example.org", True),
        ("https://app.example.org.evil.com", False),
        ("http://app.example.org", False),
        ("https://example.org", False),
    ],
)
def test_origin_regex_must_match_the_whole_origin(origin: str, allowed: bool) -> None:
    client = client_for(allow_origin_regex=r"https://[a-z]+\.example\.org")
    response = client.get("/", headers={"origin": origin})
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed
    assert preflight(client, origin=origin).status_code == (200 if allowed else 400)


# --- preflight ------------------------------------------------------------------------------


def test_allowed_preflight_gets_200_with_methods_headers_and_max_age() -> None:
    client = client_for(
        allow_origins=[ORIGIN], allow_methods=["GET", "POST"], allow_headers=["X-Token"]
    )
    response = preflight(client, method="POST", access_control_request_headers="X-Token")
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    allowed_headers = response.headers["access-control-allow-headers"]
    assert allowed_headers == "accept, accept-language, content-language, content-type, x-token"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_never_reaches_the_app() -> None:
    response = preflight(client_for(allow_origins=["*"]))
    assert response.text == "OK"
    assert "x-app" not in response.headers


def test_preflight_with_any_origin_gets_star() -> None:
    response = preflight(client_for(allow_origins=["*"], max_age=60))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-max-age"] == "60"
    assert "vary" not in response.headers


def test_preflight_from_unlisted_origin_gets_400() -> None:
    response = preflight(client_for(allow_origins=[ORIGIN]), origin="https://evil.example")
    assert response.status_code == 400
    assert response.text == "Disallowed CORS origin"
    assert "access-control-allow-origin" not in response.headers


def test_preflight_for_unlisted_method_gets_400() -> None:
    response = preflight(client_for(allow_origins=[ORIGIN]), method="DELETE")
    assert response.status_code == 400
    assert response.text == "Disallowed CORS method"


def test_preflight_for_unlisted_header_gets_400() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_headers=["x-token"])
    response = preflight(client, access_control_request_headers="x-token, x-other")
    assert response.status_code == 400
    assert response.text == "Disallowed CORS headers"


def test_preflight_lists_every_failure() -> None:
    client = client_for(allow_origins=[ORIGIN])
    response = preflight(
        client, origin="https://evil.example", method="PUT", access_control_request_headers="x-a"
    )
    assert response.status_code == 400
    assert response.text == "Disallowed CORS origin, method, headers"


def test_preflight_may_name_safelisted_headers_without_them_being_allowed() -> None:
    client = client_for(allow_origins=[ORIGIN])
    response = preflight(client, access_control_request_headers="Content-Type, Accept")
    assert response.status_code == 200


def test_preflight_header_names_are_case_insensitive() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_headers=["X-Token"])
    response = preflight(client, access_control_request_headers="x-TOKEN")
    assert response.status_code == 200


def test_any_header_allowed_names_the_requested_headers_back() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_headers=["*"])
    response = preflight(client, access_control_request_headers="authorization, x-anything")
    assert response.status_code == 200
    assert response.headers["access-control-allow-headers"] == "authorization, x-anything"


def test_any_header_allowed_sends_no_allow_headers_when_none_are_asked_for() -> None:
    response = preflight(client_for(allow_origins=[ORIGIN], allow_headers=["*"]))
    assert response.status_code == 200
    assert "access-control-allow-headers" not in response.headers


def test_any_method_allowed_allows_the_common_methods() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_methods=["*"])
    for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"):
        assert preflight(client, method=method).status_code == 200
    allowed = preflight(client).headers["access-control-allow-methods"]
    assert allowed == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_preflight_with_credentials_and_any_origin_echoes_the_origin() -> None:
    response = preflight(client_for(allow_origins=["*"], allow_credentials=True))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


def test_private_network_preflight_is_allowed_when_configured() -> None:
    client = client_for(allow_origins=[ORIGIN], allow_private_network=True)
    response = preflight(client, access_control_request_private_network="true")
    assert response.status_code == 200
    assert response.headers["access-control-allow-private-network"] == "true"


def test_private_network_preflight_is_refused_by_default() -> None:
    response = preflight(
        client_for(allow_origins=[ORIGIN]), access_control_request_private_network="true"
    )
    assert response.status_code == 400
    assert response.text == "Disallowed CORS private-network"
    assert "access-control-allow-private-network" not in response.headers
