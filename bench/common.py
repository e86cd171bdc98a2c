"""Shared helpers for lkmon benchmarks: figure printing and spread statistics."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

RESULTS: list[dict[str, object]] = []


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Return (median, min, max) of ``values``; raises ValueError when empty."""
    if not values:
        raise ValueError("no values")
    return statistics.median(values), min(values), max(values)


def figure(
    name: str,
    fig: str,
    value: float | Sequence[float],
    unit: str,
    target: str = "",
) -> float:
    """Print one figure as ``NAME.FIGURE: VALUE UNIT (target ...)`` and return the median.

    Args:
        name: benchmark name, e.g. ``"ingest"``.
        fig: figure name, e.g. ``"events_per_second"``.
        value: one value, or several runs (the median is reported with min..max as spread).
        unit: the unit printed after the value, e.g. ``"s"``, ``"ms"``, ``"events/s"``.
        target: the target, e.g. ``"<= 16 ms"``; empty for none.
    """
    if isinstance(value, int | float):
        med, lo, hi = float(value), float(value), float(value)
        runs = 1
    else:
        med, lo, hi = spread([float(v) for v in value])
        runs = len(value)
    text = f"{name}.{fig}: {_fmt(med)} {unit}"
    if runs > 1:
        text += f" [spread {_fmt(lo)}..{_fmt(hi)}, n={runs}]"
    if target:
        text += f" (target {target})"
    print(text, flush=True)
    RESULTS.append(
        {"name": name, "figure": fig, "median": med, "min": lo, "max": hi, "n": runs,
         "unit": unit, "target": target}
    )
    return med


def _fmt(v: float) -> str:
    if v == 0 or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"
