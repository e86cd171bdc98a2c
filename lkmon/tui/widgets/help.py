"""The help screen: every key binding (built from the bindings themselves) and what panes show."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lkmon.model.vocab import BAR_STAGES, OTHER
from lkmon.tui.widgets.common import ACCENT, BAD, DIM, GOOD, WARN

PANES = [
    ("1 Turns", "A row per turn: a bar split into EOU delay, LLM TTFT and TTS TTFB on one "
     "scale, e2e latency coloured against your thresholds; p50/p95/max per stage below. An "
     "interrupted reply is flagged ⚡ early (cut in early: the user went on after a pause), "
     "⚡ barge (barge-in) or ⚡ false (LiveKit's false interruption); the interrupts line counts "
     "them and LiveKit's overlapping_speech events. w: the endpointing what-if."),
    ("2 Transcript", "User and agent messages with timestamps; interim user text dimmed; "
     "interrupted replies with the unheard part struck through; tool calls."),
    ("3 VAD", "Speaking state, speech probability over the last 30 s, speech/silence "
     "durations and VAD health (inference time per second of audio, idle time)."),
    ("4 Usage", "Tokens, characters and audio seconds per provider and model, cost per model "
     "and in total."),
    ("5 Log", "livekit and lkmon log records; press l in the pane to change the level."),
]


def bindings_table(bindings: Iterable[BindingType]) -> Table:
    """A two-column table of keys and what they do (with the tooltip when there is one)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style=f"bold {ACCENT}", no_wrap=True)
    table.add_column()
    seen: set[str] = set()
    for b in bindings:
        if not isinstance(b, Binding) or not b.description or b.action in seen or b.system:
            continue
        seen.add(b.action)
        keys = b.key_display or " ".join(k.strip() for k in b.key.split(","))
        what = Text(b.description, style="bold")
        if b.tooltip:
            what.append(f"  {b.tooltip}", style=DIM)
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and panes. Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help", id="help-close"),
    ]

    def __init__(self, bindings: Iterable[BindingType],
                 extra: list[tuple[str, Iterable[BindingType]]] | None = None,
                 thresholds: tuple[float, float] = (1.0, 2.0)) -> None:
        super().__init__()
        self._keys = bindings
        self._extra = extra or []
        self._thresholds = thresholds

    def compose(self) -> ComposeResult:
        """A scrolling body with the keys, the panes and the colour legend."""
        with VerticalScroll(id="help-body") as body:
            body.border_title = "lkmon help"
            body.border_subtitle = "Esc closes"
            yield Static(Text("Keys", style="bold underline"))
            yield Static(bindings_table(self._keys))
            for title, bindings in self._extra:
                yield Static(Text(f"\n{title}", style="bold underline"))
                yield Static(bindings_table(bindings))
            yield Static(Text("\nPanes", style="bold underline"))
            panes = Table.grid(padding=(0, 2))
            panes.add_column(style=f"bold {ACCENT}", no_wrap=True)
            panes.add_column()
            for name, what in PANES:
                panes.add_row(name, what)
            yield Static(panes)
            legend = Text("\nBar colours  ")
            for stage in (*BAR_STAGES, OTHER):
                legend.append("■ ", style=stage.colour or "")
                legend.append(f"{stage.label}  ")
            yield Static(legend)
            good, bad = self._thresholds
            colours = Text("e2e latency  ")
            colours.append(f"green below {good:g} s", style=GOOD)
            colours.append("  ")
            colours.append(f"yellow below {bad:g} s", style=WARN)
            colours.append("  ")
            colours.append(f"red from {bad:g} s", style=BAD)
            yield Static(colours)
