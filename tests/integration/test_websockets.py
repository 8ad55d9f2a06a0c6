"""WebSockets through real sockets: ferry.server on wsproto, a wsproto client on a raw socket."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration.http_helpers import address, connect, serve
from tests.integration.ws_helpers import (
    BytesMessage,
    CloseConnection,
    TextMessage,
    WSClient,
    ws_connect,
    ws_socket,
)
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Ping, Pong, RejectConnection, Request
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode

from ferry.asgi import App, WebSocket, WebSocketRoute
from ferry.server.errors import ClientDisconnected
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope

# What the echo app saw, for the tests that look at the app's side.
seen: list[Any] = []


async def echo_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Echoes messages; the path picks a behaviour for the close and error tests."""
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"http ok"})
        return
    assert scope["type"] == "websocket"
    path = scope["path"]
    assert (await receive())["type"] == "websocket.connect"
    if path == "/deny":
        await send(
            {"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"no")]}
        )
        await send({"type": "websocket.http.response.body", "body": b"go away"})
        return
    if path == "/close-early":
        await send({"type": "websocket.close"})
        return
    if path == "/raise-early":
        raise RuntimeError("boom before accept")
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-extra", b"1")]}
    )
    if path == "/scope":
        info = {key: scope[key] for key in ("scheme", "path", "query_string", "subprotocols")}
        await send({"type": "websocket.send", "text": repr(sorted(info.items()))})
    if path == "/close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
        seen.append(await receive())
        return
    if path == "/raise":
        raise RuntimeError("boom after accept")
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            seen.append(message)
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(echo_app, ws_max_size_bytes=64 * 1024) as base:
        yield base


def test_handshake_with_subprotocol_and_scope(url: str) -> None:
    with ws_connect(url, "/scope?x=1", subprotocols=["chat", "other"]) as client:
        assert client.accepted is not None
        assert client.accepted.subprotocol == "chat"
        assert (b"x-extra", b"1") in client.accepted.extra_headers
        text = client.receive_message()
        assert text == repr(
            sorted(
                {
                    "scheme": "ws",
                    "path": "/scope",
                    "query_string": b"x=1",
                    "subprotocols": ["chat", "other"],
                }.items()
            )
        )


@pytest.mark.parametrize("deflate", [False, True])
def test_text_and_binary_echo(url: str, deflate: bool) -> None:
    extensions = [PerMessageDeflate()] if deflate else []
    with ws_connect(url, "/echo", extensions=extensions) as client:
        assert client.accepted is not None
        assert bool(client.accepted.extensions) is deflate
        client.send(TextMessage(data="héllo"))
        assert client.receive_message() == "héllo"
        client.send(BytesMessage(data=b"\x00\x01" * 1000))
        assert client.receive_message() == b"\x00\x01" * 1000


def test_fragmented_messages_are_joined(url: str) -> None:
    with ws_connect(url, "/echo") as client:
        client.send(TextMessage(data="hel", message_finished=False))
        client.send(TextMessage(data="lo", message_finished=True))
        assert client.receive_message() == "hello"
        client.send(BytesMessage(data=b"ab", message_finished=False))
        client.send(BytesMessage(data=b"cd", message_finished=True))
        assert client.receive_message() == b"abcd"


def test_ping_is_answered_with_pong(url: str) -> None:
    with ws_connect(url, "/echo") as client:
        client.send(Ping(payload=b"are you there"))
        event = client.next_event()
        assert isinstance(event, Pong)
        assert event.payload == b"are you there"


def test_client_close_reaches_the_app_with_its_code(url: str) -> None:
    seen.clear()
    with ws_connect(url, "/echo") as client:
        client.send(CloseConnection(code=4321, reason="done"))
        reply = client.receive_close()
        assert reply.code == 4321
        assert client.sock.recv(10) == b""  # then the server closes the socket
    _wait_for(lambda: bool(seen))
    assert seen[-1] == {"type": "websocket.disconnect", "code": 4321, "reason": "done"}


def test_app_close_with_code_and_reason(url: str) -> None:
    seen.clear()
    with ws_connect(url, "/close") as client:
        close = client.receive_close()
        assert (close.code, close.reason) == (4001, "bye now")
    _wait_for(lambda: bool(seen))
    assert seen[-1]["type"] == "websocket.disconnect"


def test_app_error_after_accept_closes_with_1011(url: str) -> None:
    with ws_connect(url, "/raise") as client:
        assert client.receive_close().code == 1011


def test_app_closing_before_accept_gives_403(url: str) -> None:
    with ws_socket(url) as sock:
        event = WSClient(sock).handshake("/close-early")
        assert isinstance(event, RejectConnection)
        assert event.status_code == 403


def test_app_error_before_accept_gives_500(url: str) -> None:
    with ws_socket(url) as sock:
        event = WSClient(sock).handshake("/raise-early")
        assert isinstance(event, RejectConnection)
        assert event.status_code == 500


