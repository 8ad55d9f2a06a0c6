"""TestClient and ASGITransport: lifespan, errors, streaming both ways, cookies, URLs and
headers, and the disconnect an app sees when the client stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from ferry.asgi.app import App
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse, Response
from ferry.asgi.routing import Route
from ferry.asgi.testing import ASGITransport, TestClient
from ferry.asgi.types import ASGIApp, Receive, Scope, Send


@pytest.fixture(params=[True, False], ids=["inside-with", "without-with"])
def entered(request: pytest.FixtureRequest) -> bool:
    """Whether the client is used inside `with` (lifespan, one event loop) or without."""
    return bool(request.param)


@contextlib.contextmanager
def open_client(app: ASGIApp, entered: bool, **options: Any) -> Iterator[TestClient]:
    client = TestClient(app, **options)
    if entered:
        with client:
            yield client
    else:
        yield client


def enter(client: TestClient) -> None:
    """Enter and leave `with client` (the lifespan's start-up, then its shutdown)."""
    with client:
        pass


def lifespan_app(events: list[str]) -> App:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"database": "connected"}
        events.append("shutdown")

    async def home(request: Request) -> Response:
        events.append("request")
        return PlainTextResponse(getattr(request.state, "database", "no lifespan state"))

    return App(routes=[Route("/", home)], lifespan=lifespan)


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers with the parts of its scope and request a test wants to see."""
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    response = JSONResponse(
        {
            "url": str(request.url),
            "scheme": scope["scheme"],
            "server": list(scope["server"]),
            "client": list(scope["client"]),
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "spec_version": scope["asgi"]["spec_version"],
            "headers": dict(request.headers),
        }
    )
    await response(scope, receive, send)


async def read_body(receive: Receive, events: list[str] | None = None) -> list[bytes]:
    """Every non-empty body piece until the last, each noted in `events` as "got <piece>"."""
    pieces: list[bytes] = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        piece = message.get("body", b"")
        if piece:
            pieces.append(piece)
            if events is not None:
                events.append("got " + piece.decode())
        if not message.get("more_body", False):
            return pieces


# --- lifespan -------------------------------------------------------------------------------------


def test_with_runs_lifespan_startup_on_entry_and_shutdown_on_exit() -> None:
    events: list[str] = []
    with TestClient(lifespan_app(events)) as client:
        assert events == ["startup"]
        client.get("/")
        assert events == ["startup", "request"]
    assert events == ["startup", "request", "shutdown"]


def test_lifespan_state_reaches_requests() -> None:
    with TestClient(lifespan_app([])) as client:
        assert client.get("/").text == "connected"
        assert client.app_state == {"database": "connected"}


async def returns_on_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await PlainTextResponse("served")(scope, receive, send)


async def raises_on_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http", "this app only speaks http"
    await PlainTextResponse("served")(scope, receive, send)


@pytest.mark.parametrize("app", [returns_on_lifespan, raises_on_lifespan])
def test_app_without_lifespan_support_is_tolerated(app: ASGIApp) -> None:
    with TestClient(app) as client:
        assert client.get("/").text == "served"


def test_lifespan_startup_failure_raises_on_entry() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        raise ConnectionError("database is down")
        yield

    with pytest.raises(RuntimeError, match="ConnectionError: database is down"):
        enter(TestClient(App(lifespan=lifespan)))


def test_lifespan_shutdown_failure_raises_on_exit() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        yield
        raise ConnectionError("could not flush")

    with pytest.raises(RuntimeError, match="could not flush"):
        enter(TestClient(App(lifespan=lifespan)))


def test_requests_without_with_work_and_run_no_lifespan() -> None:
    events: list[str] = []
    client = TestClient(lifespan_app(events))
    assert client.get("/").text == "no lifespan state"
    assert client.get("/").text == "no lifespan state"
    assert events == ["request", "request"]


# --- exceptions from the app ----------------------------------------------------------------------


async def raw_failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        raise LookupError("the app failed")


async def fail(request: Request) -> Response:
    raise LookupError("the app failed")


failing_apps = pytest.mark.parametrize(
    "app", [raw_failing_app, App(routes=[Route("/", fail)])], ids=["raw", "App"]
)


@failing_apps
def test_app_exception_is_raised_in_the_test_by_default(app: ASGIApp, entered: bool) -> None:
    with open_client(app, entered) as client, pytest.raises(LookupError, match="app failed"):
        client.get("/")


@failing_apps
def test_app_exception_gives_a_500_when_not_raised(app: ASGIApp, entered: bool) -> None:
    with open_client(app, entered, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"


async def fails_after_starting(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise LookupError("failed halfway")


def test_app_exception_after_the_response_started_is_raised_too(entered: bool) -> None:
    with (
        open_client(fails_after_starting, entered) as client,
        pytest.raises(LookupError, match="halfway"),
    ):
        client.get("/")


def test_app_exception_after_the_response_started_leaves_the_partial_body(
    entered: bool,
) -> None:
    with open_client(fails_after_starting, entered, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert (response.status_code, response.content) == (200, b"partial")


def test_app_that_returns_without_a_response_is_an_error() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    with pytest.raises(RuntimeError, match="without starting a response"):
        TestClient(silent).get("/")


# --- streaming both ways (sync client) ------------------------------------------------------------


def test_request_body_from_a_generator_reaches_the_app_in_pieces(entered: bool) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive, events)
        await PlainTextResponse("done")(scope, receive, send)

    def upload() -> Iterator[bytes]:
        for piece in (b"a", b"b", b"c"):
            events.append("made " + piece.decode())
            yield piece

    with open_client(app, entered) as client:
        assert client.post("/", content=upload()).text == "done"
    assert events == ["made a", "got a", "made b", "got b", "made c", "got c"]


def test_response_streams_out_while_the_app_still_runs() -> None:
    release = threading.Event()
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        assert await anyio.to_thread.run_sync(release.wait, 5), "the test never released it"
        await send({"type": "http.response.body", "body": b"second"})
        finished.set()

    with TestClient(app) as client, client.stream("GET", "/") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        assert not finished.is_set()
        release.set()
        assert list(chunks) == [b"second"]
    assert finished.is_set()


def test_closing_a_stream_early_sends_the_app_http_disconnect() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        seen.append((await receive())["type"])

    with TestClient(app) as client, client.stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"first"
    assert seen == ["http.disconnect"]


# --- cookies, URLs, headers -----------------------------------------------------------------------


def cookie_app() -> App:
    async def login(request: Request) -> Response:
        response = PlainTextResponse("in")
        response.set_cookie("session", "s3cret", httponly=True)
        return response

    async def logout(request: Request) -> Response:
        response = PlainTextResponse("out")
        response.delete_cookie("session")
        return response

    async def me(request: Request) -> Response:
        return PlainTextResponse(request.cookies.get("session", "anonymous"))

    return App(routes=[Route("/login", login), Route("/logout", logout), Route("/me", me)])


def test_cookies_set_by_the_app_are_sent_on_later_requests(entered: bool) -> None:
    with open_client(cookie_app(), entered) as client:
        assert client.get("/me").text == "anonymous"
        client.get("/login")
        assert client.cookies["session"] == "s3cret"
        assert client.get("/me").text == "s3cret"
        client.get("/logout")
        assert client.get("/me").text == "anonymous"


def test_cookies_given_to_the_client_are_sent() -> None:
    client = TestClient(cookie_app(), cookies={"session": "preset"})
    assert client.get("/me").text == "preset"


def test_base_url_gives_the_scheme_host_and_port(entered: bool) -> None:
    with open_client(echo_scope, entered, base_url="https://api.example.org:8443") as client:
        seen = client.get("/users?page=2").json()
    assert seen["url"] == "https://api.example.org:8443/users?page=2"
    assert seen["scheme"] == "https"
    assert seen["server"] == ["api.example.org", 8443]
    assert seen["headers"]["host"] == "api.example.org:8443"


def test_default_base_url_is_http_testserver() -> None:
    seen = TestClient(echo_scope).get("/users?page=2").json()
    assert seen["url"] == "http://testserver/users?page=2"
    assert seen["server"] == ["testserver", 80]


def test_path_is_percent_decoded_and_raw_path_kept_as_sent() -> None:
    seen = TestClient(echo_scope).get("/caf%C3%A9/a%2Fb").json()
    assert seen["path"] == "/café/a/b"
    assert seen["raw_path"] == "/caf%C3%A9/a%2Fb"


def test_scope_declares_asgi_spec_2_4_so_send_raises_after_a_disconnect() -> None:
    assert TestClient(echo_scope).get("/").json()["spec_version"] == "2.4"


def test_root_path_is_in_the_scope_and_routes_still_match(entered: bool) -> None:
    async def items(request: Request) -> Response:
        return JSONResponse(
            {
                "root_path": request.scope["root_path"],
                "path": request.scope["path"],
                "url": str(request.url),
                "base_url": str(request.base_url),
            }
        )

    app = App(routes=[Route("/items", items)])
    with open_client(app, entered, root_path="/v1") as client:
        seen = client.get("/items").json()
    assert seen == {
        "root_path": "/v1",
        "path": "/v1/items",
        "url": "http://testserver/v1/items",
        "base_url": "http://testserver/v1/",
    }


def test_client_and_request_headers_reach_the_app(entered: bool) -> None:
    with open_client(echo_scope, entered, headers={"X-Default": "1"}) as client:
        headers = client.get("/", headers={"X-Extra": "2"}).json()["headers"]
    assert headers["x-default"] == "1"
    assert headers["x-extra"] == "2"
    assert headers["user-agent"] == "testclient"
    assert headers["host"] == "testserver"


def test_client_address_is_testclient_unless_given() -> None:
    assert TestClient(echo_scope).get("/").json()["client"] == ["testclient", 50000]
    client = TestClient(echo_scope, client=("203.0.113.9", 4321))
    assert client.get("/").json()["client"] == ["203.0.113.9", 4321]


def test_redirects_are_followed_by_default() -> None:
    async def items(request: Request) -> Response:
        return PlainTextResponse(request.url.path)

    response = TestClient(App(routes=[Route("/items/", items)])).get("/items")
    assert response.text == "/items/"
    assert response.history[0].status_code == 307


# --- ASGITransport with httpx.AsyncClient ---------------------------------------------------------


def async_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ASGITransport(app), base_url="http://testserver")


def test_async_client_runs_the_lifespan_inside_async_with() -> None:
    events: list[str] = []

    async def main() -> None:
        async with async_client(lifespan_app(events)) as client:
            assert events == ["startup"]
            assert (await client.get("/")).text == "connected"
        assert events == ["startup", "request", "shutdown"]

    asyncio.run(main())


def test_async_client_streams_the_request_body_in_pieces() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive, events)
        await PlainTextResponse("done")(scope, receive, send)

    async def upload() -> AsyncIterator[bytes]:
        for piece in (b"a", b"b", b"c"):
            events.append("made " + piece.decode())
            yield piece

    async def main() -> None:
        async with async_client(app) as client:
            assert (await client.post("/", content=upload())).text == "done"

    asyncio.run(main())
    assert events == ["made a", "got a", "made b", "got b", "made c", "got c"]


def test_async_client_streams_the_response_while_the_app_still_runs() -> None:
    finished: list[bool] = []

    async def main() -> None:
        release = anyio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await release.wait()
            await send({"type": "http.response.body", "body": b"second"})
            finished.append(True)

        async with async_client(app) as client, client.stream("GET", "/") as response:
            chunks = response.aiter_raw()
            with anyio.fail_after(5):
                assert await anext(chunks) == b"first"
            assert finished == []
            release.set()
            assert [chunk async for chunk in chunks] == [b"second"]

    asyncio.run(main())
    assert finished == [True]


def test_async_client_closing_a_stream_early_sends_the_app_http_disconnect() -> None:
    seen: list[str] = []

    async def main() -> None:
        disconnected = anyio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await read_body(receive)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            seen.append((await receive())["type"])
            try:
                await send({"type": "http.response.body", "body": b"too late"})
            except OSError:
                seen.append("send raised OSError")
            disconnected.set()

        async with async_client(app) as client:
            async with client.stream("GET", "/") as response:
                assert await anext(response.aiter_raw()) == b"first"
            with anyio.fail_after(5):
                await disconnected.wait()

    asyncio.run(main())
    assert seen == ["http.disconnect", "send raised OSError"]


def test_async_client_without_async_with_runs_each_request_to_completion() -> None:
    async def main() -> None:
        client = async_client(echo_scope)
        response = await client.get("/x")
        assert response.json()["path"] == "/x"
        await client.aclose()

    asyncio.run(main())
