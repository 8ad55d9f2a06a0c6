"""WebSockets through TestClient.websocket_connect: the handshake, messages both ways, closes
from either side, refusals and denial responses, routing, middleware, state checks, and
WebSocketEndpoint with each encoding."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, Literal

import anyio
import pytest

from ferry.asgi.app import App
from ferry.asgi.endpoints import WebSocketEndpoint
from ferry.asgi.exceptions import WebSocketException
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse, StreamingResponse
from ferry.asgi.routing import Mount, Route, Router, WebSocketRoute
from ferry.asgi.testing import TestClient, WebSocketDenialResponse
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send
from ferry.asgi.websockets import WebSocket, WebSocketClose, WebSocketDisconnect, WebSocketState


@pytest.fixture(params=[True, False], ids=["inside-with", "without-with"])
def entered(request: pytest.FixtureRequest) -> bool:
    """Whether the client is used inside `with` (one portal, lifespan) or without."""
    return bool(request.param)


@contextlib.contextmanager
def open_client(app: ASGIApp, entered: bool = False, **options: Any) -> Iterator[TestClient]:
    client = TestClient(app, **options)
    if entered:
        with client:
            yield client
    else:
        yield client


def ws_app(endpoint: Callable[..., Any], path: str = "/ws") -> App:
    """An App with one websocket route: `endpoint` (a function, a class or an ASGI app)."""
    return App(routes=[WebSocketRoute(path, endpoint)])


async def echo_text(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


# --- the handshake ------------------------------------------------------------------------


def test_accept_sends_the_chosen_subprotocol_and_extra_headers() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        offered = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol=offered[-1], headers=[(b"x-room", b"lobby")])
        await websocket.close()

    client = TestClient(ws_app(endpoint))
    with client.websocket_connect("/ws", subprotocols=["v1", "v2"]) as session:
        assert session.accepted_subprotocol == "v2"
        assert session.extra_headers == [(b"x-room", b"lobby")]


def test_the_scope_holds_the_websocket_keys_of_the_asgi_spec() -> None:
    seen: list[Scope] = []

    async def endpoint(websocket: WebSocket) -> None:
        seen.append(dict(websocket.scope))
        await websocket.accept()
        await websocket.close()

    client = TestClient(ws_app(endpoint, "/ws/{room}"))
    with (
        client.websocket_connect("/ws/a%20b?x=1", subprotocols=["chat"]) as session,
        pytest.raises(WebSocketDisconnect),
    ):
        session.receive_text()
    [scope] = seen
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["scheme"] == "ws"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/ws/a b",
        b"/ws/a%20b",
        b"x=1",
    )
    assert scope["root_path"] == ""
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ("testserver", 80)
    assert scope["subprotocols"] == ["chat"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    headers = dict(scope["headers"])
    assert headers[b"sec-websocket-protocol"] == b"chat"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"host"] == b"testserver"


def test_query_params_headers_and_cookies_come_from_the_handshake() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "query": websocket.query_params["q"],
                "header": websocket.headers["x-token"],
                "cookie": websocket.cookies["session"],
            }
        )
        await websocket.close()

    client = TestClient(ws_app(endpoint), cookies={"session": "abc"})
    with client.websocket_connect("/ws?q=find", headers={"x-token": "t0"}) as session:
        assert session.receive_json() == {"query": "find", "header": "t0", "cookie": "abc"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/ws", "ws://testserver/ws"),
        ("ws://testserver/ws", "ws://testserver/ws"),
        ("wss://example.org/ws", "wss://example.org/ws"),
    ],
)
def test_the_url_has_a_websocket_scheme(url: str, expected: str) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url))
        await websocket.close()

    with TestClient(ws_app(endpoint)).websocket_connect(url) as session:
        assert session.receive_text() == expected


def test_the_session_sees_the_lifespan_state_inside_with_test_client() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello"}

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.greeting)
        await websocket.close()

    app = App(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)
    with TestClient(app) as client, client.websocket_connect("/ws") as session:
        assert session.receive_text() == "hello"


def test_sessions_inside_with_test_client_share_one_event_loop() -> None:
    room: list[WebSocket] = []

    async def endpoint(websocket: WebSocket) -> None:
        room.append(websocket)  # before accept: the session is entered once accepted
        await websocket.accept()
        async for text in websocket.iter_text():
            for member in room:
                await member.send_text(text)
        room.remove(websocket)

    with (
        TestClient(ws_app(endpoint)) as client,
        client.websocket_connect("/ws") as alice,
        client.websocket_connect("/ws") as bob,
    ):
        alice.send_text("hello, room")
        assert bob.receive_text() == "hello, room"
        assert alice.receive_text() == "hello, room"
    assert room == []


# --- messages both ways -------------------------------------------------------------------


def test_text_messages_go_both_ways(entered: bool) -> None:
    with (
        open_client(ws_app(echo_text), entered) as client,
        client.websocket_connect("/ws") as session,
    ):
        session.send_text("hello")
        assert session.receive_text() == "hello"
        session.send_text("héllo again")
        assert session.receive_text() == "héllo again"


def test_bytes_messages_go_both_ways() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data[::-1])

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send_bytes(b"\x00\x01\x02")
        assert session.receive_bytes() == b"\x02\x01\x00"


@pytest.mark.parametrize("mode", ["text", "binary"])
def test_json_goes_both_ways(mode: Literal["text", "binary"]) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        data = await websocket.receive_json(mode=mode)
        await websocket.send_json({"got": data}, mode=mode)
        await websocket.close()

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send_json({"n": [1, 2], "s": "é"}, mode=mode)
        message = session.receive()
        payload = message["text"] if mode == "text" else message["bytes"].decode()
        assert payload == '{"got":{"n":[1,2],"s":"é"}}'


@pytest.mark.parametrize("mode", ["text", "binary"])
def test_the_session_parses_json_in_either_mode(mode: Literal["text", "binary"]) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json([True, None], mode=mode)
        await websocket.close()

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        assert session.receive_json(mode=mode) == [True, None]


def test_iter_json_yields_each_message_until_the_client_disconnects() -> None:
    received: list[Any] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_json():
            received.append(data)

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send_json([1])
        session.send_json({"a": None})
    assert received == [[1], {"a": None}]


def test_iter_text_ends_when_the_client_disconnects() -> None:
    received: list[str] = []
    ended: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            received.append(text)
        ended.append(websocket.client_state.name)

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send_text("one")
        session.send_text("two")
    assert received == ["one", "two"]
    assert ended == ["DISCONNECTED"]


def test_receiving_the_wrong_kind_of_message_raises_runtime_error() -> None:
    errors: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except RuntimeError as exc:
            errors.append(str(exc))
        await websocket.close()

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send_bytes(b"binary")
        with pytest.raises(WebSocketDisconnect):
            session.receive_text()
    assert errors == ["Expected a text websocket message, but got a binary one."]


# --- closing ------------------------------------------------------------------------------


def test_the_client_sees_the_code_and_reason_the_app_closed_with() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=4001, reason="bye")

    with (
        TestClient(ws_app(endpoint)).websocket_connect("/ws") as session,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        session.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "bye")
    assert str(info.value) == "4001: bye"


def test_the_app_sees_the_client_close_as_websocket_disconnect_with_its_code() -> None:
    seen: list[tuple[int, str]] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.close(code=4002, reason="done")
    assert seen == [(4002, "done")]


def test_leaving_the_block_disconnects_with_1000() -> None:
    seen: list[int] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    with TestClient(ws_app(endpoint)).websocket_connect("/ws"):
        pass
    assert seen == [1000]


def test_the_client_answers_the_app_close_with_a_disconnect_echoing_its_code() -> None:
    seen: list[Message] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=4003)
        seen.append(await websocket.receive())

    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        assert session.receive()["code"] == 4003
    assert seen == [{"type": "websocket.disconnect", "code": 4003}]


def test_every_receive_after_the_client_left_is_a_disconnect() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        seen.extend([await receive(), await receive()])

    with TestClient(app).websocket_connect("/") as session:
        session.close(code=4004)
    assert seen == [{"type": "websocket.disconnect", "code": 4004, "reason": ""}] * 2


def test_sending_after_the_client_left_raises_websocket_disconnect_1006() -> None:
    seen: list[int] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.receive_text()
        try:
            await websocket.send_text("anyone?")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)
        assert websocket.application_state is WebSocketState.DISCONNECTED

    with TestClient(ws_app(endpoint)).websocket_connect("/ws"):
        pass
    assert seen == [1006]


@pytest.mark.parametrize("code", [1000, 1008])
def test_an_app_that_closes_before_accepting_refuses_the_connection(code: int) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.close(code=code)

    client = TestClient(ws_app(endpoint))
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    assert info.value.code == code


def test_websocket_close_app_refuses_with_its_code_and_reason() -> None:
    app = App(routes=[WebSocketRoute("/ws", WebSocketClose(code=1013, reason="try later"))])
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws"):
        pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (1013, "try later")


def test_an_app_that_returns_without_accepting_is_a_1006_disconnect() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        return None

    with (
        pytest.raises(WebSocketDisconnect) as info,
        TestClient(ws_app(endpoint)).websocket_connect("/ws"),
    ):
        pass  # pragma: no cover
    assert info.value.code == 1006


# --- denial responses -----------------------------------------------------------------------


def test_a_denial_response_reaches_the_client_with_status_headers_and_body() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        response = PlainTextResponse("go away", status_code=403, headers={"x-reason": "banned"})
        await websocket.send_denial_response(response)

    client = TestClient(ws_app(endpoint))
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    denial = info.value
    assert denial.status_code == 403
    assert denial.headers["x-reason"] == "banned"
    assert denial.content == b"go away"
    assert isinstance(denial, WebSocketDisconnect)
    assert str(denial) == "the app denied the websocket with 403 Forbidden"


def test_a_streamed_denial_response_arrives_whole() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"not "
        yield b"here"

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(StreamingResponse(pieces(), status_code=404))

    client = TestClient(ws_app(endpoint))
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    assert (info.value.status_code, info.value.text) == (404, "not here")


def test_a_denial_response_needs_the_server_extension() -> None:
    errors: list[str] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")  # pragma: no cover

    async def main() -> None:
        websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
        try:
            await websocket.send_denial_response(PlainTextResponse("no", status_code=403))
        except RuntimeError as exc:
            errors.append(str(exc))

    anyio.run(main)
    assert errors == ["The server does not support the 'websocket.http.response' extension."]


# --- state checks ---------------------------------------------------------------------------


def test_a_client_message_out_of_turn_raises_naming_the_expected_message() -> None:
    errors: list[str] = []

    async def receive() -> Message:
        return {"type": "websocket.receive", "text": "before the handshake"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")  # pragma: no cover

    async def main() -> None:
        websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
        try:
            await websocket.accept()
        except RuntimeError as exc:
            errors.append(str(exc))

    anyio.run(main)
    assert errors == ["Expected ASGI message \"websocket.connect\", but got 'websocket.receive'."]


def test_sending_before_accept_raises_naming_the_expected_message() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_text("too early")

    expected = (
        'Expected ASGI message "websocket.accept", "websocket.close" or '
        "\"websocket.http.response.start\", but got 'websocket.send'."
    )
    with pytest.raises(RuntimeError) as info, TestClient(ws_app(endpoint)).websocket_connect("/ws"):
        pass  # pragma: no cover
    assert str(info.value) == expected


def test_receive_text_before_accept_raises() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.receive_text()

    with (
        pytest.raises(RuntimeError, match='Need to call "accept" first'),
        TestClient(ws_app(endpoint)).websocket_connect("/ws"),
    ):
        pass  # pragma: no cover


def test_receiving_after_the_disconnect_raises() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.receive_text()
        await websocket.receive()

    message = 'Cannot call "receive" once a disconnect message has been received.'
    with (
        pytest.raises(RuntimeError, match=message),
        TestClient(ws_app(endpoint)).websocket_connect("/ws") as session,
    ):
        session.close()


def test_sending_after_close_raises() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        await websocket.send_text("late")

    with (
        pytest.raises(RuntimeError, match='Cannot call "send" once a close message'),
        TestClient(ws_app(endpoint)).websocket_connect("/ws") as session,
    ):
        session.receive()


def test_the_session_raises_on_a_binary_message_where_text_was_expected() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_bytes(b"binary")
        await websocket.close()

    client = TestClient(ws_app(endpoint))
    expected = "Expected a text message from the app, but got a binary one."
    with client.websocket_connect("/ws") as session, pytest.raises(RuntimeError, match=expected):
        session.receive_text()


def test_the_session_must_be_entered_before_use() -> None:
    session = TestClient(ws_app(echo_text)).websocket_connect("/ws")
    with pytest.raises(RuntimeError, match="inside `with`"):
        session.send_text("hello")


def test_an_error_in_the_block_stops_the_app_instead_of_waiting_for_it() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await anyio.sleep_forever()

    with (
        pytest.raises(AssertionError, match="the test failed"),
        TestClient(ws_app(endpoint)).websocket_connect("/ws"),
    ):
        raise AssertionError("the test failed")


def test_an_app_error_is_raised_in_the_test() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ValueError("boom")

    with (
        pytest.raises(ValueError, match="boom"),
        TestClient(ws_app(endpoint)).websocket_connect("/ws") as session,
    ):
        session.receive_text()


def test_an_app_error_is_a_1011_close_without_raise_server_exceptions() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ValueError("boom")

    client = TestClient(ws_app(endpoint), raise_server_exceptions=False)
    with client.websocket_connect("/ws") as session, pytest.raises(WebSocketDisconnect) as info:
        session.receive_text()
    assert info.value.code == 1011


def test_states_follow_the_conversation() -> None:
    states: list[tuple[str, str]] = []

    async def endpoint(websocket: WebSocket) -> None:
        states.append((websocket.client_state.name, websocket.application_state.name))
        await websocket.accept()
        states.append((websocket.client_state.name, websocket.application_state.name))
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.receive_text()
        states.append((websocket.client_state.name, websocket.application_state.name))

    with TestClient(ws_app(endpoint)).websocket_connect("/ws"):
        pass
    assert states == [
        ("CONNECTING", "CONNECTING"),
        ("CONNECTED", "CONNECTED"),
        ("DISCONNECTED", "CONNECTED"),
    ]


# --- routing and middleware -----------------------------------------------------------------


async def echo_room(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "params": websocket.path_params,
            "url": str(websocket.url_for("room", room="other", number=2)),
        }
    )
    await websocket.close()


def test_websocket_route_passes_converted_path_params() -> None:
    app = App(routes=[WebSocketRoute("/rooms/{room}/{number:int}", echo_room, name="room")])
    with TestClient(app).websocket_connect("/rooms/lobby/7") as session:
        data = session.receive_json()
    assert data["params"] == {"room": "lobby", "number": 7}
    assert data["url"] == "ws://testserver/rooms/other/2"


def test_url_path_for_builds_a_websocket_path() -> None:
    app = App(routes=[WebSocketRoute("/rooms/{room}", echo_room, name="room")])
    path = app.url_path_for("room", room="lobby")
    assert path == "/rooms/lobby"
    assert path.protocol == "websocket"
    assert str(path.make_absolute_url("https://example.org")) == "wss://example.org/rooms/lobby"


def test_websocket_routes_work_under_a_mount() -> None:
    routes = [WebSocketRoute("/{room}/{number:int}", echo_room, name="room")]
    app = App(routes=[Mount("/chat", routes=routes)])
    path = app.url_path_for("room", room="a", number=1)
    assert (path, path.protocol) == ("/chat/a/1", "websocket")
    with TestClient(app).websocket_connect("/chat/lobby/3") as session:
        data = session.receive_json()
    assert data["params"] == {"room": "lobby", "number": 3}
    assert data["url"] == "ws://testserver/chat/other/2"


def test_websocket_and_http_routes_match_only_their_own_scope_type() -> None:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("page")

    app = App(routes=[Route("/page", page), WebSocketRoute("/ws", echo_text)])
    client = TestClient(app)
    assert client.get("/ws").status_code == 404
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/page"):
        pass  # pragma: no cover
    assert info.value.code == 1000


def test_an_unknown_websocket_path_is_closed() -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        TestClient(ws_app(echo_text)).websocket_connect("/nowhere"),
    ):
        pass  # pragma: no cover
    assert info.value.code == 1000


def test_app_and_router_register_websocket_routes() -> None:
    app = App()

    @app.websocket_route("/decorated", name="decorated")
    async def decorated(websocket: WebSocket) -> None:
        await echo_text(websocket)

    app.add_websocket_route("/added", echo_text, name="added")
    router = Router()
    router.add_websocket_route("/plain", echo_text)
    app.mount("/router", router)
    client = TestClient(app)
    for path in ("/decorated", "/added", "/router/plain"):
        with client.websocket_connect(path) as session:
            session.send_text(path)
            assert session.receive_text() == path
    assert app.url_path_for("added") == "/added"


class AcceptHeader:
    """Pure ASGI middleware: adds a header to the websocket.accept message."""

    def __init__(self, app: ASGIApp, value: bytes) -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message["headers"] = [*message.get("headers", []), (b"x-mw", self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)


def test_a_websocket_goes_through_the_app_middleware() -> None:
    app = App(
        routes=[WebSocketRoute("/ws", echo_text)],
        middleware=[Middleware(AcceptHeader, value=b"app")],
    )
    with TestClient(app).websocket_connect("/ws") as session:
        assert session.extra_headers == [(b"x-mw", b"app")]
        session.send_text("through")
        assert session.receive_text() == "through"


def test_a_websocket_route_wraps_its_own_middleware() -> None:
    route = WebSocketRoute("/ws", echo_text, middleware=[Middleware(AcceptHeader, b"route")])
    with TestClient(App(routes=[route])).websocket_connect("/ws") as session:
        assert session.extra_headers == [(b"x-mw", b"route")]


@pytest.mark.parametrize("accepted", [False, True], ids=["before-accept", "after-accept"])
def test_websocket_exception_in_an_endpoint_closes_with_its_code(accepted: bool) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        if accepted:
            await websocket.accept()
        raise WebSocketException(code=1008, reason="policy")

    client = TestClient(ws_app(endpoint))
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws") as session:
        session.receive_text()
    assert (info.value.code, info.value.reason) == (1008, "policy")


# --- WebSocketEndpoint --------------------------------------------------------------------


class Echo(WebSocketEndpoint):
    """Sends back repr(data) of what on_receive was given; records the close code."""

    closed: ClassVar[list[int]] = []

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(repr(data))

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        self.closed.append(close_code)


def echo_with(encoding: Literal["text", "bytes", "json"] | None) -> type[Echo]:
    return type("EchoWith", (Echo,), {"encoding": encoding, "closed": []})


@pytest.mark.parametrize(
    ("encoding", "text", "data", "expected"),
    [
        ("text", "hi", None, "'hi'"),
        ("bytes", None, b"hi", "b'hi'"),
        ("json", '{"a":1}', None, "{'a': 1}"),
        ("json", None, b"[1,2]", "[1, 2]"),
        (None, "hi", None, "'hi'"),
        (None, None, b"hi", "b'hi'"),
    ],
)
def test_websocket_endpoint_decodes_each_encoding(
    encoding: Literal["text", "bytes", "json"] | None,
    text: str | None,
    data: bytes | None,
    expected: str,
) -> None:
    endpoint = echo_with(encoding)
    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send({"type": "websocket.receive", "text": text, "bytes": data})
        assert session.receive_text() == expected
    assert endpoint.closed == [1000]


@pytest.mark.parametrize(
    ("encoding", "message", "code"),
    [
        ("text", {"bytes": b"x"}, 1003),
        ("bytes", {"text": "x"}, 1003),
        ("json", {"text": "{not json"}, 1007),
        ("json", {"bytes": b"\xff"}, 1007),
    ],
)
def test_websocket_endpoint_closes_on_data_it_cannot_decode(
    encoding: Literal["text", "bytes", "json"], message: dict[str, Any], code: int
) -> None:
    endpoint = echo_with(encoding)
    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.send({"type": "websocket.receive", **message})
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
    assert info.value.code == code
    assert endpoint.closed == [code]


def test_websocket_endpoint_on_disconnect_gets_the_client_close_code() -> None:
    endpoint = echo_with("text")
    with TestClient(ws_app(endpoint)).websocket_connect("/ws") as session:
        session.close(code=4000)
    assert endpoint.closed == [4000]


def test_websocket_endpoint_that_refuses_in_on_connect_never_receives() -> None:
    class Refuse(Echo):
        closed: ClassVar[list[int]] = []

        async def on_connect(self, websocket: WebSocket) -> None:
            await websocket.close(code=1008)

    with (
        pytest.raises(WebSocketDisconnect) as info,
        TestClient(ws_app(Refuse)).websocket_connect("/ws"),
    ):
        pass  # pragma: no cover
    assert info.value.code == 1008
    assert Refuse.closed == []


def test_websocket_endpoint_error_is_raised_after_on_disconnect_with_1011() -> None:
    class Failing(Echo):
        closed: ClassVar[list[int]] = []

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            raise ValueError("bad message")

    with TestClient(ws_app(Failing)).websocket_connect("/ws") as session:
        session.send_text("x")
        with pytest.raises(ValueError, match="bad message"):
            session.receive_text()
    assert Failing.closed == [1011]
