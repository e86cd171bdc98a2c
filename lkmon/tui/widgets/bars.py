"""The turn's latency bar as terminal text: its segments, one friendly scale, the ruler's
ticks, and the row's mark. Pure helpers (no widget), shared by the turns pane and the turn
detail; the segments are ``lkmon.model.vocab.bar_segments`` (the HTML report draws the same).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from lkmon.model import vocab
from lkmon.model.eou import bar_shares
from lkmon.model.turns import Turn
from lkmon.tui.widgets.common import BAD, DIM, WARN, stage_style

BAR_STAGES = tuple(s.key for s in vocab.BAR_STAGES)
"""Keys of the bar's segments (``vocab.BAR_STAGES``); the rest of e2e is ``"other"``."""

SCALE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 60.0)
"""Full-bar scales in seconds; at least 1 s so that short turns look short."""

_PARTIAL = " ▏▎▍▌▋▊▉"


ABSURD_SECONDS = vocab.ABSURD_SECONDS
ABSURD_LABEL = vocab.ABSURD_LABEL
is_absurd = vocab.is_absurd

_TICK_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
               300.0, 600.0, 900.0, 1800.0, 3600.0)


def friendly_scale(longest: float) -> float:
    """The smallest friendly number of seconds (1, 1.5, 2, 2.5, 3, 4, ... 60, then whole
    minutes) ≥ ``longest``, at most ``ABSURD_SECONDS`` (an absurd or non-finite ``longest``
    gets that)."""
    if is_absurd(longest):
        return ABSURD_SECONDS
    for step in SCALE_STEPS:
        if longest <= step:
            return step
    return math.ceil(longest / 60.0) * 60.0


def ruler_ticks(scale: float, max_ticks: int) -> list[float]:
    """Round tick values (seconds) from 0 to ``scale``: at most ``max_ticks`` intervals (a
    scale beyond an hour is ruled to its first hour; a bad scale has the tick 0 only)."""
    if not math.isfinite(scale) or scale <= 0 or max_ticks < 1:
        return [0.0]
    scale = min(scale, ABSURD_SECONDS)
    for step in _TICK_STEPS:
        if scale / step <= max_ticks:
            break
    count = min(int(scale / step + 1e-9), max_ticks)
    return [round(i * step, 6) for i in range(count + 1)]


def bar_segments(turn: Turn) -> list[tuple[str, float]]:
    """The bar's segments of a turn by stage key, seconds (``vocab.bar_segments``: known stages,
    then the rest of e2e as ``other``; the HTML report draws the same)."""
    return [(stage.key, seconds) for stage, seconds in vocab.bar_segments(turn.metrics)]


def split_bar_segments(turn: Turn) -> list[tuple[str, float]]:
    """``bar_segments`` with the EOU segment in its parts (``Turn.eou_parts``): keys
    ``eou.silence``, ``eou.transcript``, ``eou.decision`` (the hook runs after the EOU delay),
    scaled to add up to the EOU segment; one ``eou`` segment when the turn has no parts."""
    parts = bar_segments(turn)
    shares = bar_shares(turn.eou_parts.segments() if turn.eou_parts is not None else None)
    if not shares:
        return parts
    out: list[tuple[str, float]] = []
    for key, seconds in parts:
        if key == vocab.EOU.key:
            out.extend((f"eou.{p}", seconds * share) for p, share in shares.items())
        else:
            out.append((key, seconds))
    return out


def _style(key: str) -> str:
    """The style of a bar segment: an EOU part's shade (``vocab.EOU_PART_COLOURS``) or the
    stage's colour."""
    if key.startswith("eou."):
        return vocab.EOU_PART_COLOURS[key[4:]]
    return stage_style(key)


def bar_length(turn: Turn) -> float:
    """Seconds that the turn's bar spans: max(e2e, sum of known stages)."""
    return sum(v for _, v in bar_segments(turn))


