"""The turns pane: a row per turn with a stacked latency bar, its e2e latency, and a summary.

Each row shows the turn index, its time, a bar split into EOU delay, LLM TTFT and TTS TTFB (the
rest of the e2e latency dimmed) drawn to one scale across all turns, and the e2e latency coloured
against the user's thresholds. The list is a Line API view: only visible rows are rendered, so a
session with 10,000 turns costs the same per frame as one with ten. Figures come from
``Turn.metrics`` (LiveKit ``ChatMessage.metrics`` and the per-plugin metrics joined by
``speech_id``); the summary from ``SessionModel.summary()``.
"""

from __future__ import annotations

import time
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from lkmon.model import vocab
from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.vocab import fmt_clock, fmt_s
from lkmon.tui import compat
from lkmon.tui.compat import crop_extend
from lkmon.tui.widgets import common
from lkmon.tui.widgets.bars import (
    BAR_STAGES,
    BarLengths,
    friendly_scale,
    render_bar,
    ruler_ticks,
    split_bar_segments,
    turn_flag,
)
from lkmon.tui.widgets.common import DIM, WARN, e2e_style, guarded, stage_style
from lkmon.tui.widgets.eou_timeline import PART_SHORT, eou_part_p95
from lkmon.tui.widgets.heard import HeardColumn, heard_cell, heard_line
from lkmon.tui.widgets.interrupts import counts_line

SUMMARY_EVERY = 0.5
"""Seconds between summary recomputations while turns keep changing."""
LABEL_COLUMN = 12
"""Cells of the summary's stage labels (fits "e2e latency")."""
SUMMARY_COLUMN = 9
"""Cells per figure of the summary (fits "12.345 s")."""


