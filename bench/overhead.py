"""UI overhead on the agent: the same session with the TUI attached and headless (issue 5, item 1).

The agent (``agent_entry.py``, local models, ``--output null``) hears the same recordings twice
per pair: once under ``lkmon run`` with the TUI drawing on a real 120x40 terminal (a pty whose
output a thread reads at once, as a terminal emulator would; Textual's own Linux driver, rendering
for real) and once under ``lkmon run --headless``. The order alternates pair by pair (TUI first,
then headless first) so that drift on this shared machine falls on both arms. Each run is its
own process, run by ``bench._driver`` with ``bench.probe.LoopLagProbe`` on its event loop.

Figures (``overhead.*``); ratios are TUI / headless, computed per pair, reported as the median
over pairs with the spread:
    e2e_p50_ratio: e2e latency p50 (snapshot ``turns[].metrics.e2e_latency``, from LiveKit's
        assistant ``ChatMessage.metrics['e2e_latency']``). Target <= 1.03. Also the ratio of
        the pooled turns, and turn by turn (the same recording in the same pair:
        ``e2e_ratio_matched_turns``), with the same figure between consecutive headless runs as
        the noise floor (an A/A comparison).
    loop_lag_p99_tui_ms / _headless_ms: how late the probe's 10 ms sleep woke, p99 over the
        session (SessionStarted to SessionClosed in the journal). Target <= 10 ms with the TUI.
    cpu_per_session_minute_ratio: process CPU seconds (all threads, ``time.process_time``
        sampled by the probe) per minute of session. Target <= 1.15.
    cpu_process_ratio: the whole process's CPU (``RUSAGE_CHILDREN``, start-up included).
    gc_gen2_*: full garbage collections during the session, and their longest pause. The
        runner itself calls ``gc.collect(); gc.freeze()`` right after SessionStarted
        (``lkmon/agent/host/runner.py`` ``_after_start``), so one collection at the very start is
        expected; ``*_after_first_second`` leaves it out (and so do the lag maxima so named).

The session store is on in both arms, as in a user's ``lkmon run``: each run writes a scratch
SQLite file of its own (``--db RUN_FOLDER/lkmon.db``, ``bench._sessions.store_args``), never the
repository's ``lkmon-sessions/lkmon.db``; ``LKMON_BENCH_STORE=off`` runs both arms ``--no-db``
(runs A-C predate the store; ``bench/storecost.py`` measures the store's own cost).

Sizes: 3 recordings x 4 pairs (``LKMON_BENCH_PAIRS`` overrides); ``--quick``: 1 recording, 1 pair.
``LKMON_BENCH_KEEP=DIR`` keeps each run's journal, snapshot and probe results in DIR.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench._sessions import Run, median_or_nan, ratio_list, recordings, run_lkmon
from bench.common import figure

NAME = "overhead"
RECORDINGS = ["goforward", "something", "forever_1"]


def store_on() -> bool:
    """False when ``$LKMON_BENCH_STORE`` is ``off`` (the runs then take ``--no-db``).

    Raises:
        ValueError: ``$LKMON_BENCH_STORE`` is neither ``on``, ``off`` nor unset.
    """
    value = os.environ.get("LKMON_BENCH_STORE", "on").strip().lower() or "on"
    if value not in ("on", "off"):
        raise ValueError(f"LKMON_BENCH_STORE={value!r}: give on or off")
    return value == "on"


def session_args(recs: list[Path], *, store: bool = True) -> list[str]:
    """``lkmon run`` arguments: the default agent, local models, the recordings, a null sink;
    ``--no-db`` without ``store`` (with it the runner adds a scratch ``--db``)."""
    return ["agent_entry.py", "--models", "local", "--input", *map(str, recs), "--output", "null",
            *([] if store else ["--no-db"])]


def measure(run: Run) -> dict[str, Any]:
    """The per-run figures of one session (see the module docstring)."""
    start, end = run.session_window()
    minutes = (end - start) / 60.0
    lag = run.lag_ms(start, end)
    e2e = run.metric("e2e_latency")
    gc2 = run.gc_in(start, end)
    # the runner's own gc.collect() before gc.freeze() comes right after SessionStarted
    gc2_later = run.gc_in(start + 1.0, end)
    lag_later = run.lag_ms(start + 1.0, end)
    return {
        "e2e": e2e,
        "e2e_p50": median_or_nan(e2e),
        # the stages of e2e, to see where a slow run lost its time
        "stt_p50": median_or_nan(run.metric("transcription_delay")),
        "ttft_p50": median_or_nan(run.metric("llm_ttft")),
        "ttfb_p50": median_or_nan(run.metric("tts_ttfb")),
        "e2e_turns": len(e2e),
        "lag_p50_ms": lag["p50_ms"],
        "lag_p99_ms": lag["p99_ms"],
        "lag_max_ms": lag["max_ms"],
        "cpu_session": run.cpu_in(start, end),
        "cpu_per_min": run.cpu_in(start, end) / minutes,
        "session_s": end - start,
        "cpu_total": run.cpu_total,
        "gc2_count": len(gc2),
        "gc2_max_ms": max(gc2, default=0.0) * 1000,
        "gc2_later": len(gc2_later),
        "lag_max_later_ms": lag_later["max_ms"],
    }


def run(quick: bool = False) -> None:
    """Print the ``overhead.*`` figures."""
    recs = recordings(RECORDINGS[:1] if quick else RECORDINGS)
    pairs = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "4"))
    timeout = 90 + 40 * len(recs)
    res: dict[str, list[dict[str, Any]]] = {"tui": [], "headless": []}
    keep = os.environ.get("LKMON_BENCH_KEEP")  # a folder to keep every run's files in
    store = store_on()
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-overhead-") as scratch:
        tmp = keep or scratch
        for i in range(pairs):
            order = ("tui", "headless") if i % 2 == 0 else ("headless", "tui")
            for arm in order:
                r = run_lkmon(arm, session_args(recs, store=store), Path(tmp) / f"{i}-{arm}",
                              tui=arm == "tui", timeout=timeout)
                m = measure(r)
                if m["e2e_turns"] < len(recs):
                    print(f"# {NAME}: {arm} run {i}: only {m['e2e_turns']} of {len(recs)} turns "
                          "had an e2e latency", flush=True)
                res[arm].append(m)
                print(f"# {NAME} pair {i} {arm}: " + ", ".join(
                    f"{k}={v:.4g}" for k, v in m.items() if k != "e2e"), flush=True)

    def col(arm: str, key: str) -> list[float]:
        return [m[key] for m in res[arm]]

    print(f"# {NAME}: {len(recs)} recordings x {pairs} pairs; the session store "
          f"{'on (a scratch --db per run)' if store else 'off (--no-db)'}", flush=True)
    figure(NAME, "e2e_p50_tui", col("tui", "e2e_p50"), "s")
    figure(NAME, "e2e_p50_headless", col("headless", "e2e_p50"), "s")
    figure(NAME, "e2e_p50_ratio", ratio_list(col("tui", "e2e_p50"), col("headless", "e2e_p50")),
           "x", "<= 1.03")
    figure(NAME, "loop_lag_p99_tui_ms", col("tui", "lag_p99_ms"), "ms", "<= 10 ms")
    figure(NAME, "loop_lag_p99_headless_ms", col("headless", "lag_p99_ms"), "ms")
    figure(NAME, "loop_lag_p50_tui_ms", col("tui", "lag_p50_ms"), "ms")
    figure(NAME, "loop_lag_p50_headless_ms", col("headless", "lag_p50_ms"), "ms")
    figure(NAME, "loop_lag_max_tui_ms", col("tui", "lag_max_ms"), "ms")
    figure(NAME, "loop_lag_max_headless_ms", col("headless", "lag_max_ms"), "ms")
    figure(NAME, "cpu_per_session_minute_tui", col("tui", "cpu_per_min"), "CPU s/min")
    figure(NAME, "cpu_per_session_minute_headless", col("headless", "cpu_per_min"), "CPU s/min")
    figure(NAME, "cpu_per_session_minute_ratio",
           ratio_list(col("tui", "cpu_per_min"), col("headless", "cpu_per_min")), "x", "<= 1.15")
    figure(NAME, "cpu_process_ratio", ratio_list(col("tui", "cpu_total"),
                                                 col("headless", "cpu_total")), "x")
    figure(NAME, "session_seconds_tui", col("tui", "session_s"), "s")
    figure(NAME, "session_seconds_headless", col("headless", "session_s"), "s")
    figure(NAME, "gc_gen2_in_session_tui", col("tui", "gc2_count"), "collections")
    figure(NAME, "gc_gen2_in_session_headless", col("headless", "gc2_count"), "collections")
    figure(NAME, "gc_gen2_max_pause_tui_ms", col("tui", "gc2_max_ms"), "ms")
    figure(NAME, "gc_gen2_max_pause_headless_ms", col("headless", "gc2_max_ms"), "ms")
    figure(NAME, "gc_gen2_after_first_second_tui", col("tui", "gc2_later"), "collections")
    figure(NAME, "gc_gen2_after_first_second_headless", col("headless", "gc2_later"),
           "collections")
    figure(NAME, "loop_lag_max_after_first_second_tui_ms", col("tui", "lag_max_later_ms"), "ms")
    figure(NAME, "loop_lag_max_after_first_second_headless_ms",
           col("headless", "lag_max_later_ms"), "ms")
    # turn k of pair i with the TUI against turn k of pair i headless: the same recording
    matched = [t / h for mt, mh in zip(res["tui"], res["headless"], strict=True)
               for t, h in zip(mt["e2e"], mh["e2e"], strict=False) if h]
    if matched:
        figure(NAME, "e2e_ratio_matched_turns", matched, "x", "<= 1.03")
    # the noise floor: the same comparison between two headless runs (an A/A test)
    hl = res["headless"]
    aa = [t / h for a, b in zip(hl, hl[1:], strict=False)
          for t, h in zip(a["e2e"], b["e2e"], strict=False) if h]
    if aa:
        figure(NAME, "e2e_ratio_matched_turns_headless_vs_headless", aa, "x")
    all_tui = [v for m in res["tui"] for v in m["e2e"]]
    all_hl = [v for m in res["headless"] for v in m["e2e"]]
    if all_tui and all_hl:
        figure(NAME, "e2e_p50_ratio_pooled_turns",
               statistics.median(all_tui) / statistics.median(all_hl), "x",
               f"<= 1.03 ({len(all_tui)} vs {len(all_hl)} turns)")
