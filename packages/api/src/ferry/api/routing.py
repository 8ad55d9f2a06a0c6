"""APIRouter and APIRoute: the decorators, and the plan each route builds when added.

    router = APIRouter(prefix="/users", tags=["users"])

    @router.get("/{username}", response_model=UserPublic)
    async def get_user(username: str) -> UserPublic: ...

An `APIRoute` is a `ferry.asgi.Route` whose ASGI app is `handle()`: solve the plan,
call the endpoint, encode the result, send it, then run the cleanups.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ferry.api.depends import DependsMarker
from ferry.api.encode import ResponsePlan, encode_response
from ferry.api.exceptions import RequestValidationError
from ferry.api.plan import (
    DependencyPlan,
    build_plan,
    path_param_names,
    response_adapter,
    return_annotation,
)
from ferry.api.solve import AppDependencies, SolveContext, solve, solve_in_thread
from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.middleware.exceptions import ExceptionHandler, ExceptionMiddleware
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, Response
from ferry.asgi.routing import BaseRoute, Route, WebSocketRoute
from ferry.asgi.types import Receive, Scope, Send
from ferry.asgi.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from ferry.api.app import App

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class APIRoute(Route):
    """A typed route: its endpoint's parameters are validated and its result encoded."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        response_model: Any = inspect.Parameter.empty,
        status_code: int | None = None,
        tags: Sequence[str] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        dependencies: Sequence[Any] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        response_class: type[Response] = JSONResponse,
        response_model_exclude_none: bool = False,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_by_alias: bool = True,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        operation_id: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        state_types: tuple[type, ...] = (),
    ) -> None:
        self.typed_endpoint = endpoint
        super().__init__(
            path,
            endpoint,
            methods=list(methods or ["GET"]),
            name=name,
            include_in_schema=include_in_schema,
        )
        # The route's ASGI app is this class's own handler, inside the route's middleware.
        self.route_middleware = list(middleware or [])
        app: Any = self.handle_request
        for cls, args, kwargs in reversed(self.route_middleware):
            app = cls(app, *args, **kwargs)
        self.app = app
        if response_model is inspect.Parameter.empty:
            response_model = return_annotation(endpoint)
        self.response_model = response_model
        self.status_code = status_code
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description if description is not None else inspect.getdoc(endpoint)
        self.response_description = response_description
        self.dependencies = list(dependencies or [])
        self.responses = dict(responses or {})
        self.response_class = response_class
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.state_types = state_types
        names = path_param_names(path)
        self.plan: DependencyPlan = build_plan(
            endpoint, path_param_names=names, state_types=state_types
        )
        add_route_dependencies(self.plan, self.dependencies, names, state_types)
        self.response_plan = ResponsePlan(
            adapter=response_adapter(response_model),
            status_code=status_code or 200,
            response_class=response_class,
            exclude_none=response_model_exclude_none,
            exclude_unset=response_model_exclude_unset,
            exclude_defaults=response_model_exclude_defaults,
            by_alias=response_model_by_alias,
        )
        self._path_param_names = names
        self._call_endpoint = self.plan.is_coroutine
        self._needs_cleanup = self.plan.needs_cleanup()
        self._solves_in_thread = self.plan.is_sync_chain()

    async def handle_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Solve, call, encode and send; cleanups after (or, for function scope, before)."""
        request = Request(scope, receive, send)
        context = solve_context(
            scope, request, None, None, self._path_param_names, self.state_types
        )
        if not self._needs_cleanup and not context.overrides:
            # Nothing can be left to clean up (decided when the route was added), so no exit
            # stacks; an override may bring a generator dependency, so overrides go below.
            value = await self.call_endpoint(context)
            await self.send_response(context, value, scope, receive, send)
            return
        async with contextlib.AsyncExitStack() as request_stack:
            request_stack.push_async_callback(request.close)  # uploaded files, last
            async with contextlib.AsyncExitStack() as function_stack:
                context.request_stack = request_stack
                context.function_stack = function_stack
                value = await self.call_endpoint(context)
            await self.send_response(context, value, scope, receive, send)

    async def call_endpoint(self, context: SolveContext) -> Any:
        """Solve the plan, then call the endpoint (RequestValidationError if input is bad)."""
        if self._solves_in_thread and not context.overrides:
            # A sync endpoint with only sync dependencies (decided when the route was added):
            # one worker thread for all of them, not a thread hop for each function.
            return await run_in_threadpool(self.call_sync_endpoint, context)
        arguments = self.endpoint_arguments(await solve(self.plan, context), context)
        if self._call_endpoint:
            return await self.typed_endpoint(**arguments)
        return await run_in_threadpool(self.typed_endpoint, **arguments)

    def call_sync_endpoint(self, context: SolveContext) -> Any:
        """Solve the plan and call the endpoint, in the worker thread this runs in."""
        arguments = self.endpoint_arguments(solve_in_thread(self.plan, context), context)
        return self.typed_endpoint(**arguments)

    def endpoint_arguments(self, solved: dict[str, Any], context: SolveContext) -> dict[str, Any]:
        """The solved values the endpoint takes (RequestValidationError if input is bad)."""
        if context.errors:
            raise RequestValidationError(context.errors)
        if self.dependencies:
            # The values of the route's own `dependencies=[...]` are not the endpoint's.
            solved = {k: v for k, v in solved.items() if not k.startswith("__dependency_")}
        if context.trace is not None:
            self._report_endpoint(context.trace)
        return solved

    async def send_response(
        self, context: SolveContext, value: Any, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Encode the endpoint's value and send it."""
        response = encode_response(
            self.response_plan,
            value,
            temporal=context.response,
            background=context.background_tasks,
            trace=context.trace,
        )
        await response(scope, receive, send)

    def _report_endpoint(self, trace: Any) -> None:
        # The waypoint names the user's function itself: that is the code that runs now.
        endpoint = self.typed_endpoint
        returns = inspect.signature(endpoint).return_annotation
        if returns is inspect.Parameter.empty:
            returns = None
        elif not isinstance(returns, str):  # a string under `from __future__ import annotations`
            returns = getattr(returns, "__name__", None) or repr(returns)
        trace.waypoint(
            "endpoint",
            where=endpoint,
            endpoint=endpoint.__qualname__,
            returns=returns,
            sync=not self._call_endpoint,
        )


