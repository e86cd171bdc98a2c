"""Test recordings "with pauses inside an utterance": shared clips joined by known silences.

The clips (``tests/data/*.wav``, ``/work/shared/audio/*.wav``) are real speech at 16 kHz with
some quiet room noise at both ends. :func:`join_with_pauses` trims that lead-in and tail to the
speech (10 ms frames above ``SPEECH_DBFS``, plus ``MARGIN`` seconds), so that the silence between
two parts is the pause asked for (digital silence) plus at most ``2 * MARGIN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000
"""Hz of the joined recording."""
SPEECH_DBFS = -40.0
"""A 10 ms frame louder than this is speech, for trimming."""
MARGIN = 0.05
"""Seconds kept before the first and after the last speech frame of each clip."""

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED_AUDIO = Path("/work/shared/audio")


def clip_path(name: str) -> Path:
    """``name`` (with or without ``.wav``) in tests/data, else in /work/shared/audio."""
    file = name if name.endswith(".wav") else f"{name}.wav"
    for folder in (DATA, SHARED_AUDIO):
        if (folder / file).exists():
            return folder / file
    raise FileNotFoundError(f"no clip {file} in {DATA} or {SHARED_AUDIO}")


def read_clip(path: Path) -> np.ndarray:
    """A WAV file as mono float32 at ``RATE``."""
    import soundfile as sf
    import soxr

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def trim(samples: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """``samples`` cut to its speech (frames above ``SPEECH_DBFS``) plus ``margin`` seconds."""
    frame = RATE // 100
    n = len(samples) // frame
    if n == 0:
        return samples
    frames = samples[: n * frame].reshape(n, frame)
    db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    loud = np.flatnonzero(db > SPEECH_DBFS)
    if len(loud) == 0:
        return samples
    keep = int(margin * RATE)
    start = max(0, loud[0] * frame - keep)
    end = min(len(samples), (loud[-1] + 1) * frame + keep)
    return samples[start:end]


@dataclass(frozen=True, slots=True)
class JoinedRecording:
    """A recording made by :func:`join_with_pauses`.

    Attributes:
        path: the WAV file (16 kHz, mono, 16-bit).
        clips: the clip names, in order.
        pauses: the digital silences inserted between them, seconds.
        spans: (start, end) seconds of each trimmed clip inside the recording.
    """

    path: Path
    clips: tuple[str, ...]
    pauses: tuple[float, ...]
    spans: tuple[tuple[float, float], ...]

    @property
    def gaps(self) -> tuple[float, ...]:
        """Seconds from the end of one clip's speech to the start of the next (pause + margins)."""
        pairs = zip(self.spans, self.spans[1:], strict=False)
        return tuple(b[0] - a[1] + 2 * MARGIN for a, b in pairs)

    @property
    def duration(self) -> float:
        return self.spans[-1][1]


def join_with_pauses(
    clips: Sequence[str], pauses: Sequence[float], out: Path, *, lead: float = 0.2
) -> JoinedRecording:
    """Write ``clips`` (names of shared clips) joined by ``pauses`` seconds of silence to ``out``.

    Args:
        clips: clip names, e.g. ``["librivox_sense_0880", "librivox_sense_0930"]``.
        pauses: ``len(clips) - 1`` silences in seconds (0.6-1.5 s in lkmon's tests).
        out: the WAV file to write (16 kHz mono PCM_16).
        lead: seconds of silence before the first clip and after the last.

    Returns:
        the recording, with where each clip lies in it.

    Raises:
        ValueError: ``pauses`` does not have one entry fewer than ``clips``.
    """
    import soundfile as sf

    if len(pauses) != len(clips) - 1:
        raise ValueError(f"{len(clips)} clips need {len(clips) - 1} pauses, not {len(pauses)}")
    parts: list[np.ndarray] = [np.zeros(int(lead * RATE), dtype=np.float32)]
    spans: list[tuple[float, float]] = []
    pos = len(parts[0])
    for i, name in enumerate(clips):
        speech = trim(read_clip(clip_path(name)))
        parts.append(speech)
        spans.append((pos / RATE, (pos + len(speech)) / RATE))
        pos += len(speech)
        silence = pauses[i] if i < len(pauses) else lead
        parts.append(np.zeros(int(round(silence * RATE)), dtype=np.float32))
        pos += len(parts[-1])
    audio = np.concatenate(parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), audio, RATE, subtype="PCM_16")
    return JoinedRecording(out, tuple(clips), tuple(float(p) for p in pauses), tuple(spans))
