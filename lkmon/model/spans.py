"""LiveKit's OpenTelemetry spans, as lkmon events.

livekit-agents 1.8.9 writes the parts of a user turn's end-of-turn decision only on its
OpenTelemetry spans (``voice/audio_recognition.py``, ``voice/agent_activity.py``); the turn
detector's predictions are not an ``AgentSession`` event. ``lkmon.agent.observe.telemetry``
captures the finished spans named in ``SPAN_NAMES`` in-process and turns each into one
``TraceSpan``, keeping only the attributes in ``ATTRIBUTES`` (timings and decisions: never the
transcript, the chat context or a participant's identity). No textual or livekit import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

SPAN_NAMES: frozenset[str] = frozenset(
    {
        "user_turn",  # one user turn: lk.transcription_delay, lk.end_of_turn_delay
        "eou_wait",  # child of user_turn: from the user's last speech to the turn decision
        "eou_detection",  # child of eou_wait: one turn-detector prediction
        "on_user_turn_completed",  # child of user_turn: the agent's hook
        "agent_turn",  # one reply (lk.speech_id) with the user turn's stages
    }
)
"""The LiveKit span names lkmon keeps (livekit-agents 1.8.9)."""

ATTRIBUTES: frozenset[str] = frozenset(
    {
        "lk.speech_id",
        "lk.transcription_delay",
        "lk.end_of_turn_delay",
        "lk.on_user_turn_completed_delay",
        "lk.e2e_latency",
        "lk.eou.probability",
        "lk.eou.unlikely_threshold",
        "lk.eou.endpointing_delay",
        "lk.eou.language",
        "lk.eou.source",
        "lk.eou.detection_delay",
        "lk.eou.from_cache",
        "lk.eou.outcome",
        "lk.eou.wait_duration",
        "lk.eou.rearm_count",
        "lk.eou.not_committed_count",
        "lk.eou.resume_count",
    }
)
"""The span attributes lkmon keeps (``telemetry/trace_types.py``); the rest are dropped."""


@dataclass(slots=True)
class TraceSpan:
    """One finished LiveKit OpenTelemetry span (``opentelemetry.sdk.trace.ReadableSpan``).

    Attributes:
        ts: epoch seconds the span ended (its ``end_time``).
        name: the span's name, one of ``SPAN_NAMES``.
        start: epoch seconds the span started (LiveKit back-dates ``eou_wait`` and
            ``user_turn`` to the user's last speech).
        span_id: the span's id, 16 hex digits.
        parent_id: the parent span's id, or ``None`` for a root span.
        attributes: the kept attributes (``ATTRIBUTES``): numbers in seconds, flags, labels.
    """

    type: ClassVar[str] = "otel_span"
    ts: float
    name: str
    start: float
    span_id: str
    parent_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return self.ts - self.start

    def number(self, key: str) -> float | None:
        """The attribute ``key`` as a float, or ``None`` when absent or not a number."""
        value = self.attributes.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)


@dataclass(slots=True)
class EotPrediction:
    """From LiveKit's session protocol ``eot_prediction`` (``AgentSessionEvent.EotPrediction``):
    one turn-detector prediction, as the agent in another process reports it. In-process the same
    figures come on the ``eou_detection`` span (``TraceSpan``).

    Attributes:
        ts: epoch seconds (the event's ``created_at``).
        probability: P(end of turn), 0..1.
        threshold: the unlikely threshold it was compared with.
        delay: the endpointing delay chosen with it, seconds, or ``None``.
        inference_duration: seconds the prediction took, or ``None``.
    """

    type: ClassVar[str] = "eot_prediction"
    ts: float
    probability: float
    threshold: float
    delay: float | None = None
    inference_duration: float | None = None

