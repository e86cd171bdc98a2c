"""Audio outputs for the agent's voice: a real-time null sink and the speakers.

Both honour LiveKit's ``voice.io.AudioOutput`` contract (see notes/livekit-agents-1.8.md):

* ``capture_frame`` and ``flush`` call ``super()``, which counts playback segments;
* ``on_playback_started(created_at=time.time())`` is called at the first audible frame of a
  segment (this fills the assistant ``ChatMessage.metrics['started_speaking_at']`` and so the
  ``e2e_latency``);
* ``on_playback_finished(playback_position=seconds, interrupted=bool)`` is called exactly once per
  segment, when its last sample has played or when ``clear_buffer()`` cut it short;
* ``clear_buffer()`` stops playback at once.

The two sinks share ``PlayoutBuffer`` (``playout``) and ``LevelMeter`` (``levels``); they differ
only in who pulls samples out of the buffer: a task on the event loop pacing itself at real time
(``NullSink``), or the PortAudio callback thread (``SpeakerSink``). With a ``HeardMeter``
(``measure_heard``), each segment's first audible sample is emitted as ``AgentAudible``
(``lkmon.agent.audio.heard``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from lkmon.agent.audio.heard import HeardMeter
from lkmon.agent.audio.levels import LEVEL_INTERVAL, SILENCE_DBFS, LevelMeter, dbfs
from lkmon.agent.audio.playout import PlaybackNote, PlayoutBuffer
from lkmon.agent.observe import compat
from lkmon.errors import UsageError
from lkmon.model.events import AudioLevel, Event

logger = logging.getLogger("lkmon.sinks")

SINK_SAMPLE_RATE = 24000
"""Sample rate (Hz) the sinks ask the session for; LiveKit resamples TTS audio to it."""
TICK = 0.01
"""Seconds of audio the null sink plays per tick (10 ms)."""

Emit = Callable[[Event], None]
__all__ = [  # the levels and the playout buffer live in their own modules
    "LEVEL_INTERVAL", "SILENCE_DBFS", "SINK_SAMPLE_RATE", "TICK", "LevelMeter", "NullSink",
    "PlaybackNote", "PlayoutBuffer", "SpeakerSink", "dbfs", "has_output_device", "make_sink",
]


class _BufferedSink(io.AudioOutput):
    """AudioOutput over a ``PlayoutBuffer``; subclasses decide who reads the buffer."""

    def __init__(self, *, label: str, sample_rate: int, emit: Emit | None) -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=sample_rate,
        )
        self._buffer = PlayoutBuffer(sample_rate)
        self._emit = emit
        self._open: dict[int, bool] = {}  # segment id -> playback_started reported
        self._started_at: dict[int, float] = {}  # segment id -> its playback_started created_at
        self._heard: HeardMeter | None = None
        self._capturing = False
        self._meter = LevelMeter("agent")
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def busy(self) -> bool:
        """True while audio is queued or playing."""
        return self._buffer.busy

    def measure_heard(self, meter: HeardMeter) -> None:
        """Emit an ``AgentAudible`` from ``meter`` at each segment's first audible sample (the
        caller feeds the same meter). Without it the sink scans no sample."""
        self._heard = meter
        self._buffer.detect = True

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue one frame of agent speech (any channel count; mixed to mono)."""
        await super().capture_frame(frame)
        self._loop = asyncio.get_running_loop()
        samples = np.frombuffer(frame.data, dtype=np.int16)
        if frame.num_channels > 1:
            samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        else:
            samples = samples.copy()
        seg = self._buffer.push(samples)
        self._capturing = True
        self._open.setdefault(seg, False)
        self._on_data()

    def flush(self) -> None:
        """End the current segment; its playback finishes once its last sample has played."""
        super().flush()
        self._capturing = False
        self._buffer.end_segment()
        self._on_data()

    def clear_buffer(self) -> None:
        """Stop playback now; every segment not yet finished reports ``interrupted=True``."""
        if self._capturing:
            # keep LiveKit's segment count in step when cleared without a flush
            compat.end_segment_capture(self)
            self._capturing = False
        self._dispatch(self._buffer.clear())

    def pause(self) -> None:
        """Pause playback (false-interruption handling); the position stops advancing."""
        super().pause()
        self._buffer.paused = True

    def resume(self) -> None:
        """Resume a paused playback."""
        super().resume()
        self._buffer.paused = False
        self._on_data()

    def _on_data(self) -> None:
        """Hook: there is something new to play."""

    def _dispatch(self, notes: list[PlaybackNote]) -> None:
        """Turn buffer notes into LiveKit playback events, each segment's at most once."""
        for note in notes:
            if note.kind == "started":
                if self._open.get(note.segment) is False:
                    self._open[note.segment] = True
                    self._started_at[note.segment] = note.at
                    self.on_playback_started(created_at=note.at)
            elif note.kind == "audible":
                started = self._started_at.get(note.segment)
                if self._heard is not None and started is not None and self._emit is not None:
                    self._emit(self._heard.agent(note.at, started, note.delay))
            elif note.segment in self._open:
                del self._open[note.segment]
                self._started_at.pop(note.segment, None)
                self.on_playback_finished(
                    playback_position=note.position, interrupted=note.interrupted
                )

    def _add_level(self, samples: np.ndarray, playing: bool) -> AudioLevel | None:
        """Accumulate output samples; return an AudioLevel event when one is due."""
        return self._meter.add(samples, flush=not playing)

    def _emit_level(self, level: AudioLevel | None) -> None:
        if level is not None and self._emit is not None:
            self._emit(level)


