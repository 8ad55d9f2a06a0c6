"""EndpointPlan: everything about an endpoint decided once, from its signature.

When a route is added, each parameter of the endpoint (and of each dependency, down the
graph) is given its source, its name on the wire and its pydantic validator. Parameters
from the same source are validated together by one generated pydantic model, so a request
with five query parameters makes one call into pydantic-core, not five. The per-request
work (`solve.py`) only follows this plan.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ferry.api.depends import DependencyScope, DependsMarker, SecurityScopes
from ferry.api.params import Param, Source
from ferry.asgi.background import BackgroundTasks
from ferry.asgi.datastructures import UploadFile
from ferry.asgi.requests import HTTPConnection, Request
from ferry.asgi.responses import Response
from ferry.asgi.websockets import WebSocket

# Parameters filled by annotation alone: the request and friends.
SPECIAL_TYPES: dict[type, str] = {
    WebSocket: "websocket",  # before HTTPConnection, its base class
    Request: "request",
    HTTPConnection: "connection",
    Response: "response",
    BackgroundTasks: "background_tasks",
    SecurityScopes: "security_scopes",
}

_SOURCE_ORDER = (Source.PATH, Source.QUERY, Source.HEADER, Source.COOKIE)


@dataclass(slots=True)
class ParamPlan:
    """One parameter read from the path, query, headers, cookies, body or form."""

    name: str  # the Python parameter name
    key: str  # the name on the wire (alias; header names lowercased and hyphenated)
    source: Source
    annotation: Any
    field: FieldInfo
    is_sequence: bool = False  # read every value of a repeated key
    param: Param | None = None

    @property
    def required(self) -> bool:
        """True when the request must carry this parameter."""
        return self.field.is_required()


@dataclass(slots=True)
class BodyPlan:
    """How the body is read: one model (`embed=False`) or keys of one JSON object."""

    params: list[ParamPlan]
    adapter: TypeAdapter[Any]
    embed: bool
    is_form: bool
    media_type: str
    required: bool
    # A form read into one model (`Annotated[Model, Form()]`): its input keys, each with
    # whether it takes every value of a repeated key.
    form_keys: dict[str, bool] | None = None


@dataclass(slots=True)
class GroupPlan:
    """A pydantic model filled from several query, header or cookie parameters.

    `members` are its fields as parameters (for reading and for the OpenAPI document);
    `model_keys` maps each member's wire key to the name the model validates.
    """

    name: str
    source: Source
    model: type[BaseModel]
    members: list[ParamPlan]
    model_keys: dict[str, str]


@dataclass(slots=True)
class DependencyPlan:
    """A callable (endpoint or dependency) and how to fill each of its parameters."""

    call: Callable[..., Any]
    params: list[ParamPlan] = field(default_factory=list)
    validators: dict[Source, tuple[type[BaseModel], list[ParamPlan]]] = field(default_factory=dict)
    # One model for the parameters of every source at once, when they come from two or more
    # sources and no two share a wire name: one validator call per request instead of one per
    # source. A request it rejects is validated again per source, so each error's `loc` and
    # `input` are those of its own source.
    combined: type[BaseModel] | None = None
    body: BodyPlan | None = None
    groups: list[GroupPlan] = field(default_factory=list)
    dependencies: list[tuple[str, DependencyPlan]] = field(default_factory=list)
    special: dict[str, str] = field(default_factory=dict)  # parameter name -> kind
    state_params: list[str] = field(default_factory=list)
    use_cache: bool = True
    scope: DependencyScope = "request"
    security_scopes: tuple[str, ...] = ()
    is_coroutine: bool = False
    is_generator: bool = False
    is_async_generator: bool = False
    name: str | None = None  # the parameter this dependency fills in its parent

    @property
    def cache_key(self) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """Dependencies with the same callable and scopes share one value per request."""
        return (self.call, tuple(sorted(self.security_scopes)))

    def all_params(self) -> list[ParamPlan]:
        """This plan's parameters and those of every dependency below it."""
        found = list(self.params)
        for group in self.groups:
            found.extend(group.members)
        if self.body is not None:
            found.extend(self.body.params)
        for _, dependency in self.dependencies:
            found.extend(dependency.all_params())
        return found

    def needs_cleanup(self) -> bool:
        """Whether a request may leave something to clean up after solving this plan: a
        generator dependency (its code after `yield`), a form (its uploaded files), or the
        request handed to a function (which may read a form)."""
        if self.is_generator or self.is_async_generator:
            return True
        if self.body is not None and self.body.is_form:
            return True
        if any(kind in ("request", "connection") for kind in self.special.values()):
            return True
        return any(dependency.needs_cleanup() for _, dependency in self.dependencies)

    def is_sync_chain(self) -> bool:
        """Whether this plan and every dependency below it are plain sync callables (no
        generator, no app scope) with no body to read: then one worker thread can solve
        them all and call the endpoint (`solve_in_thread`)."""
        if self.is_coroutine or self.is_generator or self.is_async_generator:
            return False
        if self.body is not None or self.scope == "app":
            return False
        return all(dependency.is_sync_chain() for _, dependency in self.dependencies)

    def flat_body(self) -> list[ParamPlan]:
        """The body parameters of this plan and its dependencies."""
        found = list(self.body.params) if self.body else []
        for _, dependency in self.dependencies:
            found.extend(dependency.flat_body())
        return found


