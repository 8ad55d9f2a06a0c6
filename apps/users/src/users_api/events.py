"""EventHub: user events fanned out in memory to this process's listeners; knows no HTTP.

The routes publish `{"event": "user.created" | "user.updated", "user": <public profile>}`
and `{"event": "user.deleted", "user": {"username": ...}}`; `/ws/events` (live.py) relays
them. A listener hears of the changes made through its own instance: instances that share
a database do not share their listeners. Publishing never waits: a listener whose queue
is full is dropped, and told so by the `overflowed` flag of its subscription.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

MAX_QUEUED_EVENTS = 256


class Subscription:
    """One listener's queue of events, from `EventHub.subscribe()`."""

    def __init__(self, max_queued: int) -> None:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](max_queued)
        self.send: MemoryObjectSendStream[dict[str, Any]] = send
        self.events: MemoryObjectReceiveStream[dict[str, Any]] = receive
        self.overflowed = False  # set when the hub gave up on this listener


class EventHub:
    """Publish events to every current subscriber, without waiting for any of them."""

    def __init__(self, max_queued: int = MAX_QUEUED_EVENTS) -> None:
        self.max_queued = max_queued
        self._subscriptions: set[Subscription] = set()

    @property
    def listeners(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A subscription for the duration of the `with` block."""
        subscription = Subscription(self.max_queued)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription.send.close()
            subscription.events.close()

    def publish(self, event: dict[str, Any]) -> None:
        """Queue `event` for every subscriber; one whose queue is full is dropped."""
        for subscription in list(self._subscriptions):
            try:
                subscription.send.send_nowait(event)
            except anyio.WouldBlock:
                # Its stream ends here: the listener drains what it has, then is closed.
                subscription.overflowed = True
                self._subscriptions.discard(subscription)
                subscription.send.close()
