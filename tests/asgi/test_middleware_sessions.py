"""SessionMiddleware: a session set, read, changed and cleared through its signed cookie;
forged, tampered and expired cookies; the cookie's attributes."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest

from ferry.asgi.middleware import sessions
from ferry.asgi.middleware.sessions import SessionMiddleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse
from ferry.asgi.testing import TestClient
from ferry.asgi.types import Message, Receive, Scope, Send

SECRET = "correct horse battery staple"
NOW = 1_700_000_000.0


async def session_app(scope: Scope, receive: Receive, send: Send) -> None:
    """GET shows the session; POST merges the JSON body into it; DELETE clears it."""
    request = Request(scope, receive)
    if request.method == "POST":
        request.session.update(await request.json())
    elif request.method == "DELETE":
        request.session.clear()
    await JSONResponse(request.session)(scope, receive, send)


def client_for(base_url: str = "http://testserver", **options: Any) -> TestClient:
    return TestClient(SessionMiddleware(session_app, SECRET, **options), base_url=base_url)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time the middleware sees: change `clock[0]` to move it."""
    now = [NOW]
    monkeypatch.setattr(sessions, "time", lambda: now[0])
    return now


def signed_cookie(session: dict[str, Any], secret: str = SECRET) -> str:
    return SessionMiddleware(session_app, secret).sign_session(session)


# --- the session's life ----------------------------------------------------------------------


def test_new_client_has_an_empty_session_and_gets_no_cookie() -> None:
    response = client_for().get("/")
    assert response.json() == {}
    assert "set-cookie" not in response.headers


def test_session_set_in_one_request_is_read_in_the_next() -> None:
    client = client_for()
    client.post("/", json={"user": "ada"})
    assert client.get("/").json() == {"user": "ada"}


def test_session_changed_later_keeps_both_values() -> None:
    client = client_for()
    client.post("/", json={"user": "ada"})
    client.post("/", json={"theme": "dark"})
    assert client.get("/").json() == {"user": "ada", "theme": "dark"}


def test_cleared_session_expires_the_cookie() -> None:
    client = client_for()
    client.post("/", json={"user": "ada"})
    response = client.delete("/")
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("session=null; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970")
    assert "session" not in client.cookies
    assert client.get("/").json() == {}


def test_non_empty_session_cookie_is_set_again_on_every_response(clock: list[float]) -> None:
    client = client_for()
    client.post("/", json={"user": "ada"})
    first = client.cookies["session"]
    clock[0] += 60
    response = client.get("/")
    assert "set-cookie" in response.headers
    # A new timestamp: the session's age restarts from its last response.
    assert client.cookies["session"] != first


def test_session_is_in_the_scope_for_websockets() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["session"])

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    cookie = f"session={signed_cookie({'user': 'ada'})}".encode()
    scope: Scope = {"type": "websocket", "path": "/", "headers": [(b"cookie", cookie)]}
    anyio.run(SessionMiddleware(app, SECRET), scope, receive, send)
    assert seen == [{"user": "ada"}]


def test_lifespan_scope_passes_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    scope: Scope = {"type": "lifespan"}
    anyio.run(SessionMiddleware(app, SECRET), scope, receive, send)
    assert seen == ["lifespan"]
    assert "session" not in scope


# --- cookies the middleware refuses ----------------------------------------------------------


def test_tampered_payload_gives_an_empty_session() -> None:
    _, timestamp, signature = signed_cookie({"user": "ada"}).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"user": "root"}).encode()).rstrip(b"=")
    cookie = f"{forged.decode()}.{timestamp}.{signature}"
    response = client_for().get("/", headers={"cookie": f"session={cookie}"})
    assert response.json() == {}


def test_tampered_timestamp_gives_an_empty_session() -> None:
    payload, timestamp, signature = signed_cookie({"user": "ada"}).split(".")
    cookie = f"{payload}.{int(timestamp) + 1}.{signature}"
    response = client_for().get("/", headers={"cookie": f"session={cookie}"})
    assert response.json() == {}


