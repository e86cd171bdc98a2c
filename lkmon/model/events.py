"""lkmon events: the plain dataclasses that carry everything the agent emits.

The agent bridge (``lkmon.agent.observe.bridge``) turns every LiveKit event into one of these at
once; nothing past the bridge holds a LiveKit or pydantic object. The same events are folded into
the model (``lkmon.model.state.SessionModel.apply``), appended to the session journal (JSON Lines,
one event a line, ``lkmon.store.events.encode``) and replayed from it. Each event's ``type`` is
its name in the journal: LiveKit's event name where it carries one LiveKit event.

Conventions for every event:
    * ``ts`` is wall-clock time in seconds since the Unix epoch (``time.time()``), the clock that
      LiveKit's ``created_at`` fields use.
    * Durations are in seconds, token counts in tokens, character counts in characters.
    * A figure that is unknown is ``None``, never 0.

The measurements (plugin metrics, VAD activity, usage, audio levels) are defined in
``lkmon.model.measurements``; this module names every event (``Event``, ``EVENT_TYPES``) and is
where they are imported from. This module imports neither textual nor livekit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from lkmon.model.interruption_events import FalseInterruption, OverlappingSpeech
from lkmon.model.measurements import (
    AgentAudible,
    AudioLevel,
    MetricKind,
    ModelUsage,
    PluginMetrics,
    UsageUpdated,
    VadActivity,
)
from lkmon.model.spans import EotPrediction, TraceSpan

__all__ = [
    "AgentAudible",
    "AgentHandedOff",
    "AgentState",
    "AgentStateChanged",
    "AgentTranscript",
    "AudioLevel",
    "ChatMessageAdded",
    "EVENT_TYPES",
    "ErrorRaised",
    "Event",
    "FalseInterruption",
    "LoadProgress",
    "LogRecord",
    "MetricKind",
    "ModelUsage",
    "OverlappingSpeech",
    "PluginMetrics",
    "SessionClosed",
    "SessionStarted",
    "SpeechCreated",
    "SpeechDone",
    "ToolCalled",
    "TraceSpan",
    "EotPrediction",
    "UsageUpdated",
    "UserState",
    "UserStateChanged",
    "UserTranscribed",
    "VadActivity",
]

AgentState = str
"""LiveKit agent state: ``initializing``, ``idle``, ``listening``, ``thinking``, ``speaking``."""
UserState = str
"""LiveKit user state: ``speaking``, ``listening``, ``away``."""


@dataclass(slots=True)
class SessionStarted:
    """The session began. Emitted once by the runner before the agent starts.

    Attributes:
        ts: epoch seconds.
        agent_file: path of the agent file as given on the command line.
        models: role (``vad``/``stt``/``llm``/``tts``) -> ``"provider/model"`` label.
        input: caller kind and source, e.g. ``"wav: a.wav, b.wav"``, ``"mic"``, ``"text"``.
        output: audio sink, ``"null"`` or ``"speaker"``.
        lkmon_version: the version of lkmon that recorded the session.
        session_id: the session's unique id (a UUID4 string, the journal header's), or
            ``None`` (journals written before lkmon 0.2).
        vad_events: False when the source cannot see the VAD's events (an agent in another
            process: LiveKit's session protocol and the recorder do not carry them), so the VAD
            pane says so instead of showing zeros.
        tags: free ``KEY: VALUE`` labels of the session (``lkmon run --tag``,
            ``record(session, tags=...)``), the same as the journal header's.
    """

    type: ClassVar[str] = "session_started"
    ts: float
    agent_file: str
    models: dict[str, str] = field(default_factory=dict)
    input: str = ""
    output: str = ""
    lkmon_version: str = ""
    session_id: str | None = None
    vad_events: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LoadProgress:
    """Model loading progress, shown before the first turn.

    Attributes:
        ts: epoch seconds.
        stage: what is loading, e.g. ``"stt: whisper tiny.en"``.
        done: stages finished so far (0..total).
        total: number of stages.
        seconds: time the stage took, once finished, else ``None``.
    """

    type: ClassVar[str] = "load_progress"
    ts: float
    stage: str
    done: int
    total: int
    seconds: float | None = None


@dataclass(slots=True)
class AgentStateChanged:
    """From LiveKit ``agent_state_changed`` (AgentStateChangedEvent.old_state/new_state)."""

    type: ClassVar[str] = "agent_state_changed"
    ts: float
    old_state: AgentState
    new_state: AgentState


@dataclass(slots=True)
class UserStateChanged:
    """From LiveKit ``user_state_changed`` (UserStateChangedEvent.old_state/new_state)."""

    type: ClassVar[str] = "user_state_changed"
    ts: float
    old_state: UserState
    new_state: UserState


@dataclass(slots=True)
class UserTranscribed:
    """From LiveKit ``user_input_transcribed``: interim (``is_final=False``) or final user text."""

    type: ClassVar[str] = "user_input_transcribed"
    ts: float
    text: str
    is_final: bool
    item_id: str | None = None


@dataclass(slots=True)
class SpeechCreated:
    """From LiveKit ``speech_created``: the agent scheduled a reply; ``speech_id`` names the turn.

    Attributes:
        speech_id: ``SpeechHandle.id``; the key that joins EOU, LLM and TTS metrics of a turn.
        source: ``"say"`` or ``"generate_reply"``.
        user_initiated: True when made by ``say``/``generate_reply`` (greetings, typed turns,
            and in livekit-agents 1.8.9 also every reply to the user's speech), False when a
            realtime model's server-side turn triggered it.
        scheduled: ``SpeechHandle.scheduled`` one event-loop tick after ``speech_created``:
            True for a reply queued to play, False for a preemptive (speculative) generation
            that LiveKit started on a final transcript before the end of the user's turn and
            will either schedule (kept) or throw away (discarded). ``None`` when unknown
            (journals written before lkmon 0.2).
    """

    type: ClassVar[str] = "speech_created"
    ts: float
    speech_id: str
    source: str = "generate_reply"
    user_initiated: bool = False
    scheduled: bool | None = None


@dataclass(slots=True)
class SpeechDone:
    """The ``SpeechHandle`` finished (its done callback).

    Attributes:
        speech_id: ``SpeechHandle.id``.
        interrupted: ``SpeechHandle.interrupted``.
        item_ids: ids of the chat items the speech added (``SpeechHandle.chat_items``), which
            links the assistant ``ChatMessage`` to its ``speech_id``.
        scheduled: ``SpeechHandle.scheduled`` when it finished: False for a preemptive
            generation that was never scheduled (discarded). ``None`` when unknown.
    """

    type: ClassVar[str] = "speech_done"
    ts: float
    speech_id: str
    interrupted: bool = False
    item_ids: list[str] = field(default_factory=list)
    scheduled: bool | None = None


@dataclass(slots=True)
class ChatMessageAdded:
    """From LiveKit ``conversation_item_added`` with a ``ChatMessage``.

    Attributes:
        item_id: ``ChatMessage.id``.
        role: ``"user"``, ``"assistant"``, ``"system"`` or ``"developer"``.
        text: ``ChatMessage.text_content`` (what was heard, for an interrupted reply).
        interrupted: ``ChatMessage.interrupted``.
        created_at: ``ChatMessage.created_at``, epoch seconds.
        metrics: ``ChatMessage.metrics`` (MetricsReport) numeric fields, seconds or epoch seconds:
            user: ``started_speaking_at``, ``stopped_speaking_at``, ``transcription_delay``,
            ``end_of_turn_delay``, ``on_user_turn_completed_delay``; assistant: ``llm_node_ttft``,
            ``llm_node_tps`` (tokens/s), ``tts_node_ttfb``, ``started_speaking_at``,
            ``stopped_speaking_at``, ``playback_latency``, ``e2e_latency``.
        speech_id: the speech the bridge saw playing when the message was added, if any.
    """

    type: ClassVar[str] = "conversation_item_added"
    ts: float
    item_id: str
    role: str
    text: str
    interrupted: bool = False
    created_at: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    speech_id: str | None = None


@dataclass(slots=True)
class AgentTranscript:
    """Agent text as it is spoken (the session's transcription output, paced with playback).

    Attributes:
        text: the new piece of text (a delta), empty when ``final``.
        final: True when the segment is flushed (the reply's text ended).
        speech_id: the speech playing, if known.
    """

    type: ClassVar[str] = "agent_transcript"
    ts: float
    text: str
    final: bool = False
    speech_id: str | None = None


@dataclass(slots=True)
class ToolCalled:
    """One tool call, from LiveKit ``function_tools_executed`` (FunctionCall + FunctionCallOutput).

    Attributes:
        call_id: ``FunctionCall.call_id``.
        name: tool name.
        arguments: JSON text of the arguments, as the LLM produced it.
        output: the tool's output text, or ``None`` when it produced none.
        is_error: ``FunctionCallOutput.is_error``.
        speech_id: the speech that made the call, if known.
    """

    type: ClassVar[str] = "function_tools_executed"
    ts: float
    call_id: str
    name: str
    arguments: str
    output: str | None = None
    is_error: bool = False
    speech_id: str | None = None


@dataclass(slots=True)
class AgentHandedOff:
    """From LiveKit ``conversation_item_added`` with an ``AgentHandoff`` item.

    Attributes:
        item_id: ``AgentHandoff.id``.
        old_agent: ``AgentHandoff.old_agent_id`` (``None`` for the session's first agent).
        new_agent: ``AgentHandoff.new_agent_id``.
        speech_id: the speech running when the handoff happened (the tool turn that returned
            the new agent), if any.
    """

    type: ClassVar[str] = "agent_handoff"
    ts: float
    item_id: str
    old_agent: str | None
    new_agent: str
    speech_id: str | None = None


@dataclass(slots=True)
class ErrorRaised:
    """From LiveKit ``error`` (ErrorEvent) or an lkmon fault.

    Attributes:
        source: what failed, e.g. ``"llm"``, ``"tts"``, ``"stt"``, ``"lkmon"``.
        message: one line.
        recoverable: LiveKit's ``recoverable`` of plugin errors: False when the plugin has no
            retry left (the turn's request failed for good; the session closes only after
            several such errors in a row, with ``SessionClosed``).
        speech_id: the turn it hit, if known.
    """

    type: ClassVar[str] = "error"
    ts: float
    source: str
    message: str
    recoverable: bool = True
    speech_id: str | None = None


@dataclass(slots=True)
class LogRecord:
    """A log record from the ``livekit`` or ``lkmon`` loggers, with secrets already redacted."""

    type: ClassVar[str] = "log"
    ts: float
    level: str
    logger: str
    message: str


@dataclass(slots=True)
class SessionClosed:
    """From LiveKit ``close`` (CloseEvent.reason, CloseEvent.error), or lkmon ending the session."""

    type: ClassVar[str] = "close"
    ts: float
    reason: str
    error: str | None = None


Event = (
    SessionStarted
    | LoadProgress
    | AgentStateChanged
    | UserStateChanged
    | UserTranscribed
    | SpeechCreated
    | SpeechDone
    | ChatMessageAdded
    | AgentTranscript
    | ToolCalled
    | AgentHandedOff
    | PluginMetrics
    | VadActivity
    | UsageUpdated
    | AudioLevel
    | ErrorRaised
    | LogRecord
    | SessionClosed
    | TraceSpan
    | EotPrediction
    | FalseInterruption
    | OverlappingSpeech
    | AgentAudible
)

EVENT_TYPES: dict[str, type] = {
    cls.type: cls
    for cls in (
        SessionStarted,
        LoadProgress,
        AgentStateChanged,
        UserStateChanged,
        UserTranscribed,
        SpeechCreated,
        SpeechDone,
        ChatMessageAdded,
        AgentTranscript,
        ToolCalled,
        AgentHandedOff,
        PluginMetrics,
        VadActivity,
        UsageUpdated,
        AudioLevel,
        ErrorRaised,
        LogRecord,
        SessionClosed,
        TraceSpan,
        EotPrediction,
        FalseInterruption,
        OverlappingSpeech,
        AgentAudible,
    )
}
