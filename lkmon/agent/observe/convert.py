"""Convert LiveKit objects (metrics, usage, errors) into plain lkmon values at once.

Used by the bridge; nothing here keeps a LiveKit or pydantic object.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from lkmon.model.events import (
    FalseInterruption,
    MetricKind,
    ModelUsage,
    OverlappingSpeech,
    PluginMetrics,
)
from lkmon.model.figures import num
from lkmon.redact import redact

METRIC_KINDS: dict[str, MetricKind] = {
    "stt_metrics": "stt",
    "llm_metrics": "llm",
    "tts_metrics": "tts",
    "eou_metrics": "eou",
    "vad_metrics": "vad",
}
METRIC_META = {"type", "label", "request_id", "timestamp", "speech_id", "segment_id", "metadata"}
USAGE_FIELDS = (
    "input_tokens",
    "input_cached_tokens",
    "output_tokens",
    "characters_count",
    "audio_duration",
)


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line (whitespace collapsed), at most ``limit`` characters, redacted."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return redact(flat)


def describe_exception(e: BaseException) -> str:
    """``"TypeName: message"`` on one line, redacted; an exception whose ``__str__`` raises is
    ``"TypeName (its message could not be read: ValueError)"``."""
    try:
        text = str(e)
    except Exception as err:
        return f"{type(e).__name__} (its message could not be read: {type(err).__name__})"
    msg = one_line(text)
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def what_it_did(e: BaseException) -> str:
    """What an agent's code did, for one line: ``"called sys.exit(3)"``, ``"raised
    KeyboardInterrupt"``, ``"raised RuntimeError: boom"``."""
    if isinstance(e, SystemExit):
        return f"called sys.exit({'' if e.code is None else one_line(repr(e.code))})"
    return f"raised {describe_exception(e)}"


def metrics_event(m: Any) -> PluginMetrics | None:
    """Convert a LiveKit STT/LLM/TTS/EOU/VAD metrics object; ``None`` for other kinds.

    ``values`` holds the metric's numeric and boolean fields by their LiveKit names (seconds,
    tokens, characters); ``ts`` is the metric's ``timestamp`` (epoch seconds).
    """
    kind = METRIC_KINDS.get(getattr(m, "type", ""))
    if kind is None:
        return None
    data = m.model_dump(exclude={"metadata"})
    values = {
        k: v
        for k, v in data.items()
        if k not in METRIC_META and isinstance(v, int | float | bool) and v is not None
    }
    meta = getattr(m, "metadata", None)
    return PluginMetrics(
        ts=num(getattr(m, "timestamp", None)) or time.time(),
        kind=kind,
        label=getattr(m, "label", "") or "",
        provider=(meta.model_provider or "") if meta else "",
        model=(meta.model_name or "") if meta else "",
        speech_id=getattr(m, "speech_id", None),
        request_id=getattr(m, "request_id", None) or None,
        values=values,
    )


def usage_list(usage: Any) -> list[ModelUsage]:
    """Convert ``AgentSessionUsage.model_usage`` into ``ModelUsage`` rows (one per model)."""
    rows: list[ModelUsage] = []
    for u in getattr(usage, "model_usage", []) or []:
        kind = str(getattr(u, "type", "")).removesuffix("_usage")
        rows.append(
            ModelUsage(
                kind=kind,
                provider=str(getattr(u, "provider", "") or ""),
                model=str(getattr(u, "model", "") or ""),
                **{f: _count(getattr(u, f, 0)) for f in USAGE_FIELDS[:-1]},
                audio_duration=num(getattr(u, "audio_duration", 0.0)) or 0.0,
            )
        )
    return rows


def _count(value: Any) -> int:
    """A usage count (tokens, characters) as a non-negative ``int``; 0 for what is not one (a
    float, NaN, a negative number from a plugin), so the snapshot's counts stay integers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 and value.is_integer() else 0
    return max(value, 0)


def model_labels(session: Any, agent: Any) -> dict[str, str]:
    """Role -> ``"provider/model"`` for the VAD, STT, LLM and TTS in use (the agent's wins)."""
    labels: dict[str, str] = {}
    for role in ("vad", "stt", "llm", "tts"):
        plugin = getattr(agent, role, None)
        if plugin is None or not hasattr(plugin, "provider"):
            plugin = getattr(session, role, None)
        if plugin is None:
            continue
        try:
            labels[role] = f"{plugin.provider}/{plugin.model}"
        except Exception as e:
            logging.getLogger("lkmon.bridge").debug("no label for %s: %s", role, e)
            labels[role] = type(plugin).__name__
    return labels


def false_interruption(ev: Any, speech_id: str | None) -> FalseInterruption:
    """LiveKit's ``AgentFalseInterruptionEvent`` (``resumed``, ``created_at``)."""
    return FalseInterruption(
        ts=num(ev.created_at) or time.time(), resumed=bool(ev.resumed), speech_id=speech_id
    )


def overlapping_speech(ev: Any, speech_id: str | None) -> OverlappingSpeech:
    """LiveKit's ``inference.OverlappingSpeechEvent`` (its audio and probabilities dropped)."""
    return OverlappingSpeech(
        ts=num(ev.created_at) or time.time(),
        is_interruption=bool(ev.is_interruption),
        detection_delay=num(ev.detection_delay),
        overlap_started_at=num(ev.overlap_started_at),
        speech_id=speech_id,
    )
