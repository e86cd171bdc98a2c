"""Audio levels: RMS in dBFS of int16 audio, measured over windows of about 0.1 s.

Used by the microphone, the WAV caller and the sinks for ``AudioLevel`` events. No livekit
import here.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import numpy as np

from lkmon.model.events import AudioLevel

LEVEL_INTERVAL = 0.1
"""Seconds between two AudioLevel events (about 10 per second)."""
SILENCE_DBFS = -100.0
"""The level reported for digital silence, in dBFS (JSON has no -inf)."""


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
