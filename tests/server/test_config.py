"""Config: each check made when a Config is built, trusted proxies, option parsing and TLS."""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from ferry.server.config import Config, ConfigError, parse_header_option, split_networks
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Scope


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """An app object rather than an import string."""


def make_config(**options: Any) -> Config:
    return Config(app="x:y", **options)


# --- defaults --------------------------------------------------------------------------------


def test_defaults_make_a_valid_config() -> None:
    config = make_config()
    assert config.port == 8000
    assert config.max_body_bytes == 10 * 1024 * 1024
    assert config.trusted_networks == (ipaddress.ip_network("127.0.0.1/32"),)
    assert not config.trust_all_proxies
    assert not config.is_ssl


def test_config_is_frozen() -> None:
    config = make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 9000  # type: ignore[misc]


# --- every check names its option ------------------------------------------------------------

_INVALID: list[tuple[str, dict[str, Any]]] = [
    ("port", {"port": -1}),
    ("port", {"port": 65536}),
    ("port", {"port": "8000"}),
    ("port", {"port": 80.0}),
    ("workers", {"workers": 0}),
    ("workers", {"workers": -2}),
    ("backlog", {"backlog": 0}),
    ("max_header_bytes", {"max_header_bytes": 0}),
    ("max_body_bytes", {"max_body_bytes": -1}),
    ("limit_concurrency", {"limit_concurrency": 0}),
    ("limit_max_requests", {"limit_max_requests": 0}),
    ("timeout_keep_alive_s", {"timeout_keep_alive_s": 0}),
    ("timeout_keep_alive_s", {"timeout_keep_alive_s": -1.0}),
    ("timeout_header_s", {"timeout_header_s": float("inf")}),
    ("timeout_header_s", {"timeout_header_s": float("nan")}),
    ("timeout_graceful_shutdown_s", {"timeout_graceful_shutdown_s": 0.0}),
    ("lifespan", {"lifespan": "sometimes"}),
    ("loop", {"loop": "trio"}),
    ("root_path", {"root_path": "api"}),
    ("root_path", {"root_path": "/api/"}),
    ("root_path", {"root_path": "/"}),
    ("app", {"app": app, "workers": 2}),
    ("app", {"app": app, "reload": True}),
    ("ssl_keyfile and ssl_certfile", {"ssl_keyfile": "key.pem"}),
    ("ssl_keyfile and ssl_certfile", {"ssl_certfile": "cert.pem"}),
    ("headers", {"headers": (("", "value"),)}),
    ("headers", {"headers": (("X-Note", "a\r\nSet-Cookie: x=1"),)}),
    ("headers", {"headers": (("X-Note", "a\nb"),)}),
    ("headers", {"headers": (("X-Note", "a\0b"),)}),
    ("headers", {"headers": (("X:Note", "value"),)}),
    ("forwarded_allow_ips", {"forwarded_allow_ips": ("not-an-address",)}),
    ("forwarded_allow_ips", {"forwarded_allow_ips": ("10.0.0.0/33",)}),
]


@pytest.mark.parametrize(
    ("option", "options"),
    _INVALID,
    ids=[f"{option}={next(iter(options.values()))!r}" for option, options in _INVALID],
)
def test_invalid_option_is_refused_naming_the_option(option: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        Config(**{"app": "x:y", **options})
    assert str(info.value).startswith(f"{option}:")


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="port"):
        make_config(port=-1)


@pytest.mark.parametrize(
    "options",
    [
        {"port": 0},
        {"port": 65535},
        {"max_body_bytes": 0},
        {"root_path": ""},
        {"root_path": "/api/v1"},
        {"workers": 4},
        {"reload": True},
        {"limit_concurrency": 1, "limit_max_requests": 1},
        {"timeout_keep_alive_s": 0.001},
        {"headers": (("X-Powered-By", "ferry"),)},
        {"forwarded_allow_ips": ()},
    ],
    ids=lambda options: ",".join(f"{key}={value!r}" for key, value in options.items()),
)
def test_option_at_its_edge_is_accepted(options: dict[str, Any]) -> None:
    make_config(**options)


