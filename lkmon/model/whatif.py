"""The endpointing what-if: what other minimum endpointing delays would have done to this
session, computed from its own speech segments (docs/metrics.md, "Endpointing what-if").

The user's speech is cut into segments by the VAD (``start_of_speech`` at its time minus the
speech it had confirmed, ``end_of_speech`` at its time minus its silence window). Each silence
between two segments is

* a **pause** inside one utterance when no reply started playing in it (up to
  ``CUT_IN_WINDOW`` before the user went on) and it is at most ``MAX_PAUSE`` long; the user
  went on without waiting for an answer (a turn that cut in early is such a pause);
* else an **end of turn** (the user waited for the reply, or spoke after a long silence).

With VAD turn detection LiveKit commits a user turn at ``max(end + max(min_delay, window),
first final transcript since the last commit)`` (``voice/audio_recognition.py``: the wait starts
at the VAD's end of speech, sleeps to ``min_delay`` after the last speech, and needs a final
transcript in the user turn), where ``window`` is the VAD's silence window (a pause shorter than
it never ends speech). ``_replay`` walks the session's silences with that rule for each setting:
a pause is cut when the commit comes before the user goes on (the user turn then starts again),
an end of turn when it comes before the speech's own final transcript (the reply answers part of
the utterance; LiveKit warns "transcript arrives after turn has been committed"). An end of
turn waits from its speech's end to the commit; ``added_eou`` is the mean of that wait minus the
same at the session's own ``min_delay`` (the model at the session's own setting gives back its
measured EOU delays within a few ms on the real session of ``tests/test_interruptions_real``).
The model is fixed endpointing: a turn detector's longer (max) delay after an unlikely
prediction is not in it.
No textual or livekit import here.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lkmon.model.interruptions import CUT_IN_WINDOW, MAX_PAUSE, Interruptions
from lkmon.model.turns import Turn

__all__ = [
    "DEFAULT_MIN_DELAY",
    "DELAYS",
    "Gap",
    "WhatIf",
    "WhatIfRow",
    "gaps",
    "of_session",
    "what_if",
]

DELAYS: tuple[float, ...] = tuple(round(0.2 + 0.1 * i, 1) for i in range(19))
"""The minimum endpointing delays tried, seconds: 0.2 to 2.0 in steps of 0.1."""
DEFAULT_MIN_DELAY = 0.5
"""LiveKit's default ``endpointing.min_delay`` (``voice/turn.py``), seconds: the session's
setting when no span told lkmon its own."""
DEFAULT_WINDOW = 0.55
"""Silero's default ``min_silence_duration`` (``livekit.plugins.silero``), seconds: the VAD's
silence window when no VAD event gave it."""
TRANSCRIPT_HORIZON = 5.0
"""Seconds after a silence began within which the first final transcript is its own."""


@dataclass(frozen=True, slots=True)
class Gap:
    """One silence between two user speech segments.

    Attributes:
        start: epoch seconds the first segment ended (its last speech).
        pause: seconds until the next segment began.
        window: the VAD's silence window that ended the speech, seconds.
        inside: True for a pause inside one utterance, False for an end of turn.
        own: epoch seconds of the speech's own final transcript (the first after ``start``,
            before the next speech ended), or ``None``.
    """

    start: float
    pause: float
    window: float
    inside: bool
    own: float | None = None


@dataclass(frozen=True, slots=True)
class WhatIfRow:
    """One setting of the table.

    Attributes:
        min_delay: the minimum endpointing delay tried, seconds.
        early_cuts: pauses inside utterances that it would have cut (ended the user's turn).
        added_eou: mean seconds it adds to the EOU delay of an end of turn (negative: saves),
            against the session's own setting; ``None`` with no end of turn.
    """

    min_delay: float
    early_cuts: int
    added_eou: float | None


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The what-if table of a session.

    Attributes:
        rows: one per ``DELAYS`` setting, in order.
        recommended: the smallest setting that would have cut no pause, or ``None`` (none of
            them: a pause longer than 2.0 s, or no segments at all).
        min_delay: the session's own min delay the rows compare with, seconds.
        assumed: True when ``min_delay`` is LiveKit's default (no span gave the session's).
        pauses: pauses inside utterances; turn_ends: ends of turn (the table's sample).
        turn_detector: the session ran a turn detector (its predictions were seen), which the
            table does not model.
    """

    rows: list[WhatIfRow] = field(default_factory=list)
    recommended: float | None = None
    min_delay: float = DEFAULT_MIN_DELAY
    assumed: bool = True
    pauses: int = 0
    turn_ends: int = 0
    turn_detector: bool = False


def gaps(
    segments: Sequence[tuple[float, float | None, float | None]],
    played: Iterable[float],
    finals: Sequence[float],
) -> list[Gap]:
    """The silences between ``segments``.

    Args:
        segments: ``(start, end, window)`` of each user speech segment in time order, epoch
            seconds (``end`` ``None`` while speaking; ``window`` the VAD's silence window,
            seconds, ``None`` when unknown).
        played: epoch seconds each reply started playing.
        finals: epoch seconds of each final user transcript, ascending.
    """
    starts = sorted(played)
    out: list[Gap] = []
    for (_, end, window), (nxt, nxt_end, _) in zip(segments, segments[1:], strict=False):
        if end is None or nxt <= end:
            continue
        i = bisect.bisect_right(finals, end)
        limit = min(end + TRANSCRIPT_HORIZON, nxt_end if nxt_end is not None else math.inf)
        own = finals[i] if i < len(finals) and finals[i] <= limit else None
        j = bisect.bisect_right(starts, end)
        heard = j < len(starts) and starts[j] <= nxt - CUT_IN_WINDOW
        out.append(Gap(end, nxt - end, window if window is not None else DEFAULT_WINDOW,
                       not heard and nxt - end <= MAX_PAUSE, own))
    return out


def _replay(found: Sequence[Gap], finals: Sequence[float], d: float) -> tuple[int, list[float]]:
    """The session's silences at min delay ``d``: early cuts, and each end of turn's wait.

    A turn is committed at ``max(start + max(d, window), first final transcript since the
    last commit)``: a pause is cut when that comes before the user goes on, an end of turn when
    it comes before the speech's own transcript (the reply answers part of the utterance)."""
    cuts, waits = 0, []
    last = -math.inf  # the previous commit
    for g in found:
        i = bisect.bisect_right(finals, last)
        first = finals[i] if i < len(finals) else math.inf
        commit = max(g.start + max(d, g.window), first)
        if g.inside:
            if commit < g.start + g.pause:
                cuts += 1
                last = commit
            continue
        if commit == math.inf:  # no transcript at all: LiveKit ends no turn here
            continue
        if g.own is not None and commit < g.own:
            cuts += 1
        waits.append(commit - g.start)
        last = commit
    return cuts, waits


def what_if(found: Sequence[Gap], finals: Sequence[float], min_delay: float | None,
            turn_detector: bool = False) -> WhatIf:
    """The table over ``found`` (``gaps``) and the session's final transcript times
    (``finals``, ascending) against its ``min_delay`` (seconds; ``None``: LiveKit's default,
    flagged ``assumed``)."""
    own = DEFAULT_MIN_DELAY if min_delay is None else min_delay
    _, base = _replay(found, finals, own)
    rows = []
    for d in DELAYS:
        cuts, waits = _replay(found, finals, d)
        added = (statistics.fmean(w - b for w, b in zip(waits, base, strict=False))
                 if waits and len(waits) == len(base) else None)
        rows.append(WhatIfRow(d, cuts, None if added is None else round(added, 6)))
    recommended = next((r.min_delay for r in rows if r.early_cuts == 0), None) if found else None
    return WhatIf(rows, recommended, own, min_delay is None,
                  sum(1 for g in found if g.inside), sum(1 for g in found if not g.inside),
                  turn_detector)


def of_session(tracker: Interruptions, turns: Sequence[Turn]) -> WhatIf:
    """The what-if of a session (``SessionModel.interruptions`` and ``SessionModel.turns``):
    over the VAD's segments, else LiveKit's user states; against the smallest endpointing
    delay LiveKit's spans reported (``EouParts.endpointing_delay``: the min delay, or the max
    after an unlikely prediction), else LiveKit's default. A snapshot loaded without its events
    gives its own table back (``Interruptions.restored_whatif``)."""
    segments = tracker.vad_segments or tracker.state_segments
    if not segments and tracker.restored_whatif is not None:
        return tracker.restored_whatif
    delays = [t.eou_parts.endpointing_delay for t in turns
              if t.eou_parts is not None and t.eou_parts.endpointing_delay is not None]
    detector = any(t.eou_parts.predictions for t in turns if t.eou_parts is not None)
    played = [t.metrics.agent_started_speaking_at for t in turns]
    found = gaps([(s[0] or 0.0, s[1], s[2]) for s in segments],
                 [p for p in played if p is not None], tracker.finals)
    return what_if(found, tracker.finals, min(delays) if delays else None, detector)
