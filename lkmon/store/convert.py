"""The session model as a ``Snapshot``, converted once.

``to_snapshot(model)`` is the one place that reads a ``SessionModel`` for export: the JSON file
(``lkmon.store.snapshot.write_snapshot`` dumps this object), the HTML report, the headless tables
and the store all render from the ``Snapshot`` it returns. The snapshot holds copies: the model
may go on changing. No textual or livekit import here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from lkmon.model.events import (
    AgentTranscript,
    ChatMessageAdded,
    ErrorRaised,
    ModelUsage,
    PluginMetrics,
    ToolCalled,
    UserTranscribed,
)
from lkmon.model.figures import MetricValues
from lkmon.model.heard import heard_missing_reason
from lkmon.model.interruptions import counts as interruption_counts
from lkmon.model.session import SessionInfo
from lkmon.model.state import SessionModel
from lkmon.model.transcript import TranscriptEntry
from lkmon.model.turns import TURN_METRIC_FIELDS, Turn, TurnMetrics
from lkmon.model.vad import VadState
from lkmon.model.whatif import of_session
from lkmon.redact import TEXT_PLACEHOLDER, placeholder
from lkmon.store.events import encode
from lkmon.store.format import (
    SNAPSHOT_VERSION,
    Snapshot,
    SnapshotSession,
    SnapshotTurn,
    UsageEntry,
    VadEntry,
)

__all__ = [
    "PLACEHOLDER_CHAR",
    "SESSION_FIELDS",
    "TURN_FIELDS",
    "USAGE_FIELDS",
    "VAD_FIELDS",
    "placeholder",
    "snapshot_dict",
    "to_snapshot",
]

PLACEHOLDER_CHAR = TEXT_PLACEHOLDER  # "█" (lkmon.redact, the one redaction module)
_TEXT_EVENTS = (UserTranscribed, ChatMessageAdded, AgentTranscript)


def _shared(kept: type, written: type[BaseModel]) -> tuple[str, ...]:
    """The fields of the model's dataclass ``kept`` that the snapshot's ``written`` has too:
    written from the model as they are, and read back into it (``lkmon.store.restore``)."""
    return tuple(f.name for f in dataclasses.fields(kept) if f.name in written.model_fields)


SESSION_FIELDS = _shared(SessionInfo, SnapshotSession)
"""``SessionInfo``'s fields in the snapshot's ``session`` (``session_id``, ``started_at``...)."""
VAD_FIELDS = _shared(VadState, VadEntry)
"""``VadState``'s fields in the snapshot's ``vad`` (the counts and totals, not the trace)."""
_TURN_PARTS = ("tool_calls", "handoffs", "metrics", "plugin_metrics", "errors", "discarded")
TURN_FIELDS = tuple(f for f in _shared(Turn, SnapshotTurn) if f not in _TURN_PARTS)
"""``Turn``'s plain fields in each of the snapshot's ``turns`` (``index``, ``speech_id``, texts,
flags...); the objects it holds (tool calls, figures, metrics...) are converted one by one."""
USAGE_FIELDS = _shared(ModelUsage, UsageEntry)
"""``ModelUsage``'s fields (all of them) in each of the snapshot's ``usage`` rows."""


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``obj``'s fields ``names`` by name; a dict value is copied (the model goes on)."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = dict(value) if isinstance(value, dict) else value
    return out


def _same(text: str | None) -> str | None:
    return text


def to_snapshot(model: SessionModel, *, redact_text: bool = False) -> Snapshot:
    """The snapshot of ``model`` (format ``SNAPSHOT_VERSION``), validated.

    Secrets are NOT redacted here (``write_snapshot`` redacts what it writes); ``redact_text``
    replaces user and agent text, the transcript and tool arguments/outputs with same-length
    placeholders (``placeholder``), timings kept.

    The plugin metrics, figures, errors and transcript lines are copies of the model's own
    dataclasses, taken by the format as they are; everything else is validated.

    Raises:
        pydantic.ValidationError: the model holds a value the format cannot carry (a bug).
    """
    return Snapshot.model_validate(snapshot_dict(model, redact_text=redact_text))


def snapshot_dict(model: SessionModel, *, redact_text: bool = False) -> dict[str, Any]:
    """The plain-dict form that ``to_snapshot`` validates (the JSON shape, not yet checked)."""
    info = model.session
    summary = model.summary()
    text = placeholder if redact_text else _same
    vad = model.vad
    audio_output = model.audio_output
    heard = any(t.heard is not None for t in model.turns)  # lkmon measured the audio
    whatif = of_session(model.interruptions, model.turns)
    return {
        "lkmon_snapshot": SNAPSHOT_VERSION,
        "redacted_text": redact_text,
        "session": {
            **_fields(info, SESSION_FIELDS),
            "duration": info.duration,
            "agent_state": model.agent_state,
            "user_state": model.user_state,
            "turn_count": len(model.turns),
            "error_count": model.error_count,
            "errors_by_source": dict(model.errors_by_source),
            "failed_turn_count": sum(1 for t in model.turns if t.failed),
            "discarded_reply_count": model.discarded_count,
            "event_count": model.event_count,
            "events_complete": model.events_complete,
            "fallback_joins": model.fallback_joins,
            "join_notes": model.join_notes,
        },
        "turns": [_turn(t, text, audio_output, heard) for t in model.turns],
        "usage": [
            {
                **_usage(c.usage),
                "cost": c.cost,
                "local": c.local,
                "billed_provider": c.billed_provider,
                "via": c.via,
                "package": c.package,
            }
            for c in model.costs()
        ],
        "cost": {
            "currency": model.prices.currency,
            "total": model.total_cost(),
            "prices": model.prices.source,
        },
        "summary": {
            "stages": {
                k: {"count": s.count, "p50": s.p50, "p95": s.p95, "max": s.max, "mean": s.mean}
                for k, s in summary.stages.items()
            },
            "turns": summary.turns,
            "worst_turn": summary.worst_turn,
            "worst_e2e": summary.worst_e2e,
            "worst_stage": summary.worst_stage,
            "interruptions": interruption_counts(model.turns),
            "endpointing_whatif": [dataclasses.asdict(r) for r in whatif.rows],
            "endpointing_recommended": whatif.recommended,
            "endpointing_basis": {"min_delay": whatif.min_delay, "assumed": whatif.assumed,
                                  "pauses": whatif.pauses, "turn_ends": whatif.turn_ends,
                                  "turn_detector": whatif.turn_detector},
        },
        "vad": {**_fields(vad, VAD_FIELDS), "audio_seconds": vad.audio_seconds},
        "errors": [_error(e) for e in model.errors],
        "transcript": [
            TranscriptEntry(
                e.ts, e.role, text(e.text) or "", e.interim, e.interrupted,
                text(e.unheard_text), e.speech_id, e.turn, e.item_id,
            )
            for e in model.transcript
        ],
        "events_complete": model.events_complete,
        "events": [_event(ev, redact_text) for ev in model.record()],
    }


def _event(ev: Any, redact_text: bool) -> dict[str, Any]:
    d = encode(ev)
    if redact_text:
        if isinstance(ev, _TEXT_EVENTS):
            d["text"] = placeholder(ev.text)
        elif isinstance(ev, ToolCalled):
            d["arguments"] = placeholder(ev.arguments)
            d["output"] = placeholder(ev.output)
    return d


def _usage(u: ModelUsage) -> dict[str, Any]:
    return _fields(u, USAGE_FIELDS)


def _error(e: ErrorRaised) -> ErrorRaised:
    return ErrorRaised(e.ts, e.source, e.message, e.recoverable, e.speech_id)


def _metric(p: PluginMetrics) -> PluginMetrics:
    """A copy of ``p`` with a plain-dict ``values`` (the snapshot's own object)."""
    v = p.values
    values = v.as_dict() if type(v) is MetricValues else dict(v)
    return PluginMetrics(p.ts, p.kind, p.label, p.provider, p.model, p.speech_id, p.request_id,
                         values)


def _discarded(d: Turn) -> dict[str, Any]:
    m = d.metrics
    return {
        "speech_id": d.speech_id,
        "started_at": d.started_at,
        "done_at": d.done_at,
        "llm_ttft": m.llm_ttft_first,
        "tts_ttfb": m.tts_ttfb,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "plugin_metrics": [_metric(p) for p in d.plugin_metrics],
    }


def _turn(
    turn: Turn, text: Callable[[str | None], str | None], audio_output: bool, heard: bool
) -> dict[str, Any]:
    m = turn.metrics
    missing = {}
    if (reason := turn.eou_unknown_reason) is not None:
        missing["eou_delay"] = reason
    if (reason := turn.e2e_missing_reason(audio_output)) is not None:
        missing["e2e_latency"] = reason
    if (reason := heard_missing_reason(turn, audio_output, heard)) is not None:
        missing["heard_gap"] = reason
    return {
        **_fields(turn, TURN_FIELDS),
        "user_text": text(turn.user_text),
        "agent_text": text(turn.agent_text),
        "unheard_text": text(turn.unheard_text),
        "typed": turn.typed,
        "greeting": turn.greeting,
        "agent_initiated": turn.agent_initiated,
        "empty_reply": turn.empty_reply,
        "dominant_stage": turn.dominant_stage(),
        "tool_calls": [
            {
                "ts": c.ts,
                "call_id": c.call_id,
                "name": c.name,
                "arguments": text(c.arguments),
                "output": text(c.output),
                "is_error": c.is_error,
            }
            for c in turn.tool_calls
        ],
        "handoffs": [
            {"ts": h.ts, "item_id": h.item_id, "old_agent": h.old_agent, "new_agent": h.new_agent}
            for h in turn.handoffs
        ],
        "metrics": TurnMetrics(*[getattr(m, f) for f in TURN_METRIC_FIELDS]),
        "missing": missing,
        "discarded": [_discarded(d) for d in turn.discarded],
        "measured_by_lkmon": list(turn.measured),
        "plugin_metrics": [_metric(p) for p in turn.plugin_metrics],
        "errors": [_error(e) for e in turn.errors],
    }
