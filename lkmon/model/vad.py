"""VAD state: speaking flag, a ~30 s speech-probability trace, durations and VAD health.

Fed by ``VadActivity`` (the bridge wraps the VAD stream and decimates ``vad.VADEvent``) and by
VADMetrics (``PluginMetrics`` of kind ``"vad"``). No textual or livekit import here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from lkmon.model.events import PluginMetrics, VadActivity
from lkmon.model.figures import num

TRACE_SECONDS = 30.0
"""How much speech-probability history the trace keeps, in seconds."""
TRACE_MAXLEN = 3000
"""Upper bound on trace points (100 per second over 30 s)."""
VAD_WINDOW_SECONDS = 0.032
"""Audio per VAD inference: Silero's 512 samples at 16 kHz (VADCapabilities.update_interval).
VADMetrics carries no audio duration, so audio seconds = inference_count x this window."""


@dataclass(slots=True)
class VadState:
    """What the VAD pane shows.

    Attributes:
        speaking: the VAD's speaking flag (``VADEvent.speaking``).
        probability: the latest speech probability, 0..1.
        trace: ``(ts, probability)`` pairs, epoch seconds, covering the last ~30 s.
        speech_duration: seconds of speech in the current segment (``VADEvent.speech_duration``).
        silence_duration: seconds of silence since speech ended (``VADEvent.silence_duration``).
        speech_count: start-of-speech events seen.
        speech_total: seconds of speech over ended segments (sum of speech_duration at each
            end_of_speech).
        silence_total: seconds of silence between speech segments: for each start of speech
            that follows an end of speech, the pause from where that speech really ended to where
            the new speech really began (see ``apply_activity``). The silence before the first
            speech and after the last one is not counted.
        inference_count: VAD inferences counted by VADMetrics over the session.
        inference_seconds: total ``VADMetrics.inference_duration_total``, seconds.
        idle_time: the latest ``VADMetrics.idle_time``, seconds since the last speech boundary.
        inference_per_audio_second: seconds of inference per second of audio in the latest
            VADMetrics window (inference_duration_total / (inference_count x 32 ms)).
        realtime_factor: inference seconds / audio seconds over the whole session (< 1 means the
            VAD keeps up with real time); ``None`` before the first VADMetrics.
        metrics_count: VADMetrics seen.
        last_event_at: epoch seconds of the latest VadActivity.
    """

    speaking: bool = False
    probability: float = 0.0
    trace: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=TRACE_MAXLEN))
    speech_duration: float = 0.0
    silence_duration: float = 0.0
    speech_count: int = 0
    speech_total: float = 0.0
    silence_total: float = 0.0
    inference_count: int = 0
    inference_seconds: float = 0.0
    idle_time: float | None = None
    inference_per_audio_second: float | None = None
    realtime_factor: float | None = None
    metrics_count: int = 0
    last_event_at: float | None = None
    _silence_began_at: float | None = field(default=None, repr=False)

    def apply_activity(self, ev: VadActivity) -> None:
        """Fold one ``VadActivity`` into the state.

        The pause between two speech segments runs from where the first really ended to where
        the next really began. LiveKit's VAD (Silero, ``livekit.plugins.silero``) reports both
        boundaries late: ``end_of_speech`` fires once ``silence_duration`` of silence
        (``min_silence_duration``) is confirmed, so the silence began that much earlier;
        ``start_of_speech`` fires once ``speech_duration`` of speech (``min_speech_duration``) is
        confirmed, so the speech began that much earlier. Pause = ``(start.ts -
        start.speech_duration) - (end.ts - end.silence_duration)``, with ``ts`` the time lkmon
        saw the event (every input is fed at real-time pace, so it follows the audio). Only the
        two boundary events are used (the decimated inference events are not kept in
        ``events``), so a snapshot or a journal replays to the same figure.
        """
        ts = ev.ts
        trace = self.trace
        trace.append((ts, ev.probability))
        horizon = ts - TRACE_SECONDS
        while trace[0][0] < horizon:
            trace.popleft()
        self.probability = ev.probability
        self.speaking = ev.speaking
        self.speech_duration = ev.speech_duration
        self.silence_duration = ev.silence_duration
        self.last_event_at = ts
        kind = ev.event
        if kind == "start_of_speech":
            self.speech_count += 1
            if self._silence_began_at is not None:
                pause = (ts - ev.speech_duration) - self._silence_began_at
                self.silence_total += max(0.0, pause)
                self._silence_began_at = None
            self.speaking = True
        elif kind == "end_of_speech":
            self.speech_total += ev.speech_duration
            self._silence_began_at = ts - ev.silence_duration
            self.speaking = False

    def apply_metrics(self, ev: PluginMetrics) -> None:
        """Fold one VADMetrics (``PluginMetrics`` with kind ``"vad"``) into the health figures."""
        values = ev.values
        count = values.get("inference_count")
        total = num(values.get("inference_duration_total"))
        idle = num(values.get("idle_time"))
        self.metrics_count += 1
        if idle is not None:
            self.idle_time = idle
        # a count beyond 2**53 (a bad figure) would overflow the float sums below
        if isinstance(count, int) and 0 < count < 2**53 and total is not None:
            self.inference_count += count
            self.inference_seconds += total
            self.inference_per_audio_second = total / (count * VAD_WINDOW_SECONDS)
            self.realtime_factor = self.inference_seconds / (
                self.inference_count * VAD_WINDOW_SECONDS
            )

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio the VAD inferred over (inference_count x 32 ms)."""
        return self.inference_count * VAD_WINDOW_SECONDS
