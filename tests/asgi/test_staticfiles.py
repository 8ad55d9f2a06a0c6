"""StaticFiles: serving a directory, html mode, packages, and refusing every way out of it."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry.asgi.staticfiles import StaticFiles
from ferry.asgi.testing import TestClient
from ferry.asgi.types import Message

SECRET = b"TOP-SECRET"


def make_site(root: Path) -> Path:
    """root/static (served), and beside it secrets that must never be served."""
    static = root / "static"
    (static / "sub").mkdir(parents=True)
    (static / "hello.txt").write_bytes(b"hello, world")
    (static / "sub" / "page.txt").write_bytes(b"a page")
    (static / "sub" / "index.html").write_bytes(b"<h1>sub</h1>")
    (static / "index.html").write_bytes(b"<h1>home</h1>")
    (static / "plain").mkdir()
    (root / "secret.txt").write_bytes(SECRET)
    (root / "static-secret").mkdir()
    (root / "static-secret" / "key.pem").write_bytes(SECRET)
    # A sibling whose name starts with the served directory's name: "static-secret"
    # starts with "static", so only a segment-wise comparison keeps it out.
    (static / "link_out").symlink_to(root / "static-secret", target_is_directory=True)
    (static / "link_in.txt").symlink_to(static / "hello.txt")
    return static


@pytest.fixture
def static(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest.fixture(scope="module")
def shared_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("site"))


def messages_from(app: StaticFiles, path: str, root_path: str = "") -> list[Message]:
    """Call `app` with a scope whose `path` is exactly `path` (what a server could send)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent


def call(app: StaticFiles, path: str, root_path: str = "") -> tuple[int, bytes]:
    sent = messages_from(app, path, root_path)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


# Serving


def test_a_file_under_the_directory_is_served(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).get("/hello.txt")
    assert response.status_code == 200
    assert response.content == b"hello, world"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "12"


def test_a_file_in_a_subdirectory_is_served(static: Path) -> None:
    assert TestClient(StaticFiles(directory=static)).get("/sub/page.txt").content == b"a page"


def test_a_missing_file_gets_404(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).get("/nothing.txt")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_a_directory_without_html_mode_gets_404(static: Path) -> None:
    assert TestClient(StaticFiles(directory=static)).get("/sub/").status_code == 404


def test_post_gets_405_naming_the_allowed_methods(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).post("/hello.txt")
    assert response.status_code == 405
    assert response.text == "Method Not Allowed"
    assert response.headers["allow"] == "GET, HEAD"


def test_head_gets_the_headers_without_a_body(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).head("/hello.txt")
    assert response.status_code == 200
    assert response.headers["content-length"] == "12"
    assert response.content == b""


