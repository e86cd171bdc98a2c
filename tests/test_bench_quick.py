"""CI check for ``bench/``: every benchmark runs to the end with ``--quick`` (issue 5: benchmarks
are not timed tests; CI only checks that each one runs on a small size). Plus the loop-lag probe
(``bench/probe.py``) that the overhead benchmark relies on.

Benchmarks marked ``models`` start the real offline models (overhead, startup, pipeline, peer):
about 2-3 minutes together on 2 cores. Nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.probe import GcWatch, LoopLagProbe, cpu_between, lag_stats, probe_new_loops

REPO = Path(__file__).resolve().parents[1]


def run_bench(name: str, tmp_path: Path, timeout: float) -> dict[str, dict[str, object]]:
    """``python -m bench --quick NAME --json OUT``; returns the figures by name."""
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out), name],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"# {name} took" in proc.stdout
    figures = {f"{r['name']}.{r['figure']}": r for r in json.loads(out.read_text())}
    for key in figures:  # every figure is printed in the format
        assert f"{key}: " in proc.stdout
    return figures


def finite(figures: dict[str, dict[str, object]], key: str) -> float:
    assert key in figures, f"{key} missing from {sorted(figures)}"
    value = float(figures[key]["median"])  # type: ignore[arg-type]
    assert math.isfinite(value), f"{key} = {value}"
    return value


# --- the probe ------------------------------------------------------------------------------


def test_probe_sees_a_blocked_loop() -> None:
    async def main() -> LoopLagProbe:
        probe = LoopLagProbe()
        probe.start()
        await asyncio.sleep(0.3)
        # Hold the loop as a slow callback would, for 0.12 s of this thread's own CPU (not of
        # the wall clock: on a loaded machine a wall-clock hold gets less CPU than it asks).
        end = time.thread_time() + 0.12
        while time.thread_time() < end:
            pass
        await asyncio.sleep(0.2)
        probe.stop()
        await asyncio.sleep(0)
        return probe

    probe = asyncio.run(main())
    stats = probe.stats()
    assert stats.count >= 20
    assert stats.max_ms >= 80  # the 120 ms hold, minus the part of the sleep already done
    assert stats.p50_ms < stats.max_ms / 4  # the hold stands out against the usual wake-ups
    assert probe.cpu_between(probe.cpu[0][0], probe.cpu[-1][0]) >= 0.08  # the busy hold


def test_probe_attaches_to_new_loops_without_changes_to_the_code() -> None:
    async def main() -> None:
        await asyncio.sleep(0.15)

    with probe_new_loops() as probes:
        asyncio.run(main())
        asyncio.run(main())
    assert len(probes) == 2
    assert all(len(p.lags) >= 5 for p in probes)
    assert probes[0].thread == "MainThread"
    # outside the block, new loops are left alone
    asyncio.run(main())
    assert len(probes) == 2


def test_lag_statistics_and_cpu_windows() -> None:
    stats = lag_stats([0.001] * 99 + [0.050])
    assert stats.p50_ms == pytest.approx(1.0)
    assert stats.max_ms == pytest.approx(50.0)
    assert 1.0 <= stats.p99_ms <= 50.0
    with pytest.raises(ValueError):
        lag_stats([0.001])
    samples = [(100.0, 1.0), (110.0, 3.0), (120.0, 3.0)]
    assert cpu_between(samples, 105.0, 115.0) == pytest.approx(1.0)
    assert cpu_between(samples, 0.0, 200.0) == pytest.approx(2.0)  # clamped to the samples


def test_gc_watch_records_full_collections() -> None:
    import gc

    watch = GcWatch().install()
    try:
        gc.collect()
    finally:
        watch.uninstall()
    assert any(gen == 2 and pause >= 0 for _, gen, pause in watch.collections)


# --- each benchmark, --quick ----------------------------------------------------------------


def test_bench_ingest_quick(tmp_path: Path) -> None:
    figures = run_bench("ingest", tmp_path, timeout=300)
    assert finite(figures, "ingest.events_per_second") > 0
    assert finite(figures, "render.frame_ms_100turns_120x40") > 0


def test_bench_long_quick(tmp_path: Path) -> None:
    figures = run_bench("long", tmp_path, timeout=300)
    assert finite(figures, "long.snapshot_export") > 0
    finite(figures, "long.replay_load_to_first_frame")


def test_bench_uigarbage_quick(tmp_path: Path) -> None:
    figures = run_bench("uigarbage", tmp_path, timeout=300)
    assert finite(figures, "uigarbage.frames") > 0
    # tui/compat.py's workaround: no Textual strip is left to the cyclic collector
    assert finite(figures, "uigarbage.cyclic_garbage_strips") == 0


@pytest.mark.slow  # two fresh app processes, ~10 s: kept out of the 2-minute fast lane
def test_bench_stripcaches_quick(tmp_path: Path) -> None:
    figures = run_bench("stripcaches", tmp_path, timeout=300)
    # tui/compat.py's lazy_strip_caches: fewer objects for the collector, with the same app
    assert finite(figures, "stripcaches.tracked_ratio") < 1
    assert finite(figures, "stripcaches.frame_lazy") > 0


def test_bench_store_quick(tmp_path: Path) -> None:
    figures = run_bench("store", tmp_path, timeout=300)
    assert finite(figures, "store.snapshot_load") > 0
    assert finite(figures, "store.journal_load") > 0
    assert finite(figures, "store.turns") == 300


@pytest.mark.models
@pytest.mark.slow  # about 40 s even --quick: .ci/run's slow lane runs it
def test_bench_overhead_quick(tmp_path: Path) -> None:
    figures = run_bench("overhead", tmp_path, timeout=400)
    assert finite(figures, "overhead.e2e_p50_ratio") > 0
    assert finite(figures, "overhead.loop_lag_p99_tui_ms") >= 0
    assert finite(figures, "overhead.cpu_per_session_minute_ratio") > 0


@pytest.mark.models
def test_bench_startup_quick(tmp_path: Path) -> None:
    figures = run_bench("startup", tmp_path, timeout=300)
    frame = finite(figures, "startup.first_frame_s")
    listening = finite(figures, "startup.listening_s")
    assert 0 < frame < listening


@pytest.mark.models
@pytest.mark.slow  # about 1 min even --quick: .ci/run's slow lane runs it
def test_bench_pipeline_quick(tmp_path: Path) -> None:
    figures = run_bench("pipeline", tmp_path, timeout=400)
    assert any(k.startswith("pipeline.") for k in figures)


@pytest.mark.models
@pytest.mark.slow  # about 1 min even --quick: .ci/run's slow lane runs it
def test_bench_peer_quick(tmp_path: Path) -> None:
    figures = run_bench("peer", tmp_path, timeout=400)
    assert finite(figures, "peer.llm_ttft_ratio_lkmon_vs_console") > 0
    assert finite(figures, "peer.cpu_per_turn_ratio_lkmon_vs_bare_null") > 0


@pytest.mark.models
@pytest.mark.slow  # about 100 s even --quick (4 sessions): .ci/run's slow lane runs it
def test_bench_turndet_quick(tmp_path: Path) -> None:
    figures = run_bench("turndet", tmp_path, timeout=400)
    assert finite(figures, "turndet.vad.plain.turns") == 2
    assert finite(figures, "turndet.vad.pauses.eou_p50") > 0


@pytest.mark.models
@pytest.mark.slow  # about 70 s even --quick (3 sessions, each 2 processes): the slow lane
def test_bench_recorder_quick(tmp_path: Path) -> None:
    figures = run_bench("recorder", tmp_path, timeout=400)
    assert finite(figures, "recorder.e2e_p50_ratio") > 0
    assert finite(figures, "recorder.e2e_p50_ratio_aa") > 0
    assert finite(figures, "recorder.loop_lag_p99_ms_recorder") >= 0
    assert finite(figures, "recorder.cpu_per_session_minute_ratio") > 0
    assert finite(figures, "recorder.recorder_journal_lines") > 10  # the recorder did record


@pytest.mark.models
@pytest.mark.slow  # about 70 s even --quick (3 sessions, one with the TUI): the slow lane
def test_bench_process_quick(tmp_path: Path) -> None:
    figures = run_bench("process", tmp_path, timeout=400)
    assert finite(figures, "process.e2e_p50_ratio") > 0
    assert finite(figures, "process.loop_lag_p99_diff_ms_aa") == pytest.approx(
        finite(figures, "process.loop_lag_p99_ms_headless_aa")
        - finite(figures, "process.loop_lag_p99_ms_headless"))
    assert finite(figures, "process.cpu_per_session_minute_ratio") > 0
    assert finite(figures, "process.lkmon_cpu_process_tui") > 0


@pytest.mark.models
@pytest.mark.slow  # about 85 s even --quick (4 sessions, one with the TUI): the slow lane
def test_bench_storecost_quick(tmp_path: Path) -> None:
    figures = run_bench("storecost", tmp_path, timeout=500)
    for pair in ("store", "tui", "aa"):
        assert finite(figures, f"storecost.{pair}.cpu_per_session_minute_ratio") > 0
        assert finite(figures, f"storecost.{pair}.e2e_p50_ratio") > 0
        finite(figures, f"storecost.{pair}.loop_lag_p99_diff_ms")
    # the store-on runs did store their turns (the greeting and the recording's turn)
    assert finite(figures, "storecost.stored_turns_headless_db") >= 2
    assert finite(figures, "storecost.stored_turns_tui_db") >= 2
    assert finite(figures, "storecost.tui.loop_lag_p99_diff_ms") == pytest.approx(
        finite(figures, "storecost.loop_lag_p99_ms_tui_db")
        - finite(figures, "storecost.loop_lag_p99_ms_headless_db"))