def render_bar(parts: list[tuple[str, float]], width: int, scale: float) -> Text:
    """A stacked bar of ``width`` cells at ``scale`` seconds per full width; for an absurd
    length (``is_absurd``) the words ``> 1 h`` in place of the bar."""
    text = Text()
    if width <= 0 or scale <= 0:
        return text
    if is_absurd(sum(v for _, v in parts)):
        return Text(ABSURD_LABEL.ljust(width)[:width], style=f"bold {BAD}")
    cum = 0.0
    drawn = 0
    for i, (stage, seconds) in enumerate(parts):
        cum += seconds
        exact = min(cum / scale * width, float(width))
        end = int(round(exact))
        last = i == len(parts) - 1
        if last:
            end = int(exact)
        cells = max(end - drawn, 1 if seconds > 0 and drawn < width else 0)
        cells = min(cells, width - drawn)
        if cells:
            text.append("█" * cells, style=_style(stage))
            drawn += cells
        if last and drawn < width:
            frac = exact - int(exact)
            partial = _PARTIAL[int(frac * 8)]
            if partial != " ":
                text.append(partial, style=_style(stage))
                drawn += 1
    if drawn < width:
        text.append(" " * (width - drawn))
    return text


def turn_flag(turn: Turn) -> tuple[str, str]:
    """A short mark for the row (text, style): failed, interrupted, pending, no text, tools,
    transcript (STT-only), typed, greeting, agent-initiated."""
    if turn.failed:
        return "✗ failed", f"bold {BAD}"
    if turn.interruption:  # cut in early, barge-in, false interruption (LiveKit resumed it)
        return f"⚡ {vocab.INTERRUPTION_SHORT[turn.interruption]}", WARN
    if turn.interrupted:
        return "⚡ intr", WARN
    if not turn.complete:
        return "… live", DIM
    if turn.empty_reply:
        return "∅ no text", WARN
    if turn.kind == "transcript":
        return "stt only", DIM
    if turn.tool_calls or turn.handoffs:
        return "⚙ tools", DIM
    if turn.typed:
        return "typed", DIM
    if turn.greeting:
        return "greeting", DIM
    if turn.agent_initiated:
        return "agent", DIM
    return "", ""


class BarLengths:
    """Each turn's bar length (``bar_length``, seconds), kept as the turns arrive, and the
    longest one that is not absurd (``is_absurd``), which sets the list's one scale.

    A turn is measured again only when its ``metrics`` object is another one (the model
    replaces it when a figure arrives). The longest is found again over every turn only when
    a turn that was the longest shrank or the list shortened, so a new turn costs one
    identity check per turn, not a bar length per turn.
    """

    def __init__(self) -> None:
        self._measured: list[Any] = []  # per turn: the metrics object its length is from
        self._lengths = array("d")  # per turn, seconds: 8 bytes a turn, not a float object
        self.longest = 0.0
        """Seconds: the longest bar length that is not absurd (0.0 with none)."""

    def update(self, turns: Sequence[Turn]) -> float:
        """Measure the turns whose metrics changed; returns ``longest`` (seconds)."""
        measured, lengths = self._measured, self._lengths
        longest, again = self.longest, len(turns) < len(measured)
        del measured[len(turns):]
        del lengths[len(turns):]
        for i, turn in enumerate(turns):
            metrics = turn.metrics
            if i < len(measured):
                if measured[i] is metrics:
                    continue
                measured[i] = metrics
                old, length = lengths[i], bar_length(turn)
                lengths[i] = length
                again = again or (old >= longest and not is_absurd(old)
                                  and (length < old or is_absurd(length)))
            else:
                measured.append(metrics)
                length = bar_length(turn)
                lengths.append(length)
            if not is_absurd(length):
                longest = max(longest, length)
        if again:
            longest = max((n for n in lengths if not is_absurd(n)), default=0.0)
        self.longest = longest
        return longest
