"""build_openapi(): the OpenAPI 3.1 document of an app, built from its routes' plans.

    document = build_openapi(app)      # what App.openapi() returns and /openapi.json serves

Nothing here reads an endpoint's signature again: each `APIRoute` already holds its plan
(where every parameter comes from, its pydantic field, the body, the dependencies) and its
response plan. This module turns those into OpenAPI objects:

    parameters     path, query, header and cookie parameters of the endpoint and of every
                   dependency below it, one per (in, name)
    requestBody    the JSON body (a model's `$ref`, or an object of the embedded keys), or
                   a form (urlencoded, or multipart when it carries files)
    responses      the success status with the response model, `responses=` merged in,
                   and 422 with `HTTPValidationError` when the request can fail validation
    security       the security schemes the dependencies declare

JSON Schemas come from pydantic, for every route at once, so that each model gets exactly
one name under `components/schemas` however many operations use it.
"""

from __future__ import annotations

import contextlib
import copy
import http
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import (
    PydanticSerializationError,
    PydanticUndefined,
    core_schema,
    to_jsonable_python,
)

from ferry.api.params import Source
from ferry.api.plan import BodyPlan, DependencyPlan, ParamPlan
from ferry.api.routing import APIRoute
from ferry.asgi.datastructures import UploadFile
from ferry.asgi.routing import BaseRoute, Mount

if TYPE_CHECKING:
    from ferry.api.app import App

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"

# The order of operations in a Path Item Object (OpenAPI 3.1, section 4.8.9).
METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
PARAMETER_SOURCES = (Source.PATH, Source.QUERY, Source.HEADER, Source.COOKIE)

# Statuses whose responses have no content (RFC 9110, sections 15.2, 15.3.5 and 15.4.5).
NO_CONTENT_STATUSES = frozenset({"204", "304"})

# `{name}` or `{name:convertor}` in a route path; OpenAPI knows only `{name}`.
_PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z_][a-zA-Z0-9_]*)?}")
_NON_WORD = re.compile(r"\W")

# The body of every 422 answer, as `exceptions.error_dicts` shapes each error.
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "type": {"title": "Error Type", "type": "string"},
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "input": {"title": "Input"},
        "ctx": {"title": "Context", "type": "object"},
    },
    "required": ["type", "loc", "msg"],  # an app may withhold `input` (passwords)
}
HTTP_VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {"$ref": "#/components/schemas/ValidationError"},
        }
    },
    "required": ["detail"],
}

# Uploaded files are plain classes to pydantic; the File parameters' validators allow them.
_FILE_CONFIG = ConfigDict(arbitrary_types_allowed=True)


def build_openapi(app: App) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s typed routes (those with include_in_schema).

    Routes inside `Mount`s are described under the mount's path. A dependency whose
    callable carries `model` (an OpenAPI Security Scheme Object) and `scheme_name` adds
    that scheme and a security requirement to each operation that uses it.

    Raises:
        pydantic.errors.PydanticInvalidForJsonSchema: a parameter, body or response
            model has a type with no JSON Schema.
    """
    info: dict[str, Any] = {"title": app.title, "version": app.version}
    if app.description:
        info["description"] = app.description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if app.servers:
        document["servers"] = app.servers

    builder = _DocumentBuilder()
    paths: dict[str, dict[str, Any]] = {}
    for path, route in _api_routes(app.routes, prefix=""):
        for method in _documented_methods(route):
            paths.setdefault(path, {})[method.lower()] = builder.operation(route, path, method)
    document["paths"] = paths

    components = builder.components()
    if components:
        document["components"] = components
    if app.openapi_tags:
        document["tags"] = app.openapi_tags
    return document


def _api_routes(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    # Each documented route with its full path in OpenAPI's template form.
    for route in routes:
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                yield _PATH_PARAM.sub(r"{\1}", prefix + route.path), route
        elif isinstance(route, Mount):
            yield from _api_routes(route.routes, prefix + route.path)


def _documented_methods(route: APIRoute) -> list[str]:
    methods = set(route.methods or {"GET"})
    if "GET" in methods:
        methods.discard("HEAD")  # answered by the GET endpoint; it is not an operation
    ordered = [method for method in METHOD_ORDER if method in methods]
    return ordered + sorted(methods - set(METHOD_ORDER))


@dataclass(slots=True)
class _SchemaRequest:
    placeholder: dict[str, Any]  # already in the document; filled in place
    adapter: TypeAdapter[Any]
    mode: JsonSchemaMode
    extra: dict[str, Any]


class _SchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, with uploaded files as binary strings (as Swagger UI expects)."""

    def is_instance_schema(self, schema: core_schema.IsInstanceSchema) -> JsonSchemaValue:
        if schema["cls"] is UploadFile:
            return {"type": "string", "format": "binary"}
        return super().is_instance_schema(schema)


