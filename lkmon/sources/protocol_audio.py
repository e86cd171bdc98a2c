"""The console's audio duties on LiveKit's session protocol (``lkmon.sources.ProtocolSource``).

* The agent's audio (``audio_output`` frames, 48 kHz mono int16) goes into the sink ``--output``
  asks for, the same as in-process (``lkmon.agent.audio.sinks.make_sink``: the real-time
  ``NullSink`` or the ``SpeakerSink``), resampled to the sink's rate by LiveKit's
  ``rtc.AudioResampler``. Each ``audio_playback_flush`` ends the sink's playback segment and is
  answered with ``audio_playback_finished`` once that segment has played (the sink's
  ``playback_finished``, not interrupted); ``audio_playback_clear`` stops the playback at once
  (the sink drops what is queued) and is not answered, as LiveKit's Go console does: the agent's
  ``TcpAudioOutput`` ends an interrupted segment itself. Without the answer every reply hangs.
* With an audio caller, lkmon holds both ends of the audio as in-process: the caller and the
  sink share one ``HeardMeter`` (``make_sink``), and ``HeardRelay`` puts each reply's
  ``AgentAudible`` on the agent's playback start, so the heard gap joins its turn.
* The caller's audio (a ``WavCaller`` or ``MicInput``, 16 kHz mono int16, 10 ms frames, paced
  in real time by the caller itself) goes as ``audio_input`` frames at ``WIRE_SAMPLE_RATE``
  (48 kHz mono: LiveKit's ``TcpAudioInput`` resamples from exactly that rate), resampled by
  LiveKit's ``rtc.AudioResampler``.

Message shapes from ``livekit/agents/cli/tcp_console.py`` in livekit-agents 1.8.9.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit import rtc

    from lkmon.agent.audio.callers import WavCaller
    from lkmon.agent.audio.mic import MicInput
    from lkmon.agent.audio.sinks import Emit, NullSink, SpeakerSink
    from lkmon.model.events import AgentAudible, ChatMessageAdded

logger = logging.getLogger("lkmon.protocol")

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
        sink: where the agent's audio plays (``make_sink``; default: a new ``NullSink``).
            A ``SpeakerSink`` is started by ``speak_out``; ``aclose`` closes it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[Any], None],
                 finished: Callable[[], None], sink: NullSink | SpeakerSink | None = None
                 ) -> None:
        from lkmon.agent.audio.sinks import NullSink

        self._loop = loop
        self._send = send
        self._finished = finished
        self.sink = sink if sink is not None else NullSink()
        self.sink.on("playback_finished", self._on_played)
        self._resampler: rtc.AudioResampler | None = None
        self._bad_frames = 0
        self.answered = 0
        """``audio_playback_finished`` answers sent."""
        self.sent_seconds = 0.0
        """Seconds of caller audio sent as ``audio_input``."""

    # -- the agent's audio -----------------------------------------------------------------------

    def speak_out(self) -> None:
        """Start the output device (a ``SpeakerSink``; the null sink needs no start).

        Raises:
            UsageError: the device cannot be opened.
        """
        from lkmon.agent.audio.sinks import SpeakerSink

        if isinstance(self.sink, SpeakerSink):
            self.sink.start(self._loop)

    async def play(self, frame: Any) -> None:
        """An ``audio_output`` frame (``ConsoleIO.AudioFrame``, any rate; LiveKit sends 48 kHz
        mono int16) into the sink. A malformed frame (no rate, fewer bytes than it claims) is
        skipped, the first one logged."""
        from livekit import rtc

        try:
            audio = rtc.AudioFrame(data=frame.data, sample_rate=frame.sample_rate,
                                   num_channels=frame.num_channels or 1,
                                   samples_per_channel=frame.samples_per_channel)
            if frame.sample_rate <= 0:
                raise ValueError(f"sample rate {frame.sample_rate}")
        except ValueError as e:
            self._bad_frames += 1
            if self._bad_frames == 1:
                logger.warning("an audio_output frame skipped: %s", e)
            return
        rate = self.sink.sample_rate
        if rate is None or rate == audio.sample_rate and self._resampler is None:
            await self.sink.capture_frame(audio)
            return
        if self._resampler is None:
            self._resampler = rtc.AudioResampler(input_rate=audio.sample_rate, output_rate=rate,
                                                 num_channels=audio.num_channels)
        for out in self._resampler.push(audio):
            await self.sink.capture_frame(out)

    async def flush(self) -> None:
        """``audio_playback_flush``: the segment is complete; it is answered once played."""
        if self._resampler is not None:  # the resampler's tail belongs to this segment
            resampler, self._resampler = self._resampler, None
            for out in resampler.flush():
                await self.sink.capture_frame(out)
        self.sink.flush()

    def clear(self) -> None:
        """``audio_playback_clear``: stop the playback now (what is queued is dropped); no
        answer (the agent ends the segment as interrupted itself)."""
        self._resampler = None
        self.sink.clear_buffer()

    def _on_played(self, ev: Any) -> None:
        """The sink's ``playback_finished``: a segment played to its end is answered."""
        if not ev.interrupted:
            from livekit.protocol.agent_pb import agent_session as pb

            self.answered += 1
            self._send(pb.AgentSessionMessage(
                audio_playback_finished=pb.AgentSessionMessage.ConsoleIO.AudioPlaybackFinished()))

    async def aclose(self) -> None:
        """The session is over: stop the playback (nothing more is answered), close the sink."""
        self.sink.off("playback_finished", self._on_played)
        self.sink.clear_buffer()
        await self.sink.aclose()


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



