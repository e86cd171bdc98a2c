"""Textual strips with their caches made when first used (``lkmon.tui.compat.lazy_strip_caches``)
against Textual's own seven per strip, in alternating fresh processes.

Arms: ``lazy`` (as lkmon runs) and ``eager`` (the workaround left out: ``lazy_strip_caches``
replaced by a no-op in that process before the app is built). Per run, in its own process:
the frame with 1,000 turns at 200x60 (``bench.render.measure``, median of 40 new-turn frames),
the app's RSS growth over a 10,000-turn session (``bench.long.child_app``) and the objects the
cyclic collector tracks after it (what a full collection walks). Figures are the medians over
the runs and the ratio lazy / eager per pair (``--quick``: 1 pair, 100 and 50 turns, 10 frames).

Usage: ``python -m bench stripcaches`` (``LKMON_BENCH_PAIRS``, default 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._sessions import ratio_list
from bench.common import figure

NAME = "stripcaches"
REPO = Path(__file__).resolve().parents[1]

CHILD = """
import asyncio, gc, json, statistics, sys
import lkmon.tui.compat as compat
if sys.argv[1] == "eager":
    compat.lazy_strip_caches = lambda: False
from bench import render
from bench.long import child_app
turns, frame_turns, frames = map(int, sys.argv[2:5])
rss = child_app(turns)["app_rss_growth_mb"]
gc.collect()
tracked = len(gc.get_objects())
frames = asyncio.run(render.measure(frame_turns, (200, 60), frames, repaints=1))["new_turn"]
print(json.dumps({"rss": rss, "tracked": tracked, "frame": statistics.median(frames)}))
"""


def one(arm: str, turns: int, frame_turns: int, frames: int) -> dict[str, Any]:
    """One run of ``arm`` in a fresh process; its figures."""
    proc = subprocess.run([sys.executable, "-c", CHILD, arm, str(turns), str(frame_turns),
                           str(frames)],
                          cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool = False) -> None:
    """Print the ``stripcaches.*`` figures."""
    pairs = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "3"))
    turns, frame_turns, frames = (100, 50, 10) if quick else (10_000, 1000, 40)
    res: dict[str, list[dict[str, Any]]] = {"lazy": [], "eager": []}
    for i in range(pairs):
        for arm in ("lazy", "eager") if i % 2 == 0 else ("eager", "lazy"):
            r = one(arm, turns, frame_turns, frames)
            res[arm].append(r)
            print(f"# {NAME} pair {i} {arm}: rss {r['rss']:.2f} MB, tracked {r['tracked']}, "
                  f"frame {r['frame']:.2f} ms", flush=True)
    for key, unit, what in (("frame", "ms", f"frame, {frame_turns} turns, 200x60"),
                            ("rss", "MB", f"app RSS growth over {turns} turns"),
                            ("tracked", "objects", "tracked by the collector at the end")):
        lazy = [r[key] for r in res["lazy"]]
        eager = [r[key] for r in res["eager"]]
        print(f"# {NAME}.{key}: {what}", flush=True)
        figure(NAME, f"{key}_lazy", lazy, unit)
        figure(NAME, f"{key}_eager", eager, unit)
        figure(NAME, f"{key}_ratio", ratio_list(lazy, eager), "x lazy / eager")
