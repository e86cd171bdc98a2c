"""The session model: folds lkmon events into turns, transcript, VAD, usage, status and logs.

``SessionModel.apply(event)`` returns the set of ``Area`` values that changed so a view can
refresh only the panes showing them. The same model is fed by a live session, by a replayed
snapshot or journal, and by tests. Memory is bounded (deques) except for ``turns``; the full
record goes to the journal on disk.

No textual or livekit import here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from sys import intern
from typing import Any, TypeVar

from lkmon.model.areas import Area
from lkmon.model.conversation import Conversation
from lkmon.model.eou import EouTracker
from lkmon.model.events import (
    AgentAudible,
    AgentHandedOff,
    AgentStateChanged,
    AgentTranscript,
    AudioLevel,
    ChatMessageAdded,
    ErrorRaised,
    Event,
    FalseInterruption,
    LoadProgress,
    LogRecord,
    ModelUsage,
    OverlappingSpeech,
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
from lkmon.model.interruptions import Interruptions
from lkmon.model.joinview import JoinQueries
from lkmon.model.providers import PackageMap
from lkmon.model.session import Levels, SessionInfo
from lkmon.model.spans import EotPrediction, TraceSpan
from lkmon.model.stats import LatencySummary
from lkmon.model.transcript import MAX_TRANSCRIPT, TranscriptEntry
from lkmon.model.turns import Turn
from lkmon.model.usage import PriceTable, UsageCost
from lkmon.model.vad import VadState

MAX_LOGS = 5000
MAX_ERRORS = 1000
LOGGED_ERROR_WINDOW = 2.0
"""Seconds after an ``ErrorRaised`` in which a LiveKit ERROR log is taken for the same error
(LiveKit logs most errors it also emits as ``error`` events); later ones count on their own."""
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
MAX_EVENTS = 20_000
"""Events kept for the snapshot's ``events`` section (see ``SessionModel.events``); the journal
on disk has every event."""

__all__ = [
    "SessionModel",
    "TranscriptEntry",
    "Turn",
    "VadState",
]


_T = Area.TRANSCRIPT
_TURNS = Area.TURNS
_STATUS = frozenset({Area.STATUS})
_VAD = frozenset({Area.VAD})
_USAGE = frozenset({Area.USAGE})
_LOG = frozenset({Area.LOG})
_SESSION = frozenset({Area.SESSION, Area.STATUS})
_USER_STATE = frozenset({Area.STATUS, Area.VAD})
_NOT_KEPT = frozenset({AudioLevel, UsageUpdated})
_E = TypeVar("_E")  # an event class, for _on


class SessionModel(JoinQueries):
    """Everything lkmon knows about one session.

    Attributes:
        session: ``SessionInfo``.
        turns: every turn, ordered by ``index`` (1-based). Not bounded (a few kB per turn).
        transcript: bounded deque of ``TranscriptEntry``.
        agent_state: LiveKit agent state (``initializing``/``idle``/``listening``/``thinking``/
            ``speaking``); user_state: ``speaking``/``listening``/``away``.
        vad: ``VadState``.
        usage: the latest ``session_usage_updated`` model usage (session totals, not deltas).
        prices: the ``PriceTable`` used by ``costs()`` and ``total_cost()``.
        packages: ``PackageMap`` of the plugin package behind each provider/model, learned from
            metric labels; ``costs()`` resolves usage rows through it.
        levels: latest mic and agent levels, dBFS.
        logs: bounded deque of ``LogRecord``.
        errors: the latest ``ErrorRaised`` events (bounded); error_count counts all, and
            errors_by_source counts all by ``ErrorRaised.source`` (``stt``, ``llm``, ``tts``,
            ``lkmon``...).
        load_progress: the latest ``LoadProgress``, or ``None``.
        events: bounded deque of the events applied, for snapshots. Not kept: ``AudioLevel``, VAD
            ``inference`` events (display only) and ``UsageUpdated`` (session totals: only the
            latest, ``last_usage_event``, matters); ``record()`` adds that one back.
        event_count: events applied; events_dropped: kept events that fell off ``events``.

    Args:
        prices: the price table (``PriceTable.default()`` when None).
        max_events: how many events ``events`` keeps (the newest).
        max_transcript: how many lines ``transcript`` keeps (the newest).
    """

    def __init__(
        self,
        prices: PriceTable | None = None,
        *,
        max_events: int = MAX_EVENTS,
        max_transcript: int = MAX_TRANSCRIPT,
    ) -> None:
        self.session = SessionInfo()
        conversation = Conversation(max_transcript)
        self._joiner = conversation.joiner
        self._conversation = conversation
        self.turns: list[Turn] = conversation.turns
        self.eou = EouTracker()  # each user turn's EOU parts, from LiveKit's spans (model.eou)
        self.interruptions = Interruptions(self.session)
        """Each turn's interruption class and the session's counts (``model.interruptions``)."""
        self._book = conversation.book
        self.transcript: deque[TranscriptEntry] = conversation.transcript
        self.agent_state = "initializing"
        self.user_state = "listening"
        self.vad = VadState()
        self.usage: list[ModelUsage] = []
        self.prices = prices if prices is not None else PriceTable.default()
        self.packages = PackageMap()  # (provider, model) -> plugin package, from metric labels
        self.levels = Levels()
        self.logs: deque[LogRecord] = deque(maxlen=MAX_LOGS)
        self.errors: deque[ErrorRaised] = deque(maxlen=MAX_ERRORS)
        self.error_count = 0
        self.errors_by_source: dict[str, int] = {}
        self.load_progress: LoadProgress | None = None
        self.events: deque[Event] = deque(maxlen=max_events)
        self.last_usage_event: UsageUpdated | None = None
        self.event_count = 0
        self.events_dropped = 0
        self._summary: LatencySummary | None = None
        self._last_error_at: float | None = None
        self._handlers: dict[type, Callable[[Any], Iterable[Area]]] = {}
        on = self._on
        on(SessionStarted, self._session_started)
        on(LoadProgress, self._load_progress)
        on(AgentStateChanged, self._agent_state)
        on(UserStateChanged, self._user_state)
        on(UserTranscribed, conversation.user_transcribed)
        on(SpeechCreated, conversation.speech_created)
        on(SpeechDone, conversation.speech_done)
        on(ChatMessageAdded, self._chat_message)
        on(AgentTranscript, conversation.agent_transcript)
        on(ToolCalled, conversation.tool_called)
        on(AgentHandedOff, conversation.handoff)
        on(PluginMetrics, self._metrics)
        on(VadActivity, self._vad_activity)
        on(UsageUpdated, self._usage)
        on(AudioLevel, self._level)
        on(ErrorRaised, self._error)
        on(LogRecord, self._log)
        on(SessionClosed, self._session_closed)
        on(TraceSpan, self._trace_span)
        on(EotPrediction, self._trace_span)  # the session protocol's turn-detector figures
        on(FalseInterruption, lambda ev: _SESSION)  # folded by self.interruptions in apply
        on(OverlappingSpeech, lambda ev: _SESSION)
        on(AgentAudible, conversation.agent_audible)

    def _on(self, cls: type[_E], handler: Callable[[_E], Iterable[Area]]) -> None:
        """Fold ``cls`` events with ``handler`` (mypy checks that it takes a ``cls``)."""
        self._handlers[cls] = handler

    # -- public API ----------------------------------------------------------------------------

    def apply(self, event: Event) -> set[Area]:
        """Fold one event into the model.

        Returns:
            The areas that changed (empty for an unknown event type, which is ignored).
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            return set()
        if type(event) is SessionStarted and event.session_id and self.session.started_at and (
            event.session_id != self.session.session_id):  # lkmon watch: the next session
            return self.reset() | self.apply(event)
        self.event_count += 1
        kind = type(event)
        if kind not in _NOT_KEPT and (
            not isinstance(event, VadActivity) or event.event != "inference"
        ):
            events = self.events
            if len(events) == events.maxlen:
                self.events_dropped += 1
            events.append(event)
        ts = event.ts
        info = self.session
        if info.last_event_at is None or ts > info.last_event_at:
            info.last_event_at = ts
        changed = set(handler(event))
        if self.interruptions.watch(event, self.turns):
            changed.add(Area.TURNS)
        if Area.TURNS in changed:
            self._summary = None
        return changed

    def reset(self) -> set[Area]:
        """Forget the session (same prices and bounds); returns every area. ``apply`` of a
        ``SessionStarted`` with another ``session_id`` resets first."""
        SessionModel.__init__(self, self.prices, max_events=self.events.maxlen or MAX_EVENTS,
                              max_transcript=self.transcript.maxlen or MAX_TRANSCRIPT)
        return set(Area)

    def apply_many(self, events: Iterable[Event]) -> set[Area]:
        """Fold many events; returns the union of the changed areas."""
        changed: set[Area] = set()
        apply = self.apply
        for event in events:
            changed |= apply(event)
        return changed

    def restore_turns(
        self, turns: Iterable[Turn], *, fallback_joins: int = 0, join_notes: Iterable[str] = ()
    ) -> None:
        """Append turns rebuilt by a loader (``lkmon.store.restore``); indexes are renumbered.

        ``fallback_joins`` and ``join_notes`` are the recorded session's (``fallback_joins``,
        ``join_notes``); the discarded replies folded into the turns are counted again.
        """
        joiner = self._joiner
        for turn in turns:
            joiner.restore(turn)
            joiner.preemptive.count += len(turn.discarded)
        joiner.fallback_joins += fallback_joins
        joiner.notes.extend(join_notes)
        self._summary = None

    def summary(self) -> LatencySummary:
        """p50/p95/max of EOU delay, LLM TTFT, TTS TTFB and e2e latency, and the worst turn.

        Cached until an event changes the turns (10,000 turns take about 10 ms to summarise).
        """
        summary = self._summary
        if summary is None:
            summary = self._summary = LatencySummary.of(self.turns)
        return summary

    @property
    def interim_user_text(self) -> str:
        """User text heard so far that is not yet a user message (shown dimmed)."""
        return self._book.interim_user_text

    def record(self) -> list[Event]:
        """The kept events plus the latest usage update: replaying them rebuilds the model
        (all but the level meters and the VAD trace) when ``events_complete``."""
        out: list[Event] = list(self.events)
        if self.last_usage_event is not None:
            out.append(self.last_usage_event)
        return out

    @property
    def events_complete(self) -> bool:
        """True when ``events`` still holds every kept event (none fell off the deque)."""
        return self.events_dropped == 0

    @property
    def audio_output(self) -> bool:
        """False when the session had no audio output (a text-only agent: ``output`` "none")."""
        return self.session.output != "none"

    def costs(self) -> list[UsageCost]:
        """Usage entries with their estimated cost (``None`` = unknown price)."""
        return self.prices.costs(self.usage, self.packages)

    def total_cost(self) -> float | None:
        """Estimated total cost in ``prices.currency``; ``None`` if no price is known."""
        return self.prices.total(self.usage, self.packages)

    @property
    def cost(self) -> float | None:
        """Same as ``total_cost()``."""
        return self.prices.total(self.usage, self.packages)

    # -- handlers ------------------------------------------------------------------------------

    def _session_started(self, ev: SessionStarted) -> frozenset[Area]:
        info = self.session
        info.started_at = ev.ts
        info.agent_file = ev.agent_file
        info.models = dict(ev.models)
        info.input = ev.input
        info.output = ev.output
        info.vad_events = ev.vad_events
        info.lkmon_version = ev.lkmon_version
        if ev.session_id:
            info.session_id = ev.session_id
        info.tags = dict(ev.tags)
        # an agent without an LLM (a transcriber): each final transcript is a turn
        self._joiner.transcribe_only = bool(ev.models) and "llm" not in ev.models
        return _SESSION

    def _load_progress(self, ev: LoadProgress) -> frozenset[Area]:
        self.load_progress = ev
        return _STATUS

    def _agent_state(self, ev: AgentStateChanged) -> frozenset[Area]:
        self.agent_state = ev.new_state
        return _STATUS

    def _user_state(self, ev: UserStateChanged) -> frozenset[Area]:
        self.user_state = ev.new_state
        if ev.new_state == "speaking":
            self._joiner.speech.spoke = True
        return _USER_STATE

    def _metrics(self, ev: PluginMetrics) -> tuple[Area, ...]:
        if ev.kind == "vad":
            self.vad.apply_metrics(ev)
            return (Area.VAD,)
        # kept all session: share the label strings (replays and some bridges make one per
        # event) in a copy; the event itself is never changed (the journal may be writing it)
        label, provider, model = intern(ev.label), intern(ev.provider), intern(ev.model)
        if label is not ev.label or provider is not ev.provider or model is not ev.model:
            ev = replace(ev, label=label, provider=provider, model=model)
        self.packages.saw(ev.label, ev.provider, ev.model)  # which plugin bills this usage row
        self._joiner.metrics(ev)
        return (_TURNS,)

    def _vad_activity(self, ev: VadActivity) -> frozenset[Area]:
        self.vad.apply_activity(ev)
        if ev.event != "inference":
            self._joiner.vad_activity(ev)
            self.eou.vad(ev)
        return _VAD

    def _chat_message(self, ev: ChatMessageAdded) -> Iterable[Area]:
        changed = self._conversation.chat_message(ev)
        if self.eou.waiting and self.eou.attach(self.turns):
            return {*changed, _TURNS}
        return changed

    def _trace_span(self, ev: TraceSpan | EotPrediction) -> tuple[Area, ...]:
        if self.eou.take(ev) and self.eou.attach(self.turns):
            return (_TURNS,)
        return ()

    def _usage(self, ev: UsageUpdated) -> frozenset[Area]:
        self.usage = list(ev.usage)
        self.last_usage_event = ev
        return _USAGE

    def _level(self, ev: AudioLevel) -> frozenset[Area]:
        levels = self.levels
        if ev.source == "mic":
            levels.mic_dbfs = ev.dbfs
            levels.mic_at = ev.ts
        else:
            levels.agent_dbfs = ev.dbfs
            levels.agent_at = ev.ts
        return _STATUS

    def _error(self, ev: ErrorRaised) -> tuple[Area, ...]:
        self._last_error_at = ev.ts
        self.errors.append(ev)
        self.error_count += 1
        by_source = self.errors_by_source
        by_source[ev.source] = by_source.get(ev.source, 0) + 1
        turn = self._joiner.error(ev)
        self._book.error(ev, turn)
        return (Area.ERRORS, _T, _TURNS, Area.STATUS)

    def _log(self, ev: LogRecord) -> frozenset[Area] | tuple[Area, ...]:
        self.logs.append(ev)
        if (
            ev.level in _ERROR_LEVELS
            and ev.logger.startswith("livekit")
            and (self._last_error_at is None or ev.ts - self._last_error_at > LOGGED_ERROR_WINDOW)
        ):  # an ERROR that LiveKit only logged (e.g. "tts_node called but no TTS node")
            message = ev.message.split(" | ")[0][:300]
            error = ErrorRaised(ts=ev.ts, source="livekit", message=message)
            return (Area.LOG, *self._error(error))
        return _LOG

    def _session_closed(self, ev: SessionClosed) -> frozenset[Area]:
        info = self.session
        info.closed_at = ev.ts
        info.close_reason = ev.reason
        info.close_error = ev.error
        return _SESSION
