"""`ferry`, the command line: `ferry serve MODULE:ATTR` turns arguments into a Config and serves.

Every `serve` option sets one `Config` field and can also come from an environment variable
named FERRY_ plus the option in capitals: `--timeout-keep-alive` reads
FERRY_TIMEOUT_KEEP_ALIVE, and the app itself FERRY_APP. The command line wins over the
environment, and the environment over the `Config` default. In the environment a switch is
`1/true/yes/on` or `0/false/no/off`; a repeatable option holds several values:
FERRY_HEADER="x-a:1,x-b:2" (a comma starts a new header only when a `NAME:` follows it, so
values may contain commas) and FERRY_RELOAD_DIR="src:lib" (separated like PATH). An empty
variable counts as unset.

Exit codes: 0 after a clean shutdown; 1 when the configuration is refused or the server cannot
start, with one line `ferry: error: <reason>` on stderr; 2 for a usage error, as argparse does.

New subcommands (`trace`) add a function like `_add_serve_command` to `build_parser`; the
server options themselves are added by `add_server_options`, so other commands can share them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ferry.server import __version__
from ferry.server.config import (
    MIB,
    Config,
    ConfigError,
    LifespanMode,
    LogLevel,
    LoopName,
    WebSocketMode,
    parse_header_option,
    split_networks,
)
from ferry.server.errors import StartupError
from ferry.server.server import run_server
from ferry.server.supervisor import run_supervised
from ferry.server.trace_command import parse_header, print_traced, trace_request

ENV_PREFIX = "FERRY_"
APP_ENV = ENV_PREFIX + "APP"

OptionKind = Literal["value", "switch", "toggle", "append"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ferry` command line and return its exit code.

    `argv` defaults to `sys.argv[1:]`. Nothing is raised for a usage error, `--help` or
    `--version`: argparse's exit becomes the return value (2, 0, 0). The console script
    passes the code to `sys.exit`.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        ferry 0.1.0 (CPython 3.11.9 on Linux)
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except SystemExit as exc:
        return _exit_code(exc)
    except KeyboardInterrupt:
        # Ctrl-C before the server installed its own signal handlers (say, while the app
        # was being imported): stop quietly, with the shell's code for SIGINT.
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The `ferry` argument parser, one subparser per command.

    Each subparser sets a `handler` default: a function from the parsed namespace to the
    exit code.
    """
    parser = argparse.ArgumentParser(
        prog="ferry",
        description="Ferry: an ASGI server for HTTP/1.1.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=(
            f"ferry {__version__} "
            f"({platform.python_implementation()} {platform.python_version()} "
            f"on {platform.system()})"
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_serve_command(commands)
    _add_trace_command(commands)
    return parser


def _add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve an ASGI application",
        description=(
            "Serve the ASGI application MODULE:ATTR. Each option can also be set with the "
            "environment variable shown beside it; the command line wins."
        ),
        epilog=(
            "In the environment, a switch is 1/true/yes/on or 0/false/no/off; "
            'FERRY_HEADER holds comma-separated headers ("x-a:1,x-b:2"); '
            f'FERRY_RELOAD_DIR holds directories separated by "{os.pathsep}".'
        ),
    )
    serve.add_argument(
        "app",
        nargs="?",
        metavar="MODULE:ATTR",
        help=f"the application, e.g. main:app; ATTR may be dotted (env: {APP_ENV})",
    )
    add_server_options(serve)
    serve.set_defaults(handler=_serve, parser=serve)


def _add_trace_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = commands.add_parser(
        "trace",
        help="send one request to an app and show its path through the layers",
        description=(
            "Serve MODULE:ATTR on a free loopback port, send it one real request, print the "
            "request's waypoints (accept ... finish) and the response, and exit."
        ),
        epilog=(
            "A body given with -d is sent as application/json when it is JSON, else as a "
            "form, unless a Content-Type header is given."
        ),
    )
    trace.add_argument("app", metavar="MODULE:ATTR", help="the application, e.g. main:app")
    trace.add_argument("method", metavar="METHOD", help="the request method, e.g. GET")
    trace.add_argument("path", metavar="PATH", help="the request target, e.g. /users/1?x=y")
    trace.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        dest="headers",
        metavar="'NAME: VALUE'",
        help="a request header; repeat for more",
    )
    trace.add_argument("-d", "--data", metavar="BODY", help="the request body")
    trace.add_argument(
        "--format",
        choices=("text", "markdown", "mermaid", "json"),
        default="text",
        help="how to print the trace (default: text)",
    )
    trace.add_argument("--factory", action="store_true", help="MODULE:ATTR returns the app")
    trace.add_argument(
        "--app-dir", default=".", metavar="DIR", help="import the app from this directory first"
    )
    trace.set_defaults(handler=_trace, parser=trace)


