"""The recorder's overhead on the agent's own process (issue 14 part 1).

The same agent (``bench/_agent_record.py``: ``agent_entry.py``'s server, local models) hears the
same recordings in its own process, started as a user starts it, ``lkmon run
bench/_agent_record.py --process --headless --input WAVS --output null``, in three arms:

    recorder: the entrypoint calls ``from lkmon import record; record(session, journal=DIR/)``
        (``$LKMON_BENCH_RECORD``): the recorder's bridge on the session's events and its journal
        writer thread, in the agent's process.
    plain, plain_aa: the same file without the recorder (the variable unset), twice: ``plain``
        is the "without" arm and ``plain_aa`` the A/A comparison (without vs without), so that a
        reader sees whether the recorder's difference stands out of the noise.

The probe lives in the agent's process (``bench._process``: ``--python`` is a wrapper that starts
the interpreter under ``bench._driver``), on the loop of LiveKit's job thread, which runs the
session; lkmon runs outside it, unprobed, and takes the e2e latency from the agent's chat
messages over the session protocol into its snapshot. Each arm runs once per round, the order
rotated every round; each run is its own pair of processes.

Figures (``recorder.*``): per arm, then ``recorder`` against ``plain`` and ``plain_aa`` against
``plain`` (``*_aa``) per round, the median over rounds with the spread:
    e2e_p50_ratio[_aa]: e2e latency p50 (``turns[].metrics.e2e_latency``, LiveKit's
        assistant ``ChatMessage.metrics['e2e_latency']``); also over the rounds' pooled turns.
    loop_lag_p99_diff_ms[_aa]: the difference of the loop-lag p99 (10 ms sleeps).
    cpu_per_session_minute_ratio[_aa]: the agent process's CPU (``time.process_time``, every
        thread, the journal writer's included) per minute of the conversation (the agent's first
        ``listening`` to its last). Target <= 1.02.
    cpu_agent_process_ratio[_aa]: the agent process's whole CPU (start-up and close included).
    recorder_journal_lines: lines the recorder wrote per session (it did record).

Sizes: 3 recordings x 3 rounds (9 sessions, ~8 min; ``LKMON_BENCH_PAIRS`` overrides the rounds);
``--quick``: 1 recording, 1 round. ``LKMON_BENCH_KEEP=DIR`` keeps every run's files in DIR.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench._process import Arm, report, run_process, run_rounds
from bench._sessions import Run, recordings
from bench.common import figure

NAME = "recorder"
RECORDINGS = ["goforward", "something", "forever_1"]
AGENT = "bench/_agent_record.py"


def session_args(recs: list[Path]) -> list[str]:
    """``lkmon run`` arguments: the agent file, local models, the recordings, a null sink."""
    return [AGENT, "--models", "local", "--input", *map(str, recs), "--output", "null"]


def run(quick: bool = False) -> None:
    """Print the ``recorder.*`` figures."""
    recs = recordings(RECORDINGS[:1] if quick else RECORDINGS)
    rounds = 1 if quick else int(os.environ.get("LKMON_BENCH_PAIRS", "3"))
    timeout = 90 + 40 * len(recs)
    lines: list[int] = []

    def arm(record: bool) -> Arm:
        def one(workdir: Path) -> Run:
            env = {"LKMON_BENCH_RECORD": ""}
            folder = workdir / "recorded"
            if record:
                folder.mkdir(parents=True)
                env["LKMON_BENCH_RECORD"] = f"{folder}/"
            r = run_process(workdir.name, session_args(recs), workdir, tui=False,
                            timeout=timeout, env=env)
            if record:
                journals = list(folder.glob("*.journal.jsonl"))
                if len(journals) != 1:
                    raise RuntimeError(f"{workdir.name}: the recorder wrote {len(journals)} "
                                       "journals, not 1")
                lines.append(len(journals[0].read_text().splitlines()))
            return r
        return one

    keep = os.environ.get("LKMON_BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-recorder-") as scratch:
        res = run_rounds(NAME, {"recorder": arm(True), "plain": arm(False),
                                "plain_aa": arm(False)},
                         rounds, Path(keep or scratch), expect_turns=len(recs))
    print(f"# {NAME}: {len(recs)} recordings x {rounds} rounds; the agent in its own process "
          "(lkmon run --process --headless)", flush=True)
    report(NAME, res, "recorder", "plain", "plain_aa",
           {"cpu_per_session_minute_ratio": "<= 1.02",
            "e2e_p50_ratio": "within the A/A spread",
            "loop_lag_p99_diff_ms": "within the A/A spread"})
    figure(NAME, "recorder_journal_lines", lines, "lines")
