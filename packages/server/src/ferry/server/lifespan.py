"""Lifespan: the lifespan.startup / lifespan.shutdown conversation with the app.

The ASGI lifespan protocol (ASGI spec, "Lifespan Protocol", version 2.0) calls the app once,
as one long-lived task, with a scope of type "lifespan". The conversation is four messages:

    server                          app
    lifespan.startup          ->
                              <-    lifespan.startup.complete | lifespan.startup.failed
    ... the server accepts connections and serves requests ...
    lifespan.shutdown         ->
                              <-    lifespan.shutdown.complete | lifespan.shutdown.failed

`Config.lifespan` decides what happens when the app does not take part:

    "off"   the app is never called with the lifespan scope.
    "auto"  an app that raises or returns before answering `lifespan.startup` does not support
            lifespan (ASGI lifespan spec: "the server must continue but not send any lifespan
            events"); this is logged at info and serving goes on.
    "on"    the same case is a start-up error.

`lifespan.startup.failed` is a start-up error in every mode (the spec: the server "should log
the message provided and then exit"). `lifespan.shutdown.failed` is logged as an error.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Any

from ferry.server.config import LifespanMode
from ferry.server.errors import ASGIProtocolError, LifespanStartupError
from ferry.server.types import ASGIApplication, Message, Scope


class _Phase(enum.Enum):
    """Where the conversation is; it decides which messages the app may send."""

    STARTUP = "startup"  # lifespan.startup is on its way; the app owes an answer
    RUNNING = "running"  # start-up completed; requests are being served
    SHUTDOWN = "shutdown"  # lifespan.shutdown is on its way; the app owes an answer
    OVER = "over"  # the app answered a failure, or shutdown: nothing more is expected


_EXPECTED: dict[_Phase, tuple[str, ...]] = {
    _Phase.STARTUP: ("lifespan.startup.complete", "lifespan.startup.failed"),
    _Phase.SHUTDOWN: ("lifespan.shutdown.complete", "lifespan.shutdown.failed"),
}


@dataclass(frozen=True, slots=True)
class _Answer:
    """The app's answer to lifespan.startup or lifespan.shutdown."""

    failed: bool
    message: str