def test_denial_response_with_status_and_body(url: str) -> None:
    with ws_socket(url) as sock:
        client = WSClient(sock)
        event = client.handshake("/deny")
        assert isinstance(event, RejectConnection)
        assert event.status_code == 401
        assert (b"x-why", b"no") in event.headers
        assert client.reject_body() == b"go away"


def test_oversized_message_closes_with_1009(url: str) -> None:
    seen.clear()
    with ws_connect(url, "/echo") as client:
        client.send(BytesMessage(data=b"x" * (64 * 1024 + 1)))
        assert client.receive_close().code == 1009
    _wait_for(lambda: bool(seen))
    assert seen[-1]["code"] == 1009


def test_malformed_frame_closes_with_protocol_error(url: str) -> None:
    with ws_connect(url, "/echo") as client:
        # An unmasked text frame from a client (RFC 6455 §5.1) and a reserved opcode.
        client.sock.sendall(bytes([0x80 | Opcode.TEXT.value, 2]) + b"hi")
        assert client.receive_close().code == 1002


def _masked_frame(first_byte: int, payload: bytes) -> bytes:
    """One client frame, masked as RFC 6455 §5.3 asks; `first_byte` is FIN, RSV and opcode."""
    mask = b"\x0f\x1e\x2d\x3c"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    if len(payload) < 126:
        length = bytes([0x80 | len(payload)])
    else:
        length = bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return bytes([first_byte]) + length + mask + masked


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (_masked_frame(0x80 | 0x3, b"x"), 1002),  # a reserved opcode
        (_masked_frame(0x80 | 0x40 | Opcode.TEXT.value, b"x"), 1002),  # RSV1, nothing agreed
        (_masked_frame(Opcode.PING.value, b"x"), 1002),  # a fragmented control frame
        (_masked_frame(0x80 | Opcode.PING.value, b"x" * 126), 1002),  # control frame > 125
        (_masked_frame(0x80 | Opcode.CONTINUATION.value, b"x"), 1002),  # nothing to continue
        (_masked_frame(0x80 | Opcode.TEXT.value, b"\xff\xfe"), 1007),  # text not UTF-8
    ],
    ids=["reserved-opcode", "rsv1", "fragmented-ping", "long-ping", "stray-continuation", "utf8"],
)
def test_each_kind_of_malformed_frame_closes_and_the_server_goes_on(
    url: str, frame: bytes, code: int
) -> None:
    with ws_connect(url, "/echo") as client:
        client.sock.sendall(frame)
        assert client.receive_close().code == code
    with ws_connect(url, "/echo") as client:
        client.send(TextMessage(data="still here"))
        assert client.receive_message() == "still here"


def _raw_handshake(url: str, headers: bytes) -> int:
    with connect(url) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + headers
            + b"\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):  # a refused handshake closes the connection
            data += chunk
        return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "headers",
    [
        b"Sec-WebSocket-Version: 13\r\n",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
    ],
    ids=["missing-key", "wrong-version"],
)
def test_bad_handshake_gets_400_and_the_server_goes_on(url: str, headers: bytes) -> None:
    assert _raw_handshake(url, headers) == 400
    assert httpx.get(url + "/").text == "http ok"
    with ws_connect(url, "/echo") as client:
        client.send(TextMessage(data="still here"))
        assert client.receive_message() == "still here"


def test_many_concurrent_websockets() -> None:
    async def run(host: str, port: int) -> None:
        async def one(n: int) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                ws = WSConnection(ConnectionType.CLIENT)
                writer.write(ws.send(Request(host=host, target="/echo")))
                got: list[str] = []
                while len(got) < 3:
                    data = await asyncio.wait_for(reader.read(65536), 5.0)
                    assert data, "the server closed early"
                    ws.receive_data(data)
                    for event in ws.events():
                        if isinstance(event, AcceptConnection):
                            for i in range(3):
                                writer.write(ws.send(TextMessage(data=f"{n}-{i}")))
                        elif isinstance(event, TextMessage):
                            got.append(event.data)
                assert got == [f"{n}-{i}" for i in range(3)]
                writer.write(ws.send(CloseConnection(code=1000)))
                await writer.drain()
            finally:
                writer.close()
                await writer.wait_closed()

        await asyncio.gather(*(one(n) for n in range(200)))

    with serve(echo_app, backlog=512) as base:
        asyncio.run(run(*address(base)))


def test_graceful_shutdown_closes_with_1012() -> None:
    seen.clear()
    server = serve(echo_app)
    base = server.__enter__()
    stopped = False
    try:
        with ws_connect(base, "/echo") as client:
            client.send(TextMessage(data="x"))
            assert client.receive_message() == "x"
            # The server shuts down (in this thread) while the client waits for its Close.
            result: list[CloseConnection] = []
            thread = threading.Thread(target=lambda: result.append(client.receive_close()))
            thread.start()
            stopped = True
            server.__exit__(None, None, None)
            thread.join(5)
    finally:
        if not stopped:
            server.__exit__(None, None, None)
    assert result
    assert result[0].code == 1012
    assert seen[-1]["code"] == 1012


