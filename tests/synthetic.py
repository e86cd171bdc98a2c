"""Scripted sessions: lists of lkmon events with FIXED timestamps, for model, app and SVG tests.

The order of events in a turn follows what livekit-agents 1.8.9 emits (voice/agent_activity.py):

spoken turn: user_state speaking -> VAD start_of_speech -> (interim transcripts) -> VAD
end_of_speech -> user_state listening -> STTMetrics + final transcript -> ``speech_created`` ->
EOUMetrics(speech_id) -> user ChatMessage (with user MetricsReport) -> agent thinking ->
LLMMetrics -> TTSMetrics (one per sentence, StreamAdapter) -> agent speaking -> agent transcript
deltas -> assistant ChatMessage (with assistant MetricsReport) -> SpeechDone -> agent listening.
``session_usage_updated`` follows every plugin metric except EOU.

typed turn: ``speech_created`` -> user ChatMessage without speech timings -> LLM/TTS -> assistant
message without ``e2e_latency``. greeting: ``speech_created`` -> LLM/TTS -> assistant message.
A tool call re-runs the reply under the same speech handle: LLM (tool call) -> ToolCalled -> LLM
(answer) under one ``speech_id``.

Reusable by the TUI tests: ``demo_session()`` (every case in one short session),
``synthetic_session(turns=N)`` (benchmarks), and the ``Script`` builder for new cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lkmon.model.events import (
    AgentStateChanged,
    AgentTranscript,
    AudioLevel,
    ChatMessageAdded,
    ErrorRaised,
    Event,
    LoadProgress,
    LogRecord,
    ModelUsage,
    PluginMetrics,
    SessionClosed,
    SessionStarted,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UsageUpdated,
    UserStateChanged,
    UserTranscribed,
    VadActivity,
)

T0 = 1_767_225_600.0
"""2026-01-01T00:00:00Z: every scripted session starts here, so snapshots are stable."""

MODELS = {
    "vad": "ONNX/silero",
    "stt": "faster-whisper/whisper-tiny.en",
    "llm": "llama.cpp/smollm2-135m-instruct",
    "tts": "piper/en_US-joe-medium",
}
STT = ("faster-whisper", "whisper-tiny.en")
LLM = ("llama.cpp", "smollm2-135m-instruct")
TTS = ("piper", "en_US-joe-medium")
EOU = ("vad", "unknown")  # what livekit-agents 1.8.9 reports with VAD turn detection
LABELS = {
    "stt": "lkmon.local.stt.WhisperSTT",
    "llm": "lkmon.local.llm.SmolLLM",
    "tts": "lkmon.local.tts.PiperTTS",
    "eou": "",
}


@dataclass
class Script:
    """Builds a scripted session; every helper advances ``now`` (seconds after ``t0``).

    Args:
        t0: epoch seconds of the session start.
        vad_hz: VadActivity events per second (the bridge's decimated rate).
        level_hz: AudioLevel events per second per source.
        background: emit VAD, level, VADMetrics and usage events (off for small unit tests).
    """

    t0: float = T0
    vad_hz: float = 10.0
    level_hz: float = 10.0
    background: bool = True
    now: float = 0.0
    events: list[Event] = field(default_factory=list)
    _buf: list[tuple[float, int, Event]] = field(default_factory=list)
    _seq: int = 0
    _ids: int = 0
    _usage: dict[tuple[str, str, str], ModelUsage] = field(default_factory=dict)
    _next_vad_metric: float = 1.0
    _last_usage: str = ""

    # -- plumbing -----------------------------------------------------------------------------

    def ts(self, offset: float) -> float:
        """Epoch seconds of ``offset`` seconds after the session start."""
        return round(self.t0 + offset, 6)

    def emit(self, offset: float, event_type: type, **fields: object) -> Event:
        """Queue an event at ``offset`` seconds; ``flush`` orders queued events by time."""
        ev = event_type(ts=self.ts(offset), **fields)
        self._seq += 1
        self._buf.append((offset, self._seq, ev))
        return ev

    def flush(self) -> list[Event]:
        """Move queued events to ``events`` in time order (stable for equal times)."""
        self._buf.sort(key=lambda x: (x[0], x[1]))
        self.events.extend(ev for _, _, ev in self._buf)
        self._buf.clear()
        return self.events

    def drain(self) -> list[Event]:
        """Return the flushed events and forget them (for generators)."""
        out, self.events = self.events, []
        return out

    def new_id(self, prefix: str) -> str:
        """A deterministic id like LiveKit's (``speech_0001``, ``item_0002``...)."""
        self._ids += 1
        return f"{prefix}_{self._ids:04d}"

    def _use(self, kind: str, provider: str, model: str, **add: float) -> None:
        key = (kind, provider, model)
        u = self._usage.setdefault(key, ModelUsage(kind=kind, provider=provider, model=model))
        for name, value in add.items():
            setattr(u, name, getattr(u, name) + value)

    def _plugin(
        self, offset: float, kind: str, pm: tuple[str, str], sid: str | None, **values: object
    ) -> None:
        self.emit(
            offset,
            PluginMetrics,
            kind=kind,
            label=LABELS[kind],
            provider=pm[0],
            model=pm[1],
            speech_id=sid,
            values=dict(values),
        )
        if kind != "eou":
            self.usage(offset)

    def usage(self, offset: float) -> None:
        """A ``session_usage_updated`` with the totals so far, only when they changed (the
        bridge drops repeats: LiveKit fires it after every plugin metric, VAD included)."""
        snapshot = [
            ModelUsage(**{f: getattr(u, f) for f in u.__slots__}) for u in self._usage.values()
        ]
        key = repr(snapshot)
        if key == self._last_usage:
            return
        self._last_usage = key
        self.emit(offset, UsageUpdated, usage=snapshot)

    def _background(
        self,
        start: float,
        end: float,
        *,
        user: bool = False,
        agent: bool = False,
        speech_start: float | None = None,
    ) -> None:
        """VAD activity, levels and VADMetrics between ``start`` and ``end``."""
        if not self.background:
            return
        step = 1.0 / self.vad_hz
        n = int((end - start) * self.vad_hz)
        for i in range(n):
            t = start + i * step
            p = (0.85 + 0.1 * ((i * 7) % 3) / 2) if user else 0.02 + 0.01 * (i % 3)
            sd = round(t - speech_start, 3) if user and speech_start is not None else 0.0
            self.emit(
                t,
                VadActivity,
                event="inference",
                probability=round(p, 3),
                speaking=user,
                speech_duration=sd,
                silence_duration=0.0 if user else round(i * step, 3),
                inference_duration=0.0011,
            )
        lstep = 1.0 / self.level_hz
        for i in range(int((end - start) * self.level_hz)):
            t = start + i * lstep
            self.emit(t, AudioLevel, source="mic", dbfs=-18.0 - (i % 5) if user else -62.0)
            if agent:
                self.emit(t, AudioLevel, source="agent", dbfs=-14.0 - (i % 4))
        while self._next_vad_metric <= end:
            t = self._next_vad_metric
            self.emit(
                t,
                PluginMetrics,
                kind="vad",
                label="livekit.plugins.silero.vad.VAD",
                provider="ONNX",
                model="silero",
                values={
                    "idle_time": 0.0 if user else round(t - start, 3),
                    "inference_duration_total": 0.0352,
                    "inference_count": 32,
                },
            )
            self.usage(t)
            self._next_vad_metric += 1.0

    # -- session ------------------------------------------------------------------------------

    def start(self, agent_file: str = "agent_entry.py", input: str = "wav: hello.wav") -> Script:
        """SessionStarted, model load progress, agent state initializing -> listening."""
        self.emit(
            0.0,
            SessionStarted,
            agent_file=agent_file,
            models=dict(MODELS),
            input=input,
            output="null",
            lkmon_version="0.1.0",
        )
        stages = ["vad: silero", "stt: whisper tiny.en", "llm: smollm2-135m", "tts: piper joe"]
        for i, stage in enumerate(stages):
            self.emit(0.05 + 0.1 * i, LoadProgress, stage=stage, done=i, total=len(stages))
            self.emit(
                0.1 + 0.1 * i,
                LoadProgress,
                stage=stage,
                done=i + 1,
                total=len(stages),
                seconds=0.05,
            )
        self.emit(0.5, LogRecord, level="INFO", logger="lkmon.agent", message="models loaded")
        self.emit(0.6, AgentStateChanged, old_state="initializing", new_state="listening")
        self.now = 0.6
        self.flush()
        return self

    def close(self, reason: str = "user_initiated", error: str | None = None) -> list[Event]:
        """SessionClosed one second after the last turn; returns all events."""
        self.idle(1.0)
        self.emit(self.now, SessionClosed, reason=reason, error=error)
        return self.flush()

    def idle(self, seconds: float) -> None:
        """Nobody speaks for ``seconds``."""
        self._background(self.now, self.now + seconds)
        self.now += seconds
        self.flush()

    # -- turns --------------------------------------------------------------------------------

    def user_speaks(self, text: str, *, duration: float = 1.8, interim: bool = True) -> float:
        """The user speaks ``text``; returns the offset when they stopped speaking."""
        t = self.now
        self.emit(t, UserStateChanged, old_state="listening", new_state="speaking")
        self.emit(
            t,
            VadActivity,
            event="start_of_speech",
            probability=0.92,
            speaking=True,
            speech_duration=0.0,
            silence_duration=0.0,
            inference_duration=0.0011,
        )
        self._background(t + 0.05, t + duration, user=True, speech_start=t)
        if interim:
            words = text.split()
            self.emit(
                t + duration / 2,
                UserTranscribed,
                text=" ".join(words[: max(1, len(words) // 2)]),
                is_final=False,
            )
        stop = t + duration
        self.emit(
            stop,
            VadActivity,
            event="end_of_speech",
            probability=0.1,
            speaking=False,
            speech_duration=round(duration, 3),
            silence_duration=0.0,
            inference_duration=0.0011,
        )
        self.emit(stop, UserStateChanged, old_state="speaking", new_state="listening")
        self.now = stop
        return stop

    def reply(
        self,
        agent_text: str,
        *,
        user_text: str | None = None,
        spoken: bool = True,
        stopped: float | None = None,
        eou: float = 0.55,
        transcription: float = 0.22,
        ttft: float = 0.31,
        ttfb: float = 0.18,
        tool: tuple[str, str, str] | None = None,
        interrupt_after: int | None = None,
        metrics_after_message: bool = False,
        user_before_speech: bool = False,
        with_speech_id: bool = True,
        llm_error: str | None = None,
    ) -> str:
        """One agent reply (a turn). Returns its speech_id.

        Args:
            agent_text: what the agent says (sentences end with ".").
            user_text: the user message it answers (``None``: a greeting).
            spoken: the user message came from speech (``stopped`` is when it ended) or was typed.
            eou, transcription, ttft, ttfb: EOU delay, transcription delay, LLM TTFT, TTS TTFB.
            tool: ``(name, arguments, output)``: one tool call then a second LLM call.
            interrupt_after: the user interrupts after this many words were heard.
            metrics_after_message: the LLM and TTS metrics arrive after the assistant message.
            user_before_speech: the user message arrives before ``speech_created``.
            with_speech_id: False strips ``speech_id`` from metrics, tool call and messages
                (as from a bridge that could not see it).
            llm_error: the LLM fails with this message (the turn is marked failed).
        """
        sid = self.new_id("speech")
        msid = sid if with_speech_id else None
        t = self.now
        if spoken and user_text is not None:
            stop = stopped if stopped is not None else t
            self._use("stt", *STT, audio_duration=1.8)
            self._plugin(
                stop + transcription * 0.9,
                "stt",
                STT,
                None,
                duration=transcription,
                audio_duration=1.8,
                streamed=False,
            )
            self.emit(stop + transcription, UserTranscribed, text=user_text, is_final=True)
            t = stop + eou
        user_item = self.new_id("item")
        if user_text is not None:
            um: dict[str, float] = {}
            if spoken:
                um = {
                    "started_speaking_at": self.ts(stop - 1.8),
                    "stopped_speaking_at": self.ts(stop),
                    "transcription_delay": transcription,
                    "end_of_turn_delay": eou,
                    "on_user_turn_completed_delay": 0.0004,
                }
            user_t = t - 0.002 if user_before_speech else t + 0.001
            self.emit(
                user_t,
                ChatMessageAdded,
                item_id=user_item,
                role="user",
                text=user_text,
                created_at=self.ts(t),
                metrics=um,
                speech_id=None,
            )
        self.emit(
            t,
            SpeechCreated,
            speech_id=sid,
            source="generate_reply" if user_text else "say",
            user_initiated=not spoken or user_text is None,
        )
        if spoken and user_text is not None:
            self._plugin(
                t,
                "eou",
                EOU,
                msid,
                end_of_utterance_delay=eou,
                transcription_delay=transcription,
                on_user_turn_completed_delay=0.0004,
            )
        self.emit(t + 0.002, AgentStateChanged, old_state="listening", new_state="thinking")
        llm_t = t + 0.003
        prompt = 180 + 20 * self._ids
        deferred: list[tuple[float, str, tuple[str, str], dict[str, object]]] = []

        def llm_metric(at: float, completion: int, first_ttft: float) -> None:
            values = {
                "ttft": first_ttft,
                "duration": first_ttft + completion / 60.0,
                "prompt_tokens": prompt,
                "prompt_cached_tokens": 0,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "tokens_per_second": 60.0,
                "cancelled": False,
            }
            self._use("llm", *LLM, input_tokens=prompt, output_tokens=completion)
            if metrics_after_message:
                deferred.append((at, "llm", LLM, values))
            else:
                self._plugin(at, "llm", LLM, msid, **values)

        if llm_error is not None:
            self.emit(
                llm_t + ttft,
                ErrorRaised,
                source="llm",
                message=llm_error,
                recoverable=True,
                speech_id=msid,
            )
            self.emit(
                llm_t + ttft + 0.001, SpeechDone, speech_id=sid, interrupted=False, item_ids=[]
            )
            self.emit(
                llm_t + ttft + 0.002, AgentStateChanged, old_state="thinking", new_state="listening"
            )
            self.now = llm_t + ttft + 0.5
            self.flush()
            return sid
        if tool is not None:
            name, args, output = tool
            llm_metric(llm_t + ttft + 0.2, 14, ttft)
            call_t = llm_t + ttft + 0.25
            self.emit(
                call_t + 0.05,
                ToolCalled,
                call_id=self.new_id("call"),
                name=name,
                arguments=args,
                output=output,
                is_error=False,
                speech_id=msid,
            )
            llm_t = call_t + 0.06
        sentences = [s.strip() + "." for s in agent_text.split(".") if s.strip()]
        words = agent_text.split()
        llm_metric(llm_t + ttft + len(words) / 60.0, len(words) + 2, ttft)
        tts_t = llm_t + ttft + 0.05
        for i, sentence in enumerate(sentences):
            values = {
                "ttfb": ttfb if i == 0 else ttfb * 0.8,
                "duration": ttfb + 0.1,
                "audio_duration": 0.35 * len(sentence.split()),
                "characters_count": len(sentence),
                "cancelled": False,
                "streamed": False,
            }
            self._use(
                "tts", *TTS, characters_count=len(sentence), audio_duration=values["audio_duration"]
            )
            at = tts_t + ttfb + 0.1 + 0.3 * i
            if metrics_after_message:
                deferred.append((at, "tts", TTS, values))
            else:
                self._plugin(at, "tts", TTS, msid, **values)
        speak_t = tts_t + ttfb + 0.02
        self.emit(speak_t, AgentStateChanged, old_state="thinking", new_state="speaking")
        heard = words if interrupt_after is None else words[:interrupt_after]
        per_word = 0.3
        end_t = speak_t + len(heard) * per_word
        shown = words if interrupt_after is None else words[: interrupt_after + 2]
        pace = (end_t - speak_t) / max(len(shown), 1)  # an interrupted transcript runs ahead
        for i, w in enumerate(shown):
            self.emit(
                speak_t + i * pace, AgentTranscript, text=(" " if i else "") + w, speech_id=msid
            )
        self._background(speak_t, end_t, agent=True)
        self.emit(end_t, AgentTranscript, text="", final=True, speech_id=msid)
        am: dict[str, float] = {
            "llm_node_ttft": ttft,
            "llm_node_tps": 60.0,
            "tts_node_ttfb": ttfb,
            "started_speaking_at": self.ts(speak_t),
            "stopped_speaking_at": self.ts(end_t),
            "playback_latency": 0.02,
        }
        if spoken and user_text is not None:
            am["e2e_latency"] = round(speak_t - stop, 6)
        item = self.new_id("item")
        self.emit(
            end_t + 0.001,
            ChatMessageAdded,
            item_id=item,
            role="assistant",
            text=" ".join(heard),
            interrupted=interrupt_after is not None,
            created_at=self.ts(llm_t),
            metrics=am,
            speech_id=msid,
        )
        for at, kind, pm, values in deferred:
            self._plugin(end_t + 0.002 + 0.001 * (at - t), kind, pm, msid, **values)
        done_t = end_t + 0.01
        self.emit(done_t, AgentStateChanged, old_state="speaking", new_state="listening")
        self.emit(
            done_t,
            SpeechDone,
            speech_id=sid,
            interrupted=interrupt_after is not None,
            item_ids=[item],
        )
        self.now = done_t
        self.flush()
        return sid

    # -- convenience --------------------------------------------------------------------------

    def greeting(self, text: str = "Hello! How can I help you today?", **kw: object) -> str:
        """The agent speaks first (``session.say``/``generate_reply``): no user message."""
        return self.reply(text, user_text=None, spoken=False, **kw)  # type: ignore[arg-type]

    def spoken_turn(
        self, user_text: str, agent_text: str, *, duration: float = 1.8, **kw: object
    ) -> str:
        """The user speaks, then the agent replies."""
        stop = self.user_speaks(user_text, duration=duration)
        return self.reply(agent_text, user_text=user_text, spoken=True, stopped=stop, **kw)  # type: ignore[arg-type]

    def typed_turn(self, user_text: str, agent_text: str, **kw: object) -> str:
        """The user types (``generate_reply(user_input=...)``): no speech timings, no EOU."""
        self.idle(0.5)
        return self.reply(agent_text, user_text=user_text, spoken=False, **kw)  # type: ignore[arg-type]


def demo_session() -> list[Event]:
    """Every case in one short session, turns 1..8:

    1 greeting (no user turn); 2 spoken turn; 3 typed turn (no user timings); 4 tool-call turn
    (two LLM metrics, one speech_id); 5 interrupted turn; 6 metrics after their message (and the
    user message before ``speech_created``); 7 missing speech_id; 8 a failed turn (LLM error).
    """
    s = Script().start()
    s.greeting("Hello! How can I help you today?")
    s.idle(1.0)
    s.spoken_turn("What is the capital of France?", "The capital of France is Paris.")
    s.idle(1.0)
    s.typed_turn("And of Spain?", "The capital of Spain is Madrid.", ttft=0.27, ttfb=0.2)
    s.idle(1.0)
    s.spoken_turn(
        "What time is it?",
        "It is ten past nine in the morning.",
        tool=("get_time", "{}", "09:10"),
        ttft=0.42,
    )
    s.idle(1.0)
    s.spoken_turn(
        "Tell me a long story.",
        "Once upon a time there was a small robot. It lived in a quiet town.",
        interrupt_after=5,
        ttfb=0.25,
    )
    s.emit(
        s.now,
        LogRecord,
        level="WARNING",
        logger="livekit.agents",
        message="speech interrupted by the user",
    )
    s.spoken_turn(
        "Sorry, go on.",
        "No problem. The robot liked to read.",
        metrics_after_message=True,
        user_before_speech=True,
        eou=0.8,
    )
    s.idle(1.0)
    s.spoken_turn("Thank you.", "You are welcome.", with_speech_id=False, eou=0.6)
    s.idle(1.0)
    s.spoken_turn("One more question.", "", llm_error="llm stalled for 10.0 s")
    return s.close()


def iter_synthetic_session(turns: int = 1000, *, background: bool = True) -> Iterator[Event]:
    """The events of ``synthetic_session``, made turn by turn (memory stays flat for benchmarks)."""
    s = Script(background=background).start()
    s.greeting()
    yield from s.drain()
    for i in range(turns - 1):
        s.idle(0.8)
        s.spoken_turn(
            f"Question number {i + 2} about the weather?",
            "It is sunny today. Expect a light breeze this afternoon.",
            tool=("get_weather", '{"city": "Paris"}', "sunny") if i % 10 == 9 else None,
            interrupt_after=4 if i % 7 == 6 else None,
            eou=0.45 + 0.01 * (i % 20),
            ttft=0.25 + 0.005 * (i % 30),
            ttfb=0.15 + 0.004 * (i % 25),
        )
        if i % 5 == 0:
            s.emit(
                s.now,
                LogRecord,
                level="DEBUG",
                logger="livekit.agents",
                message=f"turn {i + 2} done",
            )
            s.flush()
        yield from s.drain()
    s.close()
    yield from s.drain()


def synthetic_session(turns: int = 1000, *, background: bool = True) -> list[Event]:
    """A long, representative session of ``turns`` turns: a greeting then spoken turns (every
    10th has a tool call, every 7th is interrupted), with VAD activity at 10 Hz, mic and agent
    levels at 10 Hz, VADMetrics and usage updates every second, and logs."""
    return list(iter_synthetic_session(turns, background=background))
