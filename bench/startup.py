"""Start-up: from ``lkmon run`` to the first frame, and to the agent ready to listen (issue 5,
item 4).

Each run starts the real ``lkmon`` command (the console script, as a user types it) in a 120x40
pseudo-terminal: ``lkmon run agent_entry.py --models local --input text --output null``. A thread
reads the terminal as it is written (``bench._pty.Terminal``); times are measured from just
before the process is spawned (``Terminal.started``, epoch seconds):

    first_frame_s: the first screen is drawn (the text ``1 Turns``, a pane title, is on the
        terminal). The models must not hold it up: they load in the background with progress.
    progress_shown_s: the ``Loading models`` line is on the terminal.
    models_loaded_s: the last ``LoadProgress`` (done == total) in the journal.
    listening_s: the first LiveKit ``agent_state_changed`` to ``listening`` (journal
        ``agent_state`` event): the agent is ready to listen.
    frame_before_models: runs where the first frame came before the models had loaded (1 each).
    quit_s: from ``q`` to the process's exit (the snapshot is saved on the way).

Medians over 5 runs (``--quick``: 1), with the spread.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench._pty import Terminal
from bench._sessions import REPO, first_ts, journal_has, read_events, store_args
from bench.common import figure

NAME = "startup"
FRAME_MARK = "1 Turns"
PROGRESS_MARK = "Loading models"


def lkmon_command() -> list[str]:
    """The ``lkmon`` console script beside this Python, else ``python -m lkmon``."""
    script = Path(sys.executable).with_name("lkmon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lkmon"]


def one_run(workdir: Path, timeout: float = 180.0) -> dict[str, float]:
    """Start ``lkmon run`` in a pty, wait until the agent listens, quit; return the times.

    Raises:
        RuntimeError: no first frame, the agent never listened, or lkmon failed.
    """
    journal = workdir / "journal.jsonl"
    export = workdir / "export"
    export.mkdir(parents=True, exist_ok=True)
    argv = [*lkmon_command(), "run", *store_args(["agent_entry.py", "--models", "local",
                                                  "--input", "text", "--output", "null"],
                                                 workdir),
            "--journal", str(journal), "--export", str(export)]
    term = Terminal(argv, cwd=REPO, size=(120, 40))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and term.proc.isalive():
        if journal_has(journal, "agent_state_changed") and first_ts(
            read_events(journal), "agent_state_changed", new_state="listening"
        ):
            break
        time.sleep(0.05)
    term.wait_for(lambda s: FRAME_MARK in s, timeout=10)
    time.sleep(0.2)
    quit_at = time.time()
    term.send("q")
    status = term.wait(timeout=30)
    ended = time.time()
    events = read_events(journal) if journal.exists() else []
    t0 = term.started
    frame = term.first_output_at(lambda s: FRAME_MARK in s)
    progress = term.first_output_at(lambda s: PROGRESS_MARK in s)
    listening = first_ts(events, "agent_state_changed", new_state="listening")
    loaded = None
    for ev in events:
        if ev.get("type") == "load_progress" and ev.get("total") and ev["done"] >= ev["total"]:
            loaded = float(ev["ts"])
            break
    if frame is None or listening is None or status != 0:
        raise RuntimeError(
            f"startup run failed (exit {status}, frame {frame}, listening {listening}):\n"
            + term.text()[-800:]
        )
    out = {
        "first_frame_s": frame - t0,
        "listening_s": listening - t0,
        "quit_s": ended - quit_at,
        "cpu_s": term.cpu_seconds or 0.0,
    }
    if progress is not None:
        out["progress_shown_s"] = progress - t0
    if loaded is not None:
        out["models_loaded_s"] = loaded - t0
        out["frame_before_models"] = 1.0 if frame < loaded else 0.0
    return out


def run(quick: bool = False) -> None:
    """Print the ``startup.*`` figures."""
    runs = 1 if quick else 5
    results = []
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-startup-") as tmp:
        for i in range(runs):
            r = one_run(Path(tmp) / str(i))
            print(f"# {NAME} run {i}: " + ", ".join(f"{k}={v:.3f}" for k, v in r.items()),
                  flush=True)
            results.append(r)

    def col(key: str) -> list[float]:
        return [r[key] for r in results if key in r]

    figure(NAME, "first_frame_s", col("first_frame_s"), "s", "before the models load")
    if col("progress_shown_s"):
        figure(NAME, "progress_shown_s", col("progress_shown_s"), "s")
    if col("models_loaded_s"):
        figure(NAME, "models_loaded_s", col("models_loaded_s"), "s")
    figure(NAME, "listening_s", col("listening_s"), "s")
    if col("frame_before_models"):
        figure(NAME, "frame_before_models", sum(col("frame_before_models")), "runs",
               f"all {len(results)}")
    figure(NAME, "quit_s", col("quit_s"), "s")
    figure(NAME, "process_cpu_s", col("cpu_s"), "CPU s")
