"""A self-contained HTML report of ``lkmon compare``: the sides, the per-stage table with the
ratio B/A and its interval, and both sides' distributions per stage drawn as an inline SVG box
and strip plot (every turn one dot; A hollow, B filled, in the stage's colour). No script, no
font, no image, no network.

Rendered with the session report's Jinja2 environment (``lkmon.report.html.environment``:
autoescaped, every printed value through ``lkmon.redact.default_redactor()``) from the template
``templates/compare.html``; labels, colours and number formats are ``lkmon.model.vocab``'s.
No textual or livekit import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lkmon.model import vocab
from lkmon.redact import Redactor, default_redactor
from lkmon.report.compare import GROUP_LABELS, MIN_CI_TURNS, MIN_P95_TURNS, Comparison, StageRow
from lkmon.report.gate_text import compare_cells
from lkmon.report.html import environment
from lkmon.store.files import write_private_atomic

WIDTH = 640.0
"""Plot width (SVG user units); the axis runs from ``LEFT`` to ``WIDTH - RIGHT``."""
LEFT, RIGHT = 28.0, 16.0
LANES = {"A": 22.0, "B": 58.0}
"""The y of each side's lane."""
HEIGHT = 96.0

VERDICT_CLASS = {"faster": "good", "slower": "bad", "no clear difference": "warn",
                 "too few turns": "na"}
"""Verdict -> the vocabulary's rating colour class (``vocab.RATING_COLOURS``)."""


@dataclass(frozen=True, slots=True)
class Lane:
    """One side's marks on a plot, in SVG units."""

    name: str
    y: float
    dots: list[tuple[float, float, float]]  # (x, y, seconds)
    box: tuple[float, float, float, float, float] | None  # min, p25, p50, p75, max (x)


@dataclass(frozen=True, slots=True)
class Plot:
    """One stage row's figure."""

    row: StageRow
    title: str
    colour: str
    lanes: list[Lane]
    ticks: list[tuple[float, str]]
    verdict: str
    verdict_class: str


def _quartiles(values: list[float]) -> tuple[float, float, float, float, float]:
    import statistics

    if len(values) == 1:
        v = values[0]
        return v, v, v, v, v
    q = statistics.quantiles(values, n=4, method="inclusive")
    return min(values), q[0], q[1], q[2], max(values)


def _nice_step(span: float) -> float:
    raw = span / 4
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0):
        if step >= raw:
            return step
    return raw


def plot(row: StageRow) -> Plot:
    """The box and strip plot of one stage row (both sides on one axis from 0 s)."""
    top = max([*row.a.values, *row.b.values, 0.0]) * 1.05 or 1.0
    step = _nice_step(top)
    top = max(top, step)
    span = WIDTH - LEFT - RIGHT

    def x(v: float) -> float:
        return round(LEFT + min(v / top, 1.0) * span, 2)

    lanes = []
    for name, side in (("A", row.a), ("B", row.b)):
        y0 = LANES[name]
        # a fixed jitter (golden-ratio sequence): the same input draws the same picture
        dots = [(x(v), round(y0 - 7 + 14 * ((i * 0.618034) % 1.0), 2), v)
                for i, v in enumerate(side.values)]
        box = None
        if side.values:
            lo, q1, q2, q3, hi = _quartiles(side.values)
            box = (x(lo), x(q1), x(q2), x(q3), x(hi))
        lanes.append(Lane(name, y0, dots, box))
    ticks = []
    t = 0.0
    while t <= top + 1e-9:
        ticks.append((x(t), vocab.fmt_s(t, 2)))
        t = round(t + step, 6)
    stage = row.stage
    title = stage.label if row.group == "plain" else f"{stage.label} ({GROUP_LABELS['tools']})"
    verdict = row.p50.verdict
    return Plot(row, title, stage.colour or vocab.OTHER.colour or "#4c566a", lanes, ticks,
                verdict, VERDICT_CLASS[verdict])


def build_compare_report(comp: Comparison, *, redactor: Redactor | None = None) -> str:
    """The comparison as one HTML document (a string)."""
    head, cells = compare_cells(comp)
    return environment().get_template("compare.html").render(
        redactor=redactor or default_redactor(),
        a=comp.a,
        b=comp.b,
        head=head,
        rows=[(VERDICT_CLASS[v], c) for v, c in cells],
        plots=[plot(r) for r in comp.rows],
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=RIGHT,
        ratings=vocab.RATING_COLOURS,
        min_ci=MIN_CI_TURNS,
        min_p95=MIN_P95_TURNS,
    ) + "\n"


def write_compare_report(comp: Comparison, path: str | Path) -> Path:
    """Write ``build_compare_report(comp)`` to ``path`` atomically (mode 0600).

    Raises:
        OSError: the folder is missing, read-only or full.
    """
    return write_private_atomic(Path(path), build_compare_report(comp).encode("utf-8"),
                                fsync=False)
