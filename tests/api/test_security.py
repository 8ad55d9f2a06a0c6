"""Security schemes: the credential each one reads, its 401, scopes and the form login.

No `from __future__ import annotations` here: the endpoints below name dependencies that
are local to each test, and string annotations could not be resolved from there.
"""

import base64
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from ferry.api import App, Depends, HTTPException, Security
from ferry.api.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    SecurityBase,
    SecurityScopes,
)
from ferry.asgi.testing import TestClient

MALFORMED_BEARER = [
    "Basic YWRhOnNlY3JldA==",  # another scheme
    "Bearer",  # no credentials
    "Bearer ",  # no credentials, trailing space
    "Bearer abc def",  # whitespace inside the token
    "Bearer abc=def",  # "=" only as padding at the end (token68)
    "Bearerabc",  # no space after the scheme
    "abc",  # a bare token
]


def basic(user_pass: bytes) -> str:
    return "Basic " + base64.b64encode(user_pass).decode("ascii")


# --- OAuth2PasswordBearer ---


def bearer_app(scheme: OAuth2PasswordBearer) -> App:
    app = App()

    @app.get("/me")
    async def me(token: Annotated[str | None, Depends(scheme)]) -> dict[str, str | None]:
        return {"token": token}

    return app


def test_oauth2_bearer_returns_the_token() -> None:
    client = TestClient(bearer_app(OAuth2PasswordBearer(tokenUrl="/token")))
    response = client.get("/me", headers={"Authorization": "Bearer abc.DEF-123_~+/=="})
    assert response.status_code == 200
    assert response.json() == {"token": "abc.DEF-123_~+/=="}


def test_oauth2_bearer_scheme_name_is_case_insensitive() -> None:
    # RFC 9110 §11.1: the auth-scheme is a case-insensitive token; 1*SP may follow it.
    client = TestClient(bearer_app(OAuth2PasswordBearer(tokenUrl="/token")))
    for value in ("bearer tok", "BEARER tok", "Bearer  tok"):
        assert client.get("/me", headers={"Authorization": value}).json() == {"token": "tok"}


def test_oauth2_bearer_without_a_header_gets_401_with_bearer_challenge() -> None:
    response = TestClient(bearer_app(OAuth2PasswordBearer(tokenUrl="/token"))).get("/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("value", MALFORMED_BEARER)
def test_oauth2_bearer_with_a_malformed_header_gets_401(value: str) -> None:
    client = TestClient(bearer_app(OAuth2PasswordBearer(tokenUrl="/token")))
    response = client.get("/me", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_oauth2_bearer_without_auto_error_gives_none() -> None:
    client = TestClient(bearer_app(OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)))
    assert client.get("/me").json() == {"token": None}
    assert client.get("/me", headers={"Authorization": "Basic x"}).json() == {"token": None}


def test_oauth2_bearer_model_is_a_password_flow() -> None:
    scheme = OAuth2PasswordBearer(
        tokenUrl="/token", scopes={"me": "Read yourself"}, description="Log in first"
    )
    assert isinstance(scheme, SecurityBase)
    assert scheme.scheme_name == "OAuth2PasswordBearer"
    assert scheme.model == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/token", "scopes": {"me": "Read yourself"}}},
        "description": "Log in first",
    }
    named = OAuth2PasswordBearer("/token", scheme_name="Login", refreshUrl="/refresh")
    assert named.scheme_name == "Login"
    assert named.model == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/token", "scopes": {}, "refreshUrl": "/refresh"}},
    }


# --- a dependency chain with scopes ---


class User(BaseModel):
    username: str
    scopes: list[str]


TOKENS = {"ada-token": User(username="ada", scopes=["me", "items"])}
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/token", scopes={"me": "Read yourself", "items": "Read items"}
)


async def get_current_user(
    security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]
) -> User:
    challenge = "Bearer"
    if security_scopes.scopes:
        challenge = f'Bearer scope="{security_scopes.scope_str}"'
    user = TOKENS.get(token)
    if user is None:
        raise HTTPException(401, detail="Invalid token", headers={"WWW-Authenticate": challenge})
    for scope in security_scopes.scopes:
        if scope not in user.scopes:
            raise HTTPException(
                403, detail="Not enough permissions", headers={"WWW-Authenticate": challenge}
            )
    return user


