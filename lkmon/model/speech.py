"""The user's speech as lkmon sees it: whether the user spoke yet, and when speech started and
stopped by the VAD, for greetings, turns whose user message has no speaking times, and the
transcript turns of agents without an LLM.

No textual or livekit import here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkmon.model.events import UserTranscribed, VadActivity
from lkmon.model.turns import Turn


@dataclass(slots=True)
class UserSpeech:
    """The current user speech segment by the VAD.

    Attributes:
        spoke: True once any user speech was seen (VAD, user state or a transcript).
        start: epoch seconds the current speech started: VAD ``start_of_speech`` time minus its
            ``speech_duration`` (the VAD confirms speech only after that much of it).
        stop: epoch seconds it ended: VAD ``end_of_speech`` time minus its
            ``silence_duration`` (the silence window it waited); ``None`` while speaking.
    """

    spoke: bool = False
    start: float | None = None
    stop: float | None = None

    def vad(self, ev: VadActivity) -> None:
        """A VAD start or end of speech."""
        if ev.event == "start_of_speech":
            self.spoke = True
            self.start = ev.ts - ev.speech_duration
            self.stop = None
        elif ev.event == "end_of_speech":
            self.stop = ev.ts - ev.silence_duration

    def transcript_turn(self, ev: UserTranscribed, transcribe_only: bool) -> Turn | None:
        """Note a transcript; for an agent without an LLM (``transcribe_only``) a final one is a
        new ``kind="transcript"`` turn (not yet numbered), timed from this speech segment:
        ``transcription_delay`` = the transcript's time minus ``stop``."""
        if ev.text.strip():
            self.spoke = True
        if not (transcribe_only and ev.is_final and ev.text.strip()):
            return None
        turn = Turn(index=0, speech_id=None, started_at=ev.ts, kind="transcript")
        turn.user_text = ev.text
        turn.done = turn.complete = True
        turn.done_at = ev.ts
        figures: dict[str, float] = {}
        if self.start is not None:
            figures["user_started_speaking_at"] = self.start
        if self.stop is not None and self.stop <= ev.ts:
            figures["user_stopped_speaking_at"] = self.stop
            figures["transcription_delay"] = ev.ts - self.stop
        turn.own_figures = figures
        self.start = self.stop = None
        return turn
