"""Real clients against a real server: httpx, curl, TLS, a Unix socket, proxies, the access log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from tests.integration.http_helpers import (
    TIMEOUT_S,
    connect,
    eventually,
    ok_app,
    read_body,
    read_response,
    respond,
    serve,
)

from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope


async def echo_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answers with a JSON picture of the request it got."""
    body = await read_body(receive)
    if scope["path"] == "/slow":
        await asyncio.sleep(0.2)
    picture = {
        "method": scope["method"],
        "path": scope["path"],
        "query_string": scope["query_string"].decode("latin-1"),
        "http_version": scope["http_version"],
        "scheme": scope["scheme"],
        "client": scope["client"],
        "server": scope["server"],
        "headers": {name.decode(): value.decode("latin-1") for name, value in scope["headers"]},
        "body": body.decode("latin-1"),
    }
    await respond(
        send, json.dumps(picture).encode(), headers=[(b"content-type", b"application/json")]
    )


# --- httpx -----------------------------------------------------------------------------------


def test_httpx_get_gets_the_status_headers_and_body() -> None:
    with serve(echo_app) as url, httpx.Client(base_url=url) as client:
        response = client.get("/items/7", params={"q": "a b"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["server"] == "ferry"
    picture = response.json()
    assert (picture["method"], picture["path"], picture["query_string"]) == (
        "GET",
        "/items/7",
        "q=a+b",
    )


def test_httpx_post_delivers_the_body() -> None:
    with serve(echo_app) as url, httpx.Client(base_url=url) as client:
        response = client.post("/items", content=b"x" * 100_000)

    assert response.json()["body"] == "x" * 100_000
    assert response.json()["headers"]["content-length"] == "100000"


def test_httpx_reuses_one_connection_for_several_requests() -> None:
    with serve(echo_app) as url, httpx.Client(base_url=url) as client:
        clients = [tuple(client.get(f"/{n}").json()["client"]) for n in range(3)]

    assert len(set(clients)) == 1


def test_concurrent_httpx_requests_each_get_their_own_answer() -> None:
    async def fetch_all(url: str) -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT_S) as client:
            responses = await asyncio.gather(
                *(client.post("/slow", content=f"request {n}".encode()) for n in range(8))
            )
        return [response.json()["body"] for response in responses]

    with serve(echo_app) as url:
        # Eight requests that each take 0.2 s finish together in well under 8 x 0.2 s.
        started = time.monotonic()
        bodies = asyncio.run(fetch_all(url))
        elapsed = time.monotonic() - started

    assert bodies == [f"request {n}" for n in range(8)]
    assert elapsed < 1.0


# --- curl ------------------------------------------------------------------------------------

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "5", *arguments],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )


@needs_curl
def test_curl_get_gets_the_body() -> None:
    with serve(echo_app) as url:
        result = curl(url + "/hello?x=1")

    picture = json.loads(result.stdout)
    assert (picture["method"], picture["path"], picture["query_string"]) == ("GET", "/hello", "x=1")
    assert picture["headers"]["user-agent"].startswith("curl/")


@needs_curl
def test_curl_post_with_data_delivers_the_form_body() -> None:
    with serve(echo_app) as url:
        result = curl("--data", "name=ada&role=admin", url + "/users")

    picture = json.loads(result.stdout)
    assert picture["method"] == "POST"
    assert picture["body"] == "name=ada&role=admin"
    assert picture["headers"]["content-type"] == "application/x-www-form-urlencoded"


@needs_curl
def test_curl_chunked_upload_is_reassembled() -> None:
    with serve(echo_app) as url:
        result = curl(
            "--data-binary", "a chunked body", "-H", "Transfer-Encoding: chunked", url + "/up"
        )

    picture = json.loads(result.stdout)
    assert picture["headers"]["transfer-encoding"] == "chunked"
    assert "content-length" not in picture["headers"]
    assert picture["body"] == "a chunked body"


@needs_curl
def test_curl_head_gets_the_headers_with_the_get_content_length() -> None:
    with serve(echo_app) as url:
        get_length = len(curl(url + "/same").stdout)
        result = curl("--head", url + "/same")

    lines = result.stdout.lower().splitlines()
    assert lines[0].startswith("http/1.1 200")
    # echo_app reports the method, so the HEAD body would be one byte longer ("HEAD" vs
    # "GET"): the length given is the one the HEAD response would have had.
    assert f"content-length: {get_length + 1}" in lines


@needs_curl
def test_curl_http_1_0_request_is_answered() -> None:
    with serve(echo_app) as url:
        result = curl("--http1.0", "--include", url + "/old")

    # text mode has turned each CRLF into a newline
    head, _, body = result.stdout.partition("\n\n")
    assert head.startswith("HTTP/1.1 200")
    assert json.loads(body)["http_version"] == "1.0"


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(certificate_authority: trustme.CA, tmp_path: Path) -> tuple[str, str]:
    cert = certificate_authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


