"""Turns of agents as LiveKit users write them: preemptive replies, STT-only, handoffs, errors.

Each session here is hand-ordered as livekit-agents 1.8.9 emits it for the case (see the
docstring of ``lkmon.model.join``); the end-to-end proof with the real OpenAI plugin classes
over HTTP is in ``test_openai_agents.py``.
"""

from __future__ import annotations

from lkmon.model.events import (
    AgentHandedOff,
    ChatMessageAdded,
    Event,
    LogRecord,
    PluginMetrics,
    SessionStarted,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UserStateChanged,
    UserTranscribed,
    VadActivity,
)
from lkmon.model.state import SessionModel
from lkmon.store.snapshot import build_snapshot, load_session, write_snapshot

T0 = 1_767_225_600.0
MODELS = {"vad": "silero/onnx", "stt": "api.openai.com/gpt-4o-mini-transcribe",
          "llm": "api.openai.com/gpt-4.1", "tts": "api.openai.com/gpt-4o-mini-tts"}


def t(s: float) -> float:
    return T0 + s


def llm(at: float, sid: str, ttft: float, completion: int = 12) -> PluginMetrics:
    return PluginMetrics(t(at), "llm", "livekit.plugins.openai.llm.LLM", "api.openai.com",
                         "gpt-4.1", sid, None, {"ttft": ttft, "duration": ttft + 0.2,
                                                "prompt_tokens": 100, "completion_tokens":
                                                completion, "prompt_cached_tokens": 0})


def eou(at: float, sid: str, delay: float, transcription: float) -> PluginMetrics:
    return PluginMetrics(t(at), "eou", "", "vad", "unknown", sid, None, {
        "end_of_utterance_delay": delay, "transcription_delay": transcription,
        "on_user_turn_completed_delay": 0.001})


def speech(at: float, start: float, stop: float) -> list[Event]:
    """The user speaks from ``start`` to ``stop`` (VAD events come ``at`` their detections)."""
    return [
        UserStateChanged(t(start + 0.1), "listening", "speaking"),
        VadActivity(t(start + 0.1), "start_of_speech", 0.9, True, 0.1, 0.0, 0.001),
        VadActivity(t(stop + 0.3), "end_of_speech", 0.1, False, stop - start, 0.3, 0.001),
        UserStateChanged(t(stop + 0.3), "speaking", "listening"),
    ]


def greeting() -> list[Event]:
    return [
        SessionStarted(t(0), "agent.py", dict(MODELS), "wav: a.wav", "null", "0.2"),
        SpeechCreated(t(0.1), "speech_g", "generate_reply", True, scheduled=True),
        llm(0.5, "speech_g", 0.3),
        ChatMessageAdded(t(2.0), "item_g", "assistant", "Hello!", metrics={
            "llm_node_ttft": 0.3, "tts_node_ttfb": 0.2, "started_speaking_at": t(1.0),
            "stopped_speaking_at": t(2.0)}, speech_id="speech_g"),
        SpeechDone(t(2.0), "speech_g", False, ["item_g"], scheduled=True),
    ]


def reply(sid: str, at: float, stopped: float, *, ttft: float = 0.4, e2e: float = 1.5,
          user_item: str = "item_u", text: str = "a reply") -> list[Event]:
    """The assistant side of a spoken turn whose EOU already came."""
    return [
        ChatMessageAdded(t(at), user_item, "user", "my question", metrics={
            "started_speaking_at": t(stopped - 2), "stopped_speaking_at": t(stopped),
            "transcription_delay": 0.4, "end_of_turn_delay": 0.6,
            "on_user_turn_completed_delay": 0.001}),
        llm(at + 0.3, sid, ttft),
        ChatMessageAdded(t(at + 3), f"item_a_{sid}", "assistant", text, metrics={
            "llm_node_ttft": ttft, "tts_node_ttfb": 0.3, "e2e_latency": e2e,
            "started_speaking_at": t(stopped + e2e), "stopped_speaking_at": t(at + 3)},
            speech_id=sid),
        SpeechDone(t(at + 3), sid, False, [user_item, f"item_a_{sid}"], scheduled=True),
    ]


