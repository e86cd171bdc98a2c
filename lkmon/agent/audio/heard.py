"""The silence the caller hears, measured on lkmon's own copy of both ends of the audio.

The caller (``WavCaller``, ``MicInput``) hands every frame it sends to ``HeardMeter.caller``;
the sinks' playout buffer finds the first audible sample of each playback segment with
``first_voiced``, and the sink hands it to ``HeardMeter.agent``, which returns the
``AgentAudible`` event: that sample's time and the end of the caller's last voiced sample
before it.

Method: a sample is *voiced* when it lies in a 1 ms window (``WINDOW``) whose RMS is at least
``THRESHOLD_DBFS`` (-40 dBFS), and is itself at least that loud; the window finds speech, the
sample pins its edge. Numpy on each frame (10 ms, 160 samples at 16 kHz; 240 at 24 kHz): no
per-sample Python loop. Clock: the wall clock (``time.time()``, LiveKit's ``created_at``
clock). A caller frame is stamped when it is handed to the agent (the WAV caller) or when
PortAudio delivered it (the microphone) and holds the audio of the frame's length before
that; an output block is stamped when the sink hands it out (the null sink's 10 ms tick, or
the PortAudio callback plus the stream's output latency) and plays from then on. Resolution:
one sample (62.5 us at 16 kHz, 42 us at 24 kHz) on each signal's own timeline, plus the jitter
of the clock reads (the event loop's wake-ups, about 1 ms).

No livekit import here.
"""

from __future__ import annotations

import math
import time

import numpy as np

from lkmon.model.events import AgentAudible

__all__ = ["THRESHOLD_DBFS", "WINDOW", "HeardMeter", "first_voiced", "last_voiced"]

THRESHOLD_DBFS = -40.0
"""The energy a 1 ms window (and its edge sample) must reach to be voiced, dBFS."""
WINDOW = 0.001
"""Seconds per energy window."""


def _level(dbfs: float) -> float:
    """``dbfs`` as an int16 amplitude."""
    return float(32768.0 * 10.0 ** (dbfs / 20.0))


def _voiced_windows(samples: np.ndarray, width: int, level: float) -> np.ndarray:
    """Indexes of the windows of ``width`` samples whose RMS reaches ``level`` (the last
    window may be shorter)."""
    x = samples.astype(np.float32)
    n = len(x)
    full = n // width * width
    energy = np.square(x[:full]).reshape(-1, width).mean(axis=1)
    if full < n:
        energy = np.append(energy, np.square(x[full:]).mean())
    return np.flatnonzero(energy >= level * level)


def last_voiced(samples: np.ndarray, rate: int, dbfs: float = THRESHOLD_DBFS) -> int | None:
    """Index of the last voiced sample of mono int16 ``samples`` at ``rate`` Hz, or ``None``
    when none is (see the module docstring for "voiced")."""
    width = max(1, round(rate * WINDOW))
    level = _level(dbfs)
    windows = _voiced_windows(samples, width, level)
    if not len(windows):
        return None
    start = int(windows[-1]) * width
    loud = np.flatnonzero(np.abs(samples[start : start + width].astype(np.float32)) >= level)
    return start + int(loud[-1])  # a window at the level holds a sample at least that loud


def first_voiced(samples: np.ndarray, rate: int, dbfs: float = THRESHOLD_DBFS) -> int | None:
    """Index of the first voiced sample of mono int16 ``samples`` at ``rate`` Hz, or ``None``."""
    width = max(1, round(rate * WINDOW))
    level = _level(dbfs)
    windows = _voiced_windows(samples, width, level)
    if not len(windows):
        return None
    start = int(windows[0]) * width
    loud = np.flatnonzero(np.abs(samples[start : start + width].astype(np.float32)) >= level)
    return start + int(loud[0])


class HeardMeter:
    """Both ends of the audio on one clock: the caller's last voiced sample so far, and, per
    playback segment of the agent, an ``AgentAudible`` event.

    Shared by the caller and the sink of one session, both on the event loop.

    Args:
        dbfs: the voiced threshold (``THRESHOLD_DBFS``).

    Attributes:
        voice_end_at: epoch seconds where the caller's last voiced sample ended, or ``None``.
    """

    def __init__(self, dbfs: float = THRESHOLD_DBFS) -> None:
        if not math.isfinite(dbfs) or dbfs > 0:
            raise ValueError(f"threshold must be a dBFS level <= 0, not {dbfs!r}")
        self.dbfs = dbfs
        self.voice_end_at: float | None = None

    def caller(self, samples: np.ndarray, rate: int, end_at: float) -> None:
        """One frame the caller sent: mono int16 ``samples`` at ``rate`` Hz, whose last sample
        ended at ``end_at`` (epoch seconds)."""
        k = last_voiced(samples, rate, self.dbfs)
        if k is not None:
            self.voice_end_at = end_at - (len(samples) - k - 1) / rate

    def agent(self, at: float, playback_started_at: float, output_delay: float = 0.0
              ) -> AgentAudible:
        """The event for a segment whose first audible sample played at ``at`` (epoch
        seconds, ``output_delay`` included) and whose playback started (the ``created_at``
        given to LiveKit) at ``playback_started_at``."""
        return AgentAudible(
            ts=time.time(), at=at, playback_started_at=playback_started_at,
            output_delay=output_delay, voice_end_at=self.voice_end_at, threshold=self.dbfs,
        )
