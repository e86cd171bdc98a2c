"""Each private or deprecated livekit-agents access in ``lkmon.agent.observe.compat``, checked
against the installed livekit classes (no mocks of LiveKit). A failure names the access and the
version, so a livekit-agents upgrade that breaks one says so at once instead of losing figures.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    llm,
    metrics,
    stt,
    testing,
    utils,
    vad,
)
from livekit.agents.voice import agent_activity, audio_recognition, events, io

from lkmon.agent.observe import compat
from lkmon.agent.observe.bridge import Bridge
from lkmon.model.events import ChatMessageAdded, Event, PluginMetrics, SpeechCreated, SpeechDone

VERSION = compat.installed_version()


def broken(access: str, what: str) -> str:
    """The message of a failed check: which access, which version, where to look."""
    return (
        f"livekit-agents {VERSION}: {access} {what} (checked on {compat.CHECKED_ON}); "
        "see lkmon/agent/observe/compat.py"
    )


# -- the version -------------------------------------------------------------------------------


def test_installed_livekit_agents_is_in_the_tested_range() -> None:
    assert compat.version_tested(VERSION), broken("the pin", f"is outside {compat.TESTED}")
    assert compat.check_version()


def test_tested_range_and_one_warning_on_an_untested_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for version, ok in (("1.8.9", True), ("1.8.12", True), ("1.8.10rc1", True),
                        ("1.8.8", False), ("1.9.0", False), ("2.0", False), (None, False)):
        assert compat.version_tested(version) is ok, version
    monkeypatch.setattr(compat, "installed_version", lambda: "1.9.0")
    monkeypatch.setattr(compat, "_warned", [])
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    compat.logger.addHandler(handler)  # the "lkmon" logger may not propagate (a log router)
    try:
        assert not compat.check_version()
        assert not compat.check_version()
    finally:
        compat.logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert lines == [f"livekit-agents 1.9.0 is not tested with lkmon (tested: {compat.TESTED}); "
                     "figures may be missing"]


# -- session metrics_collected (deprecated) ----------------------------------------------------


async def test_session_metrics_collected_reaches_the_base_emitter_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    access = "AgentSession 'metrics_collected' through EventEmitter.on"
    assert "metrics_collected" in typing.get_args(events.EventTypes), broken(access, "is gone")
    assert AgentSession.on is not utils.EventEmitter.on, broken(
        access, "is no longer deprecated: subscribe with session.on and drop the compat")
    session: AgentSession = AgentSession()
    got: list[Any] = []
    with caplog.at_level(logging.WARNING):
        undo = compat.on_session_metrics(session, got.append)
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()], broken(
        access, "logs the deprecation warning")
    eou = metrics.EOUMetrics(timestamp=1.0, end_of_utterance_delay=0.5, transcription_delay=0.2,
                             on_user_turn_completed_delay=0.01, speech_id="speech_x")
    session.emit("metrics_collected", events.MetricsCollectedEvent(metrics=eou))
    assert [ev.metrics for ev in got] == [eou], broken(access, "does not deliver")
    undo()
    session.emit("metrics_collected", events.MetricsCollectedEvent(metrics=eou))
    assert len(got) == 1, broken(access, "cannot be unsubscribed")


def test_eou_metrics_still_come_only_from_the_activity() -> None:
    access = "EOUMetrics emitted on the session by AgentActivity"
    fields = set(metrics.EOUMetrics.model_fields)
    assert {"end_of_utterance_delay", "transcription_delay", "on_user_turn_completed_delay",
            "speech_id", "timestamp"} <= fields, broken(access, f"has other fields: {fields}")
    source = inspect.getsource(agent_activity.AgentActivity)
    assert "EOUMetrics(" in source and 'emit("metrics_collected"' in source, broken(
        access, "is no longer made in voice/agent_activity.py")


# -- plugin metrics' speech_id, filled in place by the activity --------------------------------


def test_plugin_metrics_speech_id_is_written_by_the_activity_handler() -> None:
    access = "LLMMetrics/TTSMetrics.speech_id set in AgentActivity._on_metrics_collected"
    for cls in (metrics.LLMMetrics, metrics.TTSMetrics):
        assert "speech_id" in cls.model_fields, broken(access, f"{cls.__name__} has no speech_id")
        assert not cls.model_config.get("frozen"), broken(access, f"{cls.__name__} is frozen")
    handler = getattr(agent_activity.AgentActivity, "_on_metrics_collected", None)
    assert handler is not None, broken(access, "is gone")
    assert "ev.speech_id = " in inspect.getsource(handler), broken(access, "no longer sets it")


class _Echo(llm.LLM):
    """Streams one short reply (a real ``llm.LLM`` subclass; no network)."""

    @property
    def model(self) -> str:
        return "echo"

    @property
    def provider(self) -> str:
        return "lkmon-test"

    def chat(self, *, chat_ctx: Any, tools: Any = None,
             conn_options: Any = DEFAULT_API_CONNECT_OPTIONS, **kwargs: Any) -> llm.LLMStream:
        return _EchoStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _EchoStream(llm.LLMStream):
    async def _run(self) -> None:
        for word in ("Hello", " there."):
            await asyncio.sleep(0.01)
            self._event_ch.send_nowait(llm.ChatChunk(id="r1", delta=llm.ChoiceDelta(
                role="assistant", content=word)))
        self._event_ch.send_nowait(llm.ChatChunk(id="r1", usage=llm.CompletionUsage(
            completion_tokens=2, prompt_tokens=5, total_tokens=7)))


async def test_a_typed_turn_through_the_bridge_gets_each_llm_metric_once_with_its_speech_id(
) -> None:
    """The public path end to end: the LLM plugin's own ``metrics_collected``, read after the
    activity filled in ``speech_id``; the session's copy of the same metric is not taken twice."""
    seen: list[Event] = []
    session: AgentSession = AgentSession(llm=_Echo())
    agent = Agent(instructions="test")
    bridge = Bridge(session, seen.append)
    bridge.attach(agent)
    try:
        await session.start(agent)
        session.generate_reply(user_input="hi")
        for _ in range(200):
            await asyncio.sleep(0.02)
            if any(isinstance(e, SpeechDone) for e in seen):
                break
        await asyncio.sleep(0.05)
    finally:
        await session.aclose()
        bridge.detach()
    created = [e for e in seen if isinstance(e, SpeechCreated)]
    llm_metrics = [e for e in seen if isinstance(e, PluginMetrics) and e.kind == "llm"]
    replies = [e for e in seen if isinstance(e, ChatMessageAdded) and e.role == "assistant"]
    assert created and replies, seen
    access = "plugin metrics_collected with the activity's speech_id"
    assert len(llm_metrics) == 1, broken(access, f"came {len(llm_metrics)} times")
    assert llm_metrics[0].speech_id == created[0].speech_id, broken(access, "has no speech_id")
    assert llm_metrics[0].values["completion_tokens"] == 2
    assert "llm_node_ttft" in replies[0].metrics  # ChatMessage.metrics: the per-turn figures
    assert bridge.metrics.via_session == 0


