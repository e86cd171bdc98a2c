"""Session-protocol events (``AgentSessionMessage.event``, livekit-agents 1.8.9) -> lkmon events.

What the protocol carries: agent and user state, user transcripts, chat items (messages with
their ``MetricsReport``), tool calls, session usage, errors, false interruptions and overlapping
speech (each given the reply under way). What it does not carry (VAD
events, plugin-level metrics, ``speech_id``) has no event here: turns are joined from the chat
messages alone: lkmon numbers the replies itself (``protocol_1``, ``protocol_2``...: a
``SpeechCreated`` at a user message, or when the agent speaks or a reply's message or tool call
comes with none before it, and a ``SpeechDone`` when the agent listens again after the reply's
message), so these ids are lkmon's, not LiveKit's. A reply that adds no assistant message (the
user cut in before any of its text was played: LiveKit then adds none) is closed by the next user
message as its own turn, interrupted when the agent had thought or spoken for it, as in-process
(its ``SpeechHandle`` done, interrupted, with no chat items).
Text passes through ``lkmon.redact.redact``. No textual import here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from lkmon.model.events import (
    AgentHandedOff,
    AgentStateChanged,
    ChatMessageAdded,
    EotPrediction,
    ErrorRaised,
    FalseInterruption,
    ModelUsage,
    OverlappingSpeech,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UsageUpdated,
    UserStateChanged,
    UserTranscribed,
)
from lkmon.redact import redact
from lkmon.sources.base import Emit

logger = logging.getLogger("lkmon.protocol")

_ROLES = {0: "developer", 1: "system", 2: "user", 3: "assistant"}
_METRIC_TIMES = ("started_speaking_at", "stopped_speaking_at")
_METRIC_FIGURES = ("transcription_delay", "end_of_turn_delay", "on_user_turn_completed_delay",
                   "llm_node_ttft", "tts_node_ttfb", "e2e_latency", "llm_node_tps",
                   "llm_node_ttfs")


def _seconds(ts: Any) -> float | None:
    """A ``google.protobuf.Timestamp`` as epoch seconds (``None`` when unset)."""
    return ts.seconds + ts.nanos / 1e9 if (ts.seconds or ts.nanos) else None


def _duration(d: Any) -> float:
    """A ``google.protobuf.Duration`` in seconds."""
    return float(d.seconds + d.nanos / 1e9)


def _state(value: int, enum: Any) -> str:
    """``AS_LISTENING`` -> ``"listening"``."""
    value_desc = enum.values_by_number.get(value)
    return value_desc.name.split("_", 1)[1].lower() if value_desc is not None else str(value)


class EventConverter:
    """Turns each protocol event into lkmon events handed to ``emit``; never raises (a bad
    event is logged once per kind).

    Args:
        emit: receives each lkmon event, on the loop thread.
    """

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.unknown: dict[str, int] = {}
        self._failed: set[str] = set()
        self._replies = 0
        self._speech: str | None = None  # the reply under way (lkmon's id)
        self._items: list[str] = []  # its assistant items
        self._user_initiated = False
        self._busy = False  # the agent thought or spoke since the reply opened
        self._listened_at: float | None = None  # the agent's last listening since (epoch s)

    def _open_speech(self, ts: float, *, user: bool) -> str:
        if self._speech is None:
            self._replies += 1
            self._speech, self._items, self._user_initiated = f"protocol_{self._replies}", [], user
            self._busy, self._listened_at = False, None
            self.emit(SpeechCreated(ts=ts, speech_id=self._speech, source="generate_reply",
                                    user_initiated=user))
        return self._speech

    def _close_speech(self, ts: float) -> None:
        if self._speech is not None and self._items:
            self.emit(SpeechDone(ts=ts, speech_id=self._speech, item_ids=list(self._items)))
            self._speech, self._items = None, []

    def _close_unanswered(self, ts: float) -> None:
        """At a user message: the reply under way added no assistant message (LiveKit adds none
        when the user cut in before any of its text was played), so it ends here as its own
        turn, done when the agent last listened (else ``ts``, epoch seconds), interrupted when
        the agent had thought or spoken for it; the user message starts the next turn."""
        if self._speech is not None and not self._items:
            self.emit(SpeechDone(ts=self._listened_at or ts, speech_id=self._speech,
                                 interrupted=self._busy))
            self._speech = None

    def event(self, ev: Any) -> None:
        """One ``AgentSessionMessage.SessionEvent``."""
        kind = ev.WhichOneof("event") or "unknown"
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            self.unknown[kind] = self.unknown.get(kind, 0) + 1
            return
        ts = _seconds(ev.created_at) or time.time()
        try:
            handler(getattr(ev, kind), ts)
        except Exception as e:  # a shape this lkmon does not know: logged once
            if kind not in self._failed:
                self._failed.add(kind)
                logger.warning("protocol event %s not shown: %s: %s", kind, type(e).__name__, e)

    def _on_agent_state_changed(self, ev: Any, ts: float) -> None:
        enum = ev.DESCRIPTOR.fields_by_name["new_state"].enum_type
        new = _state(ev.new_state, enum)
        self.emit(AgentStateChanged(ts=ts, old_state=_state(ev.old_state, enum), new_state=new))
        if new == "speaking":  # a reply without a user message (a greeting) starts here
            self._open_speech(ts, user=False)
        if new in ("thinking", "speaking") and self._speech is not None:
            self._busy = True
        if new in ("listening", "idle"):
            self._listened_at = ts
            self._close_speech(ts)

    def _on_agent_false_interruption(self, ev: Any, ts: float) -> None:
        self.emit(FalseInterruption(ts=ts, resumed=bool(ev.resumed), speech_id=self._speech))

    def _on_eot_prediction(self, ev: Any, ts: float) -> None:
        self.emit(EotPrediction(
            ts=ts, probability=float(ev.probability), threshold=float(ev.threshold),
            delay=_duration(ev.delay) if ev.HasField("delay") else None,
            inference_duration=(_duration(ev.inference_duration)
                                if ev.HasField("inference_duration") else None)))

    def _on_overlapping_speech(self, ev: Any, ts: float) -> None:
        self.emit(OverlappingSpeech(
            ts=ts, is_interruption=bool(ev.is_interruption),
            detection_delay=float(ev.detection_delay) if ev.detection_delay else None,
            overlap_started_at=_seconds(ev.overlap_started_at), speech_id=self._speech))

    def _on_user_state_changed(self, ev: Any, ts: float) -> None:
        enum = ev.DESCRIPTOR.fields_by_name["new_state"].enum_type
        self.emit(UserStateChanged(ts=ts, old_state=_state(ev.old_state, enum),
                                   new_state=_state(ev.new_state, enum)))

    def _on_user_input_transcribed(self, ev: Any, ts: float) -> None:
        self.emit(UserTranscribed(ts=ts, text=redact(ev.transcript), is_final=ev.is_final))

    def _on_conversation_item_added(self, ev: Any, ts: float) -> None:
        item = ev.item
        which = item.WhichOneof("item")
        if which == "agent_handoff":
            h = item.agent_handoff
            self.emit(AgentHandedOff(ts=ts, item_id=h.id, old_agent=h.old_agent_id or None,
                                     new_agent=h.new_agent_id))
            return
        if which != "message":
            return
        m = item.message
        metrics: dict[str, float] = {}
        for name in _METRIC_TIMES:
            if m.metrics.HasField(name):
                value = _seconds(getattr(m.metrics, name))
                if value is not None:
                    metrics[name] = value
        for name in _METRIC_FIGURES:
            if m.metrics.HasField(name):
                metrics[name] = float(getattr(m.metrics, name))
        text = "\n".join(c.text for c in m.content if c.WhichOneof("payload") == "text")
        role = _ROLES.get(m.role, "user")
        speech_id = None
        if role == "user":
            self._close_speech(ts)
            self._close_unanswered(ts)
            self._open_speech(ts, user=True)
        elif role == "assistant":
            speech_id = self._open_speech(ts, user=False)
            self._items.append(m.id)
        self.emit(ChatMessageAdded(
            ts=ts, item_id=m.id, role=role, text=redact(text), interrupted=m.interrupted,
            created_at=_seconds(m.created_at) or ts, metrics=metrics, speech_id=speech_id,
        ))

    def _on_function_tools_executed(self, ev: Any, ts: float) -> None:
        outputs = {o.call_id: o for o in ev.function_call_outputs}
        speech_id = self._open_speech(ts, user=False)
        for call in ev.function_calls:
            out = outputs.get(call.call_id)
            self.emit(ToolCalled(
                ts=ts, call_id=call.call_id, name=call.name, arguments=redact(call.arguments),
                output=redact(out.output) if out is not None else None,
                is_error=bool(out.is_error) if out is not None else False, speech_id=speech_id,
            ))

    def _on_error(self, ev: Any, ts: float) -> None:
        self.emit(ErrorRaised(ts=ts, source="agent", message=redact(ev.message)))

    def _on_session_usage_updated(self, ev: Any, ts: float) -> None:
        rows: list[ModelUsage] = []
        for u in ev.usage.model_usage:
            kind = u.WhichOneof("usage")
            if kind not in ("llm", "tts", "stt"):
                continue
            x = getattr(u, kind)
            rows.append(ModelUsage(
                kind=kind, provider=x.provider, model=x.model,
                input_tokens=int(getattr(x, "input_tokens", 0)),
                input_cached_tokens=int(getattr(x, "input_cached_tokens", 0)),
                output_tokens=int(getattr(x, "output_tokens", 0)),
                characters_count=int(getattr(x, "characters_count", 0)),
                audio_duration=float(getattr(x, "audio_duration", 0.0)),
            ))
        self.emit(UsageUpdated(ts=ts, usage=rows))
