"""The sinks' playout buffer: segments of mono int16 samples, pushed on the event loop and read
at real time by a loop task (the null sink) or the PortAudio callback thread (the speakers).

No livekit import here.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from lkmon.agent.audio.heard import first_voiced


@dataclass(slots=True)
class PlaybackNote:
    """Something the buffer observed while reading; dispatched on the event loop.

    Attributes:
        kind: ``"started"`` (first sample of a segment read), ``"audible"`` (its first voiced
            sample read, ``lkmon.agent.audio.heard.first_voiced``; only with
            ``PlayoutBuffer.detect``) or ``"finished"``.
        segment: segment id.
        at: epoch seconds (``time.time()``) when it happened; for ``"audible"``, when that
            sample plays: the read's time, plus its place in the block, plus ``delay``.
        position: seconds of the segment that played (finished), or that came before the
            first voiced sample (audible).
        interrupted: True when ``clear()`` cut the segment short (finished only).
        delay: the output delay given to ``read`` (audible only), seconds.
    """

    kind: str
    segment: int
    at: float
    position: float = 0.0
    interrupted: bool = False
    delay: float = 0.0


@dataclass(slots=True)
class _Segment:
    id: int
    chunks: collections.deque[np.ndarray]
    pushed: int = 0  # samples
    played: int = 0  # samples
    flushed: bool = False
    started: bool = False
    audible: bool = False  # its first voiced sample was found (PlayoutBuffer.detect)
    drained: bool = False  # every sample has been handed out by a previous read


class PlayoutBuffer:
    """Thread-safe queue of playback segments of mono int16 samples at one sample rate.

    A producer (the session, on the loop) pushes samples and ends segments; a consumer (a loop
    task or an audio callback thread) reads fixed-size blocks. Reads report, as
    ``PlaybackNote``s, when a segment starts playing and when it has finished: a segment finishes
    at the first read after its last sample was handed out, i.e. once that sample has played.

    With ``detect`` set, reads also report each segment's first voiced sample (``"audible"``):
    the samples of a segment are scanned (numpy, per block) only until it is found.

    Args:
        sample_rate: samples per second of everything pushed and read.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._segments: collections.deque[_Segment] = collections.deque()
        self._next_id = 1
        self.paused = False
        self.detect = False

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

    def read(self, n: int, delay: float = 0.0) -> tuple[np.ndarray, list[PlaybackNote]]:
        """Take the next ``n`` samples to play (silence where there is nothing to play).

        Args:
            n: samples to read.
            delay: seconds from this read to the samples reaching the device (an audio
                stream's output latency), added to an ``"audible"`` note's time.

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
                first, played = filled, seg.played
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
                if self.detect and not seg.audible:
                    k = first_voiced(out[first:filled], self.sample_rate)
                    if k is not None:
                        seg.audible = True
                        rate = self.sample_rate
                        at = now + (first + k) / rate + delay
                        notes.append(
                            PlaybackNote("audible", seg.id, at, (played + k) / rate, delay=delay)
                        )
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
