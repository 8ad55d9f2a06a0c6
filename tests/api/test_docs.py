"""The /docs (Swagger UI) and /redoc pages, and turning them off."""

import pytest

from ferry.api import App
from ferry.api.docs import (
    REDOC_JS_URL,
    SWAGGER_UI_CSS_URL,
    SWAGGER_UI_JS_URL,
    redoc_html,
    swagger_ui_html,
)
from ferry.asgi.testing import TestClient


def test_docs_page_is_html_that_loads_the_openapi_url() -> None:
    response = TestClient(App(title="Shop")).get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'url: "/openapi.json"' in response.text
    assert "<title>Shop - Swagger UI</title>" in response.text


def test_docs_page_loads_swagger_ui_from_the_cdn_by_default() -> None:
    page = TestClient(App()).get("/docs").text

    assert f'<script src="{SWAGGER_UI_JS_URL}"></script>' in page
    assert f'<link rel="stylesheet" href="{SWAGGER_UI_CSS_URL}">' in page
    assert "cdn.jsdelivr.net/npm/swagger-ui-dist@5/" in SWAGGER_UI_JS_URL


def test_docs_page_loads_the_apps_own_assets() -> None:
    app = App(swagger_js_url="/static/swagger.js", swagger_css_url="/static/swagger.css")

    page = TestClient(app).get("/docs").text

    assert '<script src="/static/swagger.js"></script>' in page
    assert '<link rel="stylesheet" href="/static/swagger.css">' in page
    assert "cdn.jsdelivr.net" not in page


def test_redoc_page_is_html_that_loads_the_openapi_url() -> None:
    response = TestClient(App(title="Shop")).get("/redoc")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<redoc spec-url="/openapi.json"></redoc>' in response.text
    assert "<title>Shop - ReDoc</title>" in response.text


def test_redoc_page_loads_redoc_from_the_cdn_by_default() -> None:
    page = TestClient(App()).get("/redoc").text

    assert f'<script src="{REDOC_JS_URL}"></script>' in page
    assert "cdn.jsdelivr.net/npm/redoc@2/" in REDOC_JS_URL


def test_redoc_page_loads_the_apps_own_script() -> None:
    page = TestClient(App(redoc_js_url="/static/redoc.js")).get("/redoc").text

    assert '<script src="/static/redoc.js"></script>' in page
    assert "cdn.jsdelivr.net" not in page


def test_pages_follow_a_custom_openapi_url() -> None:
    client = TestClient(App(openapi_url="/api/schema.json"))

    assert client.get("/api/schema.json").status_code == 200
    assert 'url: "/api/schema.json"' in client.get("/docs").text
    assert 'spec-url="/api/schema.json"' in client.get("/redoc").text


def test_pages_prefix_the_openapi_url_with_the_root_path() -> None:
    client = TestClient(App(), root_path="/shop")

    assert 'url: "/shop/openapi.json"' in client.get("/docs").text
    assert 'spec-url="/shop/openapi.json"' in client.get("/redoc").text


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_no_openapi_url_serves_no_document_and_no_pages(path: str) -> None:
    assert TestClient(App(openapi_url=None)).get(path).status_code == 404


def test_docs_url_none_serves_redoc_only() -> None:
    client = TestClient(App(docs_url=None))

    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 200


def test_redoc_url_none_serves_swagger_ui_only() -> None:
    client = TestClient(App(redoc_url=None))

    assert client.get("/redoc").status_code == 404
    assert client.get("/docs").status_code == 200


def test_swagger_ui_page_escapes_the_title_and_urls() -> None:
    page = swagger_ui_html(
        openapi_url='/x"</script><script>alert(1)</script>',
        title="<b>Shop</b>",
        js_url='/a.js"><script>',
        css_url="/a.css?x=1&y=2",
    )

    assert "<b>" not in page
    assert "&lt;b&gt;Shop&lt;/b&gt;" in page
    assert "alert(1)</script>" not in page
    assert r'url: "/x\"\u003c/script\u003e\u003cscript\u003ealert(1)' in page
    assert 'src="/a.js&quot;&gt;&lt;script&gt;"' in page
    assert 'href="/a.css?x=1&amp;y=2"' in page


def test_redoc_page_escapes_the_title_and_urls() -> None:
    page = redoc_html(openapi_url='/x"><script>', title="<i>", js_url='/r.js"')

    assert "<i>" not in page
    assert 'spec-url="/x&quot;&gt;&lt;script&gt;"' in page
    assert 'src="/r.js&quot;"' in page
