"""Request and HTTPConnection: the scope's parts, the body read once and kept, disconnects."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from ferry.asgi.app import App
from ferry.asgi.datastructures import Address
from ferry.asgi.exceptions import ClientDisconnect, InvalidJSON
from ferry.asgi.requests import HTTPConnection, Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse, Response
from ferry.asgi.routing import Route
from ferry.asgi.testing import TestClient
from ferry.asgi.types import Message, Receive, Scope


def make_scope(**changes: Any) -> Scope:
    """An `http` scope as a server builds it for `GET http://example.org/`."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
        "client": ("203.0.113.7", 51000),
        "server": ("example.org", 80),
    }
    scope.update(changes)
    return scope


def list_receive(messages: list[Message]) -> Receive:
    """A receive() that hands out `messages` in order, then waits as a server would."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


def body_messages(*pieces: bytes) -> list[Message]:
    """`http.request` messages carrying `pieces`, the last one with more_body False."""
    return [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]


async def read_into(pieces: list[bytes], request: Request) -> None:
    """Append each piece of `request.stream()` to `pieces` (what arrived before an error)."""
    async for piece in request.stream():
        pieces.append(piece)


async def no_more_receive() -> Message:
    raise AssertionError("receive() was called again")


# --- the scope's parts ---------------------------------------------------------------------------


def test_method_is_the_scope_method() -> None:
    assert Request(make_scope(method="PATCH")).method == "PATCH"


def test_url_is_built_from_scheme_host_header_path_and_query() -> None:
    scope = make_scope(
        scheme="https",
        path="/users/ada",
        query_string=b"page=2",
        headers=[(b"host", b"api.example.org:8443")],
    )
    url = Request(scope).url
    assert str(url) == "https://api.example.org:8443/users/ada?page=2"
    assert (url.hostname, url.port, url.path, url.query) == (
        "api.example.org",
        8443,
        "/users/ada",
        "page=2",
    )


def test_url_falls_back_to_the_server_address_without_a_host_header() -> None:
    scope = make_scope(headers=[], server=("10.0.0.1", 8000), path="/x")
    assert str(Request(scope).url) == "http://10.0.0.1:8000/x"


def test_base_url_is_the_site_root_without_root_path() -> None:
    scope = make_scope(path="/users/ada", query_string=b"page=2")
    assert str(Request(scope).base_url) == "http://example.org/"


def test_base_url_ends_with_the_root_path() -> None:
    scope = make_scope(path="/api/users/ada", root_path="/api", query_string=b"page=2")
    assert str(Request(scope).base_url) == "http://example.org/api/"


def test_headers_are_case_insensitive_and_keep_repeated_values() -> None:
    scope = make_scope(
        headers=[(b"host", b"example.org"), (b"accept", b"text/html"), (b"accept", b"*/*")]
    )
    headers = Request(scope).headers
    assert headers["Accept"] == "text/html"
    assert headers.getlist("ACCEPT") == ["text/html", "*/*"]
    assert "x-missing" not in headers


def test_query_params_keep_every_value_of_a_repeated_key() -> None:
    params = Request(make_scope(query_string=b"tag=a&tag=b&q=caf%C3%A9&empty=")).query_params
    assert params.getlist("tag") == ["a", "b"]
    assert params["tag"] == "b"
    assert params["q"] == "café"
    assert params["empty"] == ""


def test_path_params_are_those_the_route_converted() -> None:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(
            {"params": request.path_params, "type": type(request.path_params["id"]).__name__}
        )

    client = TestClient(App(routes=[Route("/users/{name}/{id:int}", endpoint)]))
    assert client.get("/users/ada/7").json() == {"params": {"name": "ada", "id": 7}, "type": "int"}


def test_path_params_are_empty_outside_a_router() -> None:
    assert Request(make_scope()).path_params == {}


def test_cookies_are_parsed_from_every_cookie_header() -> None:
    scope = make_scope(
        headers=[
            (b"host", b"example.org"),
            (b"cookie", b'session=abc123; theme="dark"'),
            (b"cookie", b"lang=en"),
        ]
    )
    assert Request(scope).cookies == {"session": "abc123", "theme": "dark", "lang": "en"}


def test_malformed_cookie_pairs_are_ignored() -> None:
    raw = b'good=1; novalue; =nameless; bad name=2; a"b=3;  spaced = 4 ;;'
    scope = make_scope(headers=[(b"host", b"example.org"), (b"cookie", raw)])
    assert Request(scope).cookies == {"good": "1", "spaced": "4"}


def test_client_is_the_scope_client_address() -> None:
    assert Request(make_scope()).client == Address("203.0.113.7", 51000)


def test_client_is_none_when_the_server_does_not_know_it() -> None:
    assert Request(make_scope(client=None)).client is None


def test_state_starts_from_the_lifespan_state() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello"}

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(request.state.greeting)

    with TestClient(App(routes=[Route("/", endpoint)], lifespan=lifespan)) as client:
        assert client.get("/").text == "hello"


def test_state_set_during_one_request_does_not_reach_the_next() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"count": 0}

    async def endpoint(request: Request) -> Response:
        seen = request.state.count
        request.state.count = seen + 1
        return PlainTextResponse(str(seen))

    with TestClient(App(routes=[Route("/", endpoint)], lifespan=lifespan)) as client:
        assert [client.get("/").text for _ in range(2)] == ["0", "0"]


def test_app_is_the_application_that_received_the_request() -> None:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(str(request.app is app))

    app = App(routes=[Route("/", endpoint)])
    assert TestClient(app).get("/").text == "True"


def test_url_for_gives_the_absolute_url_of_a_named_route_under_the_root_path() -> None:
    async def user(request: Request) -> Response:
        return PlainTextResponse(str(request.url_for("user", name="ada")))

    app = App(routes=[Route("/users/{name}", user, name="user")])
    response = TestClient(app, root_path="/api").get("/users/x")
    assert response.text == "http://testserver/api/users/ada"


# --- Host header poisoning ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.com/x?y",
        "user:secret@evil.com",
        "evil.com#fragment",
        "evil.com\\admin",
        "evil.com/../admin",
    ],
)
def test_a_hostile_host_header_never_changes_path_query_or_userinfo(host: str) -> None:
    scope = make_scope(
        path="/real/path", query_string=b"a=1", headers=[(b"host", host.encode("latin-1"))]
    )
    url = Request(scope).url
    assert url.path == "/real/path"
    assert url.query == "a=1"
    assert url.fragment == ""
    assert url.username is None
    assert url.password is None
    assert url.hostname == "example.org"  # the server's own address, not the header


# --- HTTPConnection ----------------------------------------------------------------------------


def test_http_connection_is_a_read_only_mapping_over_the_scope_itself() -> None:
    scope = make_scope()
    connection = HTTPConnection(scope)
    assert connection["method"] == "GET"
    assert set(connection) == set(scope)
    assert len(connection) == len(scope)
    scope["path"] = "/changed"
    assert connection["path"] == "/changed"
    with pytest.raises(TypeError):
        connection["path"] = "/mine"  # type: ignore[index]


# --- the body ------------------------------------------------------------------------------------


def test_body_is_kept_so_a_second_request_over_the_same_scope_reads_it() -> None:
    async def main() -> None:
        scope = make_scope(method="POST")
        first = Request(scope, list_receive(body_messages(b'{"a"', b": 1}")))
        assert await first.body() == b'{"a": 1}'
        # As in an endpoint behind a middleware that read the body: receive() is spent.
        second = Request(scope, no_more_receive)
        assert await second.body() == b'{"a": 1}'
        assert await second.json() == {"a": 1}
        assert [piece async for piece in second.stream()] == [b'{"a": 1}', b""]

    anyio.run(main)


def test_body_in_one_message_is_read_once_and_kept() -> None:
    async def main() -> None:
        scope = make_scope(method="POST")
        request = Request(scope, list_receive([{"type": "http.request", "body": b"ab"}]))
        assert await request.body() == b"ab"
        assert await request.body() == b"ab"
        assert [piece async for piece in request.stream()] == [b"ab", b""]
        empty = Request(make_scope(), list_receive([{"type": "http.request"}]))
        assert await empty.body() == b""

    anyio.run(main)


def test_body_after_the_stream_was_consumed_raises_runtime_error() -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive(body_messages(b"ab")))
        assert [piece async for piece in request.stream()] == [b"ab", b""]
        with pytest.raises(RuntimeError, match="consumed"):
            await request.body()

    anyio.run(main)


def test_body_after_is_disconnected_took_its_message_reads_it() -> None:
    async def main() -> None:
        request = Request(make_scope(method="POST"), list_receive(body_messages(b"ab")))
        assert not await request.is_disconnected()
        assert await request.body() == b"ab"

    anyio.run(main)


def test_stream_yields_the_body_in_the_pieces_it_arrived_in() -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive(body_messages(b"ab", b"", b"cd")))
        assert [piece async for piece in request.stream()] == [b"ab", b"cd", b""]

    anyio.run(main)


def test_stream_consumed_twice_without_keeping_it_raises_runtime_error() -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive(body_messages(b"ab")))
        assert [piece async for piece in request.stream()] == [b"ab", b""]
        with pytest.raises(RuntimeError, match="consumed"):
            await read_into([], request)

    anyio.run(main)


def test_json_parses_the_body() -> None:
    async def main() -> None:
        body = '{"name": "Zoë", "tags": [1, 2]}'.encode()
        request = Request(make_scope(), list_receive(body_messages(body)))
        assert await request.json() == {"name": "Zoë", "tags": [1, 2]}

    anyio.run(main)


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b'"\xff\xfe broken utf-8"'], ids=["syntax", "empty", "utf-8"]
)
def test_json_of_a_body_that_is_not_json_raises_invalid_json(body: bytes) -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive(body_messages(body)))
        with pytest.raises(InvalidJSON) as caught:
            await request.json()
        assert isinstance(caught.value, ValueError)
        assert caught.value.__cause__ is not None

    anyio.run(main)


def test_form_parses_an_urlencoded_body() -> None:
    async def main() -> None:
        scope = make_scope(
            method="POST",
            headers=[(b"content-type", b"application/x-www-form-urlencoded")],
        )
        request = Request(scope, list_receive(body_messages(b"a=1&a=2&", b"b=caf%C3%A9")))
        form = await request.form()
        assert form.getlist("a") == ["1", "2"]
        assert form["b"] == "café"

    anyio.run(main)


# --- disconnects ---------------------------------------------------------------------------------


def test_disconnect_in_the_middle_of_the_body_raises_client_disconnect() -> None:
    async def main() -> None:
        messages: list[Message] = [
            {"type": "http.request", "body": b"part", "more_body": True},
            {"type": "http.disconnect"},
        ]
        request = Request(make_scope(method="POST"), list_receive(messages))
        pieces: list[bytes] = []
        with pytest.raises(ClientDisconnect):
            await read_into(pieces, request)
        assert pieces == [b"part"]
        assert await request.is_disconnected()

    anyio.run(main)


def test_body_raises_client_disconnect_when_the_client_leaves_first() -> None:
    async def main() -> None:
        messages: list[Message] = [
            {"type": "http.request", "body": b"part", "more_body": True},
            {"type": "http.disconnect"},
        ]
        request = Request(make_scope(method="POST"), list_receive(messages))
        with pytest.raises(ClientDisconnect):
            await request.body()

    anyio.run(main)


def test_body_raises_client_disconnect_when_the_client_left_before_any_body() -> None:
    async def main() -> None:
        request = Request(make_scope(method="POST"), list_receive([{"type": "http.disconnect"}]))
        with pytest.raises(ClientDisconnect):
            await request.body()
        assert await request.is_disconnected()

    anyio.run(main)


def test_is_disconnected_is_false_while_the_client_is_connected() -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive([]))
        with anyio.fail_after(1):  # it never waits for receive()
            assert not await request.is_disconnected()

    anyio.run(main)


def test_is_disconnected_is_true_after_http_disconnect() -> None:
    async def main() -> None:
        request = Request(make_scope(), list_receive([{"type": "http.disconnect"}]))
        assert await request.is_disconnected()
        assert await request.is_disconnected()  # and stays so, without another receive()

    anyio.run(main)


def test_body_message_taken_by_is_disconnected_is_not_lost_for_stream() -> None:
    async def main() -> None:
        request = Request(make_scope(method="POST"), list_receive(body_messages(b"ab", b"cd")))
        assert not await request.is_disconnected()
        assert not await request.is_disconnected()
        assert [piece async for piece in request.stream()] == [b"ab", b"cd", b""]

    anyio.run(main)