def test_a_matching_if_none_match_gets_304(static: Path) -> None:
    client = TestClient(StaticFiles(directory=static))
    etag = client.get("/hello.txt").headers["etag"]
    response = client.get("/hello.txt", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_a_range_gets_206(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).get(
        "/hello.txt", headers={"range": "bytes=7-"}
    )
    assert response.status_code == 206
    assert response.content == b"world"


def test_the_path_below_root_path_is_looked_up(static: Path) -> None:
    client = TestClient(StaticFiles(directory=static), root_path="/static")
    assert client.get("/sub/page.txt").content == b"a page"


def test_a_path_that_only_shares_root_paths_prefix_is_not_stripped(static: Path) -> None:
    status, _ = call(StaticFiles(directory=static), "/staticsub/page.txt", root_path="/static")
    assert status == 404


def test_directories_are_searched_in_order(static: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "hello.txt").write_bytes(b"shadowed")
    (other / "only-here.txt").write_bytes(b"found")
    app = StaticFiles(directory=static)
    app.all_directories.append(other)
    client = TestClient(app)
    assert client.get("/hello.txt").content == b"hello, world"
    assert client.get("/only-here.txt").content == b"found"


def test_a_websocket_scope_is_refused(static: Path) -> None:
    app = StaticFiles(directory=static)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing should be sent")

    with pytest.raises(RuntimeError, match="'http' scopes only"):
        anyio.run(app, {"type": "websocket", "path": "/"}, receive, send)


# html mode


def test_html_mode_serves_index_html_for_a_directory(static: Path) -> None:
    client = TestClient(StaticFiles(directory=static, html=True))
    assert client.get("/sub/").content == b"<h1>sub</h1>"
    assert client.get("/").content == b"<h1>home</h1>"


def test_html_mode_redirects_a_directory_without_its_slash(static: Path) -> None:
    client = TestClient(StaticFiles(directory=static, html=True), follow_redirects=False)
    response = client.get("/sub")
    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/sub/"


def test_html_mode_redirects_the_mount_point_without_its_slash(static: Path) -> None:
    start = messages_from(StaticFiles(directory=static, html=True), "/static", "/static")[0]
    assert start["status"] == 307
    assert dict(start["headers"])[b"location"] == b"http://testserver/static/"


def test_html_mode_serves_404_html_with_status_404(static: Path) -> None:
    (static / "404.html").write_bytes(b"<h1>lost</h1>")
    response = TestClient(StaticFiles(directory=static, html=True)).get("/nothing")
    assert response.status_code == 404
    assert response.content == b"<h1>lost</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_html_mode_without_404_html_gets_plain_404(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static, html=True)).get("/nothing")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_html_mode_directory_without_index_gets_404(static: Path) -> None:
    assert TestClient(StaticFiles(directory=static, html=True)).get("/plain/").status_code == 404


# Configuration


def test_a_missing_directory_raises_at_construction(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")


def test_check_dir_false_raises_at_the_first_request(tmp_path: Path) -> None:
    client = TestClient(StaticFiles(directory=tmp_path / "missing", check_dir=False))
    with pytest.raises(RuntimeError, match="does not exist"):
        client.get("/")


def test_a_directory_that_is_a_file_raises_at_the_first_request(static: Path) -> None:
    client = TestClient(StaticFiles(directory=static / "hello.txt", check_dir=False))
    with pytest.raises(RuntimeError, match="is not a directory"):
        client.get("/")


def make_package(root: Path, monkeypatch: pytest.MonkeyPatch, folder: str) -> str:
    package = root / "pkgs" / "ferry_statics_demo"
    (package / folder).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / folder / "app.css").write_bytes(b"body {}")
    monkeypatch.syspath_prepend(str(root / "pkgs"))
    return "ferry_statics_demo"


def test_a_package_folder_is_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = make_package(tmp_path, monkeypatch, "assets")
    response = TestClient(StaticFiles(packages=[(name, "assets")])).get("/app.css")
    assert response.content == b"body {}"
    assert response.headers["content-type"] == "text/css; charset=utf-8"


def test_a_package_name_alone_serves_its_statics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = make_package(tmp_path, monkeypatch, "statics")
    assert TestClient(StaticFiles(packages=[name])).get("/app.css").content == b"body {}"


def test_a_missing_package_raises_at_construction() -> None:
    with pytest.raises(RuntimeError, match="could not be found"):
        StaticFiles(packages=["ferry_no_such_package_here"])


def test_a_missing_package_folder_raises_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = make_package(tmp_path, monkeypatch, "statics")
    with pytest.raises(RuntimeError, match="'nope'"):
        StaticFiles(packages=[(name, "nope")])


# Refusing the way out: every one of these is a 404, never the secret


@pytest.mark.parametrize("path", ["/../secret.txt", "/sub/../../secret.txt", "/sub/../hello.txt"])
def test_dot_dot_segments_are_refused(static: Path, path: str) -> None:
    assert call(StaticFiles(directory=static), path) == (404, b"Not Found")


@pytest.mark.parametrize(
    "url", ["/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt"]
)
def test_percent_encoded_dots_are_refused(static: Path, url: str) -> None:
    response = TestClient(StaticFiles(directory=static)).get(url)
    assert response.status_code == 404


def test_an_absolute_path_stays_inside_the_directory(static: Path) -> None:
    secret = static.parent / "secret.txt"
    assert call(StaticFiles(directory=static), "/" + str(secret))[0] == 404
    assert StaticFiles(directory=static).lookup_path(str(secret)) == ("", None)


def test_a_nul_byte_is_refused_with_404(static: Path) -> None:
    response = TestClient(StaticFiles(directory=static)).get("/hello.txt%00.png")
    assert response.status_code == 404


@pytest.mark.parametrize("url", ["/..%5csecret.txt", "/sub%5cpage.txt"])
def test_a_backslash_is_refused_with_404(static: Path, url: str) -> None:
    assert TestClient(StaticFiles(directory=static)).get(url).status_code == 404


def test_a_sibling_directory_sharing_the_name_prefix_is_not_served(static: Path) -> None:
    # static/link_out resolves to ../static-secret, which starts with ".../static".
    response = TestClient(StaticFiles(directory=static)).get("/link_out/key.pem")
    assert response.status_code == 404


def test_a_symlink_within_the_directory_is_served(static: Path) -> None:
    assert TestClient(StaticFiles(directory=static)).get("/link_in.txt").content == b"hello, world"


def test_follow_symlink_serves_a_symlink_leading_outside(static: Path) -> None:
    app = StaticFiles(directory=static, follow_symlink=True)
    assert TestClient(app).get("/link_out/key.pem").content == SECRET


def test_follow_symlink_still_refuses_dot_dot(static: Path) -> None:
    app = StaticFiles(directory=static, follow_symlink=True)
    assert call(app, "/../secret.txt")[0] == 404


def test_a_name_too_long_for_the_filesystem_gets_404(static: Path) -> None:
    assert TestClient(StaticFiles(directory=static)).get("/" + "a" * 5000).status_code == 404


segments = st.sampled_from(
    ["..", ".", "", "...", "sub", "hello.txt", "secret.txt", "static", "static-secret",
     "key.pem", "link_out", "\\", "..\\secret.txt", "\x00", "%2e%2e", "C:", "~"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(segments, max_size=6), html=st.booleans())
def test_no_path_ever_reaches_a_file_outside_the_directory(
    shared_static: Path, parts: list[str], html: bool
) -> None:
    app = StaticFiles(directory=shared_static, html=html)
    status, body = call(app, "/" + "/".join(parts))
    assert status in (200, 307, 404)
    assert SECRET not in body
    if status == 200 and not html:
        resolved = os.path.realpath(os.path.join(shared_static, *parts))
        assert os.path.commonpath([resolved, os.path.realpath(shared_static)]) == str(
            os.path.realpath(shared_static)
        )
