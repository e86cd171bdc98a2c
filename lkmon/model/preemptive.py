"""Preemptive replies: LiveKit's speculative generations, held apart until kept or discarded.

See ``lkmon.model.join`` for the order of events. A held reply is a ``Turn`` that is not in
``SessionModel.turns``; a discarded one ends in the ``discarded`` list of the user turn it
anticipated. No textual or livekit import here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lkmon.model.events import SpeechDone
from lkmon.model.turns import Turn

MAX_HELD = 16
"""Preemptive replies held at once (LiveKit cancels each when it makes the next: a few)."""


@dataclass(slots=True)
class PreemptiveReplies:
    """The preemptive replies of a session.

    Attributes:
        held: speech_id -> reply, for replies neither kept nor discarded yet.
        waiting: discarded replies whose user turn has not come yet (oldest first).
        count: replies discarded so far.
    """

    held: dict[str, Turn] = field(default_factory=dict)
    waiting: list[Turn] = field(default_factory=list)
    count: int = 0

    def hold(self, turn: Turn) -> str | None:
        """Hold a new preemptive reply; returns the speech_id of one forgotten to stay bounded
        (never resolved), or ``None``."""
        turn.preemptive = True
        assert turn.speech_id is not None
        self.held[turn.speech_id] = turn
        if len(self.held) > MAX_HELD:
            oldest = next(iter(self.held))
            del self.held[oldest]
            return oldest
        return None

    def is_held(self, speech_id: str | None) -> bool:
        """True while ``speech_id`` is a held preemptive reply."""
        return speech_id is not None and speech_id in self.held

    def release(self, speech_id: str | None) -> Turn | None:
        """Stop holding ``speech_id`` (kept or discarded); returns its reply, if held."""
        return self.held.pop(speech_id, None) if speech_id is not None else None

    def discard(self, turn: Turn, recent: Sequence[Turn]) -> None:
        """A reply LiveKit threw away: fold it into the user turn it anticipated, the first of
        ``recent`` whose EOU metric came after it was made; else wait for that turn."""
        self.count += 1
        for target in recent:
            if target.eou_at is not None and target.eou_at >= turn.started_at:
                target.discarded.append(turn)
                return
        self.waiting.append(turn)
        del self.waiting[:-MAX_HELD]

    def adopt(self, turn: Turn, eou_at: float) -> None:
        """``turn`` got its EOU metric at ``eou_at``: it takes the waiting replies made before."""
        if not self.waiting:
            return
        keep: list[Turn] = []
        for d in self.waiting:
            (turn.discarded if d.started_at <= eou_at else keep).append(d)
        self.waiting = keep


def looks_discarded(ev: SpeechDone, turn: Turn) -> bool:
    """For journals without ``scheduled`` (lkmon 0.1): True when the finished speech has the
    shape of a discarded preemptive reply: interrupted before it added any chat item, after
    user speech, with no user message, no EOU metric, no tool call, from ``generate_reply``."""
    return (
        ev.scheduled is None
        and ev.interrupted
        and not ev.item_ids
        and not turn.before_user_speech
        and turn.user_message is None
        and not turn.assistant_messages
        and not turn.has_eou
        and not turn.tool_calls
        and turn.source == "generate_reply"
        and turn.message_figures is None
    )
