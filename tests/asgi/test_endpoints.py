"""HTTPEndpoint: a class whose methods named after HTTP methods answer requests; sync and
async methods, HEAD through get, 405 with Allow, and methods that are not handlers."""

from __future__ import annotations

import threading

import pytest

from ferry.asgi.app import App
from ferry.asgi.endpoints import HTTPEndpoint
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse, Response
from ferry.asgi.routing import Route, Router
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp

CALLED: list[str] = []


class Item(HTTPEndpoint):
    """GET (async) and POST (sync); nothing else."""

    async def get(self, request: Request) -> Response:
        return PlainTextResponse(f"item {request.path_params['item_id']!r}")

    def post(self, request: Request) -> Response:
        return PlainTextResponse(f"saved in {threading.current_thread().name}", status_code=201)


class Greedy(HTTPEndpoint):
    """An endpoint with attributes named like non-standard methods, which are never called."""

    async def get(self, request: Request) -> Response:
        return PlainTextResponse("get")

    async def foo(self, request: Request) -> Response:
        CALLED.append("foo")
        return PlainTextResponse("foo")


def item_client() -> TestClient:
    return TestClient(App(routes=[Route("/items/{item_id:int}", Item)]))


# Inside an App the 405 goes through the exception handlers; alone, the class answers it.
apps: list[ASGIApp] = [
    App(routes=[Route("/items/{item_id:int}", Item)]),
    Router(routes=[Route("/items/{item_id:int}", Item)]),
]
in_app_or_router = pytest.mark.parametrize("app", apps, ids=["app", "router"])


def test_async_get_answers_with_path_params() -> None:
    response = item_client().get("/items/7")
    assert response.status_code == 200
    assert response.text == "item 7"


def test_sync_post_runs_in_a_worker_thread() -> None:
    response = item_client().post("/items/7")
    assert response.status_code == 201
    assert response.text != f"saved in {threading.current_thread().name}"
    assert response.text.startswith("saved in ")


def test_head_falls_back_to_get_without_a_body() -> None:
    response = item_client().head("/items/7")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len("item 7"))


def test_own_head_method_is_used_when_defined() -> None:
    class WithHead(HTTPEndpoint):
        async def get(self, request: Request) -> Response:
            return PlainTextResponse("body")

        async def head(self, request: Request) -> Response:
            return Response(headers={"x-head": "own"})

    response = TestClient(App(routes=[Route("/", WithHead)])).head("/")
    assert response.headers["x-head"] == "own"


@in_app_or_router
def test_undefined_method_gets_405_with_allow_listing_only_defined_methods(app: ASGIApp) -> None:
    response = TestClient(app).put("/items/7")
    assert response.status_code == 405
    assert response.text == "Method Not Allowed"
    assert response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("method", ["DISPATCH", "__INIT__", "FOO"])
def test_non_standard_method_gets_405_and_never_calls_an_attribute(method: str) -> None:
    # The class as the whole app: nothing in front of it filters the method.
    CALLED.clear()
    response = TestClient(Greedy).request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert CALLED == []


@pytest.mark.parametrize("method", ["DISPATCH", "__INIT__", "FOO"])
def test_non_standard_method_gets_405_through_a_route(method: str) -> None:
    CALLED.clear()
    response = TestClient(App(routes=[Route("/", Greedy)])).request(method, "/")
    assert response.status_code == 405
    assert CALLED == []