# -- VAD streams -------------------------------------------------------------------------------


class _QuietStream(vad.VADStream):
    async def _main_task(self) -> None:
        async for _ in self._input_ch:
            pass


class _QuietVAD(vad.VAD):
    """A real ``vad.VAD`` subclass that never hears speech."""

    def __init__(self) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.032))

    def stream(self) -> vad.VADStream:
        return _QuietStream(self)


class _BatchSTT(stt.STT):
    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))

    async def _recognize_impl(self, buffer: Any, *, language: Any = None,
                              conn_options: Any = None) -> stt.SpeechEvent:
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT)


async def test_the_stt_adapters_vad_stream_is_told_apart_from_the_pipelines() -> None:
    access = "sys._getframe: stt.StreamAdapter opening VAD.stream()"
    quiet = _QuietVAD()
    wrapped: list[Any] = []
    compat.tap_vad_streams(quiet, lambda inner: wrapped.append(inner) or inner)
    try:
        adapter = stt.StreamAdapter(stt=_BatchSTT(), vad=quiet)
        stream = adapter.stream()
        stream.push_frame(rtc.AudioFrame(np.zeros(160, np.int16).tobytes(), 16000, 1, 160))
        await asyncio.sleep(0.05)
        assert wrapped == [], broken(access, "no longer comes from livekit.agents.stt")
        await stream.aclose()
        own = quiet.stream()  # opened here, as the voice pipeline opens it
        assert wrapped == [own], broken("VAD.stream replaced on the instance", "is not called")
        await own.aclose()
    finally:
        compat.untap_vad_streams(quiet)
    assert "stream" not in vars(quiet) and type(quiet.stream()) is _QuietStream
    source = inspect.getsource(audio_recognition)
    assert "vad.stream()" in source, broken(
        "VAD.stream() opened in livekit.agents.voice.audio_recognition", "moved")
    assert not audio_recognition.__name__.startswith(compat.STT_ADAPTER_MODULE)


# -- running a job in-process ------------------------------------------------------------------


