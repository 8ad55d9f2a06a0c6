"""Where parameters come from, how they are validated, and the 422 errors they give."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from ferry.api import (
    APIRoute,
    App,
    Body,
    Cookie,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    UploadFile,
)
from ferry.asgi.testing import TestClient


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


def client_for(app: App) -> TestClient:
    return TestClient(app)


def test_path_parameter_is_converted_by_its_annotation() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "type": type(item_id).__name__}

    assert client_for(app).get("/items/42").json() == {"item_id": 42, "type": "int"}


def test_invalid_path_parameter_gets_422_with_its_location() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    response = client_for(app).get("/items/abc")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "item_id"]
    assert error["type"] == "int_parsing"
    assert error["input"] == "abc"


def test_uuid_path_parameter() -> None:
    app = App()

    @app.get("/things/{thing_id}")
    async def read(thing_id: uuid.UUID) -> dict[str, str]:
        return {"version": str(thing_id.version)}

    value = uuid.uuid4()
    assert client_for(app).get(f"/things/{value}").json() == {"version": "4"}


def test_query_parameter_default_and_constraints() -> None:
    app = App()

    @app.get("/users")
    async def list_users(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, int]:
        return {"limit": limit}

    client = client_for(app)
    assert client.get("/users").json() == {"limit": 20}
    assert client.get("/users?limit=5").json() == {"limit": 5}
    response = client.get("/users?limit=0")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "limit"]
    assert error["ctx"] == {"ge": 1}


def test_required_query_parameter_missing_gets_422() -> None:
    app = App()

    @app.get("/search")
    async def search(q: str) -> dict[str, str]:
        return {"q": q}

    response = client_for(app).get("/search")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]
    assert response.json()["detail"][0]["type"] == "missing"


def test_list_query_parameter_takes_every_repeated_key() -> None:
    app = App()

    @app.get("/filter")
    async def filter_items(tag: Annotated[list[str], Query()] = []) -> dict[str, list[str]]:  # noqa: B006
        return {"tag": tag}

    assert client_for(app).get("/filter?tag=a&tag=b").json() == {"tag": ["a", "b"]}


def test_query_alias_and_pattern() -> None:
    app = App()

    @app.get("/find")
    async def find(
        item_query: Annotated[str, Query(alias="item-query", pattern="^[a-z]+$")],
    ) -> dict[str, str]:
        return {"q": item_query}

    client = client_for(app)
    assert client.get("/find?item-query=abc").json() == {"q": "abc"}
    response = client.get("/find?item-query=ABC")
    assert response.json()["detail"][0]["loc"] == ["query", "item-query"]


def test_every_invalid_parameter_is_reported_at_once() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def read(item_id: int, q: int, flag: bool = False) -> dict[str, Any]:
        return {}

    response = client_for(app).get("/items/x?q=y&flag=maybe")
    locations = [error["loc"] for error in response.json()["detail"]]
    assert locations == [["path", "item_id"], ["query", "q"], ["query", "flag"]]


def test_header_parameter_converts_underscores() -> None:
    app = App()

    @app.get("/agent")
    async def agent(
        user_agent: Annotated[str, Header()],
        x_raw_name: Annotated[str | None, Header(convert_underscores=False)] = None,
    ) -> dict[str, Any]:
        return {"agent": user_agent, "raw": x_raw_name}

    client = client_for(app)
    body = client.get("/agent", headers={"User-Agent": "probe", "x_raw_name": "yes"}).json()
    assert body == {"agent": "probe", "raw": "yes"}


def test_list_header_parameter() -> None:
    app = App()

    @app.get("/multi")
    async def multi(x_token: Annotated[list[str], Header()]) -> dict[str, list[str]]:
        return {"tokens": x_token}

    response = client_for(app).get("/multi", headers=[("x-token", "a"), ("x-token", "b")])
    assert response.json() == {"tokens": ["a", "b"]}


def test_cookie_parameter() -> None:
    app = App()

    @app.get("/cookie")
    async def cookie(session_id: Annotated[str | None, Cookie()] = None) -> dict[str, Any]:
        return {"session": session_id}

    client = client_for(app)
    assert client.get("/cookie", headers={"cookie": "session_id=abc"}).json() == {"session": "abc"}
    assert client.get("/cookie").json() == {"session": None}


def test_model_parameter_is_the_json_body() -> None:
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    response = client_for(app).post("/items", json={"name": "pen", "price": 2.5})
    assert response.json() == {"name": "pen", "price": 2.5, "tags": []}


def test_invalid_body_errors_are_located_in_the_body() -> None:
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    response = client_for(app).post("/items", json={"name": "pen", "price": -1})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "price"]


def test_body_that_is_not_json_or_empty_or_not_an_object_gets_422() -> None:
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    client = client_for(app)
    json_headers = {"content-type": "application/json"}
    for content in (b"{nope", b"", b"[1, 2]", b'"text"'):
        response = client.post("/items", content=content, headers=json_headers)
        assert response.status_code == 422, content
        assert response.json()["detail"][0]["loc"][0] == "body"


def test_json_body_sent_as_text_plain_is_refused_with_415() -> None:
    app = App()
    calls: list[Item] = []

    @app.post("/items")
    async def create(item: Item) -> dict[str, str]:
        calls.append(item)
        return {}

    response = client_for(app).post(
        "/items", content=b'{"name": "x", "price": 1}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "detail" in response.json()
    assert calls == []


def test_several_body_parameters_are_keys_of_one_object() -> None:
    app = App()

    @app.post("/order")
    async def order(item: Item, quantity: Annotated[int, Body(gt=0)]) -> dict[str, Any]:
        return {"name": item.name, "quantity": quantity}

    client = client_for(app)
    payload = {"item": {"name": "pen", "price": 1}, "quantity": 3}
    assert client.post("/order", json=payload).json() == {"name": "pen", "quantity": 3}
    response = client.post("/order", json={"item": {"name": "pen", "price": 1}, "quantity": 0})
    assert response.json()["detail"][0]["loc"] == ["body", "quantity"]


def test_embedded_single_body_parameter() -> None:
    app = App()

    @app.post("/wrapped")
    async def wrapped(item: Annotated[Item, Body(embed=True)]) -> dict[str, str]:
        return {"name": item.name}

    response = client_for(app).post("/wrapped", json={"item": {"name": "cup", "price": 3}})
    assert response.json() == {"name": "cup"}


def test_list_of_models_body() -> None:
    app = App()

    @app.post("/bulk")
    async def bulk(items: list[Item]) -> dict[str, int]:
        return {"count": len(items)}

    payload = [{"name": "a", "price": 1}, {"name": "b", "price": 2}]
    assert client_for(app).post("/bulk", json=payload).json() == {"count": 2}


def test_form_fields() -> None:
    app = App()

    @app.post("/login")
    async def login(
        username: Annotated[str, Form()], password: Annotated[str, Form(min_length=8)]
    ) -> dict[str, str]:
        return {"username": username}

    client = client_for(app)
    ok = client.post("/login", data={"username": "ada", "password": "long enough"})
    assert ok.json() == {"username": "ada"}
    short = client.post("/login", data={"username": "ada", "password": "short"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]


def test_uploaded_files() -> None:
    app = App()

    @app.post("/upload")
    async def upload(
        document: Annotated[UploadFile, File()], note: Annotated[str, Form()] = ""
    ) -> dict[str, Any]:
        content = await document.read()
        return {"name": document.filename, "size": len(content), "note": note}

    files = {"document": ("report.txt", b"x" * 1000, "text/plain")}
    response = client_for(app).post("/upload", files=files, data={"note": "hi"})
    assert response.json() == {"name": "report.txt", "size": 1000, "note": "hi"}


def test_files_of_a_form_read_through_the_request_are_closed_after_the_response() -> None:
    app = App()
    uploads: list[UploadFile] = []

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, bool]:
        form = await request.form()
        document = form["document"]
        assert isinstance(document, UploadFile)
        uploads.append(document)
        return {"closed": document.file.closed}

    files = {"document": ("report.txt", b"x" * 10, "text/plain")}
    assert client_for(app).post("/upload", files=files).json() == {"closed": False}
    assert uploads[0].file.closed


def test_request_is_injected_by_annotation() -> None:
    app = App()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"path": request.url.path}

    assert client_for(app).get("/whoami").json() == {"path": "/whoami"}


def test_explicit_path_marker_with_constraints() -> None:
    app = App()

    @app.get("/pages/{number}")
    async def page(number: Annotated[int, Path(ge=1)]) -> dict[str, int]:
        return {"number": number}

    client = client_for(app)
    assert client.get("/pages/3").json() == {"number": 3}
    assert client.get("/pages/0").status_code == 422


def test_sync_endpoint_runs() -> None:
    app = App()

    @app.get("/sync")
    def sync_endpoint(q: int = 1) -> dict[str, int]:
        return {"q": q}

    assert client_for(app).get("/sync?q=7").json() == {"q": 7}


class Filters(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    tag: list[str] = []


class Client(BaseModel):
    user_agent: str
    x_trace: str | None = None


def test_a_model_groups_query_parameters() -> None:
    app = App()

    @app.get("/items")
    async def items(filters: Annotated[Filters, Query()]) -> dict[str, Any]:
        return filters.model_dump()

    client = client_for(app)
    assert client.get("/items?limit=5&tag=a&tag=b").json() == {"limit": 5, "tag": ["a", "b"]}
    assert client.get("/items").json() == {"limit": 20, "tag": []}
    response = client.get("/items?limit=0")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
    names = [
        p["name"]
        for p in client.get("/openapi.json").json()["paths"]["/items"]["get"]["parameters"]
    ]
    assert names == ["limit", "tag"]


def test_a_model_groups_header_parameters() -> None:
    app = App()

    @app.get("/client")
    async def who(client: Annotated[Client, Header()]) -> dict[str, Any]:
        return client.model_dump()

    response = client_for(app).get("/client", headers={"user-agent": "probe", "x-trace": "t1"})
    assert response.json() == {"user_agent": "probe", "x_trace": "t1"}


class SignUp(BaseModel):
    username: str = Field(min_length=3)
    interests: list[str] = []


def test_a_model_groups_form_fields() -> None:
    app = App()

    @app.post("/signup")
    async def signup(form: Annotated[SignUp, Form()]) -> dict[str, Any]:
        return form.model_dump()

    client = client_for(app)
    body = client.post("/signup", data={"username": "ada", "interests": ["math", "looms"]}).json()
    assert body == {"username": "ada", "interests": ["math", "looms"]}
    response = client.post("/signup", data={"username": "a"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "username"]


def test_parameters_of_several_sources_are_validated_together_errors_per_source() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def read(
        item_id: int, q: int, x_token: Annotated[str, Header()], flag: bool = False
    ) -> dict[str, Any]:
        return {"item_id": item_id, "q": q, "x_token": x_token, "flag": flag}

    [route] = [r for r in app.routes if isinstance(r, APIRoute)]
    assert route.plan.combined is not None
    client = client_for(app)
    ok = client.get("/items/3?q=4&flag=yes", headers={"x-token": "t"})
    assert ok.json() == {"item_id": 3, "q": 4, "x_token": "t", "flag": True}
    # Each error's input is what its own source held, not the parameters of every source.
    response = client.get("/items/3?flag=maybe", headers={"x-token": "t"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "missing",
            "loc": ["query", "q"],
            "msg": "Field required",
            "input": {"flag": "maybe"},
        },
        {
            "type": "bool_parsing",
            "loc": ["query", "flag"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "input": "maybe",
        },
    ]


def test_a_query_parameter_named_as_a_path_parameter_is_validated_per_source() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def read(item_id: int, other: Annotated[str, Query(alias="item_id")]) -> dict[str, Any]:
        return {"item_id": item_id, "other": other}

    [route] = [r for r in app.routes if isinstance(r, APIRoute)]
    assert route.plan.combined is None
    assert client_for(app).get("/items/3?item_id=x").json() == {"item_id": 3, "other": "x"}
