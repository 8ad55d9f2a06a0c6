"""Middleware: each class wraps an app and is itself an ASGI app.

`Middleware(cls, ...)` holds a class and its arguments until the app builds its stack.
"""

from ferry.asgi.middleware.base import Middleware
from ferry.asgi.middleware.cors import CORSMiddleware
from ferry.asgi.middleware.errors import ServerErrorMiddleware
from ferry.asgi.middleware.exceptions import ExceptionMiddleware
from ferry.asgi.middleware.gzip import GZipMiddleware
from ferry.asgi.middleware.http import HTTPMiddleware
from ferry.asgi.middleware.httpsredirect import HTTPSRedirectMiddleware
from ferry.asgi.middleware.sessions import SessionMiddleware
from ferry.asgi.middleware.trusted_host import TrustedHostMiddleware

__all__ = [
    "CORSMiddleware",
    "ExceptionMiddleware",
    "GZipMiddleware",
    "HTTPMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "ServerErrorMiddleware",
    "SessionMiddleware",
    "TrustedHostMiddleware",
]