def _trace(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    try:
        headers = [parse_header(text) for text in args.headers]
    except ValueError as exc:
        parser.error(str(exc))
    try:
        traces, response = trace_request(
            args.app,
            args.method.upper(),
            args.path,
            headers,
            args.data,
            factory=args.factory,
            app_dir=args.app_dir,
        )
    except RuntimeError as exc:
        cause = exc.__cause__
        return _fail(cause if isinstance(cause, Exception) else exc)
    print_traced(traces, response, args.format, sys.stdout)
    return 0


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: its flag, the Config field it sets, and how text becomes a value.

    `kind` is "value" (`--port 80`), "switch" (`--reload`), "toggle" (`--access-log` and
    `--no-access-log`) or "append" (a repeatable option, collected into a tuple).
    """

    flag: str
    field: str
    help: str
    convert: Callable[[str], Any] = str
    kind: OptionKind = "value"
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    # What the help shows as the default when Config's own default says too little.
    default_text: str | None = None
    # How the environment variable of an "append" option is split into items.
    split_env: Callable[[str], list[str]] | None = None

    @property
    def env(self) -> str:
        """The environment variable read when the option is not on the command line."""
        return ENV_PREFIX + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def dest(self) -> str:
        """The attribute of the parsed namespace; the flag is not always the field name."""
        return self.flag.removeprefix("--").replace("-", "_")


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _seconds(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


# A comma followed by a header name and a colon starts the next header; any other comma is
# part of a value ("cache-control:no-store, max-age=0" is one header).
_NEXT_HEADER = re.compile(r",\s*(?=[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*:)")


def _split_headers(text: str) -> list[str]:
    return [item for item in _NEXT_HEADER.split(text) if item.strip()]


def _split_paths(text: str) -> list[str]:
    return [item for item in text.split(os.pathsep) if item.strip()]


SERVER_OPTIONS: tuple[Option, ...] = (
    Option("--host", "host", "bind to this address", metavar="ADDRESS"),
    Option("--port", "port", "bind to this TCP port; 0 picks a free one", _integer),
    Option("--uds", "uds", "bind to this Unix domain socket instead", metavar="PATH"),
    Option("--fd", "fd", "serve on this already bound file descriptor instead", _integer),
    Option("--factory", "factory", "MODULE:ATTR is a function that returns the app", kind="switch"),
    Option("--app-dir", "app_dir", "import the app from this directory first", metavar="DIR"),
    Option("--workers", "workers", "run this many supervised worker processes", _integer),
    Option("--reload", "reload", "restart when a .py file changes (development)", kind="switch"),
    Option(
        "--reload-dir",
        "reload_dirs",
        "a directory to watch with --reload; repeat for more",
        kind="append",
        metavar="DIR",
        default_text="the current directory",
        split_env=_split_paths,
    ),
    Option("--lifespan", "lifespan", "the lifespan protocol", choices=get_args(LifespanMode)),
    Option(
        "--root-path",
        "root_path",
        "the ASGI root_path, when mounted below a prefix",
        metavar="PATH",
        default_text="none",
    ),
    Option(
        "--proxy-headers",
        "proxy_headers",
        "trust X-Forwarded-For/-Proto from --forwarded-allow-ips",
        kind="toggle",
    ),
    Option(
        "--forwarded-allow-ips",
        "forwarded_allow_ips",
        "the proxies trusted for proxy headers: comma-separated IPs and CIDR networks, or *",
        split_networks,
        metavar="IPS",
    ),
    Option(
        "--limit-concurrency",
        "limit_concurrency",
        "answer 503 beyond this many requests in flight",
        _integer,
    ),
    Option(
        "--limit-max-requests",
        "limit_max_requests",
        "stop the process after this many requests",
        _integer,
    ),
    Option("--backlog", "backlog", "the listen() backlog", _integer),
    Option("--timeout-keep-alive", "timeout_keep_alive_s", "close idle connections", _seconds),
    Option("--timeout-header", "timeout_header_s", "time allowed for a header block", _seconds),
    Option(
        "--timeout-graceful-shutdown",
        "timeout_graceful_shutdown_s",
        "time allowed to finish requests on shutdown",
        _seconds,
    ),
    Option("--max-header-size", "max_header_bytes", "header block limit (431)", _integer),
    Option("--max-body-size", "max_body_bytes", "request body limit (413); 0 for none", _integer),
    Option("--ssl-keyfile", "ssl_keyfile", "TLS private key file", metavar="PATH"),
    Option("--ssl-certfile", "ssl_certfile", "TLS certificate chain file", metavar="PATH"),
    Option(
        "--ssl-keyfile-password",
        "ssl_keyfile_password",
        "the key file's password",
        metavar="PASSWORD",
    ),
    Option("--loop", "loop", "the event loop", choices=get_args(LoopName)),
    Option("--log-level", "log_level", "the log level", choices=get_args(LogLevel)),
    Option("--access-log", "access_log", "log one line per request", kind="toggle"),
    Option(
        "--header",
        "headers",
        "a header to add to every response; repeat for more",
        parse_header_option,
        kind="append",
        metavar="NAME:VALUE",
        default_text="none",
        split_env=_split_headers,
    ),
    Option("--server-header", "server_header", "send a Server header", kind="toggle"),
    Option("--date-header", "date_header", "send a Date header", kind="toggle"),
    Option(
        "--trace",
        "trace",
        "print each request's waypoints (accept ... finish) to stderr",
        kind="switch",
    ),
    Option(
        "--ws",
        "ws",
        "WebSocket support; none leaves upgrades to the app",
        choices=get_args(WebSocketMode),
    ),
    Option("--ws-max-size", "ws_max_size_bytes", "WebSocket message limit (close 1009)", _integer),
    Option(
        "--ws-max-queue",
        "ws_max_queue",
        "WebSocket messages queued before reading pauses",
        _integer,
    ),
    Option(
        "--ws-ping-interval",
        "ws_ping_interval_s",
        "WebSocket keep-alive ping interval; 0 for none",
        _seconds,
    ),
    Option(
        "--ws-ping-timeout",
        "ws_ping_timeout_s",
        "close 1011 when a ping is unanswered this long; 0 for none",
        _seconds,
    ),
    Option(
        "--ws-per-message-deflate",
        "ws_per_message_deflate",
        "accept the permessage-deflate WebSocket extension",
        kind="toggle",
    ),
)

_UNITS = {
    "timeout_keep_alive_s": " seconds",
    "timeout_header_s": " seconds",
    "timeout_graceful_shutdown_s": " seconds",
    "max_header_bytes": " bytes",
    "max_body_bytes": " bytes",
    "ws_max_size_bytes": " bytes",
    "ws_ping_interval_s": " seconds",
    "ws_ping_timeout_s": " seconds",
}


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Add every option of `SERVER_OPTIONS` to `parser`, its help showing default and env var.

    The parsed value of an option that is not on the command line is None, so that
    `config_from_args` can tell it apart and fall back on the environment.
    """
    defaults = {field.name: field.default for field in dataclasses.fields(Config)}
    for option in SERVER_OPTIONS:
        default = defaults.get(option.field)
        shown = option.default_text
        if shown is None and default is not None and option.kind != "append":
            shown = _show_default(default, _UNITS.get(option.field, ""))
        shown = f"default: {shown}; " if shown is not None else ""
        help_text = f"{option.help} ({shown}env: {option.env})"
        if option.kind == "switch":
            parser.add_argument(
                option.flag, dest=option.dest, action="store_const", const=True, help=help_text
            )
        elif option.kind == "toggle":
            parser.add_argument(
                option.flag, dest=option.dest, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.dest,
                type=_argparse_type(option),
                action="append" if option.kind == "append" else "store",
                choices=option.choices,
                metavar=option.metavar or (None if option.choices else _metavar(option)),
                help=help_text,
            )


def _show_default(value: object, unit: str) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, int) and value >= MIB and value % MIB == 0:
        return f"{value}{unit} = {value // MIB} MiB"
    return f"{value}{unit}"


