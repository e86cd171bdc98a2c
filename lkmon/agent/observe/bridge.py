"""The bridge from a LiveKit ``AgentSession`` to lkmon events.

Subscribes with plain functions to every session event lkmon shows, converts each LiveKit object
at once into an ``lkmon.model.events`` dataclass and hands it to ``emit``. Nothing past the bridge
holds a LiveKit or pydantic object.

* Session events (``voice/events.py``): agent/user state, ``user_input_transcribed``,
  ``conversation_item_added``, ``function_tools_executed``, ``speech_created`` (plus the speech
  handle's done callback -> ``SpeechDone``), ``session_usage_updated``, ``error``, ``close``,
  ``agent_false_interruption``, ``overlapping_speech`` (with the current speech's id).
* Metrics (``lkmon.agent.observe.plugins.PluginMetricsWatch``): each plugin's public
  ``metrics_collected`` (STT, LLM, TTS, VAD of the session and of every agent it runs), and the
  ``EOUMetrics`` that only the session's deprecated ``metrics_collected`` carries (through
  ``compat``). The per-turn figures themselves come first from ``ChatMessage.metrics``
  (``lkmon.model.figures``); plugin metrics add what it lacks (a discarded preemptive reply's
  TTFT, each LLM call of a tool turn, STT audio duration, TTS characters).
* VAD events (``plugins.VadTap``): only visible by wrapping the voice pipeline's VAD stream;
  decimated to about 10 per second.
* LiveKit's OpenTelemetry spans of each user turn's end-of-turn decision
  (``lkmon.agent.observe.telemetry``, not with ``public_only``): ``TraceSpan`` events.
* Agent transcript: a ``TextOutput`` placed after LiveKit's ``TranscriptSynchronizer``, so the text
  arrives as it is spoken.

Text that users and agents produce (transcripts, messages, tool arguments and outputs) passes
through ``lkmon.redact.redact`` here, so no secret value reaches the model, the screen or the
journal; what is written is redacted again as a whole.

An exception inside any handler is caught, logged on the ``lkmon`` logger and emitted as
``ErrorRaised(source="lkmon")`` the first time (repeats of the same error are counted and logged
at 10, 100, 1,000... times); it never reaches the agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit.agents.voice import AgentSession, io
from livekit.agents.voice.events import EventTypes

from lkmon.agent.observe import telemetry
from lkmon.agent.observe.convert import (
    USAGE_FIELDS,
    describe_exception,
    false_interruption,
    metrics_event,
    one_line,
    overlapping_speech,
    usage_list,
)
from lkmon.agent.observe.plugins import PluginMetricsWatch, VadTap
from lkmon.model.events import (
    AgentHandedOff,
    AgentStateChanged,
    AgentTranscript,
    ChatMessageAdded,
    ErrorRaised,
    Event,
    SessionClosed,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UsageUpdated,
    UserStateChanged,
    UserTranscribed,
)
from lkmon.model.figures import num
from lkmon.redact import StreamRedactor, redact

logger = logging.getLogger("lkmon.bridge")

_SESSION_EVENTS: tuple[EventTypes, ...] = (  # mypy checks each against LiveKit's event names
    "agent_state_changed",
    "user_state_changed",
    "user_input_transcribed",
    "conversation_item_added",
    "function_tools_executed",
    "speech_created",
    "session_usage_updated",
    "error",
    "close",
    "agent_false_interruption",
    "overlapping_speech",
)

Emit = Callable[[Event], None]


class TranscriptRecorder(io.TextOutput):
    """The end of the transcription chain: agent text as it is spoken.

    Placed as ``next_in_chain_text`` of a ``TranscriptSynchronizer``, it receives text deltas paced
    with playback (so an interrupted reply stops where the audio stopped).

    Args:
        on_text: called with each delta.
        on_flush: called when the segment's text ends.
    """

    def __init__(self, on_text: Callable[[str], None], on_flush: Callable[[], None]) -> None:
        super().__init__(label="lkmon.Transcript", next_in_chain=None)
        self._on_text = on_text
        self._on_flush = on_flush

    async def capture_text(self, text: str) -> None:
        """Pass one delta of spoken text on."""
        self._on_text(text)

    def flush(self) -> None:
        """The segment's text ended."""
        self._on_flush()


