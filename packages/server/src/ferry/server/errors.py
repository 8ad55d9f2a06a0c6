"""The server's exceptions and the canned responses that protocol errors imply.

    ServerError
    ├── StartupError              the server cannot start: exit non-zero, one-line reason
    │   ├── ImportFromStringError     "module:attr" cannot be imported or found
    │   └── LifespanStartupError      the app reported lifespan.startup.failed
    ├── ASGIProtocolError         the app sent a message out of order or malformed
    └── ClientDisconnected        (also an OSError) send() after the client went away

A protocol error from the client never leaves the server as an exception: the connection
answers it with one of the canned responses below (400, 408, 413, 431, 500, 503) and closes.
"""

from __future__ import annotations

from http import HTTPStatus


class ServerError(Exception):
    """Base class of every exception the server raises."""


class StartupError(ServerError):
    """The server cannot start; the message is the one-line reason printed on exit."""


class ImportFromStringError(StartupError):
    """An app import string ("module:attr") could not be resolved."""


class LifespanStartupError(StartupError):
    """The app answered `lifespan.startup.failed`, or raised during start-up."""


class ASGIProtocolError(ServerError, RuntimeError):
    """The app broke the ASGI message protocol; the message names what was expected."""


class ClientDisconnected(ServerError, OSError):
    """The app called `send()` after the client disconnected (ASGI HTTP spec 2.4)."""


def canned_response(status: int, detail: str | None = None, *, date: bytes | None = None) -> bytes:
    """A complete HTTP/1.1 response with a short plain-text body that closes the connection.

    Used where no app is involved (a malformed request, a timeout, a limit) or where the
    app failed before it started its response.
    """
    phrase = HTTPStatus(status).phrase
    body = (detail or phrase).encode("utf-8", "replace") + b"\n"
    head = [
        b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii")),
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    if date is not None:
        head.append(b"date: " + date + b"\r\n")
    return b"".join(head) + b"\r\n" + body
