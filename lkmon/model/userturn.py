"""The user's side of a turn: the user message, the EOU metric, STT metrics and errors, and
what waits for the turn that answers the user's speech.

Part of ``lkmon.model.join.TurnJoiner`` (see its docstring for the order of events, which this
does not rely on). The user's turn ends at its EOU metric or at its spoken user message,
whichever comes first (``UserSide.turn_ended``); a user message or an EOU metric without a
``speech_id`` that finds no turn waits up to ``PENDING_WINDOW`` seconds for the next one.

No textual or livekit import here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lkmon.model.events import ChatMessageAdded, ErrorRaised, PluginMetrics, UserTranscribed
from lkmon.model.speech import UserSpeech
from lkmon.model.turns import Turn

if TYPE_CHECKING:
    from lkmon.model.join import TurnJoiner

PENDING_WINDOW = 5.0
"""Seconds a user message or EOU metric without a turn waits for one (the turn's first event
arriving late)."""
MAX_PENDING_STT = 16
STT_ERROR_WINDOW = 20.0
"""Seconds a recoverable STT error waits for the turn of the speech it hit (its EOU metric)."""
STT_LATE_WINDOW = 2.0
"""Seconds after a transcript turn within which an STT metric still joins it (STT-only)."""


def spoken(ev: ChatMessageAdded) -> bool:
    """True for a user message from speech (LiveKit timed it: ``stopped_speaking_at`` or
    ``end_of_turn_delay`` in its metrics); a typed one has neither."""
    return "stopped_speaking_at" in ev.metrics or "end_of_turn_delay" in ev.metrics


class UserSide:
    """What the joiner knows of the user's speech and what waits for a turn.

    Args:
        joiner: the joiner whose ``turns`` these join.

    Attributes:
        speech: the current speech segment by the VAD (``UserSpeech``).
        on_user_joined: called when a user message is joined to a turn (also a late join).
    """

    def __init__(self, joiner: TurnJoiner) -> None:
        self._joiner = joiner
        self.speech = UserSpeech()
        self.on_user_joined: Callable[[ChatMessageAdded, Turn], None] | None = None
        self._user: ChatMessageAdded | None = None
        self._eou: PluginMetrics | None = None
        self._stt: list[PluginMetrics] = []
        self._stt_errors: list[ErrorRaised] = []

    def _recent(self) -> Sequence[Turn]:
        return self._joiner.turns[-self._joiner.recent :]

    # -- a new turn ----------------------------------------------------------------------------

    def adopt(self, turn: Turn, ts: float) -> None:
        """``turn`` was just appended at ``ts``: it takes the user message and the EOU metric
        that were waiting for a turn (within ``PENDING_WINDOW`` seconds)."""
        user, self._user = self._user, None
        if user is not None:
            if ts - user.ts <= PENDING_WINDOW:
                self.set_user(turn, user)
            else:
                self._joiner.notes.append(f"user message {user.item_id} has no reply")
        eou, self._eou = self._eou, None
        if eou is not None:
            if ts - eou.ts <= PENDING_WINDOW:
                self._joiner.note(f"eou metric without speech_id -> turn {turn.index}")
                self.eou(turn, eou)
                turn.recompute()
            else:
                self._joiner.unjoined.append(eou)

    # -- user messages -------------------------------------------------------------------------

    def user_message(self, ev: ChatMessageAdded) -> Turn | None:
        """Join a user ``ChatMessage`` to its turn, or keep it for the next turn."""
        turn = self._joiner.turn_by_speech_id(ev.speech_id)
        if turn is not None and turn.user_message is not None:
            turn = None
        if turn is None:
            turn = self._candidate(ev)
        if turn is None:
            if self._user is not None:
                self._joiner.notes.append(f"user message {self._user.item_id} has no reply")
            self._user = ev
            return None
        self.set_user(turn, ev)
        return turn

    def _candidate(self, ev: ChatMessageAdded) -> Turn | None:
        """The newest recent turn lacking both messages, preferring one that matches the input
        kind (spoken input: a turn with an EOU metric; typed: one without)."""
        is_spoken = spoken(ev)
        fallback: Turn | None = None
        for turn in reversed(self._recent()):
            if turn.user_message is not None or turn.assistant_messages or turn.done:
                continue
            if turn.has_eou == is_spoken:
                return turn
            if fallback is None:
                fallback = turn
        return fallback

    def set_user(self, turn: Turn, ev: ChatMessageAdded) -> None:
        """Make ``ev`` the user message of ``turn``."""
        turn.user_message = ev
        turn.user_text = ev.text
        if turn.eou_at is None and spoken(ev):  # before its EOU metric, or with none at all
            self.turn_ended(turn, ev.ts)
        turn.recompute()
        if self.on_user_joined is not None:
            self.on_user_joined(ev, turn)

    def transcript_message(self, ev: ChatMessageAdded) -> Turn | None:
        """For an agent without an LLM: the transcript turn a user ``ChatMessage`` repeats
        (LiveKit adds the last one to the chat when the session closes), or ``None``."""
        for turn in reversed(self._recent()):
            if turn.kind == "transcript" and turn.user_message is None and (
                turn.user_text == ev.text
            ):
                turn.user_message = ev
                return turn
        return None

    # -- the end of the user's turn ------------------------------------------------------------

    def turn_ended(self, turn: Turn, ts: float) -> None:
        """The user's turn that ``turn`` answers ended at ``ts``: it takes the preemptive
        replies LiveKit discarded before, and the STT metrics and errors waiting for a turn."""
        if turn.eou_at is None:
            turn.eou_at = ts
        self._joiner.preemptive.adopt(turn, ts)
        if self._stt:
            turn.plugin_metrics.extend(self._stt)
            self._stt = []
        if self._stt_errors:
            hit = [e for e in self._stt_errors if ts - e.ts <= STT_ERROR_WINDOW]
            self._stt_errors = []
            if hit:
                turn.errors.extend(hit)
                turn.failed = True

    def eou(self, turn: Turn, ev: PluginMetrics) -> None:
        """Join an EOU metric to ``turn`` (not yet appended to its plugin metrics)."""
        turn.has_eou = True
        stop = self.speech.stop
        if stop is not None and stop <= ev.ts:  # for a user message without speaking times
            turn.own_figures = {**(turn.own_figures or {}), "user_stopped_speaking_at": stop}
        turn.eou_at = ev.ts  # the EOU metric's time wins over the user message's
        self.turn_ended(turn, ev.ts)
        turn.plugin_metrics.append(ev)

    def eou_without_id(self, ev: PluginMetrics) -> Turn | None:
        """An EOU metric without ``speech_id``: the newest turn that may still get one (not
        done; no user message or a spoken one), else it waits for the next turn."""
        for turn in reversed(self._recent()):
            if turn.has_eou or turn.done:
                continue
            if turn.user_message is None or spoken(turn.user_message):
                self._joiner.note(f"eou metric without speech_id -> turn {turn.index}")
                self.eou(turn, ev)
                return turn
        if self._eou is not None:
            self._joiner.unjoined.append(self._eou)
        self._eou = ev
        return None

    # -- STT -----------------------------------------------------------------------------------

    def stt_metric(self, ev: PluginMetrics) -> Turn | None:
        """An STT metric (no ``speech_id``): the transcript turn just made (STT-only agents),
        else it waits for the end of the user's turn."""
        turns = self._joiner.turns
        last = turns[-1] if turns else None
        if (
            self._joiner.transcribe_only
            and last is not None
            and last.kind == "transcript"
            and not last.plugin_metrics
            and ev.ts - last.started_at <= STT_LATE_WINDOW
        ):  # the STT metric of the transcript just turned into a turn
            last.plugin_metrics.append(ev)
            return last
        self._stt.append(ev)
        if len(self._stt) > MAX_PENDING_STT:
            self._joiner.unjoined.append(self._stt.pop(0))
        return None

    def stt_error(self, ev: ErrorRaised) -> None:
        """A recoverable STT error waits for the end of the user's turn it hit; an
        unrecoverable one lost the speech: the errors waiting are dropped."""
        if ev.recoverable:
            self._stt_errors.append(ev)
            del self._stt_errors[:-MAX_PENDING_STT]
        else:
            self._stt_errors.clear()

    def user_transcribed(self, ev: UserTranscribed) -> Turn | None:
        """A user transcript: notes user speech; for an agent without an LLM, a final
        transcript becomes a ``kind="transcript"`` turn (returned, not yet appended)."""
        turn = self.speech.transcript_turn(ev, self._joiner.transcribe_only)
        if turn is None:
            return None
        turn.plugin_metrics.extend(self._stt)
        self._stt = []
        return turn
