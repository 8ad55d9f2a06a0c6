"""build_http_scope(): from a request h11 read and the connection's addresses to the scope."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.server.config import Config
from ferry.server.scope import build_http_scope
from ferry.server.types import HTTPScope

CLIENT = ("203.0.113.9", 50000)
SERVER = ("127.0.0.1", 8000)
CONFIG = Config(app="x:y")


def scope_for(
    target: bytes | str,
    *,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    http_version: str = "1.1",
    root_path: str = "",
    state: dict[str, Any] | None = None,
    client: tuple[str, int] | None = CLIENT,
    server: tuple[str, int | None] | None = SERVER,
    scheme: str = "http",
    trusted_proxy: bool = False,
    config: Config = CONFIG,
) -> HTTPScope:
    request = h11.Request(
        method=method,
        target=target,
        headers=headers if headers is not None else [("Host", "example.com")],
        http_version=http_version,
    )
    return build_http_scope(
        request.method,
        request.target,
        request.http_version,
        list(request.headers),
        client=client,
        server=server,
        scheme=scheme,
        root_path=root_path,
        state=state,
        trusted_proxy=trusted_proxy,
        config=config,
    )


# --- the fixed keys --------------------------------------------------------------------------


def test_scope_has_the_asgi_http_keys() -> None:
    scope = scope_for("/users?x=1", method="POST")
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["method"] == "POST"
    assert scope["scheme"] == "http"
    assert scope["client"] == CLIENT
    assert scope["server"] == SERVER
    assert "state" not in scope


@pytest.mark.parametrize("http_version", ["1.0", "1.1"])
def test_http_version_is_the_request_version_as_text(http_version: str) -> None:
    assert scope_for("/", http_version=http_version)["http_version"] == http_version


def test_scheme_is_taken_from_the_connection() -> None:
    assert scope_for("/", scheme="https")["scheme"] == "https"


def test_missing_client_and_unix_socket_server_pass_through() -> None:
    scope = scope_for("/", client=None, server=("/tmp/ferry.sock", None))
    assert scope["client"] is None
    assert scope["server"] == ("/tmp/ferry.sock", None)


# --- path and query string -------------------------------------------------------------------


def test_plain_path_is_the_target_without_its_query() -> None:
    scope = scope_for("/users/ada?x=1")
    assert scope["path"] == "/users/ada"
    assert scope["raw_path"] == b"/users/ada"


def test_percent_encoded_utf8_in_the_path_is_decoded() -> None:
    scope = scope_for("/caf%C3%A9/%E2%82%AC")
    assert scope["path"] == "/café/€"
    assert scope["raw_path"] == b"/caf%C3%A9/%E2%82%AC"


def test_invalid_utf8_in_the_path_becomes_replacement_characters() -> None:
    assert scope_for("/a%FFb%C3")["path"] == "/a\ufffdb\ufffd"


def test_encoded_slash_is_decoded_in_path_but_kept_in_raw_path() -> None:
    scope = scope_for("/files/a%2Fb")
    assert scope["path"] == "/files/a/b"
    assert scope["raw_path"] == b"/files/a%2Fb"


def test_stray_percent_signs_are_kept_as_they_are() -> None:
    assert scope_for("/100%25/%zz/%")["path"] == "/100%/%zz/%"


def test_query_string_stays_raw_bytes() -> None:
    scope = scope_for("/search?q=caf%C3%A9&tag=a+b&x=%2F")
    assert scope["query_string"] == b"q=caf%C3%A9&tag=a+b&x=%2F"


def test_only_the_first_question_mark_splits_the_target() -> None:
    scope = scope_for("/a?b=1?c=2")
    assert scope["path"] == "/a"
    assert scope["query_string"] == b"b=1?c=2"


def test_target_without_query_has_an_empty_query_string() -> None:
    assert scope_for("/a")["query_string"] == b""


def test_absolute_form_target_gives_the_path_and_query() -> None:
    scope = scope_for("http://example.com/a?b=1")
    assert scope["path"] == "/a"
    assert scope["raw_path"] == b"/a"
    assert scope["query_string"] == b"b=1"


def test_absolute_form_target_without_a_path_gives_the_root() -> None:
    scope = scope_for("http://example.com:8080?b=1")
    assert scope["path"] == "/"
    assert scope["query_string"] == b"b=1"


def test_authority_form_target_is_kept_as_the_path() -> None:
    assert scope_for("example.com:443", method="CONNECT")["path"] == "example.com:443"


def test_asterisk_form_target_is_kept_as_the_path() -> None:
    assert scope_for("*", method="OPTIONS")["path"] == "*"


@given(st.text(max_size=64))
def test_any_text_quoted_into_the_path_decodes_back_to_itself(text: str) -> None:
    target = "/" + quote(text)
    scope = scope_for(target)
    assert scope["path"] == "/" + text
    assert scope["raw_path"] == target.encode("ascii")


# --- root_path -------------------------------------------------------------------------------


def test_root_path_is_put_in_front_of_the_path() -> None:
    scope = scope_for("/users?x=1", root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/users"
    assert scope["query_string"] == b"x=1"


def test_root_path_is_put_in_front_of_the_decoded_path() -> None:
    assert scope_for("/caf%C3%A9", root_path="/api")["path"] == "/api/café"


def test_without_root_path_it_is_empty() -> None:
    assert scope_for("/users")["root_path"] == ""


# --- headers ---------------------------------------------------------------------------------


def test_header_names_are_lowercased_and_values_kept() -> None:
    scope = scope_for("/", headers=[("Host", "Example.COM"), ("X-Custom-Header", "MiXeD")])
    assert scope["headers"] == [(b"host", b"Example.COM"), (b"x-custom-header", b"MiXeD")]


def test_repeated_headers_stay_separate_and_in_order() -> None:
    scope = scope_for("/", headers=[("Host", "t"), ("Accept", "a"), ("accept", "b")])
    assert scope["headers"] == [(b"host", b"t"), (b"accept", b"a"), (b"accept", b"b")]


def test_scope_headers_are_a_list_of_bytes_pairs() -> None:
    scope = scope_for("/")
    assert isinstance(scope["headers"], list)
    assert all(type(name) is bytes and type(value) is bytes for name, value in scope["headers"])


# --- state -----------------------------------------------------------------------------------


def test_state_is_copied_into_the_scope() -> None:
    state: dict[str, Any] = {"db": "pool"}
    scope = scope_for("/", state=state)
    assert scope["state"] == {"db": "pool"}
    assert scope["state"] is not state


def test_changes_to_one_scopes_state_do_not_reach_the_lifespan_state_or_another_scope() -> None:
    state: dict[str, Any] = {"db": "pool"}
    first = scope_for("/", state=state)
    second = scope_for("/", state=state)
    first["state"]["user"] = "ada"
    assert "user" not in state
    assert "user" not in second["state"]


# --- proxy headers ---------------------------------------------------------------------------


def test_proxy_headers_from_a_trusted_peer_set_client_and_scheme() -> None:
    headers = [("Host", "t"), ("X-Forwarded-For", "198.51.100.4"), ("X-Forwarded-Proto", "https")]
    scope = scope_for("/", headers=headers, trusted_proxy=True)
    assert scope["client"] == ("198.51.100.4", 0)
    assert scope["scheme"] == "https"


def test_proxy_headers_from_an_untrusted_peer_are_ignored() -> None:
    headers = [("Host", "t"), ("X-Forwarded-For", "198.51.100.4"), ("X-Forwarded-Proto", "https")]
    scope = scope_for("/", headers=headers, trusted_proxy=False)
    assert scope["client"] == CLIENT
    assert scope["scheme"] == "http"
    assert (b"x-forwarded-for", b"198.51.100.4") in scope["headers"]
