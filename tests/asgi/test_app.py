"""App: the middleware stack and its order, exception handlers (by class along the MRO, by
status code, for 500), the debug page, the lifespan and its state, and the ways to add
routes, mounts, hosts and handlers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ferry.asgi.app import App
from ferry.asgi.exceptions import HTTPException, MultiPartException
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.middleware.errors import ServerErrorMiddleware
from ferry.asgi.middleware.exceptions import ExceptionMiddleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse, Response
from ferry.asgi.routing import Host, Mount, Route, Router
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def says(text: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(text)

    return endpoint


def raises(exc: Exception) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        raise exc

    return endpoint


def answers_with(text: str, status_code: int = 200) -> Callable[[Request, Exception], Any]:
    """An async exception handler answering `text: <the exception's class>`."""

    async def handler(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"{text}: {type(exc).__name__}", status_code=status_code)

    return handler


class Recorder:
    """A pure ASGI middleware that notes when a request passes in and out of it."""

    def __init__(self, app: ASGIApp, name: str, log: list[str]) -> None:
        self.app = app
        self.name = name
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.log.append(f"{self.name} in")
        await self.app(scope, receive, send)
        self.log.append(f"{self.name} out")


class StatusRecorder:
    """A pure ASGI middleware that notes the status sent, or the exception passing out."""

    def __init__(self, app: ASGIApp, log: list[str]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.log.append(f"status {message['status']}")
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            self.log.append(f"raised {type(exc).__name__}")
            raise


def stack_of(app: App) -> list[type]:
    """The classes of the built stack, outermost first, down to the router."""
    layers: list[type] = []
    layer: Any = app.middleware_stack
    while not isinstance(layer, Router):
        layers.append(type(layer))
        layer = layer.app
    return [*layers, Router]


# --- the middleware stack ---------------------------------------------------------------


def test_stack_is_server_errors_then_user_middleware_then_exceptions_then_router() -> None:
    log: list[str] = []
    app = App(
        routes=[Route("/", says("hi"))],
        middleware=[Middleware(Recorder, "first", log), Middleware(StatusRecorder, log)],
    )
    TestClient(app).get("/")
    assert stack_of(app) == [
        ServerErrorMiddleware,
        Recorder,
        StatusRecorder,
        ExceptionMiddleware,
        Router,
    ]


def test_user_middleware_runs_in_the_order_given_first_outermost() -> None:
    log: list[str] = []

    async def endpoint(request: Request) -> Response:
        log.append("endpoint")
        return PlainTextResponse("hi")

    app = App(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(Recorder, "first", log), Middleware(Recorder, "second", log)],
    )
    assert TestClient(app).get("/").text == "hi"
    assert log == ["first in", "second in", "endpoint", "second out", "first out"]


def test_added_middleware_goes_outside_the_middleware_already_there() -> None:
    log: list[str] = []
    app = App(routes=[Route("/", says("hi"))], middleware=[Middleware(Recorder, "given", log)])
    app.add_middleware(Recorder, "added", log=log)
    TestClient(app).get("/")
    assert log == ["added in", "given in", "given out", "added out"]


def test_user_middleware_sees_a_handled_exception_as_the_response() -> None:
    log: list[str] = []
    app = App(
        routes=[Route("/", raises(HTTPException(418)))],
        middleware=[Middleware(StatusRecorder, log)],
    )
    assert TestClient(app).get("/").status_code == 418
    assert log == ["status 418"]


def test_user_middleware_sees_an_unhandled_exception_pass_out_through_it() -> None:
    log: list[str] = []
    app = App(
        routes=[Route("/", raises(ValueError("boom")))],
        middleware=[Middleware(StatusRecorder, log)],
    )
    assert TestClient(app, raise_server_exceptions=False).get("/").status_code == 500
    assert log == ["raised ValueError"]


def test_add_middleware_after_the_first_request_raises_runtime_error() -> None:
    app = App(routes=[Route("/", says("hi"))])
    TestClient(app).get("/")
    with pytest.raises(RuntimeError, match="after an application has started"):
        app.add_middleware(Recorder, "late", log=[])


# --- exception handlers -------------------------------------------------------------------


def test_handler_for_a_base_class_catches_its_subclasses() -> None:
    app = App(
        routes=[Route("/", raises(KeyError("missing")))],
        exception_handlers={LookupError: answers_with("lookup", 409)},
    )
    response = TestClient(app).get("/")
    assert response.status_code == 409
    assert response.text == "lookup: KeyError"


def test_nearest_class_in_the_mro_wins() -> None:
    app = App(
        routes=[
            Route("/key", raises(KeyError("missing"))),
            Route("/index", raises(IndexError("missing"))),
        ],
        exception_handlers={
            LookupError: answers_with("lookup"),
            KeyError: answers_with("key"),
        },
    )
    client = TestClient(app)
    assert client.get("/key").text == "key: KeyError"
    assert client.get("/index").text == "lookup: IndexError"


def test_status_code_handler_answers_http_exceptions_with_that_status() -> None:
    app = App(
        routes=[
            Route("/gone", raises(HTTPException(410))),
            Route("/teapot", raises(HTTPException(418))),
        ],
        exception_handlers={
            HTTPException: answers_with("by class"),
            410: answers_with("by status", 410),
        },
    )
    client = TestClient(app)
    assert client.get("/gone").text == "by status: HTTPException"
    assert client.get("/teapot").text == "by class: HTTPException"


def test_status_code_handler_answers_the_routers_404() -> None:
    app = App(
        routes=[Route("/", says("hi"))], exception_handlers={404: answers_with("custom", 404)}
    )
    response = TestClient(app).get("/nowhere")
    assert response.status_code == 404
    assert response.text == "custom: HTTPException"


def test_sync_exception_handler_runs_in_a_worker_thread() -> None:
    threads: dict[str, int] = {}

    async def endpoint(request: Request) -> Response:
        threads["loop"] = threading.get_ident()
        raise ValueError("boom")

    def handler(request: Request, exc: Exception) -> Response:
        threads["handler"] = threading.get_ident()
        return PlainTextResponse(f"handled: {exc}", status_code=400)

    app = App(routes=[Route("/", endpoint)], exception_handlers={ValueError: handler})
    response = TestClient(app).get("/")
    assert response.text == "handled: boom"
    assert threads["handler"] != threads["loop"]


def test_unhandled_exception_gives_a_plain_500() -> None:
    app = App(routes=[Route("/", raises(ValueError("secret detail")))])
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_unhandled_exception_is_re_raised_after_the_500() -> None:
    app = App(routes=[Route("/", raises(ValueError("boom")))])
    with pytest.raises(ValueError, match="boom"):
        TestClient(app).get("/")


def test_debug_page_is_html_with_the_traceback_for_browsers() -> None:
    app = App(debug=True, routes=[Route("/", raises(ValueError("<boom>")))])
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/", headers={"accept": "text/html,*/*"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h2>ValueError: &lt;boom&gt;</h2>" in response.text
    assert "Traceback (most recent call last)" in response.text


def test_debug_page_is_plain_text_for_other_clients() -> None:
    app = App(debug=True, routes=[Route("/", raises(ValueError("boom")))])
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("Traceback (most recent call last)")
    assert response.text.rstrip().endswith("ValueError: boom")


@pytest.mark.parametrize("key", [500, Exception], ids=["500", "Exception"])
def test_handler_for_500_or_exception_answers_unhandled_errors(key: int | type) -> None:
    app = App(
        routes=[Route("/", raises(ValueError("boom")))],
        exception_handlers={key: answers_with("sorry", 503)},
    )
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 503
    assert response.text == "sorry: ValueError"


def test_handler_for_500_still_lets_the_exception_reach_the_server() -> None:
    app = App(
        routes=[Route("/", raises(ValueError("boom")))],
        exception_handlers={500: answers_with("sorry", 500)},
    )
    with pytest.raises(ValueError, match="boom"):
        TestClient(app).get("/")


class FailsMidResponse:
    """An endpoint that starts its response, sends part of the body, then fails."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise self.exc


