"""App: a `ferry.asgi.App` with typed routes, JSON errors, OpenAPI and interactive docs.

    app = App(title="Users")

    @app.get("/users/{username}")
    async def get_user(username: str) -> UserPublic: ...

Differences from a toolkit app: errors are JSON (`{"detail": ...}`, 422 for validation),
`/openapi.json`, `/docs` and `/redoc` are served, `dependency_overrides` swaps
dependencies, and a lifespan may yield any object (a dataclass, say): a parameter
annotated with its class receives it, typed.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, get_args, get_origin, get_type_hints

from ferry.api.exceptions import (
    RequestValidationError,
    ResponseValidationError,
    http_exception_handler,
    request_validation_exception_handler,
    response_validation_exception_handler,
)
from ferry.api.plan import DependencyPlan
from ferry.api.routing import APIRouter, Decorator
from ferry.api.solve import AppDependencies
from ferry.asgi.app import App as ToolkitApp
from ferry.asgi.exceptions import HTTPException
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.middleware.exceptions import ExceptionHandler
from ferry.asgi.requests import Request
from ferry.asgi.responses import HTMLResponse, JSONResponse, Response
from ferry.asgi.routing import BaseRoute, Route

# Where a lifespan's non-mapping state object is kept in the lifespan state.
STATE_KEY = "ferry.api.state"


class App(ToolkitApp):
    """A typed ASGI application.

    Args:
        title, version, description: the OpenAPI document's info.
        lifespan: `lifespan(app)`, an async context manager; it may yield a mapping (the
            request state) or any object, which parameters annotated with its class
            receive (declare the class with `state_type`, or annotate the lifespan's
            return as `AsyncIterator[YourState]`).
        dependencies: `Depends(...)` run before every endpoint.
        docs_url, redoc_url, openapi_url: where the docs are served (None: not served).
        swagger_js_url, swagger_css_url, redoc_js_url: the docs pages' assets.
    """

    def __init__(
        self,
        *,
        title: str = "Ferry",
        version: str = "0.1.0",
        description: str = "",
        lifespan: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        state_type: type | None = None,
        dependencies: Sequence[Any] | None = None,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        openapi_url: str | None = "/openapi.json",
        swagger_js_url: str | None = None,
        swagger_css_url: str | None = None,
        redoc_js_url: str | None = None,
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        debug: bool = False,
    ) -> None:
        self.user_lifespan = lifespan
        self.state_type = state_type or _state_type_of(lifespan)
        self.app_dependencies = AppDependencies()
        handlers: dict[Any, ExceptionHandler] = {
            HTTPException: http_exception_handler,
            RequestValidationError: request_validation_exception_handler,
            ResponseValidationError: response_validation_exception_handler,
        }
        handlers.update(exception_handlers or {})
        super().__init__(
            debug=debug,
            routes=routes,
            middleware=middleware,
            exception_handlers=handlers,
            lifespan=self._lifespan,
        )
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.swagger_js_url = swagger_js_url
        self.swagger_css_url = swagger_css_url
        self.redoc_js_url = redoc_js_url
        self.openapi_tags = openapi_tags
        self.servers = servers
        self.openapi_schema: dict[str, Any] | None = None
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.override_plans: dict[Callable[..., Any], DependencyPlan] = {}
        # The app's own router for the decorators; its routes are the app's routes.
        self.api_router = APIRouter(dependencies=dependencies)
        self.api_router.routes = self.router.routes
        self.api_router.state_types = (self.state_type,) if self.state_type else ()
        self._add_docs_routes()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        try:
            if self.user_lifespan is None:
                yield None
            else:
                async with self.user_lifespan(app) as state:
                    if state is None or isinstance(state, Mapping):
                        yield state
                    else:
                        yield {STATE_KEY: state}
        finally:
            await self.app_dependencies.close()

    def _add_docs_routes(self) -> None:
        if self.openapi_url is None:
            return
        openapi_url = self.openapi_url

        async def openapi_document(request: Request) -> Response:
            return JSONResponse(self.openapi())

        self.router.routes.append(
            Route(openapi_url, openapi_document, include_in_schema=False, name="openapi")
        )
        if self.docs_url is not None:

            async def swagger_ui(request: Request) -> Response:
                from ferry.api.docs import swagger_ui_html

                root = request.scope.get("root_path", "")
                return HTMLResponse(
                    swagger_ui_html(
                        openapi_url=root + openapi_url,
                        title=f"{self.title} - Swagger UI",
                        js_url=self.swagger_js_url,
                        css_url=self.swagger_css_url,
                    )
                )

            self.router.routes.append(
                Route(self.docs_url, swagger_ui, include_in_schema=False, name="swagger_ui")
            )
        if self.redoc_url is not None:

            async def redoc(request: Request) -> Response:
                from ferry.api.docs import redoc_html

                root = request.scope.get("root_path", "")
                return HTMLResponse(
                    redoc_html(
                        openapi_url=root + openapi_url,
                        title=f"{self.title} - ReDoc",
                        js_url=self.redoc_js_url,
                    )
                )

            self.router.routes.append(
                Route(self.redoc_url, redoc, include_in_schema=False, name="redoc")
            )

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this app's routes (built once, then kept)."""
        if self.openapi_schema is None:
            from ferry.api.openapi import build_openapi

            self.openapi_schema = build_openapi(self)
        return self.openapi_schema

    # --- decorators (they register; the signature is read now, once) ---

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        """Add a typed route (see `APIRouter.api_route` for the options)."""
        self.api_router.add_api_route(path, endpoint, **options)

    def api_route(
        self, path: str, *, methods: Sequence[str] | None = None, **options: Any
    ) -> Decorator:
        """Register the decorated function for `path` and `methods`."""
        return self.api_router.api_route(path, methods=methods, **options)

    def get(self, path: str, **options: Any) -> Decorator:
        """Register a GET (and HEAD) endpoint."""
        return self.api_router.get(path, **options)

    def post(self, path: str, **options: Any) -> Decorator:
        """Register a POST endpoint."""
        return self.api_router.post(path, **options)

    def put(self, path: str, **options: Any) -> Decorator:
        """Register a PUT endpoint."""
        return self.api_router.put(path, **options)

    def patch(self, path: str, **options: Any) -> Decorator:
        """Register a PATCH endpoint."""
        return self.api_router.patch(path, **options)

    def delete(self, path: str, **options: Any) -> Decorator:
        """Register a DELETE endpoint."""
        return self.api_router.delete(path, **options)

    def head(self, path: str, **options: Any) -> Decorator:
        """Register a HEAD endpoint."""
        return self.api_router.head(path, **options)

    def options(self, path: str, **options: Any) -> Decorator:
        """Register an OPTIONS endpoint."""
        return self.api_router.options(path, **options)

    def trace(self, path: str, **options: Any) -> Decorator:
        """Register a TRACE endpoint."""
        return self.api_router.trace(path, **options)

    def websocket(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Any] | None = None
    ) -> Decorator:
        """Register a typed websocket endpoint: `async def chat(websocket: WebSocket, ...)`."""
        return self.api_router.websocket(path, name=name, dependencies=dependencies)

    def include_router(self, router: APIRouter, **options: Any) -> None:
        """Add every route of `router` (options: prefix, tags, dependencies, responses)."""
        router.state_types = self.api_router.state_types
        self.api_router.include_router(router, **options)

    def middleware(
        self, middleware_type: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """`@app.middleware("http")`: a function-style middleware `(request, call_next)`."""
        if middleware_type != "http":
            raise ValueError('Only @app.middleware("http") is supported')

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            from ferry.asgi.middleware.http import HTTPMiddleware

            self.add_middleware(HTTPMiddleware, dispatch=func)
            return func

        return register


def _state_type_of(lifespan: Any) -> type | None:
    # `async def lifespan(app) -> AsyncIterator[AppState]` declares the state's class.
    if lifespan is None:
        return None
    try:
        hints = get_type_hints(lifespan)
    except (NameError, TypeError):
        return None
    returned = hints.get("return")
    if get_origin(returned) is None:
        return None
    args = get_args(returned)
    if not args or not inspect.isclass(args[0]) or issubclass(args[0], Mapping):
        return None
    state_type: type = args[0]
    return state_type
