"""Security schemes: dependencies that read a credential and answer 401 without one.

    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")

    async def current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> User: ...

Each scheme is an instance whose `async __call__(request)` returns the credential it found:
a bearer token, `HTTPAuthorizationCredentials`, `HTTPBasicCredentials` or an API key. When
the credential is missing or malformed it raises `HTTPException(401, "Not authenticated")`
with a `WWW-Authenticate` challenge (a 401 must carry one: RFC 9110 §15.5.2), or, with
`auto_error=False`, returns None so that the dependency can try something else.

Checking the credential (is the token valid, is the password right) is the application's
job, in its own dependency on top of the scheme.

Each scheme also carries what the OpenAPI document says of it: `model`, the Security Scheme
Object (OpenAPI 3.1 §4.8.27) as a dict, and `scheme_name`, its key under
`components.securitySchemes` (the class name unless given).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from pydantic import BaseModel

from ferry.api.depends import SecurityScopes
from ferry.api.params import Form
from ferry.asgi.exceptions import HTTPException
from ferry.asgi.requests import Request

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "SecurityBase",
    "SecurityScopes",
]

# RFC 9110 §11.2: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
# RFC 6750 §2.1 gives a bearer token (b64token) the same grammar; a Basic credential
# (RFC 7617 §2) is token68 too. No whitespace inside: "Bearer a b" is malformed.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class HTTPAuthorizationCredentials(BaseModel):
    """An `Authorization` header split in two: `Bearer abc` -> scheme "Bearer",
    credentials "abc"."""

    scheme: str
    credentials: str


class HTTPBasicCredentials(BaseModel):
    """The user-id and password of a Basic `Authorization` header (RFC 7617)."""

    username: str
    password: str


class SecurityBase:
    """What every scheme has: its OpenAPI `model`, `scheme_name` and its 401.

    Subclasses set `challenge`, the `WWW-Authenticate` value of their 401. To answer
    differently (a 403, say), override `make_not_authenticated_error()`.
    """

    model: dict[str, Any]
    scheme_name: str
    auto_error: bool
    challenge: str

    def _describe(self, model: dict[str, Any], description: str | None) -> dict[str, Any]:
        if description is not None:
            model["description"] = description
        return model

    def make_not_authenticated_error(self) -> HTTPException:
        """The error raised when the request carries no usable credential."""
        return HTTPException(
            401, detail="Not authenticated", headers={"WWW-Authenticate": self.challenge}
        )

    def _missing(self) -> None:
        # The one place a scheme gives up: raise, or let the dependency see None.
        if self.auto_error:
            raise self.make_not_authenticated_error()


def _authorization(request: Request, scheme: str) -> HTTPAuthorizationCredentials | None:
    # RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; the
    # scheme is case-insensitive (§11.1). None when absent, of another scheme or malformed.
    value = request.headers.get("authorization")
    if value is None:
        return None
    given_scheme, _, credentials = value.strip(" \t").partition(" ")
    credentials = credentials.lstrip(" ")
    if given_scheme.lower() != scheme or not _TOKEN68.fullmatch(credentials):
        return None
    return HTTPAuthorizationCredentials(scheme=given_scheme, credentials=credentials)


# --- OAuth2 (RFC 6749) with bearer tokens (RFC 6750) ---


class OAuth2PasswordBearer(SecurityBase):
    """The bearer token of a client that got it from `tokenUrl` with a password grant.

    Returns the token (a str), or None with `auto_error=False`. `scopes` maps each scope
    the API knows to its description, for the docs.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3) when there is no
            `Authorization: Bearer <token>` header.

    Example:
        >>> oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")  # doctest: +SKIP
    """

    challenge = "Bearer"

    def __init__(
        self,
        tokenUrl: str,  # camelCase as in OpenAPI (and FastAPI)
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,
    ) -> None:
        flow: dict[str, Any] = {"tokenUrl": tokenUrl, "scopes": dict(scopes or {})}
        if refreshUrl is not None:
            flow["refreshUrl"] = refreshUrl
        self.model = self._describe({"type": "oauth2", "flows": {"password": flow}}, description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> str | None:
        credentials = _authorization(request, "bearer")
        if credentials is None:
            self._missing()
            return None
        return credentials.credentials


class OAuth2PasswordRequestForm:
    """The form a client posts to the token endpoint (RFC 6749 §4.3.2), as a dependency.

        async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:

    `scope` is space-separated (RFC 6749 §3.3); `scopes` holds it as a list. The spec
    requires `grant_type=password`; this form accepts it missing too (see
    `OAuth2PasswordRequestFormStrict`). `client_id` and `client_secret` are there for
    clients that send them in the body rather than with HTTP Basic (§2.3.1).
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """`OAuth2PasswordRequestForm` that requires `grant_type=password` (a 422 without)."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


# --- HTTP authentication schemes (RFC 9110 §11) ---


class HTTPBearer(SecurityBase):
    """`Authorization: Bearer <token>` -> `HTTPAuthorizationCredentials`.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: Bearer` when the header is missing, of
            another scheme or malformed.
    """

    challenge = "Bearer"

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,  # camelCase as in OpenAPI
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        model: dict[str, Any] = {"type": "http", "scheme": "bearer"}
        if bearerFormat is not None:
            model["bearerFormat"] = bearerFormat
        self.model = self._describe(model, description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        credentials = _authorization(request, "bearer")
        if credentials is None:
            self._missing()
        return credentials


class HTTPBasic(SecurityBase):
    """`Authorization: Basic base64(user-id ":" password)` -> `HTTPBasicCredentials`.

    The pair is decoded as UTF-8 (RFC 7617 §2.1). The password is not checked here: compare
    it with `secrets.compare_digest` (or a password hash) in your own dependency.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: Basic` (and the realm, when given) when
            the header is missing, of another scheme, not base64, not UTF-8 or has no ":".
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = self._describe({"type": "http", "scheme": "basic"}, description)
        self.scheme_name = scheme_name or type(self).__name__
        self.realm = realm
        self.auto_error = auto_error
        # RFC 7617 §2: the realm is a quoted-string; escape what would end it early.
        if realm is None:
            self.challenge = "Basic"
        else:
            quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
            self.challenge = f'Basic realm="{quoted}"'

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        credentials = _authorization(request, "basic")
        if credentials is None:
            self._missing()
            return None
        try:
            decoded = base64.b64decode(credentials.credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            self._missing()
            return None
        # The user-id cannot contain ":"; the password may (RFC 7617 §2).
        username, colon, password = decoded.partition(":")
        if not colon:
            self._missing()
            return None
        return HTTPBasicCredentials(username=username, password=password)


# --- API keys (OpenAPI's apiKey type; no RFC) ---


class _APIKey(SecurityBase):
    # An API key has no registered HTTP auth scheme; "APIKey" names the challenge so that
    # the 401 still carries the WWW-Authenticate header RFC 9110 §15.5.2 requires.
    challenge = "APIKey"
    location: str

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.name = name
        self.model = self._describe(
            {"type": "apiKey", "in": self.location, "name": name}, description
        )
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def _checked(self, api_key: str | None) -> str | None:
        if not api_key:  # missing or empty
            self._missing()
            return None
        return api_key


class APIKeyHeader(_APIKey):
    """An API key in the header `name` (case-insensitive) -> the key, a str.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: APIKey` when it is missing or empty.
    """

    location = "header"

    async def __call__(self, request: Request) -> str | None:
        return self._checked(request.headers.get(self.name))


class APIKeyQuery(_APIKey):
    """An API key in the query parameter `name` -> the key, a str.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: APIKey` when it is missing or empty.
    """

    location = "query"

    async def __call__(self, request: Request) -> str | None:
        return self._checked(request.query_params.get(self.name))


class APIKeyCookie(_APIKey):
    """An API key in the cookie `name` -> the key, a str.

    Raises:
        HTTPException: 401 with `WWW-Authenticate: APIKey` when it is missing or empty.
    """

    location = "cookie"

    async def __call__(self, request: Request) -> str | None:
        return self._checked(request.cookies.get(self.name))
