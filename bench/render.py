"""Render time of the lkmon screen with many turns in the model (issue 5, item 2).

A frame is measured the way a live session produces one: a new turn's events are folded into
the model (``LkmonApp.apply_events``), the panes whose areas changed refresh, Textual lays out and
renders the dirty widgets (``Screen._on_timer_update``) and the update is turned into terminal
output (``render_segments``). The app runs under Textual's headless driver, so nothing reaches a
terminal, but every line is rendered.

Panes re-render at their own rates (VAD and log at most every 0.2 s, usage every 0.5 s, the
latency summary every 0.5 s), as they do in a live session.

Figures (``render.*``), medians with their spread:
    frame_ms_<N>turns_<W>x<H>: a new turn's events arrive, are folded into the model, the
        changed panes refresh and the frame is rendered to terminal output (target <= 16 ms).
    full_repaint_ms_<N>turns_<W>x<H>: every widget repaints (as after a resize).
    first_frame_ms_<N>turns_<W>x<H>: mounting the app on the replayed model to its first frame.

Usage: ``python -m bench render`` (or call ``run(quick)``; ``measure(...)`` returns the samples).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

from bench.common import figure

TESTS = Path(__file__).resolve().parent.parent / "tests"
TARGET_MS = 16.0


def _synthetic():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import synthetic  # tests/synthetic.py: scripted sessions with fixed timestamps

    return synthetic


async def measure(
    turns: int, size: tuple[int, int], frames: int, repaints: int | None = None
) -> dict[str, list[float]]:
    """Run the app on a replayed ``turns``-turn session and time frames.

    Returns:
        ``{"new_turn": [ms...], "full": [ms...], "first": [ms]}``: a new turn arriving and its
        frame; a repaint of every widget (as after a resize); the first frame after mounting.
    """
    from lkmon.model.state import SessionModel
    from lkmon.tui.app import LkmonApp

    synthetic = _synthetic()
    events = synthetic.synthetic_session(turns)
    model = SessionModel()
    model.apply_many(events)
    # Extra turns to feed one at a time, as a live session would.
    extra = synthetic.Script(t0=events[-1].ts + 1.0)
    extra._ids = 10_000_000  # speech ids must not collide with the replayed session's
    extra.start()
    extra.drain()
    batches = []
    for i in range(frames):
        extra.spoken_turn(f"Live question {i}?", "A live answer.")
        batches.append(list(extra.flush()))
        extra.drain()
    now = [events[-1].ts]
    app = LkmonApp(model, clock=lambda: now[0])
    out: dict[str, list[float]] = {"new_turn": [], "full": [], "first": []}
    t_start = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        out["first"].append((time.perf_counter() - t_start) * 1000)
        screen = app.screen
        console = app.console

        def display(_screen: object, renderable: object) -> None:
            # The headless driver skips writing; build the terminal output all the same.
            if renderable is not None:
                renderable.render_segments(console)  # type: ignore[attr-defined]

        app._display = display  # type: ignore[method-assign]
        gc.collect()
        for batch in batches:
            now[0] = batch[-1].ts
            t0 = time.perf_counter()
            app.apply_events(batch)
            screen._on_timer_update()
            out["new_turn"].append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0)
        widgets = list(screen.walk_children(with_self=True))
        for _ in range(frames if repaints is None else repaints):
            t0 = time.perf_counter()
            for widget in widgets:
                widget.refresh()
            screen._on_timer_update()
            out["full"].append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0)
        assert len(model.turns) == turns + frames, "every live turn reached the model"
        await pilot.pause()
    return out


def run(quick: bool = False) -> None:
    """Print the render figures; ``quick`` uses fewer turns and frames (a smoke run)."""
    turns = 100 if quick else 1000
    frames = 5 if quick else 40
    sizes = [(120, 40)] if quick else [(120, 40), (200, 60), (80, 24)]
    runs = [(turns, size) for size in sizes]
    if not quick:  # the cost of a frame must not grow with the session
        runs += [(10, (120, 40)), (10_000, (120, 40))]
    for n, size in runs:
        res = asyncio.run(measure(n, size, frames))
        tag = f"{n}turns_{size[0]}x{size[1]}"
        figure("render", f"frame_ms_{tag}", res["new_turn"], "ms", f"<= {TARGET_MS:g} ms")
        figure("render", f"full_repaint_ms_{tag}", res["full"], "ms")
        figure("render", f"first_frame_ms_{tag}", res["first"], "ms")


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
