"""The values handed to endpoints: URL, headers, query parameters, multi-dicts, state, files.

The property tests check the round trips (query strings, URLs, raw headers, cookies) and
that no Host header, however malformed, reaches the URL's path, query or userinfo.
"""

from __future__ import annotations

import io
import string
from typing import Any
from urllib.parse import parse_qsl

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.asgi.datastructures import (
    URL,
    Address,
    CommaSeparatedStrings,
    FormData,
    Headers,
    ImmutableMultiDict,
    MultiDict,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
    parse_query_string,
    spooled_file,
)
from ferry.asgi.requests import parse_cookies
from ferry.asgi.types import Scope


def http_scope(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    scheme: str = "http",
    server: tuple[str, int | None] | None = ("testserver", 8000),
    path: str = "/users/ada",
    query_string: bytes = b"",
) -> Scope:
    return {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "path": path,
        "query_string": query_string,
        "headers": headers if headers is not None else [],
    }


# --- URL -------------------------------------------------------------------------------------


def test_url_parts() -> None:
    url = URL("https://ada:secret@Example.org:8443/a/b%20c?x=1&y=2#top")
    assert url.scheme == "https"
    assert url.netloc == "ada:secret@Example.org:8443"
    assert url.path == "/a/b%20c"
    assert url.query == "x=1&y=2"
    assert url.fragment == "top"
    assert url.username == "ada"
    assert url.password == "secret"
    assert url.hostname == "example.org"
    assert url.port == 8443
    assert url.is_secure
    assert url.components.geturl() == str(url)


def test_url_with_few_parts() -> None:
    url = URL("/only/path")
    assert (url.scheme, url.netloc, url.path, url.query, url.fragment) == (
        "",
        "",
        "/only/path",
        "",
        "",
    )
    assert (url.username, url.password, url.hostname, url.port) == (None, None, None, None)
    assert not url.is_secure
    assert URL("wss://h/").is_secure
    assert not URL("ws://h/").is_secure


def test_url_replace_parts() -> None:
    url = URL("http://h/a?x=1#f")
    assert str(url.replace(scheme="https")) == "https://h/a?x=1#f"
    assert str(url.replace(path="/b", query="", fragment="")) == "http://h/b"
    assert str(url.replace(netloc="other:81")) == "http://other:81/a?x=1#f"
    assert str(url) == "http://h/a?x=1#f"  # unchanged: URLs are immutable


def test_url_replace_hostname_keeps_port_and_userinfo() -> None:
    url = URL("https://ada:pw@example.org:8443/a")
    assert str(url.replace(hostname="other.org")) == "https://ada:pw@other.org:8443/a"
    assert str(url.replace(port=None)) == "https://ada:pw@example.org/a"
    assert str(url.replace(port=1)) == "https://ada:pw@example.org:1/a"
    assert str(url.replace(username="bob")) == "https://bob:pw@example.org:8443/a"
    assert str(url.replace(password=None)) == "https://ada@example.org:8443/a"
    assert str(url.replace(username=None)) == "https://example.org:8443/a"


def test_url_replace_port_of_an_ipv6_host() -> None:
    assert str(URL("http://[::1]:80/x").replace(port=81)) == "http://[::1]:81/x"
    assert str(URL("http://[::1]/x").replace(port=81)) == "http://[::1]:81/x"


def test_url_from_components() -> None:
    url = URL(scheme="https", netloc="example.org", path="/a", query="b=1", fragment="c")
    assert str(url) == "https://example.org/a?b=1#c"


def test_include_query_params_adds_and_replaces() -> None:
    url = URL("http://h/p?a=1&b=2&a=3")
    assert str(url.include_query_params(b=9, c="x y")) == "http://h/p?a=1&a=3&b=9&c=x+y"
    assert str(url.include_query_params(a=0)) == "http://h/p?b=2&a=0"


def test_replace_query_params() -> None:
    url = URL("http://h/p?a=1&b=2#f")
    assert str(url.replace_query_params(c=3)) == "http://h/p?c=3#f"
    assert str(url.replace_query_params()) == "http://h/p#f"


def test_remove_query_params() -> None:
    url = URL("http://h/p?a=1&b=2&a=3&c=")
    assert str(url.remove_query_params("a")) == "http://h/p?b=2&c="
    assert str(url.remove_query_params(["a", "c", "missing"])) == "http://h/p?b=2"


