"""Fault injection: each fault raises LiveKit's own error type through the real plugins."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from livekit import rtc
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    llm,
)

from lkmon.local import LocalModels, faults, load_local_models

pytestmark = pytest.mark.models

DATA = Path(__file__).parent / "data"
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5.0)
ONE_RETRY = APIConnectOptions(max_retry=1, retry_interval=0.0, timeout=5.0)


@pytest.fixture(scope="module")
def models() -> LocalModels:
    return load_local_models()  # cached: every test module shares one load


@pytest.fixture(autouse=True)
def no_faults_after() -> Iterator[None]:
    yield
    faults.set_faults(None)


@pytest.fixture
def errors(models: LocalModels) -> Iterator[list]:
    """Every ``error`` event the three plugins emit during the test."""
    seen: list = []
    for plugin in (models.stt, models.llm, models.tts):
        plugin.on("error", seen.append)
    yield seen
    for plugin in (models.stt, models.llm, models.tts):
        plugin.off("error", seen.append)


def speech() -> rtc.AudioFrame:
    pcm, sr = sf.read(DATA / "librivox_sense_0880.wav", dtype="int16")
    return rtc.AudioFrame(pcm.tobytes(), sr, 1, len(pcm))


def question() -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="Tell me about the sea.")
    return ctx


async def test_stt_raise(models: LocalModels, errors: list) -> None:
    with faults.injected("stt_raise"):
        with pytest.raises(APIConnectionError, match="injected fault stt_raise"):
            await models.stt.recognize(speech(), conn_options=NO_RETRY)
    assert [e.recoverable for e in errors] == [False]
    assert isinstance(errors[0].error, APIConnectionError)


async def test_stt_raise_at_nth_call_recovers_by_livekit_retry(
    models: LocalModels, errors: list
) -> None:
    with faults.injected("stt_raise@2") as injector:
        first = await models.stt.recognize(speech(), conn_options=ONE_RETRY)
        second = await models.stt.recognize(speech(), conn_options=ONE_RETRY)  # calls 2 and 3
        assert injector.calls("stt") == 3
    assert first.alternatives[0].text == second.alternatives[0].text != ""
    assert [e.recoverable for e in errors] == [True]


async def test_llm_raise_mid_stream(models: LocalModels, errors: list) -> None:
    received: list[str] = []
    with faults.injected("llm_raise"):
        with pytest.raises(APIStatusError, match="injected fault llm_raise") as info:
            async with models.llm.chat(chat_ctx=question(), conn_options=NO_RETRY) as stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        received.append(chunk.delta.content)
    assert info.value.status_code == 500 and info.value.retryable
    assert len(received) >= 2, "the fault must hit after some tokens were streamed"
    assert [e.recoverable for e in errors] == [False]


async def test_llm_stall_times_out(models: LocalModels, errors: list) -> None:
    options = APIConnectOptions(max_retry=0, timeout=0.5)
    start = time.perf_counter()
    with faults.injected("llm_stall"):
        with pytest.raises(APITimeoutError):
            await models.llm.chat(chat_ctx=question(), conn_options=options).collect()
    assert time.perf_counter() - start < 3.0
    assert len(errors) == 1 and isinstance(errors[0].error, APITimeoutError)
    # the stalled worker let go at once: the next reply is normal and fast
    reply = await models.llm.chat(chat_ctx=question(), conn_options=options).collect()
    assert reply.text and reply.usage is not None and reply.usage.completion_tokens > 0


async def test_llm_timeout_attribute_shortens_the_session_timeout(
    models: LocalModels, errors: list
) -> None:
    """``SmolLLM.timeout`` caps LiveKit's 10 s default, so a stall demo or test stays short."""
    options = APIConnectOptions(max_retry=0)  # timeout 10 s
    models.llm.timeout = 0.5
    start = time.perf_counter()
    try:
        with faults.injected("llm_stall"):
            with pytest.raises(APITimeoutError, match="nothing for 0.5 s"):
                await models.llm.chat(chat_ctx=question(), conn_options=options).collect()
    finally:
        models.llm.timeout = None
    assert time.perf_counter() - start < 3.0


async def test_tts_raise(models: LocalModels, errors: list) -> None:
    with faults.injected("tts_raise"):
        with pytest.raises(APIStatusError, match="injected fault tts_raise") as info:
            await models.tts.synthesize("Hello there.", conn_options=NO_RETRY).collect()
    assert info.value.status_code == 503
    assert [e.recoverable for e in errors] == [False]


async def test_tts_silent_makes_livekit_raise_no_audio(
    models: LocalModels, errors: list
) -> None:
    with faults.injected("tts_silent"):
        with pytest.raises(APIError, match="no audio frames were pushed"):
            await models.tts.synthesize("Hello there.", conn_options=NO_RETRY).collect()
    assert len(errors) == 1


async def test_faults_from_the_environment(
    models: LocalModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(faults.ENV_VAR, "tts_raise@2")
    faults.set_faults(None)
    await models.tts.synthesize("One.", conn_options=NO_RETRY).collect()
    with pytest.raises(APIStatusError):
        await models.tts.synthesize("Two.", conn_options=NO_RETRY).collect()
    await models.tts.synthesize("Three.", conn_options=NO_RETRY).collect()
    faults.clear_faults()  # the Python setting wins over the variable
    await models.tts.synthesize("Four.", conn_options=NO_RETRY).collect()


def test_faults_are_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV_VAR, raising=False)
    faults.set_faults(None)
    assert faults.current() is None
    assert faults.take("llm") is None


def test_parse_faults() -> None:
    assert faults.parse_faults("llm_raise@2, tts_silent@3,stt_raise") == [
        faults.Fault("llm_raise", 2),
        faults.Fault("tts_silent", 3),
        faults.Fault("stt_raise", None),
    ]
    assert faults.parse_faults("") == []
    ranged = faults.parse_faults("llm_raise@2-4")
    assert ranged == [faults.Fault("llm_raise", 2, 4)] and str(ranged[0]) == "llm_raise@2-4"
    injector = faults.FaultInjector(ranged)
    assert [injector.take("llm") is not None for _ in range(5)] == [False, True, True, True, False]
    for bad in ("llm_boom", "llm_raise@0", "llm_raise@x", "tts_raise@-1", "llm_raise@3-2",
                "llm_raise@1-", "llm_raise@1-x"):
        with pytest.raises(ValueError) as info:
            faults.parse_faults(bad)
        assert "\n" not in str(info.value)
