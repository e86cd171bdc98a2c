"""The EOU decision of a user turn, decomposed: what the EOU delay waited for.

LiveKit's EOU delay (``end_of_turn_delay``: the user's last speech to the turn being committed)
is one block. Its parts come from LiveKit's OpenTelemetry spans (``TraceSpan``, captured by
``lkmon.agent.observe.telemetry``) and from session and VAD events, joined here per user turn:

* ``stopped_at``: the user's last speech, LiveKit's ``last_speaking_time`` (the ``eou_wait``
  span's start; ``ChatMessage.metrics["stopped_speaking_at"]``);
* ``vad_end_at``: the VAD's end of speech (the ``end_of_speech`` ``VadActivity``: when the VAD
  said so, not LiveKit's ``user_state_changed``, whose ``created_at`` is back-dated to
  ``stopped_at``), after its silence window (``VADEvent.silence_duration`` at ``end_of_speech``,
  the VAD's ``min_silence_duration`` rounded up to its 32 ms inference window);
* the final transcript at ``stopped_at + transcription_delay`` (``lk.transcription_delay`` on
  ``user_turn``);
* ``decided_at``: the turn decision (the committed ``eou_wait`` span's end), after the
  endpointing delay in force (``lk.eou.endpointing_delay``) and, with a turn detector, each
  prediction (``eou_detection``: ``lk.eou.probability``, ``lk.eou.unlikely_threshold``);
* ``hook``: the agent's ``on_user_turn_completed`` (its span), which runs after the decision.

``EouParts.segments`` cuts ``stopped_at .. decided_at`` into ``silence``, ``transcript`` and
``decision`` with no overlap, so they add up to LiveKit's EOU delay. No textual or livekit
import here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lkmon.model.events import VadActivity
from lkmon.model.spans import EotPrediction, TraceSpan

if TYPE_CHECKING:
    from lkmon.model.turns import Turn

PARTS: tuple[str, ...] = ("silence", "transcript", "decision", "hook")
"""Segment names of ``EouParts.segments``, in time order (``hook`` comes after the EOU delay)."""
PART_LABELS: dict[str, str] = {
    "silence": "VAD silence",
    "transcript": "transcript",
    "decision": "turn decision",
    "hook": "on_user_turn_completed",
}
MATCH_WINDOW = 0.005
"""Seconds within which a turn's ``user_stopped_speaking_at`` matches ``EouParts.stopped_at``
(both are LiveKit's one ``last_speaking_time``; the span rounds it to nanoseconds)."""
VAD_SLACK = 0.05
"""Seconds after the decision a VAD end of speech may be seen and still be the turn's (an STT
final can commit the turn while the VAD's window is closing)."""
_RECENT = 16


def bar_shares(segments: Mapping[str, float | None] | None) -> dict[str, float]:
    """The EOU segment of a latency bar in parts: ``silence``/``transcript``/``decision`` ->
    their share of the segment (fractions adding up to 1; ``EouParts.segments``, whose ``hook``
    runs after the EOU delay and is left out); empty when there are no parts or they span 0 s,
    so the bar keeps one EOU block."""
    inside = {p: v for p, v in (segments or {}).items() if p != "hook" and v}
    total = sum(inside.values())
    return {p: v / total for p, v in inside.items()} if total > 0 else {}


@dataclass(slots=True)
class EouPrediction:
    """One turn-detector prediction (an ``eou_detection`` span).

    Attributes:
        at: epoch seconds the prediction was made (the span's end).
        probability: P(end of turn), 0..1, or ``None`` (no prediction: timed out, unsupported).
        threshold: the unlikely threshold it was compared with, or ``None``.
        delay: the endpointing delay chosen with it, seconds (the max delay when
            ``probability < threshold``, else the min delay).
        trigger: what ran it: ``"vad"``, ``"stt"`` or ``"manual"``.
        committed: it belongs to the wait that ended in the decision (False: a wait the user
            cut short by speaking again).
    """

    at: float
    probability: float | None
    threshold: float | None
    delay: float | None
    trigger: str = ""
    committed: bool = True


@dataclass(slots=True)
class EouParts:
    """The parts of one user turn's EOU delay (epoch seconds and seconds).

    Attributes:
        stopped_at: the user's last speech (LiveKit's ``last_speaking_time``).
        decided_at: the turn decision (the committed ``eou_wait`` span's end).
        endpointing_delay: the endpointing delay in force at the decision, seconds.
        transcription_delay: LiveKit's, seconds from ``stopped_at`` to the final transcript.
        end_of_turn_delay: LiveKit's EOU delay, seconds (``lk.end_of_turn_delay``).
        vad_end_at: the VAD's end of speech, or ``None`` (no VAD event seen).
        vad_silence: the silence window the VAD waited, seconds, or ``None``.
        hook: seconds ``on_user_turn_completed`` took, or ``None``.
        predictions: the turn detector's predictions, oldest first (none without one).
        resumes: endpointing waits the user cut short by speaking again.
        rearms: times the committed wait restarted on a later trigger.
    """

    stopped_at: float
    decided_at: float
    endpointing_delay: float | None = None
    transcription_delay: float | None = None
    end_of_turn_delay: float | None = None
    vad_end_at: float | None = None
    vad_silence: float | None = None
    hook: float | None = None
    predictions: list[EouPrediction] = field(default_factory=list)
    resumes: int = 0
    rearms: int = 0

    @property
    def wait(self) -> float:
        """Seconds from the user's last speech to the decision (the ``eou_wait`` span)."""
        return self.decided_at - self.stopped_at

    def segments(self) -> dict[str, float | None]:
        """``PARTS`` -> seconds: ``silence`` (to the VAD's end of speech), ``transcript`` (then
        to the final transcript), ``decision`` (then to the turn decision), ``hook``. The
        first three do not overlap and add up to ``wait``; a part whose event is unknown has its
        time in the next: ``silence`` is then ``None`` (no VAD end of speech: LiveKit's session
        protocol does not carry it), ``transcript`` 0. ``hook`` is ``None`` when unknown."""
        start, end = self.stopped_at, self.decided_at
        vad = min(max(self.vad_end_at, start), end) if self.vad_end_at is not None else start
        text = vad
        if self.transcription_delay is not None:
            text = min(max(start + self.transcription_delay, vad), end)
        return {
            "silence": vad - start if self.vad_end_at is not None else None,
            "transcript": text - vad,
            "decision": end - text,
            "hook": self.hook,
        }


class EouTracker:
    """Builds ``EouParts`` from LiveKit's spans and joins each to its turn.

    Spans arrive as they end: ``eou_detection`` and ``eou_wait`` before their ``user_turn``,
    which ends after ``on_user_turn_completed``; the turn's user message usually arrives
    before the ``user_turn`` span ends, but not always, so built parts wait (``pending``, the
    newest 16) for a turn whose ``user_stopped_speaking_at`` matches.
    """

    def __init__(self) -> None:
        self._children: dict[str, list[TraceSpan]] = {}
        self.pending: deque[EouParts] = deque(maxlen=_RECENT)
        self._vad_ends: deque[tuple[float, float]] = deque(maxlen=_RECENT)
        self._eots: deque[EotPrediction] = deque(maxlen=4 * _RECENT)

    def take(self, ev: TraceSpan | EotPrediction) -> bool:
        """One finished span (``span``) or a turn-detector prediction from LiveKit's session
        protocol (no spans there); True when there may be parts to ``attach``."""
        if isinstance(ev, EotPrediction):
            self._eots.append(ev)
            return True
        return self.span(ev) is not None

    @property
    def waiting(self) -> bool:
        """True when parts or protocol predictions wait for their turn (``attach``)."""
        return bool(self.pending or self._eots)

    def vad(self, ev: VadActivity) -> None:
        """Note the silence window of a VAD end of speech."""
        if ev.event == "end_of_speech":
            self._vad_ends.append((ev.ts, ev.silence_duration))

    def span(self, ev: TraceSpan) -> EouParts | None:
        """Take one finished span; returns the parts a ``user_turn`` span completed (also kept
        in ``pending``), else ``None``."""
        if ev.name != "user_turn":
            if ev.parent_id is not None and ev.name != "agent_turn":
                self._children.setdefault(ev.parent_id, []).append(ev)
                while len(self._children) > 4 * _RECENT:  # parents that never ended
                    del self._children[next(iter(self._children))]
            return None
        children = self._children.pop(ev.span_id, [])
        waits = [c for c in children if c.name == "eou_wait"]
        committed = [w for w in waits if w.attributes.get("lk.eou.outcome") == "committed"]
        if not committed:
            for w in waits:
                self._children.pop(w.span_id, None)
            return None  # a turn with no decision (dropped, or the session closed)
        wait = committed[-1]
        parts = EouParts(
            stopped_at=wait.start,
            decided_at=wait.ts,
            endpointing_delay=wait.number("lk.eou.endpointing_delay"),
            transcription_delay=ev.number("lk.transcription_delay"),
            end_of_turn_delay=ev.number("lk.end_of_turn_delay"),
            resumes=sum(1 for w in waits if w.attributes.get("lk.eou.outcome") == "user_resumed"),
            rearms=int(wait.number("lk.eou.rearm_count") or 0),
        )
        for w in waits:
            for d in self._children.pop(w.span_id, []):
                if d.name == "eou_detection":
                    parts.predictions.append(_prediction(d, committed=w is wait))
        parts.predictions.sort(key=lambda p: p.at)
        hooks = [c for c in children if c.name == "on_user_turn_completed"]
        if hooks:
            parts.hook = hooks[-1].duration
        self._vad_end(parts)
        self.pending.append(parts)
        return parts

    def _vad_end(self, parts: EouParts) -> None:
        """The VAD end of speech of the decided wait: the latest one after ``stopped_at`` and
        no later than just after the decision."""
        ends = [(t, s) for t, s in self._vad_ends
                if parts.stopped_at <= t <= parts.decided_at + VAD_SLACK]
        if ends:
            parts.vad_end_at, parts.vad_silence = ends[-1]

    def attach(self, turns: Sequence[Turn]) -> bool:
        """Give each pending part to the recent turn whose user stopped speaking at its
        ``stopped_at`` (within ``MATCH_WINDOW``); over the session protocol, build a turn's
        parts from its message's metrics and the ``eot_prediction`` events made between its
        user's last speech and its decision (``_predicted``). Returns True when one was joined."""
        joined = self._predicted(turns) if self._eots else False
        for parts in list(self.pending):
            for turn in reversed(turns[-_RECENT:]):
                at = turn.metrics.user_stopped_speaking_at
                if (turn.eou_parts is None and at is not None
                        and abs(at - parts.stopped_at) <= MATCH_WINDOW):
                    turn.eou_parts = parts
                    self.pending.remove(parts)
                    joined = True
                    break
        return joined


    def _predicted(self, turns: Sequence[Turn]) -> bool:
        """Parts for recent turns without any, from LiveKit's figures on the user message
        (``stopped_speaking_at``, ``end_of_turn_delay``, ``transcription_delay``) and the
        protocol's predictions up to ``decided_at + VAD_SLACK``: those after the user's last
        speech decided it, those since the user started speaking were waits the user cut short
        (``committed`` False). No VAD end of speech (the protocol does not carry it), so the
        silence part is unknown (``EouParts.segments``). Predictions up to a decision are used
        up, so none lingers to be matched again."""
        joined = False
        for turn in turns[-_RECENT:]:
            m = turn.metrics
            stopped, eou = m.user_stopped_speaking_at, m.eou_delay
            if turn.eou_parts is not None or stopped is None or eou is None:
                continue
            decided = stopped + eou
            made = [e for e in self._eots if e.ts <= decided + VAD_SLACK]
            if not any(e.ts >= stopped for e in made):
                continue
            started = m.user_started_speaking_at if m.user_started_speaking_at is not None else (
                stopped)
            turn.eou_parts = EouParts(
                stopped_at=stopped, decided_at=decided, endpointing_delay=made[-1].delay,
                transcription_delay=m.transcription_delay, end_of_turn_delay=eou,
                predictions=[EouPrediction(at=e.ts, probability=e.probability,
                                           threshold=e.threshold, delay=e.delay,
                                           committed=e.ts >= stopped)
                             for e in made if e.ts >= started])
            for e in made:
                self._eots.remove(e)
            joined = True
        return joined


def _prediction(span: TraceSpan, *, committed: bool) -> EouPrediction:
    trigger = span.attributes.get("lk.eou.source")
    return EouPrediction(
        at=span.ts,
        probability=span.number("lk.eou.probability"),
        threshold=span.number("lk.eou.unlikely_threshold"),
        delay=span.number("lk.eou.endpointing_delay"),
        trigger=trigger if isinstance(trigger, str) else "",
        committed=committed,
    )
