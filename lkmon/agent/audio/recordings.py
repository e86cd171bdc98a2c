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
MIN_SECONDS = 0.1
"""Shortest recording accepted, in seconds (shorter is no utterance: a VAD cannot hear it)."""
MAX_TOTAL_SECONDS = 3600.0
"""Most audio accepted in one ``--input`` (an hour, about 115 MB once loaded), checked from the
headers before any file is read."""
RATES = (4000, 384_000)
"""Sample rates accepted, Hz (a header's 2,147,483,647 Hz resampled to 0 samples)."""
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
        elif p.is_file():
            paths.append(p)
        elif p.exists():  # a FIFO or a device would block the read forever
            raise UsageError(f"not a regular file: {p} (a WAV input must be a file)")
        else:
            raise UsageError(f"input not found: {p}")
    return paths


def load_recordings(paths: Sequence[Path], rate: int = CALLER_SAMPLE_RATE) -> list[Recording]:
    """Check every file's header (``check_recording``) and the total length, then load them.

    Raises:
        UsageError: a bad file (see ``load_recording``), or more than ``MAX_TOTAL_SECONDS`` of
            audio in all (nothing is loaded then).
    """
    total = sum(check_recording(p) for p in paths)
    if total > MAX_TOTAL_SECONDS:
        raise UsageError(
            f"WAV input too long in total: {total / 3600:.1f} h in {len(paths)} files (the limit"
            f" is {MAX_TOTAL_SECONDS / 3600:.0f} h); play fewer files per session"
        )
    return [load_recording(p, rate) for p in paths]


def check_recording(path: Path) -> float:
    """The seconds of audio in ``path``, from its header: a regular file, a WAV, a sample rate
    in ``RATES``, between ``MIN_SECONDS`` and ``MAX_SECONDS`` long.

    Raises:
        UsageError: one line saying which and why.
    """
    import soundfile as sf

    if path.exists() and not path.is_file():
        raise UsageError(f"not a regular file: {path} (a WAV input must be a file)")
    try:  # opened by Python: a file name that is not UTF-8 (a Latin-1 name) opens too
        with path.open("rb") as f:
            info = sf.info(f)
    except FileNotFoundError:
        raise UsageError(f"input not found: {path}") from None
    except Exception as e:  # soundfile.LibsndfileError, RuntimeError, OSError
        raise UsageError(f"not a readable WAV file: {path} ({_first_line(e)})") from None
    if info.format not in WAV_FORMATS:
        raise UsageError(f"not a WAV file: {path} (format {info.format})")
    if info.frames <= 0 or info.samplerate <= 0:
        raise UsageError(f"empty WAV file: {path}")
    if not RATES[0] <= info.samplerate <= RATES[1]:
        raise UsageError(
            f"unsupported sample rate in WAV file: {path} ({info.samplerate:,} Hz; lkmon plays"
            f" {RATES[0]:,} to {RATES[1]:,} Hz)"
        )
    seconds = float(info.frames / info.samplerate)
    if seconds > MAX_SECONDS:
        raise UsageError(f"WAV file too long: {path} ({seconds / 60:.1f} min; the limit is 10 min)")
    if seconds < MIN_SECONDS:
        raise UsageError(
            f"WAV file too short: {path} ({seconds:.4f} s; at least {MIN_SECONDS} s of speech)"
        )
    return seconds


def load_recording(path: Path, rate: int = CALLER_SAMPLE_RATE) -> Recording:
    """Read a WAV file of any sample rate (``RATES``) and channel count as mono int16 at
    ``rate``. Channels are averaged; the rate is converted with soxr.

    Raises:
        UsageError: not a regular file, unreadable, not a WAV, corrupt, empty, shorter than
            ``MIN_SECONDS`` or longer than 10 minutes, an odd sample rate, or samples that are
            not finite numbers (a float WAV holding NaN).
    """
    import soundfile as sf
    import soxr

    check_recording(path)
    try:
        with path.open("rb") as f:
            data, sr = sf.read(f, dtype="float32", always_2d=True)
    except Exception as e:
        raise UsageError(f"corrupt WAV file: {path} ({_first_line(e)})") from None
    if data.shape[0] == 0:
        raise UsageError(f"empty WAV file: {path}")
    if not np.isfinite(data).all():
        raise UsageError(f"WAV file holds samples that are not numbers (NaN or infinity): {path}")
    mono = data.mean(axis=1)
    if sr != rate:
        mono = soxr.resample(mono, sr, rate)
    samples = (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16)
    return Recording(path=path, samples=samples, source_rate=sr, source_channels=data.shape[1])


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message (or its type name)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
