"""The error banner (``ErrorRaised``) and the model-loading line (``LoadProgress``).

The banner shows the newest error (LiveKit ``error`` events, lkmon faults, and exceptions caught
in lkmon's own widgets) until ``x`` dismisses it; a new error shows it again. The loading line
shows which model is loading before the first turn, so the first frame never waits for models.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_clock, fmt_s, printable
from lkmon.tui.widgets.common import ACCENT, DIM, GOOD, guarded


class ErrorBanner(Static):
    """The newest error, its source and how many there were; hidden when there is none."""

    AREAS = frozenset({Area.ERRORS})

    def __init__(self, model: SessionModel) -> None:
        super().__init__(id="banner")
        self.model = model
        self._dismissed_at = 0
        self.display = False

    def dismiss(self) -> None:
        """Hide until the next error."""
        self._dismissed_at = self.model.error_count
        self.display = False

    @guarded("banner.update_view")
    def update_view(self) -> None:
        """Show the newest error, if it was not dismissed."""
        model = self.model
        if model.error_count <= self._dismissed_at or not model.errors:
            self.display = False
            return
        err = model.errors[-1]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ⚠ ", style="bold")
        text.append(f"{printable(err.source)}: ", style="bold")
        text.append(printable(err.message))
        if not err.recoverable:
            # LiveKit's ``recoverable=False``: the plugin used up its retries. The session goes
            # on (LiveKit closes it after several in a row; the status strip then says why).
            text.append("  (no retry left)", style="bold")
        more = model.error_count - self._dismissed_at
        text.append(f"   {fmt_clock(err.ts)}", style="dim")
        text.append(f" · {more} new error{'s' * (more != 1)} · x hides · 5 log", style="dim")
        self.update(text, layout=False)
        self.set_class(not err.recoverable, "-fatal")
        if not self.display:
            self.display = True
            self.refresh_bindings()  # "x" shows in the footer while the banner does


class LoadingLine(Static):
    """``Loading models 2/4: stt whisper tiny.en`` with a bar, until every model is loaded."""

    AREAS = frozenset({Area.STATUS})

    def __init__(self, model: SessionModel) -> None:
        super().__init__(id="loading")
        self.model = model
        self.display = False

    @guarded("loading.update_view")
    def update_view(self) -> None:
        """Show the latest ``LoadProgress`` while loading is not finished."""
        progress = self.model.load_progress
        if progress is None or (progress.total and progress.done >= progress.total):
            self.display = False
            return
        width = 20
        frac = progress.done / progress.total if progress.total else 0.0
        cells = int(frac * width)
        text = Text(no_wrap=True)
        text.append(" Loading models ", style="bold")
        text.append("█" * cells, style=GOOD)
        text.append("░" * (width - cells), style=DIM)
        text.append(f" {progress.done}/{progress.total} ", style="bold")
        text.append(progress.stage, style=ACCENT)
        if progress.seconds is not None:
            text.append(f" ({fmt_s(progress.seconds, 1)})", style=DIM)
        text.append("   the agent starts listening when this is done", style=DIM)
        self.update(text, layout=False)
        self.display = True
