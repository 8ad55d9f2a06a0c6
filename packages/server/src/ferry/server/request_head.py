"""read_request_head(): Ferry's own reader for plain HTTP/1.1 request heads.

Almost every request a server sees is plain: a whole head in the bytes already read, a
token method, an origin-form target, `HTTP/1.1`, one `Host`, CRLF line ends, at most a
`Content-Length` for framing. Such a head is read here in one regex match and one split,
which costs a small fraction of a full HTTP/1.1 state machine.

Everything else (a head still arriving, chunked bodies, HTTP/1.0, obs-fold, bare LF,
control characters, duplicate or odd framing headers, upgrades, CONNECT) is declined with
`None`, and `connection.py` hands the bytes to h11, which reads that request and answers
whatever is wrong with it. So this reader only ever accepts a subset of what h11 accepts,
and for that subset gives the same method, target and headers (names lowercased, values
without surrounding whitespace). A property test holds it to that.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# RFC 9110 §5.6.2 token; RFC 9112 §3.2 a target of visible ASCII; RFC 9112 §5 field lines
# whose values are visible ASCII, obs-text, spaces and tabs. The match ends at the empty
# line, so a head that has not fully arrived does not match.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_PLAIN_HEAD = re.compile(
    rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1\r\n"
    rb"((?:" + _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)

# Headers that decide framing or the fate of the connection in ways h11 handles best.
_DECLINED = frozenset({b"transfer-encoding", b"upgrade"})


class RequestHead(NamedTuple):
    """A plain request head, read whole."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    size: int  # bytes of the head, the empty line included
    content_length: int  # 0 when the request has no body (RFC 9112 §6.3)


def read_request_head(data: bytes) -> RequestHead | None:
    """Read the plain request head at the start of `data`, or decline with None."""
    match = _PLAIN_HEAD.match(data)
    if match is None:
        return None
    method, target, lines = match.groups()
    if method == b"CONNECT":
        return None
    headers: list[tuple[bytes, bytes]] = []
    content_length = -1
    hosts = 0
    for line in lines.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            # h11 refuses more than 20 digits; a repeated length is its call too.
            if content_length >= 0 or not value.isdigit() or len(value) > 20:
                return None
            content_length = int(value)
        elif name in _DECLINED:
            return None
        headers.append((name, value))
    if hosts != 1:
        return None  # h11 refuses a missing or repeated Host with 400
    return RequestHead(method, target, headers, match.end(), max(content_length, 0))