def test_cookie_signed_with_another_secret_gives_an_empty_session() -> None:
    cookie = signed_cookie({"user": "ada"}, secret="another secret")
    response = client_for().get("/", headers={"cookie": f"session={cookie}"})
    assert response.json() == {}
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "cookie", ["", "null", "a.b", "a.b.c", "..", "é.1.x", "e30.x.y", "e30..", "W10.1.sig"]
)
def test_malformed_cookie_gives_an_empty_session(cookie: str) -> None:
    response = client_for().get("/", headers={b"cookie": f"session={cookie}".encode()})
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.parametrize(
    "signed",
    [
        b"W10." + str(int(NOW)).encode(),  # W10 is base64 for "[]": not an object
        b"!!!." + str(int(NOW)).encode(),  # no base64 JSON at all
        b"e30.soon",  # e30 is base64 for "{}"; the timestamp is not a number
        b"." + str(int(NOW)).encode(),  # no payload
    ],
)
def test_validly_signed_junk_gives_no_session(signed: bytes, clock: list[float]) -> None:
    # Only a leaked secret could make these; even then they give no session.
    middleware = SessionMiddleware(session_app, SECRET)
    cookie = (signed + b"." + middleware.signature(signed)).decode()
    assert middleware.load_session(cookie) is None


def test_cookie_older_than_max_age_gives_an_empty_session(clock: list[float]) -> None:
    client = client_for(max_age=100)
    client.post("/", json={"user": "ada"})
    clock[0] += 101
    assert client.get("/").json() == {}


def test_cookie_within_max_age_is_read(clock: list[float]) -> None:
    client = client_for(max_age=100)
    client.post("/", json={"user": "ada"})
    clock[0] += 100
    assert client.get("/").json() == {"user": "ada"}


def test_without_max_age_a_cookie_never_expires(clock: list[float]) -> None:
    client = client_for(max_age=None)
    response = client.post("/", json={"user": "ada"})
    assert "max-age" not in response.headers["set-cookie"].lower()
    clock[0] += 10 * 365 * 24 * 3600
    assert client.get("/").json() == {"user": "ada"}


# --- the cookie ------------------------------------------------------------------------------


def test_cookie_attributes_by_default(clock: list[float]) -> None:
    response = client_for().post("/", json={"user": "ada"})
    name_value, *attributes = response.headers["set-cookie"].split("; ")
    assert name_value == f"session={signed_cookie({'user': 'ada'})}"
    assert attributes == ["Path=/", "Max-Age=1209600", "HttpOnly", "SameSite=lax"]


def test_cookie_attributes_as_configured() -> None:
    client = client_for(
        base_url="https://testserver",
        session_cookie="sid",
        max_age=60,
        path="/app",
        same_site="strict",
        https_only=True,
        domain="testserver.local",
    )
    response = client.post("/app", json={"user": "ada"})
    _, *attributes = response.headers["set-cookie"].split("; ")
    assert response.headers["set-cookie"].startswith("sid=")
    assert attributes == [
        "Path=/app",
        "Max-Age=60",
        "HttpOnly",
        "SameSite=strict",
        "Secure",
        "Domain=testserver.local",
    ]


def test_secure_cookie_comes_back_over_https() -> None:
    client = client_for(base_url="https://testserver", https_only=True)
    client.post("/", json={"user": "ada"})
    assert client.get("/").json() == {"user": "ada"}


def test_the_cookie_can_be_read_but_not_changed() -> None:
    # Signed, not encrypted: the payload is plain base64 JSON.
    payload = signed_cookie({"user": "ada"}).split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {
        "user": "ada"
    }


# --- configuration ---------------------------------------------------------------------------


def test_empty_secret_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="secret_key"):
        SessionMiddleware(session_app, "")


def test_bytes_secret_signs_like_the_same_str() -> None:
    by_str = SessionMiddleware(session_app, "s3cret")
    by_bytes = SessionMiddleware(session_app, b"s3cret")
    assert by_str.signature(b"x") == by_bytes.signature(b"x")


def test_unknown_same_site_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="same_site"):
        SessionMiddleware(session_app, SECRET, same_site="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"session_cookie": "a;b"},
        {"session_cookie": "a=b"},
        {"session_cookie": ""},
        {"path": "/; Domain=evil.test"},
        {"domain": "x\r\nSet-Cookie: evil"},
    ],
)
def test_cookie_breaking_options_fail_at_start_up(options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"session_cookie|path"):
        SessionMiddleware(session_app, SECRET, **options)  # type: ignore[arg-type]
