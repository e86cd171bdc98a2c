"""The endpointing what-if on screen: a small table over this session's own pauses (``w``).

The table is ``lkmon.model.whatif.of_session``'s (docs/metrics.md, "Endpointing what-if"):
one row per minimum endpointing delay, the pauses it would have cut and the EOU delay it adds
or saves per end of turn against the session's own setting. Refreshed once a second while open.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_s
from lkmon.model.whatif import WhatIf, of_session
from lkmon.tui.widgets.common import ACCENT, BAD, DIM, GOOD, guarded

__all__ = ["WhatIfScreen", "what_if_view"]


def _added(seconds: float | None) -> Text:
    if seconds is None:
        return Text("-", style=DIM)
    if abs(seconds) < 0.0005:
        return Text("±0.000 s", style=DIM)
    return Text(f"{seconds:+.3f} s", style=BAD if seconds > 0 else GOOD)


def what_if_view(w: WhatIf) -> RenderableType:
    """The what-if as text and a table: what it was computed from, one row per min delay
    (early cuts, EOU added or saved per end of turn), the session's own and the recommended
    setting marked."""
    own = f"{w.min_delay:g} s" + (" (LiveKit's default: the session's was not seen)"
                                  if w.assumed else "")
    head = Text()
    head.append("Computed from this session's own pauses", style="bold")
    head.append(f": {w.pauses} pause(s) inside utterances, {w.turn_ends} end(s) of turn. "
                f"Compared with the session's min endpointing delay {own}.", style=DIM)
    if not w.pauses and not w.turn_ends:
        return Group(head, Text("\nNo silence between speech segments yet.", style=DIM))
    table = Table(box=None, padding=(0, 2), header_style=f"bold {ACCENT}")
    table.add_column("min delay", justify="right")
    table.add_column("early cuts", justify="right")
    table.add_column("EOU per end of turn", justify="right")
    table.add_column("")
    for r in w.rows:
        marks = []
        if abs(r.min_delay - w.min_delay) < 0.05:
            marks.append("this session")
        if r.min_delay == w.recommended:
            marks.append("smallest with no early cut")
        table.add_row(f"{r.min_delay:.1f} s",
                      Text(str(r.early_cuts), style=BAD if r.early_cuts else ""),
                      _added(r.added_eou), Text(" · ".join(marks), style=f"bold {ACCENT}"))
    tail = Text()
    if w.recommended is not None:
        tail.append(f"Recommended: min delay {fmt_s(w.recommended)} ", style="bold")
        tail.append("(the smallest that cuts none of these pauses).", style=DIM)
    else:
        tail.append("No min delay up to 2.0 s cuts none of these pauses.", style="bold")
    tail.append("\nLiveKit commits a turn the min delay after the speech, not before the VAD's"
                " silence window and a final transcript: a pause is cut when that comes before"
                " the user went on, an end of turn when it comes before its last words'"
                " transcript (the reply answers half the utterance).", style=DIM)
    if w.turn_detector:
        tail.append("\nThe session ran a turn detector: its longer delays after an unlikely"
                    " prediction are not modelled.", style=DIM)
    return Group(head, Text(""), table, Text(""), tail)


class WhatIfScreen(ModalScreen[None]):
    """The endpointing what-if table. Esc, q or w closes it."""

    BINDINGS = [
        Binding("escape,q,w", "app.pop_screen", "Close", id="whatif-close"),
    ]

    def __init__(self, model: SessionModel) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        """One scrolling body."""
        with VerticalScroll(id="whatif-body") as body:
            body.border_title = "Endpointing what-if"
            body.border_subtitle = "Esc closes"
            yield Static(id="whatif-content")

    def on_mount(self) -> None:
        """First render, then once a second (a live session goes on)."""
        self.update_view()
        self.set_interval(1.0, self.update_view)

    @guarded("whatif.update")
    def update_view(self) -> None:
        """Render the table from the model now."""
        w = of_session(self.model.interruptions, self.model.turns)
        self.query_one("#whatif-content", Static).update(what_if_view(w))