def test_exception_after_the_response_started_is_not_answered_twice() -> None:
    app = App(routes=[Route("/", FailsMidResponse(ValueError("late")))])
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 200
    assert response.content == b"partial"
    with pytest.raises(ValueError, match="late"):
        TestClient(app).get("/")


def test_handled_exception_after_the_response_started_is_a_runtime_error() -> None:
    app = App(routes=[Route("/", FailsMidResponse(HTTPException(400)))])
    with pytest.raises(RuntimeError, match="the response had started"):
        TestClient(app).get("/")


def test_http_exception_detail_is_the_text_body() -> None:
    app = App(routes=[Route("/", raises(HTTPException(403, detail="not yours")))])
    response = TestClient(app).get("/")
    assert response.status_code == 403
    assert response.text == "not yours"


def test_http_exception_headers_reach_the_client() -> None:
    exc = HTTPException(401, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    response = TestClient(App(routes=[Route("/", raises(exc))])).get("/")
    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("status_code", [204, 304])
def test_http_exception_without_a_body_status_sends_an_empty_body(status_code: int) -> None:
    exc = HTTPException(status_code, headers={"etag": '"v1"'})
    response = TestClient(App(routes=[Route("/", raises(exc))])).get("/")
    assert response.status_code == status_code
    assert response.content == b""
    assert "content-length" not in response.headers
    assert response.headers["etag"] == '"v1"'


def test_multipart_exception_becomes_400_with_its_reason() -> None:
    app = App(routes=[Route("/", raises(MultiPartException("Too many files")))])
    response = TestClient(app).get("/")
    assert response.status_code == 400
    assert response.text == "Too many files"


# --- lifespan and state ---------------------------------------------------------------------


def test_lifespan_state_becomes_request_state() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"db": "connected"}

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(request.state.db)

    with TestClient(App(routes=[Route("/", endpoint)], lifespan=lifespan)) as client:
        assert client.get("/").text == "connected"


