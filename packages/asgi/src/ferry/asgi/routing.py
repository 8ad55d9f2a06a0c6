"""Routing: Route, WebSocketRoute, Mount, Host, and the Router that picks one per request.

Each route answers `matches(scope)` with one of three outcomes (`Match`): FULL (path and
method), PARTIAL (the path matches but not the method) or NONE. The router takes the
first FULL match in the order the routes were given; with none, the first PARTIAL one
answers 405; with neither, 404 (after trying the other trailing-slash form when
`redirect_slashes` is on).

Speed: the router does not try every route. Each route is filed in a tree under the
literal path segments it starts with (`/users/{id}` under "users"); a request only tries
the routes filed along its own path's segments, in their original order, so the answer
is the same as a first-match scan and the cost does not grow with the table.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.converters import CONVERTOR_TYPES, Convertor, StringConvertor
from ferry.asgi.datastructures import URL, Headers
from ferry.asgi.exceptions import HTTPException, NoMatchFound
from ferry.asgi.requests import Request
from ferry.asgi.responses import PlainTextResponse, RedirectResponse
from ferry.asgi.types import ASGIApp, Lifespan, Receive, Scope, Send
from ferry.asgi.websockets import WebSocket

# RFC 9110 §9: the methods a route dispatches; anything else is answered with 405.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class Match(enum.Enum):
    """How a route matches a request: not at all, by path only, or fully."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


# The members under plain names for the per-request code: on Python 3.11 every `Match.FULL`
# is an enum class attribute lookup of about 75 ns, and a request makes several.
_NONE, _PARTIAL, _FULL = Match.NONE, Match.PARTIAL, Match.FULL


class URLPath(str):
    """A path from `url_path_for()`, which can be made absolute against a base URL."""

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> URLPath:
        return str.__new__(cls, path)

    def __init__(self, path: str, protocol: str = "", host: str = "") -> None:
        self.protocol = protocol  # "http", "websocket" or "" for either
        self.host = host

    def make_absolute_url(self, base_url: str | URL) -> URL:
        """This path joined to `base_url` (whose own path is kept as a prefix)."""
        base = base_url if isinstance(base_url, URL) else URL(base_url)
        scheme = base.scheme
        if self.protocol:
            secure = base.is_secure
            scheme = {
                "http": "https" if secure else "http",
                "websocket": "wss" if secure else "ws",
            }[self.protocol]
        netloc = self.host or base.netloc
        path = base.path.rstrip("/") + str(self)
        return URL(scheme=scheme, netloc=netloc, path=path)


