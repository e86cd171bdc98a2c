"""Ingestion: lkmon events folded into the model per second (issue 5, item 2, model side).

A synthetic session of representative events (``tests.synthetic.synthetic_session``: VAD activity
and audio levels at 10 Hz, VADMetrics and usage updates every second, transcript deltas, chat
messages, speech handles, plugin metrics, tool calls, logs) is generated once, then folded into
fresh ``SessionModel``s several times; the figure is the median over the runs, with the spread.
Target: >= 200,000 events/s. The screen-render-with-1,000-turns figures come from the app
benchmark, ``bench/render.py``, which ``run`` calls too.
"""

from __future__ import annotations

import gc
import time

from bench.common import figure
from lkmon.model.state import SessionModel
from tests.synthetic import synthetic_session

NAME = "ingest"


def events_per_second(events: list, runs: int) -> list[float]:
    """Fold ``events`` into a fresh model ``runs`` times; returns events/s of each run."""
    rates = []
    for _ in range(runs):
        model = SessionModel()
        apply = model.apply
        gc.collect()
        start = time.perf_counter()
        for ev in events:
            apply(ev)
        rates.append(len(events) / (time.perf_counter() - start))
    return rates


def apply_many_per_second(events: list, runs: int) -> list[float]:
    """The same with ``SessionModel.apply_many`` (the app's drain path)."""
    rates = []
    for _ in range(runs):
        model = SessionModel()
        gc.collect()
        start = time.perf_counter()
        model.apply_many(events)
        rates.append(len(events) / (time.perf_counter() - start))
    return rates


def run(quick: bool = False) -> None:
    """Print ``ingest.*`` figures."""
    turns = 50 if quick else 1000
    runs = 2 if quick else 7
    events = synthetic_session(turns=turns)
    figure(NAME, "session_events", len(events), f"events ({turns} turns)")
    figure(NAME, "events_per_second", events_per_second(events, runs), "events/s", ">= 200,000")
    figure(
        NAME,
        "apply_many_events_per_second",
        apply_many_per_second(events, runs),
        "events/s",
        ">= 200,000",
    )
    # Item 2's other half, the frame time with 1,000 turns in the model (target <= 16 ms), is
    # measured on the app side by bench/render.py; `python -m bench ingest` reports both.
    from bench import render

    render.run(quick)