def test_a_discarded_preemptive_reply_folds_into_the_turn_it_anticipated() -> None:
    """The user pauses mid-utterance: LiveKit starts a reply on the final transcript, the user
    goes on, the reply is thrown away unscheduled; a second preemptive reply is kept."""
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        UserTranscribed(t(5.6), "he was not", True),
        SpeechCreated(t(5.6), "speech_p1", "generate_reply", True, scheduled=False),
        llm(5.9, "speech_p1", 0.25),
        *speech(6, 6.0, 8.0),  # the user goes on
        SpeechDone(t(6.2), "speech_p1", True, [], scheduled=False),
        UserTranscribed(t(8.6), "he was not an ill disposed young man", True),
        SpeechCreated(t(8.6), "speech_p2", "generate_reply", True, scheduled=False),
        llm(8.9, "speech_p2", 0.3),
        eou(9.2, "speech_p2", 0.9, 0.6),  # the turn ends: the preemptive reply is kept
        *reply("speech_p2", 9.21, 8.0, ttft=0.3, e2e=1.6),
    ]
    model = SessionModel()
    model.apply_many(events)
    assert [turn.speech_id for turn in model.turns] == ["speech_g", "speech_p2"]
    greet, turn = model.turns
    assert greet.greeting and not turn.greeting and not turn.agent_initiated
    assert turn.preemptive and turn.metrics.llm_ttft == 0.3 and turn.metrics.e2e_latency == 1.6
    assert [d.speech_id for d in turn.discarded] == ["speech_p1"]
    assert turn.discarded[0].metrics.llm_ttft_first == 0.25
    assert model.discarded_count == 1
    # the discarded attempt's TTFT (0.25) is in no percentile
    assert model.summary()["llm_ttft"].count == 2
    assert sorted([greet.metrics.llm_ttft, turn.metrics.llm_ttft]) == [0.3, 0.3]

    snap = build_snapshot(model)
    assert snap["lkmon_snapshot"] == 5 and snap["session"]["turn_count"] == 2
    assert snap["session"]["discarded_reply_count"] == 1
    t2 = snap["turns"][1]
    assert t2["preemptive"] and t2["discarded"][0]["speech_id"] == "speech_p1"
    assert t2["discarded"][0]["llm_ttft"] == 0.25


def test_a_preemptive_reply_invalidated_after_the_turn_ended_folds_into_the_new_reply() -> None:
    """on_user_turn_completed changed the context: LiveKit cancels the preemptive reply and
    makes a new one for the same turn; its SpeechDone comes after the new turn's EOU."""
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        UserTranscribed(t(5.6), "what time is it", True),
        SpeechCreated(t(5.6), "speech_p1", "generate_reply", True, scheduled=False),
        eou(6.0, "speech_n", 0.7, 0.5),  # EOU of the new reply comes before its SpeechCreated
        SpeechCreated(t(6.0), "speech_n", "generate_reply", True, scheduled=True),
        SpeechDone(t(6.05), "speech_p1", True, [], scheduled=False),
        llm(6.2, "speech_p1", 0.2),  # the cancelled stream reports late
        *reply("speech_n", 6.01, 5.0),
    ]
    model = SessionModel()
    model.apply_many(events)
    assert [turn.speech_id for turn in model.turns] == ["speech_g", "speech_n"]
    turn = model.turns[1]
    assert not turn.preemptive and [d.speech_id for d in turn.discarded] == ["speech_p1"]
    assert turn.discarded[0].metrics.llm_ttft_first == 0.2  # the late metric still joined it
    assert turn.metrics.llm_ttft == 0.4 and model.summary()["llm_ttft"].count == 2


def test_an_old_journal_without_scheduled_still_folds_discarded_replies(tmp_path) -> None:
    """Format 1 / lkmon 0.1 journals have no ``scheduled``: a reply interrupted before it
    produced anything, after user speech and with no EOU, is taken for a discarded one."""
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    for ev in events:
        if isinstance(ev, SpeechCreated | SpeechDone):
            ev.scheduled = None
    events += [
        SpeechCreated(t(5.6), "speech_p1", "generate_reply", True),
        llm(5.9, "speech_p1", 0.25),
        SpeechDone(t(6.2), "speech_p1", True, []),
        eou(9.2, "speech_n", 0.9, 0.6),
        SpeechCreated(t(9.2), "speech_n", "generate_reply", True),
        *reply("speech_n", 9.21, 8.0),
    ]
    for ev in events[-4:]:
        if isinstance(ev, SpeechDone):
            ev.scheduled = None
    model = SessionModel()
    model.apply_many(events)
    assert [turn.speech_id for turn in model.turns] == ["speech_g", "speech_n"]
    assert [turn.index for turn in model.turns] == [1, 2]
    assert [d.speech_id for d in model.turns[1].discarded] == ["speech_p1"]


