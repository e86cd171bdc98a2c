"""The silence the caller hears: ``heard_gap``, measured on the audio, beside LiveKit's e2e.

LiveKit's ``e2e_latency`` is the reply's playback start (the ``created_at`` the sink reported)
minus the user's stop as the VAD estimated it (``time.time()`` at its end of speech minus its
silence window and inference time). lkmon holds both ends of the audio and measures, per turn,
from the end of the caller's last voiced sample to the agent's first audible sample
(``AgentAudible``, made by ``lkmon.agent.audio.heard``). The two differ by three parts, which
add up to ``heard_gap - e2e_latency`` exactly:

* ``vad``: LiveKit's ``user_stopped_speaking_at`` minus the end of the caller's last voiced
  sample: how much later than the audio the VAD put the end of speech (its 32 ms windows, its
  threshold, the pipeline's lag), so e2e leaves it out;
* ``start``: playback start to the first audible sample (silence at the head of the reply's
  audio, the sink's pacing);
* ``sink``: the sink's output buffering (PortAudio's output latency; 0 for the null sink).

No textual or livekit import here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lkmon.model.measurements import AgentAudible

if TYPE_CHECKING:
    from lkmon.model.figures import TurnMetrics
    from lkmon.model.turns import Turn

__all__ = [
    "FLAG_DIFFERENCE", "HEARD_PARTS", "HeardDifference", "HeardJoin", "differing", "heard_gap",
    "measured",
]

MATCH_WINDOW = 0.005
"""Seconds within which an ``AgentAudible.playback_started_at`` matches a turn's
``agent_started_speaking_at`` (both are the one ``created_at`` the sink gave LiveKit)."""
FLAG_DIFFERENCE = 0.1
"""Seconds by which ``heard_gap`` and LiveKit's ``e2e_latency`` may differ before a turn is
flagged."""
TURN_SLACK = 0.05
"""Seconds before LiveKit's ``user_started_speaking_at`` the caller's voice may end and still be
the turn's (the VAD confirms a start after ``min_speech_duration``, back-dated)."""
RESUME_SLACK = 0.25
"""Seconds after LiveKit's ``user_stopped_speaking_at`` the caller's voice may end and still be
this turn's speech (the VAD's estimate is within a few 32 ms windows of the audio); a voice that
ends later is the caller speaking again: the reply began over it (a reply that cut in early),
so there was no silence to measure."""
HEARD_PARTS: dict[str, str] = {
    "vad": "the VAD's end-of-speech estimate",
    "start": "playback start",
    "sink": "buffering in the sink",
}
"""The parts of ``heard_gap - e2e_latency`` (``HeardDifference.parts``) and what each is:
LiveKit's stop after the audio's (the VAD's 32 ms windows and threshold), playback start to
the first audible sample (silence at the head of the reply's audio), the device's output
latency."""
_RECENT = 16


def heard_gap(heard: AgentAudible | None, m: TurnMetrics) -> float | None:
    """Seconds of silence the caller heard before this turn's reply, or ``None``.

    Args:
        heard: the reply's first ``AgentAudible`` (``Turn.heard``).
        m: the turn's figures: the caller's voice must end after LiveKit's
            ``user_started_speaking_at`` (less ``TURN_SLACK``) and by its
            ``user_stopped_speaking_at`` (plus ``RESUME_SLACK``) to be this turn's.

    Returns:
        ``heard.at - heard.voice_end_at`` when the caller spoke in this turn and had stopped
        before the reply became audible; else ``None`` (``heard_missing_reason`` says why).
    """
    if heard is None or heard.voice_end_at is None:
        return None
    started = m.user_started_speaking_at
    if started is not None and heard.voice_end_at < started - TURN_SLACK:
        return None
    if _spoke_again(heard, m):
        return None
    gap = heard.at - heard.voice_end_at
    return gap if 0 <= gap < math.inf else None  # a journal's 1e308 - -1e308 is no figure


def heard_missing_reason(turn: Turn, audio_output: bool, measured: bool) -> str | None:
    """Why ``turn.metrics.heard_gap`` is ``None``, or ``None`` when it is known.

    Args:
        turn: the turn.
        audio_output: False when the session had no audio output (a text-only agent).
        measured: True when lkmon measured this session's audio (a turn has an
            ``AgentAudible``).
    """
    if turn.metrics.heard_gap is not None:
        return None
    if turn.kind == "transcript":
        return "no reply: the agent has no LLM"
    if not audio_output:
        return "no audio output (text-only session)"
    if turn.typed:
        return "typed turn: no caller audio"
    if turn.user_text is None:
        return "greeting: no caller speech" if turn.before_user_speech else (
            "agent-initiated: no caller speech")
    heard = turn.heard
    if heard is None:
        if turn.metrics.agent_started_speaking_at is None:
            if not turn.complete and not turn.done:
                return "reply pending"
            return turn.e2e_missing_reason(audio_output) or "the reply was not played"
        if not measured:
            return ("lkmon did not measure this session's audio (the recorder, LiveKit's session"
                    " protocol, or a journal written before lkmon measured it)")
        return "no audible sample in the reply's audio"
    if heard.voice_end_at is None:
        return f"no caller voice above {heard.threshold:.0f} dBFS before the reply"
    if heard.voice_end_at > heard.at:
        return "the caller was still speaking when the reply became audible"
    if _spoke_again(heard, turn.metrics):
        return ("the caller spoke again after this turn ended and the reply began over it: no"
                " silence to measure")
    return (f"the caller's voice before the reply ended before this turn's speech (below"
            f" {heard.threshold:.0f} dBFS)")


