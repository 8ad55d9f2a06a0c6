"""Response models, encoding, status codes and the JSON error bodies of the typed layer."""

import dataclasses
import datetime
import decimal
import enum
import logging
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from ferry.api import (
    App,
    BackgroundTasks,
    HTTPException,
    PlainTextResponse,
    Response,
    jsonable_encoder,
    status,
)
from ferry.asgi.testing import TestClient


class UserPublic(BaseModel):
    username: str
    display_name: str


class UserStored(UserPublic):
    password_hash: str


class Optional(BaseModel):
    name: str
    nickname: str | None = None
    age: int = 0


def test_response_model_filters_fields_the_model_does_not_declare() -> None:
    app = App()

    @app.get("/me", response_model=UserPublic)
    async def me() -> Any:
        return UserStored(username="ada", display_name="Ada", password_hash="secret-hash")

    body = TestClient(app).get("/me").json()
    assert body == {"username": "ada", "display_name": "Ada"}


def test_return_annotation_is_the_response_model() -> None:
    app = App()

    @app.get("/me")
    async def me() -> UserPublic:
        return UserStored(username="ada", display_name="Ada", password_hash="x")

    assert "password_hash" not in TestClient(app).get("/me").json()


def test_response_model_reads_dicts_and_objects() -> None:
    app = App()

    @dataclasses.dataclass
    class Row:
        username: str
        display_name: str
        password_hash: str

    @app.get("/row", response_model=UserPublic)
    async def row() -> Any:
        return Row("bob", "Bob", "h")

    @app.get("/dict", response_model=UserPublic)
    async def as_dict() -> Any:
        return {"username": "eve", "display_name": "Eve", "extra": 1}

    client = TestClient(app)
    assert client.get("/row").json() == {"username": "bob", "display_name": "Bob"}
    assert client.get("/dict").json() == {"username": "eve", "display_name": "Eve"}


def test_value_that_does_not_fit_the_response_model_is_a_500_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.get("/broken", response_model=UserPublic)
    async def broken() -> Any:
        return {"username": "ada"}

    with caplog.at_level(logging.ERROR, logger="ferry.api"):
        response = TestClient(app).get("/broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "display_name" in caplog.text


def test_exclude_none_unset_and_defaults() -> None:
    app = App()

    @app.get("/none", response_model=Optional, response_model_exclude_none=True)
    async def none() -> Any:
        return Optional(name="a")

    @app.get("/unset", response_model=Optional, response_model_exclude_unset=True)
    async def unset() -> Any:
        return Optional(name="a", age=0)

    @app.get("/defaults", response_model=Optional, response_model_exclude_defaults=True)
    async def defaults() -> Any:
        return Optional(name="a", age=0, nickname="n")

    client = TestClient(app)
    assert client.get("/none").json() == {"name": "a", "age": 0}
    assert client.get("/unset").json() == {"name": "a", "age": 0}
    assert client.get("/defaults").json() == {"name": "a", "nickname": "n"}


def test_status_code_of_the_decorator() -> None:
    app = App()

    @app.post("/things", status_code=status.HTTP_201_CREATED)
    async def create() -> dict[str, bool]:
        return {"created": True}

    response = TestClient(app).post("/things")
    assert response.status_code == 201
    assert response.json() == {"created": True}


def test_returned_response_is_sent_as_it_is() -> None:
    app = App()

    @app.get("/text")
    async def text() -> Response:
        return PlainTextResponse("plain", status_code=202)

    response = TestClient(app).get("/text")
    assert (response.status_code, response.text) == (202, "plain")


def test_response_parameter_sets_headers_cookies_and_status() -> None:
    app = App()

    @app.post("/login")
    async def login(response: Response) -> dict[str, bool]:
        response.set_cookie("session", "abc", httponly=True)
        response.headers["x-extra"] = "1"
        response.status_code = 202
        return {"ok": True}

    result = TestClient(app).post("/login")
    assert result.status_code == 202
    assert result.headers["x-extra"] == "1"
    assert "HttpOnly" in result.headers["set-cookie"]
    assert result.json() == {"ok": True}


def test_background_tasks_run_after_the_response() -> None:
    app = App()
    done: list[str] = []

    @app.post("/notify")
    async def notify(tasks: BackgroundTasks) -> dict[str, int]:
        tasks.add_task(done.append, "sent")
        return {"queued": len(done)}

    assert TestClient(app).post("/notify").json() == {"queued": 0}
    assert done == ["sent"]


class Color(enum.Enum):
    RED = "red"


def test_values_without_a_model_are_encoded_like_pydantic_does() -> None:
    app = App()
    when = datetime.datetime(2026, 11, 21, 13, 5, 9, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    @app.get("/mixed")
    async def mixed() -> Any:
        return {
            "when": when,
            "day": when.date(),
            "id": ident,
            "price": decimal.Decimal("1.50"),
            "color": Color.RED,
            "tags": {"a"},
            "gap": datetime.timedelta(seconds=90),
        }

    body = TestClient(app).get("/mixed").json()
    assert body == {
        "when": "2026-11-21T13:05:09Z",
        "day": "2026-11-21",
        "id": str(ident),
        "price": "1.50",
        "color": "red",
        "tags": ["a"],
        "gap": "PT1M30S",
    }


def test_jsonable_encoder_handles_models_dataclasses_and_generators() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    value = {"user": UserPublic(username="a", display_name="A"), "point": Point(1)}
    assert jsonable_encoder(value) == {
        "user": {"username": "a", "display_name": "A"},
        "point": {"x": 1},
    }
    assert jsonable_encoder(n for n in range(3)) == [0, 1, 2]
    with pytest.raises(TypeError):
        jsonable_encoder(object())


def test_http_exception_is_json_with_its_headers() -> None:
    app = App()

    @app.get("/users/{name}")
    async def user(name: str) -> dict[str, str]:
        raise HTTPException(404, detail="user not found", headers={"x-hint": "none"})

    response = TestClient(app).get("/users/zed")
    assert response.status_code == 404
    assert response.json() == {"detail": "user not found"}
    assert response.headers["x-hint"] == "none"


def test_routing_404_and_405_are_json() -> None:
    app = App()

    @app.get("/only-get")
    async def only_get() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    assert client.get("/missing").json() == {"detail": "Not Found"}
    wrong = client.post("/only-get")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}
    assert "GET" in wrong.headers["allow"]


def test_request_validation_error_handler_can_be_replaced() -> None:
    from ferry.api import JSONResponse, Request, RequestValidationError

    async def terse(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"errors": len(exc.errors())}, status_code=400)

    app = App(exception_handlers={RequestValidationError: terse})

    @app.get("/n")
    async def n(value: int) -> dict[str, int]:
        return {"value": value}

    response = TestClient(app).get("/n?value=x")
    assert (response.status_code, response.json()) == (400, {"errors": 1})


def test_unhandled_exception_is_500_with_no_traceback() -> None:
    app = App()

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals")

    response = TestClient(app, raise_server_exceptions=False).get("/crash")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def test_head_request_to_a_get_route() -> None:
    app = App()

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"a": "b"}

    response = TestClient(app).head("/thing")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(b'{"a":"b"}'))