def test_url_equality_hash_and_repr() -> None:
    assert URL("http://h/a") == URL("http://h/a")
    assert URL("http://h/a") == "http://h/a"
    assert URL("http://h/a") != URL("http://h/b")
    assert len({URL("http://h/a"), URL("http://h/a")}) == 1
    assert repr(URL("http://h/a")) == "URL('http://h/a')"
    assert repr(URL("http://u:secret@h/a")) == "URL('http://u:********@h/a')"


def test_url_from_scope_uses_the_host_header() -> None:
    scope = http_scope([(b"host", b"example.org:8080")], query_string=b"a=1")
    url = URL(scope=scope)
    assert str(url) == "http://example.org:8080/users/ada?a=1"


@pytest.mark.parametrize(
    ("scheme", "server", "expected"),
    [
        ("http", ("10.0.0.1", 80), "http://10.0.0.1/users/ada"),
        ("https", ("10.0.0.1", 443), "https://10.0.0.1/users/ada"),
        ("http", ("10.0.0.1", 8000), "http://10.0.0.1:8000/users/ada"),
        ("https", ("10.0.0.1", 80), "https://10.0.0.1:80/users/ada"),
        ("ws", ("h", 80), "ws://h/users/ada"),
        ("wss", ("h", 443), "wss://h/users/ada"),
        ("http", ("unix.sock", None), "http://unix.sock/users/ada"),
        ("http", ("::1", 8000), "http://[::1]:8000/users/ada"),
        ("http", None, "/users/ada"),
    ],
)
def test_url_from_scope_without_host_uses_the_server(
    scheme: str, server: tuple[str, int | None] | None, expected: str
) -> None:
    url = URL(scope=http_scope(scheme=scheme, server=server))
    assert str(url) == expected
    assert url.path == "/users/ada"
    _ = (url.hostname, url.port)  # never raise


def test_url_from_scope_keeps_the_first_host_header() -> None:
    url = URL(scope=http_scope([(b"accept", b"*/*"), (b"host", b"one"), (b"host", b"two")]))
    assert url.hostname == "one"
    assert URL(scope=http_scope([(b"accept", b"*/*")])).hostname == "testserver"


@pytest.mark.parametrize(
    "host",
    [
        "evil.com/path?x",
        "evil.com?x=1",
        "evil.com#frag",
        "a@b",
        "user:pw@evil.com",
        "x\r\n",
        "x\r\nX-Injected: 1",
        "evil.com\\path",
        "",
        ":",
        "[",
        "a]",
        "[::1",
        "a:b",
        "a:99999",
        "::1",
        "évil.com",
        "a b",
        "/",
        "//evil.com",
    ],
)
def test_malicious_host_header_never_changes_path_query_or_userinfo(host: str) -> None:
    scope = http_scope([(b"host", host.encode("latin-1"))], query_string=b"q=1")
    url = URL(scope=scope)
    assert url.path == "/users/ada"
    assert url.query == "q=1"
    assert url.fragment == ""
    assert url.username is None
    assert url.password is None
    assert url.hostname == "testserver"
    assert url.port == 8000


@pytest.mark.parametrize(
    ("host", "hostname", "port"),
    [
        ("example.org", "example.org", None),
        ("[::1]:8080", "::1", 8080),
        ("a-b.c_d:1", "a-b.c_d", 1),
    ],
)
def test_plain_host_headers_are_used(host: str, hostname: str, port: int | None) -> None:
    url = URL(scope=http_scope([(b"host", host.encode())]))
    assert (url.hostname, url.port, url.path) == (hostname, port, "/users/ada")


@given(host=st.text(st.characters(max_codepoint=0xFF), max_size=30))
def test_any_host_header_leaves_path_and_query_alone(host: str) -> None:
    scope = http_scope([(b"host", host.encode("latin-1"))], query_string=b"q=1&r=2")
    url = URL(scope=scope)
    assert url.path == "/users/ada"
    assert url.query == "q=1&r=2"
    assert url.fragment == ""
    assert url.username is None
    assert url.password is None
    _ = (url.hostname, url.port)  # never raise


hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
path_chars = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"
query_chars = path_chars + "/?"


