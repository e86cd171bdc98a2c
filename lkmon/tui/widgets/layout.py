"""The main screen's layout: every pane in two columns, or one pane at a time when small.

From ``FULL_SIZE`` up the panes share the screen (turns and transcript on the left; VAD, usage
and log on the right). Below it, one pane fills the screen and the number keys switch (the
``-compact`` class). Below ``MIN_SIZE`` a notice replaces the panes (``-too-small``); the
session goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from lkmon.model.state import SessionModel
from lkmon.tui.widgets.log import LogPane
from lkmon.tui.widgets.transcript import TranscriptPane
from lkmon.tui.widgets.turns import TurnsPane
from lkmon.tui.widgets.usage import UsagePane
from lkmon.tui.widgets.vad import VadPane

MIN_SIZE = (80, 24)
"""Below this terminal size (columns, rows) the app shows a notice instead of the panes."""
FULL_SIZE = (110, 34)
"""From this size up every pane is on screen; below it one pane at a time (number keys)."""
TALL_VAD_FROM = 50
"""Rows from which the VAD pane is taller (a finer probability plot)."""
COMPACT_FOOTER_BELOW = 120
"""Columns below which the footer uses its compact style."""


def apply_layout(screen: Screen, size: tuple[int, int], panes: dict[str, Widget],
                 active: str) -> None:
    """Lay out ``screen`` for a terminal of ``size``, showing pane ``active`` when compact."""
    width, height = size
    too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
    compact = not too_small and (width < FULL_SIZE[0] or height < FULL_SIZE[1])
    screen.set_class(too_small, "-too-small")
    screen.set_class(compact, "-compact")
    for footer in screen.query(Footer):
        footer.compact = width < COMPACT_FOOTER_BELOW
    screen.query_one("#too-small", Static).update(
        f"Terminal too small: {width}x{height}.\n"
        f"lkmon needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}; enlarge the window.\n"
        "The session goes on; q quits."
    )
    for name, pane in panes.items():
        pane.set_class(name == active, "-active")
    # a taller VAD plot when there is room for it (the plot follows the pane's height)
    screen.query_one("#vad").set_class(height >= TALL_VAD_FROM, "-tall")
    for column in ("#left", "#right"):
        box = screen.query_one(column)
        box.set_class(any(p.has_class("-active") for p in box.children), "-has-active")


class MainPanes(Horizontal):
    """The five panes in two columns: turns and transcript; VAD, usage and log.

    Args:
        model: the ``SessionModel`` every pane shows.
        thresholds: (good, bad) e2e latency in seconds for the turn rows' colours.
        redact: transcript text as placeholders.
        now: the time the sliding views (VAD trace, elapsed) end at, epoch seconds.
    """

    def __init__(self, model: SessionModel, *, thresholds: tuple[float, float], redact: bool,
                 now: Callable[[], float]) -> None:
        super().__init__(id="main")
        self.turns_pane = TurnsPane(model, thresholds=thresholds)
        self.transcript_pane = TranscriptPane(model, redact=redact)
        self.vad_pane = VadPane(model, clock=now)
        self.usage_pane = UsagePane(model, clock=now)
        self.log_pane = LogPane(model)

    def compose(self) -> ComposeResult:
        """Turns and transcript on the left; VAD, usage and log on the right."""
        with Vertical(id="left"):
            yield self.turns_pane
            yield self.transcript_pane
        with Vertical(id="right"):
            yield self.vad_pane
            yield self.usage_pane
            yield self.log_pane

    def named(self) -> dict[str, Widget]:
        """Pane name (as the number keys use it) -> pane."""
        return {"turns": self.turns_pane, "transcript": self.transcript_pane, "vad": self.vad_pane,
                "usage": self.usage_pane, "log": self.log_pane}
