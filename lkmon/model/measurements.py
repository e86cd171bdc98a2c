"""lkmon measurement events: plugin metrics, VAD activity, model usage, audio levels and the
agent's first audible sample (the silence the caller hears).

Plain dataclasses like every lkmon event, under the conventions of ``lkmon.model.events`` (``ts``
in epoch seconds, durations in seconds, an unknown figure ``None``); import them from there, which
names every event (``Event``, ``EVENT_TYPES``). This module imports neither textual nor livekit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "AgentAudible", "AudioLevel", "MetricKind", "ModelUsage", "PluginMetrics", "UsageUpdated",
    "VadActivity",
]

MetricKind = Literal["stt", "llm", "tts", "eou", "vad"]


@dataclass(slots=True)
class PluginMetrics:
    """One plugin metric: LiveKit STTMetrics, LLMMetrics, TTSMetrics, EOUMetrics or VADMetrics.

    Attributes:
        kind: ``"stt"``, ``"llm"``, ``"tts"``, ``"eou"`` or ``"vad"``.
        label: the metric's ``label`` (the plugin class), or ``""``.
        provider: ``metadata.model_provider``, or ``""``.
        model: ``metadata.model_name``, or ``""``.
        speech_id: the turn the metric belongs to (LLM, TTS, EOU); STT and VAD carry none.
        request_id: the metric's ``request_id``, if any.
        values: the metric's numeric fields by their LiveKit names, e.g. for LLM ``ttft``,
            ``duration`` (seconds), ``prompt_tokens``, ``prompt_cached_tokens``,
            ``completion_tokens`` (tokens), ``tokens_per_second``, ``cancelled``; for TTS
            ``ttfb``, ``duration``, ``audio_duration`` (seconds), ``characters_count``; for STT
            ``duration``, ``audio_duration``; for EOU ``end_of_utterance_delay``,
            ``transcription_delay``, ``on_user_turn_completed_delay``; for VAD ``idle_time``,
            ``inference_duration_total`` (seconds), ``inference_count``. A ``dict``; a read-only
            ``lkmon.model.figures.MetricValues`` once its turn is compacted.
    """

    type: ClassVar[str] = "metrics_collected"
    ts: float
    kind: MetricKind
    label: str = ""
    provider: str = ""
    model: str = ""
    speech_id: str | None = None
    request_id: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class VadActivity:
    """A VAD event seen by wrapping the VAD stream (``vad.VADEvent``), decimated by the bridge.

    Attributes:
        event: ``"start_of_speech"``, ``"end_of_speech"`` or ``"inference"``.
        probability: speech probability 0..1 (the highest in the decimation window).
        speaking: the VAD's speaking flag.
        speech_duration: seconds of speech in the current segment.
        silence_duration: seconds of silence since speech ended.
        inference_duration: seconds the last inference took.
    """

    type: ClassVar[str] = "vad"
    ts: float
    event: str
    probability: float = 0.0
    speaking: bool = False
    speech_duration: float = 0.0
    silence_duration: float = 0.0
    inference_duration: float = 0.0


@dataclass(slots=True)
class ModelUsage:
    """Usage of one provider and model, from LiveKit ``AgentSessionUsage.model_usage``.

    Attributes:
        kind: ``"llm"``, ``"tts"`` or ``"stt"`` (or another LiveKit usage kind).
        provider, model: labels reported by the plugin.
        input_tokens, input_cached_tokens, output_tokens: LLM tokens.
        characters_count: TTS characters.
        audio_duration: seconds of audio (TTS produced or STT consumed).
    """

    kind: str
    provider: str
    model: str
    input_tokens: int = 0
    input_cached_tokens: int = 0
    output_tokens: int = 0
    characters_count: int = 0
    audio_duration: float = 0.0


@dataclass(slots=True)
class UsageUpdated:
    """From LiveKit ``session_usage_updated``: the whole session's usage so far (not a delta)."""

    type: ClassVar[str] = "session_usage_updated"
    ts: float
    usage: list[ModelUsage] = field(default_factory=list)


@dataclass(slots=True)
class AudioLevel:
    """Audio level of the mic (caller) or of the agent's output, in dBFS (-inf..0)."""

    type: ClassVar[str] = "level"
    ts: float
    source: Literal["mic", "agent"]
    dbfs: float


@dataclass(slots=True)
class AgentAudible:
    """The first audible sample of one playback segment of the agent's speech, and the end of
    the caller's last voiced sample before it: both measured by lkmon on its own copy of the
    two signals (``lkmon.agent.audio.heard``: an energy threshold on 1 ms windows), on the
    wall clock (``time.time()``, LiveKit's ``created_at`` clock). One per segment that had an
    audible sample; ``at - voice_end_at`` is the silence the caller heard (``heard_gap``).

    Attributes:
        ts: epoch seconds the event was made (on the event loop).
        at: epoch seconds the segment's first audible sample reached the output: when the sink
            handed out the block holding it, plus its place in the block, plus
            ``output_delay``.
        playback_started_at: epoch seconds the segment's playback started: the ``created_at``
            the sink gave LiveKit's ``on_playback_started`` (LiveKit's ``started_speaking_at``
            of the reply, the start of its ``e2e_latency``); joins the event to its turn.
        output_delay: seconds from the sink handing a block out to the device playing it
            (PortAudio's output latency for the speakers; 0 for the null sink).
        voice_end_at: epoch seconds where the caller's last voiced sample before ``at`` ended,
            or ``None`` when the caller had sent no voice above the threshold.
        threshold: the energy threshold, dBFS (RMS over a 1 ms window).
    """

    type: ClassVar[str] = "agent_audible"
    ts: float
    at: float
    playback_started_at: float
    output_delay: float = 0.0
    voice_end_at: float | None = None
    threshold: float = -40.0
