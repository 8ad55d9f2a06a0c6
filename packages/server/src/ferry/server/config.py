"""Config: every option of the server, with its default and its unit.

A `Config` is a frozen value. `ferry serve` builds one from the command line and the
`FERRY_*` environment; `ferry.server.run(app, **options)` builds one from keyword arguments.
Options are checked when the `Config` is made, so a bad value fails at start-up and the
error names the option.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ferry.server.types import ASGIApplication

LifespanMode = Literal["auto", "on", "off"]
LoopName = Literal["auto", "asyncio", "uvloop"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
WebSocketMode = Literal["auto", "none", "wsproto"]

KIB = 1024
MIB = 1024 * KIB


class ConfigError(ValueError):
    """An option has a value the server cannot use; the message names the option."""


@dataclass(frozen=True, slots=True)
class Config:
    """Every server option, with its default.

    `app` is an ASGI application, or an import string `"module:attr"` that the server
    imports at start-up (required for `workers > 1` and `reload`).

    Raises:
        ConfigError: an option is out of range or inconsistent with another.

    Example:
        >>> Config(app="hello:app", port=0, timeout_keep_alive_s=2.0).port
        0
    """

    app: ASGIApplication | str
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    factory: bool = False
    app_dir: str | None = "."  # like uvicorn: modules in the current directory import
    workers: int = 1
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    lifespan: LifespanMode = "auto"
    root_path: str = ""
    proxy_headers: bool = True
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    limit_concurrency: int | None = None
    limit_max_requests: int | None = None
    backlog: int = 2048
    timeout_keep_alive_s: float = 5.0
    timeout_header_s: float = 10.0
    timeout_graceful_shutdown_s: float = 30.0
    max_header_bytes: int = 16 * KIB
    max_body_bytes: int = 10 * MIB
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile_password: str | None = None
    loop: LoopName = "auto"
    log_level: LogLevel = "info"
    access_log: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    server_header: bool = True
    date_header: bool = True
    # Report each request's waypoints (accept ... finish); see trace.py.
    trace: bool = False
    # WebSockets: "none" leaves upgrade requests to the app as plain HTTP; "auto" and
    # "wsproto" both speak RFC 6455 on wsproto. A ping interval or timeout of 0 is off.
    ws: WebSocketMode = "auto"
    ws_max_size_bytes: int = 16 * MIB
    ws_max_queue: int = 32
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    ws_per_message_deflate: bool = True
    # Buffer sizes for flow control (not command-line options): stop reading a request
    # body once this much is waiting for the app; the transport's write buffer limit.
    read_high_water_bytes: int = 64 * KIB
    write_high_water_bytes: int = 64 * KIB
    # Networks parsed from forwarded_allow_ips, filled in by __post_init__.
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    trust_all_proxies: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_positive("port", self.port, allow_zero=True)
        if self.port > 65535:
            raise ConfigError(f"port: {self.port} is not a TCP port (0-65535)")
        _check_positive("workers", self.workers)
        _check_positive("backlog", self.backlog)
        _check_positive("max_header_bytes", self.max_header_bytes)
        _check_positive("max_body_bytes", self.max_body_bytes, allow_zero=True)
        if self.limit_concurrency is not None:
            _check_positive("limit_concurrency", self.limit_concurrency)
        if self.limit_max_requests is not None:
            _check_positive("limit_max_requests", self.limit_max_requests)
        for name in ("timeout_keep_alive_s", "timeout_header_s", "timeout_graceful_shutdown_s"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"{name}: must be a positive, finite number of seconds")
        _check_positive("ws_max_size_bytes", self.ws_max_size_bytes)
        _check_positive("ws_max_queue", self.ws_max_queue)
        for name in ("ws_ping_interval_s", "ws_ping_timeout_s"):
            value = getattr(self, name)
            if not value >= 0 or value == float("inf"):
                raise ConfigError(f"{name}: must be a non-negative, finite number of seconds")
        if self.ws not in ("auto", "none", "wsproto"):
            raise ConfigError(f"ws: {self.ws!r} is not one of auto, none, wsproto")
        if self.lifespan not in ("auto", "on", "off"):
            raise ConfigError(f"lifespan: {self.lifespan!r} is not one of auto, on, off")
        if self.loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError(f"loop: {self.loop!r} is not one of auto, asyncio, uvloop")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError("root_path: must start with '/' and not end with '/'")
        if (self.workers > 1 or self.reload) and not isinstance(self.app, str):
            raise ConfigError("app: workers > 1 and reload need the app as an import string")
        if bool(self.ssl_keyfile) != bool(self.ssl_certfile):
            raise ConfigError("ssl_keyfile and ssl_certfile: give both or neither")
        for name, value in self.headers:
            if not _is_header(name, value):
                raise ConfigError(f"headers: {name!r}: {value!r} is not a valid header")
            if name.lower() in _FRAMING_HEADERS:
                raise ConfigError(f"headers: {name!r} is set by the server for each response")
        networks = []
        trust_all = False
        for entry in self.forwarded_allow_ips:
            entry = entry.strip()
            if entry == "*":
                trust_all = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(
                    f"forwarded_allow_ips: {entry!r} is not an IP address or network"
                ) from None
        object.__setattr__(self, "trusted_networks", tuple(networks))
        object.__setattr__(self, "trust_all_proxies", trust_all)

    @property
    def is_ssl(self) -> bool:
        """True when the server terminates TLS itself."""
        return self.ssl_certfile is not None

    def create_ssl_context(self) -> ssl.SSLContext | None:
        """The server-side TLS context, or None without TLS.

        Raises:
            ConfigError: the certificate or key cannot be loaded.
        """
        if self.ssl_certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(
                self.ssl_certfile, self.ssl_keyfile, password=self.ssl_keyfile_password
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ssl_certfile/ssl_keyfile: cannot load: {exc}") from None
        return context

    def is_trusted_proxy(self, host: str | None) -> bool:
        """True when proxy headers from a peer at `host` may set client and scheme."""
        if not self.proxy_headers or host is None:
            return False
        if self.trust_all_proxies:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            # A peer without an IP address (a Unix socket) is trusted only through "*".
            return False
        return any(address in network for network in self.trusted_networks)


# RFC 9110 §5.1 field-name (a token) and §5.5 field-value (visible Latin-1 text, with
# inner spaces and tabs, no leading or trailing whitespace).
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VISIBLE = r"\x21-\x7e\x80-\xff"
_FIELD_VALUE = re.compile(rf"([{_VISIBLE}]([\x20\x09{_VISIBLE}]*[{_VISIBLE}])?)?")


# Headers that frame the message: h11 decides them per response, so no default may set them.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def _is_header(name: str, value: str) -> bool:
    return bool(_FIELD_NAME.fullmatch(name) and _FIELD_VALUE.fullmatch(value))


def _check_positive(name: str, value: int, *, allow_zero: bool = False) -> None:
    if type(value) is not int or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(
            f"{name}: {value!r} must be a {'non-negative' if allow_zero else 'positive'} integer"
        )


def parse_header_option(text: str) -> tuple[str, str]:
    """Split one `--header NAME:VALUE` option.

    Raises:
        ConfigError: there is no colon, or the name is empty.
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"header: {text!r} is not NAME:VALUE")
    return name.strip(), value.strip()


def split_networks(text: str | Sequence[str]) -> tuple[str, ...]:
    """Split a comma-separated `--forwarded-allow-ips` value into entries."""
    if isinstance(text, str):
        text = text.split(",")
    return tuple(entry.strip() for entry in text if entry.strip())