class TurnsList(ScrollView, can_focus=True, inherit_bindings=False):
    """The rows of the turns pane (Line API). The app's keys move the cursor."""

    ROW_FIXED = 2 + 6 + 9 + 8 + 9  # marker, index, time, e2e, flag (+ spaces)

    def __init__(self, model: SessionModel, *, thresholds: tuple[float, float],
                 id: str | None = None):
        super().__init__(id=id)
        self.model = model
        self.thresholds = thresholds
        self.cursor: int | None = None
        """0-based position of the cursor in ``model.turns``, or ``None`` with no turn."""
        self.follow = True
        """Keep the cursor on the newest turn."""
        self.scale = 1.0
        """Seconds that a full-width bar stands for (one scale for every turn)."""
        self.heard = HeardColumn()  # the heard-gap column, once lkmon measured the audio
        self._lengths = BarLengths()  # each turn's bar length, and the longest
        self._row_cache: dict[int, tuple[Any, Any, tuple[Any, ...], Strip]] = {}
        self._base_style = Style()
        self._top = 0
        self._pass_width = 0

    # --- model -> view --------------------------------------------------------------------
    def _update_scale(self) -> None:
        self.scale = friendly_scale(self._lengths.update(self.model.turns))

    def update_view(self) -> None:
        """Re-read the turns: scale, virtual size, cursor (when following); rows that look
        as they did keep their drawn lines (``tui.compat.keep_rendered_rows``)."""
        drawn, top = compat.rendered_rows(self), int(self.scroll_y)
        self._update_scale()
        self.heard.update(self.model.turns)
        n = len(self.model.turns)
        common.set_virtual_size(self, Size(self.size.width, n))
        if n and (self.follow or self.cursor is None):
            self.cursor = n - 1
        if self.cursor is not None and self.cursor >= n:
            self.cursor = n - 1 if n else None
        if len(self._row_cache) > 2 * max(self.size.height, 20):  # rows scrolled away
            self._row_cache.clear()
        self.scroll_to_cursor()
        common.refresh_scrollbar(self)  # once scrolled (set_virtual_size)
        self.refresh()
        if drawn:
            self._keep_drawn(drawn, top)

    def scroll_to_cursor(self) -> None:
        """Scroll so the cursor row is visible."""
        if self.cursor is None:
            return
        height = max(self.size.height, 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def set_cursor(self, position: int) -> None:
        """Put the cursor on turn ``position`` (0-based), clamped."""
        n = len(self.model.turns)
        if not n:
            return
        self.cursor = max(0, min(n - 1, position))
        self.follow = self.cursor == n - 1 and self.follow
        self.scroll_to_cursor()
        self.refresh()

    def on_resize(self) -> None:
        """Bars are as wide as the pane; the ruler above follows."""
        self._row_cache.clear()
        self.virtual_size = Size(self.size.width, len(self.model.turns))
        self.scroll_to_cursor()
        self.post_message(self.Resized())

    class Resized(Message):
        """The list's width changed: the ruler must be redrawn."""

    # --- rendering ------------------------------------------------------------------------
    def bar_width(self) -> int:
        """Cells available to the bar at the current width (the scrollbar gutter excluded)."""
        return max(self.scrollable_content_region.width - self.ROW_FIXED - self.heard.cells, 6)

    def row_text(self, position: int) -> Text:
        """The text of row ``position`` (0-based), without the cursor highlight."""
        turn = self.model.turns[position]
        text = Text(no_wrap=True)
        text.append(f"{turn.index:>5} ", style="bold")
        text.append(fmt_clock(turn.started_at), style=DIM)
        text.append(" ")
        text.append_text(render_bar(split_bar_segments(turn), self.bar_width(), self.scale))
        e2e = turn.metrics.e2e_latency
        text.append(f" {fmt_s(e2e):>7}", style=e2e_style(e2e, self.thresholds))
        text.append_text(heard_cell(turn, self.heard.shown))
        flag, style = turn_flag(turn)
        if flag:
            text.append(f" {flag}", style=style)
        return text

    def render_lines(self, crop: Region) -> list[Strip]:
        """Render the visible rows; the widget's style is looked up once per pass, not per row."""
        self._base_style = self.rich_style
        self._top = int(self.scroll_y)
        self._pass_width = self.scrollable_content_region.width
        return super().render_lines(crop)

    @guarded("turns.render_line", fallback=lambda self, y: Strip.blank(self.size.width))
    def render_line(self, y: int) -> Strip:
        """Render visible row ``y`` (Textual Line API)."""
        position = self._top + y
        width = self._pass_width
        turns = self.model.turns
        if position >= len(turns):
            if not turns and y == 0:
                return crop_extend(Strip(Text("  No turns yet: speak, or press t to type.",
                                              style=DIM).render(self.app.console)),
                                   0, width, None)
            return Strip.blank(width, self._base_style)
        is_cursor = position == self.cursor
        turn = turns[position]
        state = self._row_state(turn, is_cursor, width)
        if (strip := self._cached_row(position, turn, state)) is not None:
            return strip
        text = Text(no_wrap=True)
        text.append("▶" if is_cursor else " ", style=f"bold {WARN}")
        text.append_text(self.row_text(position))
        strip = Strip(text.render(self.app.console), text.cell_len)
        base = self._base_style
        if is_cursor:
            base = base + Style(bgcolor="#434c5e" if self.has_focus else "#3b4252")
        strip = crop_extend(strip.apply_style(base), 0, width, base)
        self._row_cache[position] = (turn, turn.metrics, state, strip)
        return strip

    def _row_state(self, turn: Turn, is_cursor: bool, width: int) -> tuple[Any, ...]:
        return (turn.complete, turn.failed, turn.interrupted, turn.user_text is None,
                turn.eou_parts is None, turn.interruption, self.heard.shown,
                is_cursor, width, self.scale, self.has_focus, self._base_style)

    def _cached_row(self, position: int, turn: Turn, state: tuple[Any, ...]) -> Strip | None:
        """The row drawn last for ``position``, if it shows ``turn`` as it is now: the entry
        holds the turn and its metrics object (replaced on every recompute), checked by
        identity (a freed object's id can never alias a new one), and the row's state."""
        cached = self._row_cache.get(position)
        if cached is None or cached[0] is not turn or cached[1] is not turn.metrics:
            return None
        return cached[3] if cached[2] == state else None

    def _keep_drawn(self, drawn: dict[int, Strip], top: int) -> None:
        """Rows whose turn would be drawn as it was (``_row_cache``) keep the line drawn for
        it (``drawn``, by row, with turn ``top`` first), moved with the scroll."""
        turns, new_top, width = self.model.turns, int(self.scroll_y), self._pass_width
        moved = {}
        for row in range(min(self.scrollable_content_region.height, len(turns) - new_top)):
            at, turn = new_top + row, turns[new_top + row]
            if (strip := drawn.get(at - top)) is not None and self._cached_row(
                    at, turn, self._row_state(turn, at == self.cursor, width)) is not None:
                moved[row] = strip
        compat.keep_rendered_rows(self, moved)

    def on_focus(self) -> None:
        """The cursor row is brighter while the list has focus (and dimmer on blur)."""
        self._row_cache.clear()
        self.refresh()

    on_blur = on_focus


class TurnsPane(Vertical):
    """Ruler and legend, the turn rows, and the p50/p95/max summary."""

    AREAS = frozenset({Area.TURNS, Area.ERRORS})

    def __init__(self, model: SessionModel, *, thresholds: tuple[float, float]) -> None:
        super().__init__(id="turns", classes="pane")
        self.model = model
        self.thresholds = thresholds
        self.border_title = "1 Turns"
        self.border_subtitle = self._legend_markup()
        self.list = TurnsList(model, thresholds=thresholds, id="turns-list")
        self._summary_at = 0.0
        self._summary_pending = False
        self._summary_shown: Any = None
        self._ruler_key: tuple[int, float] | None = None
        self._legend_split = False

    @staticmethod
    def _legend_markup(split: bool = False) -> str:
        """The bar's colour legend (the pane's border subtitle); with ``split`` the EOU stage
        is shown as its parts' shades (``vocab.EOU_PART_COLOURS``), as the bars then draw it."""
        parts = [f"[{stage_style(k)}]■[/] {vocab.label(k)}" for k in (*BAR_STAGES, "other")]
        if split:
            parts[0] = "EOU " + " ".join(f"[{vocab.EOU_PART_COLOURS[name]}]■[/]{short}"
                                         for name, short in PART_SHORT.items())
        return "  ".join(parts)

    def compose(self) -> ComposeResult:
        """Ruler, list, summary."""
        yield Static(id="turns-ruler")
        yield self.list
        yield Static(id="turns-summary")

    def focus_list(self) -> None:
        """Give the keyboard to the turn list."""
        self.list.focus()

    @guarded("turns.update_view")
    def update_view(self) -> None:
        """Refresh the rows now and the summary at most every ``SUMMARY_EVERY`` seconds."""
        self.list.update_view()
        self._update_ruler()
        now = time.monotonic()
        if now - self._summary_at >= SUMMARY_EVERY:
            self._update_summary()
        elif not self._summary_pending:
            self._summary_pending = True
            self.set_timer(SUMMARY_EVERY, self._update_summary)

    def on_turns_list_resized(self, message: TurnsList.Resized) -> None:
        """The ruler follows the bar width."""
        message.stop()
        self._update_ruler()

    @guarded("turns.ruler")
    def _update_ruler(self) -> None:
        bar = self.list.bar_width()
        scale = self.list.scale
        if (bar, scale) == self._ruler_key:
            return
        self._ruler_key = (bar, scale)
        text = Text(no_wrap=True)
        text.append(f"{'#':>6} {'time':<8} ", style=DIM)
        ruler = [" "] * bar
        for seconds in ruler_ticks(scale, max(2, min(6, bar // 9))):
            label = f"{seconds:g}s"
            pos = int(round(seconds / scale * bar))
            pos = min(pos, bar - len(label))  # the last label ends at the bar's end
            if pos < 0 or any(c != " " for c in ruler[max(pos - 1, 0):pos + len(label)]):
                continue
            ruler[pos:pos + len(label)] = label
        text.append("".join(ruler), style=DIM)
        text.append(f" {'e2e':>7}{self.list.heard.header}", style=DIM)
        self.query_one("#turns-ruler", Static).update(text, layout=False)

    @guarded("turns.summary")
    def _update_summary(self) -> None:
        self._summary_pending = False
        self._summary_at = time.monotonic()
        summary = self.model.summary()
        if summary is self._summary_shown:  # the model caches it until turns change
            return
        self._summary_shown = summary
        # no layout: the summary's height is fixed (lkmon.tcss), for its rows come and go
        self.query_one("#turns-summary", Static).update(self.summary_table(), layout=False)

    def summary_table(self) -> Text:
        """p50/p95/max of each stage and of e2e latency (a row each), and the worst turn with
        its dominant stage beside them.

        Five fixed-width lines (a plain ``Text``: cheaper to render than a table), then one
        with the p95 of each EOU part when turns have them, one with the interruptions by
        class and LiveKit's overlaps once there are any, and one with the heard gap's p50/p95
        once lkmon measured the audio (``widgets.heard``). At most 64 cells wide, so it fits the
        pane at 80 columns and in the 120-column side-by-side layout."""
        summary = self.model.summary()
        if not summary.turns:
            return Text("No latency figures yet.", style=DIM)
        stats = ("p50", "p95", "max")
        text = Text(no_wrap=True)
        text.append(" " * LABEL_COLUMN + "".join(f"{s:>{SUMMARY_COLUMN}}" for s in stats),
                    style=DIM)
        extra: list[list[tuple[str, str]]] = [[], [], [], []]
        if summary.worst_turn is not None:
            extra[0] = [("worst ", DIM), (f"#{summary.worst_turn} ", "bold"),
                        (fmt_s(summary.worst_e2e), e2e_style(summary.worst_e2e,
                                                             self.thresholds))]
        if summary.worst_stage:
            extra[1] = [("mostly ", DIM), (vocab.label(summary.worst_stage),
                                           stage_style(summary.worst_stage))]
        extra[2] = [(f"{summary.turns} turns", DIM)]
        for i, stage in enumerate(vocab.SUMMARY_STAGES):
            text.append("\n")
            text.append(f"{stage.label:<{LABEL_COLUMN}}", style=stage_style(stage.key))
            figures = summary[stage.key]
            for stat in stats:
                value = getattr(figures, stat)
                style = e2e_style(value, self.thresholds) if stage is vocab.E2E else ""
                text.append(f"{fmt_s(value):>{SUMMARY_COLUMN}}", style=style)
            if extra[i]:
                text.append("    ")
            for part, style in extra[i]:
                text.append(part, style=style)
        parts = eou_part_p95(self.model.turns)
        if parts and not self._legend_split:  # the bars now draw EOU split: say so
            self._legend_split = True
            self.border_subtitle = self._legend_markup(split=True)
        for label, pieces, style in (("EOU parts", parts, stage_style(vocab.EOU.key)),
                                     ("interrupts", counts_line(self.model), WARN),
                                     (vocab.HEARD.label, heard_line(self.model.turns), "")):
            if pieces:  # a line of its own: beside a row it would not fit a 66-cell pane
                text.append(f"\n{label:<{LABEL_COLUMN}}", style=style)
                for part, part_style in pieces:
                    text.append(part, style=part_style)
        return text

    # --- cursor API used by the app ------------------------------------------------------
    def move_cursor(self, delta: int) -> None:
        """Move the cursor ``delta`` rows; moving off the newest turn stops following."""
        lst = self.list
        if lst.cursor is None:
            return
        lst.follow = False
        lst.set_cursor(lst.cursor + delta)
        if lst.cursor == len(self.model.turns) - 1 and delta > 0:
            lst.follow = True

    def cursor_first(self) -> None:
        """First turn; stops following."""
        self.list.follow = False
        self.list.set_cursor(0)

    def cursor_last(self) -> None:
        """Last turn; follows again."""
        self.list.follow = True
        self.list.set_cursor(len(self.model.turns) - 1)

    def toggle_follow(self) -> bool:
        """Toggle following the newest turn; returns the new state."""
        lst = self.list
        lst.follow = not lst.follow
        if lst.follow:
            lst.set_cursor(len(self.model.turns) - 1)
        return lst.follow

    def cursor_turn_index(self) -> int | None:
        """The 1-based ``Turn.index`` under the cursor, or ``None``."""
        cursor = self.list.cursor
        turns = self.model.turns
        if cursor is None or cursor >= len(turns):
            return None
        return turns[cursor].index
