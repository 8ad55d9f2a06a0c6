"""The demo API's /docs page, rendered by headless Chromium: every operation is listed, offline.

Swagger UI builds the page in the browser from /openapi.json, so only a browser shows whether
it really renders. The page is loaded once; Chromium prints the DOM after the page's scripts
have run (`--dump-dom`, with a virtual-time budget so the fetch of the document completes).
Each operation's summary row holds an `opblock-summary-method` element whose text is the
method ("GET"), then an element whose `data-path` attribute is the path as written in the
document; both hold for deprecated operations too, whose outer `opblock` loses the method.

The machine has no route to the internet, and a docs page must work offline anyway, so the
page's scripts, stylesheets and images must all come from the app's own origin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from ferry.server.testing import run_in_thread
from users_api.main import create_app

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT_S = 900.0
RENDER_TIMEOUT_S = 120.0
# The methods an OpenAPI path item may hold (OpenAPI 3.1, section 4.8.9).
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True, slots=True)
class RenderedDocs:
    base_url: str
    openapi: dict[str, Any]
    dom: str


class DocsPageParser(HTMLParser):
    """Collects the operations Swagger UI rendered and every URL the page loads a resource from."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[tuple[str, str]] = []
        self.resource_urls: list[str] = []
        self.text: list[str] = []
        self._method: str | None = None
        self._reading_method = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "opblock-summary-method" in attributes.get("class", "").split():
            self._reading_method = True
        if "data-path" in attributes and self._method is not None:
            self.operations.append((self._method, attributes["data-path"]))
            self._method = None
        # What the browser fetches by itself: scripts, images, frames and linked stylesheets
        # or icons (an <a href> is only fetched when followed).
        if "src" in attributes:
            self.resource_urls.append(attributes["src"])
        if tag == "link" and "href" in attributes:
            self.resource_urls.append(attributes["href"])
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._reading_method:
            self._method = data.strip().lower()
            self._reading_method = False
        # What a reader would see, for failure messages ("Unable to render this definition").
        if not self._in_script and data.strip():
            self.text.append(data.strip())


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.skip(f"{CHROMIUM} is missing; installing it with apt-get needs root")
        if shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is missing and there is no apt-get to install it")
        _install_chromium()
    return str(CHROMIUM)


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed:\n{result.stdout[-4000:]}\n{result.stderr}")
    assert CHROMIUM.exists(), f"apt-get installed chromium but {CHROMIUM} is still missing"


@pytest.fixture(scope="module")
def rendered_docs(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RenderedDocs]:
    tmp_path = tmp_path_factory.mktemp("docs-browser")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("USERS_DATABASE_URL", f"sqlite:///{tmp_path}/users.db")
        with run_in_thread(create_app()) as base_url:
            openapi_response = httpx.get(f"{base_url}/openapi.json", timeout=10)
            assert openapi_response.status_code == 200
            dom = _render(chromium, f"{base_url}/docs", tmp_path / "chromium-profile")
            yield RenderedDocs(base_url=base_url, openapi=openapi_response.json(), dom=dom)


def _render(chromium: str, url: str, profile_dir: Path) -> str:
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",  # as root in a container there is no user namespace to sandbox in
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not render {url} within {RENDER_TIMEOUT_S:.0f} s: {exc}")
    if result.returncode != 0 or "<html" not in result.stdout:
        output = result.stderr[-4000:]
        pytest.fail(f"chromium failed on {url} (exit {result.returncode}):\n{output}")
    return result.stdout


def _parse(dom: str) -> DocsPageParser:
    parser = DocsPageParser()
    parser.feed(dom)
    parser.close()
    return parser


def test_docs_page_loads_every_asset_from_the_app(rendered_docs: RenderedDocs) -> None:
    page_url = f"{rendered_docs.base_url}/docs"
    origin = urlsplit(rendered_docs.base_url)
    urls = [urljoin(page_url, url) for url in _parse(rendered_docs.dom).resource_urls]
    assert urls, "the page loads no script or stylesheet at all"
    fetched = [url for url in urls if not url.startswith("data:")]
    foreign = [
        url
        for url in fetched
        if (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]
    assert foreign == [], "the docs page fetches from outside the app"
    for url in fetched:
        assert httpx.get(url, timeout=10).status_code == 200, url


def test_docs_page_lists_every_operation(rendered_docs: RenderedDocs) -> None:
    expected = {
        (method, path)
        for path, path_item in rendered_docs.openapi["paths"].items()
        for method in HTTP_METHODS
        if method in path_item
    }
    assert expected, "the OpenAPI document has no operations"
    page = _parse(rendered_docs.dom)
    rendered = page.operations
    assert len(rendered) == len(set(rendered)), "an operation is listed twice"
    page_text = " ".join(page.text)[:1000]
    assert set(rendered) == expected, f"the page reads: {page_text}"
