"""The typed layer's exceptions and the JSON answers they get.

    ferry.asgi.HTTPException        -> {"detail": ...} with its status and headers
    ValidationError                 errors found while checking values
    ├── RequestValidationError      -> 422 {"detail": [{"type", "loc", "msg", "input", "ctx"?}]}
    └── ResponseValidationError     -> 500 {"detail": "Internal Server Error"}, details logged

pydantic's own `ValidationError` never leaves this package raw: its errors are copied into
these, with the location prefixed by where the value came from (["query", "limit"]).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python

from ferry.asgi.exceptions import HTTPException
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, Response

logger = logging.getLogger("ferry.api")


class ValidationError(Exception):
    """Values that failed validation; `errors()` lists them in pydantic's shape."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(errors)
        self._errors = list(errors)

    def errors(self) -> list[dict[str, Any]]:
        """The errors: each with `type`, `loc`, `msg`, `input` and maybe `ctx`."""
        return self._errors

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error(s):"]
        for error in self._errors:
            lines.append(f"  {'.'.join(map(str, error['loc']))}: {error['msg']}")
        return "\n".join(lines)


class RequestValidationError(ValidationError):
    """The request's path, query, headers, cookies or body failed validation (422)."""

    def __init__(self, errors: Sequence[dict[str, Any]], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body


class ResponseValidationError(ValidationError):
    """The endpoint's return value does not fit its response model (500)."""


def error_dicts(errors: Sequence[Any], prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """pydantic error dicts as JSON-ready dicts, each `loc` prefixed with `prefix`."""
    converted = []
    for error in errors:
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": [*prefix, *error["loc"]],
            "msg": error["msg"],
            "input": to_jsonable_python(error.get("input"), fallback=str),
        }
        if error.get("ctx"):
            item["ctx"] = to_jsonable_python(error["ctx"], fallback=str)
        converted.append(item)
    return converted


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """`HTTPException` -> `{"detail": ...}` with its status code and headers."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def request_validation_exception_handler(request: Request, exc: Exception) -> Response:
    """`RequestValidationError` -> 422 with every error."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": exc.errors()}, status_code=422)


async def response_validation_exception_handler(request: Request, exc: Exception) -> Response:
    """`ResponseValidationError` -> 500 with no details for the client; logged."""
    logger.error("Response validation failed for %s %s:\n%s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
