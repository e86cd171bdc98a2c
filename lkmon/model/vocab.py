"""The words, colours and number formats of every view: the TUI panes, the HTML report and the
headless tables all name, colour and print a figure the same way, from here.

Stages are the parts of a turn's latency, in the field's terms (LiveKit ``ChatMessage.metrics``
and the per-plugin metrics):

- ``eou``, "EOU delay": end of the user's speech to LiveKit's end-of-turn decision;
- ``transcription``, "transcription delay": end of speech to the final transcript;
- ``llm_ttft``, "LLM TTFT": LLM request to its first token;
- ``tts_ttfb``, "TTS TTFB": TTS request to its first audio byte;
- ``other``, "other": the rest of the e2e latency (derived, not a LiveKit figure);
- ``e2e``, "e2e latency": end of the user's speech to the agent's first audio;
- ``heard``, "heard gap": lkmon's own figure, measured on the audio: the caller's last voiced
  sample to the agent's first audible sample (the silence the caller hears).

The keys are those of ``Turn.stages()`` and ``LatencySummary.stages``; ``Stage.field`` names the
``TurnMetrics`` field. Bar colours read on a dark terminal and on white paper alike (they are
fills, never text); an e2e latency is rated ``good`` / ``warn`` / ``bad`` against the user's
thresholds and each view draws the rating in its own way.

Every figure is formatted by the ``fmt_*`` functions below; an unknown figure prints as
``MISSING`` ("-") everywhere, never as 0. No textual or livekit import here.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Literal, Protocol, TypeGuard

MISSING = "-"
"""What every view prints for an unknown figure (never 0)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One latency stage.

    Attributes:
        key: its key in ``Turn.stages()``, ``LatencySummary.stages`` and the snapshot's
            ``summary.stages``.
        field: the ``TurnMetrics`` field holding it, seconds (``""`` for ``other``, which is
            derived: e2e latency minus the known stages).
        label: what every view calls it.
        colour: its bar colour (``#rrggbb``), or ``None`` for a figure that is no bar segment.
        meaning: one line for legends, help and tooltips.
    """

    key: str
    field: str
    label: str
    colour: str | None
    meaning: str


EOU = Stage("eou", "eou_delay", "EOU delay", "#5e81ac",
            "end of the user's speech to LiveKit's end-of-turn decision")
TRANSCRIPTION = Stage("transcription", "transcription_delay", "transcription delay", None,
                      "end of the user's speech to the final transcript")
LLM_TTFT = Stage("llm_ttft", "llm_ttft", "LLM TTFT", "#b48ead",
                 "LLM request to its first token (time to first token)")
TTS_TTFB = Stage("tts_ttfb", "tts_ttfb", "TTS TTFB", "#d08770",
                 "TTS request to its first audio byte (time to first byte)")
OTHER = Stage("other", "", "other", "#4c566a",
              "the rest of the e2e latency: scheduling, playback start")
E2E = Stage("e2e", "e2e_latency", "e2e latency", None,
            "end of the user's speech to the agent's first audio")
HEARD = Stage("heard", "heard_gap", "heard gap", None,
              "the caller's last voiced sample to the agent's first audible one (lkmon, on the"
              " audio)")

BAR_STAGES: tuple[Stage, ...] = (EOU, LLM_TTFT, TTS_TTFB)
"""The segments of a turn's latency bar, in order; ``OTHER`` fills the rest of e2e."""
SUMMARY_STAGES: tuple[Stage, ...] = (EOU, LLM_TTFT, TTS_TTFB, E2E)
"""The stages with p50 / p95 / max in every summary table."""
STAGES: dict[str, Stage] = {
    s.key: s for s in (EOU, TRANSCRIPTION, LLM_TTFT, TTS_TTFB, OTHER, E2E, HEARD)
}
"""Every stage by key."""


class Figures(Protocol):
    """What a turn's bar is drawn from (``TurnMetrics``, seconds or ``None``)."""

    @property
    def eou_delay(self) -> float | None: ...
    @property
    def llm_ttft(self) -> float | None: ...
    @property
    def tts_ttfb(self) -> float | None: ...
    @property
    def e2e_latency(self) -> float | None: ...


def bar_segments(figures: Figures) -> list[tuple[Stage, float]]:
    """A turn's latency bar, the same in every view: each known ``BAR_STAGES`` figure above 0,
    then ``OTHER`` for the rest of the e2e latency when it exceeds them by over 1 ms. Seconds."""
    parts: list[tuple[Stage, float]] = []
    for stage, value in ((EOU, figures.eou_delay), (LLM_TTFT, figures.llm_ttft),
                         (TTS_TTFB, figures.tts_ttfb)):
        if value is not None and value > 0:
            parts.append((stage, value))
    e2e = figures.e2e_latency
    known = sum(v for _, v in parts)
    if e2e is not None and e2e > known + 1e-3:
        parts.append((OTHER, e2e - known))
    return parts


def label(key: str | None) -> str:
    """The label of stage ``key`` (``"eou"`` -> ``"EOU delay"``); the key itself if unknown,
    ``MISSING`` for ``None``."""
    if key is None:
        return MISSING
    stage = STAGES.get(key)
    return stage.label if stage is not None else key


# -- ratings of an e2e latency -----------------------------------------------------------------

Rating = Literal["good", "warn", "bad"]

RATING_COLOURS: dict[str, str] = {"good": "#a3be8c", "warn": "#ebcb8b", "bad": "#bf616a"}
"""Colours of the e2e ratings (text in the TUI, a cell tint in the HTML report)."""
EOU_PART_COLOURS: dict[str, str] = {
    "silence": "#3b5a85",
    "transcript": "#81a1c1",
    "decision": "#88c0d0",
    "hook": "#a3be8c",
}
"""Colour of each part of the EOU delay (``lkmon.model.eou.PARTS``): the split EOU segment of a
turn's bar, the turn detail's timeline and the HTML report. Shades of blue, none equal to the
plain EOU colour (so a split segment never looks like an unsplit one) nor to another stage's."""
INTERRUPTION_LABELS: dict[str, str] = {
    "false_interruption": "false interruption",
    "cut_in_early": "cut in early",
    "barge_in": "barge-in",
}
"""Words for each ``Turn.interruption`` class (``lkmon.model.interruptions``), in match order."""
INTERRUPTION_SHORT: dict[str, str] = {
    "false_interruption": "false", "cut_in_early": "early", "barge_in": "barge"}
"""The same in at most 5 cells (a turn row's flag)."""


def rate_e2e(seconds: float | None, thresholds: tuple[float, float]) -> Rating | None:
    """``"good"`` below ``thresholds[0]``, ``"bad"`` from ``thresholds[1]``, else ``"warn"``.

    Args:
        seconds: an e2e latency, or ``None`` (unknown: no rating).
        thresholds: ``(good, bad)`` in seconds.
    """
    if seconds is None:
        return None
    good, bad = thresholds
    if seconds < good:
        return "good"
    return "bad" if seconds >= bad else "warn"


# -- number formats -----------------------------------------------------------------------------


def _known(value: float | None) -> TypeGuard[float]:
    """True for a figure: not ``None`` (unknown) and not NaN (what an unknown float may be)."""
    v: object = value  # an int too (a 400-digit one is no float: math.isnan would raise)
    return v is not None and not (isinstance(v, float) and math.isnan(v))


_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` safe to print or show on a terminal: each control character (ESC, BEL, CR,
    backspace, DEL, the C1 controls such as CSI, and the bidirectional overrides) as its visible
    escape (``"\\x1b"``, ``"\\x07"``, ``"\\u202e"``); tab and newline kept. An agent's
    exception text, logs or transcript can then never set the window title or move the cursor
    (Rich passes ESC through)."""
    if text.isprintable():
        return text
    return _CONTROLS.sub(_escape, text)


ABSURD_SECONDS = 3600.0
"""A latency bar longer than this (an hour: a plugin's bad figure, not a turn) is not drawn: the
TUI's row and the HTML report say ``ABSURD_LABEL`` instead, and the bar scale is made of the
other turns, so it stays bounded."""
ABSURD_LABEL = "> 1 h"


def is_absurd(seconds: float) -> bool:
    """True for a bar length that is not drawn: over ``ABSURD_SECONDS``, or not finite."""
    return not math.isfinite(seconds) or seconds > ABSURD_SECONDS


def fmt_s(seconds: float | None, digits: int = 3, *, signed: bool = False) -> str:
    """Seconds as ``"0.412 s"`` (``digits`` decimals; ``"+0.412 s"`` with ``signed``, for an
    offset); ``MISSING`` when unknown. A million seconds or more (a plugin's bad figure, or an
    infinity) is shown short, as such: ``"1.7e+09 s"``, ``"inf s"``."""
    if not _known(seconds):
        return MISSING
    if not -1e6 < seconds < 1e6:
        return f"{seconds:+.3g} s" if signed else f"{seconds:.3g} s"
    return f"{seconds:+.{digits}f} s" if signed else f"{seconds:.{digits}f} s"


def fmt_count(n: float | None) -> str:
    """A count with thousands separators, ``"1,234"``; ``MISSING`` when unknown."""
    if not _known(n):
        return MISSING
    return f"{n:,.0f}"


def fmt_cost(amount: float | None) -> str:
    """An estimated cost without its currency: ``"1.20"``, ``"0.0031"`` below 0.01, ``"0"``.

    ``"?"`` for an unknown price: a cost is never shown as 0 because no price is known.
    """
    if not _known(amount):
        return "?"
    if amount == 0:
        return "0"
    return f"{amount:.4f}" if abs(amount) < 0.01 else f"{amount:.2f}"


def fmt_duration(seconds: float | None) -> str:
    """A session's length as ``M:SS`` or ``H:MM:SS``; ``-:--`` when unknown."""
    if not _known(seconds) or seconds < 0:
        return "-:--"
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_clock(ts: float | None, *, utc: bool = False) -> str:
    """Epoch seconds as ``HH:MM:SS`` (local time, or UTC); ``--:--:--`` when unknown."""
    if ts is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(ts) if utc else time.localtime(ts))


def fmt_offset(ts: float | None, start: float | None) -> str:
    """Epoch seconds as ``+m:ss.s`` after ``start``; UTC ``HH:MM:SS`` when ``start`` is
    unknown; ``""`` when ``ts`` is."""
    if ts is None:
        return ""
    if start is None:
        return fmt_clock(ts, utc=True)
    offset = max(ts - start, 0.0)
    return f"+{int(offset // 60)}:{offset % 60:04.1f}"
