"""Compare two sets of turns stage by stage: n, p50 and p95 of each side, the ratio B/A of a
statistic with a 95 % bootstrap confidence interval, and a verdict.

A side (``Sample``) is the turns of one or more sessions: a snapshot or journal
(``sample_of_snapshot``) or sessions of the store (``sample_of_rows``, from the ``turns`` rows).
Each stage is compared over the turns that have its figure, and the turns with tool calls (two
LLM calls and a tool's run inside one e2e latency) are compared apart from the others.

The interval is ``scipy.stats.bootstrap`` (percentile method, the two sides resampled
independently, ``N_RESAMPLES`` resamples, a fixed seed: the same input always prints the same
figures). Verdicts: ``faster`` when the whole interval lies below 1, ``slower`` when it lies
above 1, ``no clear difference`` when it spans 1, ``too few turns`` when a side has fewer than
``MIN_CI_TURNS`` figures (``MIN_P95_TURNS`` for a p95 and for a ratio of p95s). Percentiles are
``lkmon.model.stats.StageStats``'s (``statistics.quantiles``, inclusive). All figures are seconds.
No textual or livekit import here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lkmon.model import vocab
from lkmon.model.stats import StageStats
from lkmon.store.format import Snapshot

STAGES: tuple[vocab.Stage, ...] = (
    vocab.EOU, vocab.TRANSCRIPTION, vocab.LLM_TTFT, vocab.TTS_TTFB, vocab.E2E, vocab.HEARD,
)
"""The compared stages, in order; ``Stage.field`` is the snapshot's and the store's column
(the heard gap only where lkmon measured the audio: a row with no figure on either side is left
out)."""

MIN_CI_TURNS = 10
"""Fewest figures per side for a ratio's interval (and so a verdict)."""
MIN_P95_TURNS = 20
"""Fewest figures per side for a p95 (or a ratio of p95s) to be shown."""
N_RESAMPLES = 4000
"""Bootstrap resamples per interval."""
SEED = 20260101
"""The bootstrap's fixed seed: reproducible output."""
CONFIDENCE = 0.95

Group = Literal["plain", "tools"]
GROUP_LABELS: dict[str, str] = {"plain": "turns without tool calls", "tools": "tool-call turns"}
Verdict = Literal["faster", "slower", "no clear difference", "too few turns"]
Stat = Literal["p50", "p95"]


@dataclass(slots=True)
class Sample:
    """One side of a comparison.

    Attributes:
        label: what it is (a file, session ids, a tag), for the output.
        sessions: the session ids it holds.
        turns: per turn, ``(tool_call_count, {stage field: seconds or None})``.
        costs: per session, the estimated cost (``None``: a price unknown), in ``currency``.
        currency: the cost's currency.
    """

    label: str
    sessions: list[str] = field(default_factory=list)
    turns: list[tuple[int, dict[str, float | None]]] = field(default_factory=list)
    costs: list[float | None] = field(default_factory=list)
    currency: str = "USD"

    def values(self, stage: vocab.Stage, group: Group | None = None) -> list[float]:
        """The known figures of ``stage`` (seconds), in turn order; ``group`` ``"plain"``: only
        the turns without tool calls, ``"tools"``: only those with, ``None``: every turn."""
        out = []
        for tools, figures in self.turns:
            if group == "plain" and tools:
                continue
            if group == "tools" and not tools:
                continue
            v = figures.get(stage.field)
            if v is not None and math.isfinite(v):
                out.append(float(v))
        return out

    @property
    def cost(self) -> float | None:
        """Mean estimated cost per session; ``None`` when any session's is unknown or none."""
        if not self.costs or any(c is None for c in self.costs):
            return None
        return sum(c for c in self.costs if c is not None) / len(self.costs)


def _figures(metrics: Any) -> dict[str, float | None]:
    return {s.field: getattr(metrics, s.field, None) for s in STAGES}


def sample_of_snapshot(snap: Snapshot, label: str) -> Sample:
    """The turns of one snapshot (``lkmon.store.convert.to_snapshot``) as a ``Sample``."""
    return Sample(
        label=label,
        sessions=[str(snap.session.session_id or "")],
        turns=[(len(t.tool_calls), _figures(t.metrics)) for t in snap.turns],
        costs=[snap.cost.total],
        currency=snap.cost.currency,
    )


def sample_of_rows(label: str, sessions: Sequence[Mapping[str, Any]],
                   turns: Iterable[Mapping[str, Any]]) -> Sample:
    """A ``Sample`` from store rows: ``sessions`` rows (``session_id``, ``cost_total``,
    ``currency``) and their ``turns`` rows (``tool_call_count`` and the stage columns)."""
    return Sample(
        label=label,
        sessions=[str(r["session_id"]) for r in sessions],
        turns=[(int(r["tool_call_count"] or 0), {s.field: r.get(s.field) for s in STAGES})
               for r in turns],
        costs=[r["cost_total"] for r in sessions],
        currency=str(sessions[0]["currency"]) if sessions else "USD",
    )