def test_no_greeting_after_user_speech_and_reasons_for_missing_figures() -> None:
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        UserTranscribed(t(5.6), "hi", True),
        # the transcript came after the turn was committed: LiveKit writes 0.0 for both
        eou(5.7, "speech_1", 0.0, 0.0),
        SpeechCreated(t(5.7), "speech_1", "generate_reply", True, scheduled=True),
        ChatMessageAdded(t(5.71), "item_u", "user", "hi",
                         metrics={"on_user_turn_completed_delay": 0.001}),
        llm(6.0, "speech_1", 0.3),
        ChatMessageAdded(t(8.0), "item_a", "assistant", "hello again", metrics={
            "llm_node_ttft": 0.3, "tts_node_ttfb": 0.2, "started_speaking_at": t(6.5),
            "stopped_speaking_at": t(8.0)}, speech_id="speech_1"),
        SpeechDone(t(8.0), "speech_1", False, ["item_u", "item_a"], scheduled=True),
        # code calls generate_reply later (no user message): agent-initiated, not a greeting
        SpeechCreated(t(9.0), "speech_2", "generate_reply", True, scheduled=True),
        ChatMessageAdded(t(10.0), "item_b", "assistant", "", metrics={
            "llm_node_ttft": 0.2}, speech_id="speech_2"),
        SpeechDone(t(10.0), "speech_2", False, ["item_b"], scheduled=True),
    ]
    model = SessionModel()
    model.apply_many(events)
    greet, spoken, later = model.turns
    assert greet.greeting and not spoken.greeting and not later.greeting
    assert later.agent_initiated and later.empty_reply and not spoken.empty_reply
    assert spoken.metrics.eou_delay is None and spoken.metrics.transcription_delay is None
    assert "0.0" in (spoken.eou_unknown_reason or "")
    # LiveKit gives no e2e (no speaking times): lkmon times it from the VAD's end of speech
    # (5.3 s minus its 0.3 s window) to the playback start at 6.5 s
    assert abs(spoken.metrics.e2e_latency - 1.5) < 1e-6 and spoken.e2e_missing_reason() is None
    assert spoken.measured == ("user_stopped_speaking_at", "e2e_latency")
    assert "agent-initiated" in (later.e2e_missing_reason() or "")
    assert model.summary()["eou"].count == 0  # the 0.0 is in no percentile
    snap = build_snapshot(model)
    assert snap["turns"][1]["metrics"]["eou_delay"] is None
    assert set(snap["turns"][1]["missing"]) == {"eou_delay", "heard_gap"}  # no audio measured
    assert "did not measure" in snap["turns"][1]["missing"]["heard_gap"]
    assert snap["turns"][1]["measured_by_lkmon"] == ["user_stopped_speaking_at", "e2e_latency"]
    assert snap["turns"][2]["empty_reply"] and snap["turns"][2]["agent_initiated"]


def test_an_stt_only_agent_gets_a_turn_per_final_transcript(tmp_path) -> None:
    models = {"vad": "silero/onnx", "stt": "api.openai.com/gpt-4o-mini-transcribe"}
    stt = PluginMetrics(t(5.7), "stt", "livekit.plugins.openai.stt.STT", "api.openai.com",
                        "gpt-4o-mini-transcribe", None, None,
                        {"duration": 0.35, "audio_duration": 2.4, "streamed": False})
    events: list[Event] = [
        SessionStarted(t(0), "transcriber.py", models, "wav: a.wav", "null", "0.2"),
        *speech(3, 3.0, 5.0),
        UserTranscribed(t(5.5), "he was", False),
        stt,
        UserTranscribed(t(5.8), "he was not an ill disposed young man", True),
        *speech(8, 8.0, 9.0),
        UserTranscribed(t(9.9), "go forward ten meters", True),
    ]
    model = SessionModel()
    model.apply_many(events)
    assert [turn.kind for turn in model.turns] == ["transcript", "transcript"]
    first, second = model.turns
    assert first.user_text == "he was not an ill disposed young man"
    # VAD end of speech at 5.3 s minus its 0.3 s window: speech ended at 5.0 s
    assert abs(first.metrics.transcription_delay - 0.8) < 1e-6
    assert abs(second.metrics.transcription_delay - 0.9) < 1e-6
    assert [p.kind for p in first.plugin_metrics] == ["stt"]
    assert first.plugin_metrics[0].values["audio_duration"] == 2.4
    assert not first.greeting and first.e2e_missing_reason() == "no reply: the agent has no LLM"
    assert [e.text for e in model.transcript if e.role == "user"] == [
        "he was not an ill disposed young man", "go forward ten meters"]
    loaded = load_session(write_snapshot(model, tmp_path / "s.json"))
    assert [turn.kind for turn in loaded.turns] == ["transcript", "transcript"]


