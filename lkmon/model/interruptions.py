"""Interruptions, classified: why a played reply stopped, and the session's overlap counts.

For a reply whose playback was interrupted, ``classify`` says which of three it was (first
match in this order; docs/metrics.md, "Interruptions"):

* ``"false_interruption"``: LiveKit paused the reply for the user's speech and, no user turn
  following, called the interruption false (``agent_false_interruption``, ``FalseInterruption``),
  whether or not it resumed the reply; such a reply is classified even when it played on to its
  end (``interrupted`` false), since the caller heard it stop;
* ``"cut_in_early"``: the reply started playing within the user's pause and the user went on
  with the same utterance (the endpointing decided too soon): the user's next speech began at
  most ``MAX_PAUSE`` after the turn's end of speech (``user_stopped_speaking_at``) and no later
  than ``CUT_IN_WINDOW`` after the reply's playback start (``agent_started_speaking_at``), too
  soon to be an answer to it; or the next user turn had ended before the reply began playing
  (LiveKit committed the turn before the final transcript of its last speech, which then
  interrupted the reply and made a turn of its own: the reply answered part of an utterance);
* ``"barge_in"``: the user spoke over a reply that had been playing (any other user speech that
  began before the reply stopped).

``None``: not interrupted, interrupted before any audio played (nothing cut in; a discarded
preemptive reply never played and is not a turn at all), or no user speech over the reply was
seen (interrupted from the agent's code). The user's speech onsets are LiveKit's
``user_state_changed`` to ``speaking`` (``created_at`` is back-dated to the VAD's start of
speech) and the VAD's own ``start_of_speech`` (its time minus ``speech_duration``), so sessions
without VAD events (the session protocol) are classified too. No textual or livekit import here.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from lkmon.model.events import (
    ChatMessageAdded,
    Event,
    FalseInterruption,
    OverlappingSpeech,
    SpeechDone,
    UserStateChanged,
    UserTranscribed,
    VadActivity,
)
from lkmon.model.session import SessionInfo
from lkmon.model.turns import Turn

if TYPE_CHECKING:
    from lkmon.model.whatif import WhatIf

__all__ = [
    "CLASSES",
    "CUT_IN_WINDOW",
    "MAX_PAUSE",
    "Interruption",
    "Interruptions",
    "classify",
]

Interruption = Literal["false_interruption", "cut_in_early", "barge_in"]
CLASSES: tuple[Interruption, ...] = ("false_interruption", "cut_in_early", "barge_in")
"""The classes, in the order they are matched."""
CUT_IN_WINDOW = 0.5
"""Seconds after a reply's playback start within which user speech that goes on from a pause
is the same utterance, not an answer to the reply (about LiveKit's default
``interruption.min_duration``, 0.5 s: the reply had not yet been heard long enough to be
interrupted on purpose)."""
MAX_PAUSE = 2.0
"""Seconds: the longest pause inside one utterance (the top of the endpointing what-if's range:
no min delay tried would have waited longer)."""
MAX_ONSETS = 4096
"""User speech onsets kept (a few per turn; the newest)."""
_RECENT = 8  # turns re-classified when something changes (only the newest can still change)


def classify(
    turn: Turn, onsets: Sequence[float], false_ids: frozenset[str] | set[str] = frozenset(),
    next_stop: float | None = None,
) -> Interruption | None:
    """The interruption class of ``turn`` (see the module's rules), or ``None``.

    Args:
        turn: a reply turn, its figures recomputed.
        onsets: epoch seconds the user's speech began, sorted ascending.
        false_ids: speech ids of the replies LiveKit reported a false interruption for.
        next_stop: the next user turn's ``user_stopped_speaking_at``, if any.
    """
    if turn.kind != "reply":
        return None
    if turn.speech_id is not None and turn.speech_id in false_ids:
        return "false_interruption"
    m = turn.metrics
    played = m.agent_started_speaking_at
    if not turn.interrupted or played is None:
        return None
    end = m.agent_stopped_speaking_at
    if end is None:
        end = turn.done_at if turn.done_at is not None else float("inf")
    stop = m.user_stopped_speaking_at
    if stop is not None and next_stop is not None and next_stop <= played:
        return "cut_in_early"  # the rest of the utterance, transcribed late, interrupted it
    after = stop if stop is not None else played - CUT_IN_WINDOW
    i = bisect.bisect_right(onsets, after)
    if i == len(onsets) or onsets[i] > end:
        return None  # nobody spoke over it
    onset = onsets[i]
    if stop is not None and onset - stop <= MAX_PAUSE and onset <= played + CUT_IN_WINDOW:
        return "cut_in_early"
    return "barge_in"


Segment = list[float | None]
"""``[start, end, window]``: a user speech segment, epoch seconds (``end`` ``None`` while
speaking), and the VAD's silence window that ended it, seconds (``None``: unknown)."""


class Interruptions:
    """The user's speech onsets and segments, final transcript times, LiveKit's false
    interruptions and overlap verdicts of one session, and each recent turn's class
    (``Turn.interruption``). The segments feed the endpointing what-if
    (``lkmon.model.whatif.of_session``): the VAD's (``vad_segments``), else LiveKit's user states
    (``state_segments``, over the session protocol).

    The counts go to ``info`` (``SessionInfo.false_interruptions``, ``false_resumed``,
    ``overlapping_speech``, ``overlapping_interruptions``), which the snapshot carries.

    Args:
        info: the session's ``SessionInfo``.
    """

    def __init__(self, info: SessionInfo) -> None:
        self.info = info
        self.onsets: list[float] = []
        self.false_ids: set[str] = set()
        self.vad_segments: list[Segment] = []
        self.state_segments: list[Segment] = []
        self.finals: list[float] = []
        self.restored_whatif: WhatIf | None = None
        """A loaded snapshot's what-if (``whatif.WhatIf``) when its events are not kept."""

    def watch(self, event: Event, turns: Sequence[Turn]) -> bool:
        """Note ``event`` if it matters here; re-classify the newest turns when it may change
        them. Returns True when a turn's class changed."""
        if isinstance(event, UserStateChanged):  # LiveKit back-dates both to the VAD's times
            _segment(self.state_segments, event.new_state == "speaking", event.ts, None)
            if event.new_state != "speaking":
                return False
            self._onset(event.ts)
        elif isinstance(event, VadActivity):
            kind = event.event
            if kind == "end_of_speech":
                _segment(self.vad_segments, False, event.ts - event.silence_duration,
                         event.silence_duration)
            if kind != "start_of_speech":
                return False
            _segment(self.vad_segments, True, event.ts - event.speech_duration, None)
            self._onset(event.ts - event.speech_duration)
        elif isinstance(event, UserTranscribed):
            if event.is_final and event.text.strip():
                self.finals.append(event.ts)
                del self.finals[:-MAX_ONSETS]
            return False
        elif isinstance(event, FalseInterruption):
            self._false(event, turns)
        elif isinstance(event, OverlappingSpeech):
            self.info.overlapping_speech += 1
            if event.is_interruption:
                self.info.overlapping_interruptions += 1
            return False
        elif isinstance(event, ChatMessageAdded):
            if event.role != "assistant":
                return False
        elif not isinstance(event, SpeechDone):
            return False
        return self.update(turns)

    def _onset(self, at: float) -> None:
        onsets = self.onsets
        if onsets and at < onsets[-1]:
            bisect.insort(onsets, at)
        else:
            onsets.append(at)
        if len(onsets) > MAX_ONSETS:
            del onsets[: len(onsets) - MAX_ONSETS]

    def _false(self, ev: FalseInterruption, turns: Sequence[Turn]) -> None:
        self.info.false_interruptions += 1
        if ev.resumed:
            self.info.false_resumed += 1
        sid = ev.speech_id
        if sid is None:  # the reply that was playing: the newest started before it, not done
            sid = next(
                (t.speech_id for t in reversed(turns[-_RECENT:])
                 if t.kind == "reply" and t.started_at <= ev.ts
                 and (t.done_at is None or t.done_at >= ev.ts)),
                None,
            )
        if sid is not None:
            self.false_ids.add(sid)

    def update(self, turns: Sequence[Turn]) -> bool:
        """Classify the newest turns again (restored turns keep their recorded class); returns
        True when one changed."""
        changed = False
        recent = turns[-_RECENT:]
        next_stop: float | None = None
        stops: list[float | None] = []
        for turn in reversed(recent):  # each turn's next user turn's end of speech
            stops.append(next_stop)
            if turn.metrics.user_stopped_speaking_at is not None:
                next_stop = turn.metrics.user_stopped_speaking_at
        for turn, after in zip(recent, reversed(stops), strict=True):
            if turn.restored:
                continue
            found = classify(turn, self.onsets, self.false_ids, after)
            if found != turn.interruption:
                turn.interruption = found
                changed = True
        return changed


def _segment(segments: list[Segment], start: bool, at: float, window: float | None) -> None:
    """A speech segment starts (``start``) or ends at ``at``."""
    if start:
        if not segments or segments[-1][1] is not None:
            segments.append([at, None, None])
            del segments[:-MAX_ONSETS]
    elif segments and segments[-1][1] is None:
        segments[-1][1:] = [at, window]


def counts(turns: Sequence[Turn]) -> dict[str, int]:
    """Turns of each class (``CLASSES`` order, every class present, 0 when none)."""
    out: dict[str, int] = dict.fromkeys(CLASSES, 0)
    for t in turns:
        if t.interruption is not None:
            out[t.interruption] = out.get(t.interruption, 0) + 1
    return out