def test_app_object_is_accepted_with_one_worker_and_no_reload() -> None:
    assert Config(app=app).app is app


@pytest.mark.parametrize(
    "bad_header",
    [("X Note", "value"), ("X(Note)", "value"), ("X-Note", "€uro"), ("X-Note", " padded")],
    ids=["space-in-name", "parenthesis-in-name", "value-not-latin-1", "leading-space"],
)
def test_header_that_no_response_could_carry_is_refused_at_start_up(
    bad_header: tuple[str, str],
) -> None:
    with pytest.raises(ConfigError, match="headers"):
        make_config(headers=(bad_header,))


# --- trusted proxies -------------------------------------------------------------------------


def test_default_trusts_only_localhost() -> None:
    config = make_config()
    assert config.is_trusted_proxy("127.0.0.1")
    assert not config.is_trusted_proxy("127.0.0.2")
    assert not config.is_trusted_proxy("10.0.0.1")


def test_listed_addresses_are_trusted() -> None:
    config = make_config(forwarded_allow_ips=("10.0.0.1", "2001:db8::1"))
    assert config.is_trusted_proxy("10.0.0.1")
    assert config.is_trusted_proxy("2001:db8::1")
    assert config.is_trusted_proxy("2001:0db8:0:0:0:0:0:1")
    assert not config.is_trusted_proxy("10.0.0.2")


def test_networks_trust_every_address_inside_them() -> None:
    config = make_config(forwarded_allow_ips=("10.0.0.0/8", "fd00::/8"))
    assert config.is_trusted_proxy("10.255.1.2")
    assert config.is_trusted_proxy("fd12:3456::1")
    assert not config.is_trusted_proxy("11.0.0.1")
    assert not config.is_trusted_proxy("fe80::1")


def test_network_with_host_bits_set_is_accepted_as_its_network() -> None:
    config = make_config(forwarded_allow_ips=("192.168.1.77/24",))
    assert config.trusted_networks == (ipaddress.ip_network("192.168.1.0/24"),)
    assert config.is_trusted_proxy("192.168.1.3")


def test_entries_are_stripped_of_spaces() -> None:
    config = make_config(forwarded_allow_ips=(" 10.0.0.1 ",))
    assert config.is_trusted_proxy("10.0.0.1")


def test_star_trusts_every_peer_even_one_without_an_ip_address() -> None:
    config = make_config(forwarded_allow_ips=("*",))
    assert config.trust_all_proxies
    assert config.is_trusted_proxy("198.51.100.1")
    assert config.is_trusted_proxy("::1")
    assert config.is_trusted_proxy("")  # a Unix socket peer


def test_peer_without_an_ip_address_is_not_trusted_without_star() -> None:
    config = make_config(forwarded_allow_ips=("0.0.0.0/0", "::/0"))
    assert not config.is_trusted_proxy("")
    assert not config.is_trusted_proxy("unix:/tmp/ferry.sock")


def test_no_peer_is_never_trusted() -> None:
    assert not make_config(forwarded_allow_ips=("*",)).is_trusted_proxy(None)


def test_proxy_headers_off_trusts_no_one() -> None:
    config = make_config(proxy_headers=False, forwarded_allow_ips=("*", "127.0.0.1"))
    assert not config.is_trusted_proxy("127.0.0.1")
    assert not config.is_trusted_proxy("198.51.100.1")


def test_empty_list_trusts_no_one() -> None:
    assert not make_config(forwarded_allow_ips=()).is_trusted_proxy("127.0.0.1")


# --- parse_header_option and split_networks --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X-Powered-By:ferry", ("X-Powered-By", "ferry")),
        ("X-Powered-By: ferry ", ("X-Powered-By", "ferry")),
        (" X-Empty :", ("X-Empty", "")),
        ("X-Url: http://example.com:8080/", ("X-Url", "http://example.com:8080/")),
    ],
)
def test_header_option_splits_at_the_first_colon(text: str, expected: tuple[str, str]) -> None:
    assert parse_header_option(text) == expected


