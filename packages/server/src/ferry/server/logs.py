"""The server's two loggers, their set-up, and the access log line.

    ferry.error    start-up, shutdown, app exceptions, warnings: everything but access lines
    ferry.access   one line per response: `format_access_line()`; one per WebSocket
                   handshake: `format_websocket_line()`

`configure_logging()` gives each its own handler to stderr and stops them from propagating,
so an app that configures the root logger does not print every line twice; the root logger
itself is left alone. Values that come from the client are escaped before they are logged,
so a request cannot forge a log line (CWE-117).
"""

from __future__ import annotations

import logging
import sys

from ferry.server.config import ConfigError

TRACE = 5
"""A level below DEBUG for `--log-level trace`: per-connection and per-event detail."""

logging.addLevelName(TRACE, "TRACE")

access_logger = logging.getLogger("ferry.access")
error_logger = logging.getLogger("ferry.error")

_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}
_FORMAT = "%(levelname)-8s %(message)s"
# Above every level: the access logger then reports isEnabledFor(INFO) as False, and the
# server skips formatting the line altogether.
_SILENT = logging.CRITICAL + 1


class _StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time of the record (as logging.lastResort).

    Looking it up late keeps the handler right when stderr is replaced after set-up, by a
    test runner's capture or a daemonising wrapper.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_logging(level: str, access_log: bool) -> None:
    """Set the level of the "ferry.error" and "ferry.access" loggers and send them to stderr.

    `level` is one of critical, error, warning, info, debug, trace (level 5, "TRACE"). With
    `access_log` false, or a level above info, no access lines are written. Calling it again
    changes the levels and adds no second handler. The root logger is not touched.

    Raises:
        ConfigError: `level` is not one of the names above.
    """
    try:
        numeric_level = _LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(f"log_level: {level!r} is not one of {', '.join(_LEVELS)}") from None
    for logger in (error_logger, access_logger):
        if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
        logger.propagate = False
    error_logger.setLevel(numeric_level)
    access_logger.setLevel(numeric_level if access_log else _SILENT)


def format_access_line(
    client: tuple[str, int] | None,
    method: str,
    path: str,
    query_string: bytes,
    http_version: str,
    status: int,
    response_bytes: int,
    duration_ms: float,
) -> str:
    """One access log line, with every value from the client escaped.

    Control characters (CR, LF, ESC, DEL, ...), other non-printable characters, `"` and
    `\\` become `\\xNN` (`\\uNNNN` above 0xFF), so the line stays one line and its quotes
    stay where the server put them. A client of None (a Unix socket peer) is shown as "-".

    Example:
        >>> format_access_line(("127.0.0.1", 50000), "GET", "/users", b"x=1", "1.1", 200, 13, 0.42)
        '127.0.0.1:50000 - "GET /users?x=1 HTTP/1.1" 200 13B 0.42ms'
    """
    peer, target = _peer_and_target(client, path, query_string)
    return (
        f'{peer} - "{_escape(method)} {target} HTTP/{_escape(http_version)}" '
        f"{status} {response_bytes}B {duration_ms:.2f}ms"
    )


def format_websocket_line(
    client: tuple[str, int] | None,
    path: str,
    query_string: bytes,
    status: int,
    outcome: str,
    duration_ms: float,
) -> str:
    """The access log line of a WebSocket handshake, escaped as `format_access_line()`'s.

    One line when the handshake is answered: 101 and "accepted", the denial response's
    status and "denied", 403 and "rejected" (closed before accepting), or 500 and "failed".
    The time is from the upgrade request to that answer.

    Example:
        >>> format_websocket_line(("127.0.0.1", 50000), "/ws", b"", 101, "accepted", 0.42)
        '127.0.0.1:50000 - "WebSocket /ws" 101 accepted 0.42ms'
    """
    peer, target = _peer_and_target(client, path, query_string)
    return f'{peer} - "WebSocket {target}" {status} {outcome} {duration_ms:.2f}ms'


def _peer_and_target(
    client: tuple[str, int] | None, path: str, query_string: bytes
) -> tuple[str, str]:
    if client is None:
        peer = "-"
    else:
        host = _escape(client[0])
        peer = f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"
    target = _escape(path)
    if query_string:
        target += "?" + _escape_bytes(query_string)
    return peer, target


def _escape(text: str) -> str:
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    if char.isprintable() and char not in '"\\':
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape_bytes(data: bytes) -> str:
    # The query string is raw bytes (ASGI HTTP spec: "query_string", still percent-encoded);
    # anything outside printable ASCII is shown as the byte it is.
    text = data.decode("latin-1")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(
        char if " " <= char <= "~" and char not in '"\\' else f"\\x{ord(char):02x}" for char in text
    )
