"""agent_entry.py: model choice, prewarm, and the real agent answering with a real tool call."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from livekit import rtc
from livekit.agents import JobExecutorType, JobProcess, inference
from livekit.agents.metrics import LLMMetrics

from lkmon.examples import agent_entry
from lkmon.local import PiperTTS, SegmentedSTT, SmolLLM, WhisperSTT

CREDENTIALS = ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (*CREDENTIALS, "LKMON_MODELS", "LKMON_TURN_DETECTION", "LIVEKIT_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def test_no_credentials_means_local(clean_env: pytest.MonkeyPatch) -> None:
    assert agent_entry.choose_models() == "local"
    clean_env.setenv("LIVEKIT_API_KEY", "k")
    assert agent_entry.choose_models() == "local"  # a key alone is not credentials


def test_credentials_mean_cloud_unless_told_otherwise(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LIVEKIT_API_KEY", "k")
    clean_env.setenv("LIVEKIT_API_SECRET", "s")
    assert agent_entry.choose_models() == "cloud"
    clean_env.setenv("LKMON_MODELS", "local")
    assert agent_entry.choose_models() == "local"
    clean_env.setenv("LKMON_MODELS", "auto")
    assert agent_entry.choose_models() == "cloud"


def test_lkmon_models_cloud_wins_without_credentials(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LKMON_MODELS", "cloud")
    assert agent_entry.choose_models() == "cloud"


def local_proc() -> JobProcess:
    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    agent_entry.prewarm(proc)
    return proc


@pytest.mark.models
def test_prewarm_loads_the_local_plugins(clean_env: pytest.MonkeyPatch) -> None:
    userdata = local_proc().userdata
    assert userdata["models"] == "local"
    assert isinstance(userdata["stt"], WhisperSTT)
    assert isinstance(userdata["llm"], SmolLLM)
    assert isinstance(userdata["tts"], PiperTTS)
    assert userdata["vad"].model == "silero"
    taking = userdata["turn_taking"]
    assert taking is agent_entry.LOCAL_TURN_TAKING
    assert userdata["vad"].min_silence_duration == taking.vad_silence
    assert userdata["stt_vad"].min_silence_duration == taking.stt_silence  # Whisper's own VAD


@pytest.mark.models
async def test_agent_answers_the_time_with_a_tool_call(clean_env: pytest.MonkeyPatch) -> None:
    """A typed turn through the real AgentSession with the local models, no room, no network."""
    userdata = await asyncio.to_thread(lambda: local_proc().userdata)
    session = agent_entry.make_session(userdata)
    # Whisper cuts its segments on its own VAD, not the session's
    assert isinstance(session.stt, SegmentedSTT) and session.stt.wrapped_stt is userdata["stt"]
    llm_metrics: list[LLMMetrics] = []
    userdata["llm"].on("metrics_collected", llm_metrics.append)
    try:
        await session.start(agent=agent_entry.Assistant())
        result = await asyncio.wait_for(session.run(user_input="What time is it?"), 60)
    finally:
        userdata["llm"].off("metrics_collected", llm_metrics.append)
        await session.aclose()
    kinds = [ev.type for ev in result.events]
    assert "function_call" in kinds and "function_call_output" in kinds
    call = next(ev.item for ev in result.events if ev.type == "function_call")
    output = next(ev.item for ev in result.events if ev.type == "function_call_output")
    assert call.name == "get_current_time"
    assert output.output.startswith("It is ") and not output.is_error
    reply = [
        ev.item for ev in result.events if ev.type == "message" and ev.item.role == "assistant"
    ]
    assert reply and (reply[-1].text_content or "").strip()
    # the tool call and the reply written from its output: two LLM requests in one turn
    by_speech: dict[str | None, list[LLMMetrics]] = {}
    for m in llm_metrics:
        by_speech.setdefault(m.speech_id, []).append(m)
    assert any(sid and len(ms) >= 2 for sid, ms in by_speech.items()), by_speech


def test_the_local_pipeline_turn_detector_is_the_on_device_mini_model(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """Built explicitly as v1-mini: in dev mode (``console``, ``dev``) with credentials an
    unversioned ``TurnDetector()`` would pick the cloud model (inference/eot/detector.py)."""
    clean_env.setenv("LIVEKIT_DEV_MODE", "1")
    clean_env.setenv("LIVEKIT_API_KEY", "k")
    clean_env.setenv("LIVEKIT_API_SECRET", "s")
    assert inference.TurnDetector().model == "turn-detector-v1"  # what pinning avoids
    taking = agent_entry.LOCAL_TURN_TAKING
    handling = taking.turn_handling()
    detector = handling["turn_detection"]
    assert isinstance(detector, inference.TurnDetector)
    assert detector.model == "turn-detector-v1-mini" and detector.provider == "livekit"
    assert handling["endpointing"] == {"min_delay": taking.min_delay,
                                       "max_delay": taking.max_delay}
    assert taking.min_delay < taking.max_delay
    # LiveKit refuses a VAD window under 0.25 s with the detector (voice/audio_recognition.py)
    assert taking.vad_silence >= 0.25
    assert handling["interruption"] == {"mode": "vad"}


def test_lkmon_turn_detection_vad_leaves_the_turn_to_the_vad(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert agent_entry.choose_turn_taking() is agent_entry.LOCAL_TURN_TAKING
    clean_env.setenv("LKMON_TURN_DETECTION", "VAD")
    taking = agent_entry.choose_turn_taking()
    assert taking is agent_entry.VAD_TURN_TAKING and not taking.detector
    assert taking.turn_handling()["turn_detection"] == "vad"
    assert taking.turn_handling()["endpointing"] == {"min_delay": 0.5, "max_delay": 3.0}
    clean_env.setenv("LKMON_TURN_DETECTION", "model")
    assert agent_entry.choose_turn_taking() is agent_entry.LOCAL_TURN_TAKING
    clean_env.setenv("LKMON_TURN_DETECTION", "semantic")
    with caplog.at_level("WARNING", logger="agent_entry"):
        assert agent_entry.choose_turn_taking() is agent_entry.LOCAL_TURN_TAKING
    assert "LKMON_TURN_DETECTION='semantic'" in caplog.text


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every socket connection and name lookup fails (and is recorded)."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("network is unavailable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.models
async def test_the_turn_detector_predicts_offline_from_the_installed_package(
    clean_env: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    """The v1-mini model runs from the wheel of ``livekit-local-inference`` (declared in the
    ``local`` extra), with networking unavailable: a prediction on a real recording's end."""
    from livekit import local_inference

    dist = importlib.metadata.distribution("livekit-local-inference")
    native = [f for f in dist.files or [] if f.name.startswith("_native")]
    assert native and Path(dist.locate_file(native[0])).is_file()
    assert Path(local_inference.__file__).parent == Path(dist.locate_file(native[0])).parent
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["local"]
    assert any(req.startswith(f"livekit-local-inference=={dist.version}") for req in extra)

    detector = agent_entry.LOCAL_TURN_TAKING.turn_handling()["turn_detection"]
    stream = detector.stream()
    pcm, rate = sf.read(ROOT / "tests" / "data" / "librivox_sense_0880.wav", dtype="int16")
    pcm = np.concatenate([pcm[-rate:], np.zeros(rate // 5, dtype=np.int16)])  # + 0.2 s silence
    try:
        for i in range(0, len(pcm), rate // 100):
            chunk = pcm[i : i + rate // 100]
            stream.push_audio(rtc.AudioFrame(chunk.tobytes(), rate, 1, len(chunk)))
        await asyncio.sleep(0.1)  # the stream drains its audio channel into the model's buffer
        event = await asyncio.wait_for(stream.predict(), 10)
    finally:
        await stream.aclose()
    assert 0.0 <= event.end_of_turn_probability <= 1.0
    assert event.inference_duration is not None and event.inference_duration > 0
    assert no_network == []  # nothing even tried


@pytest.mark.slow  # a real session in real time: about 17 s
@pytest.mark.models
def test_a_real_session_decides_with_the_turn_detector(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    """The default agent on a real recording, networking unavailable: the turn is decided by
    the on-device model (its prediction in the snapshot's EOU parts, against the English
    threshold), with the endpointing delay that prediction calls for."""
    from lkmon.cli import main

    snapshot_path = tmp_path / "snap.json"
    code = main(["run", str(ROOT / "agent_entry.py"), "--headless", "--models", "local",
                 "--input", str(ROOT / "tests" / "data" / "goforward.wav"), "--output", "null",
                 "--no-db", "--export", str(snapshot_path)])
    assert code == 0
    snapshot = json.loads(snapshot_path.read_text())
    turn = next(t for t in snapshot["turns"] if t.get("user_text"))
    assert "forward" in turn["user_text"].lower()
    parts = turn["eou_parts"]
    committed = [p for p in parts["predictions"] if p["committed"]]
    assert committed, parts
    taking = agent_entry.LOCAL_TURN_TAKING
    for p in committed:
        assert 0.0 <= p["probability"] <= 1.0 and p["threshold"] == 0.36  # LiveKit's "en"
        likely = p["probability"] >= p["threshold"]
        assert p["delay"] == (taking.min_delay if likely else taking.max_delay), p
    assert parts["endpointing_delay"] == committed[-1]["delay"]
    assert turn["metrics"]["eou_delay"] >= parts["endpointing_delay"] - 0.05
    assert turn["metrics"]["e2e_latency"] is not None
    assert no_network == []
