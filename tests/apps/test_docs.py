"""The OpenAPI document at /openapi.json and the /docs page, which must work offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from ferry.asgi.testing import TestClient
from users_api.main import create_app
from users_api.settings import Settings

OPERATIONS = {
    ("/users", "post"),
    ("/users", "get"),
    ("/users/me", "get"),
    ("/users/me", "patch"),
    ("/users/me", "delete"),
    ("/users/{username}", "get"),
    ("/auth/token", "post"),
    ("/auth/logout", "post"),
    ("/healthz", "get"),
}
BEARER_OPERATIONS = {
    ("/users/me", "get"),
    ("/users/me", "patch"),
    ("/users/me", "delete"),
    ("/auth/logout", "post"),
}


@pytest.fixture
def docs_client(tmp_path: Path) -> TestClient:
    # Documents need no database: no lifespan, so nothing connects.
    return TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/docs.db")))


def test_the_openapi_document_is_valid_and_lists_every_operation(
    docs_client: TestClient,
) -> None:
    document = docs_client.get("/openapi.json").json()
    validate(document)
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations == OPERATIONS


def test_the_openapi_document_declares_the_bearer_scheme_on_protected_operations(
    docs_client: TestClient,
) -> None:
    document = docs_client.get("/openapi.json").json()
    [(name, scheme)] = document["components"]["securitySchemes"].items()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
    for path, method in OPERATIONS:
        security = document["paths"][path][method].get("security")
        if (path, method) in BEARER_OPERATIONS:
            assert security == [{name: []}]
            assert "401" in document["paths"][path][method]["responses"]
        else:
            assert security is None


def test_the_openapi_document_describes_the_models_without_secrets(
    docs_client: TestClient,
) -> None:
    document = docs_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert set(schemas["UserPublic"]["properties"]) == {"username", "display_name", "created_at"}
    assert set(schemas["UserPage"]["properties"]) == {"items", "total", "limit", "offset"}
    assert set(schemas["Token"]["properties"]) == {"access_token", "token_type", "expires_in"}
    assert schemas["UserCreate"]["properties"]["username"]["pattern"] == "^[a-z][a-z0-9_]{2,31}$"
    register = document["paths"]["/users"]["post"]
    assert set(register["responses"]) == {"201", "409", "422"}
    login = document["paths"]["/auth/token"]["post"]
    assert set(login["responses"]) == {"200", "401", "422", "429"}
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]


def test_the_docs_page_loads_swagger_ui_from_the_app_itself(docs_client: TestClient) -> None:
    page = docs_client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assert "cdn.jsdelivr.net" not in page.text
    script = docs_client.get("/docs-static/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    stylesheet = docs_client.get("/docs-static/swagger-ui.css")
    assert stylesheet.status_code == 200
    assert "text/css" in stylesheet.headers["content-type"]
    assert '"/docs-static/swagger-ui-bundle.js"' in page.text
    assert '"/docs-static/swagger-ui.css"' in page.text


def test_the_docs_page_falls_back_to_the_cdn_without_the_bundle_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", None)  # import now fails
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/docs.db"))
    page = TestClient(app).get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr.net" in page.text
    assert TestClient(app).get("/docs-static/swagger-ui.css").status_code == 404
