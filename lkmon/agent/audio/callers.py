"""Callers: what speaks to the agent. WAV recordings, the microphone, or typed text.

* ``WavCaller`` plays recordings at real-time pace in 10 ms frames, silence in between, and
  waits for the agent's reply (plus about 1 s) before the next recording.
* ``MicInput`` reads the default input device through sounddevice.
* ``TextCaller`` sends typed lines (headless ``--input text`` reads them from stdin).

Both audio callers emit ``AudioLevel(source="mic")`` events, about 10 per second, and, given a
``HeardMeter`` (``heard``), hand it every frame with voice in it (``lkmon.agent.audio.heard``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from lkmon.agent.audio.heard import HeardMeter
from lkmon.agent.audio.levels import LevelMeter
from lkmon.agent.audio.recordings import (
    CALLER_SAMPLE_RATE,
    FRAME,
    Recording,
    expand_wav_paths,
    load_recording,
    load_recordings,
)
from lkmon.agent.audio.watcher import AgentWatcher
from lkmon.agent.threads import in_daemon_thread
from lkmon.errors import UsageError
from lkmon.model.events import Event

logger = logging.getLogger("lkmon.sources")

GAP = 1.0
"""Seconds the agent must be quiet after its reply before the next recording plays."""
REPLY_TIMEOUT = 30.0
"""Seconds to wait for a reply after a recording before going on without one."""
if TYPE_CHECKING:
    from lkmon.agent.audio.mic import MicInput
    from lkmon.agent.host.options import RunOptions

Emit = Callable[[Event], None]
__all__ = [  # recordings (loading, checking) live in lkmon.agent.audio.recordings
    "CALLER_SAMPLE_RATE", "FRAME", "GAP", "REPLY_TIMEOUT", "AgentWatcher", "Recording",
    "TextCaller", "WavCaller", "expand_wav_paths", "in_daemon_thread", "load_recording",
    "make_caller",
]


class WavCaller(io.AudioInput):
    """A simulated caller that plays WAV recordings to the agent, one per turn.

    Timeline: silence until the agent is quiet for ``gap`` seconds; a recording at real-time
    pace; silence until the agent has replied (left ``speaking``) and been quiet ``gap`` seconds
    (or ``reply_timeout`` passed); the next recording... After the last reply, ``done`` is set and
    ``on_done`` is called; silence goes on until the session closes.

    Args:
        paths: WAV files and folders of them (a folder's ``*.wav``, sorted by name).
        emit: receives ``AudioLevel(source="mic")`` events (dBFS, about 10 per second).
        gap: seconds of agent quiet before each recording.
        reply_timeout: seconds to wait for a reply before going on.

    Raises:
        UsageError: a missing, non-WAV, corrupt, empty, too short or over-10-minute file, a
            FIFO, an odd sample rate, NaN samples, over an hour in all, or an empty folder.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        emit: Emit | None = None,
        *,
        gap: float = GAP,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        super().__init__(label="lkmon.WavCaller")
        files = expand_wav_paths(paths)
        if not files:
            raise UsageError("no input recordings given")
        self.recordings = load_recordings(files)
        self.watcher = AgentWatcher()
        self.done = asyncio.Event()
        self.on_done: Callable[[], None] | None = None
        self.played: list[tuple[Path, float, float]] = []  # (path, start, end) epoch seconds
        self._emit = emit
        self._gap = gap
        self._reply_timeout = reply_timeout
        self._block = int(CALLER_SAMPLE_RATE * FRAME)
        self._silence = np.zeros(self._block, dtype=np.int16)
        self._index = 0  # next recording to play
        self._pos: int | None = None  # sample position inside the playing recording
        self._ended_at: float | None = None  # monotonic end of the last recording played
        self._replies_at_end = self._turns_at_end = self._finals_at_end = 0  # counts at its end
        self._t0: float | None = None
        self._started_wall = 0.0
        self._sent = 0
        self._meter = LevelMeter("mic")
        self._closed = False
        self.heard: HeardMeter | None = None  # gets each frame not between recordings

    def describe(self) -> str:
        """For SessionStarted.input, e.g. ``"wav: a.wav, b.wav"``."""
        return "wav: " + ", ".join(r.path.name for r in self.recordings)

    def attach(self, session: Any) -> None:
        """Follow ``session``'s agent state (call before ``session.start``)."""
        self.watcher.attach(session)

    def close(self) -> None:
        """End the stream: the next ``__anext__`` raises StopAsyncIteration."""
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        """Next 10 ms frame, at real-time pace against the monotonic clock."""
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._t0 is None:
            self._t0 = now
        deadline = self._t0 + self._sent * FRAME
        if deadline > now:
            await asyncio.sleep(deadline - now)
        elif now - deadline > 0.5:  # a long stall: re-anchor instead of bursting
            self._t0, self._sent = now, 0
        if self._closed:
            raise StopAsyncIteration
        self._sent += 1
        samples = self._next_samples()
        self._level(samples)
        if self.heard is not None and samples is not self._silence:
            self.heard.caller(samples, CALLER_SAMPLE_RATE, time.time())
        return rtc.AudioFrame(
            data=samples.tobytes(),
            sample_rate=CALLER_SAMPLE_RATE,
            num_channels=1,
            samples_per_channel=len(samples),
        )

    def _next_samples(self) -> np.ndarray:
        if self._pos is not None:
            rec = self.recordings[self._index]
            chunk = rec.samples[self._pos : self._pos + self._block]
            self._pos += self._block
            if self._pos >= len(rec.samples):
                self.played.append((rec.path, self._started_wall, time.time()))
                logger.info("caller: played %s (%.2f s)", rec.path.name, rec.duration)
                self._pos = None
                self._index += 1
                self._ended_at = time.monotonic()
                self._replies_at_end = self.watcher.replies
                self._turns_at_end = self.watcher.user_turns
                self._finals_at_end = self.watcher.finals
            if len(chunk) < self._block:
                chunk = np.concatenate([chunk, self._silence[: self._block - len(chunk)]])
            return chunk
        if self._ready_for_next():
            if self._index < len(self.recordings):
                self._pos = 0
                self._started_wall = time.time()
                return self._next_samples()
            if not self.done.is_set():
                logger.info("caller: last reply done, ending the session")
                self.done.set()
                if self.on_done is not None:
                    self.on_done()
        return self._silence

    def _ready_for_next(self) -> bool:
        """True when the turn that answers the last recording is over, and the agent has been
        quiet ``gap`` seconds: a reply was played (or interrupted); or the user turn was
        committed and no reply is pending; or, for an agent without an LLM, its final
        transcript came. A preemptive reply that LiveKit threw away is no answer."""
        w = self.watcher
        quiet = w.quiet_for()
        if self._ended_at is None:  # before the first recording
            return quiet >= self._gap
        answered = (
            w.replies > self._replies_at_end
            or w.user_turns > self._turns_at_end
            or (w.finals > self._finals_at_end and not w.has_llm())
        )
        if answered:
            return quiet >= self._gap
        if time.monotonic() - self._ended_at > self._reply_timeout:
            logger.warning(
                "caller: no reply within %.0f s of %s; going on",
                self._reply_timeout,
                self.recordings[self._index - 1].path.name,
            )
            self._replies_at_end = self.watcher.replies - 1  # count it as answered
            return quiet >= self._gap
        return False

    def _level(self, samples: np.ndarray) -> None:
        if self._emit is not None and (level := self._meter.add(samples)) is not None:
            self._emit(level)


class TextCaller:
    """Sends typed lines to the agent one turn at a time (headless ``--input text``).

    Each line waits until the agent is quiet for ``gap`` seconds, is sent with ``send``, then the
    caller waits for the reply. At the end of the lines, ``on_done`` is called.

    Args:
        lines: the user's turns, e.g. ``sys.stdin``; blank lines are skipped.
        send: sends one typed turn (``SessionRunner.send_text``).
        gap: seconds of agent quiet before each line.
        reply_timeout: seconds to wait for a reply before going on.
    """

    def __init__(
        self,
        lines: Iterable[str],
        send: Callable[[str], None],
        *,
        gap: float = GAP,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self._lines = lines
        self._send = send
        self._gap = gap
        self._reply_timeout = reply_timeout
        self.watcher = AgentWatcher()
        self.on_done: Callable[[], None] | None = None

    def describe(self) -> str:
        """For SessionStarted.input."""
        return "text"

    def attach(self, session: Any) -> None:
        """Follow ``session``'s agent state."""
        self.watcher.attach(session)

    async def run(self) -> None:
        """Send every line, each after the previous reply; then call ``on_done``."""
        it = iter(self._lines)
        while True:
            line = await in_daemon_thread(next, it, None)
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            await self._wait(lambda: self.watcher.quiet_for() >= self._gap, None)
            before = self.watcher.replies
            self._send(text)

            def replied(before: int = before) -> bool:
                return self.watcher.replies > before

            await self._wait(replied, self._reply_timeout)
        await self._wait(lambda: self.watcher.quiet_for() >= self._gap, None)
        if self.on_done is not None:
            self.on_done()

    @staticmethod
    async def _wait(cond: Callable[[], bool], timeout: float | None) -> None:
        start = time.monotonic()
        while not cond():
            if timeout is not None and time.monotonic() - start > timeout:
                logger.warning("caller: no reply within %.0f s; going on", timeout)
                return
            await asyncio.sleep(0.05)


def audio_caller(
    inputs: Sequence[str], emit: Emit, *, mic_device: int | str | None = None,
    gap: float | None = None, reply_timeout: float | None = None,
) -> WavCaller | MicInput:
    """The audio caller ``inputs`` asks for: ``["mic"]`` or WAV files and folders. ``gap`` and
    ``reply_timeout`` are seconds; ``None`` keeps ``WavCaller``'s own defaults.

    Raises:
        UsageError: a mix of inputs (or ``text``), no input, a bad recording, or no input device.
    """
    from lkmon.agent.audio.mic import MicInput

    if list(inputs) == ["mic"]:
        return MicInput(emit, device=mic_device)
    if "mic" in inputs or "text" in inputs or not inputs:
        raise UsageError("--input takes 'mic', 'text', or WAV files and folders, not a mix")
    return WavCaller(inputs, emit, gap=GAP if gap is None else gap,
                     reply_timeout=REPLY_TIMEOUT if reply_timeout is None else reply_timeout)


def make_caller(
    options: RunOptions, emit: Emit, send_text: Callable[[str], None]
) -> WavCaller | MicInput | TextCaller | None:
    """The caller ``options.inputs`` asks for: the microphone, typed lines (``None`` when the
    lines come later through ``send_text``: the TUI), or WAV recordings.

    Raises:
        UsageError: a mix of inputs, a bad recording, or no input device.
    """
    if list(options.inputs) == ["text"]:
        if options.text_lines is None:
            return None
        return TextCaller(
            options.text_lines, send_text, gap=options.gap, reply_timeout=options.reply_timeout
        )
    return audio_caller(options.inputs, emit, mic_device=options.mic_device, gap=options.gap,
                        reply_timeout=options.reply_timeout)