def test_lifespan_runs_start_up_before_requests_and_shutdown_after() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        events.append(f"start-up of {type(app).__name__}")
        yield
        events.append("shutdown")

    async def endpoint(request: Request) -> Response:
        events.append("request")
        return PlainTextResponse("hi")

    with TestClient(App(routes=[Route("/", endpoint)], lifespan=lifespan)) as client:
        client.get("/")
    assert events == ["start-up of App", "request", "shutdown"]


def test_lifespan_start_up_failure_raises_from_the_client_with_its_message() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        raise ConnectionError("database unreachable")
        yield

    client = TestClient(App(lifespan=lifespan))
    with pytest.raises(RuntimeError, match="ConnectionError: database unreachable"), client:
        pass


def test_app_state_is_reachable_from_requests() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(request.app.state.greeting)

    app = App(routes=[Route("/", endpoint)])
    app.state.greeting = "hello"
    assert TestClient(app).get("/").text == "hello"


# --- adding routes and handlers ---------------------------------------------------------------


def test_app_mount_adds_a_mounted_app() -> None:
    app = App()
    app.mount("/sub", App(routes=[Route("/hello", says("hello"))]), name="sub")
    assert TestClient(app).get("/sub/hello").text == "hello"


def test_app_host_adds_a_host_route() -> None:
    app = App()
    app.host("api.example.org", Router(routes=[Route("/", says("api"))]))
    client = TestClient(app)
    assert client.get("http://api.example.org/").text == "api"
    assert client.get("http://www.example.org/").status_code == 404


def test_route_decorator_adds_a_route_and_returns_the_function() -> None:
    app = App()

    @app.route("/items", methods=["POST"], name="create")
    async def create(request: Request) -> Response:
        return PlainTextResponse("created", status_code=201)

    client = TestClient(app)
    assert client.post("/items").status_code == 201
    assert client.get("/items").status_code == 405
    assert app.url_path_for("create") == "/items"
    assert create.__name__ == "create"


def test_exception_handler_decorator_registers_the_handler() -> None:
    app = App(routes=[Route("/", raises(PermissionError("no")))])

    @app.exception_handler(PermissionError)
    async def forbidden(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=403)

    response = TestClient(app).get("/")
    assert response.status_code == 403
    assert response.json() == {"error": "no"}


def test_sync_endpoint_runs_in_a_worker_thread() -> None:
    threads: dict[str, int] = {}

    class LoopThread:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            threads["loop"] = threading.get_ident()
            await self.app(scope, receive, send)

    def endpoint(request: Request) -> Response:
        threads["endpoint"] = threading.get_ident()
        return PlainTextResponse("sync")

    app = App(routes=[Route("/", endpoint)], middleware=[Middleware(LoopThread)])
    assert TestClient(app).get("/").text == "sync"
    assert threads["endpoint"] != threads["loop"]


def test_mounted_sub_app_keeps_its_own_exception_handlers() -> None:
    sub_app = App(
        routes=[Route("/boom", raises(ValueError("inner")))],
        exception_handlers={
            ValueError: answers_with("sub-app", 400),
            404: answers_with("sub-app 404", 404),
        },
    )
    app = App(
        routes=[Mount("/sub", app=sub_app), Route("/boom", raises(ValueError("outer")))],
        exception_handlers={ValueError: answers_with("app", 422)},
    )
    client = TestClient(app)
    assert client.get("/sub/boom").text == "sub-app: ValueError"
    assert client.get("/sub/nowhere").text == "sub-app 404: HTTPException"
    assert client.get("/boom").text == "app: ValueError"
    assert client.get("/nowhere").text == "Not Found"


def test_host_and_mount_routes_are_listed_in_app_routes() -> None:
    app = App(routes=[Route("/", says("hi"))])
    app.mount("/sub", Router())
    app.host("example.org", Router())
    assert [type(route) for route in app.routes] == [Route, Mount, Host]
