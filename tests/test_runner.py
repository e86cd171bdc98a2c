"""SessionRunner on a real AgentSession (real Silero VAD, scripted STT/LLM/TTS, no network)."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import pytest

from lkmon.agent.host.loader import load_agent_file
from lkmon.agent.host.runner import RunOptions, SessionRunner
from lkmon.agent.observe import bridge as bridge_mod
from lkmon.errors import UsageError
from lkmon.model.events import (
    AgentStateChanged,
    AgentTranscript,
    ChatMessageAdded,
    ErrorRaised,
    LogRecord,
    PluginMetrics,
    SessionClosed,
    SessionStarted,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UsageUpdated,
    VadActivity,
)
from lkmon.store.journal import load_journal, read_journal
from lkmon.store.restore import load_session

DATA = Path(__file__).parent / "data"
AGENTS = DATA / "agents"
SCRIPTED = AGENTS / "scripted_agent.py"
WAV = DATA / "librivox_sense_0880.wav"  # 2.99 s


async def run_session(options: RunOptions) -> tuple[SessionRunner, list, float]:
    events: list = []
    runner = SessionRunner(options, events.append)
    start = time.monotonic()
    await asyncio.wait_for(runner.run(), 60)
    return runner, events, time.monotonic() - start


@pytest.fixture(scope="module")
def voice_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SessionRunner, list, float, Path]:
    journal = tmp_path_factory.mktemp("voice") / "s.journal.jsonl"
    options = RunOptions(
        agent_file=SCRIPTED, inputs=[str(WAV), str(WAV)], output="null", journal=journal, gap=0.5
    )
    runner, events, took = asyncio.run(run_session(options))
    return runner, events, took, journal


def of(events: list, cls: type) -> list:
    return [e for e in events if type(e) is cls]


@pytest.mark.models  # voice_run: two recordings in real time
def test_voice_turns_are_captured_end_to_end(voice_run) -> None:
    runner, events, took, _ = voice_run
    started = of(events, SessionStarted)
    assert len(started) == 1
    assert started[0].models == {
        "vad": "ONNX/silero",
        "stt": "scripted/scripted-stt",
        "llm": "scripted/scripted-llm",
        "tts": "scripted/scripted-tts",
    }
    assert started[0].input == "wav: librivox_sense_0880.wav, librivox_sense_0880.wav"
    created = of(events, SpeechCreated)
    done = of(events, SpeechDone)
    assert len(created) == 2 and [d.speech_id for d in done] == [c.speech_id for c in created]
    users = [m for m in of(events, ChatMessageAdded) if m.role == "user"]
    replies = [m for m in of(events, ChatMessageAdded) if m.role == "assistant"]
    assert [u.text for u in users] == ["hello number 1", "hello number 2"]
    for reply, d in zip(replies, done, strict=True):
        # the sink reported playback: LiveKit could measure e2e latency
        assert 0 < reply.metrics["e2e_latency"] < 3
        assert reply.speech_id == d.speech_id and reply.item_id in d.item_ids
        assert reply.text == "Nice to hear you. Goodbye for now."
    assert users[0].metrics["end_of_turn_delay"] > 0
    assert of(events, SessionClosed)[-1].ts >= done[-1].ts
    assert runner.end_reason == "caller finished" and runner.failure is None
    # two 3 s recordings, replies, 0.5 s gaps and a ~2 s close: real time, no hang
    assert 8 < took < 25, took


@pytest.mark.models  # voice_run: two recordings in real time
def test_metrics_are_joined_by_speech_id(voice_run) -> None:
    _, events, _, _ = voice_run
    ids = [c.speech_id for c in of(events, SpeechCreated)]
    metrics = of(events, PluginMetrics)
    kinds = collections.Counter(m.kind for m in metrics)
    assert kinds["stt"] == 2 and kinds["eou"] == 2 and kinds["llm"] == 2 and kinds["tts"] >= 2
    assert kinds["vad"] >= 5  # VADMetrics about once a second
    for m in metrics:
        if m.kind in ("llm", "tts", "eou"):
            assert m.speech_id in ids
    llm = [m for m in metrics if m.kind == "llm"][0]
    assert llm.provider == "scripted" and llm.model == "scripted-llm"
    assert llm.values["prompt_tokens"] == 20 and llm.values["ttft"] > 0
    eou = [m for m in metrics if m.kind == "eou"][0]
    assert eou.values["end_of_utterance_delay"] > 0


@pytest.mark.models  # voice_run: two recordings in real time
def test_usage_vad_and_transcript(voice_run) -> None:
    _, events, took, _ = voice_run
    usage = of(events, UsageUpdated)
    assert usage
    # deduplicated: LiveKit fires session_usage_updated on every metric
    keys = [
        tuple(
            (u.kind, u.input_tokens, u.output_tokens, u.characters_count, u.audio_duration)
            for u in e.usage
        )
        for e in usage
    ]
    assert len(keys) == len(set(keys))
    last = {u.kind: u for u in usage[-1].usage}
    assert last["llm"].input_tokens == 40 and last["llm"].output_tokens == 14
    assert last["tts"].characters_count > 0 and last["tts"].audio_duration > 1.0
    vad = of(events, VadActivity)
    assert [v.event for v in vad].count("start_of_speech") == 2
    assert [v.event for v in vad].count("end_of_speech") == 2
    inference = [v for v in vad if v.event == "inference"]
    assert 6 <= len(inference) / took <= 12  # decimated to about 10 per second
    assert max(v.probability for v in inference) > 0.9
    # the transcript arrives as spoken, one segment per reply
    text = "".join(t.text for t in of(events, AgentTranscript) if not t.final)
    assert text.replace(" ", "") == "Nicetohearyou.Goodbyefornow." * 2
    assert sum(t.final for t in of(events, AgentTranscript)) >= 2


@pytest.mark.models  # voice_run: two recordings in real time
def test_journal_holds_every_event(voice_run) -> None:
    runner, events, _, journal = voice_run
    assert read_journal(journal) == events
    # one session id: the journal's header, SessionStarted, the loaded model
    [started] = of(events, SessionStarted)
    assert load_journal(journal).header.session_id == started.session_id == runner.session_id
    assert load_session(journal).session.session_id == runner.session_id


@pytest.mark.models  # voice_run: two recordings in real time
def test_logs_are_routed_not_printed(voice_run, capsys: pytest.CaptureFixture[str]) -> None:
    _, events, _, _ = voice_run
    logs = of(events, LogRecord)
    assert any(r.logger.startswith("livekit") for r in logs)
    assert any(r.logger == "lkmon.sources" and "played" in r.message for r in logs)


@pytest.fixture(scope="module")
def typed_run() -> list:
    """The events of one typed session, shared by the tests that read it: a plain turn, then
    one whose reply calls a tool (the scripted LLM calls ``current_time`` on "time")."""
    options = RunOptions(
        agent_file=SCRIPTED, inputs=["text"], text_lines=["hi there", "what time is it"], gap=0.3
    )
    _, events, _ = asyncio.run(run_session(options))
    return events


def test_typed_turns(typed_run: list) -> None:
    events = typed_run
    users = [m.text for m in of(events, ChatMessageAdded) if m.role == "user"]
    replies = [m for m in of(events, ChatMessageAdded) if m.role == "assistant"]
    assert users == ["hi there", "what time is it"] and len(replies) == 2
    assert all("e2e_latency" not in r.metrics for r in replies)  # typed: no user timings
    assert all(r.metrics["llm_node_ttft"] > 0 for r in replies)
    assert of(events, SessionStarted)[0].input == "text"


async def test_stop_ends_the_session_quickly() -> None:
    events: list = []
    runner = SessionRunner(RunOptions(agent_file=SCRIPTED, inputs=["text"]), events.append)
    task = asyncio.create_task(runner.run())
    for _ in range(200):
        await asyncio.sleep(0.05)
        if of(events, SessionStarted):
            break
    runner.send_text("hello")
    for _ in range(200):  # stop it mid-reply: once the agent speaks
        await asyncio.sleep(0.02)
        if any(e.new_state == "speaking" for e in of(events, AgentStateChanged)):
            break
    start = time.monotonic()
    runner.stop("test")
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - start < 4
    assert runner.end_reason == "test"
    assert [m.text for m in of(events, ChatMessageAdded) if m.role == "user"] == ["hello"]


@pytest.mark.models  # a recording in real time
async def test_a_failing_bridge_handler_is_shown_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_m: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(bridge_mod, "metrics_event", broken)
    options = RunOptions(agent_file=SCRIPTED, inputs=[str(WAV)], gap=0.3)
    runner, events, _ = await run_session(options)
    errors = [e for e in of(events, ErrorRaised) if e.source == "lkmon"]
    assert errors and "bridge metrics_collected: KeyError" in errors[0].message
    assert len(of(events, SpeechDone)) == 1  # the agent went on
    assert runner.end_reason == "caller finished"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("raises_in_entrypoint.py", "its entrypoint raised RuntimeError: database unreachable"),
        ("returns_early.py", "returned without starting an AgentSession"),
        ("never_starts.py", "no AgentSession started within 0.5 s"),
        ("legacy_worker_options.py", "no AgentSession started within 0.5 s"),
    ],
)
async def test_bad_entrypoints(name: str, message: str) -> None:
    runner = SessionRunner(  # the two that never start wait out start_timeout
        RunOptions(agent_file=AGENTS / name, inputs=["text"], start_timeout=0.5), lambda e: None
    )
    start = time.monotonic()
    with pytest.raises(UsageError, match=message):
        await runner.run()
    assert time.monotonic() - start < 6


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (AGENTS / "missing.py", "agent file not found"),
        (DATA / "librivox_sense_0880.wav", "must be a Python .py file"),
        (AGENTS, "is a directory"),
        (AGENTS / "import_fails.py", "fails to import: ModuleNotFoundError: No module named"),
        (AGENTS / "not_an_agent.py", "not a LiveKit agent file"),
    ],
)
def test_bad_agent_files(path: Path, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_agent_file(path)


def test_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken_agent.py"
    bad.write_text("def broken(:\n    pass\n")
    with pytest.raises(UsageError, match=r"fails to import: SyntaxError: .* \(line 1\)"):
        load_agent_file(bad)


def test_recipe_style_and_legacy_files_load() -> None:
    scripted = load_agent_file(SCRIPTED)
    assert scripted.server is not None and scripted.setup_fnc is not None
    assert scripted.module.__name__ != "__main__"
    legacy = load_agent_file(AGENTS / "legacy_worker_options.py")
    assert legacy.entrypoint.__name__ == "entrypoint" and legacy.server is None


@pytest.mark.models  # a long reply played in real time, then interrupted
async def test_interrupted_reply_is_cut_to_what_was_played(monkeypatch: pytest.MonkeyPatch) -> None:
    """session.interrupt() mid-reply: the sink stops at once, the transcript stops there too."""
    monkeypatch.setenv(
        "SCRIPTED_REPLY", " ".join(f"Sentence number {i} is here." for i in range(8))
    )
    events: list = []
    runner = SessionRunner(RunOptions(agent_file=SCRIPTED, inputs=["text"]), events.append)
    task = asyncio.create_task(runner.run())
    for _ in range(200):
        await asyncio.sleep(0.05)
        if of(events, SessionStarted):
            break
    runner.send_text("tell me a long story")
    for _ in range(200):
        await asyncio.sleep(0.05)
        if any(getattr(e, "new_state", None) == "speaking" for e in events):
            break
    await asyncio.sleep(1.0)  # about 1.6 of the 8 x 0.6 s sentences played
    t_interrupt = time.time()
    await runner.session.interrupt()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if of(events, SpeechDone):
            break
    runner.stop("test")
    await asyncio.wait_for(task, 10)
    done = of(events, SpeechDone)[0]
    assert done.interrupted
    reply = [m for m in of(events, ChatMessageAdded) if m.role == "assistant"][0]
    assert reply.interrupted
    full = " ".join(f"Sentence number {i} is here." for i in range(8))
    assert 0 < len(reply.text) < len(full) / 2, reply.text  # what was heard, not all of it
    assert full.startswith(reply.text.rstrip(".… "))
    assert reply.metrics["stopped_speaking_at"] - t_interrupt < 0.3  # stopped at once
    spoken = "".join(t.text for t in of(events, AgentTranscript) if not t.final)
    assert len(spoken) < len(full) / 2


async def test_worker_hooks_run_as_under_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wait_for_participant returns at once; on_session_end and shutdown callbacks run."""
    monkeypatch.setenv("SCRIPTED_WAIT_PARTICIPANT", "1")
    monkeypatch.setenv("SCRIPTED_SESSION_END_FILE", str(tmp_path / "end.txt"))
    monkeypatch.setenv("SCRIPTED_SHUTDOWN_FILE", str(tmp_path / "shutdown.txt"))
    options = RunOptions(agent_file=SCRIPTED, inputs=["text"], text_lines=["hi"], gap=0.3)
    runner, events, took = await run_session(options)
    assert runner.end_reason == "caller finished" and took < 15
    # the report LiveKit builds for on_session_end holds the conversation
    assert int((tmp_path / "end.txt").read_text().split()[0]) >= 2
    assert (tmp_path / "shutdown.txt").read_text() == "shutdown callback ran"


