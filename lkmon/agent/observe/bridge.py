"""The bridge from a LiveKit ``AgentSession`` to lkmon events.

Subscribes with plain functions to every session event lkmon shows, converts each LiveKit object
at once into an ``lkmon.model.events`` dataclass and hands it to ``emit``. Nothing past the bridge
holds a LiveKit or pydantic object.

* Session events (``voice/events.py``): agent/user state, ``user_input_transcribed``,
  ``conversation_item_added``, ``function_tools_executed``, ``speech_created`` (plus the speech
  handle's done callback -> ``SpeechDone``), ``session_usage_updated``, ``error``, ``close``.
* Metrics: the session-level ``metrics_collected``, which carries the STT, LLM, TTS and VAD metrics
  of every plugin the activity uses (with ``speech_id`` filled in for LLM and TTS) and the
  EOUMetrics that only exist there. ``AgentSession.on`` logs a deprecation warning for it, so the
  bridge subscribes through the base ``EventEmitter.on``. Subscribing per plugin as well would
  only duplicate these.
* VAD events: only visible by wrapping the VAD's stream; decimated to about 10 per second (the
  highest probability in each window; start and end of speech always pass).
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
import functools
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import utils, vad
from livekit.agents.voice import io

from lkmon.agent.observe.convert import (
    USAGE_FIELDS,
    describe_exception,
    metrics_event,
    one_line,
    usage_list,
)
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
    VadActivity,
)
from lkmon.redact import redact

logger = logging.getLogger("lkmon.bridge")

VAD_INTERVAL = 0.1
"""Seconds per VAD decimation window (about 10 VadActivity events per second)."""

_SESSION_EVENTS = (
    "agent_state_changed",
    "user_state_changed",
    "user_input_transcribed",
    "conversation_item_added",
    "function_tools_executed",
    "speech_created",
    "session_usage_updated",
    "error",
    "close",
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


class _TappedVADStream:
    """A ``VADStream`` proxy that shows each event to lkmon before the session sees it."""

    def __init__(self, inner: vad.VADStream, on_event: Callable[[vad.VADEvent], None]) -> None:
        self._inner = inner
        self._on_event = on_event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> _TappedVADStream:
        return self

    async def __anext__(self) -> vad.VADEvent:
        ev = await self._inner.__anext__()
        self._on_event(ev)
        return ev


class Bridge:
    """Subscribes to one ``AgentSession`` and emits lkmon events.

    Args:
        session: the ``livekit.agents.AgentSession``.
        emit: receives each event, on the event-loop thread, synchronously; it must not raise
            (``SessionRunner.emit`` logs a failing consumer itself).
    """

    def __init__(self, session: Any, emit: Emit) -> None:
        self.session = session
        self.emit = emit
        self._handlers: list[tuple[str, Callable[[Any], None]]] = []
        self._metrics_handler: Callable[[Any], None] | None = None
        self._tapped: list[Any] = []
        self._last_usage: tuple | None = None
        self._vad_next_flush = 0.0
        self._vad_max = 0.0
        self._vad_last: Any = None
        self._active: dict[str, None] = {}  # speech ids created and not done, oldest first
        self.closed: SessionClosed | None = None
        self.errors: list[ErrorRaised] = []
        self._handler_errors: dict[str, int] = {}  # message -> times seen
        self._announce_guarded = self._guard("speech_created", self._announce)
        self.transcript = TranscriptRecorder(
            self._guard("transcript", self._on_transcript_text),
            self._guard("transcript", lambda: self._on_transcript_flush()),
        )

    # -- wiring --------------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the session and wrap its VAD. Call before ``AgentSession.start``."""
        for name in _SESSION_EVENTS:
            handler = self._guard(name, getattr(self, f"_on_{name}"))
            self.session.on(name, handler)
            self._handlers.append((name, handler))
        self._metrics_handler = self._guard("metrics_collected", self._on_metrics_collected)
        # the base EventEmitter.on: AgentSession.on warns that this event is deprecated
        utils.EventEmitter.on(self.session, "metrics_collected", self._metrics_handler)
        self.tap_vad(self.session.vad)

    def detach(self) -> None:
        """Unsubscribe and restore the VADs."""
        for name, handler in self._handlers:
            self.session.off(name, handler)
        self._handlers.clear()
        if self._metrics_handler is not None:
            self.session.off("metrics_collected", self._metrics_handler)
            self._metrics_handler = None
        for v in self._tapped:
            v.__dict__.pop("stream", None)
        self._tapped.clear()

    def tap_vad(self, v: vad.VAD | None) -> None:
        """Wrap ``v.stream()`` so the session's own VAD stream reports to lkmon.

        Only the stream the voice pipeline uses for turn-taking is tapped: the second stream that
        ``stt.StreamAdapter`` opens on the same VAD (for a non-streaming STT) sees the same audio
        and would double every event.
        """
        if v is None or v in self._tapped:
            return
        original = v.stream
        on_event = self._guard("vad", self._on_vad_event)

        @functools.wraps(original)
        def stream() -> Any:
            inner = original()
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("livekit.agents.stt"):
                return inner
            return _TappedVADStream(inner, on_event)

        v.stream = stream  # type: ignore[method-assign]
        self._tapped.append(v)

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
        metrics = {
            k: float(v)
            for k, v in dict(item.metrics or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
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

    def _on_metrics_collected(self, ev: Any) -> None:
        event = metrics_event(ev.metrics)
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
        if text:
            self.emit(
                AgentTranscript(
                    ts=time.time(), text=redact(text), speech_id=self.current_speech_id()
                )
            )

    def _on_transcript_flush(self) -> None:
        self.emit(
            AgentTranscript(ts=time.time(), text="", final=True, speech_id=self.current_speech_id())
        )

    def _on_vad_event(self, ev: vad.VADEvent) -> None:
        now = time.time()
        if ev.type == vad.VADEventType.INFERENCE_DONE:
            if self._vad_last is None:
                self._vad_max = ev.probability
            else:
                self._vad_max = max(self._vad_max, ev.probability)
            self._vad_last = ev
            if now >= self._vad_next_flush:
                self._flush_vad(now)
            return
        self._flush_vad(now)
        started = ev.type == vad.VADEventType.START_OF_SPEECH
        self.emit(
            VadActivity(
                ts=now,
                event=ev.type.value,
                probability=float(ev.probability),
                speaking=started,
                speech_duration=float(ev.speech_duration),
                silence_duration=float(ev.silence_duration),
                inference_duration=float(ev.inference_duration),
            )
        )

    def _flush_vad(self, now: float) -> None:
        last = self._vad_last
        if last is None:
            return
        self._vad_last = None
        self._vad_next_flush = now + VAD_INTERVAL
        self.emit(
            VadActivity(
                ts=now,
                event="inference",
                probability=float(self._vad_max),
                speaking=bool(last.speaking),
                speech_duration=float(last.speech_duration),
                silence_duration=float(last.silence_duration),
                inference_duration=float(last.inference_duration),
            )
        )
