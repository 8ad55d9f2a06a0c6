"""solve(): follow an endpoint's plan for one request -> the keyword arguments to call it.

Each source (path, query, headers, cookies) is validated in one call to its generated
model; the body in one call straight from the JSON bytes; dependencies are solved first,
depth first, each once per request unless `use_cache=False`. Every validation error of
the request is collected before anything is called, so the client hears of all of them at
once, in one 422.

A sync endpoint whose dependencies are all plain sync functions is solved and called in one
worker thread (`solve_in_thread`), not with a thread hop for each function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ferry.api.depends import SecurityScopes
from ferry.api.exceptions import error_dicts
from ferry.api.params import Source
from ferry.api.plan import DependencyPlan, ParamPlan, build_plan
from ferry.asgi.background import BackgroundTasks
from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.exceptions import HTTPException
from ferry.asgi.requests import Request
from ferry.asgi.responses import Response


@dataclass(slots=True)
class AppDependencies:
    """Values of `scope="app"` dependencies: made once, cleaned up at lifespan shutdown."""

    values: dict[Any, Any] = field(default_factory=dict)
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def close(self) -> None:
        """Run the cleanup of every app-scoped dependency, newest first."""
        stack, self.stack = self.stack, contextlib.AsyncExitStack()
        self.values.clear()
        await stack.aclose()


@dataclass(slots=True)
class SolveContext:
    """What solving one request accumulates: errors, cached values, cleanups, extras."""

    request: Request  # or a WebSocket, for a typed websocket route
    # Where generator dependencies leave their cleanup; None when the plan has none to leave
    # (`DependencyPlan.needs_cleanup()`), so a request that needs no cleanup makes no stacks.
    request_stack: contextlib.AsyncExitStack | None
    function_stack: contextlib.AsyncExitStack | None
    app_dependencies: AppDependencies
    overrides: Mapping[Callable[..., Any], Callable[..., Any]]
    override_plans: dict[Callable[..., Any], DependencyPlan]
    path_param_names: set[str]
    state: Any = None
    trace: Any = None  # the request's tracer under `ferry serve --trace`, else None
    errors: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict)
    background_tasks: BackgroundTasks | None = None
    response: Response | None = None

    def temporal_response(self) -> Response:
        """The `Response` an endpoint may take to set headers, cookies or a status."""
        if self.response is None:
            self.response = Response()
            self.response.status_code = 0  # "not set": the route's own status applies
        return self.response

    def background(self) -> BackgroundTasks:
        """The request's background tasks, run after the response is sent."""
        if self.background_tasks is None:
            self.background_tasks = BackgroundTasks()
        return self.background_tasks