def _spoke_again(heard: AgentAudible, m: TurnMetrics) -> bool:
    """The caller's last voice before the reply ends over ``RESUME_SLACK`` seconds after
    LiveKit's end of this turn's speech: it is the next utterance, not this turn's."""
    stopped = m.user_stopped_speaking_at
    return (heard.voice_end_at is not None and stopped is not None
            and heard.voice_end_at > stopped + RESUME_SLACK)


@dataclass(slots=True, frozen=True)
class HeardDifference:
    """Where ``heard_gap`` and LiveKit's ``e2e_latency`` differ, seconds.

    Attributes:
        difference: ``heard_gap - e2e_latency``.
        parts: ``HEARD_PARTS`` keys -> seconds, adding up to ``difference``: ``vad``
            (LiveKit's ``user_stopped_speaking_at`` minus the caller's last voiced sample),
            ``start`` (playback start to the first audible sample, less the sink's
            buffering), ``sink`` (``AgentAudible.output_delay``).
        main: the part with the largest magnitude.
        flagged: ``|difference| > FLAG_DIFFERENCE``.
    """

    difference: float
    parts: dict[str, float]
    main: str
    flagged: bool

    @classmethod
    def of(cls, heard: AgentAudible | None, m: TurnMetrics) -> HeardDifference | None:
        """The difference for a turn with both figures and LiveKit's speaking times, else
        ``None``."""
        if (heard is None or heard.voice_end_at is None or m.heard_gap is None
                or m.e2e_latency is None or m.user_stopped_speaking_at is None):
            return None
        parts = {
            "vad": m.user_stopped_speaking_at - heard.voice_end_at,
            "start": heard.at - heard.playback_started_at - heard.output_delay,
            "sink": heard.output_delay,
        }
        difference = m.heard_gap - m.e2e_latency
        main = max(parts, key=lambda k: abs(parts[k]))
        return cls(difference, parts, main, abs(difference) > FLAG_DIFFERENCE)

    def describe(self) -> str:
        """One line, e.g. ``heard +0.212 s vs e2e: mostly buffering in the sink +0.200 s``."""
        return (f"heard {self.difference:+.3f} s vs e2e: mostly {HEARD_PARTS[self.main]}"
                f" {self.parts[self.main]:+.3f} s")

    def detail(self) -> str:
        """Every part, e.g. ``VAD estimate +0.010 s, playback start +0.002 s, sink +0.200 s``."""
        names = {"vad": "VAD estimate", "start": "playback start", "sink": "sink"}
        return ", ".join(f"{names[k]} {v:+.3f} s" for k, v in self.parts.items())


class _Figured(Protocol):
    """A turn as the views hold it (``Turn`` or the snapshot's ``SnapshotTurn``)."""

    @property
    def index(self) -> int: ...
    @property
    def heard(self) -> AgentAudible | None: ...
    @property
    def metrics(self) -> TurnMetrics: ...


def measured(turns: Iterable[_Figured]) -> bool:
    """True when lkmon measured the session's audio: a turn has an ``AgentAudible``."""
    return any(t.heard is not None for t in turns)


def differing(turns: Iterable[_Figured]) -> list[tuple[int, HeardDifference]]:
    """``(turn index, difference)`` of every turn whose heard gap and e2e latency differ by
    more than ``FLAG_DIFFERENCE``, in turn order."""
    out = []
    for t in turns:
        d = HeardDifference.of(t.heard, t.metrics)
        if d is not None and d.flagged:
            out.append((t.index, d))
    return out


class HeardJoin:
    """Joins each ``AgentAudible`` to the turn whose reply started playing at its
    ``playback_started_at``; the assistant message that carries the turn's
    ``started_speaking_at`` usually comes after the event, so events wait (``pending``, the
    newest 16).

    Attributes:
        pending: events not joined yet.
    """

    def __init__(self) -> None:
        self.pending: deque[AgentAudible] = deque(maxlen=_RECENT)

    def add(self, ev: AgentAudible) -> None:
        """Keep ``ev`` until its turn is known."""
        self.pending.append(ev)

    def attach(self, turns: Sequence[Turn]) -> bool:
        """Give each pending event to the recent turn without one whose playback started at
        its ``playback_started_at`` (within ``MATCH_WINDOW``) and recompute the turn; returns
        True when one was joined."""
        joined = False
        for ev in list(self.pending):
            for turn in reversed(turns[-_RECENT:]):
                at = turn.metrics.agent_started_speaking_at
                if (at is not None and abs(at - ev.playback_started_at) <= MATCH_WINDOW
                        and turn.heard is None and not turn.restored):
                    turn.heard = ev
                    turn.recompute()
                    self.pending.remove(ev)
                    joined = True
                    break
        return joined
