"""``SessionApp``: the app's side of a ``SessionSource``, the base of ``lkmon.tui.app.LkmonApp``.

It owns the event queue into the model, runs the source in a worker (through
``lifecycle.SourceLink``), passes it what the user types and the mute key, quits (stop the
source, write the quit snapshot) and exports with ``e``. ``LkmonApp`` adds the panes, the
layout and the keys. Nothing here draws anything. No livekit import here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App
from textual.worker import Worker, WorkerState

from lkmon import redact as secrets
from lkmon.model.areas import Area
from lkmon.model.events import Event
from lkmon.model.state import SessionModel
from lkmon.model.vocab import printable
from lkmon.sources.base import SessionSource
from lkmon.sources.follow import FollowSource
from lkmon.tui.feed import EventFeed
from lkmon.tui.lifecycle import (
    QUIT_TIMEOUT,
    QuitSignals,
    SourceLink,
    export_files,
    route_logs,
    write_quit_snapshot,
)
from lkmon.tui.widgets.common import guarded
from lkmon.tui.widgets.messages import WidgetError
from lkmon.tui.widgets.say import SayBox


class SessionApp(App[Path | None]):
    """The session side of the monitor: ``run()`` returns the snapshot written on quit, or None.

    Args:
        model: the session model (``source.open()``); the source's events are folded into it.
        source: the ``lkmon.sources.SessionSource`` the session comes from; a live one runs in a
            worker and delivers to ``post_event``. ``None`` (or a replay) shows ``model`` as is.
        export_dir: where ``e`` and quit write snapshots, SVG screenshots and HTML reports.
        prices: a ``lkmon.model.usage.PriceTable`` for cost estimates, or ``None``.
        thresholds: (good, bad) e2e latency in seconds (green below good, red from bad).
        redact: replace transcript text with placeholders on screen and in every export.
        clock: returns epoch seconds; fixed in tests so elapsed times are stable.
        exit_on_close: exit the app when the session ends.
        snapshot_path: where quitting a live session writes its snapshot (``--export FILE``);
            ``None`` for a new time-stamped file in ``export_dir``.
    """

    def __init__(
        self,
        model: SessionModel,
        source: SessionSource | None = None,
        *,
        export_dir: Path | str = ".",
        prices: Any = None,
        thresholds: tuple[float, float] = (1.0, 2.0),
        redact: bool = False,
        clock: Callable[[], float] = time.time,
        exit_on_close: bool = False,
        snapshot_path: Path | str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.session = SourceLink(source, self.post_event)
        """The source and what it can do."""
        self.export_dir = Path(export_dir)
        self.prices = prices
        if prices is not None:  # the usage pane and every export cost with the model's table
            model.prices = prices
        self.thresholds = thresholds
        self.redact = redact
        self.clock = clock
        self.exit_on_close = exit_on_close
        self.snapshot_path = Path(snapshot_path) if snapshot_path is not None else None
        self.mic_muted = False
        """True while the mic is muted with ``m``."""
        self.saved_snapshot: Path | None = None
        """The snapshot written on quit, if any."""
        self.save_failure: str | None = None
        """Why the snapshot on quit could not be written (``"PATH: reason"``), if it could not."""
        self.exported: list[Path] = []
        """Every file written by ``e``, in order."""
        self.feed = EventFeed(model, self.report_error)
        """The queue from the source into the model."""
        self.watch_changes: Callable[[SessionModel, set[Area]], None] | None = None
        """Called with (model, changed areas) after each drain that changed something (the
        live store writer, ``lkmon.store.db.live.LiveWriter.observe``)."""
        self._quitting = False
        self._redactor = secrets.default_redactor()
        self._signals = QuitSignals(self.request_quit)
        self._log_router: Any = None

    # --- the event queue ------------------------------------------------------------------
    @property
    def source(self) -> SessionSource | None:
        """The session's source, or ``None``."""
        return self.session.source

    @property
    def session_over(self) -> bool:
        """True once the source's ``run`` has returned (and always in replay)."""
        return self.session.over

    @property
    def sessions_seen(self) -> list[Path] | None:
        """``lkmon watch``: the journals followed so far, in order; ``None`` for other
        sources."""
        source = self.source
        return list(source.sessions) if isinstance(source, FollowSource) else None

    @guarded("app.list_sessions")
    def action_list_sessions(self) -> None:
        """Notify the sessions ``lkmon watch`` has seen (the one followed now last)."""
        seen = self.sessions_seen
        if not seen:
            self.notify("No session yet: waiting for a journal.", timeout=4)
            return
        lines = [f"{i}. {printable(p.name)}"
                 for i, p in enumerate(seen[-10:], max(len(seen) - 9, 1))]
        self.notify("\n".join(lines), title=f"Sessions seen ({len(seen)})", timeout=8,
                    markup=False)

    @property
    def live(self) -> bool:
        """True with a live source, False in replay."""
        return self.session.live

    def post_event(self, event: Event) -> None:
        """Queue one event for the model. Cheap; call it from the event-loop thread.

        This is the ``emit`` the source delivers to; the drain timer folds the queue into the
        model ``lkmon.tui.app.DRAIN_HZ`` times a second.
        """
        self.feed.post(event)

    def apply_events(self, events: Iterable[Event]) -> set[Area]:
        """Fold events into the model now and refresh the panes they changed.

        Returns:
            The areas that changed.
        """
        changed = self.feed.apply_many(events)
        if changed:
            self.refresh_areas(changed)
        return changed

    def drain(self) -> int:
        """Fold queued events into the model and refresh the changed panes.

        Returns:
            How many events were folded.
        """
        n, changed = self.feed.drain()
        if changed:
            self.refresh_areas(changed)
            if self.watch_changes is not None:
                self.watch_changes(self.model, changed)
        return n

    def refresh_areas(self, changed: set[Area], *, force: bool = False) -> None:
        """Re-render what shows any of the ``changed`` areas (the subclass's panes)."""

    def session_changed(self) -> None:
        """The session ended or the mic was muted: the subclass updates what shows it."""

    def on_widget_error(self, message: WidgetError) -> None:
        """A pane (or this app) caught an exception in its own code (``guarded``): show it."""
        message.stop()
        self.report_error(message.where, message.error)

    def report_error(self, where: str, error: BaseException) -> None:
        """Log an exception from lkmon's own code and show it (banner + log pane), once per kind.

        Never raises. The agent session goes on.
        """
        self.feed.report_error(where, error, self.clock())

    def now(self) -> float:
        """The current time for live views: the clock when live, the session's end in replay."""
        if self.live and not self.session.over:
            return self.clock()
        session = self.model.session
        end = session.closed_at if session.closed_at is not None else session.last_event_at
        return end if end is not None else self.clock()

    # --- start and end --------------------------------------------------------------------
    def start_session(self) -> None:
        """Take SIGINT/SIGTERM and (unless the source does) the loggers; run the source."""
        loop = asyncio.get_running_loop()
        self._signals.install(loop)
        if not self.session.routes_logs:
            self._log_router = route_logs(self.post_event, loop)
        self.session.start(self)

    def on_unmount(self) -> None:
        """Give back the signal handlers and the loggers."""
        self._signals.uninstall(asyncio.get_running_loop())
        if self._log_router is not None:
            self._log_router.uninstall()
            self._log_router = None

    def request_quit(self) -> None:
        """Quit gracefully from a signal handler or another task (stops the source first)."""
        if not self._quitting:
            self.run_worker(self.action_quit(), group="quit", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler for worker failures: show them, never exit because of them."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.report_error(f"worker {worker.name or worker.group}", worker.error)
        if self.session.is_source_worker(worker) and event.state in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            self.session.over = True
            self.session_changed()
            if not self._quitting:
                self.notify("The agent session has ended. q quits, e exports.", timeout=6)
                if self.exit_on_close:
                    self.run_worker(self.action_quit(), group="quit")

    async def action_quit(self) -> None:
        """Stop the source, save the snapshot (live sessions), and exit."""
        if self._quitting:
            return
        self._quitting = True
        caps = self.session.capabilities
        what = "watching" if caps.remote and not caps.stops_agent else "the agent"
        self.notify(f"Stopping {what} and saving the snapshot…", timeout=QUIT_TIMEOUT)
        await self.session.stop()
        self.feed.paused = 0
        self.drain()
        if self.live:
            self.saved_snapshot, self.save_failure = await write_quit_snapshot(
                self.model, export_dir=self.export_dir, snapshot_path=self.snapshot_path,
                redact=self.redact, now=self.clock())
        self.exit(self.saved_snapshot)

    # --- what the user sends ----------------------------------------------------------------
    @guarded("app.type_message")
    def action_type_message(self) -> None:
        """Open the message box (live sessions only)."""
        if not self.live:
            self.notify("Replay: there is no agent to talk to.", severity="warning", timeout=3)
            return
        self.query_one(SayBox).open()

    @on(SayBox.Said)
    @guarded("app.say")
    def _on_said(self, message: SayBox.Said) -> None:
        problem = self.session.say(message.text)
        if problem is not None:
            self.notify(printable(f"Not sent: {problem}"), severity="warning", timeout=3)
            return
        self.notify(printable(f"Sent: {message.text[:60]}"), timeout=2)

    @guarded("app.mute")
    def action_toggle_mute(self) -> None:
        """Mute or unmute the microphone (live sessions only)."""
        if not self.live:
            self.notify("Replay: there is no microphone.", severity="warning", timeout=3)
            return
        want = not self.mic_muted
        if not self.session.set_muted(want):  # WAV or text input
            self.notify("This session has no microphone to mute.", severity="warning",
                        timeout=3)
            return
        self.mic_muted = want
        self.notify("Mic muted" if want else "Mic on", timeout=2)
        self.session_changed()

    # --- exports ----------------------------------------------------------------------------
    @guarded("app.export")
    def action_export(self) -> None:
        """Write the snapshot JSON, an SVG screenshot and the HTML report, never overwriting."""
        self.run_worker(self.export_all(), group="export", exit_on_error=False)

    async def export_all(self) -> list[Path]:
        """Export the snapshot, SVG screenshot and HTML report into ``export_dir``.

        Each file gets a new time-stamped name; a failure (read-only or full directory) becomes
        a notification and the others are still written. The files are written in a thread
        while the drain is paused, so the model does not change under it.

        Returns:
            The files written.
        """
        svg = self._redactor.redact(self.export_screenshot(title="lkmon"))
        self.feed.paused += 1
        try:
            written, failures = await export_files(
                self.model, self.export_dir, svg=svg, redact=self.redact,
                thresholds=self.thresholds, now=self.clock())
        finally:
            self.feed.paused -= 1
        self.exported.extend(written)
        if written:
            names = ", ".join(p.name for p in written)
            self.notify(f"Exported {names} to {self.export_dir.resolve()}", title="Export",
                        timeout=8)
        if failures:
            self.notify(printable("Export failed: " + "; ".join(failures)), title="Export",
                        severity="error", timeout=10)
        return written
