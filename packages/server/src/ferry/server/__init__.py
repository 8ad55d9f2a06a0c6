"""ferry.server: an ASGI server for HTTP/1.1 on h11.

Run any ASGI 3 application from the command line with `ferry serve MODULE:ATTR`, or embed it:

    from ferry.server import run
    run("hello:app", port=8000)
"""

from ferry.server.config import Config, ConfigError

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "__version__"]
