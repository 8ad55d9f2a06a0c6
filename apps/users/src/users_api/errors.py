"""The app's own answers to validation errors and to errors nothing else handled.

Both keep to the contract's rule that every error is JSON `{"detail": ...}`, and both
hold back what must not reach a client: a 422 never echoes a password (or the raw body
it may sit in), and a 500 says nothing of the traceback or the SQL behind it (the server
logs those).
"""

from __future__ import annotations

from typing import Any

from ferry.api import JSONResponse, Request, RequestValidationError, Response


def _may_echo_input(error: dict[str, Any]) -> bool:
    # A whole object or list may hold a password beside the field at fault (a "missing"
    # error's input is the object it is missing from), and so may the raw body of a
    # JSON syntax error; a field named like a secret holds one.
    if isinstance(error.get("input"), dict | list | bytes) or list(error["loc"]) == ["body"]:
        return False
    return not any("password" in str(part) or "secret" in str(part) for part in error["loc"])


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """422 with pydantic's error list, minus the `input` of secret fields."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        if not _may_echo_input(error):
            error = {key: value for key, value in error.items() if key != "input"}
        errors.append(error)
    return JSONResponse({"detail": errors}, status_code=422)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """500 with a fixed message; the exception itself goes to the server's log."""
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
