"""FlowControl: back-pressure in both directions on one connection.

Reading: the adapter stops reading from the socket while more request body is waiting for
the app than the high-water mark allows, and starts again when the app takes it.
Writing: asyncio calls `pause_writing()` when the transport's buffer is over its
high-water mark; the app's next `send()` then waits in `drain()` until the client has read
enough. Either way a slow peer cannot grow the server's memory.
"""

from __future__ import annotations

import asyncio


class FlowControl:
    """Pause and resume reading; make writers wait for the transport to drain."""

    __slots__ = ("_drain_waiters", "_transport", "reading_paused", "writing_paused")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.reading_paused = False
        self.writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    def pause_reading(self) -> None:
        """Stop reading from the socket (the unread body is over the high-water mark)."""
        if not self.reading_paused:
            self.reading_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self.reading_paused:
            self.reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    def pause_writing(self) -> None:
        """The transport's write buffer is full: senders must wait."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer has drained: wake the senders."""
        self.writing_paused = False
        self._wake_writers()

    def connection_lost(self) -> None:
        """Nothing more will drain: wake the senders so they see the disconnect."""
        self.writing_paused = False
        self._wake_writers()

    async def drain(self) -> None:
        """Wait until the transport accepts more data (returns at once when it does)."""
        if not self.writing_paused:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
