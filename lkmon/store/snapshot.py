"""Session snapshots: write a ``SessionModel`` to versioned JSON (and, re-exported from
``lkmon.store.restore``, load a snapshot or a journal back).

The format (``{"lkmon_snapshot": 1, ...}``) is public: it is described in
``docs/snapshot-format.md`` and checked against ``lkmon/store/snapshot.schema.json``. Everything
written
passes through ``lkmon.redact.default_redactor()``; ``redact_text=True`` also replaces transcript
text with same-length placeholders (timings kept), for sharing.

No textual or livekit import here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from lkmon.model.events import (
    AgentTranscript,
    ChatMessageAdded,
    Event,
    ModelUsage,
    PluginMetrics,
    ToolCalled,
    UsageUpdated,
    UserTranscribed,
)
from lkmon.model.state import SessionModel
from lkmon.model.turns import TURN_METRIC_FIELDS, Turn
from lkmon.redact import default_redactor
from lkmon.store.files import write_private_atomic
from lkmon.store.restore import (
    SCHEMA_SAMPLE,
    SNAPSHOT_VERSION,
    SnapshotError,
    load_session,
    model_from_snapshot,
    no_gc,
    schema,
    validate_snapshot,
)

__all__ = [
    "SCHEMA_SAMPLE",
    "SNAPSHOT_VERSION",
    "SnapshotError",
    "build_snapshot",
    "dumps_redacted",
    "load_session",
    "model_from_snapshot",
    "placeholder",
    "schema",
    "snapshot_json",
    "validate_snapshot",
    "write_snapshot",
]

try:  # optional speed-up: a 10,000-turn snapshot parses in half the time, writes 7x faster
    import orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    orjson = None  # type: ignore[assignment]

_WORD = re.compile(r"\S")
PLACEHOLDER_CHAR = "\u2588"  # "█": one per redacted character, spaces kept


# -- building --------------------------------------------------------------------------------


def placeholder(text: str | None) -> str | None:
    """``text`` with every non-space character replaced by "█" (same length, same words)."""
    if text is None:
        return None
    return _WORD.sub(PLACEHOLDER_CHAR, text)


def _event_dict(ev: Event, redact_text: bool) -> dict[str, Any]:
    """The ``event_to_dict`` shape, built without ``dataclasses.asdict``'s deep copies."""
    d: dict[str, Any] = {f: getattr(ev, f) for f in ev.__slots__}  # type: ignore[union-attr]
    d["type"] = ev.type
    if isinstance(ev, UsageUpdated):
        d["usage"] = [{f: getattr(u, f) for f in u.__slots__} for u in ev.usage]
    elif isinstance(ev, PluginMetrics):
        d["values"] = dict(ev.values)
    elif isinstance(ev, ChatMessageAdded):
        d["metrics"] = dict(ev.metrics)
    if redact_text:
        if isinstance(ev, UserTranscribed | ChatMessageAdded | AgentTranscript):
            d["text"] = placeholder(ev.text)
        elif isinstance(ev, ToolCalled):
            d["arguments"] = placeholder(ev.arguments)
            d["output"] = placeholder(ev.output)
    return d


def _discarded_dict(d: Turn) -> dict[str, Any]:
    """A discarded preemptive reply folded into its turn: when, and what it cost in time."""
    m = d.metrics
    return {
        "speech_id": d.speech_id,
        "started_at": d.started_at,
        "done_at": d.done_at,
        "llm_ttft": m.llm_ttft_first,
        "tts_ttfb": m.tts_ttfb,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "plugin_metrics": [_metric_dict(p, d.speech_id) for p in d.plugin_metrics],
    }


def _turn_dict(turn: Turn, redact_text: bool, audio_output: bool = True) -> dict[str, Any]:
    m = turn.metrics
    text = placeholder if redact_text else (lambda t: t)
    return {
        "index": turn.index,
        "kind": turn.kind,
        "speech_id": turn.speech_id,
        "started_at": turn.started_at,
        "source": turn.source,
        "user_initiated": turn.user_initiated,
        "user_text": text(turn.user_text),
        "agent_text": text(turn.agent_text),
        "unheard_text": text(turn.unheard_text),
        "interrupted": turn.interrupted,
        "typed": turn.typed,
        "greeting": turn.greeting,
        "agent_initiated": turn.agent_initiated,
        "before_user_speech": turn.before_user_speech,
        "preemptive": turn.preemptive,
        "empty_reply": turn.empty_reply,
        "complete": turn.complete,
        "done": turn.done,
        "done_at": turn.done_at,
        "failed": turn.failed,
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
        "metrics": {f: getattr(m, f) for f in TURN_METRIC_FIELDS},
        "missing": {
            k: v
            for k, v in (
                ("eou_delay", turn.eou_unknown_reason),
                ("e2e_latency", turn.e2e_missing_reason(audio_output)),
            )
            if v is not None
        },
        "discarded": [_discarded_dict(d) for d in turn.discarded],
        "measured_by_lkmon": list(turn.measured),
        "plugin_metrics": [_metric_dict(p, turn.speech_id) for p in turn.plugin_metrics],
        "errors": [_error_dict(e) for e in turn.errors],
    }