@given(
    scheme=st.sampled_from(["http", "https", "ws", "wss"]),
    hostname=hostnames,
    port=st.none() | st.integers(0, 65535),
    path=st.lists(st.text(path_chars, max_size=8), max_size=4).map(lambda s: "/" + "/".join(s)),
    query=st.text(query_chars, max_size=20),
    fragment=st.text(query_chars + "#", max_size=10),
)
def test_url_round_trips_through_str(
    scheme: str, hostname: str, port: int | None, path: str, query: str, fragment: str
) -> None:
    netloc = hostname if port is None else f"{hostname}:{port}"
    url = URL(scheme=scheme, netloc=netloc, path=path, query=query, fragment=fragment)
    again = URL(str(url))
    assert again.components == url.components
    assert (again.scheme, again.hostname, again.port) == (scheme, hostname, port)
    assert (again.path, again.query, again.fragment) == (path, query, fragment)


# --- Headers ---------------------------------------------------------------------------------


def test_headers_are_case_insensitive() -> None:
    headers = Headers(raw=[(b"content-type", b"text/html"), (b"x-a", b"1")])
    assert headers["Content-Type"] == headers["content-type"] == "text/html"
    assert "X-A" in headers
    assert "x-b" not in headers
    assert object() not in headers
    assert headers.get("X-B") is None
    with pytest.raises(KeyError):
        headers["x-b"]


def test_headers_keep_every_value() -> None:
    headers = Headers(raw=[(b"set-cookie", b"a=1"), (b"x", b"y"), (b"set-cookie", b"b=2")])
    assert headers["set-cookie"] == "a=1"  # the first one
    assert headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert headers.getlist("missing") == []
    assert headers.keys() == ["set-cookie", "x", "set-cookie"]
    assert headers.values() == ["a=1", "y", "b=2"]
    assert headers.items() == [("set-cookie", "a=1"), ("x", "y"), ("set-cookie", "b=2")]
    assert list(headers) == headers.keys()
    assert len(headers) == 3


def test_headers_from_a_mapping_are_lowercased() -> None:
    headers = Headers({"Content-Type": "text/plain", "X-Ünï": "é"})
    assert headers.raw == [(b"content-type", b"text/plain"), (b"x-\xfcn\xef", b"\xe9")]
    assert headers["x-ÜNÏ"] == "é"


def test_headers_from_the_scope_share_its_list() -> None:
    scope = http_scope([(b"host", b"h")])
    assert Headers(scope=scope).raw is scope["headers"]
    scope["headers"] = ((b"host", b"h"),)  # a tuple is made a list, once
    assert Headers(scope=scope).raw == [(b"host", b"h")]
    assert isinstance(scope["headers"], list)


def test_headers_empty_by_default() -> None:
    assert Headers().raw == []
    assert len(Headers()) == 0


@pytest.mark.parametrize(
    "sources",
    [
        {"headers": {}, "raw": []},
        {"headers": {}, "scope": {"headers": []}},
        {"raw": [], "scope": {"headers": []}},
    ],
)
def test_headers_take_one_source(sources: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Headers(**sources)


def test_headers_equality_ignores_order_and_repr() -> None:
    one = Headers(raw=[(b"a", b"1"), (b"b", b"2")])
    assert one == Headers(raw=[(b"b", b"2"), (b"a", b"1")])
    assert one != Headers(raw=[(b"a", b"1")])
    assert one != {"a": "1", "b": "2"}
    assert repr(one) == "Headers({'a': '1', 'b': '2'})"
    assert repr(Headers(raw=[(b"a", b"1"), (b"a", b"2")])) == (
        "Headers(raw=[(b'a', b'1'), (b'a', b'2')])"
    )


def test_headers_mutablecopy_is_independent() -> None:
    headers = Headers(raw=[(b"a", b"1")])
    copy = headers.mutablecopy()
    assert isinstance(copy, MutableHeaders)
    copy["a"] = "2"
    copy.append("b", "3")
    assert headers.raw == [(b"a", b"1")]
    assert copy.raw == [(b"a", b"2"), (b"b", b"3")]


header_names = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8)
header_values = st.binary(max_size=12).filter(lambda v: not any(c in v for c in b"\r\n\0"))


@given(st.lists(st.tuples(header_names, header_values), max_size=12))
def test_headers_from_raw_pairs_give_back_every_value_in_order(
    pairs: list[tuple[str, bytes]],
) -> None:
    headers = Headers(raw=[(name.encode(), value) for name, value in pairs])
    for name, _ in pairs:
        expected = [value.decode("latin-1") for other, value in pairs if other == name]
        assert headers.getlist(name) == expected
        assert headers.getlist(name.upper()) == expected
        assert headers[name] == expected[0]
    assert len(headers) == len(pairs)


