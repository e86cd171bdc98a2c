"""The VAD pane: speaking state, a 30 s speech-probability trace, durations and VAD health.

Figures come from ``SessionModel.vad`` (``VadState``): the trace and durations from the VAD
events that the bridge sees by wrapping the VAD stream (``vad.VADEvent.probability``,
``speech_duration``, ``silence_duration``), health from LiveKit ``VADMetrics``
(``inference_count``, ``inference_duration_total``, ``idle_time``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache

from rich.text import Span, Text

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_count, fmt_s
from lkmon.tui.widgets.common import ACCENT, DIM, GOOD, WARN, guarded
from lkmon.tui.widgets.rows import RowsPane

WINDOW = 30.0
"""Seconds of speech probability shown."""
PLOT_ROWS = 4
"""Height of the probability plot in rows (8 levels per row)."""
THRESHOLD = 0.5
"""Probability above which a column is drawn as speech (Silero's default activation)."""
_BLOCKS = " ▁▂▃▄▅▆▇█"


def bin_trace(trace: Iterable[tuple[float, float]], start: float, end: float,
              columns: int) -> list[float | None]:
    """Highest probability per column of ``(end - start) / columns`` seconds; None for no data."""
    bins: list[float | None] = [None] * columns
    if columns <= 0 or end <= start:
        return bins
    width = (end - start) / columns
    for ts, p in trace:
        if ts < start or ts > end:
            continue
        i = min(int((ts - start) / width), columns - 1)
        current = bins[i]
        if current is None or p > current:
            bins[i] = p
    return bins


@lru_cache(maxsize=512)
def _column(level: int | None, rows: int) -> tuple[str, ...]:
    """The glyphs of one plot column, top row first: ``level`` is the probability in eighths
    of a row (``round(p * rows * 8)``), ``None`` for no data. Row ``r`` (0 at the bottom)
    shows ``level - 8 r`` eighths, clamped to 0..8; an empty bottom cell is a low bar."""
    if level is None:
        return (" ",) * (rows - 1) + ("·",)
    out = []
    for r in range(rows - 1, -1, -1):
        cell = max(0, min(8, level - r * 8))
        out.append("▁" if r == 0 and cell == 0 else _BLOCKS[cell])
    return tuple(out)


def plot(bins: list[float | None], rows: int = PLOT_ROWS) -> list[Text]:
    """Bar plot of probabilities 0..1, ``rows`` high (top row first), speech columns (>= 0.5)
    in green."""
    styles = [DIM if p is None else (GOOD if p >= THRESHOLD else ACCENT) for p in bins]
    # one span per run of equal style, the same runs in every row
    spans: list[Span] = []
    start = 0
    for i in range(1, len(bins) + 1):
        if i == len(bins) or styles[i] != styles[start]:
            spans.append(Span(start, i, styles[start]))
            start = i
    # round(p * rows * 8 - r * 8) == round(p * rows * 8) - 8 r: half-to-even rounding does
    # not change under a shift by an even integer
    columns = [_column(None if p is None else int(round(p * rows * 8)), rows) for p in bins]
    return [Text("".join(col[r] for col in columns), no_wrap=True, spans=list(spans))
            for r in range(rows)]


class VadPane(RowsPane):
    """Speaking state, the probability trace over the last 30 s, durations and VAD health.

    The plot's columns are fixed in time (each ``WINDOW / width`` seconds, ending at the next
    multiple of that after now), so that a column changes only when a VAD event lands in it
    or the window moves on by a column, and an update redraws only the rows that changed.
    """

    AREAS = frozenset({Area.VAD})
    MIN_INTERVAL = 0.3  # seconds between re-renders: the plot moves one column every ~0.5 s

    def __init__(self, model: SessionModel, *, clock: Callable[[], float]) -> None:
        super().__init__(id="vad", classes="pane")
        self.model = model
        self.clock = clock
        self.border_title = "3 VAD"
        self.border_subtitle = f"speech probability, last {WINDOW:.0f} s"
        self.can_focus = True
        self._plot: tuple[tuple[float | None, ...], int, list[Text]] | None = None

    def on_resize(self) -> None:
        """The plot is as wide, and as high, as the pane."""
        self.update_view()

    @guarded("vad.update_view")
    def update_view(self) -> None:
        """Re-render from the model (only the rows that changed are drawn)."""
        self.show_rows(self.build())

    def _plot_rows(self, width: int, rows: int) -> list[Text]:
        """The plot, from the trace binned into ``width`` columns (built again only when a
        column changed)."""
        column = WINDOW / width
        end = math.ceil(self.clock() / column) * column
        bins = tuple(bin_trace(self.model.vad.trace, end - WINDOW, end, width))
        cached = self._plot
        if cached is not None and cached[0] == bins and cached[1] == rows:
            return cached[2]
        texts = plot(list(bins), rows)
        self._plot = (bins, rows, texts)
        return texts

    def build(self) -> list[Text]:
        """The pane's rows at the current width and height."""
        vad = self.model.vad
        width = max(self.content_region.width or (self.size.width - 2), 20)
        out: list[Text] = []
        text = Text(no_wrap=True, overflow="ellipsis")
        speaking = vad.speaking
        text.append("● speaking" if speaking else "○ silent  ",
                    style=f"bold {GOOD}" if speaking else DIM)
        text.append(f"  p={vad.probability:.2f}", style=DIM)
        text.append(f"   user: {self.model.user_state}", style=DIM)
        out.append(text)
        rows = max(PLOT_ROWS, min(12, (self.content_region.height or 0) - 5))
        if not vad.trace and not self.model.session.vad_events:
            out.append(Text("No VAD events: the agent runs in another process, and LiveKit's",
                            style=DIM))
            out.append(Text("session protocol and the recorder do not carry them.", style=DIM))
            return out  # no silence, segments or health: unknown, not zero
        if not vad.trace:
            out.append(Text("No VAD events yet.", style=DIM))
            out.extend(Text() for _ in range(rows - 1))
        else:
            out.extend(self._plot_rows(width, rows))
        axis = [" "] * width
        for label, pos in ((f"-{WINDOW:.0f}s", 0), (f"-{WINDOW / 2:.0f}s", width // 2 - 2),
                           ("now", width - 3)):
            for j, ch in enumerate(label):
                if 0 <= pos + j < width:
                    axis[pos + j] = ch
        out.append(Text("".join(axis), style=DIM))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("speech " if vad.speaking else "silence ", style=DIM)
        text.append(fmt_s(vad.speech_duration if vad.speaking else vad.silence_duration,
                          digits=1))
        text.append(f" · {vad.speech_count} segments · ", style=DIM)
        text.append(fmt_s(vad.speech_total, digits=1))
        text.append(" speech", style=DIM)
        out.append(text)
        text = Text(no_wrap=True, overflow="ellipsis")
        out.append(text)
        text.append("health ", style=DIM)
        if vad.metrics_count == 0:
            text.append("no VADMetrics yet", style=DIM)
            return out
        text.append(f"{fmt_count(vad.inference_count)} inferences")
        text.append("  idle ", style=DIM)
        text.append(fmt_s(vad.idle_time, digits=1))
        text = Text("       ", no_wrap=True, overflow="ellipsis")
        out.append(text)
        ips = vad.inference_per_audio_second
        text.append("-" if ips is None else f"{ips * 1000:.1f} ms",
                    style=WARN if ips is not None and ips > 0.5 else "")
        text.append(" per s of audio", style=DIM)
        text.append("  RTF ", style=DIM)
        rtf = vad.realtime_factor
        text.append("-" if rtf is None else f"{rtf:.3f}",
                    style=WARN if rtf is not None and rtf > 0.5 else "")
        return out
