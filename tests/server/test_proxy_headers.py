"""resolve_proxy(): Forwarded and X-Forwarded-*, the walk along the chain, and bad values.

The server checks that the direct peer is a trusted proxy before it calls `resolve_proxy`;
these tests start from there. The peer below is 10.0.0.1, and 10.0.0.0/8 is trusted.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.server.config import Config
from ferry.server.proxy_headers import resolve_proxy

PEER = ("10.0.0.1", 41000)
CONFIG = Config(app="app:app", forwarded_allow_ips=("10.0.0.0/8", "fd00::/8"))
Headers = list[tuple[bytes, bytes]]


def resolve(
    headers: Headers, scheme: str = "http", config: Config = CONFIG
) -> tuple[tuple[str, int] | None, str]:
    return resolve_proxy(headers, PEER, scheme, config)


# --- no proxy headers ------------------------------------------------------------------------


def test_without_proxy_headers_client_and_scheme_are_unchanged() -> None:
    headers = [(b"host", b"example.com"), (b"x-forwarded-host", b"evil.example")]
    assert resolve(headers) == (PEER, "http")
    assert resolve([], scheme="https") == (PEER, "https")


# --- X-Forwarded-For and X-Forwarded-Proto ---------------------------------------------------


def test_x_forwarded_for_with_one_address_becomes_the_client_with_port_0() -> None:
    assert resolve([(b"x-forwarded-for", b"203.0.113.7")]) == (("203.0.113.7", 0), "http")


def test_x_forwarded_for_chain_skips_trusted_proxies_from_the_right() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.7, 10.0.0.3, 10.0.0.2")]
    assert resolve(headers) == (("203.0.113.7", 0), "http")


def test_x_forwarded_for_chain_stops_at_the_first_untrusted_address() -> None:
    # The leftmost entry came from the client itself: a lie the walk never reaches.
    headers = [(b"x-forwarded-for", b"1.1.1.1, 198.51.100.9, 10.0.0.2")]
    assert resolve(headers) == (("198.51.100.9", 0), "http")


def test_x_forwarded_for_chain_of_trusted_proxies_only_gives_the_leftmost() -> None:
    headers = [(b"x-forwarded-for", b"10.0.0.5, 10.0.0.4, 10.0.0.3")]
    assert resolve(headers) == (("10.0.0.5", 0), "http")


def test_trusting_every_proxy_gives_the_leftmost_address() -> None:
    config = Config(app="app:app", forwarded_allow_ips=("*",))
    headers = [(b"x-forwarded-for", b"1.1.1.1, 198.51.100.9")]
    assert resolve(headers, config=config) == (("1.1.1.1", 0), "http")


def test_x_forwarded_for_repeated_lines_form_one_list() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-for", b"10.0.0.2")]
    assert resolve(headers) == (("203.0.113.7", 0), "http")


def test_x_forwarded_for_ipv4_with_port_keeps_the_port() -> None:
    assert resolve([(b"x-forwarded-for", b"203.0.113.7:5555")]) == (("203.0.113.7", 5555), "http")


@pytest.mark.parametrize(
    ("value", "client"),
    [
        (b"2001:DB8::1", ("2001:db8::1", 0)),
        (b"[2001:db8::1]", ("2001:db8::1", 0)),
        (b"[2001:db8::1]:8443", ("2001:db8::1", 8443)),
    ],
)
def test_x_forwarded_for_ipv6_bare_or_in_brackets_is_normalised(
    value: bytes, client: tuple[str, int]
) -> None:
    assert resolve([(b"x-forwarded-for", value)]) == (client, "http")


def test_x_forwarded_for_skips_trusted_ipv6_proxies() -> None:
    headers = [(b"x-forwarded-for", b"2001:db8::1, fd00::2")]
    assert resolve(headers) == (("2001:db8::1", 0), "http")


@pytest.mark.parametrize("value", [b"", b"not-an-ip", b"203.0.113.7, ", b"1.2.3.4:99999", b"[::1"])
def test_x_forwarded_for_garbage_at_the_chosen_hop_is_ignored(value: bytes) -> None:
    assert resolve([(b"x-forwarded-for", value)]) == (PEER, "http")


def test_x_forwarded_for_garbage_left_of_the_chosen_hop_does_not_matter() -> None:
    headers = [(b"x-forwarded-for", b"<script>, 203.0.113.7")]
    assert resolve(headers) == (("203.0.113.7", 0), "http")


def test_x_forwarded_for_unknown_hides_the_client() -> None:
    assert resolve([(b"x-forwarded-for", b"unknown, 10.0.0.2")]) == (None, "http")


@pytest.mark.parametrize(
    ("value", "scheme"),
    [(b"https", "https"), (b"HTTPS", "https"), (b" http ", "http"), (b"wss", "wss"), (b"ws", "ws")],
)
def test_x_forwarded_proto_sets_the_scheme_in_lowercase(value: bytes, scheme: str) -> None:
    assert resolve([(b"x-forwarded-proto", value)]) == (PEER, scheme)


@pytest.mark.parametrize("value", [b"ftp", b"", b"https:", b"javascript"])
def test_x_forwarded_proto_other_than_http_https_ws_wss_is_ignored(value: bytes) -> None:
    assert resolve([(b"x-forwarded-proto", value)], scheme="https") == (PEER, "https")


def test_x_forwarded_for_and_proto_together() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_x_forwarded_proto_list_aligned_with_the_chain_takes_the_chosen_hops_scheme() -> None:
    headers = [
        (b"x-forwarded-for", b"1.1.1.1, 203.0.113.7, 10.0.0.2"),
        (b"x-forwarded-proto", b"http, https, http"),
    ]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_x_forwarded_proto_list_not_aligned_with_the_chain_takes_the_rightmost() -> None:
    headers = [
        (b"x-forwarded-for", b"203.0.113.7, 10.0.0.2"),
        (b"x-forwarded-proto", b"http, https, wss"),
    ]
    assert resolve(headers) == (("203.0.113.7", 0), "wss")


def test_x_forwarded_proto_list_without_a_chain_takes_the_rightmost() -> None:
    assert resolve([(b"x-forwarded-proto", b"http, https")]) == (PEER, "https")


# --- Forwarded (RFC 7239) --------------------------------------------------------------------


def test_forwarded_for_and_proto() -> None:
    headers = [(b"forwarded", b"for=203.0.113.7;proto=https;by=10.0.0.1")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_parameter_names_are_case_insensitive() -> None:
    headers = [(b"forwarded", b"For=203.0.113.7;PROTO=HTTPS")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_quoted_ipv6_with_port() -> None:
    headers = [(b"forwarded", b'for="[2001:db8:cafe::17]:4711"')]
    assert resolve(headers) == (("2001:db8:cafe::17", 4711), "http")


def test_forwarded_quoted_ipv4_with_port() -> None:
    headers = [(b"forwarded", b'for="192.0.2.43:47011";proto=http')]
    assert resolve(headers, scheme="https") == (("192.0.2.43", 47011), "http")


def test_forwarded_quoted_value_with_quoted_pairs() -> None:
    headers = [(b"forwarded", b'for="\\203.0.113.7";proto="ht\\tps"')]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_chain_skips_trusted_proxies_and_takes_that_elements_proto() -> None:
    headers = [(b"forwarded", b"for=1.1.1.1;proto=http, for=203.0.113.7;proto=https, for=10.0.0.2")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_repeated_lines_form_one_list() -> None:
    headers = [(b"forwarded", b"for=203.0.113.7;proto=https"), (b"forwarded", b"for=10.0.0.2")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_allows_whitespace_and_empty_elements_and_pairs() -> None:
    headers = [(b"forwarded", b" , for=203.0.113.7;;proto=https ,, for=10.0.0.2 ")]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_forwarded_without_for_keeps_the_client_and_sets_the_scheme() -> None:
    assert resolve([(b"forwarded", b"proto=https;host=example.com")]) == (PEER, "https")


def test_forwarded_element_without_proto_keeps_the_scheme() -> None:
    assert resolve([(b"forwarded", b"for=203.0.113.7")], scheme="https") == (
        ("203.0.113.7", 0),
        "https",
    )


@pytest.mark.parametrize("node", [b"unknown", b"UNKNOWN", b"_hidden", b'"_hidden:_port"'])
def test_forwarded_unknown_or_obfuscated_client_hides_the_client(node: bytes) -> None:
    headers = [(b"forwarded", b"for=" + node + b";proto=https")]
    assert resolve(headers) == (None, "https")


def test_forwarded_obfuscated_node_trusted_by_a_wildcard_is_skipped() -> None:
    config = Config(app="app:app", forwarded_allow_ips=("*",))
    headers = [(b"forwarded", b"for=203.0.113.7, for=_edge")]
    assert resolve(headers, config=config) == (("203.0.113.7", 0), "http")


def test_forwarded_unquoted_ipv6_in_brackets_is_read_leniently() -> None:
    headers = [(b"forwarded", b"for=[2001:db8::1]")]
    assert resolve(headers) == (("2001:db8::1", 0), "http")


def test_forwarded_obfuscated_port_becomes_0() -> None:
    headers = [(b"forwarded", b'for="203.0.113.7:_abc"')]
    assert resolve(headers) == (("203.0.113.7", 0), "http")


def test_forwarded_wins_over_x_forwarded_headers() -> None:
    headers = [
        (b"x-forwarded-for", b"198.51.100.9"),
        (b"x-forwarded-proto", b"http"),
        (b"forwarded", b"for=203.0.113.7;proto=https"),
    ]
    assert resolve(headers) == (("203.0.113.7", 0), "https")


def test_unparsable_forwarded_is_ignored_and_x_forwarded_headers_are_not_used() -> None:
    headers = [
        (b"forwarded", b'for="203.0.113.7'),
        (b"x-forwarded-for", b"198.51.100.9"),
        (b"x-forwarded-proto", b"https"),
    ]
    assert resolve(headers) == (PEER, "http")


def test_client_controlled_unterminated_quote_cannot_take_over_the_proxys_element() -> None:
    # The client sent `Forwarded: for="1.1.1.1`; the proxy appended its own element.
    headers = [(b"forwarded", b'for="1.1.1.1, for="203.0.113.7"')]
    assert resolve(headers) == (PEER, "http")


@pytest.mark.parametrize(
    "value",
    [
        b"for",
        b"for=",
        b"for=203.0.113.7 proto=https",
        b"for=203.0.113.7;for=198.51.100.9",
        b'for="203.0.113.7"x',
        b'for="2001:db8::1]:80"',
        b'for="[2001:db8::1]80"',
        b'for="[203.0.113.7]"',
        b'for="203.0.113.7:65536"',
        b'for="203.0.113.7:port"',
        b"for=_",
        b"for=some.host.name",
        b"=203.0.113.7",
    ],
)
def test_forwarded_garbage_is_ignored(value: bytes) -> None:
    assert resolve([(b"forwarded", value)], scheme="https") == (PEER, "https")


def test_a_missing_peer_address_is_replaced_by_the_headers_client() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.7")]
    assert resolve_proxy(headers, None, "http", CONFIG) == (("203.0.113.7", 0), "http")


# --- never an exception ----------------------------------------------------------------------

PROXY_HEADER_NAMES = st.sampled_from([b"forwarded", b"x-forwarded-for", b"x-forwarded-proto"])
HEADER_VALUES = st.one_of(
    st.binary(max_size=80),
    # Values built from the characters that matter to the parsers hit the deeper branches.
    st.text(alphabet='fortpsunkwh_=;,"\\[]:. 0123456789abcdef', max_size=80).map(str.encode),
)


@given(
    headers=st.lists(st.tuples(PROXY_HEADER_NAMES, HEADER_VALUES), max_size=4),
    scheme=st.sampled_from(["http", "https"]),
    trust_all=st.booleans(),
)
def test_any_header_values_give_a_client_of_the_right_shape_and_a_known_scheme(
    headers: Headers, scheme: str, trust_all: bool
) -> None:
    config = Config(app="app:app", forwarded_allow_ips=("*",)) if trust_all else CONFIG
    client, new_scheme = resolve_proxy(headers, PEER, scheme, config)
    assert client is None or (
        isinstance(client, tuple)
        and len(client) == 2
        and isinstance(client[0], str)
        and client[0]
        and isinstance(client[1], int)
        and 0 <= client[1] <= 65535
    )
    assert new_scheme in {"http", "https", "ws", "wss"}
