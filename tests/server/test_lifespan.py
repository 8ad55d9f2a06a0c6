"""The lifespan conversation: every mode, every answer, and the app's mistakes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ferry.server.config import LifespanMode
from ferry.server.errors import ASGIProtocolError, LifespanStartupError
from ferry.server.lifespan import Lifespan
from ferry.server.types import ASGIReceiveCallable, ASGISendCallable, Message, Scope

LOGGER = logging.getLogger("tests.lifespan")
UNSUPPORTED = "ASGI 'lifespan' protocol appears unsupported."

App = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


class Recorder:
    """A lifespan app that answers both phases as told and records what it saw."""

    def __init__(self, startup: Message | None = None, shutdown: Message | None = None) -> None:
        self.startup = startup or {"type": "lifespan.startup.complete"}
        self.shutdown = shutdown or {"type": "lifespan.shutdown.complete"}
        self.scopes: list[Scope] = []
        self.received: list[Message] = []

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        self.scopes.append(scope)
        message = await receive()
        self.received.append(message)
        await send(self.startup)
        if self.startup["type"] == "lifespan.startup.failed":
            return
        message = await receive()
        self.received.append(message)
        await send(self.shutdown)


def run_conversation(app: App, mode: LifespanMode) -> Lifespan:
    """Start up and shut down, as the server does around serving."""

    async def conversation() -> Lifespan:
        lifespan = Lifespan(app, mode, LOGGER)
        await lifespan.startup()
        await lifespan.shutdown()
        return lifespan

    return asyncio.run(conversation())


def run_startup(app: App, mode: LifespanMode) -> Lifespan:
    async def startup() -> Lifespan:
        lifespan = Lifespan(app, mode, LOGGER)
        await lifespan.startup()
        return lifespan

    return asyncio.run(startup())


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == level]


@pytest.fixture(autouse=True)
def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)


# --- a conversation that completes -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_and_shutdown_are_sent_in_order_and_answered(
    mode: LifespanMode, caplog: pytest.LogCaptureFixture
) -> None:
    app = Recorder()
    run_conversation(app, mode)
    assert app.received == [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    assert messages(caplog, logging.INFO) == [
        "Waiting for application startup.",
        "Application startup complete.",
        "Waiting for application shutdown.",
        "Application shutdown complete.",
    ]


def test_scope_has_the_lifespan_type_asgi_versions_and_the_state_dict() -> None:
    app = Recorder()
    lifespan = run_conversation(app, "auto")
    [scope] = app.scopes
    assert scope["type"] == "lifespan"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    assert scope["state"] is lifespan.state


def test_state_stored_by_the_app_during_startup_is_visible_to_the_server() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        scope["state"]["pool"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    lifespan = run_startup(app, "on")
    assert lifespan.state == {"pool": "connected"}


def test_off_mode_never_calls_the_app(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder()
    run_conversation(app, "off")
    assert app.scopes == []
    assert caplog.records == []


def test_app_may_answer_startup_before_receiving_it() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "lifespan.startup.complete"})
        assert await receive() == {"type": "lifespan.startup"}
        assert await receive() == {"type": "lifespan.shutdown"}
        await send({"type": "lifespan.shutdown.complete"})

    run_conversation(app, "on")


# --- an app that does not support lifespan ---------------------------------------------------


async def raises_at_once(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    assert scope["type"] == "http", "only HTTP is supported"


async def raises_after_receiving(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await receive()
    raise RuntimeError("no lifespan here")


async def returns_at_once(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    if scope["type"] != "http":
        return


async def sends_an_http_message(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


UNSUPPORTING_APPS = [raises_at_once, raises_after_receiving, returns_at_once, sends_an_http_message]


@pytest.mark.parametrize("app", UNSUPPORTING_APPS)
def test_auto_mode_treats_an_app_that_does_not_answer_startup_as_unsupported(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    run_conversation(app, "auto")
    assert messages(caplog, logging.INFO) == ["Waiting for application startup.", UNSUPPORTED]
    assert messages(caplog, logging.ERROR) == []


@pytest.mark.parametrize("app", UNSUPPORTING_APPS)
def test_on_mode_fails_startup_for_an_app_that_does_not_answer_startup(app: App) -> None:
    with pytest.raises(LifespanStartupError):
        run_startup(app, "on")


def test_on_mode_startup_error_names_the_exception_and_chains_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(LifespanStartupError, match="no lifespan here") as excinfo:
        run_startup(raises_after_receiving, "on")
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    assert messages(caplog, logging.ERROR) == ["Exception in 'lifespan' protocol"]


def test_on_mode_startup_error_says_the_app_returned_without_answering() -> None:
    with pytest.raises(LifespanStartupError, match="returned without answering"):
        run_startup(returns_at_once, "on")


def test_auto_mode_logs_the_exception_of_an_unsupporting_app_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_startup(raises_after_receiving, "auto")
    [record] = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_shutdown_does_nothing_after_lifespan_was_found_unsupported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_conversation(raises_at_once, "auto")
    assert "Waiting for application shutdown." not in messages(caplog, logging.INFO)


# --- the app reports a failure ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_raises_with_the_apps_message_in_every_mode(mode: LifespanMode) -> None:
    app = Recorder(startup={"type": "lifespan.startup.failed", "message": "database is down"})
    with pytest.raises(LifespanStartupError) as excinfo:
        run_startup(app, mode)
    assert str(excinfo.value) == "database is down"


def test_startup_failed_without_a_message_still_raises() -> None:
    app = Recorder(startup={"type": "lifespan.startup.failed"})
    with pytest.raises(LifespanStartupError, match=r"lifespan\.startup\.failed"):
        run_startup(app, "auto")


def test_startup_failed_then_raising_still_reports_the_apps_message() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "bad settings"})
        raise RuntimeError("and then it raised")

    with pytest.raises(LifespanStartupError, match=r"^bad settings$"):
        run_startup(app, "auto")


def test_shutdown_after_failed_startup_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def conversation() -> None:
        app = Recorder(startup={"type": "lifespan.startup.failed", "message": "no"})
        lifespan = Lifespan(app, "auto", LOGGER)
        with pytest.raises(LifespanStartupError):
            await lifespan.startup()
        await lifespan.shutdown()
        assert app.received == [{"type": "lifespan.startup"}]

    asyncio.run(conversation())
    assert "Waiting for application shutdown." not in messages(caplog, logging.INFO)


def test_shutdown_failed_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder(shutdown={"type": "lifespan.shutdown.failed", "message": "pool stuck"})
    run_conversation(app, "on")
    assert messages(caplog, logging.ERROR) == ["Application shutdown failed: pool stuck"]


def test_app_raising_during_shutdown_is_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("cleanup broke")

    run_conversation(app, "auto")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "Exception in 'lifespan' protocol"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "cleanup broke"


def test_app_returning_without_answering_shutdown_is_logged_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()

    run_conversation(app, "auto")
    assert messages(caplog, logging.WARNING) == [
        "The app returned without answering 'lifespan.shutdown'."
    ]


# --- an app that leaves early ----------------------------------------------------------------


def test_app_raising_after_startup_is_logged_at_once_and_shutdown_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise RuntimeError("background job died")

    async def conversation() -> None:
        lifespan = Lifespan(app, "on", LOGGER)
        await lifespan.startup()
        await asyncio.sleep(0)  # the app's task runs on and raises while requests are served
        assert messages(caplog, logging.ERROR) == ["Exception in 'lifespan' protocol"]
        await lifespan.shutdown()

    asyncio.run(conversation())
    assert messages(caplog, logging.ERROR) == ["Exception in 'lifespan' protocol"]
    assert "Waiting for application shutdown." not in messages(caplog, logging.INFO)


def test_app_returning_after_startup_complete_makes_shutdown_do_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    run_conversation(app, "on")
    assert "Waiting for application shutdown." not in messages(caplog, logging.INFO)
    assert messages(caplog, logging.WARNING) == []


# --- ASGI misuse -----------------------------------------------------------------------------


def test_wrong_message_at_startup_names_the_expected_ones() -> None:
    errors: list[ASGIProtocolError] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        try:
            await send({"type": "lifespan.startup.completed"})
        except ASGIProtocolError as exc:
            errors.append(exc)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    run_conversation(app, "on")
    [error] = errors
    assert str(error) == (
        "Expected ASGI message 'lifespan.startup.complete' or 'lifespan.startup.failed', "
        "but got 'lifespan.startup.completed'."
    )


def test_wrong_message_at_shutdown_names_the_expected_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(shutdown={"type": "lifespan.startup.complete"})
    run_conversation(app, "on")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == (
        "Expected ASGI message 'lifespan.shutdown.complete' or 'lifespan.shutdown.failed', "
        "but got 'lifespan.startup.complete'."
    )


def test_a_wrong_lifespan_message_fails_startup_even_in_auto_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(startup={"type": "lifespan.shutdown.complete"})
    with pytest.raises(LifespanStartupError, match=r"but got 'lifespan\.shutdown\.complete'"):
        run_startup(app, "auto")
    assert UNSUPPORTED not in messages(caplog, logging.INFO)


def test_a_message_between_startup_and_shutdown_is_rejected() -> None:
    errors: list[ASGIProtocolError] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        try:
            await send({"type": "lifespan.shutdown.complete"})
        except ASGIProtocolError as exc:
            errors.append(exc)
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    run_conversation(app, "on")
    [error] = errors
    assert "'lifespan.shutdown' has not been received" in str(error)


def test_a_message_after_the_conversation_is_over_is_rejected() -> None:
    errors: list[ASGIProtocolError] = []

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await send({"type": "lifespan.shutdown.complete"})
        except ASGIProtocolError as exc:
            errors.append(exc)

    run_conversation(app, "on")
    [error] = errors
    assert "the lifespan conversation is over" in str(error)


# --- the caller's side -----------------------------------------------------------------------


def test_shutdown_without_startup_does_nothing() -> None:
    app = Recorder()

    async def shutdown_only() -> None:
        await Lifespan(app, "on", LOGGER).shutdown()

    asyncio.run(shutdown_only())
    assert app.scopes == []


def test_startup_may_be_called_only_once() -> None:
    async def twice() -> None:
        lifespan = Lifespan(Recorder(), "on", LOGGER)
        await lifespan.startup()
        with pytest.raises(RuntimeError, match="only once"):
            await lifespan.startup()
        await lifespan.shutdown()

    asyncio.run(twice())


def test_cancelling_startup_cancels_the_apps_task() -> None:
    cancelled = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        try:
            await asyncio.Event().wait()  # start-up that never finishes
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def give_up() -> None:
        lifespan = Lifespan(app, "on", LOGGER)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lifespan.startup(), timeout=0.05)
        await asyncio.wait_for(cancelled.wait(), timeout=1)

    asyncio.run(give_up())


def test_shutdown_can_be_bounded_by_the_callers_timeout() -> None:
    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await asyncio.Event().wait()  # shutdown that never finishes

    async def bounded() -> None:
        lifespan = Lifespan(app, "on", LOGGER)
        await lifespan.startup()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lifespan.shutdown(), timeout=0.05)

    asyncio.run(bounded())


def test_state_starts_empty_and_is_a_plain_dict() -> None:
    state: Any = Lifespan(Recorder(), "off", LOGGER).state
    assert state == {}
    assert type(state) is dict
