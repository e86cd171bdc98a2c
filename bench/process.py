"""``--process``'s overhead on the agent: the TUI over the session protocol against headless
in-process (issue 14 part 3).

The default agent (``agent_entry.py``, local models, ``--output null``) hears the same recordings
in three arms, each run its own process(es):

    process_tui: ``lkmon run agent_entry.py --process`` with the TUI drawing on a real 120x40
        terminal (``bench._pty``); the agent runs in its own process under LiveKit's console
        entry (``python -m livekit.agents console --connect-addr``), with the probe in that
        process (``bench._process``: ``--python`` is a wrapper that starts the interpreter under
        ``bench._driver``), on the loop of LiveKit's job thread, which runs the session.
    headless, headless_aa: ``lkmon run agent_entry.py --headless`` in-process (the agent in
        lkmon's own process, under ``bench._driver``; the probe on lkmon's loop, which runs the
        session), twice: ``headless`` is the comparison and ``headless_aa`` the A/A one.

Each arm runs once per round, the order rotated every round. The figures cover the conversation
(the agent's first ``listening`` to its last, from the journal), the same span in both modes.

Figures (``process.*``): per arm, then ``process_tui`` against ``headless`` and ``headless_aa``
against ``headless`` (``*_aa``), per round, the median over rounds with the spread:
    loop_lag_p99_diff_ms[_aa]: loop-lag p99 (10 ms sleeps) difference. Target: inside the A/A.
    e2e_p50_ratio[_aa]: e2e latency p50 (snapshot ``turns[].metrics.e2e_latency``, LiveKit's
        assistant ``ChatMessage.metrics``, measured in the agent's process either way); also over
        the rounds' pooled turns. Target: inside the A/A.
    cpu_per_session_minute_ratio[_aa]: CPU per minute of conversation of the agent's process:
        the agent alone with ``--process``, lkmon and the agent together in-process.
    lkmon_cpu_process_tui: CPU seconds of lkmon's own process with ``--process`` (the TUI, the
        protocol server, the caller), i.e. the pty's whole CPU minus the agent's process.

Sizes: 3 recordings x 3 rounds (9 sessions, ~8 min; ``LKMON_BENCH_PAIRS`` overrides the rounds);
``--quick``: 1 recording, 1 round. ``LKMON_BENCH_KEEP=DIR`` keeps every run's files in DIR.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench._process import report, run_process, run_rounds
from bench._sessions import Run, recordings, run_lkmon
from bench.common import figure

NAME = "process"
RECORDINGS = ["goforward", "something", "forever_1"]


def session_args(recs: list[Path]) -> list[str]:
    """``lkmon run`` arguments: the default agent, local models, the recordings, a null sink."""
    return ["agent_entry.py", "--models", "local", "--input", *map(str, recs), "--output", "null"]


def run(quick: bool = False) -> None:
    """Print the ``process.*`` figures."""
    recs = recordings(RECORDINGS[:1] if quick else RECORDINGS)
    rounds = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "3"))
    timeout = 90 + 40 * len(recs)
    lkmon_cpu: list[float] = []

    def process_tui(workdir: Path) -> Run:
        r = run_process(workdir.name, session_args(recs), workdir, tui=True, timeout=timeout)
        if r.terminal is not None and r.terminal.cpu_seconds is not None:
            lkmon_cpu.append(r.terminal.cpu_seconds - r.cpu_total)
        return r

    def headless(workdir: Path) -> Run:
        r = run_lkmon(workdir.name, session_args(recs), workdir, tui=False, timeout=timeout)
        r.loop_thread = "MainThread"
        return r

    keep = os.environ.get("LKMON_BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-process-") as scratch:
        res = run_rounds(NAME, {"process_tui": process_tui, "headless": headless,
                                "headless_aa": headless},
                         rounds, Path(keep or scratch), expect_turns=len(recs))
    print(f"# {NAME}: {len(recs)} recordings x {rounds} rounds; process_tui: the TUI in a "
          "120x40 pty, the agent in its own process", flush=True)
    report(NAME, res, "process_tui", "headless", "headless_aa",
           {"e2e_p50_ratio": "within the A/A spread",
            "loop_lag_p99_diff_ms": "within the A/A spread"})
    if lkmon_cpu:
        figure(NAME, "lkmon_cpu_process_tui", lkmon_cpu, "CPU s")