@dataclass(frozen=True, slots=True)
class Ratio:
    """A ratio B/A of one statistic with its bootstrap interval (``None``: too few figures)."""

    stat: Stat
    value: float | None
    low: float | None
    high: float | None

    @property
    def verdict(self) -> Verdict:
        """``faster`` / ``slower`` / ``no clear difference`` / ``too few turns``."""
        if self.low is None or self.high is None:
            return "too few turns"
        if self.high < 1.0:
            return "faster"
        if self.low > 1.0:
            return "slower"
        return "no clear difference"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"stat", "ratio", "ci_low", "ci_high", "verdict"}``."""
        return {"stat": self.stat, "ratio": self.value, "ci_low": self.low,
                "ci_high": self.high, "verdict": self.verdict}


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a stage row: its figures and their statistics (seconds)."""

    values: list[float]
    stats: StageStats

    @property
    def n(self) -> int:
        """How many turns have the figure."""
        return self.stats.count

    @property
    def p95(self) -> float | None:
        """The p95, or ``None`` from fewer than ``MIN_P95_TURNS`` figures."""
        return self.stats.p95 if self.n >= MIN_P95_TURNS else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: n, p50, p95 (``null`` when too few turns), max, mean."""
        s = self.stats
        return {"n": self.n, "p50": s.p50, "p95": self.p95, "max": s.max, "mean": s.mean}


@dataclass(frozen=True, slots=True)
class StageRow:
    """One stage of one group of turns, both sides and the ratio(s) B/A."""

    group: Group
    stage: vocab.Stage
    a: Side
    b: Side
    p50: Ratio
    p95: Ratio | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out: dict[str, Any] = {
            "group": self.group, "stage": self.stage.field, "label": self.stage.label,
            "a": self.a.to_dict(), "b": self.b.to_dict(), "ratio_p50": self.p50.to_dict(),
        }
        if self.p95 is not None:
            out["ratio_p95"] = self.p95.to_dict()
        return out


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.median(x, axis=axis))


def _p95(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.quantile(x, 0.95, axis=axis))  # linear: statistics.quantiles' "inclusive"


def ratio(a: Sequence[float], b: Sequence[float], stat: Stat = "p50", *,
          seed: int = SEED) -> Ratio:
    """The ratio B/A of the median (``"p50"``) or the p95 of two samples (seconds), with a 95 %
    percentile bootstrap interval (``scipy.stats.bootstrap``, sides resampled independently,
    ``seed`` fixed). ``value`` is ``None`` when a side is empty or A's statistic is 0; the
    interval is ``None`` with fewer than ``MIN_CI_TURNS`` (p95: ``MIN_P95_TURNS``) per side."""
    from scipy import stats as sps

    fn = _median if stat == "p50" else _p95
    need = MIN_CI_TURNS if stat == "p50" else MIN_P95_TURNS
    if not a or not b:
        return Ratio(stat, None, None, None)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    base = float(fn(xa))
    if base <= 0:
        return Ratio(stat, None, None, None)
    value = float(fn(xb)) / base
    if len(a) < need or len(b) < need:
        return Ratio(stat, value, None, None)

    def statistic(sb: np.ndarray, sa: np.ndarray, axis: int = -1) -> np.ndarray:
        den = fn(sa, axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, fn(sb, axis=axis) / np.where(den > 0, den, 1.0), np.inf)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate (constant) sample: the interval is exact
        res = sps.bootstrap((xb, xa), statistic, n_resamples=N_RESAMPLES, vectorized=True,
                            paired=False, confidence_level=CONFIDENCE, method="percentile",
                            rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return Ratio(stat, value, None, None)
    return Ratio(stat, value, low, high)


def _side(values: list[float]) -> Side:
    return Side(values, StageStats.of(values))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every stage row of A against B (rows where both sides have no figure are left out)."""

    a: Sample
    b: Sample
    rows: list[StageRow]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        def side(s: Sample) -> dict[str, Any]:
            return {"label": s.label, "sessions": s.sessions, "turns": len(s.turns),
                    "cost_per_session": s.cost, "currency": s.currency}

        return {
            "a": side(self.a), "b": side(self.b),
            "method": {"ratio": "B/A", "interval": "bootstrap percentile",
                       "confidence": CONFIDENCE, "resamples": N_RESAMPLES, "seed": SEED,
                       "min_turns_interval": MIN_CI_TURNS, "min_turns_p95": MIN_P95_TURNS},
            "rows": [r.to_dict() for r in self.rows],
        }


def compare(a: Sample, b: Sample, *, with_p95: bool = False, seed: int = SEED) -> Comparison:
    """Compare ``a`` (the reference) with ``b``, stage by stage, turns without tool calls
    first, then the tool-call turns; ``with_p95`` also bootstraps the ratio of p95s."""
    rows = []
    groups: tuple[Group, ...] = ("plain", "tools")
    for group in groups:
        for stage in STAGES:
            va, vb = a.values(stage, group), b.values(stage, group)
            if not va and not vb:
                continue
            rows.append(StageRow(
                group, stage, _side(va), _side(vb),
                ratio(va, vb, "p50", seed=seed),
                ratio(va, vb, "p95", seed=seed) if with_p95 else None,
            ))
    return Comparison(a, b, rows)