class Bridge:
    """Subscribes to one ``AgentSession`` and emits lkmon events.

    Args:
        session: the ``livekit.agents.AgentSession``.
        emit: receives each event, on the event-loop thread, synchronously; it must not raise
            (``SessionRunner.emit`` logs a failing consumer itself).
        public_only: LiveKit's public API only (``lkmon.recorder``, inside a user's agent):
            no ``compat`` access, so no ``EOUMetrics``, no VAD events, and LLM/TTS metrics
            keep the ``speech_id`` LiveKit had filled in when they reached lkmon.
    """

    def __init__(
        self, session: AgentSession[Any], emit: Emit, *, public_only: bool = False
    ) -> None:
        self.session = session
        self.emit = emit
        self.public_only = public_only
        self._handlers: list[tuple[EventTypes, Callable[[Any], None]]] = []
        self._last_usage: tuple[tuple[Any, ...], ...] | None = None
        self.metrics = PluginMetricsWatch(self._on_metrics, self._guard, public_only=public_only)
        """The plugins' metrics (and the session's EOUMetrics)."""
        self.vad = VadTap(emit, self._guard)
        """The voice pipeline's VAD events."""
        self._active: dict[str, None] = {}  # speech ids created and not done, oldest first
        self.closed: SessionClosed | None = None
        self.errors: list[ErrorRaised] = []
        self._handler_errors: dict[str, int] = {}  # message -> times seen
        self._announce_guarded = self._guard("speech_created", self._announce)
        self._stream = StreamRedactor()  # the agent's transcript deltas
        self.transcript = TranscriptRecorder(
            self._guard("transcript", self._on_transcript_text),
            self._guard("transcript", lambda: self._on_transcript_flush()),
        )

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, agent: Any = None) -> None:
        """Subscribe to the session, its plugins and ``agent``'s, and wrap their VADs. Call
        before ``AgentSession.start``."""
        for name in _SESSION_EVENTS:
            handler = self._guard(name, getattr(self, f"_on_{name}"))
            self.session.on(name, handler)
            self._handlers.append((name, handler))
        self.metrics.attach(self.session, agent)
        self._tap_vad(self.session.vad)
        if agent is not None:
            self._tap_vad(getattr(agent, "vad", None))
        if not self.public_only:
            try:
                how = telemetry.install(self.emit)
                logger.debug("lkmon span capture: %s", how)
            except Exception as e:  # no loop, or a provider that refuses: no spans, no harm
                logger.warning("lkmon cannot capture LiveKit's spans: %s", describe_exception(e))

    def _tap_vad(self, v: Any) -> None:
        if not self.public_only:
            self.vad.tap(v)

    def detach(self) -> None:
        """Unsubscribe and restore the VADs."""
        for name, handler in self._handlers:
            self.session.off(name, handler)
        self._handlers.clear()
        self.metrics.detach()
        self.vad.untap()
        if not self.public_only:
            telemetry.uninstall()

    def watch_current_agent(self) -> None:
        """Subscribe to the plugins of the agent now running (a handoff may bring new ones)."""
        try:
            agent = self.session.current_agent
        except RuntimeError:  # no agent running (yet, or any more)
            return
        self.metrics.watch_agent(agent)
        self._tap_vad(getattr(agent, "vad", None))

    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a handler so that no exception escapes into LiveKit (a plain function)."""

        def handler(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as e:
                message = f"bridge {name}: {describe_exception(e)}"
                count = self._handler_errors.get(message, 0) + 1
                self._handler_errors[message] = count
                if count > 1:  # shown once; a handler that fails on every event must not flood
                    if count in (10, 100, 1000, 10_000):
                        logger.warning("lkmon bridge handler for %s: failed %d times (%s)",
                                       name, count, message)
                    return
                logger.exception("lkmon bridge handler for %s failed", name)
                self.emit(ErrorRaised(ts=time.time(), source="lkmon", message=message))

        handler.__name__ = f"lkmon_{name}"
        return handler

    def current_speech_id(self) -> str | None:
        """``AgentSession.current_speech.id``; else the newest speech not yet done (a reply
        running its tools is no longer "current"); else None."""
        try:
            speech = self.session.current_speech
        except Exception as e:  # no activity yet, or closing
            logger.debug("no current speech: %s", e)
            speech = None
        if speech is not None:
            return speech.id
        return next(reversed(self._active), None) if self._active else None

    # -- session events ------------------------------------------------------------------------

    def _on_agent_state_changed(self, ev: Any) -> None:
        self.emit(
            AgentStateChanged(ts=ev.created_at, old_state=ev.old_state, new_state=ev.new_state)
        )

    def _on_user_state_changed(self, ev: Any) -> None:
        self.emit(
            UserStateChanged(ts=ev.created_at, old_state=ev.old_state, new_state=ev.new_state)
        )

    def _on_user_input_transcribed(self, ev: Any) -> None:
        self.emit(
            UserTranscribed(
                ts=ev.created_at,
                text=redact(ev.transcript),
                is_final=ev.is_final,
                item_id=ev.item_id,
            )
        )

    def _on_conversation_item_added(self, ev: Any) -> None:
        item = ev.item
        kind = getattr(item, "type", None)
        if kind == "agent_handoff":
            self.watch_current_agent()
            self.emit(
                AgentHandedOff(
                    ts=ev.created_at,
                    item_id=item.id,
                    old_agent=item.old_agent_id,
                    new_agent=item.new_agent_id,
                    speech_id=self.current_speech_id(),
                )
            )
            return
        if kind != "message":
            logger.debug("conversation item %s not shown", kind)
            return
        # finite figures only: a NaN would be written as null, which a figure cannot be
        figures = {k: num(v) for k, v in dict(item.metrics or {}).items()}
        metrics = {k: v for k, v in figures.items() if v is not None}
        self.emit(
            ChatMessageAdded(
                ts=ev.created_at,
                item_id=item.id,
                role=item.role,
                text=redact(item.text_content or ""),
                interrupted=bool(item.interrupted),
                created_at=item.created_at,
                metrics=metrics,
                speech_id=self.current_speech_id() if item.role == "assistant" else None,
            )
        )

    def _on_function_tools_executed(self, ev: Any) -> None:
        speech_id = self.current_speech_id()
        outputs = list(ev.function_call_outputs)
        for i, call in enumerate(ev.function_calls):
            out = outputs[i] if i < len(outputs) else None
            self.emit(
                ToolCalled(
                    ts=ev.created_at,
                    call_id=call.call_id,
                    name=call.name,
                    arguments=redact(call.arguments),
                    output=redact(out.output) if out is not None else None,
                    is_error=bool(out.is_error) if out is not None else False,
                    speech_id=speech_id,
                )
            )

    def _on_speech_created(self, ev: Any) -> None:
        # LiveKit emits speech_created inside _generate_reply, just before it schedules the
        # speech (or not: a preemptive generation stays unscheduled until the user's turn ends).
        # One loop tick later the public SpeechHandle.scheduled tells the two apart.
        asyncio.get_running_loop().call_soon(self._announce_guarded, ev)

    def _announce(self, ev: Any) -> None:
        handle = ev.speech_handle
        self.emit(
            SpeechCreated(
                ts=ev.created_at,
                speech_id=handle.id,
                source=ev.source,
                user_initiated=ev.user_initiated,
                scheduled=bool(handle.scheduled),
            )
        )
        self._active[handle.id] = None
        handle.add_done_callback(self._guard("speech_done", self._on_speech_done))

    def _on_speech_done(self, handle: Any) -> None:
        self._active.pop(handle.id, None)
        self.emit(
            SpeechDone(
                ts=time.time(),
                speech_id=handle.id,
                interrupted=bool(handle.interrupted),
                item_ids=[item.id for item in handle.chat_items],
                scheduled=bool(handle.scheduled),
            )
        )

    def _on_session_usage_updated(self, ev: Any) -> None:
        rows = usage_list(ev.usage)
        key = tuple(
            (r.kind, r.provider, r.model, *(getattr(r, f) for f in USAGE_FIELDS)) for r in rows
        )
        if key == self._last_usage:  # fires on every metric, VAD included (~2/s)
            return
        self._last_usage = key
        self.emit(UsageUpdated(ts=ev.created_at, usage=rows))

    def _on_agent_false_interruption(self, ev: Any) -> None:
        self.emit(false_interruption(ev, self.current_speech_id()))

    def _on_overlapping_speech(self, ev: Any) -> None:
        self.emit(overlapping_speech(ev, self.current_speech_id()))

    def _on_metrics(self, metrics: Any) -> None:
        event = metrics_event(metrics)
        if event is not None:
            self.emit(event)

    def _on_error(self, ev: Any) -> None:
        err = ev.error
        exc = getattr(err, "error", err)
        kind = str(getattr(err, "type", "") or "")
        source = kind.removesuffix("_error") if kind.endswith("_error") else type(err).__name__
        label = getattr(err, "label", "") or ""
        message = describe_exception(exc) if isinstance(exc, BaseException) else one_line(str(exc))
        event = ErrorRaised(
            ts=ev.created_at,
            source=source,
            message=f"{label}: {message}" if label else message,
            recoverable=bool(getattr(err, "recoverable", True)),
            speech_id=self.current_speech_id(),
        )
        self.errors.append(event)
        self.emit(event)

    def _on_close(self, ev: Any) -> None:
        error = None
        if ev.error is not None:
            exc = getattr(ev.error, "error", ev.error)
            error = (
                describe_exception(exc) if isinstance(exc, BaseException) else one_line(str(exc))
            )
        reason = getattr(ev.reason, "value", str(ev.reason))
        self.closed = SessionClosed(ts=ev.created_at, reason=reason, error=error)
        self.emit(self.closed)

    # -- transcript and VAD --------------------------------------------------------------------

    def _on_transcript_text(self, text: str) -> None:
        # redacted across deltas: a multi-word secret spoken word by word is hidden whole
        safe = self._stream.feed(text)
        if safe:
            self._emit_transcript(safe)

    def _emit_transcript(self, text: str) -> None:
        self.emit(AgentTranscript(ts=time.time(), text=text, speech_id=self.current_speech_id()))

    def _on_transcript_flush(self) -> None:
        rest = self._stream.flush()
        if rest:
            self._emit_transcript(rest)
        self.emit(
            AgentTranscript(ts=time.time(), text="", final=True, speech_id=self.current_speech_id())
        )
