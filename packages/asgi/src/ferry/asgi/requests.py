"""HTTPConnection and Request: lazy, read-only views over an ASGI scope.

Nothing is parsed until it is asked for. The body, once read, is kept in the scope under
`BODY_KEY`, so every later `Request` over the same scope (in a middleware, then in the
endpoint) reads it again instead of waiting on a `receive` that has nothing more to give.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from ferry.asgi.datastructures import URL, Address, FormData, Headers, QueryParams, State
from ferry.asgi.exceptions import ClientDisconnect, InvalidJSON
from ferry.asgi.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ferry.asgi.app import App
    from ferry.asgi.routing import Router

# The scope key where the request body is kept once read (see the module docstring).
BODY_KEY = "ferry.body"

# The limits of `Request.form()` unless the caller gives others.
MAX_FILES = 1000
MAX_FIELDS = 1000
MAX_PART_SIZE = 1024 * 1024


def parse_cookies(cookie_header: str) -> dict[str, str]:
    """Parse a `Cookie` header the way browsers send it (RFC 6265 §5.4).

    Pairs without `=` or with an empty name are skipped, never an error; values keep their
    characters as sent, minus surrounding double quotes.
    """
    cookies: dict[str, str] = {}
    for chunk in cookie_header.split(";"):
        name, sep, value = chunk.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or any(c in name for c in ' ",;\\\t\r\n'):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


async def _no_receive() -> NoReturn:
    raise RuntimeError("receive() is not available on this connection")


async def _no_send(message: Message) -> NoReturn:
    raise RuntimeError("send() is not available on this connection")


class HTTPConnection(Mapping[str, Any]):
    """What HTTP requests and websockets have in common: the scope's parts, parsed lazily.

    It is a read-only mapping over the scope itself.
    """

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        assert scope["type"] in ("http", "websocket")
        self.scope = scope

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Any:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def app(self) -> Any:
        """The application that received the request (scope["app"])."""
        return self.scope["app"]

    @property
    def url(self) -> URL:
        """The full URL, from the scope's scheme, host, path and query string."""
        url = self.__dict__.get("_url")
        if url is None:
            url = self.__dict__["_url"] = URL(scope=self.scope)
        return url

    @property
    def base_url(self) -> URL:
        """The URL of the app's root (with its root_path), ending in "/"."""
        url = self.__dict__.get("_base_url")
        if url is None:
            root_path = self.scope.get("app_root_path", self.scope.get("root_path", ""))
            base_scope = {**self.scope, "path": root_path.rstrip("/") + "/", "query_string": b""}
            url = self.__dict__["_base_url"] = URL(scope=base_scope)
        return url

    @property
    def headers(self) -> Headers:
        """The request headers, case-insensitive."""
        headers = self.__dict__.get("_headers")
        if headers is None:
            headers = self.__dict__["_headers"] = Headers(scope=self.scope)
        return headers

    @property
    def query_params(self) -> QueryParams:
        """The query string's parameters."""
        params = self.__dict__.get("_query_params")
        if params is None:
            params = self.__dict__["_query_params"] = QueryParams(self.scope["query_string"])
        return params

    @property
    def path_params(self) -> dict[str, Any]:
        """The parameters the router took from the path, converted."""
        params: dict[str, Any] = self.scope.get("path_params", {})
        return params

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies; malformed pairs are skipped."""
        cookies = self.__dict__.get("_cookies")
        if cookies is None:
            cookies = {}
            for value in self.headers.getlist("cookie"):
                cookies.update(parse_cookies(value))
            self.__dict__["_cookies"] = cookies
        return cookies

    @property
    def client(self) -> Address | None:
        """The client's address, when the server knows it."""
        client = self.scope.get("client")
        return Address(*client) if client else None

    @property
    def session(self) -> dict[str, Any]:
        """The session dict; needs SessionMiddleware."""
        if "session" not in self.scope:
            raise AssertionError("SessionMiddleware must be installed to use request.session")
        session: dict[str, Any] = self.scope["session"]
        return session

    @property
    def state(self) -> State:
        """Per-request state: starts as a copy of the lifespan state."""
        state = self.__dict__.get("_state")
        if state is None:
            state = self.__dict__["_state"] = State(self.scope.setdefault("state", {}))
        return state

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called `name`.

        Raises:
            NoMatchFound: no route has that name and those parameters.
        """
        # The outermost router knows every route, those of mounted sub-apps too, and
        # base_url is the outermost app's root (the mount prefixes come from the router).
        builder: Router | App = self.scope.get("router") or self.scope["app"]
        url_path = builder.url_path_for(name, **path_params)
        return url_path.make_absolute_url(self.base_url)


class Request(HTTPConnection):
    """An HTTP request: the scope's parts plus the body, read once and kept.

    Example:
        >>> async def endpoint(request: Request) -> Response:  # doctest: +SKIP
        ...     data = await request.json()
    """

    def __init__(self, scope: Scope, receive: Receive = _no_receive, send: Send = _no_send):
        super().__init__(scope)
        assert scope["type"] == "http"
        self._receive = receive
        self._send = send
        self._stream_consumed = False
        self._is_disconnected = False
        self._form: FormData | None = None
        self._pending: list[Message] = []  # taken from receive() by is_disconnected()

    @property
    def method(self) -> str:
        """The request method, e.g. "GET"."""
        method: str = self.scope["method"]
        return method

    @property
    def receive(self) -> Receive:
        """The ASGI receive callable."""
        return self._receive

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive (or at once, if it was read already).

        Raises:
            ClientDisconnect: the client went away before the body was complete.
            RuntimeError: the stream was already consumed without being kept.
        """
        body = self.scope.get(BODY_KEY)
        if body is not None:
            yield body
            yield b""
            return
        if self._stream_consumed:
            raise RuntimeError("Stream consumed")
        self._stream_consumed = True
        while True:
            message = self._pending.pop(0) if self._pending else await self._receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.disconnect":
                self._is_disconnected = True
                raise ClientDisconnect()
        yield b""

    async def body(self) -> bytes:
        """The whole body, read once and kept for every later reader of this request."""
        body: bytes | None = self.scope.get(BODY_KEY)
        if body is None:
            if not self._stream_consumed and not self._pending:
                # The usual request: the whole body in its first message, taken here without
                # stream()'s generator. Any other first message goes to stream() as it came.
                message = await self._receive()
                if message["type"] == "http.request" and not message.get("more_body", False):
                    self._stream_consumed = True
                    body = self.scope[BODY_KEY] = message.get("body", b"")
                    return body
                self._pending.append(message)
            chunks = [chunk async for chunk in self.stream()]
            body = self.scope[BODY_KEY] = b"".join(chunks)
        return body

    async def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            InvalidJSON: the body is not valid JSON (in UTF-8, 16 or 32).
        """
        cached = self.__dict__.get("_json", _MISSING)
        if cached is _MISSING:
            body = await self.body()
            try:
                cached = self.__dict__["_json"] = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidJSON(f"the request body is not valid JSON: {exc}") from exc
        return cached

    async def form(
        self,
        *,
        max_files: int = MAX_FILES,
        max_fields: int = MAX_FIELDS,
        max_part_size: int = MAX_PART_SIZE,
    ) -> FormData:
        """The body parsed as `multipart/form-data` or `application/x-www-form-urlencoded`.

        Any other content type gives an empty form.

        Raises:
            MultiPartException: the form is malformed or over a limit (400 by default).
        """
        if self._form is None:
            from ferry.asgi.forms import parse_form

            self._form = await parse_form(
                self.headers,
                self.stream(),
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
            )
        return self._form

    async def close(self) -> None:
        """Close the uploaded files of a parsed form."""
        if self._form is not None:
            await self._form.close()

    async def is_disconnected(self) -> bool:
        """True once the client has gone (checked without waiting)."""
        if not self._is_disconnected:
            # A receive() that would wait is cancelled at once; a message that was ready
            # is kept for stream() if it is body.
            with anyio.CancelScope() as cancel_scope:
                cancel_scope.cancel()
                message = await self._receive()
                if message.get("type") == "http.disconnect":
                    self._is_disconnected = True
                else:
                    self._pending.append(message)
        return self._is_disconnected

    async def send_push_promise(self, path: str) -> None:
        """Send an HTTP/2 server push promise, when the server supports it."""
        if "http.response.push" in self.scope.get("extensions", {}):
            raw_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in self.headers.items()
                if k in ("accept", "accept-encoding", "accept-language", "cache-control")
            ]
            await self._send({"type": "http.response.push", "path": path, "headers": raw_headers})


_MISSING: Any = object()