def test_tool_calls_are_captured(typed_run: list) -> None:
    events = typed_run
    calls = of(events, ToolCalled)
    assert [(c.name, c.arguments, c.output, c.is_error) for c in calls] == [
        ("current_time", "{}", "12:00", False)
    ]
    ids = [c.speech_id for c in of(events, SpeechCreated)]
    assert calls[0].speech_id in ids[1:]  # the second turn's
    replies = [m.text for m in of(events, ChatMessageAdded) if m.role == "assistant"]
    assert replies[-1] == "The time is 12:00."
    llm_calls = [m for m in of(events, PluginMetrics)
                 if m.kind == "llm" and m.speech_id == calls[0].speech_id]
    assert len(llm_calls) == 2  # the tool call and the reply after it


PAUSE_CLIPS = [DATA / "goforward.wav", WAV, DATA / "librivox_sense_0930.wav"]  # 2.8, 3.0, 3.3 s
PAUSES = [0.8, 1.2]  # seconds of digital silence put between the clips


def speech_edges(samples, rate: int, threshold_db: float = -40.0) -> tuple[float, float]:
    """(leading, trailing) silence of a clip, in seconds: 20 ms frames whose RMS is at or below
    ``threshold_db`` dBFS (the clips' noise floor is about -45 to -60 dBFS, speech -15 to -35)."""
    import numpy as np

    n = int(rate * 0.02)
    k = len(samples) // n
    rms = np.sqrt(np.mean(samples[: k * n].reshape(k, n) ** 2, axis=1))
    loud = np.flatnonzero(20 * np.log10(rms + 1e-12) > threshold_db)
    return loud[0] * 0.02, len(samples) / rate - (loud[-1] + 1) * 0.02


