"""Interruptions on screen: the Turns pane's counts line and the turn detail's words.

The classes and counts are ``lkmon.model.interruptions``' (docs/metrics.md, "Interruptions");
their words are ``lkmon.model.vocab.INTERRUPTION_LABELS``.
"""

from __future__ import annotations

from lkmon.model.interruptions import counts
from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.vocab import INTERRUPTION_LABELS
from lkmon.tui.widgets.common import DIM, WARN

__all__ = ["counts_line", "detail_words", "head_flag"]


def counts_line(model: SessionModel) -> list[tuple[str, str]]:
    """``(text, style)`` pieces of the Turns pane's interruptions line: the turns of each class
    (``early`` is cut in early), the interrupted replies with no class (``other``: before
    playback, or no user speech over them; shown when there are any) and LiveKit's
    ``overlapping_speech`` events: ``1 early  2 barge-in  0 false  1 other  0 overlaps``, at
    most 52 cells up to 99 of each. None before the session had an interrupted reply, a false
    interruption or an overlap."""
    info = model.session
    turns = model.turns
    interrupted = sum(1 for t in turns if t.interrupted)
    found = counts(turns)
    if not (interrupted or info.false_interruptions or info.overlapping_speech
            or any(found.values())):
        return []
    other = sum(1 for t in turns if t.interrupted and t.interruption is None)
    out: list[tuple[str, str]] = []
    for key, n in (*((k, found[k]) for k in ("cut_in_early", "barge_in", "false_interruption")),
                   ("other", other)):
        if key != "other" or n:
            out += [(f"{n} ", f"bold {WARN}" if n else ""), (f"{_SHORT[key]}  ", DIM)]
    out += [(f"{info.overlapping_speech} ", ""), ("overlaps", DIM)]
    return out


_SHORT = {"cut_in_early": "early", "barge_in": "barge-in", "false_interruption": "false",
          "other": "other"}


def detail_words(turn: Turn) -> str:
    """What the turn detail says of the reply's interruption: ``"yes: cut in early"``,
    ``"paused: a false interruption"`` (LiveKit resumed or dropped it), ``"yes"`` (no class:
    before playback, or no user speech over it) or ``"no"``."""
    kind = turn.interruption
    if kind == "false_interruption":
        return ("yes: " if turn.interrupted else "paused: ") + "a false interruption (LiveKit's)"
    if kind is not None:
        return f"yes: {INTERRUPTION_LABELS[kind]}"
    if turn.interrupted:
        if turn.metrics.agent_started_speaking_at is None:
            return "yes, before playback"
        return "yes (no user speech over it)"
    return "no"


def head_flag(turn: Turn) -> str:
    """The turn detail's heading mark: ``interrupted: barge-in``, ``paused: false
    interruption`` (LiveKit resumed it), or ``interrupted`` (no class)."""
    kind = turn.interruption
    word = "interrupted" if turn.interrupted else "paused"
    return f"{word}: {INTERRUPTION_LABELS[kind]}" if kind else word
