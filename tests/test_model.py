"""The pure model: scripted sessions folded in, asserting turns, joins and statistics."""

from __future__ import annotations

import statistics

import pytest

from lkmon.model.areas import Area
from lkmon.model.events import (
    AgentTranscript,
    AudioLevel,
    ChatMessageAdded,
    ErrorRaised,
    LogRecord,
    PluginMetrics,
    SpeechCreated,
    SpeechDone,
    UserTranscribed,
    VadActivity,
)
from lkmon.model.state import SessionModel
from lkmon.model.stats import LatencySummary, StageStats
from tests.synthetic import T0, Script, demo_session, synthetic_session


@pytest.fixture(scope="module")
def demo() -> SessionModel:
    model = SessionModel()
    model.apply_many(demo_session())
    return model


def fold(events: list) -> SessionModel:
    model = SessionModel()
    model.apply_many(events)
    return model


def test_demo_session_has_eight_turns_in_order(demo: SessionModel) -> None:
    assert [t.index for t in demo.turns] == list(range(1, 9))
    assert all(t.speech_id for t in demo.turns)
    assert len({t.speech_id for t in demo.turns}) == 8
    assert demo.session.started_at == T0
    assert demo.session.close_reason == "user_initiated"
    assert demo.session.duration == pytest.approx(demo.session.closed_at - T0)


def test_greeting_has_no_user_turn(demo: SessionModel) -> None:
    greeting = demo.turns[0]
    assert greeting.greeting and greeting.user_text is None
    assert greeting.agent_text == "Hello! How can I help you today?"
    assert greeting.metrics.e2e_latency is None
    assert greeting.metrics.eou_delay is None
    assert greeting.metrics.llm_ttft == pytest.approx(0.31)
    assert greeting.complete


def test_spoken_turn_joins_eou_llm_tts_stt_by_speech_id(demo: SessionModel) -> None:
    turn = demo.turns[1]
    assert turn.user_text == "What is the capital of France?"
    assert turn.agent_text == "The capital of France is Paris."
    m = turn.metrics
    assert m.eou_delay == pytest.approx(0.55)
    assert m.transcription_delay == pytest.approx(0.22)
    assert m.llm_ttft == pytest.approx(0.31)
    assert m.tts_ttfb == pytest.approx(0.18)
    assert m.e2e_latency is not None and 0 < m.e2e_latency < 3
    assert m.user_stopped_speaking_at is not None
    assert m.e2e_latency == pytest.approx(m.agent_started_speaking_at - m.user_stopped_speaking_at)
    kinds = [p.kind for p in turn.plugin_metrics]
    assert kinds.count("stt") == 1 and kinds.count("eou") == 1 and kinds.count("llm") == 1
    assert kinds.count("tts") == 1
    assert not turn.typed and turn.complete and not turn.failed


def test_typed_turn_has_no_user_timings_and_no_e2e(demo: SessionModel) -> None:
    turn = demo.turns[2]
    assert turn.typed
    assert turn.user_text == "And of Spain?"
    m = turn.metrics
    assert m.e2e_latency is None  # never 0
    assert m.eou_delay is None and m.transcription_delay is None
    assert m.user_started_speaking_at is None and m.user_stopped_speaking_at is None
    assert m.llm_ttft == pytest.approx(0.27) and m.tts_ttfb == pytest.approx(0.2)
    assert not [p for p in turn.plugin_metrics if p.kind in ("eou", "stt")]


def test_tool_call_turn_keeps_every_llm_metric_under_one_speech_id(demo: SessionModel) -> None:
    turn = demo.turns[3]
    llm = turn.plugin_metrics_of("llm")
    assert len(llm) == 2
    assert {p.speech_id for p in llm} == {turn.speech_id}
    assert [c.name for c in turn.tool_calls] == ["get_time"]
    assert turn.tool_calls[0].output == "09:10"
    # tokens add up over both LLM calls
    assert turn.metrics.completion_tokens == sum(p.values["completion_tokens"] for p in llm)
    assert turn.metrics.prompt_tokens == sum(p.values["prompt_tokens"] for p in llm)
    # TTFT is the turn's (assistant MetricsReport), not the sum
    assert turn.metrics.llm_ttft == pytest.approx(0.42)
    tool_lines = [e for e in demo.transcript if e.role == "tool"]
    assert tool_lines and "get_time({}) -> 09:10" in tool_lines[0].text
    assert tool_lines[0].turn == 4


