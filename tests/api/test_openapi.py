"""The OpenAPI 3.1 document: built from the routes' plans, valid, and true to the app."""

from typing import Annotated, Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from ferry.api import (
    APIRouter,
    App,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    HTMLResponse,
    Path,
    Query,
    Request,
    Security,
    UploadFile,
)
from ferry.asgi.routing import Mount
from ferry.asgi.testing import TestClient


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)


class Message(BaseModel):
    detail: str


def operation(app: App, path: str, method: str = "get") -> dict[str, Any]:
    found: dict[str, Any] = app.openapi()["paths"][path][method]
    return found


def parameter(app: App, path: str, name: str, method: str = "get") -> dict[str, Any]:
    params = operation(app, path, method)["parameters"]
    (found,) = [p for p in params if p["name"] == name]
    result: dict[str, Any] = found
    return result


def component_validator(app: App, name: str) -> jsonschema.Draft202012Validator:
    # A component schema, with the document's components beside it so its $refs resolve.
    document = app.openapi()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def full_app() -> App:
    app = App(title="Shop", version="2.0.0", description="Things to buy.")

    def pagination(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> int:
        return limit

    @app.get("/items/{item_id:int}", tags=["items"], responses={404: {"model": Message}})
    async def read_item(
        item_id: int,
        limit: Annotated[int, Depends(pagination)],
        q: Annotated[str | None, Query(max_length=10)] = None,
        user_agent: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> Item:
        return Item(name="pen", price=1.5)

    @app.post("/items", status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.put("/items/{item_id}")
    async def replace_item(item_id: int, item: Item, note: Annotated[str, Body()]) -> Item:
        return item

    @app.post("/uploads")
    async def upload(
        title: Annotated[str, Form()], document: Annotated[UploadFile, File()]
    ) -> dict[str, str]:
        return {"title": title}

    @app.delete("/items/{item_id}", status_code=204)
    async def delete_item(item_id: int) -> None:
        return None

    return app


# --- the document as a whole ---


def test_document_validates_as_openapi_3_1() -> None:
    document = full_app().openapi()

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_info_has_the_apps_title_version_and_description() -> None:
    assert full_app().openapi()["info"] == {
        "title": "Shop",
        "version": "2.0.0",
        "description": "Things to buy.",
    }


def test_servers_and_tags_come_from_the_app() -> None:
    servers = [{"url": "https://api.example.org"}]
    tags = [{"name": "items", "description": "What we sell."}]
    app = App(servers=servers, openapi_tags=tags)

    document = app.openapi()

    assert document["servers"] == servers
    assert document["tags"] == tags


def test_document_is_built_once() -> None:
    app = full_app()

    assert app.openapi() is app.openapi()


def test_openapi_json_is_served() -> None:
    app = full_app()

    response = TestClient(app).get("/openapi.json")

    assert response.status_code == 200
    assert response.json() == app.openapi()


# --- parameters ---


def test_path_parameter_is_required_with_its_type() -> None:
    assert parameter(full_app(), "/items/{item_id}", "item_id") == {
        "name": "item_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "title": "Item Id"},
    }


def test_path_convertor_is_left_out_of_the_path_template() -> None:
    paths = full_app().openapi()["paths"]

    assert "/items/{item_id}" in paths
    assert "/items/{item_id:int}" not in paths


def test_optional_query_parameter_is_not_required_and_has_its_default() -> None:
    found = parameter(full_app(), "/items/{item_id}", "q")

    assert found["in"] == "query"
    assert found["required"] is False
    assert found["schema"]["default"] is None


def test_header_parameter_uses_its_header_name() -> None:
    found = parameter(full_app(), "/items/{item_id}", "user-agent")

    assert (found["in"], found["required"]) == ("header", False)


def test_cookie_parameter_is_in_cookie() -> None:
    assert parameter(full_app(), "/items/{item_id}", "session")["in"] == "cookie"


def test_parameter_constraints_appear_in_its_schema() -> None:
    app = App()

    @app.get("/search")
    async def search(
        term: Annotated[str, Query(min_length=2, max_length=20, pattern="^[a-z]+$")],
        page: Annotated[int, Query(ge=1, le=50)] = 1,
        size: Annotated[int, Field(gt=0, lt=10)] = 5,
    ) -> list[str]:
        return []

    assert parameter(app, "/search", "term")["schema"] == {
        "type": "string",
        "minLength": 2,
        "maxLength": 20,
        "pattern": "^[a-z]+$",
        "title": "Term",
    }
    assert parameter(app, "/search", "page")["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 50,
        "title": "Page",
        "default": 1,
    }
    size = parameter(app, "/search", "size")["schema"]
    assert (size["exclusiveMinimum"], size["exclusiveMaximum"]) == (0, 10)


def test_parameter_alias_description_and_deprecation_appear() -> None:
    app = App()

    @app.get("/search")
    async def search(
        term: Annotated[
            str, Query(alias="q", description="What to look for.", deprecated=True)
        ] = "",
    ) -> list[str]:
        return []

    found = parameter(app, "/search", "q")
    assert found["description"] == "What to look for."
    assert found["deprecated"] is True


def test_parameter_examples_and_schema_extra_appear_in_its_schema() -> None:
    app = App()

    @app.get("/search")
    async def search(
        term: Annotated[str, Query(examples=["pen"], json_schema_extra={"x-order": 1})] = "",
    ) -> list[str]:
        return []

    schema = parameter(app, "/search", "term")["schema"]
    assert (schema["examples"], schema["x-order"]) == (["pen"], 1)


def test_dependency_parameters_are_listed_once() -> None:
    app = App()

    def token(x_token: Annotated[str, Header()]) -> str:
        return x_token

    def user(t: Annotated[str, Depends(token)]) -> str:
        return t

    @app.get("/me")
    async def me(u: Annotated[str, Depends(user)], t: Annotated[str, Depends(token)]) -> str:
        return u

    params = operation(app, "/me")["parameters"]
    assert [(p["in"], p["name"], p["required"]) for p in params] == [("header", "x-token", True)]


def test_parameters_are_ordered_path_query_header_cookie() -> None:
    params = operation(full_app(), "/items/{item_id}")["parameters"]

    assert [p["in"] for p in params] == ["path", "query", "query", "header", "cookie"]


def test_parameter_with_include_in_schema_false_is_not_listed() -> None:
    app = App()

    @app.get("/search")
    async def search(debug: Annotated[bool, Query(include_in_schema=False)] = False) -> str:
        return ""

    assert "parameters" not in operation(app, "/search")


def test_path_parameter_of_a_mount_is_listed() -> None:
    sub = App()

    @sub.get("/users")
    async def list_users() -> list[str]:
        return []

    app = App(routes=[Mount("/tenants/{tenant}", app=sub)])

    document = app.openapi()

    validate(document)
    assert document["paths"]["/tenants/{tenant}/users"]["get"]["parameters"] == [
        {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


# --- request bodies ---


def test_json_body_refers_to_its_model() -> None:
    app = full_app()

    body = operation(app, "/items", "post")["requestBody"]

    assert body == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
        "required": True,
    }
    assert app.openapi()["components"]["schemas"]["Item"]["properties"]["price"] == {
        "exclusiveMinimum": 0,
        "title": "Price",
        "type": "number",
    }


def test_optional_body_is_not_required() -> None:
    app = App()

    @app.post("/items")
    async def create(item: Item | None = None) -> None:
        return None

    assert "required" not in operation(app, "/items", "post")["requestBody"]


def test_several_body_parameters_make_an_object_of_their_keys() -> None:
    app = full_app()

    body = operation(app, "/items/{item_id}", "put")["requestBody"]
    name = "Body_replace_item_items__item_id__put"
    schema = app.openapi()["components"]["schemas"][name]

    assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    assert schema["properties"]["item"]["$ref"] == "#/components/schemas/Item"
    assert schema["properties"]["note"]["type"] == "string"
    assert schema["required"] == ["item", "note"]


def test_embedded_body_key_keeps_its_description_and_hidden_keys_are_left_out() -> None:
    app = App()

    @app.post("/notes")
    async def create(
        text: Annotated[str, Body(embed=True, description="The note.")],
        trace: Annotated[str | None, Body(include_in_schema=False)] = None,
    ) -> str:
        return text

    schema = app.openapi()["components"]["schemas"]["Body_create_notes_post"]
    assert schema["properties"] == {
        "text": {"type": "string", "title": "Text", "description": "The note."}
    }


def test_form_body_is_urlencoded() -> None:
    app = App()

    @app.post("/login")
    async def login(
        username: Annotated[str, Form()], password: Annotated[str, Form(min_length=8)]
    ) -> str:
        return username

    document = app.openapi()
    content = operation(app, "/login", "post")["requestBody"]["content"]
    schema = document["components"]["schemas"]["Body_login_login_post"]

    assert list(content) == ["application/x-www-form-urlencoded"]
    assert schema["properties"]["password"]["minLength"] == 8


def test_file_upload_body_is_multipart_with_binary_fields() -> None:
    app = full_app()

    content = operation(app, "/uploads", "post")["requestBody"]["content"]
    schema = app.openapi()["components"]["schemas"]["Body_upload_uploads_post"]

    assert list(content) == ["multipart/form-data"]
    assert schema["properties"]["document"] == {
        "type": "string",
        "format": "binary",
        "title": "Document",
    }
    assert schema["properties"]["title"]["type"] == "string"


# --- responses ---


def test_response_model_is_referenced_under_the_route_status() -> None:
    responses = operation(full_app(), "/items", "post")["responses"]

    assert responses["201"] == {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
    }
    assert "200" not in responses


def test_route_without_a_response_model_has_an_empty_schema() -> None:
    app = App()

    @app.get("/ping", response_model=None, response_description="Pong.")
    async def ping() -> Any:
        return "pong"

    assert operation(app, "/ping")["responses"]["200"] == {
        "description": "Pong.",
        "content": {"application/json": {"schema": {}}},
    }


def test_204_response_has_no_content() -> None:
    responses = operation(full_app(), "/items/{item_id}", "delete")["responses"]

    assert responses["204"] == {"description": "Successful Response"}


def test_text_response_class_documents_a_string_of_its_media_type() -> None:
    app = App()

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    assert operation(app, "/page")["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }


def test_responses_argument_adds_entries_with_their_model() -> None:
    responses = operation(full_app(), "/items/{item_id}")["responses"]

    assert responses["404"] == {
        "description": "Not Found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
    }


def test_responses_argument_merges_into_the_success_response() -> None:
    app = App()

    @app.get(
        "/logo",
        responses={200: {"content": {"image/png": {}}}, "default": {"description": "Oops."}},
    )
    async def logo() -> Item:
        return Item(name="logo", price=1)

    responses = operation(app, "/logo")["responses"]

    assert set(responses["200"]["content"]) == {"application/json", "image/png"}
    assert responses["default"] == {"description": "Oops."}


def test_responses_argument_describes_unnamed_statuses_generically() -> None:
    app = App()

    @app.get("/odd", responses={299: {}, "5XX": {"description": "Server trouble."}})
    async def odd() -> str:
        return ""

    responses = operation(app, "/odd")["responses"]
    assert responses["299"] == {"description": "Additional Response"}
    assert responses["5XX"] == {"description": "Server trouble."}


# --- validation errors ---


def test_route_with_inputs_documents_422_with_the_error_components() -> None:
    app = full_app()

    document = app.openapi()

    assert operation(app, "/items", "post")["responses"]["422"] == {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }
    assert {"ValidationError", "HTTPValidationError"} <= set(document["components"]["schemas"])


def test_route_without_inputs_documents_no_422() -> None:
    app = App()

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    assert set(operation(app, "/ping")["responses"]) == {"200"}
    assert "components" not in app.openapi()


def test_real_422_body_fits_the_documented_schema() -> None:
    app = App()

    @app.post("/items/{item_id}")
    async def update(
        item_id: int, item: Item, limit: Annotated[int, Field(ge=1)] = 10
    ) -> dict[str, int]:
        return {"item_id": item_id}

    response = TestClient(app).post(
        "/items/nope?limit=0", json={"name": "pen", "price": -1, "extra": [1]}
    )

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert {tuple(error["loc"]) for error in errors} == {
        ("path", "item_id"),
        ("query", "limit"),
        ("body", "price"),
    }
    assert any("ctx" in error for error in errors)
    component_validator(app, "HTTPValidationError").validate(response.json())


def test_a_body_unlike_the_422_shape_does_not_fit_the_schema() -> None:
    app = full_app()

    validator = component_validator(app, "HTTPValidationError")

    assert not validator.is_valid({"detail": [{"loc": [1.5], "msg": "x", "type": "t"}]})


# --- operations ---


def test_operation_ids_are_unique_for_same_named_functions_in_routers() -> None:
    app = App()
    for prefix in ("/users", "/teams", "/projects"):
        router = APIRouter(prefix=prefix)

        @router.get("")
        async def listing() -> list[str]:
            return []

        @router.get("/{key}")
        async def detail(key: str) -> str:
            return key

        @router.post("/{key}")
        async def detail_post(key: str) -> str:
            return key

        app.include_router(router)

    document = app.openapi()
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]

    validate(document)
    assert len(ids) == 9
    assert len(set(ids)) == 9
    assert "listing_users_get" in ids
    assert "detail_teams__key__get" in ids


def test_explicit_operation_id_is_used_and_a_repeat_gets_a_suffix() -> None:
    app = App()

    @app.get("/a", operation_id="fetch")
    async def a() -> str:
        return "a"

    @app.get("/b", operation_id="fetch")
    async def b() -> str:
        return "b"

    assert operation(app, "/a")["operationId"] == "fetch"
    assert operation(app, "/b")["operationId"] == "fetch_2"


def test_summary_is_the_title_cased_name_and_description_the_docstring() -> None:
    app = App()

    @app.get("/users")
    async def list_all_users() -> list[str]:
        """List the users.

        Newest first.\f
        Internal notes the docs leave out.
        """
        return []

    found = operation(app, "/users")
    assert found["summary"] == "List All Users"
    assert found["description"] == "List the users.\n\nNewest first."


def test_explicit_summary_description_and_tags_are_used() -> None:
    app = App()
    router = APIRouter(prefix="/users", tags=["users"])

    @router.get("", summary="All users", description="Every user.", tags=["people"])
    async def list_users() -> list[str]:
        """Not this."""
        return []

    app.include_router(router, tags=["v1"])

    found = operation(app, "/users")
    assert (found["summary"], found["description"]) == ("All users", "Every user.")
    assert found["tags"] == ["v1", "users", "people"]


def test_deprecated_route_is_marked() -> None:
    app = App()

    @app.get("/old", deprecated=True)
    async def old() -> str:
        return "old"

    @app.get("/new")
    async def new() -> str:
        return "new"

    assert operation(app, "/old")["deprecated"] is True
    assert "deprecated" not in operation(app, "/new")


def test_include_in_schema_false_hides_the_route() -> None:
    app = App()

    @app.get("/internal", include_in_schema=False)
    async def internal() -> str:
        return "hidden"

    @app.get("/public")
    async def public() -> str:
        return "shown"

    assert list(app.openapi()["paths"]) == ["/public"]


def test_head_is_not_an_operation_beside_get() -> None:
    app = App()

    @app.api_route("/status", methods=["GET", "HEAD", "POST"])
    async def status() -> str:
        return "ok"

    assert list(app.openapi()["paths"]["/status"]) == ["get", "post"]


def test_toolkit_routes_and_the_docs_routes_are_not_documented() -> None:
    app = App()

    async def plain(request: Request) -> Any:
        return None

    app.add_route("/plain", plain)

    assert app.openapi()["paths"] == {}


# --- security ---


class FakeBearer:
    """A security dependency with the two attributes build_openapi reads."""

    def __init__(self, scheme_name: str) -> None:
        self.model = {"type": "http", "scheme": "bearer"}
        self.scheme_name = scheme_name

    async def __call__(self, request: Request) -> str:
        return request.headers.get("authorization", "")


def test_security_dependency_adds_its_scheme_and_requirement() -> None:
    app = App()
    bearer = FakeBearer("BearerAuth")

    @app.get("/me")
    async def me(token: Annotated[str, Depends(bearer)]) -> str:
        return token

    @app.get("/public")
    async def public() -> str:
        return ""

    document = app.openapi()

    validate(document)
    assert document["components"]["securitySchemes"] == {
        "BearerAuth": {"type": "http", "scheme": "bearer"}
    }
    assert operation(app, "/me")["security"] == [{"BearerAuth": []}]
    assert "security" not in operation(app, "/public")


def test_security_requirement_carries_the_scopes_of_every_use() -> None:
    app = App()
    oauth = FakeBearer("OAuth")

    def reader(token: Annotated[str, Security(oauth, scopes=["items:read"])]) -> str:
        return token

    @app.post("/items")
    async def create(
        token: Annotated[str, Security(oauth, scopes=["items:write"])],
        read: Annotated[str, Depends(reader)],
    ) -> str:
        return token

    assert operation(app, "/items", "post")["security"] == [
        {"OAuth": ["items:write", "items:read"]}
    ]


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_docs_routes_are_not_in_the_paths(path: str) -> None:
    assert path not in full_app().openapi()["paths"]


def test_path_parameter_declared_with_path_marker_keeps_constraints() -> None:
    app = App()

    @app.get("/pages/{number}")
    async def page(number: Annotated[int, Path(ge=1, description="From one.")]) -> int:
        return number

    found = parameter(app, "/pages/{number}", "number")
    assert found["description"] == "From one."
    assert found["schema"]["minimum"] == 1
