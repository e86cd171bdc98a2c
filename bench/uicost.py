"""The UI's cost in one run (issue 10, part 6): the five figures against headless.

Everything comes from the existing benchmarks and their method, gathered in one run so that the
figures share the machine's load:
    * ``overhead``'s alternating pairs (``bench.overhead.measure``: the same agent and recordings
      under ``lkmon run`` with the TUI on a 120x40 pty, then ``--headless``, the order swapped
      every pair). Per pair: the ratio of CPU seconds per session minute (target <= 1.10), the
      loop-lag p99 with the TUI minus headless (target <= 1.5 ms; also as the p99 of every
      wake-up of the arm's sessions pooled, ``*_pooled_*``: one session's p99 rests on its ~40
      latest wake-ups and moves by several ms from run to run), and the longest gen-2
      collection pause in the session with the TUI (``gc.callbacks``, target <= 5 ms).
    * ``long``'s 10,000-turn session, each in a fresh process: the RSS growth through the model
      alone and through the model and the app (``bench.long.child_app``); the app's share is the
      difference (target <= 5 MB).
    * ``render``'s frame with 1,000 turns at 200x60 (``bench.render.measure``: Textual's
      ``run_test(size=(200, 60))``; a new turn folded, the panes refreshed, the frame rendered
      to terminal output; target <= 10 ms), in a fresh process too: in the process that had
      run the pairs it measured 14-16 ms where a fresh one gave 8-9 ms minutes later.

Sizes: ``LKMON_BENCH_PAIRS`` pairs (default 4), 2 RSS runs; ``--quick``: 1 pair, 300 turns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import overhead
from bench._sessions import ratio_list, recordings, run_lkmon
from bench.common import figure
from bench.probe import lag_stats

NAME = "uicost"
REPO = Path(__file__).resolve().parents[1]


def model_rss(turns: int) -> float:
    """RSS growth (MB) of folding a ``turns``-turn synthetic session into a ``SessionModel``,
    in this process (call it in a fresh one)."""
    import gc

    from bench.long import _rss_mb
    from lkmon.model.state import SessionModel
    from tests.synthetic import iter_synthetic_session

    gc.collect()
    rss0 = _rss_mb()
    model = SessionModel()
    for ev in iter_synthetic_session(turns):
        model.apply(ev)
    gc.collect()
    assert len(model.turns) == turns
    return _rss_mb() - rss0


def _child(code: str) -> Any:
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> None:
    """Print the ``uicost.*`` figures."""
    recs = recordings(overhead.RECORDINGS[:1] if quick else overhead.RECORDINGS)
    pairs = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "4"))
    res: dict[str, list[dict[str, Any]]] = {"tui": [], "headless": []}
    pooled: dict[str, list[float]] = {"tui": [], "headless": []}  # every session's lags (s)
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-uicost-") as tmp:
        for i in range(pairs):
            for arm in ("tui", "headless") if i % 2 == 0 else ("headless", "tui"):
                r = run_lkmon(arm, overhead.session_args(recs), Path(tmp) / f"{i}-{arm}",
                              tui=arm == "tui", timeout=90 + 40 * len(recs))
                m = overhead.measure(r)
                pooled[arm] += r.lags_in(*r.session_window())
                res[arm].append(m)
                print(f"# {NAME} pair {i} {arm}: cpu/min={m['cpu_per_min']:.2f} "
                      f"lag p99={m['lag_p99_ms']:.2f} ms gc2 max={m['gc2_max_ms']:.2f} ms "
                      f"({m['gc2_count']})", flush=True)

    def col(arm: str, key: str) -> list[float]:
        return [m[key] for m in res[arm]]

    figure(NAME, "cpu_per_session_minute_tui", col("tui", "cpu_per_min"), "CPU s/min")
    figure(NAME, "cpu_per_session_minute_headless", col("headless", "cpu_per_min"), "CPU s/min")
    figure(NAME, "cpu_per_session_minute_ratio",
           ratio_list(col("tui", "cpu_per_min"), col("headless", "cpu_per_min")), "x", "<= 1.10")
    figure(NAME, "loop_lag_p99_tui_ms", col("tui", "lag_p99_ms"), "ms")
    figure(NAME, "loop_lag_p99_headless_ms", col("headless", "lag_p99_ms"), "ms")
    figure(NAME, "loop_lag_p99_delta_ms",
           [t - h for t, h in zip(col("tui", "lag_p99_ms"), col("headless", "lag_p99_ms"),
                                  strict=True)], "ms", "<= 1.5 ms")
    tui_p99, headless_p99 = (lag_stats(pooled[arm]).p99_ms for arm in ("tui", "headless"))
    print(f"# {NAME} pooled: {len(pooled['tui'])} wake-ups with the TUI, "
          f"{len(pooled['headless'])} headless")
    figure(NAME, "loop_lag_p99_pooled_tui_ms", [tui_p99], "ms")
    figure(NAME, "loop_lag_p99_pooled_headless_ms", [headless_p99], "ms")
    figure(NAME, "loop_lag_p99_pooled_delta_ms", [tui_p99 - headless_p99], "ms", "<= 1.5 ms")
    figure(NAME, "gc_gen2_max_pause_tui_ms", col("tui", "gc2_max_ms"), "ms", "<= 5 ms")
    figure(NAME, "gc_gen2_max_pause_headless_ms", col("headless", "gc2_max_ms"), "ms")
    figure(NAME, "gc_gen2_in_session_tui", col("tui", "gc2_count"), "collections")

    turns = 300 if quick else 10_000
    model, app = [], []
    for _ in range(1 if quick else 2):
        model.append(_child(f"from bench.uicost import model_rss; print(model_rss({turns}))"))
        app.append(_child("import json; from bench.long import child_app; "
                          f"print(json.dumps(child_app({turns})))")["app_rss_growth_mb"])
    figure(NAME, "model_rss_growth", model, "MB", f"{turns} turns")
    figure(NAME, "model_and_app_rss_growth", app, "MB")
    figure(NAME, "app_rss_growth_beyond_model",
           [a - m for a, m in zip(app, model, strict=True)], "MB", "<= 5 MB")

    frames = _child("import asyncio, json; from bench import render; print(json.dumps("
                    f"asyncio.run(render.measure({100 if quick else 1000}, (200, 60), "
                    f"{10 if quick else 40}, repaints=1))))")
    figure(NAME, "frame_ms_1000turns_200x60", frames["new_turn"], "ms", "<= 10 ms")
