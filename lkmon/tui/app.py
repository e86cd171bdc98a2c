"""The lkmon Textual app: the panes, the layout and the keys over a session source.

Data flow (STYLE.md): the ``SessionSource`` (``lkmon.sources``) calls ``post_event`` for every
lkmon event (cheap, an append to a deque; audio levels are coalesced to the latest per source).
A timer drains the queue ``DRAIN_HZ`` times a second, folds each event into the ``SessionModel``
and refreshes only the panes whose ``Area`` changed, together with the throttled panes whose
interval has ended (``lkmon.tui.refresh``) and, once a second, the clock-driven ones, all inside
one ``batch_update()``: one screen update per tick at most, however many panes changed. The
session side (the queue, running the source, typing, muting, quitting, exports) is
``lkmon.tui.session.SessionApp``, this app's base. Nothing here blocks the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Footer, Static

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.sources.base import SessionSource
from lkmon.tui import compat
from lkmon.tui.lifecycle import QUIT_TIMEOUT
from lkmon.tui.refresh import PaneRefresh
from lkmon.tui.session import SessionApp
from lkmon.tui.widgets.banner import ErrorBanner, LoadingLine
from lkmon.tui.widgets.common import guarded
from lkmon.tui.widgets.detail import TurnDetailScreen
from lkmon.tui.widgets.help import HelpScreen
from lkmon.tui.widgets.keys import APP_BINDINGS, LIVE_ONLY, MAIN_ONLY, WATCH_ONLY
from lkmon.tui.widgets.layout import MainPanes, apply_layout
from lkmon.tui.widgets.log import LogPane
from lkmon.tui.widgets.say import SayBox
from lkmon.tui.widgets.status import StatusStrip
from lkmon.tui.widgets.whatif import WhatIfScreen

DRAIN_HZ = 4
"""How often the event queue is drained into the model and the screen updated (per second).
Each update costs Textual a redraw of the region around every dirty pane (a few ms), so the
rate, not the panes' own work, is the TUI's CPU cost and most of its loop lag (docs/benchmarks.md,
"The UI's cost": 5 before run P; at 4 a change shows within 250 ms)."""
PAINT_AFTER = 0.001
"""Seconds from the end of a drain to the start of its screen update. The two are separate
turns of the event loop with a timer between them, so that the agent's own callbacks that came
due during the drain (audio frames, the VAD) run before the screen is drawn: the loop is held
for the longer of the two, not for both back to back."""
TICK = 1.0
"""Seconds between re-renders of the clock-driven panes (the status strip's elapsed time, the
sliding VAD window, the usage pane's session duration) when nothing else changed them."""
__all__ = ["DRAIN_HZ", "QUIT_TIMEOUT", "LkmonApp"]


class LkmonApp(SessionApp):
    """The lkmon monitor.

    Args:
        model: the session model the panes show (``source.open()``); the app folds the
            source's events into it.
        source: the ``lkmon.sources.SessionSource`` the session comes from; a live one runs in a
            worker and delivers to ``post_event``. ``None`` (or a replay) shows ``model`` as is.
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

    # Absolute: Textual resolves a relative CSS_PATH beside the module of the class, so a
    # subclass defined elsewhere (a test, a user's own app) would not find it.
    CSS_PATH = Path(__file__).with_name("lkmon.tcss")
    TITLE = "lkmon"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        model: SessionModel,
        source: SessionSource | None = None,
        *,
        thresholds: tuple[float, float] = (1.0, 2.0),
        export_dir: Path | str = ".",
        prices: Any = None,
        redact: bool = False,
        clock: Callable[[], float] = time.time,
        exit_on_close: bool = False,
        snapshot_path: Path | str | None = None,
    ) -> None:
        super().__init__(
            model, source, export_dir=export_dir, prices=prices, thresholds=thresholds,
            redact=redact, clock=clock, exit_on_close=exit_on_close, snapshot_path=snapshot_path,
        )
        self.active_pane = "turns"
        """The pane number keys selected last (the one shown in compact layouts)."""
        self._layout_size: Size | None = None
        self._refresh = PaneRefresh(self.report_error)
        self._ticked_at = 0.0
        compat.uncached_whole_divide()  # Textual's strips must not be cycles (tui/compat.py)
        compat.lazy_strip_caches()  # nor carry seven empty caches each
        compat.cropped_renders()  # a partial update renders only the rows it draws
        compat.quiet_scrollbars()  # a scrollbar repaints only when its look changes
        compat.writes_survive_a_lost_terminal()  # a closed terminal must not hang the quit

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
        self._refresh.pane(pane, force=force)

    def session_changed(self) -> None:
        """The session ended or the mic was muted: the status strip shows it."""
        self.status_strip.show_state(session_over=self.session_over, mic_muted=self.mic_muted)

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
                         now=self.now)
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
        """Start the drain timer and the session, and lay out for the terminal size."""
        self.set_interval(1 / DRAIN_HZ, self._frame, name="drain")
        self.start_session()
        self._apply_layout()
        self.turns_pane.focus_list()
        self.refresh_areas(set(Area), force=True)

    def _frame(self) -> None:
        """The drain timer: fold the queue, re-render what changed and the throttled panes now
        due, and once a ``TICK`` (live only) the clock-driven panes; one screen update,
        ``PAINT_AFTER`` seconds later (``tui.compat.paint_after``)."""
        with compat.paint_after(self, PAINT_AFTER):
            self.drain()
            if self.live:
                now = time.monotonic()
                if now - self._ticked_at >= TICK:
                    self._ticked_at = now
                    self._refresh_pane(self.status_strip, force=False)
                    self._refresh_pane(self.vad_pane, force=False)
                    self._refresh_pane(self.usage_pane, force=False)  # its session duration
            self._refresh.flush()

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
        if action in WATCH_ONLY and self.sessions_seen is None:
            return False
        banner = getattr(self, "banner", None)
        if action == "dismiss_banner" and (banner is None or not banner.display):
            return False
        return True

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

    @guarded("app.whatif")
    def action_endpointing_whatif(self) -> None:
        """Open the endpointing what-if table (this session's own pauses)."""
        self.push_screen(WhatIfScreen(self.model))

    @guarded("app.help")
    def action_help(self) -> None:
        """Show every key and what each pane shows."""
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        keys = [b for b in self.BINDINGS if self.sessions_seen is not None
                or getattr(b, "action", None) not in WATCH_ONLY]
        self.push_screen(HelpScreen(keys, thresholds=self.thresholds, extra=[
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

    @on(SayBox.Closed)
    def _on_say_closed(self) -> None:
        self.turns_pane.focus_list()