class NullSink(_BufferedSink):
    """A real-time sink that plays into nothing: the agent's speech takes as long as it would
    through speakers, so that playback events, interruption and e2e latency are real.

    Args:
        emit: receives agent-output ``AudioLevel`` events (dBFS, about 10 per second).
        sample_rate: Hz; the session resamples TTS audio to it.
        output_delay: seconds a device would hold each block before it is heard (0: none).
            LiveKit is told playback started when a segment's first block is read, as a real
            device's driver would; the ``AgentAudible`` time includes the delay.
    """

    def __init__(
        self,
        emit: Emit | None = None,
        *,
        sample_rate: int = SINK_SAMPLE_RATE,
        output_delay: float = 0.0,
    ) -> None:
        super().__init__(label="lkmon.NullSink", sample_rate=sample_rate, emit=emit)
        self._block = int(round(sample_rate * TICK))
        self._output_delay = output_delay
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _on_data(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._play(), name="lkmon.NullSink.play"
            )

    async def _play(self) -> None:
        """Read one 10 ms block per tick, paced against the monotonic clock (no drift)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            if not self._buffer.busy:
                self._emit_level(self._add_level(np.zeros(0, np.int16), playing=False))
                self._wake.clear()
                await self._wake.wait()
                deadline = loop.time()
                continue
            samples, notes = self._buffer.read(self._block, self._output_delay)
            self._dispatch(notes)
            self._emit_level(self._add_level(samples, playing=True))
            deadline += TICK
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:
                deadline = loop.time()  # a long stall: do not rush to catch up

    async def aclose(self) -> None:
        """Stop the playout task."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class SpeakerSink(_BufferedSink):
    """Plays the agent's speech on the default output device through sounddevice.

    Args:
        emit: receives agent-output ``AudioLevel`` events (dBFS, about 10 per second).
        device: a sounddevice output device (index or name); None for the default.

    Raises:
        UsageError: sounddevice or PortAudio is missing, or there is no output device.
    """

    def __init__(self, emit: Emit | None = None, *, device: int | str | None = None) -> None:
        sd = _sounddevice()
        try:
            info = sd.query_devices(device, kind="output")
        except Exception as e:  # PortAudioError or ValueError: no such device
            raise UsageError(f"no audio output device ({e}); use --output null") from None
        rate = int(info.get("default_samplerate") or 48000)
        super().__init__(label="lkmon.SpeakerSink", sample_rate=rate, emit=emit)
        self._sd = sd
        self._device = device
        self._stream: Any = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open and start the output stream (10 ms blocks).

        Raises:
            UsageError: the device cannot be opened.
        """
        self._loop = loop
        try:
            rate = self._buffer.sample_rate
            self._stream = self._sd.OutputStream(
                samplerate=rate,
                channels=1,
                dtype="int16",
                blocksize=int(rate * TICK),
                device=self._device,
                callback=self._callback,
            )
            self._stream.start()
        except Exception as e:
            raise UsageError(f"cannot open the audio output device: {e}") from None

    def _callback(self, outdata: np.ndarray, frames: int, times: Any, status: object) -> None:
        """PortAudio thread: fill ``outdata`` and hand notes and levels to the loop. ``times``
        (PortAudio's time info) gives the output latency: ``outputBufferDacTime`` (when
        ``outdata``'s first sample reaches the converter) minus ``currentTime``."""
        delay = 0.0
        if times is not None and self._buffer.detect:
            lag = getattr(times, "outputBufferDacTime", 0.0) - getattr(times, "currentTime", 0.0)
            delay = lag if 0.0 < lag < 1.0 else 0.0  # some host APIs report 0 (unknown)
        samples, notes = self._buffer.read(frames, delay)
        outdata[:, 0] = samples
        level = self._add_level(samples, playing=bool(notes) or self._buffer.busy)
        if (notes or level is not None) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, notes, level)

    def _deliver(self, notes: list[PlaybackNote], level: AudioLevel | None) -> None:
        self._dispatch(notes)
        self._emit_level(level)

    async def aclose(self) -> None:
        """Stop and close the output stream."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


def make_sink(
    output: str, emit: Emit | None, device: int | str | None, caller: object
) -> NullSink | SpeakerSink:
    """The sink ``--output`` asks for: ``"speaker"`` (on ``device``) or the null sink. With an
    audio caller (``WavCaller``, ``MicInput``) lkmon holds both ends of the audio: the two
    share a new ``HeardMeter``, so every reply's first audible sample is emitted as
    ``AgentAudible``.

    Raises:
        UsageError: no output device (``SpeakerSink``).
    """
    from lkmon.agent.audio.callers import WavCaller
    from lkmon.agent.audio.mic import MicInput

    sink = SpeakerSink(emit, device=device) if output == "speaker" else NullSink(emit)
    if isinstance(caller, WavCaller | MicInput):
        meter = HeardMeter()
        caller.heard = meter
        sink.measure_heard(meter)
    return sink


def _sounddevice() -> Any:  # sounddevice ships no types
    """Import sounddevice, turning a missing PortAudio into a UsageError."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:
        raise UsageError(f"sounddevice/PortAudio unavailable: {e}") from None
    return sd


def has_output_device() -> bool:
    """True when sounddevice finds a default output device."""
    try:
        _sounddevice().query_devices(kind="output")
    except Exception as e:
        logger.debug("no output device: %s", e)
        return False
    return True
