"""The toolkit's exceptions, in one tree.

    Exception
    ├── HTTPException            an HTTP error answer: status_code, detail, headers
    ├── WebSocketException       close a websocket: code, reason
    ├── ClientDisconnect         the client went away while the body was read
    ├── MalformedRequest         (also a ValueError) a body that cannot be parsed
    │   ├── InvalidJSON              request.json() on a body that is not JSON
    │   └── MultiPartException       a form that is malformed or over a limit
    └── NoMatchFound             url_path_for() found no route for the name and params

`MultiPartException` becomes a 400 when it reaches the exception middleware. `InvalidJSON`
is left to the caller: the typed layer maps it to a 422.
"""

from __future__ import annotations

import http
from collections.abc import Mapping


class HTTPException(Exception):
    """Raise to answer with an HTTP error: `{"detail": ...}` or plain text by default.

    Example:
        >>> raise HTTPException(404, detail="user not found")  # doctest: +SKIP
    """

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            detail = http.HTTPStatus(status_code).phrase
        self.status_code = status_code
        self.detail = detail
        self.headers = headers
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class WebSocketException(Exception):
    """Raise to close a websocket with `code` (RFC 6455 §7.4) and `reason`."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class ClientDisconnect(Exception):
    """The client disconnected before the request body was read in full."""


class MalformedRequest(ValueError):
    """A request body that cannot be parsed as its content type says."""


class InvalidJSON(MalformedRequest):
    """`request.json()` found a body that is not valid JSON; `__cause__` has the details."""


class MultiPartException(MalformedRequest):
    """A form body that is malformed, or over one of the parser's limits."""


class NoMatchFound(Exception):
    """`url_path_for()` found no route with this name that takes these parameters.

    `expected` is the parameter names of a route with that name, when there is one, so
    the message can say which are missing or extra.
    """

    def __init__(
        self, name: str, path_params: Mapping[str, object], expected: set[str] | None = None
    ) -> None:
        given = set(path_params)
        if expected is None:
            message = f"No route exists for name {name!r}"
            if given:
                message += f" and params {sorted(given)}"
        else:
            message = f"Route {name!r} takes params {sorted(expected)}"
            if expected - given:
                message += f"; missing {sorted(expected - given)}"
            if given - expected:
                message += f"; unexpected {sorted(given - expected)}"
        super().__init__(message + ".")
        self.name = name
        self.path_params = dict(path_params)
        self.expected = expected
