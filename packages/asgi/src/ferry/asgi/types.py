"""The toolkit's whole vocabulary: the three ASGI callables and what they exchange.

    app(scope, receive, send)

Everything in `ferry.asgi` (the application, each middleware, the router, each route and
each response) is an `ASGIApp`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AppType = TypeVar("AppType")

# A lifespan is an async context manager factory: `lifespan(app)`; what it yields (a
# mapping, or None) becomes the lifespan state each request sees as `request.state`.
Lifespan = Callable[[AppType], AbstractAsyncContextManager[Mapping[str, Any] | None]]

BodyIterator = AsyncIterator[bytes]