class APIWebSocketRoute(WebSocketRoute):
    """A typed websocket route: path, query, header and cookie parameters and dependencies
    are solved before the endpoint runs; invalid ones close the socket with 1008 (policy
    violation, RFC 6455 §7.4.1), which a server answers with 403 before the handshake."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Any] | None = None,
        middleware: Sequence[Middleware] | None = None,
        state_types: tuple[type, ...] = (),
    ) -> None:
        super().__init__(path, endpoint, name=name)
        self.typed_endpoint = endpoint
        self.dependencies = list(dependencies or [])
        self.route_middleware = list(middleware or [])
        names = path_param_names(path)
        self.plan = build_plan(endpoint, path_param_names=names, state_types=state_types)
        add_route_dependencies(self.plan, self.dependencies, names, state_types)
        self._path_param_names = names
        self.state_types = state_types
        app: Any = self.handle_session
        for cls, args, kwargs in reversed(self.route_middleware):
            app = cls(app, *args, **kwargs)
        self.app = app

    async def handle_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Solve the parameters, then run the endpoint with them."""
        websocket = WebSocket(scope, receive, send)
        async with (
            contextlib.AsyncExitStack() as request_stack,
            contextlib.AsyncExitStack() as function_stack,
        ):
            context = solve_context(
                scope,
                websocket,
                request_stack,
                function_stack,
                self._path_param_names,
                self.state_types,
            )
            arguments = await solve(self.plan, context)
            if context.errors:
                where = ", ".join(".".join(map(str, e["loc"])) for e in context.errors)
                await websocket.close(code=1008, reason=f"invalid {where}"[:120])
                return
            arguments = {k: v for k, v in arguments.items() if not k.startswith("__dependency_")}
            try:
                if self.plan.is_coroutine:
                    await self.typed_endpoint(**arguments)
                else:
                    await run_in_threadpool(self.typed_endpoint, **arguments)
            except WebSocketDisconnect:
                pass  # the client left; nothing more to say to it


