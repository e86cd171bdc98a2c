"""The session store's cost on the agent, and the TUI's with the store on (issue 12, "Done
when": the TUI/headless overhead figures with the store on).

The default agent (``agent_entry.py``, local models, ``--output null``) hears the same recordings
in three arms, each run its own process under ``bench._driver`` (the probe on lkmon's main loop,
which runs the session), in a 120x40 pty (``bench._sessions.run_lkmon``):

    tui_db: ``lkmon run`` with the TUI drawing, the store on (a scratch SQLite ``--db`` of the
        run's own: ``bench._sessions.store_args``): live writes as turns complete
        (``lkmon.store.db.live``) and the end-of-run write.
    headless_db: ``lkmon run --headless``, the store on likewise.
    headless_nodb, headless_nodb_aa: ``lkmon run --headless --no-db``: no store, twice:
        ``headless_nodb`` is the comparison and ``headless_nodb_aa`` the A/A one (without vs
        without), so that a reader sees whether a difference stands out of this machine's noise.

Each arm runs once per round, the order rotated every round (``bench._process.run_rounds``), so
drift on the shared machine falls on every arm. The figures cover the conversation (the agent's
first ``listening`` to its last, from the journal: ``bench._process.conversation_window``).

Figures (``storecost.*``), per arm, then per round for two pairs, the median over the rounds
with the spread:
    store: ``headless_db`` against ``headless_nodb`` (the store on vs off, headless);
    tui: ``tui_db`` against ``headless_db`` (the TUI vs headless, the store on in both);
    aa: ``headless_nodb_aa`` against ``headless_nodb`` (the same arm twice: the noise floor);
    with ``LKMON_BENCH_ARMS=tui_db,tui_nodb,tui_nodb_aa`` (``tui_nodb``: the TUI, ``--no-db``):
    tui_store (``tui_db`` against ``tui_nodb``) and tui_aa (``tui_nodb_aa`` against it).
For each pair ``PAIR``:
    PAIR.cpu_per_session_minute_ratio: process CPU (``time.process_time``, every thread, the
        store's writer thread included) per minute of conversation, A / B.
    PAIR.e2e_p50_ratio: e2e latency p50 (snapshot ``turns[].metrics.e2e_latency``, LiveKit's
        assistant ``ChatMessage.metrics['e2e_latency']``), A / B; also over the pooled turns.
    PAIR.loop_lag_p99_diff_ms: loop-lag p99 (the probe's 10 ms sleeps), A - B.
and per arm: e2e p50, loop-lag p99 and max, CPU per minute, transcription delay p50, full (gen 2)
collections and their longest pause, and (store on) the session's rows in the scratch store
(``turns``: checks that the store did write).

Sizes: 3 recordings x 3 rounds (12 sessions, ~13 min; ``LKMON_BENCH_PAIRS`` overrides the rounds);
``--quick``: 1 recording, 1 round. ``LKMON_BENCH_KEEP=DIR`` keeps every run's files in DIR.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench._process import run_rounds
from bench._sessions import Run, ratio_list, recordings, run_lkmon
from bench.common import figure
from bench.overhead import session_args

NAME = "storecost"
RECORDINGS = ["goforward", "something", "forever_1"]
ARMS: dict[str, tuple[bool, bool]] = {
    "tui_db": (True, True), "headless_db": (False, True), "headless_nodb": (False, False),
    "headless_nodb_aa": (False, False), "tui_nodb": (True, False), "tui_nodb_aa": (True, False)}
"""Every arm: name -> (with the TUI, with the store)."""
DEFAULT_ARMS = ("tui_db", "headless_db", "headless_nodb", "headless_nodb_aa")
"""The arms run unless ``$LKMON_BENCH_ARMS`` (comma-separated names of ``ARMS``) names others,
e.g. ``tui_db,tui_nodb,tui_nodb_aa`` for the store's cost with the TUI."""
PAIRS = {"store": ("headless_db", "headless_nodb"), "tui": ("tui_db", "headless_db"),
         "aa": ("headless_nodb_aa", "headless_nodb"), "tui_store": ("tui_db", "tui_nodb"),
         "tui_aa": ("tui_nodb_aa", "tui_nodb")}
"""Each comparison: (A, B); ratios are A / B, differences A - B; reported when both ran."""


