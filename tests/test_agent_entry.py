"""agent_entry.py: model choice, prewarm, and the real agent answering with a real tool call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from livekit.agents import JobExecutorType, JobProcess
from livekit.agents.metrics import LLMMetrics

from lkmon.examples import agent_entry
from lkmon.local import PiperTTS, SmolLLM, WhisperSTT

CREDENTIALS = ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (*CREDENTIALS, "LKMON_MODELS"):
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


@pytest.mark.models
async def test_agent_answers_the_time_with_a_tool_call(clean_env: pytest.MonkeyPatch) -> None:
    """A typed turn through the real AgentSession with the local models, no room, no network."""
    userdata = await asyncio.to_thread(lambda: local_proc().userdata)
    session = agent_entry.make_session(userdata)
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