class APIRouter:
    """A group of typed routes with a shared prefix, tags, dependencies and responses.

    Middleware and exception handlers given here apply only to this router's routes.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: dict[Any, ExceptionHandler] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("A prefix must start with '/' and not end with '/'")
        self.prefix = prefix
        self.tags = list(tags or [])
        self.dependencies = list(dependencies or [])
        self.responses = dict(responses or {})
        self.middleware = list(middleware or [])
        self.exception_handlers = dict(exception_handlers or {})
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.routes: list[BaseRoute] = []
        self.state_types: tuple[type, ...] = ()

    def _route_middleware(self) -> list[Middleware]:
        middleware = list(self.middleware)
        if self.exception_handlers:
            middleware.append(Middleware(ExceptionMiddleware, handlers=self.exception_handlers))
        return middleware

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        """Add a typed route at `prefix + path` (see `api_route` for the options)."""
        options["tags"] = [*self.tags, *(options.get("tags") or [])]
        options["dependencies"] = [*self.dependencies, *(options.get("dependencies") or [])]
        options["responses"] = {**self.responses, **(options.get("responses") or {})}
        options["middleware"] = [*self._route_middleware(), *(options.get("middleware") or [])]
        if options.get("deprecated") is None:
            options["deprecated"] = self.deprecated
        options["include_in_schema"] = self.include_in_schema and options.get(
            "include_in_schema", True
        )
        options.setdefault("state_types", self.state_types)
        self.routes.append(APIRoute(self.prefix + path, endpoint, **options))

    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], *, name: str | None = None, **options: Any
    ) -> None:
        """Add a typed websocket route at `prefix + path`."""
        dependencies = [*self.dependencies, *(options.get("dependencies") or [])]
        middleware = [*self._route_middleware(), *(options.get("middleware") or [])]
        self.routes.append(
            APIWebSocketRoute(
                self.prefix + path,
                endpoint,
                name=name,
                dependencies=dependencies,
                middleware=middleware,
                state_types=self.state_types,
            )
        )

    def websocket(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Any] | None = None
    ) -> Decorator:
        """Register the decorated `async def endpoint(websocket: WebSocket, ...)`."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies)
            return func

        return register

    def api_route(
        self, path: str, *, methods: Sequence[str] | None = None, **options: Any
    ) -> Decorator:
        """Register the decorated function for `path` and `methods`.

        Options: response_model, status_code, tags, summary, description, dependencies,
        responses, response_class, response_model_exclude_none/unset/defaults,
        response_model_by_alias, deprecated, include_in_schema, operation_id, name.
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(path, func, methods=methods or ["GET"], **options)
            return func

        return register

    def get(self, path: str, **options: Any) -> Decorator:
        """Register a GET (and HEAD) endpoint."""
        return self.api_route(path, methods=["GET"], **options)

    def post(self, path: str, **options: Any) -> Decorator:
        """Register a POST endpoint."""
        return self.api_route(path, methods=["POST"], **options)

    def put(self, path: str, **options: Any) -> Decorator:
        """Register a PUT endpoint."""
        return self.api_route(path, methods=["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Decorator:
        """Register a PATCH endpoint."""
        return self.api_route(path, methods=["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Decorator:
        """Register a DELETE endpoint."""
        return self.api_route(path, methods=["DELETE"], **options)

    def head(self, path: str, **options: Any) -> Decorator:
        """Register a HEAD endpoint."""
        return self.api_route(path, methods=["HEAD"], **options)

    def options(self, path: str, **options: Any) -> Decorator:
        """Register an OPTIONS endpoint."""
        return self.api_route(path, methods=["OPTIONS"], **options)

    def trace(self, path: str, **options: Any) -> Decorator:
        """Register a TRACE endpoint."""
        return self.api_route(path, methods=["TRACE"], **options)

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
    ) -> None:
        """Add every route of `router` here, under `prefix`, with these extra options."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("A prefix must start with '/' and not end with '/'")
        for route in router.routes:
            if isinstance(route, APIRoute):
                self.add_api_route(
                    prefix + route.path,
                    route.typed_endpoint,
                    methods=sorted((route.methods or {"GET"}) - {"HEAD"} or {"HEAD"}),
                    name=route.name,
                    response_model=route.response_model,
                    status_code=route.status_code,
                    tags=[*(tags or []), *route.tags],
                    summary=route.summary,
                    description=route.description,
                    response_description=route.response_description,
                    dependencies=[*(dependencies or []), *route.dependencies],
                    responses={**(responses or {}), **route.responses},
                    response_class=route.response_class,
                    response_model_exclude_none=route.response_plan.exclude_none,
                    response_model_exclude_unset=route.response_plan.exclude_unset,
                    response_model_exclude_defaults=route.response_plan.exclude_defaults,
                    response_model_by_alias=route.response_plan.by_alias,
                    deprecated=route.deprecated,
                    include_in_schema=route.include_in_schema,
                    operation_id=route.operation_id,
                    middleware=route.route_middleware,
                )
            elif isinstance(route, APIWebSocketRoute):
                self.add_api_websocket_route(
                    prefix + route.path,
                    route.typed_endpoint,
                    name=route.name,
                    dependencies=[*(dependencies or []), *route.dependencies],
                    middleware=route.route_middleware,
                )
            else:
                self.routes.append(route)