def test_interrupted_turn_sets_the_unheard_part_apart(demo: SessionModel) -> None:
    turn = demo.turns[4]
    assert turn.interrupted
    assert turn.agent_text == "Once upon a time there"
    assert turn.unheard_text == "was a"
    entry = next(e for e in demo.transcript if e.role == "agent" and e.turn == 5)
    assert entry.interrupted and entry.text == "Once upon a time there"
    assert entry.unheard_text == "was a"
    assert not entry.interim


def test_metrics_after_their_message_and_user_message_before_speech(demo: SessionModel) -> None:
    turn = demo.turns[5]
    assert turn.user_text == "Sorry, go on."
    assert turn.agent_text == "No problem. The robot liked to read."
    assert len(turn.plugin_metrics_of("llm")) == 1
    assert len(turn.plugin_metrics_of("tts")) == 2
    assert turn.metrics.completion_tokens is not None
    assert turn.metrics.eou_delay == pytest.approx(0.8)
    user_entry = next(e for e in demo.transcript if e.role == "user" and e.text == "Sorry, go on.")
    assert user_entry.turn == 6  # joined late, from the pending user message


def test_missing_speech_id_falls_back_and_says_so(demo: SessionModel) -> None:
    turn = demo.turns[6]
    assert turn.user_text == "Thank you."
    assert turn.agent_text == "You are welcome."
    assert turn.metrics.eou_delay == pytest.approx(0.6)
    assert turn.metrics.e2e_latency is not None
    assert {p.kind for p in turn.plugin_metrics} >= {"eou", "llm", "tts"}
    assert demo.fallback_joins >= 4
    assert any("without speech_id" in n and "turn 7" in n for n in demo.join_notes)
    # nothing leaked into the neighbours
    assert demo.turns[5].agent_text == "No problem. The robot liked to read."
    assert demo.turns[7].agent_text is None


def test_error_with_speech_id_marks_the_turn_failed(demo: SessionModel) -> None:
    turn = demo.turns[7]
    assert turn.failed and turn.complete
    assert turn.errors[0].message == "llm stalled for 10.0 s"
    assert demo.error_count == 1 and demo.errors[-1].source == "llm"
    assert any(e.role == "system" and "llm stalled" in e.text for e in demo.transcript)
    assert [t.index for t in demo.turns if t.failed] == [8]


def test_summary_uses_statistics_quantiles(demo: SessionModel) -> None:
    summary = demo.summary()
    e2e = [t.metrics.e2e_latency for t in demo.turns if t.metrics.e2e_latency is not None]
    assert summary["e2e"].count == len(e2e) == 5
    q = statistics.quantiles(e2e, n=100, method="inclusive")
    assert summary["e2e"].p50 == pytest.approx(q[49])
    assert summary["e2e"].p95 == pytest.approx(q[94])
    assert summary["e2e"].max == max(e2e)
    worst = max(
        (t for t in demo.turns if t.metrics.e2e_latency), key=lambda t: t.metrics.e2e_latency
    )
    assert summary.worst_turn == worst.index == 4
    assert summary.worst_stage == worst.dominant_stage() == "eou"
    assert summary["llm_ttft"].count == 7  # every turn but the failed one
    assert summary["eou"].count == 6  # spoken turns only


def test_stage_stats_edge_cases() -> None:
    assert StageStats.of([]) == StageStats()
    one = StageStats.of([0.5])
    assert (one.p50, one.p95, one.max, one.count) == (0.5, 0.5, 0.5, 1)
    empty = LatencySummary.of([])
    assert empty.worst_turn is None and empty["e2e"].p50 is None


def test_stages_and_dominant_stage(demo: SessionModel) -> None:
    turn = demo.turns[1]
    assert turn.stages() == {"eou": 0.55, "llm_ttft": 0.31, "tts_ttfb": 0.18}
    assert turn.dominant_stage() == "eou"
    assert demo.turns[7].stages()["llm_ttft"] is None


def test_turn_by_speech_id(demo: SessionModel) -> None:
    for turn in demo.turns:
        assert demo.turn_by_speech_id(turn.speech_id) is turn
    assert demo.turn_by_speech_id("nope") is None
    assert demo.turn_by_speech_id(None) is None


def test_an_error_livekit_only_logged_reports_the_log_area() -> None:
    """A LiveKit ERROR log record is also counted as an error; the areas it changes hold
    ``Area.LOG`` itself (they held the frozenset ``{Area.LOG}``, so the log pane did not refresh
    for it; found by mypy)."""
    model = SessionModel()
    changed = model.apply(
        LogRecord(ts=T0, level="ERROR", logger="livekit.agents", message="tts_node failed | x")
    )
    assert Area.LOG in changed and Area.ERRORS in changed
    assert all(isinstance(a, Area) for a in changed)
    assert [e.message for e in model.errors] == ["tts_node failed"]


