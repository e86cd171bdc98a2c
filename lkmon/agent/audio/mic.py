"""The microphone caller: the default input device through sounddevice (PortAudio)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from lkmon.agent.audio.callers import Emit
from lkmon.agent.audio.heard import HeardMeter
from lkmon.agent.audio.recordings import CALLER_SAMPLE_RATE, FRAME, _first_line
from lkmon.agent.audio.sinks import LevelMeter
from lkmon.errors import UsageError

logger = logging.getLogger("lkmon.sources")


class MicInput(io.AudioInput):
    """The default microphone through sounddevice: 16 kHz mono int16, 10 ms frames.

    PortAudio's callback thread hands each block to the event loop with
    ``loop.call_soon_threadsafe`` into an ``asyncio.Queue``, with the wall-clock time PortAudio
    delivered it (for ``heard``, the session's ``HeardMeter``, when set). While muted, frames
    are zeros (the session keeps its timing).

    Args:
        emit: receives ``AudioLevel(source="mic")`` events (dBFS, about 10 per second).
        device: a sounddevice input device (index or name); None for the default.

    Raises:
        UsageError: sounddevice/PortAudio is missing or there is no input device.
    """

    def __init__(self, emit: Emit | None = None, *, device: int | str | None = None) -> None:
        super().__init__(label="lkmon.MicInput")
        self._sd = _sounddevice()
        try:
            self._sd.query_devices(device, kind="input")
        except Exception as e:
            raise UsageError(
                f"no audio input device ({_first_line(e)}); use --input FILES or --input text"
            ) from None
        self._device = device
        self._emit = emit
        self._queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self.muted = False
        self._meter = LevelMeter("mic")
        self.heard: HeardMeter | None = None

    def describe(self) -> str:
        """For SessionStarted.input."""
        return "mic"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the input stream.

        Raises:
            UsageError: the device cannot be opened.
        """
        self._loop = loop
        try:
            self._stream = self._sd.RawInputStream(
                samplerate=CALLER_SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=int(CALLER_SAMPLE_RATE * FRAME),
                device=self._device,
                callback=self._callback,
            )
            self._stream.start()
        except Exception as e:
            raise UsageError(f"cannot open the audio input device: {_first_line(e)}") from None

    def _callback(self, indata: Any, frames: int, _time: object, status: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (bytes(indata), time.time()))

    async def __anext__(self) -> rtc.AudioFrame:
        """Next microphone frame (zeros while muted)."""
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        data, delivered_at = item
        samples = np.frombuffer(data, dtype=np.int16)
        if self.muted:
            samples = np.zeros_like(samples)
        elif self.heard is not None:
            self.heard.caller(samples, CALLER_SAMPLE_RATE, delivered_at)
        self._level(samples)
        return rtc.AudioFrame(
            data=samples.tobytes(),
            sample_rate=CALLER_SAMPLE_RATE,
            num_channels=1,
            samples_per_channel=len(samples),
        )

    def _level(self, samples: np.ndarray) -> None:
        if self._emit is not None and (level := self._meter.add(samples)) is not None:
            self._emit(level)

    def close(self) -> None:
        """Stop the stream and end the input."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self._queue.put_nowait(None)


def _sounddevice() -> Any:
    from lkmon.agent.audio.sinks import _sounddevice as impl

    return impl()


def has_input_device() -> bool:
    """True when sounddevice finds a default input device."""
    try:
        _sounddevice().query_devices(kind="input")
    except Exception as e:
        logger.debug("no input device: %s", e)
        return False
    return True