def add_route_dependencies(
    plan: DependencyPlan,
    dependencies: Sequence[Any],
    path_param_names: set[str],
    state_types: tuple[type, ...],
) -> None:
    """Put the decorator's, router's and app's `Depends(...)` first in `plan`; they run
    before the endpoint's own dependencies and their values are not passed to it."""
    for index, marker in enumerate(dependencies):
        if not isinstance(marker, DependsMarker) or marker.dependency is None:
            raise TypeError(f"dependencies= takes Depends(callable) items, not {marker!r}")
        sub_plan = build_plan(
            marker.dependency,
            path_param_names=path_param_names,
            state_types=state_types,
            use_cache=marker.use_cache,
            scope=marker.scope,
            security_scopes=marker.security_scopes,
        )
        plan.dependencies.insert(index, (f"__dependency_{index}", sub_plan))


def solve_context(
    scope: Scope,
    connection: Request | WebSocket,
    request_stack: contextlib.AsyncExitStack | None,
    function_stack: contextlib.AsyncExitStack | None,
    path_param_names: set[str],
    state_types: tuple[type, ...],
) -> SolveContext:
    """What solving this request needs from its app: overrides, app-scoped values, state."""
    app: App | None = scope.get("app")
    state = scope.get("state", {}).get("ferry.api.state") if state_types else None
    # Positional, in the order of SolveContext's fields: matching nine keywords against its
    # fifteen parameters took a third of a µs on every request.
    return SolveContext(
        connection,  # type: ignore[arg-type]  # request: a WebSocket serves as well
        request_stack,
        function_stack,
        app.app_dependencies if app is not None else AppDependencies(),  # app_dependencies
        app.dependency_overrides if app is not None else {},  # overrides
        app.override_plans if app is not None else {},  # override_plans
        path_param_names,
        state,
        scope.get("ferry.trace"),  # trace
    )