def test_send_after_the_client_left_raises_client_disconnected() -> None:
    outcome: list[BaseException | None] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        assert (await receive())["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    with serve(app) as base:
        with ws_connect(base, "/"):
            pass  # the socket closes without a Close frame
        _wait_for(lambda: bool(outcome))
    assert isinstance(outcome[0], ClientDisconnected)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_echo_on_each_event_loop(loop: str) -> None:
    with serve(echo_app, loop=loop) as base, ws_connect(base, "/echo") as client:
        client.send(TextMessage(data="loop"))
        assert client.receive_message() == "loop"
        client.send(CloseConnection(code=1000))
        assert client.receive_close().code == 1000


async def http_only_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']!r}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"plain"})


def test_http_only_app_refuses_cleanly() -> None:
    with serve(http_only_app) as base, ws_socket(base) as sock:
        event = WSClient(sock).handshake("/")
        assert isinstance(event, RejectConnection)
        assert event.status_code == 500
        assert httpx.get(base + "/").text == "plain"


def test_ws_none_leaves_upgrades_to_the_app_as_http() -> None:
    with serve(http_only_app, ws="none") as base, ws_socket(base) as sock:
        client = WSClient(sock)
        event = client.handshake("/")
        assert isinstance(event, RejectConnection)
        assert event.status_code == 200
        assert client.reject_body() == b"plain"


def test_keep_alive_ping_reaches_the_client() -> None:
    options: dict[str, Any] = {"ws_ping_interval_s": 0.1, "ws_ping_timeout_s": 2.0}
    with serve(echo_app, **options) as base, ws_connect(base, "/echo") as client:
        assert isinstance(client.next_event(), Ping)  # answered by the helper
        client.send(TextMessage(data="after ping"))
        assert client.receive_message() == "after ping"


async def _toolkit_echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="v1")
    name = websocket.path_params["name"]
    async for text in websocket.iter_text():
        await websocket.send_text(f"{name}: {text}")


def test_toolkit_app_over_a_real_socket() -> None:
    app = App(routes=[WebSocketRoute("/ws/{name}", _toolkit_echo)])
    with serve(app) as base, ws_connect(base, "/ws/ann", subprotocols=["v1"]) as client:
        assert client.accepted is not None
        assert client.accepted.subprotocol == "v1"
        client.send(TextMessage(data="hi"))
        assert client.receive_message() == "ann: hi"
        client.send(CloseConnection(code=1000))
        assert client.receive_close().code == 1000


# --- limits and the access log ------------------------------------------------------------


def test_upgrade_over_limit_concurrency_gets_503_until_a_websocket_ends(url: str) -> None:
    with serve(echo_app, limit_concurrency=1) as base:
        with ws_connect(base, "/echo") as first:
            first.send(TextMessage(data="one"))
            assert first.receive_message() == "one"
            with ws_socket(base) as sock:
                refused = WSClient(sock).handshake("/echo")
            assert isinstance(refused, RejectConnection)
            assert refused.status_code == 503
            assert httpx.get(base + "/").status_code == 503  # HTTP and WebSockets share it
            first.send(CloseConnection(code=1000))
            first.receive_close()

        def accepted_again() -> bool:
            with ws_socket(base) as sock:
                return isinstance(WSClient(sock).handshake("/echo"), AcceptConnection)

        _wait_for(accepted_again)


def test_websockets_count_toward_limit_max_requests() -> None:
    with (
        serve(echo_app, limit_max_requests=2) as base,
        ws_connect(base, "/echo") as first,
        ws_connect(base, "/echo") as second,
    ):
        # The second handshake reached the limit: the server shuts down gracefully.
        assert first.receive_close().code == 1012
        assert second.receive_close().code == 1012


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    # The ferry loggers may not propagate to the root logger: listen on the logger itself.
    logger = logging.getLogger("ferry.access")
    handler = _Collected()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_each_handshake_answer_writes_one_access_line(access_lines: list[str]) -> None:
    with serve(echo_app, access_log=True) as base:
        with ws_connect(base, "/echo?room=1") as client:
            port = client.sock.getsockname()[1]
            client.send(TextMessage(data="x"))
            client.receive_message()
        for path in ("/close-early", "/deny", "/raise-early"):
            with ws_socket(base) as sock:
                assert isinstance(WSClient(sock).handshake(path), RejectConnection)
        _wait_for(lambda: len(access_lines) == 4)
    assert access_lines[0].startswith(f'127.0.0.1:{port} - "WebSocket /echo?room=1" 101 accepted ')
    assert [line.split('"', 2)[2].rsplit(" ", 1)[0] for line in access_lines] == [
        " 101 accepted",
        " 403 rejected",
        " 401 denied",
        " 500 failed",
    ]
    assert all(line.endswith("ms") for line in access_lines)


def test_access_log_off_writes_no_websocket_line(access_lines: list[str]) -> None:
    with serve(echo_app, access_log=False) as base, ws_connect(base, "/echo") as client:
        client.send(TextMessage(data="x"))
        assert client.receive_message() == "x"
    assert access_lines == []


def _wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
