"""WhisperSTT on real LibriVox recordings: word error rate, metrics, off-loop inference."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr
from livekit import rtc
from livekit.agents import stt

from lkmon.local import LocalModels, WhisperSTT, load_local_models
from lkmon.local.stt import looks_degenerate

pytestmark = pytest.mark.models

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["0870", "0880", "0920"]


@pytest.fixture(scope="module")
def models() -> LocalModels:
    return load_local_models()  # cached: every test module shares one load


def reference(clip: str) -> str:
    for line in (DATA / "librivox_transcription.txt").read_text().splitlines():
        if line.endswith(f"-{clip})"):
            return line.split("<s>")[1].split("</s>")[0].strip()
    raise KeyError(clip)


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"\bmr\b\.?", "mister", text)
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text).split())


def frame_of(clip: str, rate: int | None = None, channels: int = 1) -> rtc.AudioFrame:
    pcm, sr = sf.read(DATA / f"librivox_sense_{clip}.wav", dtype="float32")
    if rate is not None and rate != sr:
        pcm, sr = soxr.resample(pcm, sr, rate), rate
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    data = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
    return rtc.AudioFrame(data.tobytes(), sr, channels, data.shape[0])


async def test_transcripts_are_close_to_the_reference(models: LocalModels) -> None:
    metrics: list = []
    models.stt.on("metrics_collected", metrics.append)
    try:
        for clip in CLIPS:
            event = await models.stt.recognize(frame_of(clip))
            assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
            text = event.alternatives[0].text
            wer = jiwer.wer(normalise(reference(clip)), normalise(text))
            assert wer <= 0.30, f"{clip}: WER {wer:.0%} for {text!r}"
            assert 0.0 < event.alternatives[0].confidence <= 1.0
    finally:
        models.stt.off("metrics_collected", metrics.append)
    assert len(metrics) == len(CLIPS)
    for m, clip in zip(metrics, CLIPS, strict=True):
        info = sf.info(DATA / f"librivox_sense_{clip}.wav")
        assert m.audio_duration == pytest.approx(info.duration, abs=0.01)
        assert 0.0 < m.duration < 10.0
        assert m.metadata.model_provider == "faster-whisper"
        assert m.metadata.model_name == "whisper-tiny.en"


async def test_any_rate_and_channel_count_is_accepted(models: LocalModels) -> None:
    clip = "0880"
    event = await models.stt.recognize(frame_of(clip, rate=48000, channels=2))
    assert jiwer.wer(normalise(reference(clip)), normalise(event.alternatives[0].text)) <= 0.30


async def test_recognition_does_not_block_the_event_loop(models: LocalModels) -> None:
    """A loop ticker keeps running every 10 ms while Whisper works on its thread."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await models.stt.recognize(frame_of("0870"))
    took = time.perf_counter() - start
    stop.set()
    await task
    assert took > 0.1  # real work happened meanwhile
    assert len(gaps) >= 5
    assert max(gaps) < took / 2, f"loop stalled {max(gaps):.3f} s of a {took:.3f} s recognition"


def test_short_window_gives_the_words_of_the_full_window(models: LocalModels) -> None:
    full = WhisperSTT(window_padding=None)
    for clip in CLIPS:
        audio = sf.read(DATA / f"librivox_sense_{clip}.wav", dtype="float32")[0]
        start = time.perf_counter()
        short_text, _ = models.stt.transcribe_blocking(audio)
        short_s = time.perf_counter() - start
        start = time.perf_counter()
        full_text, _ = full.transcribe_blocking(audio)
        full_s = time.perf_counter() - start
        wer = jiwer.wer(normalise(full_text), normalise(short_text))
        assert wer <= 0.1, (full_text, short_text)
        assert short_s < full_s, f"{clip}: short window {short_s:.3f} s, full {full_s:.3f} s"


def test_a_decoding_loop_in_the_short_window_falls_back_to_the_full_window(
    models: LocalModels,
) -> None:
    """With a 4 s window Whisper loops on "go forward ten meters"; the full window does not."""
    audio = sf.read(DATA / "goforward.wav", dtype="float32")[0]  # 2.79 s
    assert models.stt._transcribe_short(audio, 400) is None  # the loop is caught
    tight = WhisperSTT(window_padding=1.0, min_window=0.0)  # asks for that 4 s window
    text, _ = tight.transcribe_blocking(audio)
    assert normalise(text) == "go forward 10 meters"


def test_silence_is_no_text(models: LocalModels) -> None:
    assert models.stt.transcribe_blocking(np.zeros(16000, dtype=np.float32)) == ("", 0.0)


def test_looks_degenerate() -> None:
    assert looks_degenerate("10 of clubs 10 of clubs 10 of clubs")
    assert looks_degenerate("5 5 5 5 5")
    assert looks_degenerate("ha" * 40)
    assert not looks_degenerate("5 5")
    assert not looks_degenerate("Eight of spades, four of clubs, seven of hearts.")
    assert not looks_degenerate(reference("0870"))


def test_whisper_runs_without_an_openmp_team_by_default() -> None:
    """Two CTranslate2 threads make an OpenMP team whose threads spin at every barrier when
    another thread holds a core (in-process requests took up to 2.6 s); the default is one
    thread, which starts no team. Counted in a fresh process: the threads each model's first
    inference leaves behind (its CTranslate2 worker, plus libgomp's threads with two)."""
    script = textwrap.dedent(
        """
        import json, os
        import ctranslate2, faster_whisper  # their libraries' own start-up threads come first
        from lkmon.local.stt import WhisperSTT

        def made(**kw):
            before = set(os.listdir("/proc/self/task"))
            model = WhisperSTT(**kw)
            model.warm_up()
            return model.cpu_threads, len(set(os.listdir("/proc/self/task")) - before)

        print(json.dumps([made(), made(cpu_threads=2)]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    )
    (default_threads, default_made), (two_threads, two_made) = json.loads(
        out.stdout.strip().splitlines()[-1]
    )
    assert (default_threads, two_threads) == (1, 2)
    assert default_made == 1  # CTranslate2's own worker thread, and no OpenMP thread
    assert two_made > default_made  # a second thread brings the OpenMP team's workers