@pytest.mark.models  # three recordings in real time
async def test_vad_silence_total_matches_known_pauses(tmp_path: Path) -> None:
    """Real Silero VAD through the bridge: silence_total is the pauses between speech.

    Three clips joined by 0.8 s and 1.2 s of silence; each clip's own leading and trailing
    silence (energy threshold) adds to the pause it borders. The silence before the first speech
    and after the last is not a pause between speech."""
    import numpy as np
    import soundfile as sf

    from lkmon.model.state import SessionModel

    clips, expected = [], []
    for i, path in enumerate(PAUSE_CLIPS):
        samples, rate = sf.read(str(path), dtype="float32")
        assert rate == 16000
        clips.append(samples)
        lead, trail = speech_edges(samples, rate)
        if i > 0:
            expected[-1] += PAUSES[i - 1] + lead
        if i < len(PAUSE_CLIPS) - 1:
            expected.append(trail)
    parts = [clips[0]]
    for pause, clip in zip(PAUSES, clips[1:], strict=True):
        parts += [np.zeros(int(pause * 16000), dtype=np.float32), clip]
    wav = tmp_path / "pauses.wav"
    sf.write(str(wav), np.concatenate(parts), 16000, subtype="PCM_16")

    options = RunOptions(agent_file=SCRIPTED, inputs=[str(wav)], output="null", gap=0.5)
    runner, events, _ = await run_session(options)
    model = SessionModel()
    model.apply_many(events)
    vad = of(events, VadActivity)
    assert [v.event for v in vad if v.event != "inference"] == [
        "start_of_speech", "end_of_speech"
    ] * 3
    measured = float(sum(expected))
    print(f"pauses by energy {[round(float(e), 3) for e in expected]} = {measured:.3f} s, "
          f"silence_total {model.vad.silence_total:.3f} s")
    # each of the 4 boundaries: energy threshold vs Silero's decision, up to ~0.1 s apart
    assert model.vad.silence_total == pytest.approx(measured, abs=0.25)
    assert model.vad.speech_count == 3