def test_areas_reported_per_event() -> None:
    model = SessionModel()
    assert model.apply(UserTranscribed(ts=T0, text="hel", is_final=False)) == {Area.TRANSCRIPT}
    assert model.interim_user_text == "hel"
    assert model.apply(SpeechCreated(ts=T0, speech_id="s1")) == {Area.TURNS}
    assert model.apply(AudioLevel(ts=T0, source="mic", dbfs=-20.0)) == {Area.STATUS}
    assert model.levels.mic_dbfs == -20.0
    assert model.apply(LogRecord(ts=T0, level="INFO", logger="x", message="m")) == {Area.LOG}
    assert Area.ERRORS in model.apply(ErrorRaised(ts=T0, source="tts", message="boom"))
    vad = PluginMetrics(
        ts=T0,
        kind="vad",
        values={"inference_count": 32, "inference_duration_total": 0.032, "idle_time": 1.0},
    )
    assert model.apply(vad) == {Area.VAD}
    assert model.vad.inference_per_audio_second == pytest.approx(0.032 / (32 * 0.032))
    assert model.vad.idle_time == 1.0
    assert model.apply(object()) == set()  # type: ignore[arg-type]


def test_transcript_streams_agent_text_then_takes_the_message() -> None:
    model = SessionModel()
    model.apply(SpeechCreated(ts=T0, speech_id="s1", user_initiated=True, source="say"))
    model.apply(AgentTranscript(ts=T0 + 1, text="Hi", speech_id="s1"))
    model.apply(AgentTranscript(ts=T0 + 1.1, text=" there", speech_id="s1"))
    entry = model.transcript[-1]
    assert entry.role == "agent" and entry.text == "Hi there" and entry.interim
    model.apply(
        ChatMessageAdded(
            ts=T0 + 2,
            item_id="i1",
            role="assistant",
            text="Hi there.",
            speech_id="s1",
            metrics={"started_speaking_at": T0 + 1},
        )
    )
    assert len(model.transcript) == 1
    assert model.transcript[-1].text == "Hi there." and not model.transcript[-1].interim
    assert model.turns[0].complete  # assistant message with metrics, before SpeechDone
    model.apply(SpeechDone(ts=T0 + 2.1, speech_id="s1", item_ids=["i1"]))
    assert model.turns[0].done


def test_speech_done_rejoins_a_misjoined_assistant_message() -> None:
    """Two turns in flight; the assistant message has no speech_id and lands on the older one
    by the fallback; SpeechDone(item_ids) moves it to its real turn."""
    model = SessionModel()
    model.apply(SpeechCreated(ts=T0, speech_id="a", user_initiated=True, source="say"))
    model.apply(SpeechCreated(ts=T0 + 0.1, speech_id="b", user_initiated=True))
    model.apply(
        ChatMessageAdded(
            ts=T0 + 1, item_id="ib", role="assistant", text="for b", metrics={"llm_node_ttft": 0.3}
        )
    )
    assert model.turns[0].agent_text == "for b"  # the guess
    model.apply(SpeechDone(ts=T0 + 1.1, speech_id="b", item_ids=["ib"]))
    assert model.turns[1].agent_text == "for b"
    assert model.turns[1].metrics.llm_ttft == 0.3
    assert model.turns[0].agent_text is None and model.turns[0].metrics.llm_ttft is None
    assert any("re-joined" in n for n in model.join_notes)
    entry = next(e for e in model.transcript if e.item_id == "ib")
    assert entry.turn == 2 and entry.speech_id == "b"


def test_stray_user_message_without_reply_is_not_joined_to_a_later_turn() -> None:
    model = SessionModel()
    model.apply(ChatMessageAdded(ts=T0, item_id="u1", role="user", text="ignored"))
    model.apply(SpeechCreated(ts=T0 + 30, speech_id="s1", user_initiated=True, source="say"))
    assert model.turns[0].user_text is None
    assert model.transcript[0].text == "ignored" and model.transcript[0].turn is None


def test_metrics_without_any_turn_are_kept_unjoined() -> None:
    model = SessionModel()
    model.apply(PluginMetrics(ts=T0, kind="llm", values={"ttft": 0.2}))
    assert model.turns == []
    assert len(model.unjoined_metrics) == 1
    assert model.join_notes