@pytest.mark.parametrize("text", ["X-Powered-By", "", ":value", "  : value"])
def test_header_option_without_a_colon_or_a_name_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^header: .* is not NAME:VALUE$"):
        parse_header_option(text)


def test_networks_split_at_commas_and_lose_spaces_and_empties() -> None:
    assert split_networks("10.0.0.0/8, 127.0.0.1,,  ::1 ,") == ("10.0.0.0/8", "127.0.0.1", "::1")


def test_networks_from_a_sequence_are_stripped_the_same_way() -> None:
    assert split_networks([" * ", "", "10.0.0.1"]) == ("*", "10.0.0.1")


def test_empty_networks_text_gives_no_entries() -> None:
    assert split_networks("") == ()


def test_split_networks_feed_config() -> None:
    config = make_config(forwarded_allow_ips=split_networks("10.0.0.0/8, 192.0.2.1"))
    assert config.is_trusted_proxy("192.0.2.1")


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate() -> trustme.LeafCert:
    return trustme.CA().issue_cert("localhost")


def write_certificate(certificate: trustme.LeafCert, directory: Path) -> tuple[str, str]:
    certfile = directory / "cert.pem"
    keyfile = directory / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in certificate.cert_chain_pems))
    keyfile.write_bytes(certificate.private_key_pem.bytes())
    return str(certfile), str(keyfile)


def test_without_a_certificate_there_is_no_ssl_context() -> None:
    config = make_config()
    assert not config.is_ssl
    assert config.create_ssl_context() is None


def test_certificate_and_key_make_a_server_ssl_context(
    certificate: trustme.LeafCert, tmp_path: Path
) -> None:
    certfile, keyfile = write_certificate(certificate, tmp_path)
    config = make_config(ssl_certfile=certfile, ssl_keyfile=keyfile)
    assert config.is_ssl
    context = config.create_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.protocol is ssl.PROTOCOL_TLS_SERVER


def test_encrypted_key_loads_with_its_password(
    certificate: trustme.LeafCert, tmp_path: Path
) -> None:
    certfile, keyfile = write_certificate(certificate, tmp_path)
    key = serialization.load_pem_private_key(certificate.private_key_pem.bytes(), password=None)
    Path(keyfile).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    good = make_config(ssl_certfile=certfile, ssl_keyfile=keyfile, ssl_keyfile_password="s3cret")
    assert isinstance(good.create_ssl_context(), ssl.SSLContext)
    bad = make_config(ssl_certfile=certfile, ssl_keyfile=keyfile, ssl_keyfile_password="wrong")
    with pytest.raises(ConfigError, match="ssl_certfile/ssl_keyfile: cannot load"):
        bad.create_ssl_context()


def test_missing_certificate_file_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(
        ssl_certfile=str(tmp_path / "missing.pem"), ssl_keyfile=str(tmp_path / "missing.key")
    )
    with pytest.raises(ConfigError, match="ssl_certfile/ssl_keyfile: cannot load"):
        config.create_ssl_context()


def test_file_that_is_not_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    config = make_config(ssl_certfile=str(garbage), ssl_keyfile=str(garbage))
    with pytest.raises(ConfigError, match="ssl_certfile/ssl_keyfile: cannot load"):
        config.create_ssl_context()


def test_key_that_does_not_match_the_certificate_is_a_config_error(
    certificate: trustme.LeafCert, tmp_path: Path
) -> None:
    certfile, _ = write_certificate(certificate, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_keyfile = write_certificate(trustme.CA().issue_cert("localhost"), other)
    config = make_config(ssl_certfile=certfile, ssl_keyfile=other_keyfile)
    with pytest.raises(ConfigError, match="ssl_certfile/ssl_keyfile: cannot load"):
        config.create_ssl_context()


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection"])
def test_a_default_header_may_not_frame_the_message(name: str) -> None:
    with pytest.raises(ConfigError, match="headers"):
        Config(app="x:y", headers=((name, "1"),))
