"""Turns: one agent reply (one LiveKit ``SpeechHandle``, keyed by ``speech_id``) and its figures.

A turn is created by ``speech_created`` (or by the first event naming its ``speech_id``). The user
message that triggered it, the assistant message(s) it produced, the tool calls it made and every
EOU, LLM and TTS plugin metric of its ``speech_id`` are joined to it; STT metrics are joined by
time. ``TurnMetrics`` is derived from those sources by ``Turn.recompute``, preferring the per-turn
``ChatMessage.metrics`` (LiveKit's MetricsReport) over the per-plugin metrics.

No textual or livekit import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lkmon.model.eou import EouParts
from lkmon.model.events import (
    AgentAudible,
    AgentHandedOff,
    ChatMessageAdded,
    ErrorRaised,
    PluginMetrics,
    ToolCalled,
)
from lkmon.model.figures import (
    DURATION_FIELDS,
    TURN_METRIC_FIELDS,
    MessageFigures,
    MetricValues,
    TurnMetrics,
    first_known,
    message_figures,
    nonzero,
    num,
    unheard,
)
from lkmon.model.heard import heard_gap
from lkmon.model.vocab import BAR_STAGES

__all__ = ["STAGES", "TURN_METRIC_FIELDS", "MetricValues", "Turn", "TurnMetrics"]

STAGES = tuple(s.key for s in BAR_STAGES)
"""The stages of a turn's latency bar, in order: EOU delay, LLM TTFT, TTS TTFB."""