@dataclass(slots=True)
class _DocumentBuilder:
    """Builds operations with a placeholder for each JSON Schema, then fills them at once."""

    requests: list[_SchemaRequest] = field(default_factory=list)
    schemas: dict[str, Any] = field(default_factory=dict)  # components/schemas built here
    security_schemes: dict[str, Any] = field(default_factory=dict)
    operation_ids: set[str] = field(default_factory=set)

    def schema_of(
        self,
        adapter: TypeAdapter[Any],
        mode: JsonSchemaMode,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A dict that becomes `adapter`'s JSON Schema (plus `extra`) in `components()`."""
        placeholder: dict[str, Any] = {}
        self.requests.append(_SchemaRequest(placeholder, adapter, mode, extra or {}))
        return placeholder

    def components(self) -> dict[str, Any]:
        """Fill every placeholder; the models they refer to become components/schemas."""
        components: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        if self.requests:
            inputs = [(index, r.mode, r.adapter) for index, r in enumerate(self.requests)]
            generated, definitions = TypeAdapter.json_schemas(
                inputs, ref_template=REF_TEMPLATE, schema_generator=_SchemaGenerator
            )
            for index, request in enumerate(self.requests):
                request.placeholder.update(generated[(index, request.mode)])
                request.placeholder.update(request.extra)
            schemas.update(definitions.get("$defs", {}))
        schemas.update(self.schemas)
        if schemas:
            components["schemas"] = dict(sorted(schemas.items()))
        if self.security_schemes:
            components["securitySchemes"] = self.security_schemes
        return components

    # --- one operation ---

    def operation(self, route: APIRoute, path: str, method: str) -> dict[str, Any]:
        """The Operation Object for `method` on `route` (its schemas filled in later)."""
        operation: dict[str, Any] = {}
        if route.tags:
            operation["tags"] = list(route.tags)
        name = _route_name(route)
        operation["summary"] = route.summary or name.replace("_", " ").title()
        if route.description:
            # As in FastAPI, a form feed ends the part of a docstring meant for the docs.
            operation["description"] = route.description.split("\f")[0].strip()
        operation_id = self.operation_id(route, path, method)
        operation["operationId"] = operation_id

        parameters = self.parameters(route.plan, path)
        if parameters:
            operation["parameters"] = parameters
        request_body = self.request_body(route.plan, operation_id)
        if request_body is not None:
            operation["requestBody"] = request_body
        operation["responses"] = self.responses(route)
        if route.plan.all_params() and "422" not in operation["responses"]:
            # Any parameter or body can fail validation: exceptions.py answers 422.
            operation["responses"]["422"] = {
                "description": "Validation Error",
                "content": {"application/json": {"schema": {"$ref": _ref("HTTPValidationError")}}},
            }
            self.schemas["ValidationError"] = copy.deepcopy(VALIDATION_ERROR_SCHEMA)
            self.schemas["HTTPValidationError"] = copy.deepcopy(HTTP_VALIDATION_ERROR_SCHEMA)
        if route.deprecated:
            operation["deprecated"] = True
        security = self.security(route.plan)
        if security:
            operation["security"] = security
        return operation

    def operation_id(self, route: APIRoute, path: str, method: str) -> str:
        """The route's own operation_id, else name + path + method; unique in the document."""
        if route.operation_id:
            candidate = route.operation_id
        else:
            candidate = _NON_WORD.sub("_", _route_name(route) + path) + "_" + method.lower()
        unique, suffix = candidate, 2
        while unique in self.operation_ids:
            unique = f"{candidate}_{suffix}"
            suffix += 1
        self.operation_ids.add(unique)
        return unique

    def parameters(self, plan: DependencyPlan, path: str) -> list[dict[str, Any]]:
        """Path, query, header and cookie parameters of the plan and its dependencies."""
        by_location: dict[tuple[str, str], dict[str, Any]] = {}
        members = [m for m in plan.all_params() if m.source in PARAMETER_SOURCES]
        members.sort(key=lambda m: PARAMETER_SOURCES.index(m.source))
        for member in members:
            location = (member.source.value, member.key)
            if location in by_location or (member.param and not member.param.include_in_schema):
                continue
            parameter: dict[str, Any] = {
                "name": member.key,
                "in": member.source.value,
                "required": member.required,
            }
            if member.field.description:
                parameter["description"] = member.field.description
            if member.field.deprecated:
                parameter["deprecated"] = True
            parameter["schema"] = self.schema_of(
                _field_adapter(member), "validation", _field_extra(member)
            )
            by_location[location] = parameter
        # A path parameter no function reads (one of a Mount's, say) is still in the path.
        for name in _PATH_PARAM.findall(path):
            if ("path", name) not in by_location:
                by_location[("path", name)] = {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
        return sorted(by_location.values(), key=lambda p: _source_rank(p["in"]))

    def request_body(self, plan: DependencyPlan, operation_id: str) -> dict[str, Any] | None:
        """The Request Body Object, or None when nothing reads the body."""
        bodies = list(_body_plans(plan))
        if not bodies:
            return None
        embedded = [
            member
            for body in bodies
            if body.embed
            for member in body.params
            if member.param is None or member.param.include_in_schema
        ]
        parts: list[dict[str, Any]] = []
        if embedded:
            name = f"Body_{operation_id}"
            self.schemas[name] = self.body_object(name, embedded)
            parts.append({"$ref": _ref(name)})
        parts.extend(
            self.schema_of(_field_adapter(body.params[0]), "validation")
            for body in bodies
            if not body.embed
            and (body.params[0].param is None or body.params[0].param.include_in_schema)
        )
        if not parts:
            return None
        # Each body plan reads the same body, so the body must satisfy each of them.
        schema = parts[0] if len(parts) == 1 else {"allOf": parts}
        request_body: dict[str, Any] = {"content": {_body_media_type(bodies): {"schema": schema}}}
        if any(body.required for body in bodies):
            request_body["required"] = True
        return request_body

    def body_object(self, title: str, members: list[ParamPlan]) -> dict[str, Any]:
        """An object schema of the embedded keys (or form fields) of a body."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        for member in members:
            if member.key in properties:
                continue
            extra = _field_extra(member)
            if member.field.description:
                extra["description"] = member.field.description
            properties[member.key] = self.schema_of(_field_adapter(member), "validation", extra)
            if member.required:
                required.append(member.key)
        schema: dict[str, Any] = {"title": title, "type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def responses(self, route: APIRoute) -> dict[str, Any]:
        """The success response, then the route's `responses=` merged in."""
        status = str(route.response_plan.status_code)
        success: dict[str, Any] = {"description": route.response_description}
        media_type = getattr(route.response_class, "media_type", None)
        if status not in NO_CONTENT_STATUSES and media_type is not None:
            if route.response_plan.adapter is not None:
                schema = self.schema_of(route.response_plan.adapter, "serialization")
            elif media_type.startswith("text/"):
                schema = {"type": "string"}
            else:
                schema = {}  # any JSON
            success["content"] = {media_type: {"schema": schema}}
        responses: dict[str, Any] = {status: success}
        for code, extra in route.responses.items():
            key = str(code).upper() if str(code).lower().endswith("xx") else str(code)
            responses[key] = self.additional_response(
                key, extra, responses.get(key), media_type or "application/json"
            )
        return responses

    def additional_response(
        self,
        status: str,
        extra: Mapping[str, Any],
        existing: dict[str, Any] | None,
        media_type: str,
    ) -> dict[str, Any]:
        """One entry of `responses=`: a Response Object, plus `model` for its schema."""
        response: dict[str, Any] = dict(existing or {})
        response.setdefault("description", _status_description(status))
        content: dict[str, Any] = dict(response.get("content", {}))
        for key, value in extra.items():
            if key == "model":
                continue
            if key == "content":
                for content_type, media in value.items():
                    content[content_type] = {**content.get(content_type, {}), **media}
            else:
                response[key] = value
        model = extra.get("model")
        if model is not None:
            schema = self.schema_of(TypeAdapter(model), "serialization")
            content[media_type] = {**content.get(media_type, {}), "schema": schema}
        if content and status not in NO_CONTENT_STATUSES:
            response["content"] = content
        else:
            response.pop("content", None)
        return response

    def security(self, plan: DependencyPlan) -> list[dict[str, list[str]]]:
        """The security requirements of the plan's security dependencies (and schemes)."""
        scopes_by_scheme: dict[str, list[str]] = {}
        for dependency in _dependency_plans(plan):
            scheme = getattr(dependency.call, "model", None)
            name = getattr(dependency.call, "scheme_name", None)
            if not isinstance(scheme, Mapping) or not isinstance(name, str):
                continue
            self.security_schemes[name] = dict(scheme)
            scopes = scopes_by_scheme.setdefault(name, [])
            scopes.extend(s for s in dependency.security_scopes if s not in scopes)
        return [{name: scopes} for name, scopes in scopes_by_scheme.items()]


# --- helpers ---


def _route_name(route: APIRoute) -> str:
    if route.name:
        return route.name
    return str(getattr(route.typed_endpoint, "__name__", "endpoint"))


def _ref(name: str) -> str:
    return REF_TEMPLATE.format(model=name)


def _source_rank(location: str) -> int:
    return [source.value for source in PARAMETER_SOURCES].index(location)


def _dependency_plans(plan: DependencyPlan) -> Iterator[DependencyPlan]:
    # Every dependency below `plan`, depth first, in the order solve() runs them.
    for _, dependency in plan.dependencies:
        yield from _dependency_plans(dependency)
        yield dependency


def _body_plans(plan: DependencyPlan) -> Iterator[BodyPlan]:
    # The body plans of the plan and its dependencies; a dependency used twice reads once.
    seen: set[int] = set()
    for each in [*_dependency_plans(plan), plan]:
        if each.body is not None and id(each.call) not in seen:
            seen.add(id(each.call))
            yield each.body


def _body_media_type(bodies: list[BodyPlan]) -> str:
    form = next((body for body in bodies if body.is_form), None)
    if form is None:
        return bodies[0].media_type
    if any(member.source is Source.FILE for member in form.params):
        return "multipart/form-data"  # files travel only in multipart bodies
    return form.media_type


def _field_adapter(member: ParamPlan) -> TypeAdapter[Any]:
    # The parameter's type with the constraints pydantic keeps in the field's metadata
    # (ge, max_length, pattern...), so that they appear in the schema.
    annotation: Any = member.field.annotation
    if member.field.metadata:
        annotation = Annotated[(annotation, *member.field.metadata)]
    if member.source is Source.FILE:
        return TypeAdapter(annotation, config=_FILE_CONFIG)
    return TypeAdapter(annotation)


def _field_extra(member: ParamPlan) -> dict[str, Any]:
    # What pydantic puts beside a field's type in a model's schema.
    info = member.field
    extra: dict[str, Any] = {"title": info.title or member.name.replace("_", " ").title()}
    if info.default is not PydanticUndefined and info.default_factory is None:
        # A default with no JSON form is left out of the document rather than guessed.
        with contextlib.suppress(PydanticSerializationError):
            extra["default"] = to_jsonable_python(info.default)
    if info.examples:
        extra["examples"] = list(info.examples)
    if isinstance(info.json_schema_extra, dict):
        extra.update(info.json_schema_extra)
    return extra


def _status_description(status: str) -> str:
    if status.isdigit():
        try:
            return http.HTTPStatus(int(status)).phrase
        except ValueError:
            pass
    return "Additional Response"
