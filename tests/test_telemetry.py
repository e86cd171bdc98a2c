"""lkmon's span capture (lkmon.agent.observe.telemetry) on LiveKit's own tracer."""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import TracerProvider

from lkmon.agent.observe import compat, telemetry
from lkmon.model.events import Event, TraceSpan


def test_trace_span_keeps_timings_and_drops_content() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("user_turn") as parent:
        parent.set_attributes({"lk.end_of_turn_delay": 0.8, "lk.pii.user_transcript": "secret",
                               "lk.chat_ctx": "[...]", "lk.participant_identity": "bob"})
        with tracer.start_as_current_span("eou_wait") as child:
            child.set_attribute("lk.eou.endpointing_delay", 0.5)
    ev = telemetry.trace_span(child)  # type: ignore[arg-type]  # an SDK span is a ReadableSpan
    top = telemetry.trace_span(parent)  # type: ignore[arg-type]
    assert ev is not None and top is not None
    assert ev.parent_id == top.span_id and top.parent_id is None and len(ev.span_id) == 16
    assert ev.attributes == {"lk.eou.endpointing_delay": 0.5}
    assert top.attributes == {"lk.end_of_turn_delay": 0.8}
    assert 0 <= ev.duration < 1 and ev.start >= top.start
    with tracer.start_as_current_span("llm_node") as other:
        pass
    assert telemetry.trace_span(other) is None  # type: ignore[arg-type]


def test_install_captures_livekits_spans_and_keeps_a_users_provider() -> None:
    """With a user's SDK provider given to LiveKit, lkmon adds its processor to it (the user's
    processors still see every span); spans end up as events on the loop."""
    from livekit.agents.telemetry import set_tracer_provider, tracer
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    before = compat.livekit_tracer_provider()
    user = TracerProvider()
    exported = InMemorySpanExporter()
    user.add_span_processor(SimpleSpanProcessor(exported))
    set_tracer_provider(user, allow_pii=False)
    got: list[Event] = []

    async def run() -> str:
        how = telemetry.install(got.append)
        with tracer.start_as_current_span("eou_wait", attributes={"lk.eou.outcome": "committed"}):
            pass
        telemetry.uninstall()
        with tracer.start_as_current_span("eou_wait"):  # after uninstall: not handed over
            pass
        return how

    try:
        assert asyncio.run(run()) == "added"
    finally:
        set_tracer_provider(before)
    assert compat.livekit_tracer_provider() is before
    assert [type(e) for e in got] == [TraceSpan]
    assert got[0].attributes == {"lk.eou.outcome": "committed"}  # type: ignore[union-attr]
    assert len(exported.get_finished_spans()) == 2
