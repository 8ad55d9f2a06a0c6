"""`ferry serve`: arguments and FERRY_* variables -> Config, exit codes, help and errors.

`main()` runs in-process; the functions that would serve are replaced, so nothing binds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from ferry.server import __version__, cli
from ferry.server.config import Config
from ferry.server.errors import ImportFromStringError, StartupError


@dataclass
class FakeServe:
    """Stands in for run_server and run_supervised; records the Config each was given."""

    code: int = 0
    raises: BaseException | None = None
    served: list[Config] = field(default_factory=list)
    supervised: list[Config] = field(default_factory=list)

    def run_server(self, config: Config, *args: Any, **kwargs: Any) -> int:
        self.served.append(config)
        return self._finish()

    def run_supervised(self, config: Config) -> int:
        self.supervised.append(config)
        return self._finish()

    def _finish(self) -> int:
        if self.raises is not None:
            raise self.raises
        return self.code

    @property
    def config(self) -> Config:
        (config,) = self.served + self.supervised
        return config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FERRY_* variable from the surroundings leaks into a test; help is wide."""
    for name in list(os.environ):
        if name.startswith("FERRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeServe:
    fake = FakeServe()
    monkeypatch.setattr(cli, "run_server", fake.run_server)
    monkeypatch.setattr(cli, "run_supervised", fake.run_supervised)
    return fake


# Each option: its command-line form, its environment form, and the Config fields it sets.
OPTION_CASES: list[tuple[list[str], dict[str, str], dict[str, object]]] = [
    (["--host", "10.1.2.3"], {"FERRY_HOST": "10.1.2.3"}, {"host": "10.1.2.3"}),
    (["--port", "9001"], {"FERRY_PORT": "9001"}, {"port": 9001}),
    (["--uds", "/run/ferry.sock"], {"FERRY_UDS": "/run/ferry.sock"}, {"uds": "/run/ferry.sock"}),
    (["--fd", "3"], {"FERRY_FD": "3"}, {"fd": 3}),
    (["--factory"], {"FERRY_FACTORY": "true"}, {"factory": True}),
    (["--app-dir", "src"], {"FERRY_APP_DIR": "src"}, {"app_dir": "src"}),
    (["--workers", "3"], {"FERRY_WORKERS": "3"}, {"workers": 3}),
    (["--reload"], {"FERRY_RELOAD": "1"}, {"reload": True}),
    (
        ["--reload-dir", "src", "--reload-dir", "lib"],
        {"FERRY_RELOAD_DIR": f"src{os.pathsep}lib"},
        {"reload_dirs": ("src", "lib")},
    ),
    (["--lifespan", "off"], {"FERRY_LIFESPAN": "off"}, {"lifespan": "off"}),
    (["--root-path", "/api"], {"FERRY_ROOT_PATH": "/api"}, {"root_path": "/api"}),
    (["--no-proxy-headers"], {"FERRY_PROXY_HEADERS": "false"}, {"proxy_headers": False}),
    (
        ["--forwarded-allow-ips", "10.0.0.0/8, 192.168.1.1"],
        {"FERRY_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.168.1.1"},
        {"forwarded_allow_ips": ("10.0.0.0/8", "192.168.1.1")},
    ),
    (
        ["--limit-concurrency", "100"],
        {"FERRY_LIMIT_CONCURRENCY": "100"},
        {"limit_concurrency": 100},
    ),
    (
        ["--limit-max-requests", "1000"],
        {"FERRY_LIMIT_MAX_REQUESTS": "1000"},
        {"limit_max_requests": 1000},
    ),
    (["--backlog", "128"], {"FERRY_BACKLOG": "128"}, {"backlog": 128}),
    (
        ["--timeout-keep-alive", "2.5"],
        {"FERRY_TIMEOUT_KEEP_ALIVE": "2.5"},
        {"timeout_keep_alive_s": 2.5},
    ),
    (["--timeout-header", "3"], {"FERRY_TIMEOUT_HEADER": "3"}, {"timeout_header_s": 3.0}),
    (
        ["--timeout-graceful-shutdown", "7"],
        {"FERRY_TIMEOUT_GRACEFUL_SHUTDOWN": "7"},
        {"timeout_graceful_shutdown_s": 7.0},
    ),
    (["--max-header-size", "8192"], {"FERRY_MAX_HEADER_SIZE": "8192"}, {"max_header_bytes": 8192}),
    (["--max-body-size", "0"], {"FERRY_MAX_BODY_SIZE": "0"}, {"max_body_bytes": 0}),
    (
        ["--ssl-keyfile", "key.pem", "--ssl-certfile", "cert.pem"],
        {"FERRY_SSL_KEYFILE": "key.pem", "FERRY_SSL_CERTFILE": "cert.pem"},
        {"ssl_keyfile": "key.pem", "ssl_certfile": "cert.pem"},
    ),
    (
        ["--ssl-keyfile-password", "secret"],
        {"FERRY_SSL_KEYFILE_PASSWORD": "secret"},
        {"ssl_keyfile_password": "secret"},
    ),
    (["--loop", "asyncio"], {"FERRY_LOOP": "asyncio"}, {"loop": "asyncio"}),
    (["--log-level", "debug"], {"FERRY_LOG_LEVEL": "debug"}, {"log_level": "debug"}),
    (["--no-access-log"], {"FERRY_ACCESS_LOG": "off"}, {"access_log": False}),
    (
        ["--header", "x-a:1", "--header", "cache-control: no-store, max-age=0"],
        {"FERRY_HEADER": "x-a:1,cache-control: no-store, max-age=0"},
        {"headers": (("x-a", "1"), ("cache-control", "no-store, max-age=0"))},
    ),
    (["--no-server-header"], {"FERRY_SERVER_HEADER": "0"}, {"server_header": False}),
    (["--no-date-header"], {"FERRY_DATE_HEADER": "no"}, {"date_header": False}),
    (["--trace"], {"FERRY_TRACE": "1"}, {"trace": True}),
    (["--ws", "none"], {"FERRY_WS": "none"}, {"ws": "none"}),
    (["--ws-max-size", "1024"], {"FERRY_WS_MAX_SIZE": "1024"}, {"ws_max_size_bytes": 1024}),
    (["--ws-max-queue", "4"], {"FERRY_WS_MAX_QUEUE": "4"}, {"ws_max_queue": 4}),
    (["--ws-ping-interval", "0"], {"FERRY_WS_PING_INTERVAL": "0"}, {"ws_ping_interval_s": 0.0}),
    (["--ws-ping-timeout", "2.5"], {"FERRY_WS_PING_TIMEOUT": "2.5"}, {"ws_ping_timeout_s": 2.5}),
    (
        ["--no-ws-per-message-deflate"],
        {"FERRY_WS_PER_MESSAGE_DEFLATE": "off"},
        {"ws_per_message_deflate": False},
    ),
]
CASE_IDS = [argv[0] for argv, _, _ in OPTION_CASES]


def test_every_option_is_in_the_mapping_table() -> None:
    flags = {arg for argv, _, _ in OPTION_CASES for arg in argv if arg.startswith("--")}
    flags = {flag.replace("--no-", "--") for flag in flags}
    assert flags == {option.flag for option in cli.SERVER_OPTIONS}


@pytest.mark.parametrize(("argv", "env", "expected"), OPTION_CASES, ids=CASE_IDS)
def test_option_sets_its_config_field(
    fake: FakeServe, argv: list[str], env: dict[str, str], expected: dict[str, object]
) -> None:
    assert cli.main(["serve", "main:app", *argv]) == 0
    for name, value in expected.items():
        assert getattr(fake.config, name) == value


@pytest.mark.parametrize(("argv", "env", "expected"), OPTION_CASES, ids=CASE_IDS)
def test_environment_variable_sets_the_same_field(
    fake: FakeServe,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    expected: dict[str, object],
) -> None:
    for variable, text in env.items():
        monkeypatch.setenv(variable, text)
    assert cli.main(["serve", "main:app"]) == 0
    for name, value in expected.items():
        assert getattr(fake.config, name) == value


def test_without_options_the_config_has_its_defaults(fake: FakeServe) -> None:
    assert cli.main(["serve", "main:app"]) == 0
    assert fake.config == Config(app="main:app")
    assert fake.served
    assert not fake.supervised


def test_command_line_wins_over_the_environment(
    fake: FakeServe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_PORT", "7000")
    monkeypatch.setenv("FERRY_ACCESS_LOG", "false")
    monkeypatch.setenv("FERRY_HEADER", "x-env:1")
    assert cli.main(["serve", "main:app", "--port", "7001", "--access-log", "--header", "x:2"]) == 0
    assert fake.config.port == 7001
    assert fake.config.access_log is True
    assert fake.config.headers == (("x", "2"),)


def test_empty_environment_variable_counts_as_unset(
    fake: FakeServe, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FERRY_PORT", "FERRY_UDS", "FERRY_ACCESS_LOG", "FERRY_HEADER"):
        monkeypatch.setenv(name, "")
    assert cli.main(["serve", "main:app"]) == 0
    assert fake.config == Config(app="main:app")


def test_app_can_come_from_the_environment(
    fake: FakeServe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_APP", "env_module:app")
    assert cli.main(["serve"]) == 0
    assert fake.config.app == "env_module:app"


@pytest.mark.parametrize("options", [["--workers", "2"], ["--reload"]])
def test_workers_and_reload_go_to_the_supervisor(fake: FakeServe, options: list[str]) -> None:
    assert cli.main(["serve", "main:app", *options]) == 0
    assert fake.supervised
    assert not fake.served


def test_exit_code_of_the_server_is_returned(fake: FakeServe) -> None:
    fake.code = 3
    assert cli.main(["serve", "main:app"]) == 3


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"ferry {__version__} (")


def test_serve_help_shows_each_default_and_env_var(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in cli.SERVER_OPTIONS:
        assert option.flag in out
        assert option.env in out
    for shown in (
        "default: 5.0 seconds",
        "default: 10.0 seconds",
        "default: 30.0 seconds",
        "default: 16384 bytes",
        "default: 10485760 bytes = 10 MiB",
        "default: 8000",
        "FERRY_APP",
    ):
        assert shown in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: ferry" in capsys.readouterr().err


def test_missing_app_is_a_usage_error(fake: FakeServe, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve"]) == 2
    assert "MODULE:ATTR" in capsys.readouterr().err
    assert not fake.served


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "eighty"], "argument --port: 'eighty' is not an integer"),
        (["--timeout-keep-alive", "soon"], "'soon' is not a number of seconds"),
        (["--lifespan", "maybe"], "argument --lifespan: invalid choice: 'maybe'"),
        (["--header", "no-colon"], "argument --header: header: 'no-colon' is not NAME:VALUE"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_argument_is_a_usage_error_that_names_it(
    fake: FakeServe, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli.main(["serve", "main:app", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not fake.served


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FERRY_PORT", "eighty", "FERRY_PORT: 'eighty' is not an integer"),
        ("FERRY_RELOAD", "perhaps", "FERRY_RELOAD: 'perhaps' is not a boolean"),
        ("FERRY_LOOP", "tokio", "FERRY_LOOP: 'tokio' is not one of auto, asyncio, uvloop"),
        ("FERRY_HEADER", "broken,x-a:1", "FERRY_HEADER: header: 'broken' is not NAME:VALUE"),
    ],
)
def test_bad_environment_variable_is_a_usage_error_that_names_it(
    fake: FakeServe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["serve", "main:app"]) == 2
    assert message in capsys.readouterr().err
    assert not fake.served


def test_header_split_keeps_commas_inside_values() -> None:
    assert cli._split_headers("a:1, 2,b: x,y , c :3") == ["a:1, 2", "b: x,y ", "c :3"]


def test_refused_config_prints_one_line_and_exits_1(
    fake: FakeServe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "main:app", "--port", "70000"]) == 1
    assert capsys.readouterr().err == "ferry: error: port: 70000 is not a TCP port (0-65535)\n"
    assert not fake.served


def test_inconsistent_options_print_one_line_and_exit_1(
    fake: FakeServe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "main:app", "--ssl-certfile", "cert.pem"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferry: error: ssl_keyfile and ssl_certfile")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "error",
    [
        StartupError("cannot bind 127.0.0.1:8000: Address already in use"),
        ImportFromStringError("app: module 'nope'\nnot found"),
    ],
)
def test_startup_error_prints_one_line_and_exits_1(
    fake: FakeServe, capsys: pytest.CaptureFixture[str], error: StartupError
) -> None:
    fake.raises = error
    assert cli.main(["serve", "main:app"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferry: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_ctrl_c_before_the_server_handles_it_exits_quietly(fake: FakeServe) -> None:
    fake.raises = KeyboardInterrupt()
    assert cli.main(["serve", "main:app"]) == 130


def test_every_option_reads_a_ferry_variable_named_after_it() -> None:
    for option in cli.SERVER_OPTIONS:
        assert option.env == "FERRY_" + option.flag[2:].replace("-", "_").upper()
