"""The silence the caller hears on screen: the Turns pane's heard-gap column and line, and the
turn detail's section.

``heard_gap`` is lkmon's own figure, measured on the audio (``lkmon.model.heard``; docs/metrics.md,
"The silence the caller hears"). It is shown once lkmon measured the session's audio (a turn has
an ``AgentAudible``), so a session without it looks as before; a turn whose heard gap and
LiveKit's e2e differ by over 0.1 s is marked ``≠`` and its detail says where the difference sits.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from lkmon.model.heard import FLAG_DIFFERENCE, HEARD_PARTS, HeardDifference, differing
from lkmon.model.stats import StageStats
from lkmon.model.turns import Turn
from lkmon.model.vocab import E2E, HEARD, fmt_s
from lkmon.tui.widgets.common import DIM, WARN

__all__ = ["CELLS", "HeardColumn", "heard_cell", "heard_line", "heard_section"]

CELLS = 9
"""Cells of the Turns pane's heard-gap column (a space, ``12.345 s``, the ``≠`` mark)."""
_RECENT = 16  # an AgentAudible joins one of the newest 16 turns (lkmon.model.heard)


class HeardColumn:
    """Whether the Turns pane shows the heard-gap column: once a turn has an ``AgentAudible``.

    ``update`` looks only at the turns that may have been given one since the last call, so a
    long session without measured audio costs nothing per refresh.
    """

    def __init__(self) -> None:
        self.shown = False
        self._checked = 0

    @property
    def cells(self) -> int:
        """Cells the column takes in a row (0 while hidden)."""
        return CELLS if self.shown else 0

    @property
    def header(self) -> str:
        """The column's header above the rows (empty while hidden)."""
        return f" {'heard':>7} " if self.shown else ""

    def update(self, turns: Sequence[Turn]) -> bool:
        """Look at the new (and the newest 16) turns; returns ``shown``."""
        if not self.shown:
            if len(turns) < self._checked:  # the model was reset (the next session)
                self._checked = 0
            start = max(self._checked - _RECENT, 0)
            self.shown = any(t.heard is not None for t in turns[start:])
            self._checked = len(turns)
        return self.shown


def _difference(turn: Turn) -> HeardDifference | None:
    return HeardDifference.of(turn.heard, turn.metrics)


def heard_cell(turn: Turn, shown: bool = True) -> Text:
    """The row's heard-gap cell (``CELLS`` wide): the figure, ``≠`` in the warning colour when
    it differs from e2e by over 0.1 s; empty when the column is not ``shown``."""
    if not shown:
        return Text()
    diff = _difference(turn)
    flagged = diff is not None and diff.flagged
    cell = Text(f" {fmt_s(turn.metrics.heard_gap):>7}", style=WARN if flagged else "")
    cell.append("≠" if flagged else " ", style=f"bold {WARN}")
    return cell


def heard_line(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """``(text, style)`` pieces of the Turns pane's heard-gap line: p50 / p95 of the heard gap
    and how many turns differ from e2e by over 0.1 s: ``p50 0.738 s  p95 0.912 s  1 ≠ e2e``;
    none before a turn has a heard gap."""
    stats = StageStats.of([t.metrics.heard_gap for t in turns if t.metrics.heard_gap is not None])
    if not stats.count:
        return []
    n = len(differing(turns))
    return [("p50 ", DIM), (f"{fmt_s(stats.p50)}  ", ""), ("p95 ", DIM),
            (f"{fmt_s(stats.p95)}  ", ""), (f"{n} ", f"bold {WARN}" if n else ""),
            (f"≠ {E2E.label[:3]}", DIM)]


def heard_section(turn: Turn, origin: float) -> RenderableType | None:
    """The turn detail's section: the heard gap beside e2e, the two edges it was measured
    between (offsets from ``origin``, epoch seconds), and where it differs from e2e; ``None``
    for a turn whose audio lkmon did not measure."""
    heard = turn.heard
    if heard is None:
        return None
    m = turn.metrics

    def at(ts: float | None) -> str:
        return "-" if ts is None else f"{ts - origin:+.3f} s"

    def row(label: str, value: str, note: str = "") -> Text:
        return Text.assemble((f"{label:<29}", DIM), value, (note, DIM))

    lines = [
        row(HEARD.label, fmt_s(m.heard_gap), f"   {E2E.label} {fmt_s(m.e2e_latency)}"),
        row("caller's last voiced sample", at(heard.voice_end_at),
            f"   (RMS over 1 ms >= {heard.threshold:.0f} dBFS)"),
        row("reply's first audible sample", at(heard.at)),
        row("playback start (LiveKit's)", at(heard.playback_started_at),
            f"   sink output delay {fmt_s(heard.output_delay)}"),
    ]
    diff = _difference(turn)
    if diff is not None:
        style = f"bold {WARN}" if diff.flagged else DIM
        mark = f"differs by over {FLAG_DIFFERENCE:g} s: " if diff.flagged else ""
        lines.append(Text(f"{mark}{diff.describe()}", style=style))
        lines.append(Text("  " + "; ".join(f"{HEARD_PARTS[k]} {v:+.3f} s"
                                          for k, v in diff.parts.items()), style=DIM))
    return Group(*lines)
