"""encode_response(): an endpoint's return value -> its response model -> JSON bytes.

With a response model, the value is validated against it (objects are read by attribute,
so an ORM row or a richer model fits a narrower public model, which drops the fields it
does not declare) and serialized by pydantic-core straight to bytes. Without one, any
value pydantic can serialize (models, dataclasses, datetimes, UUIDs, Decimals, enums...)
is encoded the same way. A `Response` returned by the endpoint is sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from ferry.api.exceptions import ResponseValidationError, error_dicts
from ferry.asgi.background import BackgroundTasks
from ferry.asgi.responses import JSONResponse, Response


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """How an endpoint's return value becomes a response; decided when the route is added."""

    adapter: TypeAdapter[Any] | None
    status_code: int
    response_class: type[Response] = JSONResponse
    exclude_none: bool = False
    exclude_unset: bool = False
    exclude_defaults: bool = False
    by_alias: bool = True


def encode_response(
    plan: ResponsePlan,
    value: Any,
    *,
    temporal: Response | None = None,
    background: BackgroundTasks | None = None,
    trace: Any = None,
) -> Response:
    """The response for `value`.

    Raises:
        ResponseValidationError: `value` does not fit the response model.
    """
    if isinstance(value, Response):
        response = value
    else:
        body = _encode(plan, value)
        status_code = plan.status_code
        if temporal is not None and temporal.status_code:
            status_code = temporal.status_code
        if issubclass(plan.response_class, JSONResponse):
            response = Response(body, status_code=status_code, media_type="application/json")
        else:
            response = plan.response_class(value, status_code=status_code)
    if temporal is not None:
        # Headers and cookies an endpoint set on its `response: Response` parameter.
        for name, header_value in temporal.raw_headers:
            if name not in (b"content-length", b"content-type"):
                response.raw_headers.append((name, header_value))
    if background is not None and response.background is None:
        response.background = background
    if trace is not None:
        trace.waypoint(
            "encode",
            response_model=_model_name(plan),
            returned=type(value).__name__,
            status=response.status_code,
            body_bytes=len(response.body),
        )
    return response


def _model_name(plan: ResponsePlan) -> str | None:
    # repr(TypeAdapter(list[User])) is "TypeAdapter(list[User])".
    if plan.adapter is None:
        return None
    return repr(plan.adapter).removeprefix("TypeAdapter(").removesuffix(")")


def _encode(plan: ResponsePlan, value: Any) -> bytes:
    if plan.adapter is None:
        return to_json(value, by_alias=plan.by_alias, exclude_none=plan.exclude_none)
    # The adapter's pydantic-core validator and serializer, called with only the options
    # this plan sets: TypeAdapter's own methods pass every option on each call.
    try:
        validated = plan.adapter.validator.validate_python(value, from_attributes=True)
    except ValidationError as exc:
        raise ResponseValidationError(
            error_dicts(exc.errors(include_url=False), ("response",))
        ) from None
    return plan.adapter.serializer.to_json(
        validated,
        by_alias=plan.by_alias,
        exclude_none=plan.exclude_none,
        exclude_unset=plan.exclude_unset,
        exclude_defaults=plan.exclude_defaults,
    )
