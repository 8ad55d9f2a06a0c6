"""Shared hypothesis strategies: HTTP/1.1 requests as bytes, valid and broken.

    request_lines()      b"GET /a%20b?x=1 HTTP/1.1\\r\\n"
    header_blocks()      the header lines (with Host) and the blank line that ends them
    requests()           a whole valid request, its body framed by Content-Length or chunked
    framed_requests()    the same, with the body it carries
    mutated_requests()   a valid request with bytes flipped, inserted, deleted or cut off
    raw_bytes()          anything at all, often with a CRLF or an HTTP-looking prefix
    in_pieces(data)      `data` split at random points, to be sent one write at a time

The grammar is RFC 9110 §5.6.2 (token), §5.5 (field-value) and RFC 9112 §3 (request-line).
"""

from __future__ import annotations

import string
from itertools import pairwise

from hypothesis import strategies as st

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
# "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
# RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
# RFC 9110 §5.5: field-vchar = VCHAR / obs-text; SP and HTAB may sit between them.
FIELD_VCHAR = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))

METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH")


def tokens(max_size: int = 12) -> st.SearchStrategy[bytes]:
    """An RFC 9110 token: a method or a field name."""
    return st.text(TCHAR, min_size=1, max_size=max_size).map(str.encode)


def methods() -> st.SearchStrategy[bytes]:
    """A common method, or any token (servers must accept extension methods)."""
    # CONNECT is left out: h11 treats it as a protocol switch, a case of its own.
    extension = tokens(8).map(bytes.upper).filter(lambda method: method != b"CONNECT")
    return st.one_of(st.sampled_from(METHODS), extension)


def percent_encoded() -> st.SearchStrategy[bytes]:
    return st.integers(0, 255).map(lambda byte: b"%%%02X" % byte)


def path_segments() -> st.SearchStrategy[bytes]:
    piece = st.one_of(st.text(PCHAR, min_size=1, max_size=6).map(str.encode), percent_encoded())
    return st.lists(piece, max_size=4).map(b"".join)


def targets() -> st.SearchStrategy[bytes]:
    """An origin-form request target: an absolute path and maybe a query."""
    path = st.lists(path_segments(), min_size=1, max_size=4).map(
        lambda parts: b"/".join([b"", *parts])
    )
    query = st.text(PCHAR + "/?", max_size=16).map(str.encode)
    return st.tuples(path, st.none() | query).map(
        lambda pair: pair[0] if pair[1] is None else pair[0] + b"?" + pair[1]
    )


def request_lines(http_versions: tuple[bytes, ...] = (b"1.1", b"1.0")) -> st.SearchStrategy[bytes]:
    """RFC 9112 §3: method SP request-target SP HTTP-version CRLF."""
    return st.builds(
        lambda method, target, version: method + b" " + target + b" HTTP/" + version + b"\r\n",
        methods(),
        targets(),
        st.sampled_from(http_versions),
    )


def field_values(max_size: int = 24) -> st.SearchStrategy[bytes]:
    """A field value: visible bytes with single spaces inside, none at either end."""
    words = st.binary(min_size=1, max_size=8).map(
        lambda raw: bytes(FIELD_VCHAR[byte % len(FIELD_VCHAR)] for byte in raw)
    )
    return st.lists(words, max_size=max(1, max_size // 8)).map(b" ".join)


# Framing and connection headers are chosen by requests(), never at random.
_RESERVED = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}


def header_fields(max_fields: int = 6) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """Extra header fields with names that do not change how the request is framed."""
    name = tokens(16).filter(lambda value: value.lower() not in _RESERVED)
    return st.lists(st.tuples(name, field_values()), max_size=max_fields)


def header_blocks(max_fields: int = 6) -> st.SearchStrategy[bytes]:
    """`Host` and some other fields, each "name: value" CRLF, then the empty line."""
    return st.tuples(field_values(16), header_fields(max_fields)).map(
        lambda pair: _header_block([(b"Host", pair[0] or b"test"), *pair[1]])
    )


def _header_block(fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in fields) + b"\r\n"


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    chunks = []
    position = 0
    for size in [*sizes, len(body)]:
        piece = body[position : position + max(size, 1)]
        if not piece:
            break
        chunks.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        position += len(piece)
    return b"".join(chunks) + b"0\r\n\r\n"


@st.composite
def framed_requests(draw: st.DrawFn, max_body_bytes: int = 256) -> tuple[bytes, bytes]:
    """One complete, valid request and its body (framed by Content-Length, chunked or none)."""
    line = draw(request_lines(http_versions=(b"1.1",)))
    fields = [(b"Host", b"test"), *draw(header_fields())]
    body = draw(st.binary(max_size=max_body_bytes))
    framing = draw(st.sampled_from(["none", "content-length", "chunked"]))
    if framing == "none":
        body = payload = b""
    elif framing == "content-length":
        fields.append((b"Content-Length", b"%d" % len(body)))
        payload = body
    else:
        fields.append((b"Transfer-Encoding", b"chunked"))
        payload = _chunked(body, draw(st.lists(st.integers(1, 64), max_size=4)))
    position = draw(st.integers(0, len(fields) - 1))
    fields.insert(position, fields.pop())  # the framing header need not come last
    return line + _header_block(fields) + payload, body


def requests(max_body_bytes: int = 256) -> st.SearchStrategy[bytes]:
    """One complete, valid request as bytes."""
    return framed_requests(max_body_bytes).map(lambda pair: pair[0])


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid request (or two, pipelined), then a few flips, inserts, deletes and a cut."""
    data = bytearray(b"".join(draw(st.lists(requests(), min_size=1, max_size=2))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            inserted = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=4),
                    st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"\r\n\r\n"]),
                )
            )
            data[at:at] = inserted
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def raw_bytes(max_size: int = 512) -> st.SearchStrategy[bytes]:
    """Anything, sometimes behind a plausible start so it reaches the header parser."""
    prefix = st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"POST / HTTP/1.1\r\nHost: t\r\n"])
    return st.tuples(prefix, st.binary(max_size=max_size)).map(b"".join)


@st.composite
def in_pieces(draw: st.DrawFn, data: bytes, max_pieces: int = 8) -> list[bytes]:
    """`data` cut at up to `max_pieces - 1` random points (every piece non-empty)."""
    if len(data) < 2:
        return [data] if data else []
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=max_pieces - 1, unique=True))
    points = [0, *sorted(cuts), len(data)]
    return [data[start:end] for start, end in pairwise(points)]
