"""The turn detail's EOU timeline: the EOU delay cut into its parts (``lkmon.model.eou``), and
the Turns pane's line of the parts' p95 (``eou_part_p95``).

A bar from the user's end of speech to the turn decision, one block per part (VAD silence, final
transcript, turn decision) on one scale, then ``on_user_turn_completed`` after it; a legend with
each part's seconds, the VAD's silence window and the endpointing delay in force; and one line per
turn-detector prediction (probability, threshold, the delay chosen). Sources: docs/metrics.md,
"The EOU decision".
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.text import Text

from lkmon.model.eou import PART_LABELS, PARTS, EouParts
from lkmon.model.stats import eou_part_stats
from lkmon.model.turns import Turn
from lkmon.model.vocab import EOU_PART_COLOURS, fmt_s
from lkmon.tui.widgets.common import DIM, WARN

WIDTH = 50
"""Cells of the bar."""
PART_SHORT = {"silence": "VAD", "transcript": "STT", "decision": "turn"}
"""Short names of the EOU parts on the summary line (VAD silence, transcript, turn decision)."""


def eou_part_p95(turns: Iterable[Turn]) -> list[tuple[str, str]]:
    """The p95 of each part of the EOU delay (VAD silence, transcript, turn decision, in
    seconds; ``lkmon.model.stats.eou_part_stats`` over the turns with ``eou_parts``), as
    ``(text, style)`` pieces in the part shades; none when no turn has parts."""
    part_stats = eou_part_stats(t.eou_parts.segments() for t in turns if t.eou_parts is not None)
    if not part_stats["decision"].count:
        return []
    out: list[tuple[str, str]] = [("p95", DIM)]
    for name, short in PART_SHORT.items():  # a swatch in the part's shade, the figure readable
        out += [(" ■", EOU_PART_COLOURS[name]), (f"{short} ", DIM),
                (f"{fmt_s(part_stats[name].p95)} ", "")]
    return out


def _offset(at: float, origin: float) -> str:
    return f"{at - origin:+.3f} s"


def eou_timeline(parts: EouParts, *, width: int = WIDTH) -> RenderableType:
    """The timeline of ``parts``: the bar, its legend and the predictions (times are offsets
    from the user's end of speech, seconds)."""
    seg = parts.segments()
    known = {p: v for p, v in seg.items() if v is not None and v > 0}
    total = sum(known.values())
    bar = Text("  ")
    done = 0.0
    used = 0
    for p in PARTS:  # cumulative rounding: the blocks fill exactly ``width`` cells
        v = known.get(p)
        if v is None or total <= 0:
            continue
        done += v
        cells = round(done / total * width) - used
        used += cells
        bar.append("█" * cells, style=EOU_PART_COLOURS[p])
    bar.append(f"  EOU {fmt_s(parts.wait)}", style="bold")
    legend = Text("  ")
    for p in PARTS:
        v = seg[p]
        legend.append("■ ", style=EOU_PART_COLOURS[p])
        legend.append(f"{PART_LABELS[p]} {fmt_s(v)}")
        if p == "silence" and parts.vad_silence is not None:
            legend.append(f" (VAD window {fmt_s(parts.vad_silence)})", style=DIM)
        if p == "decision" and parts.endpointing_delay is not None:
            legend.append(f" (endpointing delay {fmt_s(parts.endpointing_delay)})", style=DIM)
        legend.append("  ")
    lines: list[RenderableType] = [bar, legend]
    origin = parts.stopped_at
    if parts.resumes:
        lines.append(Text(f"  the user resumed {parts.resumes}x during the wait", style=WARN))
    if not parts.predictions:
        lines.append(Text("  no turn detector: the endpointing delay alone decided", style=DIM))
    for pred in parts.predictions:
        line = Text(f"  {_offset(pred.at, origin):>10}  ")
        if pred.probability is None:
            line.append("no prediction", style=DIM)
        else:
            unlikely = pred.threshold is not None and pred.probability < pred.threshold
            line.append(f"P(end of turn) {pred.probability:.3f}",
                        style=WARN if unlikely else "")
            if pred.threshold is not None:
                line.append(f" {'<' if unlikely else '>='} threshold {pred.threshold:.3f}")
        line.append(f"  -> delay {fmt_s(pred.delay)}  ({pred.trigger or '-'})", style=DIM)
        if not pred.committed:
            line.append("  wait cut short by the user", style=DIM)
        lines.append(line)
    return Group(*lines)
