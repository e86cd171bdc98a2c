"""Benchmark plumbing for an agent in its own process: ``lkmon run AGENT --process``, with the
loop-lag probe inside the agent's process rather than in lkmon's.

``lkmon run --process --python PATH`` starts ``PATH -m livekit.agents console AGENT_FILE
--connect-addr 127.0.0.1:PORT``. ``interpreter_wrapper`` writes a small shell script to give as
``PATH``: it runs the same module under ``bench._driver --module livekit.agents``, so that the
driver's event-loop policy attaches a ``LoopLagProbe`` to every loop the agent's process creates
and ``GcWatch`` records its garbage collections; lkmon itself runs unprobed, as a user runs it.
In the agent's process LiveKit's console runs the job on a thread of its own (``JobExecutorType
.THREAD``, thread ``job_thread_runner``), whose loop runs the session: that is the loop measured
(``AGENT_LOOP_THREAD``). CPU samples are the whole process's (``time.process_time``), whichever
loop's probe takes them.

No textual import here.
"""

from __future__ import annotations

import json
import shlex
import stat
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._pty import Terminal
from bench._sessions import (
    REPO,
    Run,
    journal_has,
    median_or_nan,
    ratio_list,
    read_events,
    store_args,
)
from bench.common import figure

AGENT_LOOP_THREAD = "job_thread_runner"
"""The thread whose loop runs the session in LiveKit's console (``ipc/job_thread_executor.py``,
livekit-agents 1.8.9)."""


def interpreter_wrapper(path: Path, out: Path, python: str = sys.executable) -> Path:
    """Write an executable ``sh`` script at ``path`` that runs ``python -m MODULE ARGS`` under
    ``bench._driver`` (results to ``out``); anything else it runs as ``python ARGS``.

    Returns:
        ``path``.
    """
    repo, py, res = (shlex.quote(str(p)) for p in (REPO, python, out))
    path.write_text(
        "#!/bin/sh\n"
        "# lkmon run --process starts: THIS -m livekit.agents console AGENT --connect-addr ADDR\n"
        f'[ "$1" = "-m" ] || exec {py} "$@"\n'
        'mod="$2"; shift 2\n'
        f"PYTHONPATH={repo}${{PYTHONPATH:+:$PYTHONPATH}} exec {py} -m bench._driver "
        f'--out {res} --module "$mod" -- "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def run_process(
    arm: str,
    lkmon_args: list[str],
    workdir: Path,
    *,
    tui: bool,
    timeout: float,
    env: dict[str, str] | None = None,
    size: tuple[int, int] = (120, 40),
) -> Run:
    """``lkmon run ... --process --python WRAPPER --journal --export`` in a pty, the probe in the
    agent's process; read back the agent's probe results, lkmon's journal and snapshot.

    With ``tui`` the app draws on the pty; once the journal shows the session closed, ``q`` is
    typed. ``env`` is added to lkmon's environment, which the agent's process inherits. The
    store is ``bench._sessions.store_args``' (a scratch file in ``workdir`` unless the args
    hold ``--db`` or ``--no-db``).

    Raises:
        RuntimeError: lkmon failed or timed out, or the agent's process wrote no probe results.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    export = workdir / "export"
    export.mkdir(exist_ok=True)
    journal = workdir / "journal.jsonl"
    out = workdir / "agent-probe.json"
    wrapper = interpreter_wrapper(workdir / "python", out)
    args = [sys.executable, "-m", "lkmon", "run", *store_args(lkmon_args, workdir), "--process",
            "--python", str(wrapper), "--journal", str(journal), "--export", str(export)]
    if not tui:
        args.append("--headless")
    term = Terminal(args, cwd=REPO, size=size, env=env)
    deadline = time.monotonic() + timeout
    while not journal_has(journal, "close") and time.monotonic() < deadline:
        if not term.proc.isalive():
            break
        time.sleep(0.1)
    if tui and term.proc.isalive():
        time.sleep(0.3)
        term.send("q")
    status = term.wait(timeout=30 if tui else max(5.0, deadline - time.monotonic()) + 10)
    wall = time.time() - term.started
    log = workdir / "journal.agent.log"
    if not out.exists():
        agent_log = log.read_text(errors="replace")[-800:] if log.exists() else ""
        raise RuntimeError(f"{arm}: the agent wrote no probe results (lkmon exit {status}):\n"
                           f"{term.text()[-800:]}\n{agent_log}")
    probe: dict[str, Any] = json.loads(out.read_text())
    if status != 0:
        raise RuntimeError(f"{arm}: lkmon exited {status}:\n{term.text()[-800:]}")
    snaps = sorted(export.glob("*.json"))
    return Run(
        arm=arm,
        exit_status=status,
        # the agent's process alone (its driver's getrusage); lkmon's own CPU is not in it
        cpu_total=float(probe["rusage"]["user"] + probe["rusage"]["system"]),
        wall=wall,
        probe=probe,
        events=read_events(journal) if journal.exists() else [],
        snapshot=json.loads(snaps[-1].read_text()) if snaps else None,
        terminal=term,
        loop_thread=AGENT_LOOP_THREAD,
    )


def conversation_window(run: Run) -> tuple[float, float]:
    """Epoch seconds from the agent's first ``listening`` (the session started, the models
    loaded) to its last (the last reply done), from the journal: the same span of the session
    whether the agent runs in lkmon's process or its own (``SessionStarted`` in ``--process``
    comes when the agent connects, before its models load, and ``SessionClosed`` after its
    process ends).

    Raises:
        RuntimeError: the journal has fewer than two ``listening`` states.
    """
    ts = [float(e["ts"]) for e in run.events
          if e.get("type") == "agent_state_changed" and e.get("new_state") == "listening"]
    if len(ts) < 2:
        raise RuntimeError(f"{run.arm}: the journal has {len(ts)} agent 'listening' states")
    return ts[0], ts[-1]


def measure(run: Run) -> dict[str, Any]:
    """The per-run figures of one session over its ``conversation_window``: e2e latency (the
    snapshot's ``turns[].metrics.e2e_latency``, LiveKit's assistant ``ChatMessage.metrics``) and
    the stages, loop lag of the session's loop, process CPU, full collections."""
    start, end = conversation_window(run)
    lag = run.lag_ms(start, end)
    e2e = run.metric("e2e_latency")
    gc2 = run.gc_in(start, end)
    cpu = run.cpu_in(start, end)
    return {
        "e2e": e2e,
        "e2e_p50": median_or_nan(e2e),
        "e2e_turns": len(e2e),
        "stt_p50": median_or_nan(run.metric("transcription_delay")),
        "eou_p50": median_or_nan(run.metric("eou_delay")),
        "ttft_p50": median_or_nan(run.metric("llm_ttft")),
        "ttfb_p50": median_or_nan(run.metric("tts_ttfb")),
        "lag_p50_ms": lag["p50_ms"],
        "lag_p99_ms": lag["p99_ms"],
        "lag_max_ms": lag["max_ms"],
        "window_s": end - start,
        "cpu_window": cpu,
        "cpu_per_min": cpu / ((end - start) / 60.0),
        "cpu_process": run.cpu_total,
        "gc2_count": len(gc2),
        "gc2_max_ms": max(gc2, default=0.0) * 1000,
    }


