"""The lkmon Textual app: panes, keys, and the event queue from the agent into the model.

Data flow (STYLE.md): the runner calls ``LkmonApp.post_event`` for every lkmon event (cheap, an
append to a deque; audio levels are coalesced to the latest per source). A timer drains the
queue 15 times a second, folds each event into the ``SessionModel`` and refreshes only the panes
whose ``Area`` changed, inside ``batch_update()``. With ``runner=None`` the app replays a saved
model. Nothing here blocks the event loop: snapshot and HTML exports run in a thread while the
drain is paused, so the model is not mutated under them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from lkmon import paths
from lkmon import redact as secrets
from lkmon.model.events import ErrorRaised, Event
from lkmon.model.state import Area, SessionModel
from lkmon.report import bundle as exports
from lkmon.tui.feed import EventFeed
from lkmon.tui.lifecycle import QuitSignals, route_logs
from lkmon.tui.widgets.banner import ErrorBanner, LoadingLine
from lkmon.tui.widgets.common import guarded
from lkmon.tui.widgets.detail import TurnDetailScreen
from lkmon.tui.widgets.help import HelpScreen
from lkmon.tui.widgets.keys import APP_BINDINGS, LIVE_ONLY, MAIN_ONLY
from lkmon.tui.widgets.layout import MainPanes, apply_layout
from lkmon.tui.widgets.log import LogPane
from lkmon.tui.widgets.messages import WidgetError
from lkmon.tui.widgets.say import SayBox
from lkmon.tui.widgets.status import StatusStrip

log = logging.getLogger("lkmon.tui.app")

DRAIN_HZ = 15
"""How often the event queue is drained into the model (per second)."""
QUIT_TIMEOUT = 4.0
"""Seconds to wait for the runner to stop on quit before cancelling it."""


class LkmonApp(App[Path | None]):
    """The lkmon monitor.

    Args:
        model: the session model the panes show; the app folds new events into it.
        runner: a ``lkmon.agent.host.runner.SessionRunner`` built with ``emit=app.post_event``, or
            ``None`` to replay ``model``.
        thresholds: (good, bad) e2e latency in seconds: below good is green, from bad red.
        export_dir: where ``e`` and quit write snapshots, SVG screenshots and HTML reports.
        prices: a ``lkmon.model.usage.PriceTable`` for cost estimates, or ``None`` for defaults.
        redact: replace transcript text with placeholders in the screen and every export.
        clock: returns epoch seconds; fixed in tests so elapsed times are stable.
        exit_on_close: exit the app when the session ends (used by headless runs).
        snapshot_path: where quitting a live session writes its snapshot (``--export FILE``);
            ``None`` for a new time-stamped file in ``export_dir``.

    ``run()`` returns the path of the snapshot written on quit, or ``None``.
    """

    CSS_PATH = "lkmon.tcss"
    TITLE = "lkmon"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        model: SessionModel,
        runner: Any = None,
        *,
        thresholds: tuple[float, float] = (1.0, 2.0),
        export_dir: Path | str = ".",
        prices: Any = None,
        redact: bool = False,
        clock: Callable[[], float] = time.time,
        exit_on_close: bool = False,
        snapshot_path: Path | str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.runner = runner
        self.thresholds = thresholds
        self.export_dir = Path(export_dir)
        self.prices = prices
        if prices is not None:  # the usage pane and every export cost with the model's table
            model.prices = prices
        self.redact = redact
        self.clock = clock
        self.exit_on_close = exit_on_close
        self.snapshot_path = Path(snapshot_path) if snapshot_path is not None else None
        self.mic_muted = False
        """True while the mic is muted with ``m``."""
        self.active_pane = "turns"
        """The pane number keys selected last (the one shown in compact layouts)."""
        self.saved_snapshot: Path | None = None
        """The snapshot written on quit, if any."""
        self.exported: list[Path] = []
        """Every file written by ``e``, in order."""
        self.feed = EventFeed(model, self.report_error)
        """The queue from the runner into the model."""
        self._errors_seen: dict[tuple[str, str], int] = {}
        self._runner_worker: Worker[None] | None = None
        self._quitting = False
        self._session_over = runner is None
        self._redactor = secrets.default_redactor()
        self._signals = QuitSignals(self.request_quit)
        self._layout_size: Size | None = None
        self._refreshed_at: dict[Any, float] = {}
        self._refresh_pending: set[Any] = set()
        self._log_router: Any = None

    # --- the event queue ------------------------------------------------------------------
    @property
    def session_over(self) -> bool:
        """True once the runner has returned (and always in replay)."""
        return self._session_over

    @property
    def live(self) -> bool:
        """True with a runner (a live session), False in replay."""
        return self.runner is not None

    def post_event(self, event: Event) -> None:
        """Queue one event for the model. Cheap; call it from the event-loop thread.

        This is the ``emit`` callback given to ``SessionRunner``; the drain timer folds the
        queue into the model 15 times a second.
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
        return n

    def refresh_areas(self, changed: set[Area], *, force: bool = False) -> None:
        """Re-render the panes that show any of the ``changed`` areas.

        A pane with a ``MIN_INTERVAL`` (seconds) re-renders at most that often; a change within
        the interval is shown when it ends. ``force`` re-renders at once.
        """
        if not self.is_running or not self.screen_stack:
            return
        with self.batch_update():
            for pane in self._panes:
                if pane.AREAS & changed:
                    self._refresh_pane(pane, force=force)
            screen = self.screen
            if isinstance(screen, TurnDetailScreen) and (
                Area.TURNS in changed or Area.TRANSCRIPT in changed
            ):
                self._refresh_pane(screen, force=force)

    def _refresh_pane(self, pane: Any, *, force: bool = True) -> None:
        interval = getattr(pane, "MIN_INTERVAL", 0.0)
        if interval and not force:
            now = time.monotonic()
            due = self._refreshed_at.get(pane, 0.0) + interval
            if now < due:
                if pane not in self._refresh_pending:
                    self._refresh_pending.add(pane)
                    self.set_timer(due - now, lambda: self._refresh_pane(pane))
                return
        self._refresh_pending.discard(pane)
        self._refreshed_at[pane] = time.monotonic()
        try:
            pane.update_view()
        except Exception as e:  # shown, never fatal
            self.report_error(f"{type(pane).__name__}.update_view", e)

    def on_widget_error(self, message: WidgetError) -> None:
        """A pane caught an exception in its own code (``guarded``): show it."""
        message.stop()
        self.report_error(message.where, message.error)

    def report_error(self, where: str, error: BaseException) -> None:
        """Log an exception from lkmon's own code and show it (banner + log pane), once per kind.

        Never raises. The agent session goes on.
        """
        key = (where, f"{type(error).__name__}: {error}")
        count = self._errors_seen.get(key, 0) + 1
        self._errors_seen[key] = count
        log.error("lkmon error in %s: %s", where, key[1], exc_info=error if count == 1 else None)
        if count > 1:
            return
        message = self._redactor.redact(f"{where}: {key[1]}")
        event = ErrorRaised(ts=self.clock(), source="lkmon", message=message, recoverable=True)
        # Through the queue, so a failing pane cannot re-enter itself.
        self.feed.post(event)

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Status strip, banners, the panes in two columns, the message input and the footer."""
        self.status_strip = StatusStrip(self.model, live=self.live, clock=self.clock)
        self.banner = ErrorBanner(self.model)
        self.loading_line = LoadingLine(self.model)
        with Vertical(id="top"):
            yield self.status_strip
            yield self.banner
            yield self.loading_line
        main = MainPanes(self.model, thresholds=self.thresholds, redact=self.redact,
                         now=self._now)
        self.turns_pane, self.transcript_pane = main.turns_pane, main.transcript_pane
        self.vad_pane, self.usage_pane = main.vad_pane, main.usage_pane
        self.log_pane = main.log_pane
        self._main = main
        self._panes: list[Any] = [*main.named().values(), self.banner, self.loading_line,
                                  self.status_strip]
        yield main
        yield Static(id="too-small")
        yield SayBox()
        yield Footer()

    def _pane(self, name: str) -> Widget:
        return self._main.named()[name]

    def on_mount(self) -> None:
        """Start the drain timer, the runner worker, and lay out for the terminal size."""
        loop = asyncio.get_running_loop()
        self._signals.install(loop)
        if not self.live:
            self._log_router = route_logs(self.post_event, loop)
        self.set_interval(1 / DRAIN_HZ, self.drain, name="drain")
        if self.live:
            self.set_interval(1.0, self._tick, name="tick")
            self._runner_worker = self.run_worker(
                self._run_runner(), name="runner", group="runner", exit_on_error=False
            )
        self._apply_layout()
        self.turns_pane.focus_list()
        self.refresh_areas(set(Area), force=True)

    def on_unmount(self) -> None:
        """Give back the signal handlers and the loggers."""
        self._signals.uninstall(asyncio.get_running_loop())
        if self._log_router is not None:
            self._log_router.uninstall()
            self._log_router = None

    async def _run_runner(self) -> None:
        await self.runner.run()

    def _now(self) -> float:
        """The current time for live views: the clock when live, the session's end in replay."""
        if self.live and not self._session_over:
            return self.clock()
        session = self.model.session
        end = session.closed_at if session.closed_at is not None else session.last_event_at
        return end if end is not None else self.clock()

    def _tick(self) -> None:
        """Once a second: elapsed time and the sliding VAD window move on."""
        with self.batch_update():
            self._refresh_pane(self.status_strip, force=False)
            self._refresh_pane(self.vad_pane, force=False)

    def on_resize(self, event: Resize) -> None:
        """Switch between the full and the one-pane layout, or show the too-small notice."""
        self._apply_layout(event.size)

    @guarded("app.layout")
    def _apply_layout(self, size: Size | None = None) -> None:
        self._layout_size = size or self.size
        apply_layout(self.screen, self._layout_size, self._main.named(), self.active_pane)

    # --- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pane keys only work (and show in the footer) on the main screen; live-only keys
        are hidden in replay."""
        if action in MAIN_ONLY and len(self.screen_stack) > 1:
            return False
        if action in LIVE_ONLY and not self.live:
            return False
        banner = getattr(self, "banner", None)
        if action == "dismiss_banner" and (banner is None or not banner.display):
            return False
        return True

    def request_quit(self) -> None:
        """Quit gracefully from a signal handler or another task (stops the runner first)."""
        if not self._quitting:
            self.run_worker(self.action_quit(), group="quit", exit_on_error=False)

    @guarded("app.cursor")
    def action_cursor(self, to: int | str) -> None:
        """Move the turn cursor ``to`` rows, or to the ``"first"`` or ``"last"`` turn."""
        if to == "first":
            self.turns_pane.cursor_first()
        elif to == "last":
            self.turns_pane.cursor_last()
        else:
            self.turns_pane.move_cursor(int(to))

    @guarded("app.follow")
    def action_toggle_follow(self) -> None:
        """Follow the newest turn, or stop following."""
        following = self.turns_pane.toggle_follow()
        self.notify("Following the newest turn" if following else "Not following", timeout=2)

    @guarded("app.detail")
    def action_open_detail(self) -> None:
        """Open the detail screen for the turn under the cursor."""
        index = self.turns_pane.cursor_turn_index()
        if index is None:
            self.notify("No turn yet.", timeout=2)
            return
        self.push_screen(TurnDetailScreen(self.model, index, thresholds=self.thresholds,
                                          redact=self.redact))

    @guarded("app.help")
    def action_help(self) -> None:
        """Show every key and what each pane shows."""
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(list(self.BINDINGS), thresholds=self.thresholds, extra=[
            ("In the log pane", list(LogPane.BINDINGS)),
            ("In the turn detail", list(TurnDetailScreen.BINDINGS)),
        ]))

    @guarded("app.show_pane")
    def action_show_pane(self, name: str) -> None:
        """Show (in the one-pane layout) and focus pane ``name``."""
        self.active_pane = name
        if self.screen.maximized is not None:
            self.screen.minimize()
        self._apply_layout(self._layout_size)
        pane = self._pane(name)
        if name == "turns":
            self.turns_pane.focus_list()
        else:
            pane.focus()

    @guarded("app.zoom")
    def action_zoom(self) -> None:
        """Maximise the active pane, or restore the layout."""
        if self.screen.maximized is not None:
            self.screen.minimize()
        else:
            self.screen.maximize(self._pane(self.active_pane))

    @guarded("app.dismiss_banner")
    def action_dismiss_banner(self) -> None:
        """Hide the error banner until the next error."""
        self.banner.dismiss()
        self.refresh_bindings()

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
        self._call_runner("send_text", message.text)
        self.notify(f"Sent: {message.text[:60]}", timeout=2)

    @on(SayBox.Closed)
    def _on_say_closed(self) -> None:
        self.turns_pane.focus_list()

    @guarded("app.mute")
    def action_toggle_mute(self) -> None:
        """Mute or unmute the microphone (live sessions only)."""
        if not self.live:
            self.notify("Replay: there is no microphone.", severity="warning", timeout=3)
            return
        want = not self.mic_muted
        self._call_runner("set_mic_muted", want)
        actual = getattr(self.runner, "mic_muted", want)
        if actual != want:  # the runner has no microphone (WAV or text input)
            self.notify("This session has no microphone to mute.", severity="warning",
                        timeout=3)
            return
        self.mic_muted = want
        self.notify("Mic muted" if want else "Mic on", timeout=2)
        self.status_strip.show_state(mic_muted=want)

    def _call_runner(self, method: str, *args: Any) -> None:
        """Call a runner method that may be sync or async; failures are shown, never raised."""
        try:
            result = getattr(self.runner, method)(*args)
        except Exception as e:
            self.report_error(f"runner.{method}", e)
            return
        if inspect.isawaitable(result):
            async def wait() -> None:
                await result

            self.run_worker(wait(), group="runner-call", exit_on_error=False)

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
        stem = paths.export_stem(self.clock())
        svg = self._redactor.redact(self.export_screenshot(title="lkmon"))
        self.feed.paused += 1
        try:
            written, failures = await asyncio.to_thread(
                exports.export_session, self.model, self.export_dir, stem, svg=svg,
                redact_text=self.redact, thresholds=self.thresholds)
        finally:
            self.feed.paused -= 1
        self.exported.extend(written)
        if written:
            names = ", ".join(p.name for p in written)
            self.notify(f"Exported {names} to {self.export_dir.resolve()}", title="Export",
                        timeout=8)
        if failures:
            self.notify("Export failed: " + "; ".join(failures), title="Export",
                        severity="error", timeout=10)
        return written

    # --- workers and quitting -------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler for worker failures: show them, never exit because of them."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.report_error(f"worker {worker.name or worker.group}", worker.error)
        if worker is self._runner_worker and event.state in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            self._session_over = True
            self.status_strip.show_state(session_over=True)
            if not self._quitting:
                self.notify("The agent session has ended. q quits, e exports.", timeout=6)
                if self.exit_on_close:
                    self.run_worker(self.action_quit(), group="quit")

    async def action_quit(self) -> None:
        """Stop the runner, save the snapshot (live sessions), and exit."""
        if self._quitting:
            return
        self._quitting = True
        self.notify("Stopping the agent and saving the snapshot…", timeout=QUIT_TIMEOUT)
        worker = self._runner_worker
        if self.runner is not None and worker is not None and worker.is_running:
            self._call_runner("stop")
            try:
                await asyncio.wait_for(worker.wait(), timeout=QUIT_TIMEOUT)
            except Exception as e:  # a runner that does not stop in time is cancelled
                log.warning("the runner did not stop in %.0f s (%s); cancelling it",
                            QUIT_TIMEOUT, type(e).__name__)
                worker.cancel()
        self.feed.paused = 0
        self.drain()
        if self.live:
            path = None
            try:
                path = self.snapshot_path or paths.reserve(
                    self.export_dir, paths.export_stem(self.clock()), ".json")
                await asyncio.to_thread(exports.write_snapshot_file, self.model, path,
                                        redact_text=self.redact)
                self.saved_snapshot = path
            except Exception as e:
                log.error("could not save the snapshot on quit: %s", e)
                if self.snapshot_path is None:
                    paths.release(path)
        self.exit(self.saved_snapshot)