def test_tls_request_verified_against_the_ca_gets_an_https_scope(
    certificate_authority: trustme.CA, tls_files: tuple[str, str]
) -> None:
    certfile, keyfile = tls_files
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)

    with (
        serve(echo_app, ssl_certfile=certfile, ssl_keyfile=keyfile) as url,
        httpx.Client(verify=context) as client,
    ):
        response = client.get(url + "/secure")

    assert url.startswith("https://")
    assert response.status_code == 200
    assert response.json()["scheme"] == "https"


def test_tls_server_refuses_a_client_that_does_not_trust_its_certificate(
    tls_files: tuple[str, str],
) -> None:
    certfile, keyfile = tls_files

    with (
        serve(ok_app, ssl_certfile=certfile, ssl_keyfile=keyfile) as url,
        httpx.Client() as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(url)


# --- Unix socket -----------------------------------------------------------------------------


@pytest.fixture
def socket_path() -> Iterator[str]:
    # AF_UNIX paths are limited to about 100 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ferry-") as directory:
        yield os.path.join(directory, "http.sock")


def test_unix_socket_request_gets_a_scope_with_the_socket_path_as_server(
    socket_path: str,
) -> None:
    transport = httpx.HTTPTransport(uds=socket_path)
    with serve(echo_app, uds=socket_path), httpx.Client(transport=transport) as client:
        response = client.get("http://localhost/via-socket")

    picture = response.json()
    assert response.status_code == 200
    assert picture["server"] == [socket_path, None]
    assert picture["client"] is None
    assert picture["path"] == "/via-socket"


def test_unix_socket_file_is_removed_when_the_server_stops(socket_path: str) -> None:
    with serve(ok_app, uds=socket_path):
        assert os.path.exists(socket_path)

    assert not os.path.exists(socket_path)


# --- proxy headers ---------------------------------------------------------------------------

X_FORWARDED = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
FORWARDED = {"Forwarded": 'for="198.51.100.1:4711";proto=https'}


def client_and_scheme(headers: dict[str, str], **options: object) -> tuple[object, str]:
    with serve(echo_app, **options) as url, httpx.Client() as client:
        picture = client.get(url, headers=headers).json()
    return picture["client"], picture["scheme"]


def test_x_forwarded_headers_from_a_trusted_peer_set_client_and_scheme() -> None:
    assert client_and_scheme(X_FORWARDED) == (["203.0.113.7", 0], "https")


def test_forwarded_header_from_a_trusted_peer_sets_client_and_scheme() -> None:
    assert client_and_scheme(FORWARDED) == (["198.51.100.1", 4711], "https")


@pytest.mark.parametrize("headers", [X_FORWARDED, FORWARDED], ids=["x-forwarded", "forwarded"])
def test_proxy_headers_from_an_untrusted_peer_are_ignored(headers: dict[str, str]) -> None:
    client, scheme = client_and_scheme(headers, forwarded_allow_ips=("10.0.0.1",))

    assert isinstance(client, list)
    assert client[0] == "127.0.0.1"
    assert scheme == "http"


@pytest.mark.parametrize("headers", [X_FORWARDED, FORWARDED], ids=["x-forwarded", "forwarded"])
def test_proxy_headers_are_ignored_when_switched_off(headers: dict[str, str]) -> None:
    client, scheme = client_and_scheme(headers, proxy_headers=False)

    assert isinstance(client, list)
    assert client[0] == "127.0.0.1"
    assert scheme == "http"


# --- the access log --------------------------------------------------------------------------


class Collected(logging.Handler):
    """Keeps the formatted messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    # The ferry loggers may not propagate to the root logger (configure_logging turns it
    # off), so pytest's caplog would miss them: listen on the logger itself.
    logger = logging.getLogger("ferry.access")
    handler = Collected()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_access_log_line_has_client_request_line_status_bytes_and_duration(
    access_lines: list[str],
) -> None:
    with serve(ok_app) as url, connect(url) as sock:
        sock.sendall(b"GET /hello?x=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(sock).status == 200
        port = sock.getsockname()[1]
        eventually(lambda: access_lines)

    [line] = access_lines
    prefix = f'127.0.0.1:{port} - "GET /hello?x=1 HTTP/1.1" 200 2B '
    assert line.startswith(prefix)
    assert line.endswith("ms")
    float(line.removeprefix(prefix).removesuffix("ms"))


def test_access_log_escapes_crlf_and_control_characters_from_the_path(
    access_lines: list[str],
) -> None:
    with serve(ok_app) as url, connect(url) as sock:
        sock.sendall(b"GET /a%0d%0aforged%1b[31m%7f HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(sock).status == 200
        eventually(lambda: access_lines)

    [line] = access_lines
    assert '"GET /a\\x0d\\x0aforged\\x1b[31m\\x7f HTTP/1.1" 200' in line
    assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in line)


def test_access_log_has_a_line_for_a_500_from_a_failing_app(access_lines: list[str]) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raise RuntimeError("boom")

    with serve(app) as url, httpx.Client() as client:
        assert client.get(url + "/fails").status_code == 500
        eventually(lambda: access_lines)

    assert '"GET /fails HTTP/1.1" 500 ' in access_lines[0]


def test_access_log_is_silent_with_access_log_off(access_lines: list[str]) -> None:
    with serve(ok_app, access_log=False) as url, httpx.Client() as client:
        assert client.get(url).status_code == 200

    assert access_lines == []
