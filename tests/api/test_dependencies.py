"""Depends: sub-dependencies, caching, cleanup order, scopes, overrides and typed state.

No `from __future__ import annotations` here: the endpoints below name dependencies that
are local to each test, and string annotations could not be resolved from there.
"""

import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import pytest

from ferry.api import APIRoute, APIRouter, App, Body, Depends, HTTPException, Request
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send


def test_dependency_value_is_passed_to_the_endpoint() -> None:
    app = App()

    async def pagination(limit: int = 10, offset: int = 0) -> dict[str, int]:
        return {"limit": limit, "offset": offset}

    @app.get("/items")
    async def items(page: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, int]:
        return page

    assert TestClient(app).get("/items?limit=3").json() == {"limit": 3, "offset": 0}


def test_a_class_is_a_dependency() -> None:
    app = App()

    class Paging:
        def __init__(self, limit: int = 5) -> None:
            self.limit = limit

    @app.get("/items")
    async def items(paging: Annotated[Paging, Depends()]) -> dict[str, int]:
        return {"limit": paging.limit}

    assert TestClient(app).get("/items?limit=9").json() == {"limit": 9}


def test_shared_sub_dependency_is_called_once_per_request() -> None:
    app = App()
    calls: list[str] = []

    def database() -> str:
        calls.append("db")
        return "db"

    def users(db: Annotated[str, Depends(database)]) -> str:
        return f"users({db})"

    def orders(db: Annotated[str, Depends(database)]) -> str:
        return f"orders({db})"

    @app.get("/report")
    def report(
        u: Annotated[str, Depends(users)], o: Annotated[str, Depends(orders)]
    ) -> dict[str, str]:
        return {"u": u, "o": o}

    client = TestClient(app)
    assert client.get("/report").json() == {"u": "users(db)", "o": "orders(db)"}
    assert calls == ["db"]
    client.get("/report")
    assert calls == ["db", "db"]


def test_use_cache_false_calls_the_dependency_each_time() -> None:
    app = App()
    calls: list[int] = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    @app.get("/twice")
    def twice(
        a: Annotated[int, Depends(counter, use_cache=False)],
        b: Annotated[int, Depends(counter, use_cache=False)],
    ) -> dict[str, int]:
        return {"a": a, "b": b}

    assert TestClient(app).get("/twice").json() == {"a": 1, "b": 2}


def test_dependency_errors_are_reported_with_the_endpoints() -> None:
    app = App()

    def paging(limit: int) -> int:
        return limit

    @app.get("/items/{item_id}")
    def item(item_id: int, limit: Annotated[int, Depends(paging)]) -> dict[str, int]:
        return {}

    response = TestClient(app).get("/items/x?limit=y")
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["query", "limit"],
        ["path", "item_id"],
    ]


def test_dependency_raising_http_exception_answers_json() -> None:
    app = App()

    def must_be_admin(role: str = "user") -> None:
        if role != "admin":
            raise HTTPException(403, detail="admins only", headers={"x-why": "role"})

    @app.get("/admin", dependencies=[Depends(must_be_admin)])
    def admin() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    denied = client.get("/admin")
    assert denied.status_code == 403
    assert denied.json() == {"detail": "admins only"}
    assert denied.headers["x-why"] == "role"
    assert client.get("/admin?role=admin").json() == {"ok": True}


def test_app_and_router_dependencies_run_before_the_endpoint() -> None:
    order: list[str] = []

    def app_dep() -> None:
        order.append("app")

    def router_dep() -> None:
        order.append("router")

    def route_dep() -> None:
        order.append("route")

    app = App(dependencies=[Depends(app_dep)])
    router = APIRouter(prefix="/r", dependencies=[Depends(router_dep)])

    @router.get("/x", dependencies=[Depends(route_dep)])
    def endpoint() -> dict[str, bool]:
        order.append("endpoint")
        return {"ok": True}

    app.include_router(router)
    assert TestClient(app).get("/r/x").json() == {"ok": True}
    assert order == ["app", "router", "route", "endpoint"]


