"""The console's audio duties on LiveKit's session protocol (``lkmon.sources.ProtocolSource``).

* The agent's audio (``audio_output`` frames) goes to a real-time null sink: an
  ``audio_playback_flush`` is answered with ``audio_playback_finished`` once the audio pushed
  since the segment's first frame would have played; ``audio_playback_clear`` cancels that
  answer (the agent ends the segment itself). Without the answer every reply hangs.
* The caller's audio (a ``WavCaller`` or ``MicInput``, 16 kHz mono int16, 10 ms frames, paced
  in real time by the caller itself) goes as ``audio_input`` frames at ``WIRE_SAMPLE_RATE``
  (48 kHz mono: LiveKit's ``TcpAudioInput`` resamples from exactly that rate), resampled by
  LiveKit's ``rtc.AudioResampler``.

Message shapes from ``livekit/agents/cli/tcp_console.py`` in livekit-agents 1.8.9.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lkmon.agent.audio.callers import WavCaller
    from lkmon.agent.audio.mic import MicInput

WIRE_SAMPLE_RATE = 48000
"""Hz of the protocol's audio frames (``cli/tcp_console.py``'s ``WIRE_SAMPLE_RATE``)."""
LAST_USAGE_WAIT = 0.5
"""Seconds between a WAV caller's last reply and the end of the session (the last usage
update arrives in that time)."""


class ConsoleAudio:
    """Both audio directions of one protocol connection, on the event loop ``loop``.

    Args:
        loop: the loop the connection runs on.
        send: writes one ``AgentSessionMessage`` to the agent.
        finished: called once a WAV caller's last reply is done (the caller finished).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[Any], None],
                 finished: Callable[[], None]) -> None:
        self._loop = loop
        self._send = send
        self._finished = finished
        self._playout: asyncio.TimerHandle | None = None
        self._pushed = 0.0  # seconds of agent audio in the segment so far
        self._first_frame: float | None = None  # monotonic arrival of the segment's first frame
        self.sent_seconds = 0.0
        """Seconds of caller audio sent as ``audio_input``."""

    # -- the agent's audio -----------------------------------------------------------------------

    def played(self, frame: Any) -> None:
        """An ``audio_output`` frame (``ConsoleIO.AudioFrame``): counted into the segment."""
        if self._first_frame is None:
            self._first_frame = time.monotonic()
        if frame.sample_rate:
            self._pushed += frame.samples_per_channel / frame.sample_rate

    def flush(self) -> None:
        """``audio_playback_flush``: answer when the segment would have finished playing."""
        start = self._first_frame if self._first_frame is not None else time.monotonic()
        delay = max(0.0, start + self._pushed - time.monotonic())
        self._first_frame, self._pushed = None, 0.0
        if self._playout is not None:
            self._playout.cancel()
        self._playout = self._loop.call_later(delay, self._answer)

    def clear(self) -> None:
        """``audio_playback_clear``: the segment was interrupted; no answer."""
        self._first_frame, self._pushed = None, 0.0
        if self._playout is not None:
            self._playout.cancel()
            self._playout = None

    def _answer(self) -> None:
        from livekit.protocol.agent_pb import agent_session as pb

        self._playout = None
        self._send(pb.AgentSessionMessage(
            audio_playback_finished=pb.AgentSessionMessage.ConsoleIO.AudioPlaybackFinished()))

    def close(self) -> None:
        """Cancel a pending answer (the session is over)."""
        if self._playout is not None:
            self._playout.cancel()
            self._playout = None

    # -- the caller's audio ----------------------------------------------------------------------

    async def speak(self, caller: WavCaller | MicInput) -> None:
        """Send ``caller``'s frames until it ends or this task is cancelled; a WAV caller that
        has played every recording and had its last reply calls ``finished`` (after
        ``LAST_USAGE_WAIT`` seconds).

        Raises:
            UsageError: the microphone cannot be opened (``MicInput.start``).
        """
        from livekit import rtc
        from livekit.protocol.agent_pb import agent_session as pb

        from lkmon.agent.audio.callers import CALLER_SAMPLE_RATE, WavCaller

        def done() -> None:
            self._loop.call_later(LAST_USAGE_WAIT, self._finished)

        if isinstance(caller, WavCaller):
            caller.on_done = done
        else:
            caller.start(self._loop)
        resampler = rtc.AudioResampler(input_rate=CALLER_SAMPLE_RATE,
                                       output_rate=WIRE_SAMPLE_RATE, num_channels=1)
        wire = pb.AgentSessionMessage.ConsoleIO.AudioFrame
        try:
            async for frame in caller:
                self.sent_seconds += frame.duration
                for out in resampler.push(frame):
                    self._send(pb.AgentSessionMessage(audio_input=wire(
                        data=bytes(out.data), sample_rate=WIRE_SAMPLE_RATE, num_channels=1,
                        samples_per_channel=out.samples_per_channel)))
        finally:
            caller.close()
