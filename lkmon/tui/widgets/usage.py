"""The usage pane: tokens, characters and audio seconds per provider and model, and cost.

Usage is LiveKit's ``session.usage.model_usage`` (``session_usage_updated``): LLM prompt, cached
and completion tokens; TTS characters and audio seconds; STT audio seconds. Cost is estimated with
``SessionModel.prices`` (``lkmon.model.usage.PriceTable``; local models cost 0, an unknown price
shows ``?``). A row is named by the provider whose prices apply (``openai/gpt-4.1``, not the
``api.openai.com`` LiveKit reports), with ``via HOST`` when it went through a proxy, Azure or a
local server.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.geometry import Size

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_cost, fmt_count, fmt_duration, fmt_s
from lkmon.tui.widgets.common import DIM, guarded
from lkmon.tui.widgets.rows import RowsPane


def _cost_text(cost: float | None, local: bool) -> Text:
    if cost is None:  # no price known: "?", never 0
        return Text(fmt_cost(cost), style=DIM)
    return Text(fmt_cost(cost) + (" local" if local else ""), style=DIM if local else "")


RESERVED_ROWS = 8  # STT, LLM and TTS (two rows each), the total, the prices line: lkmon.tcss
MAX_ROWS = 10  # lkmon.tcss #usage max-height, without the border


class UsagePane(RowsPane):
    """A row per provider/model with its usage and estimated cost, then the total.

    A ``RowsPane``: the 1 s tick changes only the session duration, so it redraws one row.
    """

    AREAS = frozenset({Area.USAGE, Area.SESSION})
    MIN_INTERVAL = 0.5  # seconds between re-renders: usage comes after every plugin metric

    def __init__(self, model: SessionModel, *, clock: Callable[[], float]) -> None:
        super().__init__(id="usage", classes="pane")
        self.model = model
        self.clock = clock
        self._rows_shown = -1
        self.border_title = "4 Usage"
        self.can_focus = True

    @guarded("usage.update_view")
    def update_view(self) -> None:
        """Re-render from the model."""
        lines = list(self.build().split("\n"))
        self.show_rows(lines)
        # a layout of the screen only when the pane's height changes: it has room for
        # RESERVED_ROWS from the start (lkmon.tcss), and grows to at most MAX_ROWS
        rows = min(max(len(lines), RESERVED_ROWS), MAX_ROWS)
        if rows != self._rows_shown:
            self.refresh(layout=True)
        self._rows_shown = rows

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The rows shown (Textual's ``height: auto``; lkmon.tcss bounds it)."""
        return len(self._keys)

    def build(self) -> Text:
        """A block per provider/model (usage, cost), the total and the session duration."""
        model = self.model
        text = Text(no_wrap=True, overflow="ellipsis")
        costs = model.costs()
        if not costs:
            text.append("No usage reported yet.\n", style=DIM)
        for item in costs:
            u = item.usage
            kind = u.kind
            text.append(f"{kind:<4}", style="bold")
            text.append(f"{item.shown_provider}/{u.model}")
            via = item.shown_via  # the proxy, Azure resource or local server it went through
            if via:
                text.append(f" via {via}", style=DIM)
            text.append("  ")
            text.append_text(_cost_text(item.cost, item.local))
            text.append("\n  ")
            figures: list[tuple[str, str]] = []
            if kind == "llm":
                figures = [("tokens: prompt", fmt_count(u.input_tokens)),
                           ("cached", fmt_count(u.input_cached_tokens)),
                           ("completion", fmt_count(u.output_tokens))]
            elif kind == "tts":
                figures = [("", f"{fmt_count(u.characters_count)} chars"),
                           ("", f"{fmt_s(u.audio_duration, 1)} audio")]
            elif kind == "stt":
                figures = [("", f"{fmt_s(u.audio_duration, 1)} audio")]
            else:
                figures = [("tokens in", fmt_count(u.input_tokens)),
                           ("out", fmt_count(u.output_tokens)),
                           ("audio", fmt_s(u.audio_duration, 1))]
            for name, value in figures:
                if name:
                    text.append(f"{name} ", style=DIM)
                text.append(f"{value} ")
            text.append("\n")
        total = model.total_cost()
        text.append("total ", style=DIM)
        text.append(f"{fmt_cost(total)} {model.prices.currency}", style="bold")
        session = model.session
        duration = session.duration
        if session.closed_at is None and session.started_at is not None:
            duration = max(self.clock() - session.started_at, 0.0)
        text.append("   session ", style=DIM)
        text.append(fmt_duration(duration), style="bold")
        source = model.prices.source
        if source:
            text.append(f"\nprices: {source}", style=DIM)
        return text
