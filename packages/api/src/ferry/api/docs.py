"""The interactive docs pages: Swagger UI at /docs and ReDoc at /redoc.

Each page is a small HTML shell that loads the viewer's script (and stylesheet) and points
it at the app's OpenAPI document. The assets come from the jsDelivr CDN unless the app
passes its own URLs (to serve them locally, or offline). Every value put into the page is
escaped for where it goes: HTML text and attributes with `html.escape`, script values as
JSON with `<`, `>` and `&` escaped so no string can close the `<script>` element.
"""

from __future__ import annotations

import html
import json

SWAGGER_UI_JS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_UI_CSS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS_URL = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"


def swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    js_url: str | None = None,
    css_url: str | None = None,
) -> str:
    """The Swagger UI page for the document at `openapi_url`.

    Example:
        >>> "/openapi.json" in swagger_ui_html(openapi_url="/openapi.json", title="Users")
        True
    """
    js = html.escape(js_url or SWAGGER_UI_JS_URL)
    css = html.escape(css_url or SWAGGER_UI_CSS_URL)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {_script_value(openapi_url)},
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true,
  persistAuthorization: true,
}});
</script>
</body>
</html>
"""


def redoc_html(*, openapi_url: str, title: str, js_url: str | None = None) -> str:
    """The ReDoc page for the document at `openapi_url`.

    Example:
        >>> "/openapi.json" in redoc_html(openapi_url="/openapi.json", title="Users")
        True
    """
    js = html.escape(js_url or REDOC_JS_URL)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{html.escape(openapi_url)}"></redoc>
<script src="{js}"></script>
</body>
</html>
"""


def _script_value(value: str) -> str:
    # JSON is a JavaScript literal; escaping <, > and & keeps "</script>" (and "<!--")
    # inside a string from ending the script element (HTML, section 4.12.1.3).
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