def test_generator_cleanup_runs_after_the_response_in_reverse_order() -> None:
    events: list[str] = []
    app = App()

    async def first() -> AsyncIterator[str]:
        events.append("first up")
        yield "1"
        events.append("first down")

    def second(one: Annotated[str, Depends(first)]) -> Iterator[str]:
        events.append("second up")
        yield one + "2"
        events.append("second down")

    @app.get("/")
    def endpoint(value: Annotated[str, Depends(second)]) -> dict[str, str]:
        events.append("endpoint")
        return {"value": value}

    class RecordSend:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    events.append("response sent")
                await send(message)

            await self.inner(scope, receive, recording_send)

    app.add_middleware(RecordSend)
    assert TestClient(app).get("/").json() == {"value": "12"}
    assert events == [
        "first up",
        "second up",
        "endpoint",
        "response sent",
        "second down",
        "first down",
    ]


def test_function_scope_cleanup_runs_before_the_response() -> None:
    events: list[str] = []
    app = App()

    async def transaction() -> AsyncIterator[str]:
        yield "tx"
        events.append("committed")

    @app.get("/")
    async def endpoint(
        tx: Annotated[str, Depends(transaction, scope="function")],
    ) -> dict[str, list[str]]:
        return {"seen": list(events)}

    response = TestClient(app).get("/")
    # The endpoint returned before the commit, and the commit came before the response
    # was encoded and sent (the body is built after cleanup, so it cannot show it).
    assert response.json() == {"seen": []}
    assert events == ["committed"]


def test_generator_dependency_sees_the_endpoints_exception() -> None:
    seen: list[str] = []
    app = App()

    async def guarded() -> AsyncIterator[None]:
        try:
            yield None
        except ValueError as exc:
            seen.append(f"saw {exc}")
            raise

    @app.get("/")
    async def endpoint(_: Annotated[None, Depends(guarded)]) -> None:
        raise ValueError("boom")

    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert seen == ["saw boom"]


def test_app_scope_dependency_is_made_once_and_cleaned_up_at_shutdown() -> None:
    events: list[str] = []
    app = App()

    async def pool() -> AsyncIterator[str]:
        events.append("pool opened")
        yield "pool"
        events.append("pool closed")

    @app.get("/")
    async def endpoint(p: Annotated[str, Depends(pool, scope="app")]) -> dict[str, str]:
        return {"pool": p}

    with TestClient(app) as client:
        assert client.get("/").json() == {"pool": "pool"}
        assert client.get("/").json() == {"pool": "pool"}
        assert events == ["pool opened"]
    assert events == ["pool opened", "pool closed"]


def test_dependency_overrides_swap_a_dependency() -> None:
    app = App()

    def real_db() -> str:
        return "real"

    @app.get("/")
    def endpoint(db: Annotated[str, Depends(real_db)]) -> dict[str, str]:
        return {"db": db}

    client = TestClient(app)
    app.dependency_overrides[real_db] = lambda: "fake"
    assert client.get("/").json() == {"db": "fake"}
    app.dependency_overrides.clear()
    assert client.get("/").json() == {"db": "real"}


def test_an_override_with_cleanup_is_cleaned_up_after_the_response() -> None:
    # The route's own dependency leaves nothing to clean up; its override does.
    app = App()
    events: list[str] = []

    def real_db() -> str:
        return "real"

    async def test_db() -> AsyncIterator[str]:
        events.append("open")
        yield "test"
        events.append("close")

    @app.get("/")
    async def endpoint(db: Annotated[str, Depends(real_db)]) -> dict[str, str]:
        events.append("endpoint")
        return {"db": db}

    app.dependency_overrides[real_db] = test_db
    assert TestClient(app).get("/").json() == {"db": "test"}
    assert events == ["open", "endpoint", "close"]


def test_only_plans_with_something_to_clean_up_need_cleanup() -> None:
    app = App()

    def plain() -> str:
        return "plain"

    def generator() -> Iterator[str]:
        yield "generated"

    @app.get("/plain")
    def plain_route(value: Annotated[str, Depends(plain)]) -> str:
        return value

    @app.get("/generator")
    def generator_route(
        value: Annotated[str, Depends(plain)], other: Annotated[str, Depends(generator)]
    ) -> str:
        return value + other

    @app.get("/request")
    async def request_route(request: Request) -> str:
        return request.method

    plans = {route.path: route.plan for route in app.routes if isinstance(route, APIRoute)}
    assert plans["/plain"].needs_cleanup() is False
    assert plans["/generator"].needs_cleanup() is True
    assert plans["/request"].needs_cleanup() is True


