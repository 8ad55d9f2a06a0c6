"""ferry.server: an ASGI server for HTTP/1.1 (plain heads read by Ferry, others by h11).

Run any ASGI 3 application from the command line with `ferry serve MODULE:ATTR`, or embed it:

    from ferry.server import run
    run("hello:app", port=8000)

or, inside a running event loop, `await Server(Config(app=app)).serve()`.
"""

from ferry.server.config import Config, ConfigError
from ferry.server.errors import (
    ASGIProtocolError,
    ClientDisconnected,
    ImportFromStringError,
    LifespanStartupError,
    ServerError,
    StartupError,
)
from ferry.server.server import Server, run

__version__ = "0.1.0"

__all__ = [
    "ASGIProtocolError",
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "ImportFromStringError",
    "LifespanStartupError",
    "Server",
    "ServerError",
    "StartupError",
    "__version__",
    "run",
]
