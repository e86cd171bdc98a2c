"""Route the ``livekit``, ``lkmon`` and ``asyncio`` loggers into ``LogRecord`` events.

While lkmon runs, those loggers get one handler, this router, with ``propagate=False``: nothing
reaches the real stderr behind a TUI. Messages are redacted with ``lkmon.redact`` before they
leave the router. Optionally (headless), records at or above ``stderr_level`` are also printed,
redacted, on stderr. With ``capture_root=True`` (the TUI) the root logger's handlers are
replaced too, so a user's agent file that logs with ``logging.basicConfig`` cannot corrupt the
screen.

Records may come from any thread; events are handed to ``emit`` on the event-loop thread (with
``loop.call_soon_threadsafe``). Records logged before ``bind(loop)`` are buffered.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import threading
import warnings
from collections.abc import Callable

from lkmon.model.events import Event, LogRecord
from lkmon.model.vocab import printable
from lkmon.redact import redact

ROUTED_LOGGERS = ("livekit", "lkmon", "asyncio", "py.warnings")
"""Logger names (and their children) that lkmon captures."""
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_BUFFER = 2000


def format_record(record: logging.LogRecord) -> str:
    """One line: the message, LiveKit's ``extra`` fields as ``key=value``, and the exception."""
    try:
        text = record.getMessage()
    except Exception as e:  # a bad format string in someone's log call
        text = f"{record.msg!r} (unformattable: {e})"
    extras = [
        f"{k}={v}"
        for k, v in record.__dict__.items()
        if k not in _STANDARD and not k.startswith("_") and isinstance(v, str | int | float | bool)
    ]
    if extras:
        text = f"{text} [{' '.join(extras)}]"
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text = f"{text} | {type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))


class LogRouter(logging.Handler):
    """A logging handler that turns records into ``LogRecord`` events.

    Args:
        emit: receives each event on the event-loop thread.
        level: the level the routed loggers are set to (``"INFO"`` by default).
        stderr_level: also print records at or above it on stderr (redacted); None for never.
        capture_root: also replace the root logger's handlers (for the TUI).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        level: str | int = "INFO",
        stderr_level: str | int | None = None,
        capture_root: bool = False,
    ) -> None:
        super().__init__(level=logging.DEBUG)
        self._emit = emit
        self._level = logging.getLevelName(level) if isinstance(level, str) else level
        self._stderr_level = (
            logging.getLevelName(stderr_level) if isinstance(stderr_level, str) else stderr_level
        )
        self._capture_root = capture_root
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._pending: collections.deque[LogRecord] = collections.deque(maxlen=_BUFFER)
        self._saved: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []
        self._local = threading.local()
        self._stderr = sys.stderr
        self._capture_warnings = False

    def install(self) -> LogRouter:
        """Take over the routed loggers (and the root logger with ``capture_root``)."""
        if self._saved:
            return self
        self._capture_warnings = getattr(warnings.showwarning, "__module__", "") != "logging"
        logging.captureWarnings(True)  # warnings.warn() output would go to stderr otherwise
        names: list[str | None] = list(ROUTED_LOGGERS)
        if self._capture_root:
            names.append(None)
        for name in names:
            lg = logging.getLogger(name)
            # another router (the app's, or a runner's) is not a handler to give back later
            keep = [h for h in lg.handlers if not isinstance(h, LogRouter)]
            self._saved.append((lg, keep, lg.propagate, lg.level))
            for h in list(lg.handlers):
                lg.removeHandler(h)
            lg.addHandler(self)
            if name is not None:
                lg.propagate = False
                lg.setLevel(self._level)
        return self

    def uninstall(self) -> None:
        """Give the loggers back their handlers, propagation and levels."""
        for lg, handlers, propagate, level in reversed(self._saved):
            if self not in lg.handlers:
                continue  # another router took over since; it gives the logger back
            lg.removeHandler(self)
            for h in handlers:
                lg.addHandler(h)
            lg.propagate = propagate
            lg.setLevel(level)
        self._saved.clear()
        self._loop = None
        if self._capture_warnings:
            logging.captureWarnings(False)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on ``loop`` from now on (call from the loop's thread)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        while self._pending:
            self._deliver(self._pending.popleft())

    def emit(self, record: logging.LogRecord) -> None:  # logging.Handler API
        """Convert one record; never raises, never recurses into itself."""
        if getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            message = format_record(record)
            if self._stderr_level is not None and record.levelno >= self._stderr_level:
                line = f"{record.levelname.lower()}: {record.name}: {message}"
                print(printable(line), file=self._stderr)
            event = LogRecord(
                ts=record.created, level=record.levelname, logger=record.name, message=message
            )
            loop = self._loop
            if loop is None:
                self._pending.append(event)
            elif threading.get_ident() == self._loop_thread:
                self._deliver(event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, event)
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False

    def _deliver(self, event: LogRecord) -> None:
        was_busy = getattr(self._local, "busy", False)
        self._local.busy = True  # a consumer that logs must not loop back here
        try:
            self._emit(event)
        except Exception as e:
            print(f"lkmon: log event consumer failed: {e}", file=self._stderr)
        finally:
            self._local.busy = was_busy

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging API)
        """One line on stderr instead of logging's traceback."""
        print(f"lkmon: could not route a log record from {record.name}", file=self._stderr)