def route_path(scope: Scope) -> str:
    """The part of the scope's path below its `root_path` (what routes match against)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if len(path) == len(root_path):
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


# --- path compiling -----------------------------------------------------------------------

# `{name}` or `{name:convertor}` inside a route path.
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")


def compile_path(path: str) -> tuple[re.Pattern[str], str, dict[str, Convertor[Any]]]:
    """A route path -> (its matching regex, its format string, its parameter converters).

    Raises:
        ValueError: an unknown converter, or a parameter named twice.
    """
    is_host = not path.startswith("/")
    pattern = "^"
    path_format = ""
    convertors: dict[str, Convertor[Any]] = {}
    index = 0
    for match in _PARAM.finditer(path):
        name, convertor_name = match.group(1), match.group(2) or "str"
        if convertor_name not in CONVERTOR_TYPES:
            raise ValueError(f"Unknown path convertor {convertor_name!r} in {path!r}")
        if name in convertors:
            raise ValueError(f"Duplicated param name {name} at path {path}")
        convertor = CONVERTOR_TYPES[convertor_name]
        pattern += re.escape(path[index : match.start()]) + f"(?P<{name}>{convertor.regex})"
        path_format += path[index : match.start()] + "{" + name + "}"
        convertors[name] = convertor
        index = match.end()
    # \Z, not $: "$" also matches before a final newline, so "/users" would match the
    # path "/users%0A"; DOTALL lets a path parameter hold a newline too.
    if is_host:
        # A host pattern ignores any port in the Host header.
        pattern += re.escape(path[index:].split(":")[0]) + r"\Z"
    else:
        pattern += re.escape(path[index:]) + r"\Z"
    path_format += path[index:]
    return re.compile(pattern, re.DOTALL), path_format, convertors


def static_segments(path: str) -> list[str]:
    """The literal path segments a route path starts with ("/users/{id}" -> ["users"])."""
    segments = []
    for segment in path.split("/")[1:]:
        if "{" in segment:
            break
        segments.append(segment)
    return segments


# `{name}` inside a format string from compile_path().
_FORMAT_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")


def _replace_params(
    path_format: str, convertors: Mapping[str, Convertor[Any]], params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    # One pass, so that a value holding "{other}" is never filled in again.
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in params:
            return match.group(0)
        used.add(key)
        return convertors[key].to_string(params[key])

    path = _FORMAT_PARAM.sub(fill, path_format)
    return path, {key: value for key, value in params.items() if key not in used}


def _child_url_path(
    routes: Sequence[BaseRoute], name: str, params: dict[str, Any], own_names: set[str]
) -> URLPath | set[str] | None:
    # For Mount and Host: the path from the first child route that builds one; else the
    # params a child route called `name` takes, plus the parent's own, for the error.
    expected: set[str] | None = None
    for route in routes:
        try:
            return route.url_path_for(name, **params)
        except NoMatchFound as exc:
            if exc.expected is not None and expected is None:
                expected = exc.expected | own_names
    return expected


def get_name(endpoint: Any) -> str:
    """The default route name: the endpoint's own name, or its class's."""
    name: str = getattr(endpoint, "__name__", endpoint.__class__.__name__)
    return name


# --- endpoints as ASGI apps -----------------------------------------------------------------


def request_response(func: Callable[[Request], Any]) -> ASGIApp:
    """Turn `func(request) -> Response` (async, or sync run in a thread) into an ASGI app."""
    handler = func
    while isinstance(handler, functools.partial):
        handler = handler.func
    is_async = inspect.iscoroutinefunction(handler)

    async def endpoint_app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        trace = scope.get("ferry.trace")
        if trace is not None:
            trace.waypoint("endpoint", where=handler, layer="toolkit", endpoint=get_name(handler))
        if is_async:
            response = await func(request)
        else:
            response = await run_in_threadpool(func, request)
        await response(scope, receive, send)

    return endpoint_app


def websocket_session(func: Callable[[WebSocket], Awaitable[None]]) -> ASGIApp:
    """Turn `async func(websocket)` into an ASGI app."""

    async def session_app(scope: Scope, receive: Receive, send: Send) -> None:
        await func(WebSocket(scope, receive=receive, send=send))

    return session_app


def _wrap_middleware(app: ASGIApp, middleware: Sequence[Any] | None) -> ASGIApp:
    for cls, args, kwargs in reversed(middleware or ()):
        app = cls(app, *args, **kwargs)
    return app


# --- routes ------------------------------------------------------------------------------------


class BaseRoute:
    """What every route offers the router."""

    path: str = ""
    name: str | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """How this route matches the request, and what it adds to the scope if chosen."""
        raise NotImplementedError

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route called `name` with these parameters.

        Raises:
            NoMatchFound: this route is not called `name` or takes other parameters.
        """
        raise NotImplementedError

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request this route matched."""
        raise NotImplementedError

    def static_segments(self) -> list[str]:
        """The literal leading path segments every path this route matches starts with."""
        return []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A route used on its own, outside a router.
        match, child_scope = self.matches(scope)
        if match is _NONE:
            if scope["type"] == "http":
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000, "reason": ""})
            return
        scope.update(child_scope)
        await self.handle(scope, receive, send)


class PathRoute(BaseRoute):
    """What Route and WebSocketRoute share: a compiled path pattern and an endpoint."""

    scope_type = "http"  # the scope type this route answers
    protocol = "http"  # for URLPath.make_absolute_url
    endpoint: Any
    path_regex: re.Pattern[str]
    path_format: str
    param_convertors: dict[str, Convertor[Any]]
    conversions: list[tuple[str, Callable[[str], Any]]]

    def compile(self, path: str) -> None:
        """Compile `path` into the regex, format and converters that match and build it."""
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        # The parameters whose text needs converting (a plain str parameter is kept as is).
        self.conversions = [
            (name, convertor.convert)
            for name, convertor in self.param_convertors.items()
            if type(convertor).convert is not StringConvertor.convert
        ]

    def static_segments(self) -> list[str]:
        return static_segments(self.path)

    def match_path(self, scope: Scope) -> Scope | None:
        """What this route adds to the scope when the path matches, else None."""
        if scope["type"] != self.scope_type:
            return None
        # route_path() only when there is a root_path to take off: most apps have none.
        match = self.path_regex.match(
            route_path(scope) if scope.get("root_path") else scope["path"]
        )
        if match is None:
            return None
        params = match.groupdict()
        for key, convert in self.conversions:
            params[key] = convert(params[key])
        path_params = scope.get("path_params")
        return {
            "endpoint": self.endpoint,
            "route": self,
            "path_params": {**path_params, **params} if path_params else params,
        }

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if name != self.name or set(path_params) != set(self.param_convertors):
            expected = set(self.param_convertors) if name == self.name else None
            raise NoMatchFound(name, path_params, expected=expected)
        path, remaining = _replace_params(self.path_format, self.param_convertors, path_params)
        assert not remaining
        return URLPath(path=path, protocol=self.protocol)


class Route(PathRoute):
    """An HTTP route: a path pattern, an endpoint, and the methods it answers.

    A function endpoint takes a `Request` and returns a `Response` (sync functions run in
    a worker thread) and answers GET (and HEAD) unless `methods` says otherwise; any
    other endpoint is used as an ASGI app.

    Example:
        >>> Route("/users/{user_id:int}", endpoint=get_user, name="user")  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        self.path = path
        self.endpoint = endpoint
        self.name = get_name(endpoint) if name is None else name
        self.include_in_schema = include_in_schema
        handler = endpoint
        while isinstance(handler, functools.partial):
            handler = handler.func
        if inspect.isfunction(handler) or inspect.ismethod(handler):
            self.app: ASGIApp = request_response(endpoint)
            if methods is None:
                methods = ["GET"]
        else:
            self.app = endpoint
        self.app = _wrap_middleware(self.app, middleware)
        if methods is None:
            self.methods: set[str] | None = None
        else:
            self.methods = {method.upper() for method in methods}
            if "GET" in self.methods:
                self.methods.add("HEAD")
        # What `matches` and `handle` check a request's method against.
        self.allowed_methods = STANDARD_METHODS if self.methods is None else self.methods
        self.compile(path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        child_scope = self.match_path(scope)
        if child_scope is None:
            return _NONE, {}
        if scope["method"] not in self.allowed_methods:
            return _PARTIAL, child_scope
        return _FULL, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.allowed_methods:
            allowed = sorted(self.allowed_methods)
            headers = {"Allow": ", ".join(allowed)}
            if "app" in scope:
                # Inside an App the exception handlers shape the answer (JSON in ferry.api).
                raise HTTPException(status_code=405, headers=headers)
            response = PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __repr__(self) -> str:
        methods = sorted(self.methods or [])
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, methods={methods!r})"