def _metavar(option: Option) -> str:
    if option.convert is _integer:
        return "N"
    if option.convert is _seconds:
        return "SECONDS"
    return option.dest.upper()


def _argparse_type(option: Option) -> Callable[[str], Any]:
    # argparse reports a ValueError from `type` with the converter's name, not its message;
    # an ArgumentTypeError keeps the message ("'x' is not an integer").
    def convert(text: str) -> Any:
        try:
            return option.convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.dest
    return convert


class EnvironmentOptionError(ValueError):
    """A FERRY_* environment variable holds a value its option cannot take."""


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Build the Config for parsed `serve` arguments, falling back on FERRY_* in `environ`.

    Raises:
        EnvironmentOptionError: an environment variable cannot be converted; the message
            names the variable.
        ConfigError: the Config refuses a value; the message names the option.
    """
    app = args.app if args.app is not None else environ.get(APP_ENV)
    if not app:
        raise EnvironmentOptionError(
            f"the following arguments are required: MODULE:ATTR (or {APP_ENV})"
        )
    options: dict[str, Any] = {}
    for option in SERVER_OPTIONS:
        value = getattr(args, option.dest)
        if value is None and environ.get(option.env):
            value = _from_environment(option, environ[option.env])
        if value is None:
            continue
        options[option.field] = tuple(value) if option.kind == "append" else value
    return Config(app=app, **options)


def _from_environment(option: Option, text: str) -> Any:
    try:
        if option.kind in ("switch", "toggle"):
            return _boolean(text)
        if option.kind == "append":
            split = option.split_env or (lambda raw: raw.split(","))
            return [option.convert(item.strip()) for item in split(text)]
        value = option.convert(text)
    except ValueError as exc:
        raise EnvironmentOptionError(f"{option.env}: {exc}") from None
    if option.choices is not None and value not in option.choices:
        raise EnvironmentOptionError(
            f"{option.env}: {text!r} is not one of {', '.join(option.choices)}"
        )
    return value


def _serve(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    try:
        config = config_from_args(args, os.environ)
    except EnvironmentOptionError as exc:
        parser.error(str(exc))  # prints usage and exits 2, like any other usage error
    except ConfigError as exc:
        return _fail(exc)
    try:
        if config.workers > 1 or config.reload:
            return run_supervised(config)
        return run_server(config)
    except (ConfigError, StartupError) as exc:
        return _fail(exc)


def _fail(exc: Exception) -> int:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    print(f"ferry: error: {reason}", file=sys.stderr)
    return 1


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1
