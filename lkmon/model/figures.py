"""A turn's figures: ``TurnMetrics`` and where each comes from.

One rule for which source wins, for every figure: LiveKit's per-turn ``ChatMessage.metrics``
(the public MetricsReport its ``SessionReport`` uses; ``MessageFigures``) first, then the
plugins' metrics joined by ``speech_id`` (``EOUMetrics``, the first ``LLMMetrics`` /
``TTSMetrics``; they alone carry a discarded preemptive reply's TTFT, every LLM call of a tool
turn, tokens, STT audio duration and TTS characters), then
what lkmon measured itself (``Turn.own_figures``: the VAD's end of speech), each only where the
one before has no figure. One exception: the EOU delay takes ``EOUMetrics`` first. LiveKit
1.8.9 fills it and the user message's ``end_of_turn_delay`` from one measurement, so for a real
session the order changes nothing; it keeps older snapshots reloading figure for figure, and
without an EOU metric (the session's deprecated ``metrics_collected`` gone) the message's
figure is used. LiveKit's placeholders are no figure: 0.0 in ``EOUMetrics`` (written as
``x or 0.0``) and -1 for a synthesis cancelled before its first byte.

No textual or livekit import here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lkmon.model.events import ChatMessageAdded


@dataclass(slots=True)
class TurnMetrics:
    """Per-turn figures. Durations in seconds, times in epoch seconds, tokens in tokens.

    Every field is ``None`` when unknown (never 0 for "missing").

    Attributes:
        eou_delay: end-of-utterance delay: EOUMetrics.end_of_utterance_delay, else the user
            ChatMessage.metrics ``end_of_turn_delay`` (in 1.8.9 the same measurement; see the
            module docstring for why this one order). LiveKit 1.8.9 writes 0.0 into the
            EOUMetrics when it has no figure (a final transcript that arrived after the turn
            was committed: ``end_of_turn_delay or 0.0``); lkmon reads that as unknown (``None``,
            with ``Turn.eou_unknown_reason``), never as a measured zero.
        transcription_delay: user ChatMessage.metrics ``transcription_delay``, else
            EOUMetrics.transcription_delay (0.0 read as unknown, as above); for a transcript
            turn of an STT-only agent, measured by lkmon: the final transcript's time minus the
            end of the user's speech (VAD ``end_of_speech`` time minus its silence window).
        end_of_turn_delay: user ChatMessage.metrics ``end_of_turn_delay``.
        on_user_turn_completed_delay: user ChatMessage.metrics, else EOUMetrics.
        llm_ttft: assistant ChatMessage.metrics ``llm_node_ttft``, else the first LLMMetrics.ttft.
        llm_tps: assistant ``llm_node_tps``, else the first LLMMetrics.tokens_per_second.
        tts_ttfb: assistant ``tts_node_ttfb``, else the first TTSMetrics.ttfb. LiveKit reports
            -1.0 for a synthesis cancelled before its first byte (an interrupted reply): every
            negative duration is read as unknown.
        playback_latency: assistant ``playback_latency``.
        e2e_latency: assistant ``e2e_latency`` (playback start minus user stopped speaking); only
            from the assistant message, so typed turns and greetings have ``None``.
        user_started_speaking_at, user_stopped_speaking_at: user ChatMessage.metrics.
        agent_started_speaking_at, agent_stopped_speaking_at: assistant ChatMessage.metrics
            (first start, last stop over the turn's assistant messages).
        prompt_tokens, prompt_cached_tokens, completion_tokens: sums over the turn's LLMMetrics
            (a tool-call turn has several LLM calls).
        llm_ttft_first: TTFT of the turn's first LLM call (the first LLMMetrics.ttft), seconds.
            In a tool turn that is the call that chose the tools; ``llm_ttft`` (the bar's
            segment) is the call whose reply was spoken.
        llm_calls: number of LLM calls of the turn (LLMMetrics joined), ``None`` when none.
        heard_gap: the silence the caller heard, measured by lkmon on the audio: from the end
            of the caller's last voiced sample of the turn to the reply's first audible sample
            (``lkmon.model.heard.heard_gap`` of the turn's ``AgentAudible``); ``None`` when
            lkmon did not hold both ends of the audio or the turn has no caller speech.
    """

    eou_delay: float | None = None
    transcription_delay: float | None = None
    end_of_turn_delay: float | None = None
    on_user_turn_completed_delay: float | None = None
    llm_ttft: float | None = None
    llm_tps: float | None = None
    tts_ttfb: float | None = None
    playback_latency: float | None = None
    e2e_latency: float | None = None
    user_started_speaking_at: float | None = None
    user_stopped_speaking_at: float | None = None
    agent_started_speaking_at: float | None = None
    agent_stopped_speaking_at: float | None = None
    prompt_tokens: int | None = None
    prompt_cached_tokens: int | None = None
    completion_tokens: int | None = None
    llm_ttft_first: float | None = None
    llm_calls: int | None = None
    heard_gap: float | None = None


TURN_METRIC_FIELDS: tuple[str, ...] = tuple(TurnMetrics.__dataclass_fields__)
DURATION_FIELDS = (
    "eou_delay",
    "transcription_delay",
    "end_of_turn_delay",
    "on_user_turn_completed_delay",
    "llm_ttft",
    "tts_ttfb",
    "playback_latency",
    "e2e_latency",
    "llm_ttft_first",
)
"""``TurnMetrics`` fields in seconds; a negative value (LiveKit's -1 for "none") is unknown."""


def num(value: Any) -> float | None:
    """``value`` as a float if it is a finite real number (bools excluded), else ``None``: a
    NaN, an infinity or an integer beyond a float's range (a plugin's bad figure) is unknown,
    as it is once written (JSON has no NaN) and read back."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:  # an integer beyond 1.8e308
        return None
    return f if math.isfinite(f) else None


def nonzero(value: Any) -> float | None:
    """``num(value)``, but ``None`` for an exact 0.0 (LiveKit's placeholder for "unknown")."""
    v = num(value)
    return None if v == 0.0 else v


def first_known(*values: float | None) -> float | None:
    for v in values:
        if v is not None:
            return v
    return None


@dataclass(slots=True, frozen=True)
class MessageFigures:
    """What a turn takes from its chat messages (LiveKit's ``ChatMessage.metrics``).

    Durations in seconds, times in epoch seconds, ``None`` when the message has no figure.

    Attributes:
        end_of_turn_delay, transcription_delay, on_user_turn_completed_delay: the user message's.
        user_started_speaking_at, user_stopped_speaking_at: the user message's.
        llm_ttft, llm_tps, tts_ttfb, playback_latency, e2e_latency: the first assistant message
            that has each (``llm_node_ttft``, ``llm_node_tps``, ``tts_node_ttfb``...).
        agent_started_speaking_at: the first assistant message's start of playback;
            agent_stopped_speaking_at: the last one's end.
        agent_text: the assistant messages' text joined by spaces; ``None`` with no message.
        interrupted: any assistant message was interrupted.
        complete: any assistant message has metrics (the reply finished).
    """

    end_of_turn_delay: float | None = None
    transcription_delay: float | None = None
    on_user_turn_completed_delay: float | None = None
    user_started_speaking_at: float | None = None
    user_stopped_speaking_at: float | None = None
    llm_ttft: float | None = None
    llm_tps: float | None = None
    tts_ttfb: float | None = None
    playback_latency: float | None = None
    e2e_latency: float | None = None
    agent_started_speaking_at: float | None = None
    agent_stopped_speaking_at: float | None = None
    agent_text: str | None = None
    interrupted: bool = False
    complete: bool = False


NO_MESSAGES = MessageFigures()


def message_figures(
    user: ChatMessageAdded | None, assistants: list[ChatMessageAdded]
) -> MessageFigures:
    """The figures of a turn's user message and assistant messages (see ``MessageFigures``)."""
    if user is None and not assistants:
        return NO_MESSAGES
    um = user.metrics if user is not None else {}
    ttft = tps = ttfb = playback = e2e = astart = astop = None
    texts: list[str] = []
    interrupted = complete = False
    for msg in assistants:
        am = msg.metrics
        if msg.text:
            texts.append(msg.text)
        if msg.interrupted:
            interrupted = True
        if am:
            complete = True
        if ttft is None:
            ttft = num(am.get("llm_node_ttft"))
        if tps is None:
            tps = num(am.get("llm_node_tps"))
        if ttfb is None:
            ttfb = num(am.get("tts_node_ttfb"))
        if playback is None:
            playback = num(am.get("playback_latency"))
        if e2e is None:
            e2e = num(am.get("e2e_latency"))
        if astart is None:
            astart = num(am.get("started_speaking_at"))
        stop = num(am.get("stopped_speaking_at"))
        if stop is not None:
            astop = stop
    return MessageFigures(
        end_of_turn_delay=num(um.get("end_of_turn_delay")),
        transcription_delay=num(um.get("transcription_delay")),
        on_user_turn_completed_delay=num(um.get("on_user_turn_completed_delay")),
        user_started_speaking_at=num(um.get("started_speaking_at")),
        user_stopped_speaking_at=num(um.get("stopped_speaking_at")),
        llm_ttft=ttft,
        llm_tps=tps,
        tts_ttfb=ttfb,
        playback_latency=playback,
        e2e_latency=e2e,
        agent_started_speaking_at=astart,
        agent_stopped_speaking_at=astop,
        agent_text=" ".join(texts) if assistants else None,
        interrupted=interrupted,
        complete=complete,
    )


class MetricValues(Mapping[str, Any]):
    """A read-only, compact ``PluginMetrics.values`` for finished turns (half a dict's size).

    Behaves as a ``Mapping`` (``[]``, ``get``, ``in``, ``items``, ``==`` with a dict); the key
    index is shared by every metric with the same keys.
    """

    __slots__ = ("_index", "_values")
    _shapes: dict[tuple[str, ...], dict[str, int]] = {}

    def __init__(self, index: dict[str, int], values: tuple[Any, ...]) -> None:
        self._index = index
        self._values = values

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> MetricValues:
        """The compact form of ``values``."""
        keys = tuple(values)
        index = cls._shapes.get(keys)
        if index is None:
            index = cls._shapes.setdefault(keys, {k: i for i, k in enumerate(keys)})
        return cls(index, tuple(values.values()))

    def __getitem__(self, key: str) -> Any:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of the values (as ``dict(self)``, ten times faster)."""
        return dict(zip(self._index, self._values, strict=True))


def unheard(heard: str | None, spoken: str) -> str | None:
    """The tail of the streamed transcript past what was heard, for an interrupted reply."""
    if not spoken:
        return None
    heard = (heard or "").strip()
    spoken_s = spoken.strip()
    if spoken_s.startswith(heard) and len(spoken_s) > len(heard):
        rest = spoken_s[len(heard) :].strip()
        return rest or None
    return None