def _read_source(request: Request, source: Source, members: list[ParamPlan]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if source is Source.PATH or source is Source.COOKIE:
        values: Mapping[str, Any] = (
            request.path_params if source is Source.PATH else request.cookies
        )
        for member in members:
            if member.key in values:
                raw[member.key] = values[member.key]
        return raw
    multi: Any = request.query_params if source is Source.QUERY else request.headers
    for member in members:
        if member.key in multi:
            raw[member.key] = multi.getlist(member.key) if member.is_sequence else multi[member.key]
    return raw


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def _solve_body(plan: DependencyPlan, context: SolveContext, values: dict[str, Any]) -> None:
    body = plan.body
    assert body is not None
    request = context.request
    if body.is_form:
        form = await request.form()
        data: dict[str, Any] = {}
        # Either one model takes the whole form, or each parameter takes its field.
        if body.form_keys is not None:
            wanted = body.form_keys
        else:
            wanted = {member.key: member.is_sequence for member in body.params}
        for key, is_sequence in wanted.items():
            if key in form:
                data[key] = form.getlist(key) if is_sequence else form[key]
        try:
            result = body.adapter.validate_python(data)
        except ValidationError as exc:
            context.errors.extend(error_dicts(exc.errors(include_url=False), ("body",)))
            return
    else:
        raw = await request.body()
        content_type = request.headers.get("content-type")
        if raw and content_type is not None and not _is_json(content_type):
            # A JSON body only from a JSON request: a text/plain "simple" request from
            # another site must not reach a JSON endpoint (CSRF).
            raise HTTPException(415, detail=f"Unsupported Media Type: expected {body.media_type}")
        if not raw:
            if body.required:
                context.errors.append(
                    {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
                )
                return
            for member in body.params:
                values[member.name] = member.field.get_default(call_default_factory=True)
            return
        try:
            result = body.adapter.validate_json(raw)
        except ValidationError as exc:
            context.errors.extend(error_dicts(exc.errors(include_url=False), ("body",)))
            return
    if body.embed:
        for member in body.params:
            values[member.name] = getattr(result, member.name)
    else:
        values[body.params[0].name] = result


async def solve(plan: DependencyPlan, context: SolveContext) -> dict[str, Any]:
    """The keyword arguments for `plan.call`; errors go to `context.errors`."""
    values: dict[str, Any] = {}
    for name, dependency in plan.dependencies:
        dependency = _overridden(dependency, context)
        if dependency.scope == "app" and dependency.cache_key in context.app_dependencies.values:
            values[name] = context.app_dependencies.values[dependency.cache_key]
            continue
        if dependency.use_cache and dependency.cache_key in context.cache:
            values[name] = context.cache[dependency.cache_key]
            if context.trace is not None:
                context.trace.waypoint("solve", call=_call_name(dependency), cached=True)
            continue
        errors_before = len(context.errors)
        arguments = await solve(dependency, context)
        if len(context.errors) > errors_before:
            continue  # a dependency with invalid inputs is not called
        value = await _call(dependency, arguments, context)
        values[name] = value
        if dependency.use_cache:
            context.cache[dependency.cache_key] = value
    _solve_parameters(plan, context, values)
    if plan.body is not None:
        await _solve_body(plan, context, values)
    _solve_extras(plan, context, values)
    if context.trace is not None:
        _report_solved(context.trace, plan, values, len(context.errors))
    return values


def solve_in_thread(plan: DependencyPlan, context: SolveContext) -> dict[str, Any]:
    """`solve` for a plan of plain sync functions (`DependencyPlan.is_sync_chain()`), run in
    a worker thread: each dependency is called right here, not sent to a thread of its own."""
    values: dict[str, Any] = {}
    for name, dependency in plan.dependencies:
        if dependency.use_cache and dependency.cache_key in context.cache:
            values[name] = context.cache[dependency.cache_key]
            if context.trace is not None:
                context.trace.waypoint("solve", call=_call_name(dependency), cached=True)
            continue
        errors_before = len(context.errors)
        arguments = solve_in_thread(dependency, context)
        if len(context.errors) > errors_before:
            continue  # a dependency with invalid inputs is not called
        value = dependency.call(**arguments)
        values[name] = value
        if dependency.use_cache:
            context.cache[dependency.cache_key] = value
    _solve_parameters(plan, context, values)
    _solve_extras(plan, context, values)
    if context.trace is not None:
        _report_solved(context.trace, plan, values, len(context.errors))
    return values


def _solve_parameters(plan: DependencyPlan, context: SolveContext, values: dict[str, Any]) -> None:
    # Path, query, header and cookie parameters: one validation for all of them when the plan
    # has a combined model and the request passes it; else one per source. Then per group.
    if plan.combined is not None:
        raw: dict[str, Any] = {}
        for source, (_, members) in plan.validators.items():
            raw.update(_read_source(context.request, source, members))
        try:
            validated = plan.combined.__pydantic_validator__.validate_python(raw)
        except ValidationError:
            pass  # validated again below, per source, for errors that name their source
        else:
            for member in plan.params:
                values[member.name] = getattr(validated, member.name)
            _solve_groups(plan, context, values)
            return
    for source, (model, members) in plan.validators.items():
        raw = _read_source(context.request, source, members)
        try:
            # The model's pydantic-core validator itself: `model_validate` adds a layer.
            validated = model.__pydantic_validator__.validate_python(raw)
        except ValidationError as exc:
            context.errors.extend(error_dicts(exc.errors(include_url=False), (source.value,)))
            continue
        for member in members:
            values[member.name] = getattr(validated, member.name)
    _solve_groups(plan, context, values)


def _solve_groups(plan: DependencyPlan, context: SolveContext, values: dict[str, Any]) -> None:
    for group in plan.groups:
        raw = _read_source(context.request, group.source, group.members)
        try:
            values[group.name] = group.model.model_validate(
                {group.model_keys[key]: value for key, value in raw.items()}
            )
        except ValidationError as exc:
            context.errors.extend(error_dicts(exc.errors(include_url=False), (group.source.value,)))


def _solve_extras(plan: DependencyPlan, context: SolveContext, values: dict[str, Any]) -> None:
    # Parameters filled by their annotation: the request, the response, state...
    for name, kind in plan.special.items():
        if kind in ("request", "connection", "websocket"):
            values[name] = context.request
        elif kind == "response":
            values[name] = context.temporal_response()
        elif kind == "background_tasks":
            values[name] = context.background()
        elif kind == "security_scopes":
            values[name] = SecurityScopes(plan.security_scopes)
    for name in plan.state_params:
        values[name] = context.state


def _call_name(plan: DependencyPlan) -> str:
    return getattr(plan.call, "__qualname__", repr(plan.call))


def _report_solved(trace: Any, plan: DependencyPlan, values: dict[str, Any], errors: int) -> None:
    # Only the validated parameters: dependencies and special values are named, not shown.
    dependencies = [name for name, _ in plan.dependencies]
    hidden = {*dependencies, *plan.special, *plan.state_params}
    trace.waypoint(
        "solve",
        where=solve,
        call=_call_name(plan),
        cached=False,
        dependencies=[_call_name(d) for _, d in plan.dependencies],
        values={k: v for k, v in values.items() if k not in hidden},
        errors=errors,
    )


def _overridden(plan: DependencyPlan, context: SolveContext) -> DependencyPlan:
    replacement = context.overrides.get(plan.call)
    if replacement is None:
        return plan
    override = context.override_plans.get(replacement)
    if override is None:
        override = build_plan(
            replacement,
            path_param_names=context.path_param_names,
            use_cache=plan.use_cache,
            scope=plan.scope,
            security_scopes=plan.security_scopes,
            name=plan.name,
        )
        context.override_plans[replacement] = override
    return override


def _cleanup_stack(plan: DependencyPlan, context: SolveContext) -> contextlib.AsyncExitStack:
    if plan.scope == "app":
        return context.app_dependencies.stack
    stack = context.function_stack if plan.scope == "function" else context.request_stack
    assert stack is not None, "a generator dependency is solved without its exit stacks"
    return stack


async def _call(plan: DependencyPlan, arguments: dict[str, Any], context: SolveContext) -> Any:
    call = plan.call
    if plan.is_async_generator:
        manager = contextlib.asynccontextmanager(call)(**arguments)
        value = await _cleanup_stack(plan, context).enter_async_context(manager)
    elif plan.is_generator:
        sync_manager = contextlib.contextmanager(call)(**arguments)
        value = await run_in_threadpool(sync_manager.__enter__)

        async def exit_in_thread(*exc_info: Any) -> bool | None:
            return await run_in_threadpool(sync_manager.__exit__, *exc_info)

        _cleanup_stack(plan, context).push_async_exit(exit_in_thread)
    elif plan.is_coroutine:
        value = await call(**arguments)
    else:
        value = await run_in_threadpool(call, **arguments)
    if plan.scope == "app":
        context.app_dependencies.values[plan.cache_key] = value
    return value
