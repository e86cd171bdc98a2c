"""Audio outputs for the agent's voice: a real-time null sink and the speakers.

Both honour LiveKit's ``voice.io.AudioOutput`` contract (see notes/livekit-agents-1.8.md):

* ``capture_frame`` and ``flush`` call ``super()``, which counts playback segments;
* ``on_playback_started(created_at=time.time())`` is called at the first audible frame of a
  segment (this fills the assistant ``ChatMessage.metrics['started_speaking_at']`` and so the
  ``e2e_latency``);
* ``on_playback_finished(playback_position=seconds, interrupted=bool)`` is called exactly once per
  segment, when its last sample has played or when ``clear_buffer()`` cut it short;
* ``clear_buffer()`` stops playback at once.

The two sinks share ``PlayoutBuffer``; they differ only in who pulls samples out of it: a task on
the event loop pacing itself at real time (``NullSink``), or the PortAudio callback thread
(``SpeakerSink``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from lkmon.agent.observe import compat
from lkmon.errors import UsageError
from lkmon.model.events import AudioLevel, Event

logger = logging.getLogger("lkmon.sinks")

SINK_SAMPLE_RATE = 24000
"""Sample rate (Hz) the sinks ask the session for; LiveKit resamples TTS audio to it."""
TICK = 0.01
"""Seconds of audio the null sink plays per tick (10 ms)."""
LEVEL_INTERVAL = 0.1
"""Seconds between two AudioLevel events (about 10 per second)."""
SILENCE_DBFS = -100.0
"""The level reported for digital silence, in dBFS (JSON has no -inf)."""

Emit = Callable[[Event], None]


def dbfs(sum_squares: float, count: int) -> float:
    """RMS level in dBFS of int16 samples, from their sum of squares and count.

    Returns:
        -100.0 (``SILENCE_DBFS``) for silence or no samples, else 20*log10(rms/32768), <= 0.
    """
    if count <= 0 or sum_squares <= 0:
        return SILENCE_DBFS
    rms = math.sqrt(sum_squares / count) / 32768.0
    return max(SILENCE_DBFS, min(0.0, 20.0 * math.log10(rms)))


class LevelMeter:
    """RMS level of int16 audio over windows of about ``LEVEL_INTERVAL`` (0.1 s).

    Args:
        source: ``"mic"`` (the caller) or ``"agent"`` (the agent's output), for ``AudioLevel``.
    """

    def __init__(self, source: Literal["mic", "agent"]) -> None:
        self.source: Literal["mic", "agent"] = source
        self._sum = 0.0
        self._count = 0
        self._due = 0.0

    def add(self, samples: np.ndarray, *, flush: bool = False) -> AudioLevel | None:
        """Accumulate int16 ``samples``; return an ``AudioLevel`` (dBFS) when one is due.

        With ``flush`` the level of whatever was accumulated is returned at once (None when
        nothing was), e.g. when playback stops, so the meter falls back to silence.
        """
        if flush and self._count == 0:
            return None
        x = samples.astype(np.float64)
        self._sum += float(np.dot(x, x))
        self._count += len(samples)
        now = time.monotonic()
        if now < self._due and not flush:
            return None
        self._due = now + LEVEL_INTERVAL
        level = AudioLevel(ts=time.time(), source=self.source, dbfs=dbfs(self._sum, self._count))
        self._sum, self._count = 0.0, 0
        return level


@dataclass(slots=True)
class PlaybackNote:
    """Something the buffer observed while reading; dispatched on the event loop.

    Attributes:
        kind: ``"started"`` (first sample of a segment read) or ``"finished"``.
        segment: segment id.
        at: epoch seconds (``time.time()``) when it happened.
        position: seconds of the segment that played (finished only).
        interrupted: True when ``clear()`` cut the segment short (finished only).
    """

    kind: str
    segment: int
    at: float
    position: float = 0.0
    interrupted: bool = False


@dataclass(slots=True)
class _Segment:
    id: int
    chunks: collections.deque[np.ndarray]
    pushed: int = 0  # samples
    played: int = 0  # samples
    flushed: bool = False
    started: bool = False
    drained: bool = False  # every sample has been handed out by a previous read


class PlayoutBuffer:
    """Thread-safe queue of playback segments of mono int16 samples at one sample rate.

    A producer (the session, on the loop) pushes samples and ends segments; a consumer (a loop
    task or an audio callback thread) reads fixed-size blocks. Reads report, as
    ``PlaybackNote``s, when a segment starts playing and when it has finished: a segment finishes
    at the first read after its last sample was handed out, i.e. once that sample has played.

    Args:
        sample_rate: samples per second of everything pushed and read.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._segments: collections.deque[_Segment] = collections.deque()
        self._next_id = 1
        self.paused = False

    def push(self, samples: np.ndarray) -> int:
        """Append mono int16 samples to the open segment, opening one if needed.

        Returns:
            the id of the segment the samples went to.
        """
        with self._lock:
            tail = self._segments[-1] if self._segments else None
            if tail is None or tail.flushed:
                tail = _Segment(id=self._next_id, chunks=collections.deque())
                self._next_id += 1
                self._segments.append(tail)
            if len(samples):
                tail.chunks.append(samples)
                tail.pushed += len(samples)
                tail.drained = False
            return tail.id

    def end_segment(self) -> None:
        """Mark the open segment complete (LiveKit ``flush()``); no-op when none is open."""
        with self._lock:
            if self._segments and not self._segments[-1].flushed:
                self._segments[-1].flushed = True

    @property
    def busy(self) -> bool:
        """True while any segment has not reported its end."""
        with self._lock:
            return bool(self._segments)

    def read(self, n: int) -> tuple[np.ndarray, list[PlaybackNote]]:
        """Take the next ``n`` samples to play (silence where there is nothing to play).

        Returns:
            ``(samples, notes)``: an int16 array of shape ``(n,)`` and what happened.
        """
        out = np.zeros(n, dtype=np.int16)
        notes: list[PlaybackNote] = []
        with self._lock:
            if self.paused:
                return out, notes
            now = time.time()
            filled = 0
            while self._segments:
                seg = self._segments[0]
                if seg.flushed and not seg.chunks and (seg.drained or seg.pushed == 0):
                    notes.append(
                        PlaybackNote("finished", seg.id, now, seg.played / self.sample_rate)
                    )
                    self._segments.popleft()
                    continue
                if filled >= n or not seg.chunks:
                    break  # block full, or underrun of an open segment
                if not seg.started:
                    seg.started = True
                    notes.append(PlaybackNote("started", seg.id, now))
                while filled < n and seg.chunks:
                    chunk = seg.chunks[0]
                    take = min(n - filled, len(chunk))
                    out[filled : filled + take] = chunk[:take]
                    filled += take
                    seg.played += take
                    if take == len(chunk):
                        seg.chunks.popleft()
                    else:
                        seg.chunks[0] = chunk[take:]
                if not seg.chunks:
                    seg.drained = True
                    break  # report its end at the next read, once these samples have played
        return out, notes

    def clear(self) -> list[PlaybackNote]:
        """Drop everything at once; every unfinished segment finishes as interrupted."""
        with self._lock:
            now = time.time()
            notes = [
                PlaybackNote("finished", s.id, now, s.played / self.sample_rate, interrupted=True)
                for s in self._segments
            ]
            self._segments.clear()
            return notes


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
        self._capturing = False
        self._meter = LevelMeter("agent")
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def busy(self) -> bool:
        """True while audio is queued or playing."""
        return self._buffer.busy

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
                    self.on_playback_started(created_at=note.at)
            elif note.segment in self._open:
                del self._open[note.segment]
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
    """

    def __init__(self, emit: Emit | None = None, *, sample_rate: int = SINK_SAMPLE_RATE) -> None:
        super().__init__(label="lkmon.NullSink", sample_rate=sample_rate, emit=emit)
        self._block = int(round(sample_rate * TICK))
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
            samples, notes = self._buffer.read(self._block)
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

    def _callback(self, outdata: np.ndarray, frames: int, _time: object, status: object) -> None:
        """PortAudio thread: fill ``outdata`` and hand notes and levels to the loop."""
        samples, notes = self._buffer.read(frames)
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


def _sounddevice():  # type: ignore[no-untyped-def]
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
