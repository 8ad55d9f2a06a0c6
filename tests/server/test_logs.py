"""The access log line, its escaping of client-controlled values, and logging set-up."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.server.config import ConfigError
from ferry.server.logs import (
    TRACE,
    access_logger,
    configure_logging,
    error_logger,
    format_access_line,
)

CLIENT = ("127.0.0.1", 50000)


def line(
    method: str = "GET",
    path: str = "/users",
    query_string: bytes = b"",
    client: tuple[str, int] | None = CLIENT,
) -> str:
    return format_access_line(client, method, path, query_string, "1.1", 200, 13, 0.42)


# --- the line --------------------------------------------------------------------------------


def test_access_line_has_client_request_line_status_size_and_duration() -> None:
    assert line(query_string=b"x=1") == '127.0.0.1:50000 - "GET /users?x=1 HTTP/1.1" 200 13B 0.42ms'


def test_access_line_without_a_query_string_has_no_question_mark() -> None:
    assert line() == '127.0.0.1:50000 - "GET /users HTTP/1.1" 200 13B 0.42ms'


def test_access_line_puts_an_ipv6_client_in_brackets() -> None:
    assert line(client=("::1", 50000)).startswith('[::1]:50000 - "GET')


def test_access_line_shows_a_missing_client_as_a_dash() -> None:
    assert line(client=None).startswith('- - "GET')


def test_access_line_rounds_the_duration_to_hundredths_of_a_millisecond() -> None:
    text = format_access_line(CLIENT, "POST", "/", b"", "1.0", 404, 0, 12.3456)
    assert text == '127.0.0.1:50000 - "POST / HTTP/1.0" 404 0B 12.35ms'


def test_access_line_keeps_printable_non_ascii_text_readable() -> None:
    assert '"GET /café HTTP/1.1"' in line(path="/café")


# --- escaping --------------------------------------------------------------------------------

CONTROL_CHARACTERS = [chr(code) for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda char: f"{ord(char):#04x}")
def test_every_control_character_in_the_path_is_escaped(char: str) -> None:
    text = line(path=f"/a{char}b")
    assert f"/a\\x{ord(char):02x}b" in text
    assert char not in text


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda char: f"{ord(char):#04x}")
def test_every_control_character_in_the_method_is_escaped(char: str) -> None:
    text = line(method=f"GE{char}T")
    assert f'"GE\\x{ord(char):02x}T /users' in text


@pytest.mark.parametrize("byte", [*range(0x20), *range(0x7F, 0x100)], ids=hex)
def test_every_byte_outside_printable_ascii_in_the_query_string_is_escaped(byte: int) -> None:
    text = line(query_string=b"a=" + bytes([byte]))
    assert f"?a=\\x{byte:02x} HTTP/1.1" in text


def test_a_forged_log_line_in_the_path_stays_on_one_line() -> None:
    forged = '/x HTTP/1.1" 200 1B 0.1ms\r\n127.0.0.1:1 - "GET /admin'
    text = line(path=forged)
    assert "\r" not in text
    assert "\n" not in text
    assert text.count('"') == 2
    assert "\\x0d\\x0a" in text


def test_quotes_and_backslashes_are_escaped_so_escapes_cannot_be_faked() -> None:
    assert '"GET /a\\x22b\\x5cx0a HTTP/1.1"' in line(path='/a"b\\x0a')
    assert "?q=\\x22\\x5c HTTP/1.1" in line(query_string=b'q="\\')


def test_escape_sequence_for_terminal_is_escaped() -> None:
    assert "/\\x1b[31mred" in line(path="/\x1b[31mred")


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\u2028", "\\u2028"),
        ("\u202e", "\\u202e"),
        ("\U000e0001", "\\U000e0001"),
        ("\xa0", "\\xa0"),
    ],
)
def test_non_printable_unicode_is_escaped(char: str, escaped: str) -> None:
    assert f"/a{escaped}b" in line(path=f"/a{char}b")


@given(method=st.text(), path=st.text(), query_string=st.binary(), host=st.text())
def test_any_client_values_yield_one_line_of_printable_characters(
    method: str, path: str, query_string: bytes, host: str
) -> None:
    text = format_access_line((host, 1), method, path, query_string, "1.1", 200, 0, 0.0)
    assert text.isprintable()
    assert "\r" not in text
    assert "\n" not in text
    # Only the two quotes around the request line are left unescaped.
    assert text.count('"') == 2


# --- configure_logging -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back for the other tests."""
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate)
        for logger in (error_logger, access_logger, logging.getLogger())
    ]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_loggers_are_named_ferry_error_and_ferry_access() -> None:
    assert error_logger.name == "ferry.error"
    assert access_logger.name == "ferry.access"


def test_configure_logging_twice_adds_no_second_handler() -> None:
    configure_logging("info", True)
    handlers = (error_logger.handlers[:], access_logger.handlers[:])
    configure_logging("debug", False)
    assert (error_logger.handlers, access_logger.handlers) == handlers
    assert len(error_logger.handlers) == len(access_logger.handlers) == 1


def test_configure_logging_leaves_the_root_logger_alone() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("trace", True)
    assert root.handlers == handlers
    assert root.level == level


def test_configure_logging_stops_propagation_so_lines_are_not_printed_twice() -> None:
    configure_logging("info", True)
    assert error_logger.propagate is False
    assert access_logger.propagate is False


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("critical", logging.CRITICAL),
        ("error", logging.ERROR),
        ("warning", logging.WARNING),
        ("info", logging.INFO),
        ("debug", logging.DEBUG),
        ("trace", 5),
        ("INFO", logging.INFO),
    ],
)
def test_configure_logging_sets_the_level_of_both_loggers(name: str, level: int) -> None:
    configure_logging(name, True)
    assert error_logger.level == level
    assert access_logger.level == level


def test_trace_is_level_5_named_trace() -> None:
    assert TRACE == 5
    assert logging.getLevelName(5) == "TRACE"


def test_configure_logging_without_access_log_disables_access_lines() -> None:
    configure_logging("info", False)
    assert not access_logger.isEnabledFor(logging.INFO)
    assert error_logger.isEnabledFor(logging.INFO)
    configure_logging("info", True)
    assert access_logger.isEnabledFor(logging.INFO)


def test_configure_logging_rejects_an_unknown_level_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="log_level: 'verbose'"):
        configure_logging("verbose", True)


def test_configured_loggers_write_short_lines_to_the_current_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("trace", True)
    error_logger.info("Application startup complete.")
    error_logger.log(TRACE, "connection made")
    access_logger.info(line())
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "INFO     Application startup complete.",
        "TRACE    connection made",
        'INFO     127.0.0.1:50000 - "GET /users HTTP/1.1" 200 13B 0.42ms',
    ]


def test_configured_loggers_follow_stderr_when_it_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_logging("info", True)
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    error_logger.warning("still here")
    assert replaced.getvalue() == "WARNING  still here\n"


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("stderr is gone")


def test_a_failing_stderr_never_breaks_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("info", True)
    monkeypatch.setattr(logging, "raiseExceptions", False)
    monkeypatch.setattr(sys, "stderr", BrokenStream())
    error_logger.error("nobody will read this")
