"""LiveKit's OpenTelemetry spans, captured in-process as ``TraceSpan`` events.

livekit-agents 1.8.9 records the parts of a user turn's end-of-turn decision (``user_turn``,
``eou_wait``, ``eou_detection`` with the turn detector's probability and threshold,
``on_user_turn_completed``) only as OpenTelemetry spans (see ``lkmon.model.spans``). lkmon reads
them with a span processor of its own (``SpanCapture``, an
``opentelemetry.sdk.trace.SpanProcessor``; the SDK is a livekit-agents dependency), installed by
``install``:

* when LiveKit's spans already go to an SDK ``TracerProvider`` (the agent file gave one to
  ``livekit.agents.telemetry.set_tracer_provider``, or set the global OpenTelemetry provider),
  lkmon adds its processor to that provider: the user's exporters keep every span;
* otherwise lkmon makes an SDK ``TracerProvider`` holding only its processor and gives it to
  LiveKit through the public ``set_tracer_provider(provider, allow_pii=False)``; nothing is
  exported anywhere.

A provider given to LiveKit after the session started replaces lkmon's (LiveKit keeps one);
lkmon then sees no more spans. The processor is installed once per provider and outlives the
session (an SDK provider has no public way to remove one); ``SpanCapture.target`` is cleared
when the bridge detaches, so spans after it are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from lkmon.agent.observe import compat
from lkmon.model.events import Event
from lkmon.model.spans import ATTRIBUTES, SPAN_NAMES, TraceSpan

logger = logging.getLogger("lkmon.telemetry")

_NS = 1_000_000_000


def trace_span(span: ReadableSpan) -> TraceSpan | None:
    """``span`` as an lkmon event, or ``None`` when lkmon does not keep spans of its name (or it
    has no times)."""
    if span.name not in SPAN_NAMES or span.start_time is None or span.end_time is None:
        return None
    attributes: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if key in ATTRIBUTES and isinstance(value, bool | int | float | str):
            attributes[key] = value[:200] if isinstance(value, str) else value
    context = span.get_span_context()
    parent = span.parent
    return TraceSpan(
        ts=span.end_time / _NS,
        name=span.name,
        start=span.start_time / _NS,
        span_id=format(context.span_id, "016x") if context is not None else "",
        parent_id=format(parent.span_id, "016x") if parent is not None else None,
        attributes=attributes,
    )


class SpanCapture(SpanProcessor):
    """Turns each finished span lkmon keeps into a ``TraceSpan`` and hands it to ``target``.

    ``on_end`` runs on the thread that ended the span; the event reaches ``target`` on the
    event loop's thread (directly when already on it). Never raises into LiveKit.
    """

    def __init__(self) -> None:
        self.target: tuple[Callable[[Event], None], asyncio.AbstractEventLoop, int] | None = None
        self.captured = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is None:
            return
        try:
            event = trace_span(span)
            if event is None:
                return
            self.captured += 1
            emit, loop, thread = target
            if threading.get_ident() == thread:
                emit(event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(emit, event)
        except Exception:  # runs inside LiveKit's span end: never raise into the agent; logged
            logger.exception("lkmon span capture failed on %s", span.name)

    def shutdown(self) -> None:
        self.target = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_capture = SpanCapture()
_added: list[TracerProvider] = []  # providers holding _capture (few: one per process, usually)


def install(emit: Callable[[Event], None]) -> str:
    """Route LiveKit's spans to ``emit`` (as ``TraceSpan`` events); call on the event loop's
    thread. Returns how: ``"added"`` (to the agent's SDK tracer provider) or ``"own"`` (lkmon
    gave LiveKit its own provider).

    Raises:
        RuntimeError: no running event loop on this thread.
    """
    _capture.target = (emit, asyncio.get_running_loop(), threading.get_ident())
    provider = compat.livekit_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = trace_api.get_tracer_provider()  # a proxy delegates to the global one
    if isinstance(provider, TracerProvider):
        if not any(p is provider for p in _added):
            provider.add_span_processor(_capture)
            _added.append(provider)
        return "added"
    from livekit.agents.telemetry import set_tracer_provider

    own = TracerProvider()
    own.add_span_processor(_capture)
    _added.append(own)
    set_tracer_provider(own, allow_pii=False)
    return "own"


def uninstall() -> None:
    """Stop handing spans over (the processor stays on its provider, idle)."""
    _capture.target = None


def captured() -> int:
    """Spans handed over since the process started."""
    return _capture.captured