OFFLINE_STT = AGENTS / "offline_stt_agent.py"  # its STT always raises APIConnectionError


@pytest.mark.models  # 22 s of LiveKit's real-time STT retries
@pytest.mark.slow
async def test_typed_input_survives_an_stt_that_cannot_connect() -> None:
    """--input text needs no STT: its connection errors are warnings, shown and counted; the
    typed lines are answered, also after the 4th unrecoverable STT error, at which LiveKit would
    close the session (max_unrecoverable_errors = 3)."""

    def lines():  # typed late: after the first unrecoverable STT error, then after the 4th
        for at, text in ((6.0, "hello there"), (22.0, "still there?")):
            time.sleep(max(0.0, at - (time.monotonic() - start)))
            yield text

    start = time.monotonic()
    options = RunOptions(agent_file=OFFLINE_STT, inputs=["text"], text_lines=lines(), gap=0.3)
    runner, events, took = await run_session(options)
    assert runner.failure is None and runner.error is None
    assert runner.end_reason == "caller finished", runner.end_reason
    users = [m.text for m in of(events, ChatMessageAdded) if m.role == "user"]
    replies = [m.text for m in of(events, ChatMessageAdded) if m.role == "assistant"]
    assert users == ["hello there", "still there?"] and len(replies) == 2
    stt_errors = [e for e in of(events, ErrorRaised) if e.source == "stt"]
    assert sum(not e.recoverable for e in stt_errors) >= 4, stt_errors
    assert all("cannot connect" in e.message for e in stt_errors)
    assert of(events, SessionClosed)[-1].error is None
    warnings = [r.message for r in of(events, LogRecord) if r.logger == "lkmon.runner"]
    assert any("not fatal" in m for m in warnings)
    assert took < 40