class WebSocketRoute(PathRoute):
    """A websocket route: a path pattern and an endpoint, for `websocket` scopes only.

    A function endpoint is `async def endpoint(websocket: WebSocket) -> None`; any other
    endpoint (a `WebSocketEndpoint` class, an ASGI app) is used as an ASGI app.

    Example:
        >>> WebSocketRoute("/rooms/{room}", endpoint=chat, name="chat")  # doctest: +SKIP
    """

    scope_type = "websocket"
    protocol = "websocket"

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        self.path = path
        self.endpoint = endpoint
        self.name = get_name(endpoint) if name is None else name
        handler = endpoint
        while isinstance(handler, functools.partial):
            handler = handler.func
        if inspect.isfunction(handler) or inspect.ismethod(handler):
            self.app: ASGIApp = websocket_session(endpoint)
        else:
            self.app = endpoint
        self.app = _wrap_middleware(self.app, middleware)
        self.compile(path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        child_scope = self.match_path(scope)
        return (_NONE, {}) if child_scope is None else (_FULL, child_scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"


class Mount(BaseRoute):
    """A sub-application or a list of routes under a path prefix.

    The mounted app sees `root_path` extended by the prefix and `path` unchanged, as the
    ASGI spec asks, so its own routes match the rest of the path.
    """

    def __init__(
        self,
        path: str,
        app: ASGIApp | None = None,
        routes: Sequence[BaseRoute] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        if path != "" and not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        if (app is None) == (routes is None):
            raise ValueError("Mount needs either an app or routes")
        self.path = path.rstrip("/")
        self._base_app: ASGIApp = app if app is not None else Router(routes=routes)
        self.app = _wrap_middleware(self._base_app, middleware)
        self.name = name
        self.path_regex, self.path_format, self.param_convertors = compile_path(
            self.path + "/{path:path}"
        )

    @property
    def routes(self) -> list[BaseRoute]:
        """The routes of the mounted router (empty for another kind of app)."""
        routes: list[BaseRoute] = getattr(self._base_app, "routes", [])
        return routes

    def static_segments(self) -> list[str]:
        return static_segments(self.path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return _NONE, {}
        path = route_path(scope)
        match = self.path_regex.match(path)
        if match is None:
            return _NONE, {}
        matched = match.groupdict()
        remaining_path = "/" + matched.pop("path")
        matched_path = path[: -len(remaining_path)]
        params = {key: self.param_convertors[key].convert(value) for key, value in matched.items()}
        root_path = scope.get("root_path", "")
        return _FULL, {
            "path_params": {**scope.get("path_params", {}), **params},
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": root_path + matched_path,
            "endpoint": self.app,
        }

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        own_names = set(self.param_convertors) - {"path"}
        expected: set[str] | None = None
        if self.name is not None and name == self.name and "path" in path_params:
            # The mount itself, with "path" for the rest.
            path_params["path"] = path_params["path"].lstrip("/")
            path, remaining = _replace_params(self.path_format, self.param_convertors, path_params)
            if not remaining and own_names <= path_params.keys():
                return URLPath(path=path)
            expected = own_names | {"path"}
        elif self.name is None or name.startswith(self.name + ":"):
            child_name = name if self.name is None else name[len(self.name) + 1 :]
            own_params = {k: v for k, v in path_params.items() if k in self.param_convertors}
            child_params = {k: v for k, v in path_params.items() if k not in own_params}
            own_params["path"] = ""
            prefix, _ = _replace_params(self.path_format, self.param_convertors, own_params)
            found = _child_url_path(self.routes, child_name, child_params, own_names)
            if not isinstance(found, URLPath):
                expected = found
            elif own_names <= own_params.keys():
                return URLPath(path=prefix.rstrip("/") + found, protocol=found.protocol)
            else:
                expected = set(child_params) | own_names
        raise NoMatchFound(name, path_params, expected=expected)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, app={self.app!r})"


class Host(BaseRoute):
    """Route by the `Host` header ("{subdomain}.example.org"); the port is ignored."""

    def __init__(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        if host.startswith("/"):
            raise ValueError("Host must not start with '/'")
        self.host = host
        self.app = app
        self.name = name
        self.host_regex, self.host_format, self.param_convertors = compile_path(host)

    @property
    def routes(self) -> list[BaseRoute]:
        """The routes of the app behind this host (empty for another kind of app)."""
        routes: list[BaseRoute] = getattr(self.app, "routes", [])
        return routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return _NONE, {}
        host = Headers(scope=scope).get("host", "").split(":")[0]
        match = self.host_regex.match(host)
        if match is None:
            return _NONE, {}
        params = {
            key: self.param_convertors[key].convert(value)
            for key, value in match.groupdict().items()
        }
        return _FULL, {
            "path_params": {**scope.get("path_params", {}), **params},
            "endpoint": self.app,
        }

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        own_names = set(self.param_convertors)
        expected: set[str] | None = None
        if self.name is not None and name == self.name and "path" in path_params:
            path = path_params.pop("path")
            host, remaining = _replace_params(self.host_format, self.param_convertors, path_params)
            path_params["path"] = path
            if not remaining and own_names <= path_params.keys():
                return URLPath(path=path, host=host)
            expected = own_names | {"path"}
        elif self.name is None or name.startswith(self.name + ":"):
            child_name = name if self.name is None else name[len(self.name) + 1 :]
            own_params = {k: v for k, v in path_params.items() if k in self.param_convertors}
            child_params = {k: v for k, v in path_params.items() if k not in own_params}
            host, _ = _replace_params(self.host_format, self.param_convertors, own_params)
            found = _child_url_path(self.routes, child_name, child_params, own_names)
            if not isinstance(found, URLPath):
                expected = found
            elif own_names <= own_params.keys():
                return URLPath(path=str(found), protocol=found.protocol, host=host)
            else:
                expected = set(child_params) | own_names
        raise NoMatchFound(name, path_params, expected=expected)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# --- the router --------------------------------------------------------------------------------


# Up to this many routes, the router tries them all in order instead of walking the tree.
SCAN_LIMIT = 4


class _Node:
    """A node of the route tree: routes filed here, and children by literal segment."""

    __slots__ = ("candidates", "children", "routes")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.routes: list[tuple[int, BaseRoute]] = []  # (position in the table, route)
        # The routes a path that reaches this node may match: those filed here and on
        # every node above, in table order (see `_gather_candidates`).
        self.candidates: list[BaseRoute] = []


def _gather_candidates(node: _Node, above: list[tuple[int, BaseRoute]]) -> None:
    # Done once, when the routes are filed, so that routing a request is a walk and no more.
    filed = sorted(above + node.routes, key=_by_index)
    node.candidates = [route for _, route in filed]
    for child in node.children.values():
        _gather_candidates(child, filed)


@contextlib.asynccontextmanager
async def _no_lifespan(app: object) -> AsyncIterator[None]:
    yield None


class Router:
    """An ASGI app that sends each request to the first route that matches it.

    Also runs the lifespan (`lifespan(app)`, an async context manager) for the app.
    Routes added later (`add_route`, or appended to `routes`) are filed on the next
    request.
    """

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
        *,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        self.routes: list[BaseRoute] = list(routes or [])
        self.redirect_slashes = redirect_slashes
        self.default: ASGIApp = self.not_found if default is None else default
        self.lifespan_context: Lifespan[Any] = lifespan or _no_lifespan
        self.middleware_stack: ASGIApp = _wrap_middleware(self.app, middleware)
        self._tree = _Node()
        self._filed = -1  # how many routes the tree holds

    # --- the route tree ---

    def _file_routes(self) -> None:
        tree = _Node()
        for index, route in enumerate(self.routes):
            node = tree
            for segment in route.static_segments():
                node = node.children.setdefault(segment, _Node())
            node.routes.append((index, route))
        _gather_candidates(tree, [])
        self._tree = tree
        self._filed = len(self.routes)

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that may match `path`, in their original order."""
        if self._filed != len(self.routes):
            self._file_routes()
        node = self._tree
        if path.startswith("/"):
            for segment in path[1:].split("/"):
                child = node.children.get(segment)
                if child is None:
                    break
                node = child
        return node.candidates

    # --- ASGI ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.middleware_stack(scope, receive, send)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request (the router's own ASGI app, inside its middleware)."""
        scope_type = scope["type"]
        if scope_type == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        partial: tuple[BaseRoute, Scope] | None = None  # the first PARTIAL match
        trace = scope.get("ferry.trace")
        routes = self.routes
        if len(routes) > SCAN_LIMIT:  # a short table: trying each route beats the walk
            routes = self.candidates(route_path(scope))
        for route in routes:
            match, child_scope = route.matches(scope)
            if match is _FULL:
                scope.update(child_scope)
                if trace is not None:
                    _report_route(trace, "full", route, scope)
                await route.handle(scope, receive, send)
                return
            if match is _PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            route, child_scope = partial
            scope.update(child_scope)
            if trace is not None:  # the path matched, the method did not: 405
                _report_route(trace, "partial", route, scope)
            await route.handle(scope, receive, send)
            return
        if trace is not None:
            trace.waypoint("route", match="none", path=route_path(scope))
        if scope_type == "http" and self.redirect_slashes and route_path(scope) != "/":
            redirect_url = self._other_slash_url(scope)
            if redirect_url is not None:
                await RedirectResponse(url=str(redirect_url))(scope, receive, send)
                return
        await self.default(scope, receive, send)

    def _other_slash_url(self, scope: Scope) -> URL | None:
        # RFC 9110 §15.4.8: 307 keeps the method and body.
        other = dict(scope)
        path: str = scope["path"]
        other["path"] = path[:-1] if path.endswith("/") else path + "/"
        for route in self.candidates(route_path(other)):
            match, _ = route.matches(other)
            if match is not _NONE:
                return URL(scope=other)
        return None

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The default for a request no route matched: 404 (or a websocket close)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000, "reason": ""})
            return
        if "app" in scope:
            raise HTTPException(status_code=404)
        await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan conversation around `lifespan_context(app)`.

        What the context manager yields (a mapping) is added to the lifespan state that
        the server copies into every request's scope. A failure is reported to the server
        as `lifespan.startup.failed` / `lifespan.shutdown.failed`, then re-raised.
        """
        started = False
        app = scope.get("app")
        await receive()
        try:
            async with self.lifespan_context(app) as state:
                if state is not None:
                    if "state" not in scope:
                        raise RuntimeError("The server does not support lifespan state.")
                    scope["state"].update(state)
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": message})
            raise
        else:
            await send({"type": "lifespan.shutdown.complete"})

    # --- building ---

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route called `name` with these parameters.

        Raises:
            NoMatchFound: no route has that name, or none takes these parameters (the
                error names what is missing).
        """
        expected: set[str] | None = None
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound as exc:
                if exc.expected is not None and expected is None:
                    expected = exc.expected
        raise NoMatchFound(name, path_params, expected=expected)

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Add a `Mount` of `app` under `path`."""
        self.routes.append(Mount(path, app=app, name=name))

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        """Add a `Host` route."""
        self.routes.append(Host(host, app=app, name=name))

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Add a `Route`."""
        self.routes.append(
            Route(
                path,
                endpoint=endpoint,
                methods=methods,
                name=name,
                include_in_schema=include_in_schema,
            )
        )

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator form of `add_route`."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_route(
                path, func, methods=methods, name=name, include_in_schema=include_in_schema
            )
            return func

        return register

    def add_websocket_route(
        self, path: str, endpoint: Callable[..., Any], name: str | None = None
    ) -> None:
        """Add a `WebSocketRoute`."""
        self.routes.append(WebSocketRoute(path, endpoint=endpoint, name=name))

    def websocket_route(
        self, path: str, name: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator form of `add_websocket_route`."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_websocket_route(path, func, name=name)
            return func

        return register


def _report_route(trace: Any, match: str, route: BaseRoute, scope: Scope) -> None:
    trace.waypoint(
        "route",
        where=Router.app,
        match=match,
        route=type(route).__name__,
        pattern=getattr(route, "path", None),
        name=getattr(route, "name", None),
        path_params=scope.get("path_params", {}),
    )


def _by_index(item: tuple[int, BaseRoute]) -> int:
    return item[0]


def iter_routes(routes: Iterable[BaseRoute]) -> Iterable[BaseRoute]:
    """Every route, depth first through mounts and hosts."""
    for route in routes:
        yield route
        yield from iter_routes(getattr(route, "routes", []))