# --- MutableHeaders --------------------------------------------------------------------------


def test_mutable_headers_set_replaces_every_value_in_place() -> None:
    headers = MutableHeaders(raw=[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    headers["A"] = "x"
    assert headers.raw == [(b"a", b"x"), (b"b", b"2")]
    headers["c"] = "new"
    assert headers.raw == [(b"a", b"x"), (b"b", b"2"), (b"c", b"new")]


def test_mutable_headers_append_and_delete() -> None:
    headers = MutableHeaders()
    headers.append("Set-Cookie", "a=1")
    headers.append("set-cookie", "b=2")
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]
    del headers["SET-COOKIE"]
    assert "set-cookie" not in headers
    del headers["missing"]  # no error, as in Starlette
    assert headers.raw == []


def test_mutable_headers_update_setdefault_and_or() -> None:
    headers = MutableHeaders({"a": "1"})
    headers.update({"a": "2", "b": "3"})
    assert headers.items() == [("a", "2"), ("b", "3")]
    assert headers.setdefault("a", "ignored") == "2"
    assert headers.setdefault("c", "4") == "4"
    merged = headers | {"d": "5"}
    assert "d" in merged
    assert "d" not in headers
    headers |= {"e": "6"}
    assert headers["e"] == "6"


def test_mutable_headers_add_vary_header() -> None:
    headers = MutableHeaders()
    headers.add_vary_header("Origin")
    assert headers["vary"] == "Origin"
    headers.add_vary_header("Accept-Encoding")
    assert headers["vary"] == "Origin, Accept-Encoding"


def test_mutable_headers_from_the_scope_change_the_scope() -> None:
    scope = http_scope([(b"host", b"h")])
    MutableHeaders(scope=scope)["x-request-id"] = "42"
    assert scope["headers"] == [(b"host", b"h"), (b"x-request-id", b"42")]


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\r\nSet-Cookie: x=1", "a\0b"])
def test_mutable_headers_refuse_cr_lf_and_nul(bad: str) -> None:
    headers = MutableHeaders()
    with pytest.raises(ValueError, match="invalid header"):
        headers["x"] = bad
    with pytest.raises(ValueError, match="invalid header"):
        headers.append("x", bad)
    with pytest.raises(ValueError, match="invalid header"):
        headers.setdefault("x", bad)
    with pytest.raises(ValueError, match="invalid header"):
        headers.update({"x": bad})
    with pytest.raises(ValueError, match="invalid header"):
        headers[bad] = "value"
    assert headers.raw == []


@pytest.mark.parametrize("name", ["a:b", "a b", "a\rb"])
def test_mutable_headers_refuse_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        MutableHeaders()[name] = "v"


# --- QueryParams -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "a=1&b=2&a=3",
        b"a=1&b=2&a=3",
        [("a", "1"), ("b", "2"), ("a", "3")],
        ImmutableMultiDict([("a", "1"), ("b", "2"), ("a", "3")]),
    ],
)
def test_query_params_sources(source: Any) -> None:
    params = QueryParams(source)
    assert params.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert params["a"] == "3"  # the last value
    assert params.getlist("a") == ["1", "3"]
    assert str(params) == "a=1&b=2&a=3"


def test_query_params_from_a_dict_and_kwargs_become_strings() -> None:
    params = QueryParams({"a": 1, "b": None}, c=True)
    assert params.multi_items() == [("a", "1"), ("b", "None"), ("c", "True")]
    assert QueryParams(b"a=1", b=2).multi_items() == [("a", "1"), ("b", "2")]


def test_query_params_decoding() -> None:
    params = QueryParams("a=x+y%20z&b=&c&%C3%A9=%E2%9C%93")
    assert params.multi_items() == [("a", "x y z"), ("b", ""), ("c", ""), ("é", "✓")]
    assert QueryParams(b"a=\xe9").multi_items() == [("a", "é")]  # raw bytes are latin-1
    assert QueryParams("a=1;b=2").multi_items() == [("a", "1;b=2")]


def test_query_string_without_escapes_splits_like_parse_qsl() -> None:
    assert parse_query_string("a=1&&b&c=x=y&=z&") == [
        ("a", "1"),
        ("b", ""),
        ("c", "x=y"),
        ("", "z"),
    ]
    assert parse_query_string("") == []
    assert parse_query_string("a=x+y&b=%41") == [("a", "x y"), ("b", "A")]  # parse_qsl's work