@pytest.mark.models  # voice_run: two recordings in real time
def test_eou_parts_without_a_turn_detector(voice_run) -> None:
    """VAD turn detection (no turn detector model, as the embedded local agent): LiveKit's
    user_turn and eou_wait spans are captured in-process, no eou_detection; each spoken turn's
    parts add up to LiveKit's EOU delay within 10 ms, the decision waited the endpointing min
    delay in force."""
    from lkmon.model.events import TraceSpan
    from lkmon.model.state import SessionModel

    _, events, _, _ = voice_run
    names = collections.Counter(e.name for e in of(events, TraceSpan))
    assert names["user_turn"] >= 2 and names["eou_wait"] >= 2, names
    assert names["eou_detection"] == 0, names
    model = SessionModel()
    model.apply_many(events)
    spoken = [t for t in model.turns if t.metrics.eou_delay is not None]
    assert len(spoken) == 2
    for turn in spoken:
        parts = turn.eou_parts
        assert parts is not None and not parts.predictions
        seg = parts.segments()
        total = sum(seg[k] or 0.0 for k in ("silence", "transcript", "decision"))
        assert abs(total - turn.metrics.eou_delay) <= 0.01, (turn.index, seg)
        assert parts.endpointing_delay == 0.5  # AgentSession's default min_endpointing_delay
        assert parts.vad_silence is not None and seg["silence"] == pytest.approx(
            parts.vad_silence, abs=0.05)