def test_app_scope_dependency_can_be_overridden() -> None:
    app = App()

    async def pool() -> AsyncIterator[str]:
        yield "real pool"

    @app.get("/")
    async def endpoint(p: Annotated[str, Depends(pool, scope="app")]) -> dict[str, str]:
        return {"pool": p}

    app.dependency_overrides[pool] = lambda: "test pool"
    with TestClient(app) as client:
        assert client.get("/").json() == {"pool": "test pool"}


@dataclasses.dataclass
class AppState:
    greeting: str
    visits: list[str]


def test_lifespan_state_is_injected_with_its_type() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[AppState]:
        yield AppState(greeting="hello", visits=[])

    app = App(lifespan=lifespan)

    @app.get("/")
    async def endpoint(state: AppState) -> dict[str, str]:
        state.visits.append("x")
        return {"greeting": state.greeting, "visits": str(len(state.visits))}

    with TestClient(app) as client:
        assert client.get("/").json() == {"greeting": "hello", "visits": "1"}
        assert client.get("/").json() == {"greeting": "hello", "visits": "2"}


def test_mapping_lifespan_state_reaches_request_state() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        yield {"name": "ferry"}

    app = App(lifespan=lifespan)

    @app.get("/")
    async def endpoint(request: Request) -> dict[str, str]:
        return {"name": request.state.name}

    with TestClient(app) as client:
        assert client.get("/").json() == {"name": "ferry"}


def test_router_middleware_applies_only_to_its_routes() -> None:
    class Tag:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def tagging_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"x-router", b"yes")]
                await send(message)

            await self.app(scope, receive, tagging_send)

    app = App()
    router = APIRouter(prefix="/tagged", middleware=[Middleware(Tag)])

    @router.get("/")
    def tagged() -> dict[str, bool]:
        return {"tagged": True}

    @app.get("/plain")
    def plain() -> dict[str, bool]:
        return {"tagged": False}

    app.include_router(router)
    client = TestClient(app)
    assert client.get("/tagged/").headers.get("x-router") == "yes"
    assert "x-router" not in client.get("/plain").headers


def test_router_exception_handlers_apply_only_to_its_routes() -> None:
    class Teapot(Exception):
        pass

    async def teapot_handler(request: Request, exc: Exception) -> Any:
        from ferry.api import JSONResponse

        return JSONResponse({"detail": "short and stout"}, status_code=418)

    app = App()
    router = APIRouter(prefix="/pots", exception_handlers={Teapot: teapot_handler})

    @router.get("/")
    def pot() -> None:
        raise Teapot()

    @app.get("/elsewhere")
    def elsewhere() -> None:
        raise Teapot()

    app.include_router(router)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/pots/").status_code == 418
    assert client.get("/elsewhere").status_code == 500


def test_body_read_by_a_middleware_is_read_again_by_the_endpoint() -> None:
    from pydantic import BaseModel

    from ferry.asgi.requests import Request as ToolkitRequest

    class Note(BaseModel):
        text: str

    seen: list[bytes] = []

    class Audit:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(await ToolkitRequest(scope, receive).body())
            await self.app(scope, receive, send)

    app = App(middleware=[Middleware(Audit)])

    @app.post("/notes")
    async def create(note: Note) -> Note:
        return note

    response = TestClient(app).post("/notes", json={"text": "hi"})
    assert response.json() == {"text": "hi"}
    assert seen == [b'{"text":"hi"}']


@pytest.mark.parametrize("use_cache", [True, False])
def test_dependency_used_by_two_routes_is_independent_per_request(use_cache: bool) -> None:
    app = App()
    counter = {"n": 0}

    def bump() -> int:
        counter["n"] += 1
        return counter["n"]

    @app.get("/a")
    def a(n: Annotated[int, Depends(bump, use_cache=use_cache)]) -> dict[str, int]:
        return {"n": n}

    client = TestClient(app)
    assert client.get("/a").json() == {"n": 1}
    assert client.get("/a").json() == {"n": 2}