def test_session_start_and_wait_for_participant_can_be_intercepted() -> None:
    access = "AgentSession.start / JobContext.wait_for_participant replaced"
    params = inspect.signature(AgentSession.start).parameters
    for name in ("agent", "room", "room_options", "room_input_options", "room_output_options",
                 "record"):
        assert name in params, broken(access, f"start() has no {name!r} parameter")
    assert inspect.iscoroutinefunction(AgentSession.start), broken(access, "start is not async")
    assert inspect.iscoroutinefunction(JobContext.wait_for_participant), broken(
        access, "wait_for_participant is not async")
    original, original_wait = AgentSession.start, JobContext.wait_for_participant

    async def stand_in(_ctx: Any, **kwargs: Any) -> str:
        return "participant"

    def make_start(start: compat.StartFn) -> compat.StartFn:
        async def wrapped(session: Any, *args: Any, **kwargs: Any) -> Any:
            return await start(session, *args, **kwargs)

        return wrapped

    with compat.intercept_session_start(make_start, stand_in):
        assert AgentSession.start is not original and JobContext.wait_for_participant is stand_in
    assert AgentSession.start is original and JobContext.wait_for_participant is original_wait


async def test_job_shutdown_hook_and_callbacks() -> None:
    done: list[str] = []

    async def on_end(reason: str) -> None:
        done.append(f"callback {reason}")

    async def on_end_no_reason() -> None:
        done.append("callback")

    with testing.fake_job_context() as ctx:
        assert hasattr(ctx, "_on_shutdown"), broken("JobContext._on_shutdown", "is gone")
        compat.on_job_shutdown(ctx, lambda reason: done.append(f"shutdown {reason}"))
        ctx.shutdown("bye")
        assert done == ["shutdown bye"], broken("JobContext._on_shutdown", "is not called")
        ctx.add_shutdown_callback(on_end)
        ctx.add_shutdown_callback(on_end_no_reason)
        callbacks = compat.shutdown_callbacks(ctx)
        assert len(callbacks) == 2, broken("JobContext._shutdown_callbacks", "is gone")
        for cb in callbacks:
            await cb("ended")
    assert done == ["shutdown bye", "callback ended", "callback"]


def test_server_entrypoint_and_session_end() -> None:
    server = AgentServer()

    async def end(ctx: Any) -> None:
        return None

    @server.rtc_session(on_session_end=end)
    async def entry(ctx: Any) -> None:
        return None

    assert compat.server_entrypoint(server) is entry, broken("AgentServer._entrypoint_fnc", "gone")
    assert compat.server_session_end(server) is end, broken("AgentServer._session_end_fnc", "gone")
    assert compat.server_entrypoint(AgentServer()) is None


# -- audio output and errors -------------------------------------------------------------------


class _Sink(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(label="test", capabilities=io.AudioOutputCapabilities(pause=False))

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)

    def flush(self) -> None:
        super().flush()

    def clear_buffer(self) -> None:
        compat.end_segment_capture(self)


async def test_a_cleared_segment_is_closed_in_livekits_count() -> None:
    access = "the base AudioOutput.flush resetting its segment counter"
    sink = _Sink()
    frame = rtc.AudioFrame(np.zeros(240, np.int16).tobytes(), 24000, 1, 240)
    await sink.capture_frame(frame)
    await sink.capture_frame(frame)
    assert sink.captured_playout_segments == 1, broken(access, "counts frames, not segments")
    sink.clear_buffer()  # cut mid-segment, no flush
    await sink.capture_frame(frame)
    assert sink.captured_playout_segments == 2, broken(access, "no longer ends the segment")


async def test_the_unrecoverable_stt_error_count_can_be_reset() -> None:
    access = "AgentSession._stt_error_counts"
    session: AgentSession = AgentSession()
    assert isinstance(getattr(session, "_stt_error_counts", None), int), broken(access, "gone")
    source = inspect.getsource(AgentSession._on_error)
    assert "_stt_error_counts" in source and "max_unrecoverable_errors" in source, broken(
        access, "no longer decides when STT errors close the session")
    session._stt_error_counts = 3
    assert compat.reset_stt_error_count(session) and session._stt_error_counts == 0
    assert not compat.reset_stt_error_count(object())


def test_livekit_tracer_provider_is_the_one_given_to_set_tracer_provider() -> None:
    from livekit.agents.telemetry import set_tracer_provider
    from opentelemetry.sdk.trace import TracerProvider

    before = compat.livekit_tracer_provider()
    assert before is not None, (
        "livekit.agents.telemetry.traces.tracer._tracer_provider is gone (checked on "
        f"{compat.CHECKED_ON}): lkmon cannot add its span processor to a user's provider")
    mine = TracerProvider()
    set_tracer_provider(mine)
    try:
        assert compat.livekit_tracer_provider() is mine, (
            "LiveKit's tracer no longer keeps the provider set_tracer_provider gives it in "
            f"_tracer_provider (checked on {compat.CHECKED_ON})")
    finally:
        set_tracer_provider(before)
