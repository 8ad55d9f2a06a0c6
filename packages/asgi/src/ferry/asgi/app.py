"""App: the application; it builds its middleware stack once and routes every request.

    ServerErrorMiddleware      500 for anything unhandled, then re-raised for the server
      user middleware          in the order given: the first is the outermost
        ExceptionMiddleware    handlers by exception class (along the MRO) or status code
          Router               the routes, and the lifespan

The stack is built at the first call, so middleware cannot be added after that.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ferry.asgi.datastructures import State
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.middleware.errors import ServerErrorMiddleware
from ferry.asgi.middleware.exceptions import ExceptionHandler, ExceptionMiddleware
from ferry.asgi.routing import BaseRoute, Router, URLPath
from ferry.asgi.types import ASGIApp, Lifespan, Receive, Scope, Send


class App:
    """An ASGI application: routes, middleware, exception handlers and a lifespan.

    Args:
        debug: answer unhandled errors with a traceback page (never in production).
        routes: the routes, tried in order.
        middleware: `Middleware(cls, ...)` items, outermost first.
        exception_handlers: handlers by exception class or status code; one for 500 or
            `Exception` handles what nothing else did.
        lifespan: `lifespan(app)`, an async context manager; what it yields (a mapping)
            becomes the state each request starts with (`request.state`).

    Example:
        >>> app = App(routes=[Route("/", home)])  # doctest: +SKIP
    """

    def __init__(
        self,
        debug: bool = False,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        lifespan: Lifespan[Any] | None = None,
    ) -> None:
        self.debug = debug
        self.state = State()
        self.router = Router(routes, lifespan=lifespan)
        self.exception_handlers: dict[Any, ExceptionHandler] = dict(exception_handlers or {})
        self.user_middleware: list[Middleware] = list(middleware or [])
        self.middleware_stack: ASGIApp | None = None
        self.traced_middleware_stack: ASGIApp | None = None

    def build_middleware_stack(self, traced: bool = False) -> ASGIApp:
        """Wrap the router in the exception, user and error middleware (outermost last).

        A `traced` stack has a `MiddlewareWaypoint` around each middleware, so that a
        traced request reports entering and leaving it.
        """
        error_handler = None
        handlers: dict[Any, ExceptionHandler] = {}
        for key, handler in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = handler
            else:
                handlers[key] = handler
        middleware = [
            Middleware(ServerErrorMiddleware, handler=error_handler, debug=self.debug),
            *self.user_middleware,
            Middleware(ExceptionMiddleware, handlers=handlers, debug=self.debug),
        ]
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
            if traced:
                app = MiddlewareWaypoint(app)
        return app

    @property
    def routes(self) -> list[BaseRoute]:
        """The router's routes."""
        return self.router.routes

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route called `name` (see `Router.url_path_for`)."""
        return self.router.url_path_for(name, **path_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if "ferry.trace" in scope:
            # A traced request (`ferry serve --trace`) takes a stack that reports each
            # middleware; it is built the first time one arrives.
            if self.traced_middleware_stack is None:
                self.traced_middleware_stack = self.build_middleware_stack(traced=True)
            await self.traced_middleware_stack(scope, receive, send)
            return
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def add_middleware(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        """Add a middleware outside those already added.

        Raises:
            RuntimeError: the app has started (its stack is built once).
        """
        if self.middleware_stack is not None or self.traced_middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after an application has started")
        self.user_middleware.insert(0, Middleware(cls, *args, **kwargs))

    def add_exception_handler(
        self, exc_class_or_status_code: int | type[Exception], handler: ExceptionHandler
    ) -> None:
        """Handle an exception class (and its subclasses) or an HTTP status code."""
        self.exception_handlers[exc_class_or_status_code] = handler

    def exception_handler(
        self, exc_class_or_status_code: int | type[Exception]
    ) -> Callable[[ExceptionHandler], ExceptionHandler]:
        """A decorator form of `add_exception_handler`."""

        def register(handler: ExceptionHandler) -> ExceptionHandler:
            self.add_exception_handler(exc_class_or_status_code, handler)
            return handler

        return register

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Mount an ASGI app (another App, a Router, StaticFiles...) under `path`."""
        self.router.mount(path, app=app, name=name)

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        """Route requests for `host` to `app`."""
        self.router.host(host, app=app, name=name)

    def add_route(
        self,
        path: str,
        route: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Add a `Route` for `path`."""
        self.router.add_route(
            path, route, methods=methods, name=name, include_in_schema=include_in_schema
        )

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator form of `add_route`."""
        return self.router.route(
            path, methods=methods, name=name, include_in_schema=include_in_schema
        )

    def add_websocket_route(
        self, path: str, route: Callable[..., Any], name: str | None = None
    ) -> None:
        """Add a `WebSocketRoute` for `path`."""
        self.router.add_websocket_route(path, route, name=name)

    def websocket_route(
        self, path: str, name: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator form of `add_websocket_route`."""
        return self.router.websocket_route(path, name=name)


class MiddlewareWaypoint:
    """Reports entering and leaving the middleware it wraps (traced requests only).

    The report names the middleware's own `__call__`, not this wrapper: that is the code a
    reader wants to open.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.name = type(app).__qualname__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = scope["ferry.trace"]
        trace.waypoint("middleware", where=type(self.app), event="enter", middleware=self.name)
        try:
            await self.app(scope, receive, send)
        finally:
            trace.waypoint("middleware", where=type(self.app), event="leave", middleware=self.name)
