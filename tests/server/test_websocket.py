"""The WebSocket core (bytes <-> ASGI events) and its adapter, without sockets.

The core is fed the bytes a wsproto client writes; the adapter runs over a transport that
records what it is asked to do. The full conversations over real sockets are in
tests/integration/test_websockets.py.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from ferry.server.config import Config
from ferry.server.connection import HTTPConnection, RequestReceived, WebSocketUpgrade
from ferry.server.errors import ASGIProtocolError, ClientDisconnected
from ferry.server.flow import FlowControl
from ferry.server.protocol import ServerState
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Message, Scope
from ferry.server.websocket import WebSocketConnection, WebSocketProtocol, build_websocket_scope

ACCEPT: Message = {"type": "websocket.accept"}


def handshake(
    config: Config, **request: Any
) -> tuple[HTTPConnection, WebSocketUpgrade | RequestReceived, WSConnection]:
    client = WSConnection(ConnectionType.CLIENT)
    data = client.send(Request(host="t", target="/chat?room=1", **request))
    conn = HTTPConnection(
        config, client=("127.0.0.1", 5000), server=("127.0.0.1", 8000), state={"db": 1}
    )
    event = conn.receive_bytes(data)[0]
    assert isinstance(event, WebSocketUpgrade | RequestReceived)
    return conn, event, client


def open_core(
    config: Config | None = None, **request: Any
) -> tuple[WebSocketConnection, WSConnection]:
    config = config or Config(app="x:y")
    conn, upgrade, client = handshake(config, **request)
    assert isinstance(upgrade, WebSocketUpgrade)
    return WebSocketConnection(config, conn, upgrade), client


def client_events(client: WSConnection, data: bytes) -> list[Any]:
    client.receive_data(data)
    return list(client.events())


def test_ws_none_hands_the_upgrade_to_the_app_as_http() -> None:
    _, event, _ = handshake(Config(app="x:y", ws="none"))
    assert isinstance(event, RequestReceived)


def test_other_upgrades_are_plain_requests() -> None:
    conn = HTTPConnection(Config(app="x:y"), None, None)
    happened = conn.receive_bytes(
        b"GET / HTTP/1.1\r\nhost: t\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n"
    )
    assert isinstance(happened[0], RequestReceived)


def test_the_websocket_scope() -> None:
    core, _ = open_core(subprotocols=["a", "b"])
    scope = build_websocket_scope(core.upgrade.scope, core.upgrade.subprotocols)
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/chat"
    assert scope["query_string"] == b"room=1"
    assert scope["subprotocols"] == ["a", "b"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["state"] == {"db": 1}
    assert "method" not in scope
    https = dict(core.upgrade.scope, scheme="https")
    assert build_websocket_scope(https, [])["scheme"] == "wss"  # type: ignore[arg-type]


def test_accept_with_subprotocol_headers_and_deflate() -> None:
    core, client = open_core(subprotocols=["chat"], extensions=[PerMessageDeflate()])
    data = core.send({**ACCEPT, "subprotocol": "chat", "headers": [(b"X-A", b"1")]})
    (accepted,) = client_events(client, data)
    assert isinstance(accepted, AcceptConnection)
    assert accepted.subprotocol == "chat"
    assert (b"x-a", b"1") in accepted.extra_headers
    assert [ext.name for ext in accepted.extensions] == ["permessage-deflate"]
    core.receive_bytes(client.send(TextMessage(data="zip " * 100)))
    echoed = core.send({"type": "websocket.send", "text": "zip " * 100})
    (message,) = client_events(client, echoed)
    assert message.data == "zip " * 100


def test_deflate_can_be_turned_off() -> None:
    core, client = open_core(
        Config(app="x:y", ws_per_message_deflate=False), extensions=[PerMessageDeflate()]
    )
    (accepted,) = client_events(client, core.send(ACCEPT))
    assert accepted.extensions == []


def test_frames_sent_before_the_accept_are_delivered_after_it() -> None:
    core, _ = open_core()
    # A client may pipeline a frame right behind its handshake: hand-make one (masked).
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"early"))
    assert core.receive_bytes(b"\x81\x85" + mask + payload) == []
    core.send(ACCEPT)
    assert core.pending_events() == [{"type": "websocket.receive", "bytes": None, "text": "early"}]


def test_close_before_accept_is_403() -> None:
    core, client = open_core()
    rejected, *_body = client_events(client, core.send({"type": "websocket.close"}))
    assert isinstance(rejected, RejectConnection)
    assert rejected.status_code == 403
    assert core.closed


def test_messages_out_of_order_are_refused() -> None:
    core, _ = open_core()
    with pytest.raises(ASGIProtocolError):
        core.send({"type": "websocket.send", "text": "too soon"})
    core.send(ACCEPT)
    with pytest.raises(ASGIProtocolError):
        core.send({"type": "websocket.send"})
    with pytest.raises(ASGIProtocolError):
        core.send(ACCEPT)


def test_client_close_is_answered_and_reported_once() -> None:
    core, client = open_core()
    client_events(client, core.send(ACCEPT))
    events = core.receive_bytes(client.send(CloseConnection(code=4000, reason="x")))
    assert events == [{"type": "websocket.disconnect", "code": 4000, "reason": "x"}]
    (reply,) = client_events(client, core.data_to_send())
    assert isinstance(reply, CloseConnection)
    assert core.closed
    assert core.receive_eof() == []
    with pytest.raises(ClientDisconnected):
        core.send({"type": "websocket.send", "text": "gone"})


def test_a_dropped_connection_is_1006() -> None:
    core, _ = open_core()
    core.send(ACCEPT)
    assert core.receive_eof() == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


def test_a_message_over_the_limit_closes_with_1009() -> None:
    core, client = open_core(Config(app="x:y", ws_max_size_bytes=10))
    client_events(client, core.send(ACCEPT))
    events = core.receive_bytes(client.send(BytesMessage(data=b"x" * 11)))
    assert events == [{"type": "websocket.disconnect", "code": 1009, "reason": ""}]
    (close,) = client_events(client, core.data_to_send())
    assert close.code == 1009


def test_ping_and_pong() -> None:
    core, client = open_core()
    client_events(client, core.send(ACCEPT))
    core.receive_bytes(client.send(Ping(payload=b"p")))
    (pong,) = client_events(client, core.data_to_send())
    assert pong.payload == b"p"
    (ping,) = client_events(client, core.ping(b"k"))
    assert core.ping_outstanding
    core.receive_bytes(client.send(ping.response()))
    assert not core.ping_outstanding


# --- the adapter ------------------------------------------------------------------------------


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


async def _idle_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    await receive()
    await send(ACCEPT)


def open_adapter(**options: Any) -> tuple[WebSocketProtocol, RecordingTransport, WSConnection]:
    config = Config(app="x:y", **options)
    conn, upgrade, client = handshake(config)
    assert isinstance(upgrade, WebSocketUpgrade)
    transport = RecordingTransport()
    loop = asyncio.get_running_loop()
    protocol = WebSocketProtocol(
        ServerState(config, _idle_app), loop, transport, FlowControl(transport), conn, upgrade
    )
    return protocol, transport, client


def test_a_full_queue_pauses_reading() -> None:
    async def main() -> None:
        protocol, transport, client = open_adapter(ws_max_queue=3)
        assert await protocol.receive() == {"type": "websocket.connect"}
        await protocol.send(ACCEPT)
        client_events(client, transport.written)
        for n in range(3):
            protocol.data_received(client.send(TextMessage(data=str(n))))
        assert transport.calls == ["pause"]
        assert (await protocol.receive())["text"] == "0"
        assert transport.calls == ["pause", "resume"]

    asyncio.run(main())


def test_an_unanswered_ping_closes_with_1011() -> None:
    async def main() -> None:
        protocol, transport, client = open_adapter(ws_ping_interval_s=1.0, ws_ping_timeout_s=1.0)
        await protocol.receive()
        await protocol.send(ACCEPT)
        client_events(client, transport.written)
        transport.written = b""
        now = asyncio.get_running_loop().time()
        protocol.check_deadline(now + 1.5)  # a ping goes out
        (ping,) = client_events(client, transport.written)
        assert isinstance(ping, Ping)
        transport.written = b""
        protocol.check_deadline(now + 3.0)  # and is not answered
        (close,) = client_events(client, transport.written)
        assert close.code == 1011
        assert transport.closing
        with pytest.raises(ClientDisconnected):
            await protocol.send({"type": "websocket.send", "text": "late"})

    asyncio.run(main())


def test_shutdown_closes_with_1012_and_tells_the_app() -> None:
    async def main() -> None:
        protocol, transport, client = open_adapter()
        await protocol.receive()
        await protocol.send(ACCEPT)
        client_events(client, transport.written)
        transport.written = b""
        protocol.shutdown()
        (close,) = client_events(client, transport.written)
        assert close.code == 1012
        assert (await protocol.receive())["code"] == 1012
        protocol.data_received(client.send(close.response()))
        assert transport.closing

    asyncio.run(main())


def _masked(first_byte: int, payload: bytes) -> bytes:
    # A client frame with a zero mask: well-framed, whatever its header bits say.
    if len(payload) < 126:
        return bytes([first_byte, 0x80 | len(payload)]) + bytes(4) + payload
    return bytes([first_byte, 0x80 | 126]) + len(payload).to_bytes(2, "big") + bytes(4) + payload


# Raw bytes are mostly refused at once (unmasked); masked frames with any header byte reach
# the opcode, fragmentation, UTF-8, size and close-code rules.
_frames = st.builds(_masked, st.integers(0, 255), st.binary(max_size=700))
_pieces = st.lists(st.one_of(_frames, st.binary(max_size=40)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(chunks=_pieces)
def test_any_bytes_after_the_accept_yield_events_or_a_close_never_a_crash(
    chunks: list[bytes],
) -> None:
    core, client = open_core(Config(app="x:y", ws_max_size_bytes=512))
    client_events(client, core.send(ACCEPT))
    disconnects = 0
    for chunk in chunks:
        for event in core.receive_bytes(chunk):
            assert event["type"] in ("websocket.receive", "websocket.disconnect")
            disconnects += event["type"] == "websocket.disconnect"
        core.data_to_send()
    disconnects += len(core.receive_eof())
    assert disconnects == 1  # the app hears of the end exactly once
    assert core.closed


@settings(max_examples=100, deadline=None)
@given(
    payload=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.sampled_from([125, 126, 127, 0xFFFF, 0x10000]).map(lambda n: b"x" * n),
    )
)
def test_a_sent_message_is_the_frame_wsproto_would_make(payload: str | bytes) -> None:
    core, client = open_core()
    client_events(client, core.send(ACCEPT))
    key = "text" if isinstance(payload, str) else "bytes"
    data = core.send({"type": "websocket.send", key: payload})
    reference = Connection(ConnectionType.SERVER)  # wsproto's own, open, no extensions
    expected = reference.send(
        TextMessage(data=payload) if isinstance(payload, str) else BytesMessage(data=payload)
    )
    assert data == expected
    (message,) = client_events(client, data)
    assert message.data == payload
    assert message.message_finished


# --- the receive fast path reads frames exactly as wsproto does ----------------------------


def _client_frame(first: int, payload: bytes, key: bytes, masked: bool, form: int) -> bytes:
    # RFC 6455 §5.2 by hand: `form` 0 is the shortest length, 1 and 2 force the 16- and
    # 64-bit forms (legal only when needed), 3 sets the 64-bit form's forbidden top bit.
    length = len(payload)
    if form == 0 and length < 126:
        head = bytes([first, length])
    elif form <= 1 and length < 0x10000:
        head = bytes([first, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + (length | (1 << 63 if form == 3 else 0)).to_bytes(8, "big")
    if not masked:
        return head + payload
    head = bytes([head[0], head[1] | 0x80]) + head[2:]
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


_payloads = st.one_of(
    st.text(max_size=200).map(str.encode),
    st.binary(max_size=300),
    st.sampled_from([b"\xff", b"ok\xe2\x82", b"\xed\xa0\x80", b"\xc3\xa9" * 300, b"y" * 0x10000]),
    st.builds(lambda code, why: code.to_bytes(2, "big") + why, st.integers(0, 5000), st.binary()),
)
_usual = st.sampled_from([0x81, 0x82, 0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x89, 0x8A, 0x88])
# Mostly masked frames with a well-formed head, so that they reach the fast path, the
# fragmentation, UTF-8, size and close-code rules; now and then anything else.
_client_frames = st.builds(
    _client_frame,
    st.one_of(_usual, _usual, _usual, st.integers(0, 255)),
    _payloads,
    st.binary(min_size=4, max_size=4),
    st.sampled_from([True] * 9 + [False]),
    st.sampled_from([0] * 6 + [1, 2, 3]),
)


@st.composite
def _client_stream(draw: st.DrawFn) -> tuple[list[bytes], int, int, bool]:
    """Frames (and maybe raw bytes) cut at random places; how many pieces come before the
    accept; the --ws-max-size; whether the stream is whole frames only."""
    raw = draw(st.booleans())
    part = st.one_of(_client_frames, st.binary(max_size=20)) if raw else _client_frames
    stream = b"".join(draw(st.lists(part, max_size=8)))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    bounds = [0, *cuts, len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    early = draw(st.integers(0, min(1, len(pieces))))
    return pieces, early, draw(st.sampled_from([512, 1 << 20])), not raw


def _assert_read_as_wsproto_reads(
    pieces: list[bytes], early: int = 0, max_size: int = 512, whole: bool = True
) -> None:
    config = Config(app="x:y", ws_max_size_bytes=max_size)
    core, _ = open_core(config)
    reference, _ = open_core(config)
    for piece in pieces[:early]:
        assert core.receive_bytes(piece) == reference.receive_bytes(piece) == []
    core.send(ACCEPT)  # each 101 answers its own Sec-WebSocket-Key
    reference.send(ACCEPT)
    reference._plain_frames = False  # every byte through wsproto, as with an extension
    assert core.pending_events() == reference.pending_events()
    assert core.data_to_send() == reference.data_to_send()
    for piece in [*pieces[early:], b""]:  # b"": what wsproto still holds after a close
        assert core.receive_bytes(piece) == reference.receive_bytes(piece)
        assert core.data_to_send() == reference.data_to_send()
        assert (core.state, core.closed) == (reference.state, reference.closed)
    if whole and core.is_open:
        # Whole frames in: the reader is back between frames, and knows whether a
        # fragmented message is under way.
        assert (core._wsproto_head, core._wsproto_left) == (b"", 0)
        assert core._wsproto_in_message == bool(core._fragments)
    assert core.receive_eof() == reference.receive_eof()
    assert core.close_code == reference.close_code


@settings(max_examples=500, deadline=None)
@given(stream=_client_stream())
def test_frames_read_by_the_fast_path_give_what_wsproto_gives(
    stream: tuple[list[bytes], int, int, bool],
) -> None:
    _assert_read_as_wsproto_reads(*stream)


_KEY = b"\x01\x02\x03\x04"


def _text(data: str, first: int = 0x81) -> bytes:
    return _client_frame(first, data.encode(), _KEY, True, 0)


@pytest.mark.parametrize(
    "pieces",
    [
        # A text frame inside a fragmented message is wsproto's to refuse (1002).
        [_text("a", 0x01) + _text("b")],
        [_text("a", 0x01), _text("b", 0x80) + _text("c")],
        # A header cut in two, then frames the fast path may read again.
        [_text("a" * 200)[:3], _text("a" * 200)[3:] + _text("b")],
        [_text("a")[:1], _text("a")[1:4], _text("a")[4:] + _text("b")],
        # After a message over the limit, data is dropped and the client's Close still read.
        [_text("x" * 600) + _client_frame(0x88, b"\x03\xe8", _KEY, True, 0) + _text("y")],
        [_text("x" * 600) + _text("y"), _client_frame(0x88, b"\x03\xe8", _KEY, True, 0)],
        # Not UTF-8: 1007 with wsproto's reason.
        [_client_frame(0x81, b"ok\xe2\x82", _KEY, True, 0) + _text("z")],
        # 16- and 64-bit lengths, shortest and not.
        [_client_frame(0x82, b"b" * 300, _KEY, True, 0), _client_frame(0x82, b"c", _KEY, True, 1)],
        [_client_frame(0x82, b"b" * 0x10000, _KEY, True, 0) + _text("d")],
    ],
)
def test_the_fast_path_hands_wsproto_what_it_must_judge(pieces: list[bytes]) -> None:
    _assert_read_as_wsproto_reads(pieces, max_size=1 << 20 if len(pieces[-1]) > 0x10000 else 512)