def _unwrap_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, metadata
    return annotation, []


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_sequence(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in (list, set, tuple, frozenset, Sequence) or annotation in (list, set, tuple)


def _is_model(annotation: Any) -> bool:
    base, _ = _unwrap_annotated(annotation)
    origin = get_origin(base)
    if origin in (list, set, tuple, Sequence, Union, types.UnionType):
        return any(_is_model(arg) for arg in get_args(base))
    return inspect.isclass(base) and issubclass(base, BaseModel)


def _is_upload(annotation: Any) -> bool:
    base, _ = _unwrap_annotated(annotation)
    if get_origin(base) in (list, Sequence, Union, types.UnionType):
        return any(_is_upload(arg) for arg in get_args(base))
    return base is UploadFile


def _special_kind(annotation: Any) -> str | None:
    if not inspect.isclass(annotation):
        return None
    for cls, kind in SPECIAL_TYPES.items():
        if issubclass(annotation, cls):
            return kind
    return None


def build_plan(
    call: Callable[..., Any],
    *,
    path_param_names: set[str],
    state_types: tuple[type, ...] = (),
    use_cache: bool = True,
    scope: DependencyScope = "request",
    security_scopes: Sequence[str] = (),
    name: str | None = None,
) -> DependencyPlan:
    """Read `call`'s signature once and decide how to fill each parameter.

    Raises:
        TypeError: a parameter cannot be filled (for example a model from a header).
    """
    signature = inspect.signature(call)
    hints = _type_hints(call)
    unwrapped = inspect.unwrap(call)
    plan = DependencyPlan(
        call=call,
        use_cache=use_cache,
        scope=scope,
        security_scopes=tuple(security_scopes),
        is_coroutine=_is_coroutine(call),
        is_generator=inspect.isgeneratorfunction(unwrapped),
        is_async_generator=inspect.isasyncgenfunction(unwrapped),
        name=name,
    )
    body_params: list[ParamPlan] = []
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, Any)
        base, metadata = _unwrap_annotated(annotation)
        marker = next((m for m in metadata if isinstance(m, Param | DependsMarker)), None)
        if isinstance(parameter.default, Param | DependsMarker):
            marker = parameter.default
        if isinstance(marker, DependsMarker):
            dependency = marker.dependency or base
            plan.dependencies.append(
                (
                    parameter.name,
                    build_plan(
                        dependency,
                        path_param_names=path_param_names,
                        state_types=state_types,
                        use_cache=marker.use_cache,
                        scope=marker.scope,
                        security_scopes=(*security_scopes, *marker.security_scopes),
                        name=parameter.name,
                    ),
                )
            )
            continue
        kind = _special_kind(base)
        if kind is not None and marker is None:
            plan.special[parameter.name] = kind
            continue
        if state_types and inspect.isclass(base) and issubclass(base, state_types):
            plan.state_params.append(parameter.name)
            continue
        if (
            isinstance(marker, Param)
            and marker.source in (Source.QUERY, Source.HEADER, Source.COOKIE)
            and inspect.isclass(base)
            and issubclass(base, BaseModel)
        ):
            plan.groups.append(_group_plan(parameter.name, marker, base))
            continue
        param_plan = _param_plan(parameter, base, annotation, marker, path_param_names)
        if param_plan.source in (Source.BODY, Source.FORM, Source.FILE):
            body_params.append(param_plan)
        else:
            plan.params.append(param_plan)
    for source in _SOURCE_ORDER:
        members = [p for p in plan.params if p.source is source]
        if members:
            plan.validators[source] = (_source_model(call, source, members), members)
    keys = [p.key for p in plan.params]
    if len(plan.validators) > 1 and len(set(keys)) == len(keys):
        plan.combined = _source_model(call, None, plan.params)
    if body_params:
        plan.body = _body_plan(call, body_params)
    return plan