def scoped_app() -> App:
    app = App()

    @app.get("/users/me")
    async def read_me(user: Annotated[User, Security(get_current_user, scopes=["me"])]) -> User:
        return user

    @app.get("/admin")
    async def admin(
        user: Annotated[User, Security(get_current_user, scopes=["me", "admin"])],
    ) -> User:
        return user

    @app.get("/scopes")
    async def scopes(
        user: Annotated[User, Depends(get_current_user)],
    ) -> dict[str, str]:
        return {"user": user.username}

    return app


def test_dependency_chain_reaches_the_user_through_the_scheme() -> None:
    client = TestClient(scoped_app())
    response = client.get("/users/me", headers={"Authorization": "Bearer ada-token"})
    assert response.status_code == 200
    assert response.json() == {"username": "ada", "scopes": ["me", "items"]}
    assert client.get("/scopes", headers={"Authorization": "Bearer ada-token"}).json() == {
        "user": "ada"
    }


def test_dependency_chain_without_a_token_stops_at_the_scheme() -> None:
    response = TestClient(scoped_app()).get("/users/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_dependency_chain_with_an_unknown_token_gets_the_users_401() -> None:
    response = TestClient(scoped_app()).get("/users/me", headers={"Authorization": "Bearer nobody"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token"}
    assert response.headers["www-authenticate"] == 'Bearer scope="me"'


def test_security_scopes_reach_the_dependency() -> None:
    response = TestClient(scoped_app()).get("/admin", headers={"Authorization": "Bearer ada-token"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer scope="me admin"'


def test_security_scopes_accumulate_down_the_chain_and_in_route_dependencies() -> None:
    app = App()
    seen: list[list[str]] = []

    async def record(security_scopes: SecurityScopes) -> None:
        seen.append(list(security_scopes.scopes))

    async def middle(_: Annotated[None, Security(record, scopes=["inner"])]) -> str:
        return "middle"

    @app.get("/", dependencies=[Security(record, scopes=["route"])])
    async def endpoint(
        value: Annotated[str, Security(middle, scopes=["outer"])],
        bare: Annotated[None, Depends(record)],
    ) -> dict[str, str]:
        return {"value": value}

    assert TestClient(app).get("/").json() == {"value": "middle"}
    assert sorted(seen) == [[], ["outer", "inner"], ["route"]]


# --- OAuth2PasswordRequestForm ---


def form_app() -> App:
    app = App()

    @app.post("/token")
    async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
        return {
            "grant_type": form.grant_type,
            "username": form.username,
            "password": form.password,
            "scopes": form.scopes,
            "client_id": form.client_id,
            "client_secret": form.client_secret,
        }

    @app.post("/strict")
    async def strict(
        form: Annotated[OAuth2PasswordRequestFormStrict, Depends()],
    ) -> dict[str, Any]:
        return {"grant_type": form.grant_type, "username": form.username}

    return app


def test_password_form_is_parsed_with_its_scopes() -> None:
    response = TestClient(form_app()).post(
        "/token",
        data={
            "grant_type": "password",
            "username": "ada",
            "password": "s3cret:pw",
            "scope": "me  items\tadmin",
            "client_id": "cli",
            "client_secret": "shh",
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "grant_type": "password",
        "username": "ada",
        "password": "s3cret:pw",
        "scopes": ["me", "items", "admin"],
        "client_id": "cli",
        "client_secret": "shh",
    }


def test_password_form_defaults_when_optional_fields_are_missing() -> None:
    response = TestClient(form_app()).post("/token", data={"username": "ada", "password": "pw"})
    assert response.json() == {
        "grant_type": None,
        "username": "ada",
        "password": "pw",
        "scopes": [],
        "client_id": None,
        "client_secret": None,
    }


def test_password_form_is_read_from_multipart_too() -> None:
    response = TestClient(form_app()).post(
        "/token",
        data={"username": "ada", "password": "pw", "scope": "me"},
        files={"ignored": ("a.txt", b"x")},
    )
    assert response.status_code == 200
    assert response.json()["scopes"] == ["me"]


def test_password_form_without_a_password_gets_422() -> None:
    response = TestClient(form_app()).post("/token", data={"username": "ada"})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [(e["type"], e["loc"]) for e in errors] == [("missing", ["body", "password"])]


def test_password_form_with_another_grant_type_gets_422() -> None:
    response = TestClient(form_app()).post(
        "/token", data={"grant_type": "client_credentials", "username": "a", "password": "p"}
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [(e["type"], e["loc"]) for e in errors] == [
        ("string_pattern_mismatch", ["body", "grant_type"])
    ]


def test_strict_password_form_requires_grant_type_password() -> None:
    client = TestClient(form_app())
    missing = client.post("/strict", data={"username": "ada", "password": "pw"})
    assert missing.status_code == 422
    assert [e["loc"] for e in missing.json()["detail"]] == [["body", "grant_type"]]
    wrong = client.post("/strict", data={"grant_type": "pass", "username": "a", "password": "p"})
    assert wrong.status_code == 422
    good = client.post(
        "/strict", data={"grant_type": "password", "username": "ada", "password": "pw"}
    )
    assert good.json() == {"grant_type": "password", "username": "ada"}


# --- HTTPBearer ---


def http_bearer_app(scheme: HTTPBearer) -> App:
    app = App()

    @app.get("/")
    async def read(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> dict[str, Any]:
        return {"credentials": credentials.model_dump() if credentials else None}

    return app


def test_http_bearer_returns_scheme_and_credentials() -> None:
    client = TestClient(http_bearer_app(HTTPBearer()))
    response = client.get("/", headers={"Authorization": "Bearer tok"})
    assert response.json() == {"credentials": {"scheme": "Bearer", "credentials": "tok"}}


@pytest.mark.parametrize("value", [None, *MALFORMED_BEARER])
def test_http_bearer_without_good_credentials_gets_401(value: str | None) -> None:
    headers = {} if value is None else {"Authorization": value}
    response = TestClient(http_bearer_app(HTTPBearer())).get("/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_http_bearer_without_auto_error_gives_none() -> None:
    client = TestClient(http_bearer_app(HTTPBearer(auto_error=False)))
    assert client.get("/").json() == {"credentials": None}
    assert client.get("/", headers={"Authorization": "Digest x"}).json() == {"credentials": None}


def test_http_bearer_model() -> None:
    assert HTTPBearer().model == {"type": "http", "scheme": "bearer"}
    scheme = HTTPBearer(bearerFormat="JWT", scheme_name="jwt", description="A JWT")
    assert scheme.scheme_name == "jwt"
    assert scheme.model == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT",
    }


# --- HTTPBasic ---


def basic_app(scheme: HTTPBasic) -> App:
    app = App()

    @app.get("/")
    async def read(
        credentials: Annotated[HTTPBasicCredentials | None, Depends(scheme)],
    ) -> dict[str, Any]:
        return {"credentials": credentials.model_dump() if credentials else None}

    return app


def test_http_basic_returns_username_and_password() -> None:
    client = TestClient(basic_app(HTTPBasic()))
    response = client.get("/", headers={"Authorization": basic(b"ada:pa:ss")})
    assert response.json() == {"credentials": {"username": "ada", "password": "pa:ss"}}


def test_http_basic_decodes_utf8_and_allows_an_empty_password() -> None:
    client = TestClient(basic_app(HTTPBasic()))
    response = client.get("/", headers={"Authorization": basic("zoë:".encode())})
    assert response.json() == {"credentials": {"username": "zoë", "password": ""}}


def test_http_basic_works_with_the_clients_own_auth() -> None:
    response = TestClient(basic_app(HTTPBasic())).get("/", auth=("ada", "secret"))
    assert response.json() == {"credentials": {"username": "ada", "password": "secret"}}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "Bearer tok",  # another scheme
        "Basic",  # no credentials
        "Basic !!!",  # not token68
        "Basic YWRh",  # "ada": no colon
        "Basic YWRhOnB",  # base64 with bad padding
        basic(b"\xff\xfe:pw"),  # not UTF-8
    ],
)
def test_http_basic_without_good_credentials_gets_401(value: str | None) -> None:
    headers = {} if value is None else {"Authorization": value}
    response = TestClient(basic_app(HTTPBasic())).get("/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Basic"


def test_http_basic_challenge_names_the_realm() -> None:
    client = TestClient(basic_app(HTTPBasic(realm='the "users" api')))
    response = client.get("/", headers={"Authorization": "Basic YWRh"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="the \\"users\\" api"'


def test_http_basic_without_auto_error_gives_none() -> None:
    client = TestClient(basic_app(HTTPBasic(auto_error=False)))
    assert client.get("/").json() == {"credentials": None}
    assert client.get("/", headers={"Authorization": "Basic !!!"}).json() == {"credentials": None}
    assert client.get("/", headers={"Authorization": "Basic YWRh"}).json() == {"credentials": None}


def test_http_basic_model() -> None:
    scheme = HTTPBasic(description="Users")
    assert scheme.scheme_name == "HTTPBasic"
    assert scheme.model == {"type": "http", "scheme": "basic", "description": "Users"}


# --- API keys ---


def api_key_app(scheme: APIKeyHeader | APIKeyQuery | APIKeyCookie) -> App:
    app = App()

    @app.get("/")
    async def read(key: Annotated[str | None, Depends(scheme)]) -> dict[str, str | None]:
        return {"key": key}

    return app


def test_api_key_header_is_read_case_insensitively() -> None:
    client = TestClient(api_key_app(APIKeyHeader(name="X-API-Key")))
    assert client.get("/", headers={"x-api-key": "k1"}).json() == {"key": "k1"}


def test_api_key_query_is_read() -> None:
    client = TestClient(api_key_app(APIKeyQuery(name="api_key")))
    assert client.get("/?api_key=k2").json() == {"key": "k2"}


def test_api_key_cookie_is_read() -> None:
    client = TestClient(api_key_app(APIKeyCookie(name="session")))
    assert client.get("/", headers={"Cookie": "session=k3"}).json() == {"key": "k3"}


@pytest.mark.parametrize(
    ("scheme", "empty"),
    [
        (APIKeyHeader(name="X-API-Key"), {"headers": {"X-API-Key": ""}}),
        (APIKeyQuery(name="api_key"), {"params": {"api_key": ""}}),
        (APIKeyCookie(name="session"), {"headers": {"Cookie": "session="}}),
    ],
)
def test_api_key_missing_or_empty_gets_401(
    scheme: APIKeyHeader | APIKeyQuery | APIKeyCookie, empty: dict[str, Any]
) -> None:
    client = TestClient(api_key_app(scheme))
    for response in (client.get("/"), client.get("/", **empty)):
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
        assert response.headers["www-authenticate"] == "APIKey"


@pytest.mark.parametrize("scheme_class", [APIKeyHeader, APIKeyQuery, APIKeyCookie])
def test_api_key_without_auto_error_gives_none(
    scheme_class: type[APIKeyHeader | APIKeyQuery | APIKeyCookie],
) -> None:
    client = TestClient(api_key_app(scheme_class(name="key", auto_error=False)))
    assert client.get("/").json() == {"key": None}


def test_api_key_models_say_where_the_key_is() -> None:
    assert APIKeyHeader(name="X-API-Key").model == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert APIKeyQuery(name="k", description="d").model == {
        "type": "apiKey",
        "in": "query",
        "name": "k",
        "description": "d",
    }
    cookie = APIKeyCookie(name="session", scheme_name="cookieAuth")
    assert cookie.model == {"type": "apiKey", "in": "cookie", "name": "session"}
    assert cookie.scheme_name == "cookieAuth"
    assert APIKeyQuery(name="k").scheme_name == "APIKeyQuery"


# --- overriding and replacing ---


def test_a_subclass_may_answer_403_instead() -> None:
    class LegacyBearer(HTTPBearer):
        def make_not_authenticated_error(self) -> HTTPException:
            return HTTPException(403, detail="Not authenticated")

    response = TestClient(http_bearer_app(LegacyBearer())).get("/")
    assert response.status_code == 403
    assert "www-authenticate" not in response.headers


def test_a_scheme_instance_can_be_overridden_in_tests() -> None:
    scheme = OAuth2PasswordBearer(tokenUrl="/token")
    app = bearer_app(scheme)

    async def fake_token() -> str:
        return "fake"

    app.dependency_overrides[scheme] = fake_token
    assert TestClient(app).get("/me").json() == {"token": "fake"}
