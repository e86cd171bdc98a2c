"""The TUI's cyclic garbage: what only the cyclic collector frees, per replayed session.

A real session's journal (``tests/data/real_session_0870.journal.jsonl``, 26 s) is delivered to
the app by a live source at the pace it was recorded (``PacedJournal``), under Textual's
headless driver at 120x40 with every screen update turned into terminal output, as a terminal
would get it. The cyclic collector is off while the session plays (``gc.disable()``), so every
object that only it could free is still there at the end; one ``gc.collect()`` with
``gc.DEBUG_SAVEALL`` then counts them, by type. Reference counting frees everything else as it
goes, so the count is the work the full (gen-2) collections of a live session would do on
lkmon's and Textual's garbage, and it does not depend on the machine's load.

Figures (``uigarbage.*``): ``cyclic_garbage_objects`` per replay, the ``Strip`` and
``FIFOCache`` objects among them, ``frames`` (screen updates) in the replay, and
``tracked_objects_growth``: the objects the collector tracks that are alive at the end beyond
those alive before the session (model and app together), which every full collection walks.
``--quick`` plays the session 8x faster (fewer frames).

Usage: ``python -m bench uigarbage``; ``garbage(speed)`` returns the counts.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import figure
from lkmon.sources.base import Capabilities, Emit, SessionSource

NAME = "uigarbage"
JOURNAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real_session_0870.journal.jsonl"


class PacedJournal(SessionSource):
    """A live source that delivers a journal's events at their recorded pace.

    Args:
        path: the journal.
        speed: how many times faster than recorded (1.0: as recorded).
    """

    def __init__(self, path: Path, speed: float = 1.0) -> None:
        from lkmon.store.journal import read_journal

        self.events = read_journal(path)
        self.speed = speed

    @property
    def capabilities(self) -> Capabilities:
        """Live: events arrive while the session plays."""
        return Capabilities(live=True)

    @property
    def description(self) -> str:
        """``"paced journal"``."""
        return "paced journal"

    def open(self, prices: Any = None) -> Any:
        """An empty model."""
        from lkmon.model.state import SessionModel

        return SessionModel()

    async def run(self, emit: Emit) -> None:
        """Deliver each event at its recorded offset from the first (divided by ``speed``)."""
        t0, start = self.events[0].ts, time.monotonic()
        for ev in self.events:
            wait = (ev.ts - t0) / self.speed - (time.monotonic() - start)
            if wait > 0:
                await asyncio.sleep(wait)
            emit(ev)


def garbage(speed: float = 1.0, size: tuple[int, int] = (120, 40)) -> dict[str, Any]:
    """Replay the journal into the app and count the cyclic garbage it left.

    Returns:
        ``{"objects": n, "by_type": Counter, "frames": n, "seconds": s, "tracked": n}``:
        objects only the cyclic collector would free, by type name; screen updates; wall
        seconds of the replay; growth of the objects the collector tracks.
    """
    from lkmon.tui.app import LkmonApp

    source = PacedJournal(JOURNAL, speed)
    app = LkmonApp(source.open(), source, exit_on_close=False)
    frames = [0]

    async def play() -> dict[str, Any]:
        async with app.run_test(size=size) as pilot:
            console = app.console

            def display(_screen: object, renderable: object) -> None:
                if renderable is not None:
                    frames[0] += 1
                    renderable.render_segments(console)  # type: ignore[attr-defined]

            app._display = display  # type: ignore[method-assign]
            await pilot.pause()
            gc.collect()
            tracked0 = len(gc.get_objects())
            gc.disable()
            start = time.monotonic()
            while not app.session_over:
                await asyncio.sleep(0.05)
            await pilot.pause(0.5)  # the last drain ticks
            seconds = time.monotonic() - start
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                gc.collect()
                by_type = Counter(type(o).__name__ for o in gc.garbage)
                n = len(gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
            gc.collect()
            tracked = len(gc.get_objects()) - tracked0
            return {"objects": n, "by_type": by_type, "frames": frames[0], "seconds": seconds,
                    "tracked": tracked}

    return asyncio.run(play())


def run(quick: bool = False) -> None:
    """Print the ``uigarbage.*`` figures (one replay)."""
    res = garbage(8.0 if quick else 1.0)
    print(f"# {NAME}: {res['seconds']:.1f} s, most common: "
          + ", ".join(f"{k} {v}" for k, v in res["by_type"].most_common(8)), flush=True)
    figure(NAME, "cyclic_garbage_objects", res["objects"], "objects per replay")
    figure(NAME, "cyclic_garbage_strips", res["by_type"].get("Strip", 0), "objects")
    figure(NAME, "cyclic_garbage_fifocaches", res["by_type"].get("FIFOCache", 0), "objects")
    figure(NAME, "frames", res["frames"], "screen updates")
    figure(NAME, "tracked_objects_growth", res["tracked"], "objects",
           "alive at the end, beyond those at the start: what a full collection walks")