def chosen_arms() -> list[str]:
    """``DEFAULT_ARMS``, or the arms ``$LKMON_BENCH_ARMS`` names.

    Raises:
        ValueError: it names an arm not in ``ARMS``.
    """
    names = [n.strip() for n in os.environ.get("LKMON_BENCH_ARMS", "").split(",") if n.strip()]
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise ValueError(f"LKMON_BENCH_ARMS: no arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    return names or list(DEFAULT_ARMS)


def stored_turns(db: Path) -> int:
    """Rows of ``turns`` in the scratch store ``db`` (0 when it has none or no such file)."""
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM turns").fetchone()[0])


def run(quick: bool = False) -> None:
    """Print the ``storecost.*`` figures.

    Raises:
        RuntimeError: a run failed, or a store-on run stored no turn.
    """
    recs = recordings(RECORDINGS[:1] if quick else RECORDINGS)
    rounds = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "3"))
    timeout = 90 + 40 * len(recs)
    names = chosen_arms()
    rows: dict[str, list[int]] = {n: [] for n in names if ARMS[n][1]}

    def arm(name: str, *, tui: bool, store: bool) -> Any:
        def one(workdir: Path) -> Run:
            r = run_lkmon(workdir.name, session_args(recs, store=store), workdir, tui=tui,
                          timeout=timeout)
            r.loop_thread = "MainThread"  # lkmon's loop, which runs the session
            if store:
                n = stored_turns(workdir / "lkmon.db")
                if n == 0:
                    raise RuntimeError(f"{workdir.name}: the store holds no turn")
                rows[name].append(n)
            elif (workdir / "lkmon.db").exists():
                raise RuntimeError(f"{workdir.name}: --no-db wrote a store")
            return r
        return one

    keep = os.environ.get("LKMON_BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-storecost-") as scratch:
        res = run_rounds(NAME, {n: arm(n, tui=ARMS[n][0], store=ARMS[n][1]) for n in names},
                         rounds, Path(keep or scratch), expect_turns=len(recs))
    print(f"# {NAME}: {len(recs)} recordings x {rounds} rounds; tui_db in a 120x40 pty; "
          "the store a scratch SQLite file per run", flush=True)
    report(res)
    for name, n in rows.items():
        figure(NAME, f"stored_turns_{name}", n, "turns")


def report(res: dict[str, list[dict[str, Any]]]) -> None:
    """Print each arm's figures, then each of ``PAIRS`` per round (``bench._process.measure``'s
    figures by arm, in round order)."""
    def col(arm: str, key: str) -> list[float]:
        return [m[key] for m in res[arm]]

    for arm in res:
        figure(NAME, f"e2e_p50_{arm}", col(arm, "e2e_p50"), "s")
        figure(NAME, f"loop_lag_p99_ms_{arm}", col(arm, "lag_p99_ms"), "ms")
        figure(NAME, f"loop_lag_max_ms_{arm}", col(arm, "lag_max_ms"), "ms")
        figure(NAME, f"cpu_per_session_minute_{arm}", col(arm, "cpu_per_min"), "CPU s/min")
        figure(NAME, f"stt_p50_{arm}", col(arm, "stt_p50"), "s")
        figure(NAME, f"gc_gen2_in_session_{arm}", col(arm, "gc2_count"), "collections")
        figure(NAME, f"gc_gen2_max_pause_ms_{arm}", col(arm, "gc2_max_ms"), "ms")
    for pair, (a, b) in ((p, ab) for p, ab in PAIRS.items() if set(ab) <= set(res)):
        figure(NAME, f"{pair}.cpu_per_session_minute_ratio",
               ratio_list(col(a, "cpu_per_min"), col(b, "cpu_per_min")), "x",
               "<= 1.15" if pair == "tui" else "")
        figure(NAME, f"{pair}.e2e_p50_ratio", ratio_list(col(a, "e2e_p50"), col(b, "e2e_p50")),
               "x", "<= 1.03" if pair == "tui" else "")
        pooled_a = [v for m in res[a] for v in m["e2e"]]
        pooled_b = [v for m in res[b] for v in m["e2e"]]
        if pooled_a and pooled_b:
            print(f"# {NAME}: pooled turns, {a} vs {b}: {len(pooled_a)} vs {len(pooled_b)}",
                  flush=True)
            figure(NAME, f"{pair}.e2e_p50_ratio_pooled_turns",
                   statistics.median(pooled_a) / statistics.median(pooled_b), "x")
        figure(NAME, f"{pair}.loop_lag_p99_diff_ms",
               [x - y for x, y in zip(col(a, "lag_p99_ms"), col(b, "lag_p99_ms"), strict=True)],
               "ms")