@given(st.text(alphabet="ab=&%+;2Aé ", max_size=16))
def test_query_string_parses_as_parse_qsl_does(query: str) -> None:
    assert parse_query_string(query) == parse_qsl(query, keep_blank_values=True)


def test_query_params_mapping_views() -> None:
    params = QueryParams("a=1&b=2&a=3")
    assert list(params.keys()) == ["a", "b"]
    assert list(params.values()) == ["3", "2"]
    assert list(params.items()) == [("a", "3"), ("b", "2")]
    assert len(params) == 2
    assert "a" in params
    assert params.getlist("missing") == []
    assert repr(params) == "QueryParams([('a', '1'), ('b', '2'), ('a', '3')])"
    assert QueryParams() == QueryParams("")


query_text = st.text(st.characters(codec="utf-8"), max_size=10)


@given(st.lists(st.tuples(query_text, query_text), max_size=10))
def test_query_params_round_trip_through_str(pairs: list[tuple[str, str]]) -> None:
    params = QueryParams(pairs)
    assert QueryParams(str(params)).multi_items() == pairs
    assert QueryParams(str(params).encode("ascii")).multi_items() == pairs


# --- ImmutableMultiDict and MultiDict --------------------------------------------------------


def test_immutable_multidict() -> None:
    data = ImmutableMultiDict([("a", 1), ("b", 2), ("a", 3)])
    assert data["a"] == 3
    assert data.getlist("a") == [1, 3]
    assert data.multi_items() == [("a", 1), ("b", 2), ("a", 3)]
    assert dict(data) == {"a": 3, "b": 2}
    assert list(data) == ["a", "b"]
    assert len(data) == 2
    assert data == ImmutableMultiDict([("b", 2), ("a", 1), ("a", 3)])
    assert data != ImmutableMultiDict([("a", 1), ("b", 2)])
    assert data != {"a": 3, "b": 2}
    assert repr(data) == "ImmutableMultiDict([('a', 1), ('b', 2), ('a', 3)])"
    assert ImmutableMultiDict({"x": 1}, y=2).multi_items() == [("x", 1), ("y", 2)]
    assert ImmutableMultiDict(data).multi_items() == data.multi_items()
    assert ImmutableMultiDict().multi_items() == []


def test_immutable_multidict_multi_items_is_a_copy() -> None:
    data = ImmutableMultiDict([("a", 1)])
    data.multi_items().append(("b", 2))
    assert data.multi_items() == [("a", 1)]


def test_multidict_mutations() -> None:
    data = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    data["a"] = 9
    assert data.multi_items() == [("b", 2), ("a", 9)]
    data.append("b", 4)
    assert data.getlist("b") == [2, 4]
    assert data["b"] == 4
    data.setlist("c", [5, 6])
    assert data.getlist("c") == [5, 6]
    data.setlist("c", [])
    assert "c" not in data
    assert data.pop("b") == 4
    assert data.pop("b", "gone") == "gone"
    del data["a"]
    assert data.multi_items() == []
    with pytest.raises(KeyError):
        del data["a"]


def test_multidict_update_replaces_the_keys_given() -> None:
    data = MultiDict([("a", 1), ("b", 2), ("a", 3)])
    data.update([("a", 7), ("a", 8)], c=9)
    assert data.multi_items() == [("b", 2), ("a", 7), ("a", 8), ("c", 9)]
    assert data["a"] == 8


# --- State -----------------------------------------------------------------------------------


def test_state_attributes() -> None:
    backing: dict[str, Any] = {"db": "conn"}
    state = State(backing)
    assert state.db == "conn"
    state.user = "ada"
    assert backing["user"] == "ada"
    del state.user
    assert "user" not in backing
    with pytest.raises(AttributeError, match="'State' has no attribute 'missing'"):
        _ = state.missing
    with pytest.raises(KeyError):
        del state.missing
    assert repr(state) == "State({'db': 'conn'})"
    assert State()._state == {}


# --- UploadFile and FormData -----------------------------------------------------------------


