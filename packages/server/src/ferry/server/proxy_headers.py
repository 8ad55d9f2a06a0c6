"""resolve_proxy(): the client address and scheme reported by a trusted reverse proxy.

The server calls `resolve_proxy` only when the direct peer is a trusted proxy
(`Config.is_trusted_proxy`). Two families of headers are read:

    Forwarded           RFC 7239: `for=` and `proto=` of each forwarded-element
    X-Forwarded-For     the de facto pair: a list of client addresses,
    X-Forwarded-Proto   and the scheme the client used

When `Forwarded` is present it wins and `X-Forwarded-*` are ignored, even when `Forwarded`
cannot be parsed: a proxy that writes `Forwarded` may pass a client's `X-Forwarded-For` on
untouched, so falling back to it would let the client choose its own address.

Each proxy appends the address of its peer, so the list is read from the right (the nearest
hop). Addresses of trusted proxies are skipped; the first one that is not trusted is the client
(everything to its left was written by someone we do not trust). When every hop is trusted the
leftmost is the client. The port is 0 when the header gives none (or an obfuscated one).

The nodes "unknown" and obfuscated identifiers like "_hidden" (RFC 7239 section 6.2, 6.3)
say that the proxy hides the client's address: the client becomes None, as ASGI's scope
"client" is an IP address or None. A value that cannot be parsed is ignored: the client or
scheme stays what it was. This function never raises.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ferry.server.config import Config

_FORWARDED = b"forwarded"
_X_FORWARDED_FOR = b"x-forwarded-for"
_X_FORWARDED_PROTO = b"x-forwarded-proto"
_PROXY_HEADERS = frozenset({_FORWARDED, _X_FORWARDED_FOR, _X_FORWARDED_PROTO})

# The server maps http/https to ws/wss for WebSocket scopes itself.
_SCHEMES = frozenset({"http", "https", "ws", "wss"})

# RFC 7239 section 4:
#   forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
#   forwarded-pair    = token "=" value
#   value             = token / quoted-string
# with token and quoted-string from RFC 9110 section 5.6.2 and 5.6.4. Optional whitespace is
# allowed around pairs (RFC 9110 section 5.6.1 for the list's commas). A token value is read
# leniently (any run of visible characters other than ; , and "), because the node parser
# below checks every value anyway. The pair itself is optional: "for=a;;proto=b" and ", ,"
# are allowed by the grammar.
_PAIR = re.compile(
    r"""[ \t]*(?:([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^\s;,"]*))?[ \t]*""",
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)

# RFC 7239 section 6.3: obfnode = "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ), and obfport alike.
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")
# RFC 7239 section 6: port = 1*5DIGIT.
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class _Node:
    """One hop of a chain: an IP address and port, or a name that hides the address."""

    host: str  # a normalised IP address, or "unknown", or an obfuscated identifier
    port: int
    is_address: bool


def resolve_proxy(
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    scheme: str,
    config: Config,
) -> tuple[tuple[str, int] | None, str]:
    """Return the `(client, scheme)` that the proxy headers report, or the ones given.

    `headers` are the request's headers with lowercase names; `client` and `scheme` are those
    of the direct connection, whose peer the caller has found to be a trusted proxy. The
    scheme returned is lowercase and one of http, https, ws, wss. Never raises: a value that
    cannot be parsed is ignored.

    Example:
        >>> config = Config(app="app:app", forwarded_allow_ips=("10.0.0.0/8",))
        >>> resolve_proxy(
        ...     [(b"x-forwarded-for", b"203.0.113.7, 10.0.0.2"), (b"x-forwarded-proto", b"https")],
        ...     ("10.0.0.1", 41000), "http", config,
        ... )
        (('203.0.113.7', 0), 'https')
    """
    forwarded: bytes | None = None
    forwarded_for: bytes | None = None
    forwarded_proto: bytes | None = None
    # One pass; almost every request has none of these headers.
    for name, value in headers:
        if name in _PROXY_HEADERS:
            # RFC 9110 section 5.3: repeated field lines combine into one comma-separated list.
            if name == _FORWARDED:
                forwarded = value if forwarded is None else forwarded + b"," + value
            elif name == _X_FORWARDED_FOR:
                forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
            else:
                forwarded_proto = (
                    value if forwarded_proto is None else forwarded_proto + b"," + value
                )
    if forwarded is not None:
        return _from_forwarded(forwarded.decode("latin-1"), client, scheme, config)
    if forwarded_for is None and forwarded_proto is None:
        return client, scheme
    return _from_x_forwarded(forwarded_for, forwarded_proto, client, scheme, config)


def _from_forwarded(
    text: str, client: tuple[str, int] | None, scheme: str, config: Config
) -> tuple[tuple[str, int] | None, str]:
    elements = _parse_forwarded(text)
    if not elements:
        return client, scheme
    index, node = _choose_hop([element.get("for") for element in elements], config)
    # The proto= of the chosen element is the scheme that client used to reach the first
    # proxy we trust (RFC 7239 section 5.4).
    return _client_of(node, client), _scheme_of(elements[index].get("proto"), scheme)


def _from_x_forwarded(
    forwarded_for: bytes | None,
    forwarded_proto: bytes | None,
    client: tuple[str, int] | None,
    scheme: str,
    config: Config,
) -> tuple[tuple[str, int] | None, str]:
    protos = forwarded_proto.decode("latin-1").split(",") if forwarded_proto is not None else []
    if forwarded_for is None:
        # Without a chain, the rightmost value is the one our trusted peer set.
        return client, _scheme_of(protos[-1], scheme)
    hops = forwarded_for.decode("latin-1").split(",")
    index, node = _choose_hop(hops, config)
    if not protos:
        proto = None
    elif len(protos) == len(hops):
        # Proxies that append to both lists keep them aligned: take the chosen hop's scheme.
        proto = protos[index]
    else:
        proto = protos[-1]
    return _client_of(node, client), _scheme_of(proto, scheme)


def _parse_forwarded(text: str) -> list[dict[str, str]] | None:
    """The forwarded-elements of a Forwarded value, or None when it does not parse."""
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position = 0
    while True:
        match = _PAIR.match(text, position)
        assert match is not None  # every part of the pattern is optional
        position = match.end()
        if match[1] is not None:
            name = match[1].lower()
            # RFC 7239 section 4: a parameter MUST NOT occur more than once per element;
            # which one to believe would be a guess.
            if name in element:
                return None
            element[name] = _unquote(match[2])
        if position == len(text) or text[position] == ",":
            if element:
                elements.append(element)
            if position == len(text):
                return elements
            element = {}
        elif text[position] != ";":
            return None
        position += 1


def _unquote(value: str) -> str:
    if value.startswith('"'):
        # RFC 9110 section 5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def _choose_hop(hops: Sequence[str | None], config: Config) -> tuple[int, _Node | None]:
    """Walk from the nearest hop; stop at the first that is not a trusted proxy.

    Returns its index and its parsed node (None when missing or unparsable: a hop we cannot
    read cannot be trusted either, and everything to its left is out of our hands).
    """
    index = len(hops) - 1
    node = _parse_node(hops[index])
    while index > 0 and node is not None and config.is_trusted_proxy(node.host):
        index -= 1
        node = _parse_node(hops[index])
    return index, node


def _parse_node(text: str | None) -> _Node | None:
    """One node of RFC 7239 section 6, or an X-Forwarded-For entry; None if unparsable.

        node     = nodename [ ":" node-port ]
        nodename = IPv4address / "[" IPv6address "]" / "unknown" / obfnode

    X-Forwarded-For entries also come as bare IPv6 addresses, without brackets or port.
    """
    if text is None:
        return None
    text = text.strip()
    bracketed = text.startswith("[")
    port_text: str | None = None
    if bracketed:
        name, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif text.count(":") == 1:
        name, _, port_text = text.partition(":")
    else:
        name = text

    port = 0
    if port_text is not None:
        if _PORT.fullmatch(port_text) and int(port_text) <= 65535:
            port = int(port_text)
        elif not _OBFUSCATED.fullmatch(port_text):
            return None

    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        if bracketed and address.version != 6:
            return None
        return _Node(str(address), port, is_address=True)
    if not bracketed and (name.lower() == "unknown" or _OBFUSCATED.fullmatch(name)):
        return _Node(name, port, is_address=False)
    return None


def _client_of(node: _Node | None, client: tuple[str, int] | None) -> tuple[str, int] | None:
    if node is None:
        return client
    if not node.is_address:
        return None
    return (node.host, node.port)


def _scheme_of(proto: str | None, scheme: str) -> str:
    if proto is None:
        return scheme
    proto = proto.strip().lower()
    return proto if proto in _SCHEMES else scheme