def _type_hints(call: Callable[..., Any]) -> dict[str, Any]:
    target = call
    if inspect.isclass(call):
        target = call.__init__
    elif not (inspect.isfunction(call) or inspect.ismethod(call)) and callable(call):
        target = call.__call__  # type: ignore[operator]
    try:
        return get_type_hints(target, include_extras=True)
    except (NameError, TypeError) as exc:
        raise TypeError(f"cannot read the annotations of {call!r}: {exc}") from exc


def _is_coroutine(call: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    if inspect.isclass(call):
        return False
    dunder_call = getattr(call, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(dunder_call)


def _param_plan(
    parameter: inspect.Parameter,
    base: Any,
    annotation: Any,
    marker: Param | None,
    path_param_names: set[str],
) -> ParamPlan:
    default = parameter.default
    if marker is None:
        if parameter.name in path_param_names:
            source = Source.PATH
        elif _is_upload(base):
            source = Source.FILE
        elif _is_model(base):
            source = Source.BODY
        else:
            source = Source.QUERY
        # The whole annotation, so that `Annotated[int, Field(ge=1)]` keeps its constraints.
        field_info = FieldInfo.from_annotated_attribute(
            annotation, PydanticUndefined if default is inspect.Parameter.empty else default
        )
    else:
        source = marker.source
        field_info = FieldInfo.merge_field_infos(marker.field)
        if default is not inspect.Parameter.empty and not isinstance(default, Param):
            field_info.default = default
    if source is Source.PATH:
        if parameter.name not in path_param_names:
            raise TypeError(f"path parameter {parameter.name!r} is not in the route's path")
        field_info.default = PydanticUndefined  # path parameters are always required
    if source in (Source.HEADER, Source.COOKIE, Source.PATH) and _is_model(base):
        raise TypeError(
            f"parameter {parameter.name!r}: a model cannot come from the {source.value}"
        )
    field_info.annotation = base
    key = field_info.alias or parameter.name
    if source is Source.HEADER:
        if field_info.alias is None and (marker is None or marker.convert_underscores):
            key = parameter.name.replace("_", "-")
        key = key.lower()
    return ParamPlan(
        name=parameter.name,
        key=key,
        source=source,
        annotation=annotation,
        field=field_info,
        is_sequence=_is_sequence(base)
        and source in (Source.QUERY, Source.HEADER, Source.FORM, Source.FILE),
        param=marker,
    )


_LAX = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


def _source_model(
    call: Callable[..., Any], source: Source | None, members: list[ParamPlan]
) -> type[BaseModel]:
    # `source` None: the combined model, for the parameters of every source.
    fields = {member.name: _model_field(member) for member in members}
    suffix = "parameters" if source is None else source.value
    model_name = f"{getattr(call, '__name__', 'dependency')}_{suffix}"
    model: type[BaseModel] = create_model(model_name, __config__=_LAX, **fields)  # type: ignore[call-overload]
    return model


def _group_plan(name: str, marker: Param, model: type[BaseModel]) -> GroupPlan:
    # `filters: Annotated[Filters, Query()]`: each field of Filters is a query parameter.
    members = []
    model_keys = {}
    for field_name, info in model.model_fields.items():
        model_key = info.alias or field_name
        key = model_key
        if marker.source is Source.HEADER:
            if info.alias is None and marker.convert_underscores:
                key = field_name.replace("_", "-")
            key = key.lower()
        members.append(
            ParamPlan(
                name=field_name,
                key=key,
                source=marker.source,
                annotation=info.annotation,
                field=info,
                is_sequence=_is_sequence(info.annotation),
                param=marker,
            )
        )
        model_keys[key] = model_key
    return GroupPlan(name, marker.source, model, members, model_keys)


def _model_field(member: ParamPlan) -> tuple[Any, FieldInfo]:
    # The generated model reads each value under its wire name and keeps the
    # parameter's constraints (pydantic keeps them in the field's metadata).
    info = member.field
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    if info.default_factory is not None:
        field_info = Field(default_factory=info.default_factory, alias=member.key)
    else:
        field_info = Field(info.default, alias=member.key)
    return annotation, field_info


def _body_plan(call: Callable[..., Any], members: list[ParamPlan]) -> BodyPlan:
    is_form = any(member.source in (Source.FORM, Source.FILE) for member in members)
    form_model = (
        len(members) == 1
        and members[0].source is Source.FORM
        and inspect.isclass(members[0].field.annotation)
        and issubclass(members[0].field.annotation, BaseModel)
    )
    embed = not form_model and (
        is_form or len(members) > 1 or bool(members[0].param and members[0].param.embed)
    )
    form_keys = None
    if form_model:
        model_class: type[BaseModel] = members[0].field.annotation  # type: ignore[assignment]
        form_keys = {
            info.alias or name: _is_sequence(info.annotation)
            for name, info in model_class.model_fields.items()
        }
    media_type = next(
        (m.param.media_type for m in members if m.param is not None),
        "multipart/form-data"
        if any(m.source is Source.FILE for m in members)
        else ("application/x-www-form-urlencoded" if is_form else "application/json"),
    )
    if embed:
        fields = {member.name: _model_field(member) for member in members}
        model_name = f"Body_{getattr(call, '__name__', 'dependency')}"
        model = create_model(model_name, __config__=_LAX, **fields)  # type: ignore[call-overload]
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        required = any(member.required for member in members)
    else:
        only = members[0]
        adapter = TypeAdapter(Annotated[only.field.annotation, only.field])  # type: ignore[arg-type]
        required = only.required
    return BodyPlan(
        params=members,
        adapter=adapter,
        embed=embed,
        is_form=is_form,
        media_type=media_type,
        required=required,
        form_keys=form_keys,
    )


def path_param_names(path: str) -> set[str]:
    """The parameter names in a route path ("/users/{id:int}" -> {"id"})."""
    from ferry.asgi.routing import compile_path

    return set(compile_path(path)[2])


def response_adapter(response_model: Any) -> TypeAdapter[Any] | None:
    """The validator and serializer of a response model (None for no model)."""
    if response_model is None:
        return None
    return TypeAdapter(response_model)


def return_annotation(call: Callable[..., Any]) -> Any:
    """The endpoint's return annotation when it can serve as a response model."""
    hints = _type_hints(call)
    annotation = hints.get("return")
    if annotation is None or annotation is type(None):
        return None
    base, _ = _unwrap_annotated(annotation)
    if inspect.isclass(base) and issubclass(base, Response):
        return None
    return annotation