def test_a_sync_endpoint_and_its_sync_dependencies_share_one_worker_thread() -> None:
    app = App()
    threads: list[int] = []
    calls = {"settings": 0}

    def settings() -> dict[str, str]:
        calls["settings"] += 1
        threads.append(threading.get_ident())
        return {"greeting": "hello"}

    def greeting(s: Annotated[dict[str, str], Depends(settings)], name: str = "ada") -> str:
        threads.append(threading.get_ident())
        return f"{s['greeting']} {name}"

    @app.get("/")
    def endpoint(
        text: Annotated[str, Depends(greeting)],
        again: Annotated[dict[str, str], Depends(settings)],
        request: Request,
    ) -> dict[str, str]:
        threads.append(threading.get_ident())
        return {"text": text, "path": request.url.path}

    assert TestClient(app).get("/?name=bob").json() == {"text": "hello bob", "path": "/"}
    assert calls["settings"] == 1  # cached for the request, as on the async path
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


def test_a_sync_dependency_with_invalid_input_is_not_called_in_the_shared_thread() -> None:
    app = App()
    called: list[int] = []

    def paging(limit: int) -> int:
        called.append(limit)
        return limit

    @app.get("/")
    def endpoint(limit: Annotated[int, Depends(paging)]) -> dict[str, int]:
        return {"limit": limit}

    response = TestClient(app).get("/?limit=many")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
    assert called == []


def test_only_plain_sync_plans_are_solved_in_one_thread() -> None:
    app = App()

    def plain() -> str:
        return "plain"

    async def asynchronous() -> str:
        return "async"

    def generator() -> Iterator[str]:
        yield "generated"

    @app.get("/sync")
    def sync_route(value: Annotated[str, Depends(plain)]) -> str:
        return value

    @app.get("/async-dependency")
    def async_dependency(value: Annotated[str, Depends(asynchronous)]) -> str:
        return value

    @app.get("/generator")
    def generator_route(value: Annotated[str, Depends(generator)]) -> str:
        return value

    @app.get("/app-scope")
    def app_scope_route(value: Annotated[str, Depends(plain, scope="app")]) -> str:
        return value

    @app.post("/body")
    def body_route(value: Annotated[str, Depends(plain)], item: Annotated[int, Body()]) -> str:
        return value

    @app.get("/async-endpoint")
    async def async_endpoint(value: Annotated[str, Depends(plain)]) -> str:
        return value

    plans = {route.path: route.plan for route in app.routes if isinstance(route, APIRoute)}
    assert plans["/sync"].is_sync_chain() is True
    for path in ("/async-dependency", "/generator", "/app-scope", "/body", "/async-endpoint"):
        assert plans[path].is_sync_chain() is False, path


class RecordingTrace:
    """Stands in for the server's tracer: keeps each waypoint's name and details."""

    def __init__(self) -> None:
        self.waypoints: list[tuple[str, dict[str, Any]]] = []

    def waypoint(self, waypoint: str, /, **details: Any) -> None:
        self.waypoints.append((waypoint, details))


def test_a_traced_sync_chain_reports_each_solve_as_the_async_path_does() -> None:
    app = App()

    def settings() -> str:
        return "hello"

    def greeting(s: Annotated[str, Depends(settings)]) -> str:
        return s

    @app.get("/")
    def endpoint(
        text: Annotated[str, Depends(greeting)], again: Annotated[str, Depends(settings)]
    ) -> str:
        return text + again

    trace = RecordingTrace()
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "ferry.trace": trace,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    assert sent[1]["body"] == b'"hellohello"'
    solves = [
        (d["call"].rsplit(".", 1)[-1], d["cached"]) for n, d in trace.waypoints if n == "solve"
    ]
    assert solves == [
        ("settings", False),
        ("greeting", False),
        ("settings", True),
        ("endpoint", False),
    ]