Arm = Callable[[Path], Run]
"""One arm: runs a session with its work files in the given folder."""


def run_rounds(name: str, arms: dict[str, Arm], rounds: int, scratch: Path,
               expect_turns: int) -> dict[str, list[dict[str, Any]]]:
    """Run every arm once per round, the order rotated each round (round ``i`` starts with arm
    ``i``), so that drift on the shared machine falls on every arm; returns ``measure``'s
    figures by arm, in round order. A run with fewer e2e latencies than ``expect_turns`` is
    reported (a turn lost) but kept."""
    names = list(arms)
    res: dict[str, list[dict[str, Any]]] = {arm: [] for arm in names}
    for i in range(rounds):
        first = i % len(names)
        for arm in names[first:] + names[:first]:
            m = measure(arms[arm](scratch / f"{i}-{arm}"))
            if m["e2e_turns"] < expect_turns:
                print(f"# {name}: {arm} round {i}: only {m['e2e_turns']} of {expect_turns} "
                      "turns had an e2e latency", flush=True)
            res[arm].append(m)
            print(f"# {name} round {i} {arm}: " + ", ".join(
                f"{k}={v:.4g}" for k, v in m.items() if k != "e2e"), flush=True)
    return res


def report(name: str, res: dict[str, list[dict[str, Any]]], treated: str, base: str, aa: str,
           targets: dict[str, str]) -> None:
    """Print the figures: each arm's, then ``treated`` against ``base`` and, as the noise
    floor, ``aa`` against ``base`` (an A/A comparison), per round, median over the rounds with
    the spread. ``targets`` maps a comparison's figure name to its target text."""
    def col(arm: str, key: str) -> list[float]:
        return [m[key] for m in res[arm]]

    for key, fig, unit in (("e2e_p50", "e2e_p50", "s"), ("lag_p99_ms", "loop_lag_p99_ms", "ms"),
                           ("lag_p50_ms", "loop_lag_p50_ms", "ms"),
                           ("lag_max_ms", "loop_lag_max_ms", "ms"),
                           ("cpu_per_min", "cpu_per_session_minute", "CPU s/min"),
                           ("cpu_process", "cpu_agent_process", "CPU s"),
                           ("window_s", "session_seconds", "s"),
                           ("gc2_count", "gc_gen2_in_session", "collections"),
                           ("gc2_max_ms", "gc_gen2_max_pause_ms", "ms")):
        for arm in res:
            figure(name, f"{fig}_{arm}", col(arm, key), unit)
    for other, suffix in ((treated, ""), (aa, "_aa")):
        t = targets.get
        figure(name, f"e2e_p50_ratio{suffix}", ratio_list(col(other, "e2e_p50"),
                                                         col(base, "e2e_p50")), "x",
               t(f"e2e_p50_ratio{suffix}", ""))
        pooled_a = [v for m in res[other] for v in m["e2e"]]
        pooled_b = [v for m in res[base] for v in m["e2e"]]
        if pooled_a and pooled_b:
            print(f"# {name}: pooled turns, {other} vs {base}: {len(pooled_a)} vs "
                  f"{len(pooled_b)}", flush=True)
            figure(name, f"e2e_p50_ratio_pooled_turns{suffix}",
                   statistics.median(pooled_a) / statistics.median(pooled_b), "x",
                   t(f"e2e_p50_ratio{suffix}", ""))
        figure(name, f"loop_lag_p99_diff_ms{suffix}",
               [x - y for x, y in zip(col(other, "lag_p99_ms"), col(base, "lag_p99_ms"),
                                      strict=True)], "ms", t(f"loop_lag_p99_diff_ms{suffix}", ""))
        figure(name, f"cpu_per_session_minute_ratio{suffix}",
               ratio_list(col(other, "cpu_per_min"), col(base, "cpu_per_min")), "x",
               t(f"cpu_per_session_minute_ratio{suffix}", ""))
        figure(name, f"cpu_agent_process_ratio{suffix}",
               ratio_list(col(other, "cpu_process"), col(base, "cpu_process")), "x")
