"""The VAD pane: speaking state, a 30 s speech-probability trace, durations and VAD health.

Figures come from ``SessionModel.vad`` (``VadState``): the trace and durations from the VAD
events that the bridge sees by wrapping the VAD stream (``vad.VADEvent.probability``,
``speech_duration``, ``silence_duration``), health from LiveKit ``VADMetrics``
(``inference_count``, ``inference_duration_total``, ``idle_time``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.widgets import Static

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_count, fmt_s
from lkmon.tui.widgets.common import ACCENT, DIM, GOOD, WARN, guarded

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


def plot(bins: list[float | None], rows: int = PLOT_ROWS) -> Text:
    """Bar plot of probabilities 0..1, ``rows`` high, speech columns (≥ 0.5) in green."""
    text = Text(no_wrap=True)
    styles = [DIM if p is None else (GOOD if p >= THRESHOLD else ACCENT) for p in bins]
    for r in range(rows - 1, -1, -1):
        chars = []
        for p in bins:
            if p is None:
                chars.append("·" if r == 0 else " ")
                continue
            level = max(0, min(8, int(round(p * rows * 8 - r * 8))))
            chars.append("▁" if r == 0 and level == 0 else _BLOCKS[level])
        # one span per run of equal style: a few spans per row instead of one per cell
        start = 0
        for i in range(1, len(chars) + 1):
            if i == len(chars) or styles[i] != styles[start]:
                text.append("".join(chars[start:i]), style=styles[start])
                start = i
        if r:
            text.append("\n")
    return text


class VadPane(Static):
    """Speaking state, the probability trace over the last 30 s, durations and VAD health."""

    AREAS = frozenset({Area.VAD})
    MIN_INTERVAL = 0.3  # seconds between re-renders: the plot moves one column every ~0.5 s

    def __init__(self, model: SessionModel, *, clock: Callable[[], float]) -> None:
        super().__init__(id="vad", classes="pane")
        self.model = model
        self.clock = clock
        self.border_title = "3 VAD"
        self.border_subtitle = f"speech probability, last {WINDOW:.0f} s"
        self.can_focus = True

    def on_resize(self) -> None:
        """The plot is as wide as the pane."""
        self.update_view()

    @guarded("vad.update_view")
    def update_view(self) -> None:
        """Re-render from the model."""
        self.update(self.build(), layout=False)

    def build(self) -> Text:
        """The pane's text at the current width."""
        vad = self.model.vad
        width = max(self.content_region.width or (self.size.width - 2), 20)
        text = Text(no_wrap=True, overflow="ellipsis")
        speaking = vad.speaking
        text.append("● speaking" if speaking else "○ silent  ",
                    style=f"bold {GOOD}" if speaking else DIM)
        text.append(f"  p={vad.probability:.2f}", style=DIM)
        text.append(f"   user: {self.model.user_state}", style=DIM)
        text.append("\n")
        now = self.clock()
        rows = max(PLOT_ROWS, min(12, (self.content_region.height or 0) - 5))
        if not vad.trace and not self.model.session.vad_events:
            text.append("No VAD events: the agent runs in another process, and LiveKit's\n"
                        "session protocol and the recorder do not carry them.", style=DIM)
            return text  # no silence, segments or health: unknown, not zero
        if not vad.trace:
            text.append("No VAD events yet.\n" + "\n" * (rows - 1), style=DIM)
        else:
            bins = bin_trace(vad.trace, now - WINDOW, now, width)
            text.append_text(plot(bins, rows))
            text.append("\n")
        axis = [" "] * width
        for label, pos in ((f"-{WINDOW:.0f}s", 0), (f"-{WINDOW / 2:.0f}s", width // 2 - 2),
                           ("now", width - 3)):
            for j, ch in enumerate(label):
                if 0 <= pos + j < width:
                    axis[pos + j] = ch
        text.append("".join(axis) + "\n", style=DIM)
        text.append("speech " if vad.speaking else "silence ", style=DIM)
        text.append(fmt_s(vad.speech_duration if vad.speaking else vad.silence_duration,
                          digits=1))
        text.append(f" · {vad.speech_count} segments · ", style=DIM)
        text.append(fmt_s(vad.speech_total, digits=1))
        text.append(" speech", style=DIM)
        text.append("\n")
        text.append("health ", style=DIM)
        if vad.metrics_count == 0:
            text.append("no VADMetrics yet", style=DIM)
            return text
        text.append(f"{fmt_count(vad.inference_count)} inferences")
        text.append("  idle ", style=DIM)
        text.append(fmt_s(vad.idle_time, digits=1))
        text.append("\n       ")
        ips = vad.inference_per_audio_second
        text.append("-" if ips is None else f"{ips * 1000:.1f} ms",
                    style=WARN if ips is not None and ips > 0.5 else "")
        text.append(" per s of audio", style=DIM)
        text.append("  RTF ", style=DIM)
        rtf = vad.realtime_factor
        text.append("-" if rtf is None else f"{rtf:.3f}",
                    style=WARN if rtf is not None and rtf > 0.5 else "")
        return text
