"""Long sessions: a synthetic 10,000-turn session through the model (issue 5, item 3, model side).

Each run is a fresh Python process (so RSS is not polluted by earlier runs) that:
    * folds the session into a ``SessionModel`` event by event, the events made turn by turn as a
      live session would bring them, and reports the RSS growth (target <= 50 MB with the app;
      this is the model's share);
    * exports the snapshot (``write_snapshot``, target <= 1 s) and the HTML report;
    * loads the snapshot back (``load_session``), then again into the app up to its first frame
      with Textual's headless driver, as ``lkmon replay`` does (target <= 1.5 s);
    * in a second process, replays the session through the model and the app (redrawn after
      every 5,000 events) and reports that RSS growth (target <= 50 MB).
Figures are medians over the runs, with the spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import figure

NAME = "long"
REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def child(turns: int, directory: str) -> dict[str, float]:
    """One measurement run (in the current process); returns the figures."""
    import gc
    import time

    from lkmon.model.state import SessionModel
    from lkmon.report.html import write_html_report
    from lkmon.store.snapshot import load_session, write_snapshot
    from tests.synthetic import iter_synthetic_session

    gc.collect()
    rss0 = _rss_mb()
    model = SessionModel()
    apply = model.apply
    start = time.perf_counter()
    n = 0
    for ev in iter_synthetic_session(turns):
        apply(ev)
        n += 1
    replay_s = time.perf_counter() - start
    gc.collect()
    rss1 = _rss_mb()
    out = Path(directory)
    start = time.perf_counter()
    snap = write_snapshot(model, out / "long.json")
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    write_html_report(model, out / "long.html")
    html_s = time.perf_counter() - start
    del model
    gc.collect()
    start = time.perf_counter()
    loaded = load_session(snap)
    load_s = time.perf_counter() - start
    assert len(loaded.turns) == turns
    del loaded
    gc.collect()
    first_frame_s = replay_first_frame(snap)
    return {
        "events": n,
        "rss_growth_mb": rss1 - rss0,
        "replay_s": replay_s,
        "snapshot_export_s": export_s,
        "snapshot_mb": snap.stat().st_size / 1e6,
        "html_export_s": html_s,
        "snapshot_load_s": load_s,
        "replay_first_frame_s": first_frame_s,
    }


def child_app(turns: int) -> dict[str, float]:
    """One run through the model AND the app (Textual's headless driver, 120x40): events are
    folded in chunks with ``LkmonApp.apply_events`` and the screen is redrawn after each chunk,
    as the app's drain timer does in accelerated time. Returns the RSS growth and timings."""
    import asyncio
    import gc
    import time

    from tests.synthetic import iter_synthetic_session

    async def measure() -> dict[str, float]:
        from lkmon.model.state import SessionModel
        from lkmon.tui.app import LkmonApp

        app = LkmonApp(SessionModel())
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            gc.collect()
            rss0 = _rss_mb()
            start = time.perf_counter()
            chunk: list = []
            frames = 0
            for ev in iter_synthetic_session(turns):
                chunk.append(ev)
                if len(chunk) >= 5000:
                    app.apply_events(chunk)
                    chunk = []
                    await pilot.pause()
                    frames += 1
            app.apply_events(chunk)
            await pilot.pause()
            elapsed = time.perf_counter() - start
            gc.collect()
            rss1 = _rss_mb()
            assert len(app.model.turns) == turns
            return {"app_rss_growth_mb": rss1 - rss0, "app_replay_s": elapsed, "frames": frames}

    return asyncio.run(measure())


def replay_first_frame(snapshot: Path) -> float:
    """Seconds from reading ``snapshot`` to the app's first frame (Textual's headless driver),
    as ``lkmon replay`` does it; ``nan`` when the app cannot be built."""
    import asyncio
    import time

    from lkmon.store.snapshot import load_session

    async def measure() -> float:
        from lkmon.tui.app import LkmonApp

        start = time.perf_counter()
        app = LkmonApp(load_session(snapshot))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return time.perf_counter() - start

    try:
        return asyncio.run(measure())
    except ImportError:
        return float("nan")


def run(quick: bool = False) -> None:
    """Print ``long.*`` figures."""
    turns = 300 if quick else 10_000
    runs = 1 if quick else 3
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            code = (
                "import json, sys; from bench.long import child; "
                f"print(json.dumps(child({turns}, {tmp!r})))"
            )
            proc = subprocess.run(
                [sys.executable, "-c", code],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.strip().splitlines()[-1])
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

        code = (
            f"import json; from bench.long import child_app; print(json.dumps(child_app({turns})))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        results[-1].update(json.loads(proc.stdout.strip().splitlines()[-1]))

    def col(key: str) -> list[float]:
        return [r[key] for r in results]

    figure(NAME, "turns", turns, "turns")
    figure(NAME, "events", col("events")[0], "events")
    figure(NAME, "model_rss_growth", col("rss_growth_mb"), "MB", "<= 50 MB (with the app)")
    figure(NAME, "app_rss_growth", col("app_rss_growth_mb"), "MB", "<= 50 MB")
    figure(NAME, "replay_through_app", col("app_replay_s"), "s")
    figure(NAME, "replay_through_model", col("replay_s"), "s")
    figure(NAME, "snapshot_export", col("snapshot_export_s"), "s", "<= 1 s")
    figure(NAME, "snapshot_size", col("snapshot_mb"), "MB")
    figure(NAME, "html_export", col("html_export_s"), "s")
    figure(NAME, "snapshot_load", col("snapshot_load_s"), "s")
    figure(NAME, "replay_load_to_first_frame", col("replay_first_frame_s"), "s", "<= 1.5 s")