def test_a_handoff_and_its_tool_call_join_the_turn_that_made_them() -> None:
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        AgentHandedOff(t(0.05), "item_h0", None, "triage"),  # the first agent: no turn
        eou(5.7, "speech_1", 0.6, 0.4),
        SpeechCreated(t(5.7), "speech_1", "generate_reply", True, scheduled=True),
        llm(6.0, "speech_1", 0.5),
        ToolCalled(t(6.3), "call_1", "transfer_to_billing", "{}", "ok", False, "speech_1"),
        AgentHandedOff(t(6.31), "item_h1", "triage", "billing", "speech_1"),
        llm(6.6, "speech_1", 0.35),
        *reply("speech_1", 5.71, 5.0, ttft=0.35, e2e=2.1)[:1],
        *reply("speech_1", 5.71, 5.0, ttft=0.35, e2e=2.1)[2:],
    ]
    model = SessionModel()
    model.apply_many(events)
    turn = model.turns[1]
    assert [h.new_agent for h in turn.handoffs] == ["billing"]
    assert [c.name for c in turn.tool_calls] == ["transfer_to_billing"]
    assert turn.metrics.llm_calls == 2
    assert turn.metrics.llm_ttft_first == 0.5 and turn.metrics.llm_ttft == 0.35
    assert not model.turns[0].handoffs
    snap = build_snapshot(model)
    assert snap["turns"][1]["handoffs"][0]["new_agent"] == "billing"
    assert snap["turns"][1]["metrics"]["llm_ttft_first"] == 0.5


def test_an_error_livekit_only_logs_counts_and_fails_its_turn() -> None:
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        eou(5.7, "speech_1", 0.6, 0.4),
        SpeechCreated(t(5.7), "speech_1", "generate_reply", True, scheduled=True),
        LogRecord(t(6.0), "ERROR", "livekit.agents", "Error in _tts_inference_task | "
                  "RuntimeError: `tts_node` called but no TTS node is available."),
    ]
    model = SessionModel()
    model.apply_many(events)
    assert model.error_count == 1 and model.errors_by_source == {"livekit": 1}
    assert model.turns[1].failed
    assert model.errors[0].message == "Error in _tts_inference_task"
    # an error LiveKit emits as an `error` event and also logs is counted once
    model.apply(LogRecord(t(6.5), "ERROR", "livekit.agents", "AgentSession is closing"))
    assert model.error_count == 1


def test_the_user_message_livekit_adds_at_close_joins_its_transcript_turn() -> None:
    """With no LLM, LiveKit adds the last final transcript to the chat when the session
    closes: it is the same utterance, not a second one."""
    models = {"vad": "silero/onnx", "stt": "api.openai.com/gpt-4o-mini-transcribe"}
    model = SessionModel()
    model.apply_many([
        SessionStarted(t(0), "transcriber.py", models, "wav: a.wav", "null", "0.2"),
        *speech(3, 3.0, 5.0),
        UserTranscribed(t(5.8), "he might even have been made amiable himself", True),
        ChatMessageAdded(t(5.81), "item_x", "user",
                         "he might even have been made amiable himself"),
    ])
    assert len(model.turns) == 1 and model.turns[0].user_message is not None
    users = [e for e in model.transcript if e.role == "user"]
    assert len(users) == 1 and users[0].item_id == "item_x" and users[0].turn == 1


def test_livekit_minus_one_for_a_cancelled_synthesis_is_unknown() -> None:
    """An interrupted reply: TTSMetrics.ttfb and tts_node_ttfb are -1.0 (seen with
    livekit-plugins-openai 1.8.9); that is no figure, and in no percentile."""
    events: list[Event] = [*greeting(), *speech(3, 3.0, 5.0)]
    events += [
        eou(5.7, "speech_1", 0.6, 0.4),
        SpeechCreated(t(5.7), "speech_1", "generate_reply", True, scheduled=True),
        ChatMessageAdded(t(5.71), "item_u", "user", "he was not", metrics={
            "stopped_speaking_at": t(5.0), "end_of_turn_delay": 0.6}),
        PluginMetrics(t(6.2), "tts", "livekit.plugins.openai.tts.TTS", "api.openai.com",
                      "gpt-4o-mini-tts", "speech_1", None, {"ttfb": -1.0, "cancelled": True}),
        ChatMessageAdded(t(6.3), "item_a", "assistant", "", interrupted=True,
                         metrics={"llm_node_ttft": 0.2, "tts_node_ttfb": -1.0},
                         speech_id="speech_1"),
        SpeechDone(t(6.3), "speech_1", True, ["item_a"], scheduled=True),
    ]
    model = SessionModel()
    model.apply_many(events)
    turn = model.turns[1]
    assert turn.metrics.tts_ttfb is None and turn.metrics.llm_ttft == 0.2
    assert model.summary()["tts_ttfb"].count == 1  # the greeting's only
    assert turn.e2e_missing_reason() == "interrupted before playback"