def test_vad_trace_covers_30_seconds_and_counts_speech() -> None:
    model = fold(synthetic_session(turns=12))
    vad = model.vad
    assert vad.trace
    span = vad.trace[-1][0] - vad.trace[0][0]
    assert 25.0 <= span <= 30.0
    assert vad.speech_count == 11
    assert vad.speech_total == pytest.approx(11 * 1.8)
    assert vad.realtime_factor == pytest.approx(0.0352 / (32 * 0.032))
    assert vad.inference_count > 0 and vad.metrics_count > 0


def silero_like_pause(model: SessionModel, end_ts: float, windows: int, *, inference: bool) -> None:
    """End of speech at ``end_ts`` (0.3 s of silence confirmed), start ``windows`` x 32 ms later
    (64 ms of speech confirmed), as Silero reports them; with or without the (decimated)
    inference events in between, which do not change the figure."""
    model.apply(VadActivity(ts=end_ts, event="end_of_speech", speech_duration=1.5,
                            silence_duration=0.3))
    if inference:
        for i in range(1, windows + 1):
            model.apply(VadActivity(ts=end_ts + 0.032 * i, event="inference",
                                    silence_duration=0.3 + 0.032 * i))
    model.apply(VadActivity(ts=end_ts + 0.032 * windows, event="start_of_speech", speaking=True,
                            speech_duration=0.064))


@pytest.mark.parametrize("inference", [True, False], ids=["with-inference", "boundaries-only"])
def test_vad_silence_total_is_the_pauses_between_speech(inference: bool) -> None:
    """Each pause runs from where the speech really ended (end_of_speech.ts - silence_duration)
    to where the next really began (start_of_speech.ts - speech_duration)."""
    model = SessionModel()
    model.apply(VadActivity(ts=T0 + 2.0, event="start_of_speech", speaking=True,
                            speech_duration=0.064))  # the silence before it is not a pause
    silero_like_pause(model, T0 + 4.0, 35, inference=inference)
    silero_like_pause(model, T0 + 8.0, 50, inference=inference)
    # pauses: (35 x 32 ms + 0.3 - 0.064) and (50 x 32 ms + 0.3 - 0.064)
    assert model.vad.silence_total == pytest.approx(1.356 + 1.836, abs=1e-6)
    assert model.vad.speech_count == 3
    model.apply(VadActivity(ts=T0 + 12.0, event="end_of_speech", speech_duration=1.0,
                            silence_duration=0.3))  # trailing silence: not a pause either
    assert model.vad.silence_total == pytest.approx(3.192, abs=1e-6)


def test_memory_stays_bounded_except_turns() -> None:
    model = SessionModel(max_events=500)
    model.apply_many(synthetic_session(turns=60))
    assert len(model.turns) == 60
    assert len(model.events) == 500 and model.events_dropped > 0
    assert not model.events_complete
    assert len(model.vad.trace) <= model.vad.trace.maxlen
    assert model.transcript.maxlen is not None and model.logs.maxlen is not None
    assert all(not t.spoken_text for t in model.turns)  # freed once done


def test_compacted_turns_keep_their_figures() -> None:
    """Finished turns older than the last few drop their raw messages; figures stay, and a
    late metric still recomputes them correctly."""
    full = SessionModel()
    events = synthetic_session(turns=20, background=False)
    full.apply_many(events)
    old = full.turns[3]
    assert old.message_figures is not None and old.user_message is None
    assert old.user_text and old.agent_text and old.metrics.e2e_latency is not None
    llm = old.plugin_metrics_of("llm")[0]
    assert llm.values["ttft"] > 0 and "prompt_tokens" in llm.values
    assert dict(llm.values) == next(
        e.values
        for e in events
        if isinstance(e, PluginMetrics) and e.speech_id == old.speech_id and e.kind == "llm"
    )
    before = old.metrics
    old.recompute()
    assert old.metrics == before and old.agent_text and old.user_text
    full.apply(
        PluginMetrics(
            ts=T0 + 999,
            kind="llm",
            speech_id=old.speech_id,
            values={"ttft": 9.0, "prompt_tokens": 5, "completion_tokens": 1},
        )
    )
    assert old.metrics.e2e_latency == before.e2e_latency
    assert old.metrics.llm_ttft == before.llm_ttft  # the MetricsReport still wins
    assert old.metrics.prompt_tokens == before.prompt_tokens + 5


def test_usage_is_the_latest_session_total_and_local_costs_zero(demo: SessionModel) -> None:
    kinds = {u.kind for u in demo.usage}
    assert kinds == {"stt", "llm", "tts"}
    llm = next(u for u in demo.usage if u.kind == "llm")
    assert llm.input_tokens == sum(t.metrics.prompt_tokens or 0 for t in demo.turns)
    assert demo.total_cost() == 0.0
    assert all(c.local and c.cost == 0.0 for c in demo.costs())


