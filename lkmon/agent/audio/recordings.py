"""Recordings the WAV caller plays: found in files and folders, checked, loaded as 16 kHz mono.

Every bad file is one ``UsageError`` line. No livekit import here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lkmon.errors import UsageError

CALLER_SAMPLE_RATE = 16000
"""Hz of the frames the callers send: what Silero VAD and Whisper use, so nothing resamples."""
FRAME = 0.01
"""Seconds per frame (10 ms)."""
MAX_SECONDS = 600.0
"""Longest recording accepted, in seconds (10 minutes)."""
WAV_FORMATS = {"WAV", "WAVEX", "RF64"}


@dataclass(slots=True)
class Recording:
    """One caller utterance, ready to play.

    Attributes:
        path: where it came from.
        samples: mono int16 samples at ``CALLER_SAMPLE_RATE``, shape ``(n,)``.
        source_rate: the file's own sample rate (Hz).
        source_channels: the file's channel count.
    """

    path: Path
    samples: np.ndarray
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.samples) / CALLER_SAMPLE_RATE


def expand_wav_paths(items: Sequence[str | Path]) -> list[Path]:
    """Turn files and folders into a list of WAV files (a folder's ``*.wav``, sorted).

    Raises:
        UsageError: a path is missing, or a folder holds no ``.wav`` file.
    """
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".wav")
            if not found:
                raise UsageError(f"no WAV files in directory {p}")
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise UsageError(f"input not found: {p}")
    return paths


def load_recording(path: Path, rate: int = CALLER_SAMPLE_RATE) -> Recording:
    """Read a WAV file of any sample rate and channel count as mono int16 at ``rate``.

    Channels are averaged; the rate is converted with soxr.

    Raises:
        UsageError: unreadable, not a WAV, corrupt, empty, or longer than 10 minutes.
    """
    import soundfile as sf
    import soxr

    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile.LibsndfileError, RuntimeError
        if path.is_dir() or not path.exists():
            raise UsageError(f"input not found: {path}") from None
        raise UsageError(f"not a readable WAV file: {path} ({_first_line(e)})") from None
    if info.format not in WAV_FORMATS:
        raise UsageError(f"not a WAV file: {path} (format {info.format})")
    if info.frames <= 0 or info.samplerate <= 0:
        raise UsageError(f"empty WAV file: {path}")
    seconds = info.frames / info.samplerate
    if seconds > MAX_SECONDS:
        raise UsageError(f"WAV file too long: {path} ({seconds / 60:.1f} min; the limit is 10 min)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise UsageError(f"corrupt WAV file: {path} ({_first_line(e)})") from None
    if data.shape[0] == 0:
        raise UsageError(f"empty WAV file: {path}")
    mono = data.mean(axis=1)
    if sr != rate:
        mono = soxr.resample(mono, sr, rate)
    samples = (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16)
    return Recording(path=path, samples=samples, source_rate=sr, source_channels=data.shape[1])


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message (or its type name)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
