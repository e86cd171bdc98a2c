"""What the app takes over while it runs, and the session source as the app sees it.

* ``QuitSignals``: SIGTERM/SIGINT/SIGHUP quit gracefully; ``route_logs``: the loggers, when
  the source does not route them itself (a replay);
* ``SourceLink``: the source run in a worker, what the user types and the mute key passed to
  it, stopped on quit; the files the app writes (``export_files``, ``write_quit_snapshot``).

Nothing here draws anything. No livekit import here (``lkmon.agent.observe.logs`` imports
none).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.worker import Worker

from lkmon import paths
from lkmon.model.events import Event
from lkmon.model.state import SessionModel
from lkmon.report import bundle as exports
from lkmon.sources.base import Capabilities, SessionSource, Unsupported
from lkmon.store.files import QUIT_SIGNALS

log = logging.getLogger("lkmon.tui.lifecycle")


class QuitSignals:
    """SIGTERM, SIGINT and SIGHUP call ``on_signal`` on the event loop instead of killing the
    process.

    Args:
        on_signal: called on the loop thread; it should start a graceful quit.
    """

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self.on_signal = on_signal
        self.installed: list[signal.Signals] = []

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the handlers (where the platform allows it)."""
        for sig in QUIT_SIGNALS:  # SIGHUP (the terminal closed) as SIGTERM
            try:
                loop.add_signal_handler(sig, self.on_signal)
            except (NotImplementedError, RuntimeError, ValueError) as e:
                log.debug("no handler for %s: %s", sig, e)
                continue
            self.installed.append(sig)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the signals back."""
        for sig in self.installed:
            loop.remove_signal_handler(sig)
        self.installed.clear()


def route_logs(emit: Callable[[Event], None], loop: asyncio.AbstractEventLoop) -> Any:
    """Route the ``livekit``, ``lkmon`` and root loggers into ``LogRecord`` events (replay has
    no runner doing it), so that nothing is written over the screen.

    Returns:
        The router; call its ``uninstall()`` when the app ends.
    """
    from lkmon.agent.observe.logs import LogRouter

    router = LogRouter(emit, capture_root=True).install()
    router.bind(loop)
    return router


QUIT_TIMEOUT = 4.0
"""Seconds to wait for the source to stop on quit before cancelling it."""


class SourceLink:
    """One source as the app sees it.

    Args:
        source: where the session comes from; ``None`` for a saved model with no source.
        post: the app's ``post_event`` (the ``emit`` the source delivers to).
    """

    def __init__(self, source: SessionSource | None, post: Callable[[Event], None]) -> None:
        self.source = source
        self.post = post
        self.worker: Worker[None] | None = None
        """The worker running ``source.run``; ``None`` when not live."""
        self.over = not self.live
        """True once ``source.run`` has returned (and always when not live)."""

    @property
    def capabilities(self) -> Capabilities:
        """The source's capabilities (none without a source)."""
        return self.source.capabilities if self.source is not None else Capabilities()

    @property
    def live(self) -> bool:
        """True for a live source (events arrive while the session runs)."""
        return self.capabilities.live

    @property
    def routes_logs(self) -> bool:
        """True when the source routes the loggers itself (else the app does)."""
        return self.source is not None and self.source.routes_logs

    def start(self, app: App[Any]) -> None:
        """Run a live source in a worker of ``app`` (its failures go to the app's one worker
        handler, ``on_worker_state_changed``)."""
        if self.source is None or not self.live:
            return
        self.worker = app.run_worker(
            self.source.run(self.post), name="source", group="source", exit_on_error=False
        )

    def is_source_worker(self, worker: Worker[Any]) -> bool:
        """True for the worker running the source."""
        return worker is self.worker

    def say(self, text: str) -> str | None:
        """Send a typed user turn; returns why it could not be sent, or ``None``.

        Raises:
            Exception: whatever the source raised other than ``Unsupported`` (the caller shows
                it with ``report_error``).
        """
        if self.source is None or not self.capabilities.can_say:
            return "there is no agent to talk to"
        try:
            self.source.send_text(text)
        except Unsupported as e:
            return str(e)
        return None

    def set_muted(self, muted: bool) -> bool:
        """Mute or unmute the microphone; returns False when the session has none."""
        if self.source is None or not self.capabilities.can_mute:
            return False
        try:
            self.source.set_mic_muted(muted)
        except Unsupported:
            return False
        return self.source.mic_muted == muted

    async def stop(self, timeout: float = QUIT_TIMEOUT) -> None:
        """Stop a running source and wait for its worker (cancelled after ``timeout`` s)."""
        worker = self.worker
        if self.source is None or worker is None or not worker.is_running:
            return
        self.source.stop("quit")
        try:
            await asyncio.wait_for(worker.wait(), timeout=timeout)
        except Exception as e:  # a source that does not stop in time is cancelled
            log.warning("the session did not stop in %.0f s (%s); cancelling it",
                        timeout, type(e).__name__)
            worker.cancel()


async def export_files(
    model: SessionModel,
    export_dir: Path,
    *,
    svg: str,
    redact: bool,
    thresholds: tuple[float, float],
    now: float,
) -> tuple[list[Path], list[str]]:
    """Write the snapshot JSON, ``svg`` (a screenshot) and the HTML report into ``export_dir``
    in a thread, each under a new ``lkmon-<time>`` name (``lkmon.report.bundle``).

    The caller pauses the drain meanwhile, so the model does not change under the thread.

    Returns:
        (files written, one line per writer that failed); never raises for a failed writer.
    """
    stem = paths.export_stem(now)
    return await asyncio.to_thread(
        exports.export_session, model, export_dir, stem, svg=svg, redact_text=redact,
        thresholds=thresholds)


async def write_quit_snapshot(
    model: SessionModel,
    *,
    export_dir: Path,
    snapshot_path: Path | None,
    redact: bool,
    now: float,
) -> tuple[Path | None, str | None]:
    """Write the snapshot of a live session on quit, in a thread; never raises.

    Args:
        snapshot_path: the file to write (``--export FILE``: never replaced if a file appeared
            there meanwhile, ``FILE-1`` is used); ``None`` for a new time-stamped
            ``lkmon-<time>.json`` in ``export_dir``.
        now: epoch seconds for the time stamp.

    Returns:
        (the snapshot written, ``None``), or (``None``, why it could not be: logged).
    """
    path = None
    try:
        if snapshot_path is not None:
            written = await asyncio.to_thread(exports.write_snapshot_file, model, snapshot_path,
                                              redact_text=redact, overwrite=False)
        else:
            path = paths.reserve(export_dir, paths.export_stem(now), ".json")
            written = await asyncio.to_thread(exports.write_snapshot_file, model, path,
                                              redact_text=redact)
        return written, None
    except Exception as e:
        log.error("could not save the snapshot on quit: %s", e)
        paths.release(path)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return None, f"{snapshot_path or path or export_dir}: {reason}"