def _metric_dict(p: PluginMetrics, turn_speech_id: str | None) -> dict[str, Any]:
    """A turn's plugin metric; ``speech_id`` only when it differs from the turn's (STT: null),
    ``request_id`` only when known."""
    d: dict[str, Any] = {
        "ts": p.ts,
        "kind": p.kind,
        "label": p.label,
        "provider": p.provider,
        "model": p.model,
        "values": p.values if type(p.values) is dict else dict(p.values),
    }
    if p.speech_id != turn_speech_id:
        d["speech_id"] = p.speech_id
    if p.request_id is not None:
        d["request_id"] = p.request_id
    return d


def _error_dict(e: Any) -> dict[str, Any]:
    return {
        "ts": e.ts,
        "source": e.source,
        "message": e.message,
        "recoverable": e.recoverable,
        "speech_id": e.speech_id,
    }


def build_snapshot(model: SessionModel, *, redact_text: bool = False) -> dict[str, Any]:
    """The snapshot of ``model`` as a JSON-ready dict (format version 2).

    Secrets are NOT redacted here (``write_snapshot`` does it); ``redact_text`` replaces user and
    agent text, transcript and tool arguments/outputs with same-length placeholders.

    Returns:
        ``{"lkmon_snapshot": 1, "session", "turns", "usage", "cost", "summary", "vad", "errors",
        "transcript", "events_complete", "events"}``; missing figures are ``None``.
    """
    info = model.session
    summary = model.summary()
    text = placeholder if redact_text else (lambda t: t)
    costs = model.costs()
    vad = model.vad
    return {
        "lkmon_snapshot": SNAPSHOT_VERSION,
        "redacted_text": redact_text,
        "session": {
            "started_at": info.started_at,
            "duration": info.duration,
            "closed_at": info.closed_at,
            "agent_file": info.agent_file,
            "models": dict(info.models),
            "input": info.input,
            "output": info.output,
            "lkmon_version": info.lkmon_version,
            "close_reason": info.close_reason,
            "close_error": info.close_error,
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
        "turns": [_turn_dict(t, redact_text, model.audio_output) for t in model.turns],
        "usage": [
            {
                **{f: getattr(c.usage, f) for f in ModelUsage.__slots__},
                "cost": c.cost,
                "local": c.local,
                "billed_provider": c.billed_provider,
                "via": c.via,
                "package": c.package,
            }
            for c in costs
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
        },
        "vad": {
            "speech_count": vad.speech_count,
            "speech_total": vad.speech_total,
            "silence_total": vad.silence_total,
            "inference_count": vad.inference_count,
            "inference_seconds": vad.inference_seconds,
            "audio_seconds": vad.audio_seconds,
            "idle_time": vad.idle_time,
            "inference_per_audio_second": vad.inference_per_audio_second,
            "realtime_factor": vad.realtime_factor,
            "metrics_count": vad.metrics_count,
        },
        "errors": [_error_dict(e) for e in model.errors],
        "transcript": [
            {
                "ts": e.ts,
                "role": e.role,
                "text": text(e.text),
                "interim": e.interim,
                "interrupted": e.interrupted,
                "unheard_text": text(e.unheard_text),
                "speech_id": e.speech_id,
                "turn": e.turn,
                "item_id": e.item_id,
            }
            for e in model.transcript
        ],
        "events_complete": model.events_complete,
        "events": [_event_dict(ev, redact_text) for ev in model.record()],
    }


def snapshot_json(model: SessionModel, *, redact_text: bool = False) -> str:
    """The snapshot as JSON text, secrets redacted (as ``default_redactor().redact_obj`` does)."""
    return dumps_redacted(build_snapshot(model, redact_text=redact_text)).decode("utf-8")


_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}


def _unescape(m: re.Match[str]) -> str:
    seq = m.group(0)[1:]
    if seq[0] == "u":
        return chr(int(seq[1:], 16))
    return _SIMPLE_ESCAPES.get(seq, seq)


def _dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; a NaN or infinity (JSON has none) is written as null.

    orjson when installed (7x faster on a 10,000-turn snapshot), else the standard library.
    """
    if orjson is not None:
        try:
            return orjson.dumps(data)  # type: ignore[no-any-return]
        except TypeError:
            pass  # e.g. an integer beyond 64 bits: the standard library copes
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def dumps_redacted(data: Any) -> bytes:
    """UTF-8 JSON of ``data`` with secrets redacted as ``default_redactor().redact_obj`` does.

    Walking a large object with ``redact_obj`` costs about 1.5 s for 10,000 turns, so the JSON
    text (with its string escapes undone) is first scanned for any secret in one pass; only if
    one occurs is the object redacted with ``redact_obj`` and serialised again. The result is
    the same either way.
    """
    redactor = default_redactor()
    raw = _dumps(data)
    if not redactor.active:
        return raw
    text = raw.decode("utf-8")
    probe = _JSON_ESCAPE.sub(_unescape, text) if "\\" in text else text
    if redactor.redact(probe) == probe:
        return raw
    return _dumps(redactor.redact_obj(data))


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_snapshot(model: SessionModel, path: str | Path, *, redact_text: bool = False) -> Path:
    """Write the snapshot of ``model`` to ``path`` atomically, with mode 0600.

    The JSON goes to a temporary file in the same directory, is fsynced, then ``os.replace``d
    onto ``path``, so a reader never sees a half-written snapshot.

    Args:
        model: the session.
        path: destination file (its directory must exist).
        redact_text: replace transcript text with same-length placeholders.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the directory is missing, read-only or full (the temporary file is removed).
    """
    dest = Path(path)
    with no_gc():
        payload = dumps_redacted(build_snapshot(model, redact_text=redact_text))
    return write_private_atomic(dest, payload)