@dataclass(slots=True, eq=False)
class Turn:
    """One agent reply and everything joined to it.

    Attributes:
        index: 1-based position in ``SessionModel.turns``.
        speech_id: LiveKit ``SpeechHandle.id``; ``None`` only for a turn made by a fallback.
        started_at: epoch seconds of ``speech_created``.
        source: ``SpeechCreated.source`` (``"say"`` or ``"generate_reply"``).
        user_initiated: ``SpeechCreated.user_initiated``.
        user_text: the user's message that this turn answers; ``None`` for a greeting.
        agent_text: the agent's text: what it said (the assistant ``ChatMessage.text_content``,
            i.e. what was heard for an interrupted reply); ``None`` before the message arrives.
            The one name for it (the snapshot, the HTML report and the panes use it too).
        unheard_text: for an interrupted reply, the part of the spoken transcript that was not
            heard, when known; else ``None``.
        interrupted: ``SpeechHandle.interrupted`` or ``ChatMessage.interrupted``.
        tool_calls: the tool calls made while producing the reply.
        metrics: derived per-turn figures (see ``TurnMetrics``).
        plugin_metrics: every STT, EOU, LLM and TTS metric joined to the turn, in arrival order.
        errors: errors that hit the turn.
        complete: the reply finished (``SpeechDone`` seen, or an assistant message with metrics).
        done: ``SpeechDone`` seen.
        done_at: epoch seconds of ``SpeechDone``.
        failed: an error hit the turn.
        has_eou: an EOU metric was joined (the turn answers spoken input).
        user_message: the raw user ``ChatMessageAdded`` (kept for re-joining).
        assistant_messages: the raw assistant messages of the turn, in order.
        spoken_text: agent transcript text streamed for this turn (``AgentTranscript`` deltas);
            emptied once the reply is done and its unheard part is known.
        restored: rebuilt from a snapshot's figures (no raw sources; ``recompute`` keeps it).
        message_figures: set by ``compact``: the figures taken from the dropped raw messages.
        kind: ``"reply"`` (an agent reply, one SpeechHandle) or ``"transcript"`` (a final user
            transcript of an agent without an LLM, e.g. a transcriber: no reply follows).
        preemptive: the reply was started as a preemptive generation (LiveKit's
            ``preemptive_generation``) and kept: its figures are the turn's figures.
        discarded: preemptive replies that LiveKit started for this user turn and threw away
            (the user went on speaking, or the transcript changed), oldest first. Each is a
            ``Turn`` of its own speech_id holding that attempt's LLM/TTS metrics; they are not
            in ``SessionModel.turns`` and not in any percentile.
        handoffs: agent handoffs (``AgentHandedOff``) that happened in this turn.
        before_user_speech: the turn was created before any user speech was seen (so a turn
            without a user message is a greeting only when this is True).
        own_figures: figures measured by lkmon itself where LiveKit gives none, by
            ``TurnMetrics`` field name (seconds or epoch seconds); used only for fields that
            are still ``None`` after LiveKit's sources. For a spoken turn: the end of the
            user's speech by the VAD (``end_of_speech`` time minus its silence window) before
            the turn's EOU metric.
        measured: the ``TurnMetrics`` fields that ``own_figures`` filled (set by
            ``recompute``); ``e2e_latency`` among them when LiveKit gave no e2e because the user
            message had no speaking times (a final transcript that came after the turn was
            committed): then e2e is the agent's playback start minus the VAD end of speech.
        eou_zero: LiveKit's EOUMetrics said 0.0 (no figure; see ``TurnMetrics.eou_delay``).
        eou_at: epoch seconds of the turn's EOU metric.
        eou_parts: the parts of the turn's EOU delay from LiveKit's spans
            (``lkmon.model.eou.EouParts``), or ``None`` (no spans: a replay of an older
            journal, the recorder, a typed turn).
        interruption: why the played reply stopped: ``"false_interruption"``,
            ``"cut_in_early"`` or ``"barge_in"`` (``lkmon.model.interruptions``), or ``None``.
        heard: the reply's first audible sample and the caller's last voiced sample before it
            (``AgentAudible``, measured by lkmon on the audio), or ``None``; gives
            ``metrics.heard_gap``.
    """

    index: int
    speech_id: str | None
    started_at: float
    source: str = "generate_reply"
    user_initiated: bool = False
    user_text: str | None = None
    agent_text: str | None = None
    unheard_text: str | None = None
    interrupted: bool = False
    tool_calls: list[ToolCalled] = field(default_factory=list)
    metrics: TurnMetrics = field(default_factory=TurnMetrics)
    plugin_metrics: list[PluginMetrics] = field(default_factory=list)
    errors: list[ErrorRaised] = field(default_factory=list)
    complete: bool = False
    done: bool = False
    done_at: float | None = None
    failed: bool = False
    has_eou: bool = False
    user_message: ChatMessageAdded | None = None
    assistant_messages: list[ChatMessageAdded] = field(default_factory=list)
    spoken_text: str = ""
    restored: bool = False
    message_figures: MessageFigures | None = None
    kind: str = "reply"
    preemptive: bool = False
    discarded: list[Turn] = field(default_factory=list)
    handoffs: list[AgentHandedOff] = field(default_factory=list)
    before_user_speech: bool = False
    own_figures: dict[str, float] | None = None
    eou_zero: bool = False
    eou_at: float | None = None
    measured: tuple[str, ...] = ()
    eou_parts: EouParts | None = None
    interruption: str | None = None
    heard: AgentAudible | None = None

    @property
    def typed(self) -> bool:
        """True for a typed user turn: a user message with no user speech timings and no EOU."""
        return (
            self.kind == "reply"
            and self.user_text is not None
            and not self.has_eou
            and self.metrics.user_stopped_speaking_at is None
        )

    @property
    def greeting(self) -> bool:
        """True for a reply made before any user speech, answering no user message."""
        return self.kind == "reply" and self.user_text is None and self.before_user_speech

    @property
    def agent_initiated(self) -> bool:
        """True for a reply that answers no user message but came after user speech (e.g. the
        new agent's ``on_enter`` reply after a handoff, or ``generate_reply`` from code)."""
        return self.kind == "reply" and self.user_text is None and not self.before_user_speech

    @property
    def empty_reply(self) -> bool:
        """True for a finished reply whose assistant message has no text and that made no
        tool call or handoff (nothing was said: worth a look)."""
        return (
            self.kind == "reply"
            and self.complete
            and self.agent_text is not None
            and not self.agent_text.strip()
            and not self.tool_calls
            and not self.handoffs
            and not self.failed
        )

    @property
    def eou_unknown_reason(self) -> str | None:
        """Why ``metrics.eou_delay`` is ``None``, or ``None`` when it is known."""
        if self.metrics.eou_delay is not None:
            return None
        if self.kind == "transcript":
            return "no turn decision: the agent has no LLM, so LiveKit ends no user turn"
        if self.eou_zero:
            return (
                "LiveKit reported 0.0: the final transcript came after the turn was committed,"
                " so it has no end-of-speech time to measure from"
            )
        if self.typed:
            return "typed turn: no speech"
        if self.user_text is None:
            return "no user turn" if not self.before_user_speech else "greeting: no user turn"
        return "no EOU metric for this turn"

    def e2e_missing_reason(self, audio_output: bool = True) -> str | None:
        """Why ``metrics.e2e_latency`` is ``None``, or ``None`` when it is known.

        Args:
            audio_output: False when the session has no audio output (a text-only agent).
        """
        m = self.metrics
        if m.e2e_latency is not None:
            return None
        if self.kind == "transcript":
            return "no reply: the agent has no LLM"
        if not self.complete and not self.done:
            return "reply pending"
        if not audio_output:
            return "no audio output (text-only session)"
        if self.typed:
            return "typed turn: no speech to time from"
        if self.user_text is None:
            return "greeting: no user speech to time from" if self.before_user_speech else (
                "agent-initiated: no user speech to time from"
            )
        if m.agent_started_speaking_at is None:
            if self.failed:
                return "the reply failed before playback"
            if self.interrupted:
                return "interrupted before playback"
            if self.agent_text is not None and not self.agent_text.strip():
                return "nothing was played (the reply has no text)"
            return "the reply was not played"
        if m.user_stopped_speaking_at is None:
            return (
                "the user's speaking times are unknown (the transcript came after the turn"
                " was committed)"
            )
        return "LiveKit reported no e2e_latency"

    def stages(self) -> dict[str, float | None]:
        """The latency bar's stages in seconds: ``{"eou", "llm_ttft", "tts_ttfb"}``."""
        m = self.metrics
        return {"eou": m.eou_delay, "llm_ttft": m.llm_ttft, "tts_ttfb": m.tts_ttfb}

    def dominant_stage(self) -> str | None:
        """The stage key with the largest known value, or ``None`` when none is known."""
        best: str | None = None
        best_value = -1.0
        for key, value in self.stages().items():
            if value is not None and value > best_value:
                best, best_value = key, value
        return best

    def plugin_metrics_of(self, kind: str) -> list[PluginMetrics]:
        """The joined plugin metrics of one kind (``"stt"``, ``"eou"``, ``"llm"``, ``"tts"``)."""
        return [p for p in self.plugin_metrics if p.kind == kind]

    def recompute(self) -> None:
        """Derive ``metrics``, ``agent_text``, ``interrupted`` and ``complete`` from the sources."""
        if self.restored:
            return
        msg = self.message_figures
        if msg is None:
            msg = message_figures(self.user_message, self.assistant_messages)
        ttft, tps, ttfb = msg.llm_ttft, msg.llm_tps, msg.tts_ttfb
        eou: Mapping[str, Any] = {}
        llm_first: Mapping[str, Any] | None = None
        tts_first: Mapping[str, Any] | None = None
        prompt = cached = completion = None
        calls = 0
        for pm in self.plugin_metrics:
            kind = pm.kind
            if kind == "llm":
                v = pm.values
                calls += 1
                if llm_first is None:
                    llm_first = v
                p = v.get("prompt_tokens")
                if isinstance(p, int):
                    prompt = (prompt or 0) + p
                c = v.get("prompt_cached_tokens")
                if isinstance(c, int):
                    cached = (cached or 0) + c
                o = v.get("completion_tokens")
                if isinstance(o, int):
                    completion = (completion or 0) + o
            elif kind == "tts":
                if tts_first is None:
                    tts_first = pm.values
            elif kind == "eou":
                if not eou:
                    eou = pm.values
        ttft_first = None
        if llm_first is not None:
            ttft_first = num(llm_first.get("ttft"))
            if ttft is None:
                ttft = ttft_first
            if tps is None:
                tps = num(llm_first.get("tokens_per_second"))
        if tts_first is not None and ttfb is None:
            ttfb = num(tts_first.get("ttfb"))
        # LiveKit 1.8.9 fills EOUMetrics with `x or 0.0`: an exact 0.0 means "no figure"
        eou_delay = nonzero(eou.get("end_of_utterance_delay"))
        self.eou_zero = eou_delay is None and num(eou.get("end_of_utterance_delay")) == 0.0
        self.metrics = TurnMetrics(
            eou_delay=first_known(eou_delay, msg.end_of_turn_delay),
            transcription_delay=first_known(
                msg.transcription_delay, nonzero(eou.get("transcription_delay"))
            ),
            end_of_turn_delay=msg.end_of_turn_delay,
            on_user_turn_completed_delay=first_known(
                msg.on_user_turn_completed_delay, num(eou.get("on_user_turn_completed_delay"))
            ),
            llm_ttft=ttft,
            llm_tps=tps,
            tts_ttfb=ttfb,
            playback_latency=msg.playback_latency,
            e2e_latency=msg.e2e_latency,
            user_started_speaking_at=msg.user_started_speaking_at,
            user_stopped_speaking_at=msg.user_stopped_speaking_at,
            agent_started_speaking_at=msg.agent_started_speaking_at,
            agent_stopped_speaking_at=msg.agent_stopped_speaking_at,
            prompt_tokens=prompt,
            prompt_cached_tokens=cached,
            completion_tokens=completion,
            llm_ttft_first=ttft_first,
            llm_calls=calls or None,
        )
        m = self.metrics
        for name in DURATION_FIELDS:  # LiveKit writes -1 for "none" (e.g. TTFB of a cancelled
            value = getattr(m, name)  # synthesis): a duration below zero is unknown
            if value is not None and value < 0:
                setattr(m, name, None)
        own = self.own_figures
        self.measured = ()
        if own:
            m = self.metrics
            filled = [name for name, value in own.items() if getattr(m, name) is None]
            for name in filled:
                setattr(m, name, own[name])
            if (
                m.e2e_latency is None
                and "user_stopped_speaking_at" in filled
                and m.agent_started_speaking_at is not None
                and m.user_stopped_speaking_at is not None
            ):  # LiveKit has no end of speech for this turn: time from the VAD's
                m.e2e_latency = m.agent_started_speaking_at - m.user_stopped_speaking_at
                filled.append("e2e_latency")
            self.measured = tuple(filled)
        self.metrics.heard_gap = heard_gap(self.heard, self.metrics)
        self.agent_text = msg.agent_text
        self.interrupted = self.interrupted or msg.interrupted
        self.complete = self.done or msg.complete
        if self.spoken_text:
            self.unheard_text = (
                unheard(self.agent_text, self.spoken_text) if self.interrupted else None
            )
            if self.done and self.assistant_messages:
                self.spoken_text = ""  # no longer needed: free it (long sessions)

    def compact(self) -> None:
        """Drop the raw messages of a finished turn, keeping what ``recompute`` needs of them.

        Called by the joiner for done turns older than the last few, so that a long session
        keeps about 2 kB per turn. Late plugin metrics still recompute correctly.
        """
        if self.restored or self.message_figures is not None:
            return
        self.message_figures = message_figures(self.user_message, self.assistant_messages)
        self.user_message = None
        self.assistant_messages = []
        self.spoken_text = ""
        # new PluginMetrics objects (the events themselves are left as they were)
        self.plugin_metrics = [
            PluginMetrics(
                pm.ts,
                pm.kind,
                pm.label,
                pm.provider,
                pm.model,
                pm.speech_id,
                pm.request_id,
                MetricValues.of(pm.values),
            )
            if type(pm.values) is dict
            else pm
            for pm in self.plugin_metrics
        ]