RELAY_WINDOW = 1.0
"""Seconds after the agent's playback start within which lkmon's sink may start the same
segment (the wire, the sink's 10 ms tick, a busy loop) for ``HeardRelay`` to join them."""
RELAY_SLACK = 0.005
"""Seconds lkmon's start may read before the agent's (the clock reads of two processes)."""
_HELD = 16


class HeardRelay:
    """Puts each ``AgentAudible`` of lkmon's sink on the agent's playback start.

    Over the session protocol the agent's own audio output (LiveKit's ``TcpAudioOutput``)
    reports the playback start (``on_playback_started(created_at=time.time())``: the reply's
    ``started_speaking_at``, the start of its ``e2e_latency``) when it sends the segment's first
    frame; lkmon's sink starts playing that segment a little later, so the sink's
    ``AgentAudible.playback_started_at`` (lkmon's start) would join no turn
    (``lkmon.model.heard.HeardJoin`` matches within 5 ms). The relay holds each event until the
    assistant message carrying the reply's ``started_speaking_at`` (``ChatMessageAdded.metrics``,
    from the protocol's ``conversation_item_added``) comes, and hands it on with that start:
    the earliest event whose own start lies from ``RELAY_SLACK`` before it to ``RELAY_WINDOW``
    seconds after it. ``at`` and ``voice_end_at`` (the heard gap) are untouched; the delay
    between the two starts shows in the heard difference's ``start`` part. Held events older
    than a joined one (later segments of an earlier reply) are dropped; at most 16 are held.

    Args:
        emit: receives each event once it is put on the agent's start.
    """

    def __init__(self, emit: Emit) -> None:
        from collections import deque

        self._emit = emit
        self._held: deque[AgentAudible] = deque(maxlen=_HELD)
        self._starts: deque[float] = deque(maxlen=_HELD)  # agent starts no event matched yet
        self.lags: list[float] = []
        """Seconds from the agent's playback start to lkmon's, per joined event."""

    def audible(self, ev: AgentAudible) -> None:
        """An event of lkmon's sink (its ``playback_started_at`` on lkmon's start)."""
        self._held.append(ev)
        self._join()

    def message(self, ev: ChatMessageAdded) -> None:
        """A chat message: an assistant one's ``started_speaking_at`` is the agent's start."""
        started = ev.metrics.get("started_speaking_at") if ev.role == "assistant" else None
        if started is not None:
            self._starts.append(started)
            self._join()

    def _join(self) -> None:
        import dataclasses

        for started in list(self._starts):
            fits = [e for e in self._held
                    if started - RELAY_SLACK <= e.playback_started_at <= started + RELAY_WINDOW]
            if not fits:
                continue
            ev = min(fits, key=lambda e: e.playback_started_at)
            for earlier in [s for s in self._starts if s <= started]:
                self._starts.remove(earlier)
            for old in [e for e in self._held if e.playback_started_at <= ev.playback_started_at]:
                self._held.remove(old)
            self.lags.append(ev.playback_started_at - started)
            self._emit(dataclasses.replace(ev, playback_started_at=started))