def test_upload_file_in_memory() -> None:
    upload = UploadFile(
        spooled_file(), size=0, filename="a.txt", headers=Headers({"content-type": "text/plain"})
    )

    async def main() -> None:
        await upload.write(b"hello ")
        await upload.write(b"world")
        assert upload.size == 11
        assert not getattr(upload.file, "_rolled", True)
        await upload.seek(0)
        assert await upload.read(5) == b"hello"
        assert await upload.read() == b" world"
        await upload.close()
        assert upload.file.closed

    anyio.run(main)
    assert upload.filename == "a.txt"
    assert upload.content_type == "text/plain"
    assert repr(upload).startswith("UploadFile(filename='a.txt', size=11, headers=Headers(")


def test_upload_file_after_rolling_over_to_disk() -> None:
    upload = UploadFile(spooled_file(max_memory_bytes=10), size=0)

    async def main() -> None:
        await upload.write(b"12345")
        assert not getattr(upload.file, "_rolled", True)
        await upload.write(b"67890abc")  # over 10 bytes: the file moves to disk
        assert getattr(upload.file, "_rolled", False)
        await upload.write(b"def")
        assert upload.size == 16
        await upload.seek(5)
        assert await upload.read() == b"67890abcdef"
        await upload.seek(0)
        assert await upload.read(3) == b"123"
        await upload.close()
        assert upload.file.closed

    anyio.run(main)
    assert upload.content_type is None
    assert upload.filename is None


def test_upload_file_over_any_file_object() -> None:
    upload = UploadFile(io.BytesIO())

    async def main() -> None:
        await upload.write(b"abc")
        await upload.seek(0)
        assert await upload.read() == b"abc"
        await upload.close()

    anyio.run(main)
    assert upload.size is None  # unknown size stays unknown
    assert upload.headers == Headers()


def test_form_data_close_closes_its_files() -> None:
    files = [UploadFile(spooled_file(), filename="a"), UploadFile(spooled_file(), filename="b")]
    form = FormData([("a", files[0]), ("text", "value"), ("a", files[1])])
    assert form.getlist("a") == files
    assert form["text"] == "value"
    anyio.run(form.close)
    assert all(upload.file.closed for upload in files)


# --- CommaSeparatedStrings and Address -------------------------------------------------------


def test_comma_separated_strings() -> None:
    values = CommaSeparatedStrings(" a, b ,,c ,")
    assert list(values) == ["a", "b", "c"]
    assert values[0] == "a"
    assert list(values[1:]) == ["b", "c"]
    assert len(values) == 3
    assert str(values) == "a, b, c"
    assert "b" in values
    assert list(CommaSeparatedStrings(["x", "y"])) == ["x", "y"]
    assert list(CommaSeparatedStrings("")) == []


def test_address() -> None:
    address = Address("127.0.0.1", 50000)
    assert (address.host, address.port) == ("127.0.0.1", 50000)
    assert address == Address("127.0.0.1", 50000)
    assert hash(address) == hash(Address("127.0.0.1", 50000))
    host, port = address  # unpacks like a (host, port) pair
    assert (host, port) == ("127.0.0.1", 50000)
    with pytest.raises(AttributeError):
        address.port = 1  # type: ignore[misc]


# --- parse_cookies ---------------------------------------------------------------------------


def test_parse_cookies() -> None:
    header = 'session=abc; theme="dark mode";  empty=; a=b=c ; dup=1; dup=2'
    assert parse_cookies(header) == {
        "session": "abc",
        "theme": "dark mode",
        "empty": "",
        "a": "b=c",
        "dup": "2",
    }


@pytest.mark.parametrize(
    "header",
    ["novalue", "=value", " = value", 'a"b=1', "a b=1", "a,b=1", "a\\b=1", "a\tb=1", ";;;", ""],
)
def test_parse_cookies_skips_pairs_without_a_valid_name(header: str) -> None:
    assert parse_cookies(header + "; ok=1") == {"ok": "1"}


FORBIDDEN_IN_NAMES = ' ",;\\\t\r\n='


@given(st.text())
def test_parse_cookies_never_raises_and_keeps_only_valid_names(header: str) -> None:
    cookies = parse_cookies(header)
    for name in cookies:
        assert name
        assert name == name.strip()
        assert not any(char in name for char in FORBIDDEN_IN_NAMES)


cookie_names = st.text(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1)
cookie_values = st.text(string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~")


@given(st.lists(st.tuples(cookie_names, cookie_values), max_size=8), st.sampled_from([";", "; "]))
def test_parse_cookies_round_trip(pairs: list[tuple[str, str]], separator: str) -> None:
    header = separator.join(f"{name}={value}" for name, value in pairs)
    assert parse_cookies(header) == dict(pairs)
