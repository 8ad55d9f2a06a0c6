"""Helpers for the sans-IO connection tests: reading what the server wrote as a client would."""

from __future__ import annotations

import h11


def read_response(data: bytes, method: bytes = b"GET") -> tuple[h11.Response, bytes]:
    """One whole response, read by an h11 client that sent `method`: its head and body.

    h11 is stricter about framing than any assertion: a wrong Content-Length, bad chunking
    or a missing end fails here. Nothing may follow the response.
    """
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target=b"/", headers=[(b"host", b"t")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    response: h11.Response | None = None
    content = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            content += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"incomplete response: {event!r}")
    assert response is not None
    assert client.trailing_data[0] == b""
    return response, content
