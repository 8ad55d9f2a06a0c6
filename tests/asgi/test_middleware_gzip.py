"""GZipMiddleware: what is compressed, what is left alone, and streams that stay streams."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.asgi.middleware.gzip import GZipMiddleware, accepts_gzip
from ferry.asgi.responses import PlainTextResponse, Response, StreamingResponse
from ferry.asgi.testing import ASGITransport, TestClient
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send

BIG = b"ferry " * 200  # 1200 bytes, over the default minimum_size of 500


def get_raw(
    app: ASGIApp, accept_encoding: str = "gzip", **options: int
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, before httpx decodes it."""
    client = TestClient(GZipMiddleware(app, **options))
    with client.stream("GET", "/", headers={"accept-encoding": accept_encoding}) as response:
        return response, b"".join(response.iter_raw())


def run_middleware(app: ASGIApp, scope: Scope, minimum_size: int = 500) -> list[Message]:
    """Call the middleware directly; return the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(GZipMiddleware(app, minimum_size=minimum_size), scope, receive, send)
    return sent


def http_scope(accept_encoding: bytes = b"gzip") -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"accept-encoding", accept_encoding)],
    }


# --- whole bodies ---------------------------------------------------------------------------


def test_large_body_is_compressed_with_its_headers_fixed() -> None:
    response, raw = get_raw(PlainTextResponse(BIG))
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == str(len(raw))
    assert len(raw) < len(BIG)
    assert gzip.decompress(raw) == BIG


def test_client_reads_the_compressed_body_decoded() -> None:
    response = TestClient(GZipMiddleware(PlainTextResponse(BIG))).get("/")
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == BIG


def test_small_body_is_sent_unchanged() -> None:
    response, raw = get_raw(PlainTextResponse(b"short"))
    assert raw == b"short"
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert response.headers["content-length"] == "5"


def test_minimum_size_is_configurable() -> None:
    response, raw = get_raw(PlainTextResponse(b"x" * 100), minimum_size=50)
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == b"x" * 100


def test_empty_body_is_never_compressed() -> None:
    response, raw = get_raw(Response(status_code=204), minimum_size=0)
    assert response.status_code == 204
    assert raw == b""
    assert "content-encoding" not in response.headers


def test_compresslevel_is_used() -> None:
    body = bytes(range(256)) * 40
    _, fast = get_raw(Response(body), compresslevel=1)
    _, small = get_raw(Response(body), compresslevel=9)
    assert gzip.decompress(fast) == gzip.decompress(small) == body
    assert len(small) < len(fast)


def test_apps_vary_is_extended() -> None:
    response, _ = get_raw(PlainTextResponse(BIG, headers={"vary": "Origin"}))
    assert response.headers["vary"] == "Origin, Accept-Encoding"


def test_a_reused_response_object_is_compressed_every_time() -> None:
    shared = PlainTextResponse(BIG)
    for _ in range(2):
        response, raw = get_raw(shared)
        assert response.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw) == BIG
    assert shared.headers["content-length"] == str(len(BIG))
    assert "content-encoding" not in shared.headers


# --- what the client accepts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, GZIP;q=0.5", True),
        ("*", True),
        ("br, *;q=0.1", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000, *", False),
        ("*;q=0", False),
        ("gzip;q=junk", False),
        ("x-gzipped", False),
    ],
)
def test_accept_encoding_is_parsed_with_qualities(accept_encoding: str, accepted: bool) -> None:
    assert accepts_gzip(accept_encoding) is accepted


def test_client_not_accepting_gzip_gets_the_body_unchanged() -> None:
    response, raw = get_raw(PlainTextResponse(BIG), accept_encoding="identity")
    assert raw == BIG
    assert "content-encoding" not in response.headers


# --- responses left alone -------------------------------------------------------------------


def test_event_stream_is_not_compressed() -> None:
    async def events() -> AsyncIterator[bytes]:
        yield b"data: " + BIG + b"\n\n"

    response, raw = get_raw(StreamingResponse(events(), media_type="text/event-stream"))
    assert "content-encoding" not in response.headers
    assert raw == b"data: " + BIG + b"\n\n"


def test_already_encoded_response_is_not_compressed_again() -> None:
    encoded = gzip.compress(BIG)
    app = Response(encoded, headers={"content-encoding": "gzip"}, media_type="text/plain")
    response, raw = get_raw(app)
    assert raw == encoded
    assert response.headers["content-length"] == str(len(encoded))
    assert "vary" not in response.headers


def test_partial_content_is_not_compressed() -> None:
    app = Response(BIG, status_code=206, headers={"content-range": f"bytes 0-1199/{len(BIG)}"})
    response, raw = get_raw(app)
    assert raw == BIG
    assert "content-encoding" not in response.headers


def test_lifespan_scope_passes_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    assert run_middleware(app, {"type": "lifespan"}) == []
    assert seen == ["lifespan"]


def test_other_messages_after_start_release_the_held_start() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": "/tmp/x"})

    sent = run_middleware(app, http_scope())
    assert [message["type"] for message in sent] == [
        "http.response.start",
        "http.response.pathsend",
    ]


def test_body_without_start_is_passed_on_for_the_server_to_refuse() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": BIG})

    assert run_middleware(app, http_scope()) == [{"type": "http.response.body", "body": BIG}]


# --- streamed responses ---------------------------------------------------------------------


def test_streamed_response_drops_content_length_and_is_compressed() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"a" * 10
        yield b"b" * 10

    app = StreamingResponse(pieces(), headers={"content-length": "20"})
    response, raw = get_raw(app)
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert gzip.decompress(raw) == b"a" * 10 + b"b" * 10


def test_streamed_piece_reaches_the_client_before_the_next_is_made() -> None:
    made: list[str] = []

    async def main() -> None:
        go_on = anyio.Event()

        async def pieces() -> AsyncIterator[bytes]:
            yield b"first " * 100
            # The stream waits here until the client has the first piece: a middleware
            # that buffered the body would never send it (and fail_after ends the test).
            await go_on.wait()
            made.append("second")
            yield b"second " * 100

        transport = ASGITransport(GZipMiddleware(StreamingResponse(pieces())), lifespan="off")
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        with anyio.fail_after(5):
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
                client.stream("GET", "/", headers={"accept-encoding": "gzip"}) as response,
            ):
                raw_pieces = response.aiter_raw()
                first = await anext(raw_pieces)
                assert decompressor.decompress(first) == b"first " * 100
                assert made == []
                go_on.set()
                rest = b"".join([decompressor.decompress(piece) async for piece in raw_pieces])
        assert rest == b"second " * 100
        assert decompressor.eof

    anyio.run(main)
    assert made == ["second"]


def test_trailers_after_a_compressed_stream_are_passed_on() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"a" * 10, "more_body": True})
        await send({"type": "http.response.body", "body": b"b" * 10, "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})

    start, first, last, trailers = run_middleware(app, http_scope())
    assert (b"content-encoding", b"gzip") in start["headers"]
    assert gzip.decompress(first["body"] + last["body"]) == b"a" * 10 + b"b" * 10
    assert trailers == {"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]}


@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.binary(max_size=1500), min_size=1, max_size=6))
def test_any_body_in_any_pieces_round_trips(pieces: list[bytes]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/octet-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, piece in enumerate(pieces):
            more_body = index < len(pieces) - 1
            await send({"type": "http.response.body", "body": piece, "more_body": more_body})

    start, *bodies = run_middleware(app, http_scope(), minimum_size=500)
    # One message out for each message in: nothing is held back.
    assert len(bodies) == len(pieces)
    headers = dict(start["headers"])
    sent = b"".join(message["body"] for message in bodies)
    if len(pieces) == 1 and len(pieces[0]) < 500:
        assert b"content-encoding" not in headers
        assert sent == pieces[0]
    else:
        assert headers[b"content-encoding"] == b"gzip"
        assert gzip.decompress(sent) == b"".join(pieces)