def test_apply_many_returns_the_union() -> None:
    s = Script(background=False).start()
    s.greeting()
    areas = SessionModel().apply_many(s.flush())
    assert {Area.SESSION, Area.STATUS, Area.TURNS, Area.TRANSCRIPT, Area.USAGE} <= areas


def test_wrong_speech_id_on_an_assistant_message_is_corrected_by_speech_done() -> None:
    """The bridge tags assistant messages with ``AgentSession.current_speech``, which can
    already be the next speech; the handle's own item list wins."""
    model = SessionModel()
    model.apply(SpeechCreated(ts=T0, speech_id="a"))
    model.apply(SpeechCreated(ts=T0 + 0.1, speech_id="b"))
    model.apply(
        ChatMessageAdded(
            ts=T0 + 1,
            item_id="ia",
            role="assistant",
            text="for a",
            speech_id="b",
            metrics={"e2e_latency": 1.2},
        )
    )
    assert model.turns[1].agent_text == "for a"
    model.apply(SpeechDone(ts=T0 + 1.1, speech_id="a", item_ids=["ia"]))
    assert model.turns[0].agent_text == "for a" and model.turns[0].metrics.e2e_latency == 1.2
    assert model.turns[1].agent_text is None and model.turns[1].metrics.e2e_latency is None


def test_speech_done_before_the_message_links_it() -> None:
    model = SessionModel()
    model.apply(SpeechCreated(ts=T0, speech_id="a"))
    model.apply(SpeechCreated(ts=T0 + 0.1, speech_id="b"))
    model.apply(SpeechDone(ts=T0 + 1, speech_id="b", item_ids=["ib"]))
    model.apply(ChatMessageAdded(ts=T0 + 1.1, item_id="ib", role="assistant", text="late"))
    assert model.turns[1].agent_text == "late" and model.turns[0].agent_text is None
    assert model.fallback_joins == 0


def test_stt_errors_fail_no_turn() -> None:
    model = SessionModel()
    model.apply(SpeechCreated(ts=T0, speech_id="a"))
    model.apply(ErrorRaised(ts=T0 + 1, source="stt", message="no network", speech_id="a"))
    assert not model.turns[0].failed and model.error_count == 1
    model.apply(ErrorRaised(ts=T0 + 2, source="tts", message="no audio"))  # no speech_id
    assert model.turns[0].failed and model.turns[0].errors[0].message == "no audio"
    assert any("tts error without speech_id" in n for n in model.join_notes)


def test_recoverable_stt_error_marks_the_turn_that_answers_the_speech() -> None:
    """LiveKit retried the recognition: the error joins the next spoken turn (by its EOU metric);
    an unrecoverable one (the speech was lost) or one too old joins no turn."""
    model = SessionModel()
    s = Script(background=False).start()
    s.emit(s.now, ErrorRaised, source="stt", message="retrying", recoverable=True)
    s.spoken_turn("hello", "Hi there.")  # the retry worked: this turn answers that speech
    s.emit(s.now + 0.5, ErrorRaised, source="stt", message="retrying", recoverable=True)
    s.emit(s.now + 1.0, ErrorRaised, source="stt", message="gave up", recoverable=False)
    s.idle(2.0)
    s.spoken_turn("again", "Yes.")  # new speech: not hit by the lost one's errors
    s.emit(s.now, ErrorRaised, source="stt", message="retrying", recoverable=True)
    s.idle(30.0)
    s.spoken_turn("late", "Ok.")  # 30 s later: not the speech that error hit
    model.apply_many(s.flush())
    first, second, third = model.turns
    assert first.failed and [e.message for e in first.errors] == ["retrying"]
    assert not second.failed and not second.errors
    assert not third.failed and not third.errors
    assert model.error_count == 4


def test_model_snapshot_and_report_import_neither_textual_nor_livekit() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lkmon.model.state, lkmon.store.snapshot, lkmon.report.html\n"
        "from lkmon.store.snapshot import load_session\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'livekit'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_summary_is_cached_until_turns_change() -> None:
    model = SessionModel()
    s = Script(background=False).start()
    s.spoken_turn("hi", "Hello there.")
    model.apply_many(s.drain())
    first = model.summary()
    assert model.summary() is first
    model.apply(AudioLevel(ts=T0 + 99, source="mic", dbfs=-30.0))
    assert model.summary() is first
    s.spoken_turn("again", "Hello again.")
    model.apply_many(s.drain())
    assert model.summary() is not first and model.summary()["e2e"].count == 2