class Lifespan:
    """Runs the app's lifespan task and talks to it at start-up and shutdown.

    `state` is the dict given to the app as `scope["state"]`; whatever the app stores in it
    during start-up is copied (shallowly) into the scope of every request (ASGI lifespan
    spec, "Lifespan State").

    Example:
        lifespan = Lifespan(app, "auto", logging.getLogger("ferry.error"))
        await lifespan.startup()      # raises LifespanStartupError if the app says so
        ...                           # serve, with lifespan.state in each request scope
        await lifespan.shutdown()
    """

    def __init__(self, app: ASGIApplication, mode: LifespanMode, logger: logging.Logger) -> None:
        self.app = app
        self.mode = mode
        self.logger = logger
        self.state: dict[str, Any] = {}
        self._phase = _Phase.STARTUP
        self._task: asyncio.Task[None] | None = None
        self._receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        # Set when the app answers, and also when its task ends, so that nobody waits for
        # an answer from an app that is gone.
        self._startup_answered = asyncio.Event()
        self._shutdown_answered = asyncio.Event()
        self._startup_answer: _Answer | None = None
        self._shutdown_answer: _Answer | None = None
        self._app_error: Exception | None = None
        # A lifespan message of the wrong type shows that the app does speak lifespan,
        # only wrongly; that is a bug to report, not a sign that lifespan is unsupported.
        self._lifespan_misuse: ASGIProtocolError | None = None

    async def startup(self) -> None:
        """Start the app's lifespan task and wait for its answer to `lifespan.startup`.

        Does nothing in mode "off". Call it once, before serving.

        Raises:
            LifespanStartupError: the app sent `lifespan.startup.failed` (any mode; the
                exception's message is the app's); or, in mode "on", it raised or returned
                without answering; or it sent a lifespan message of the wrong type.
        """
        if self.mode == "off":
            return
        if self._task is not None:
            raise RuntimeError("Lifespan.startup() may be called only once")
        self.logger.info("Waiting for application startup.")
        self._task = asyncio.create_task(self._run_app(), name="ferry lifespan")
        await self._receive_queue.put({"type": "lifespan.startup"})
        try:
            await self._startup_answered.wait()
        except asyncio.CancelledError:
            # The server is giving up on start-up (a signal, a timeout): the app's task
            # must not outlive it.
            self._task.cancel()
            raise
        answer = self._startup_answer
        if answer is None:
            self._handle_no_startup_answer()
        elif answer.failed:
            raise LifespanStartupError(
                answer.message or "the app sent 'lifespan.startup.failed' without a message"
            )
        else:
            self.logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        """Send `lifespan.shutdown` and wait for the app's answer.

        Does nothing when start-up did not complete (mode "off", lifespan unsupported, start-up
        failed) or when the app's lifespan task has already ended. A failure is logged, never
        raised. The caller bounds the wait with its own timeout.
        """
        if self._task is None or self._task.done() or self._phase is not _Phase.RUNNING:
            return
        self._phase = _Phase.SHUTDOWN
        self.logger.info("Waiting for application shutdown.")
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_answered.wait()
        answer = self._shutdown_answer
        if answer is None:
            if self._app_error is not None:
                self.logger.error("Exception in 'lifespan' protocol", exc_info=self._app_error)
            else:
                self.logger.warning("The app returned without answering 'lifespan.shutdown'.")
        elif answer.failed:
            self.logger.error("Application shutdown failed: %s", answer.message or "(no message)")
        else:
            self.logger.info("Application shutdown complete.")

    def _handle_no_startup_answer(self) -> None:
        error = self._app_error
        if self._lifespan_misuse is not None:
            raise LifespanStartupError(str(self._lifespan_misuse)) from self._lifespan_misuse
        if self.mode == "on":
            if error is not None:
                self.logger.error("Exception in 'lifespan' protocol", exc_info=error)
                raise LifespanStartupError(
                    f"the app raised during lifespan start-up: {error!r}"
                ) from error
            raise LifespanStartupError(
                "the app returned without answering 'lifespan.startup' "
                "(lifespan 'on' needs 'lifespan.startup.complete')"
            )
        self.logger.info("ASGI 'lifespan' protocol appears unsupported.")
        if error is not None:
            self.logger.debug("The app raised on the 'lifespan' scope", exc_info=error)

    async def _run_app(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            self._app_error = exc
            if self._phase is _Phase.RUNNING:
                # Nobody is waiting for an answer now, so report the failure as it happens.
                self.logger.error("Exception in 'lifespan' protocol", exc_info=exc)
        finally:
            self._startup_answered.set()
            self._shutdown_answered.set()

    async def _receive(self) -> Message:
        return await self._receive_queue.get()

    async def _send(self, message: Message) -> None:
        message_type = message.get("type")
        expected = _EXPECTED.get(self._phase, ())
        if message_type not in expected:
            error = ASGIProtocolError(_describe_unexpected(self._phase, message_type))
            if isinstance(message_type, str) and message_type.startswith("lifespan."):
                self._lifespan_misuse = error
            raise error
        # ASGI lifespan spec: "message" is optional and defaults to "".
        answer = _Answer(
            failed=message_type.endswith(".failed"), message=str(message.get("message", ""))
        )
        if self._phase is _Phase.STARTUP:
            self._startup_answer = answer
            self._phase = _Phase.OVER if answer.failed else _Phase.RUNNING
            self._startup_answered.set()
        else:
            self._shutdown_answer = answer
            self._phase = _Phase.OVER
            self._shutdown_answered.set()


def _describe_unexpected(phase: _Phase, message_type: object) -> str:
    expected = _EXPECTED.get(phase)
    if expected is not None:
        wanted = " or ".join(repr(name) for name in expected)
        return f"Expected ASGI message {wanted}, but got {message_type!r}."
    if phase is _Phase.RUNNING:
        return (
            f"Unexpected ASGI message {message_type!r}: start-up is complete and "
            "'lifespan.shutdown' has not been received, so no message is expected."
        )
    return f"Unexpected ASGI message {message_type!r}: the lifespan conversation is over."
