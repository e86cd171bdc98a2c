"""PiperTTS: real audio, TTSMetrics, and the first sentence spoken before the text is complete."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit.agents import tokenize, tts
from livekit.agents.metrics import TTSMetrics

from lkmon.local import LocalModels, load_local_models

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def models() -> LocalModels:
    return load_local_models()  # cached: every test module shares one load


async def test_synthesis_gives_real_audio_and_metrics(models: LocalModels) -> None:
    metrics: list[TTSMetrics] = []
    models.tts.on("metrics_collected", metrics.append)
    text = "Hello there. How can I help you today?"
    try:
        async with models.tts.synthesize(text) as stream:
            frames = [ev.frame async for ev in stream]
    finally:
        models.tts.off("metrics_collected", metrics.append)
    assert frames
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(22050, 1)}
    seconds = sum(f.duration for f in frames)
    assert seconds > 0.5
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert np.abs(pcm).max() > 3000, "the audio must not be silence"
    assert len(metrics) == 1
    m = metrics[0]
    assert 0.0 < m.ttfb <= m.duration < 10.0
    assert m.audio_duration == pytest.approx(seconds, abs=0.01)
    assert m.characters_count == len(text)
    assert m.metadata.model_provider == "piper"
    assert m.metadata.model_name == "en_US-joe-medium"


async def test_stream_adapter_speaks_the_first_sentence_before_the_rest_arrives() -> None:
    """As in the session: StreamAdapter + sentence tokenizer around the non-streaming Piper.

    The second sentence is pushed only 2 s after the first; audio of the first sentence must
    arrive well before that, and each sentence is its own synthesis (its own TTSMetrics).
    """
    models = load_local_models()
    adapter = tts.StreamAdapter(
        tts=models.tts, sentence_tokenizer=tokenize.blingfire.SentenceTokenizer(retain_format=True)
    )
    metrics: list[TTSMetrics] = []
    models.tts.on("metrics_collected", metrics.append)
    first_audio_at: float | None = None
    total = 0.0
    try:
        async with adapter.stream() as stream:
            start = time.perf_counter()
            for word in "The weather is lovely today. ".split(" "):
                stream.push_text(word + " ")

            async def push_rest_later() -> None:
                await asyncio.sleep(2.0)
                stream.push_text("Shall we go for a walk in the park?")
                stream.end_input()

            pusher = asyncio.create_task(push_rest_later())
            async for ev in stream:
                if first_audio_at is None and ev.frame.duration > 0:
                    first_audio_at = time.perf_counter() - start
                total += ev.frame.duration
            await pusher
    finally:
        models.tts.off("metrics_collected", metrics.append)
    assert first_audio_at is not None and first_audio_at < 1.5
    assert total > 2.0
    assert len(metrics) == 2
    assert metrics[0].characters_count < metrics[1].characters_count


async def test_nothing_to_pronounce_is_a_moment_of_silence_not_an_error(
    models: LocalModels,
) -> None:
    frame = await models.tts.synthesize("...").collect()
    assert 0.0 < frame.duration < 0.2
    assert not np.frombuffer(frame.data, dtype=np.int16).any()
