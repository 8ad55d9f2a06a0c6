"""The ceiling: an asyncio Protocol that answers every request with the same canned bytes.

No parsing beyond finding the blank line that ends each request head (so pipelined requests
are each answered), no ASGI, no app. No Python HTTP server can be faster on this machine.

    python bench/apps/bare_protocol.py --port 8000 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!"
HEAD_END = b"\r\n\r\n"


class CannedProtocol(asyncio.Protocol):
    """Answers each request head it sees with RESPONSE; bodies are not expected."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.tail = b""  # the last bytes seen, in case a head's end is split between reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        count = data.count(HEAD_END)
        self.tail = data[-3:]
        if count and self.transport is not None:
            self.transport.write(RESPONSE * count)
            if data.endswith(HEAD_END):
                self.tail = b""


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await loop.create_server(CannedProtocol, host, port, backlog=2048)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    else:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
