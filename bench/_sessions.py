"""Benchmark plumbing on the parent side: run ``lkmon`` under ``bench._driver`` and read back
what it measured (the probe's results, the session journal, the snapshot).

Each run is its own process in its own pseudo-terminal (``bench._pty.Terminal``), so that its CPU
time is its own and the TUI draws on a real terminal. No textual import here.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._pty import Terminal
from bench.probe import cpu_between, lag_stats

REPO = Path(__file__).resolve().parents[1]
AUDIO = Path("/work/shared/audio")


def audio_dir() -> Path:
    """The shared recordings, or the copies in tests/data on a machine without them."""
    return AUDIO if AUDIO.is_dir() else REPO / "tests" / "data"


def recordings(names: list[str]) -> list[Path]:
    """Paths of the named recordings (``goforward`` -> ``.../goforward.wav``) that exist.

    Raises:
        FileNotFoundError: none of them exists.
    """
    found = [audio_dir() / f"{n}.wav" for n in names if (audio_dir() / f"{n}.wav").is_file()]
    if not found:
        raise FileNotFoundError(f"none of {names} in {audio_dir()}")
    return found


def driver_argv(out: Path, args: list[str], script: str | None = None) -> list[str]:
    """``python -m bench._driver --out OUT [--script S] -- ARGS``."""
    argv = [sys.executable, "-m", "bench._driver", "--out", str(out)]
    if script is not None:
        argv += ["--script", script]
    return [*argv, "--", *args]


def journal_has(path: Path, event_type: str) -> bool:
    """True once the journal at ``path`` holds an event of ``event_type``."""
    try:
        return f'"type":"{event_type}"' in path.read_text(errors="replace")
    except FileNotFoundError:
        return False


def read_events(path: Path) -> list[dict[str, Any]]:
    """The journal's events as dicts (``lkmon.store.journal`` format: one JSON object a line).

    A torn last line is skipped, as ``lkmon.store.journal.read_journal`` does.
    """
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def first_ts(events: list[dict[str, Any]], event_type: str, **match: Any) -> float | None:
    """Epoch seconds of the first event of ``event_type`` whose fields equal ``match``."""
    for ev in events:
        if ev.get("type") == event_type and all(ev.get(k) == v for k, v in match.items()):
            return float(ev["ts"])
    return None


@dataclass
class Run:
    """One ``lkmon run`` (or script) measured under ``bench._driver``.

    Attributes:
        arm: what ran, e.g. ``"tui"`` or ``"headless"``.
        exit_status: the process's exit status.
        cpu_total: CPU seconds of the whole process (``RUSAGE_CHILDREN``), start-up included.
        wall: seconds from spawn to exit.
        probe: the driver's results (``bench._driver``).
        events: the journal's events (dicts), if there is a journal.
        snapshot: the exported snapshot (dict), if one was found.
        terminal: the pty the process ran in.
        loop_thread: the name of the thread whose loop ran the session, or ``None`` for the
            loop with the most wake-ups.
    """

    arm: str
    exit_status: int
    cpu_total: float
    wall: float
    probe: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    terminal: Terminal | None = None
    loop_thread: str | None = None

    def main_probe(self) -> dict[str, Any]:
        """The probe of the loop that ran the session: the one on ``loop_thread`` if set, else
        the one with the most wake-ups.

        Raises:
            RuntimeError: the driver recorded no probe (on ``loop_thread``).
        """
        probes = self.probe.get("probes") or []
        if self.loop_thread is not None:
            probes = [p for p in probes if p.get("thread") == self.loop_thread]
        if not probes:
            where = f" on thread {self.loop_thread}" if self.loop_thread else ""
            raise RuntimeError(f"{self.arm}: the driver recorded no event loop{where}")
        return max(probes, key=lambda p: len(p["lags"]))

    def session_window(self) -> tuple[float, float]:
        """(SessionStarted, SessionClosed) epoch seconds from the journal.

        Raises:
            RuntimeError: the journal lacks either event.
        """
        start = first_ts(self.events, "session_started")
        end = first_ts(self.events, "close")
        if start is None or end is None:
            raise RuntimeError(f"{self.arm}: the journal has no session start or close")
        return start, end

    def lags_in(self, since: float, until: float) -> list[float]:
        """Lateness (s) of the main loop's wake-ups between two epoch times (inclusive)."""
        return [lag for ts, lag in self.main_probe()["lags"] if since <= ts <= until]

    def lag_ms(self, since: float, until: float) -> dict[str, float]:
        """Loop-lag p50/p99/max (ms) of the main loop between two epoch times."""
        return lag_stats(self.lags_in(since, until)).to_dict()

    def cpu_in(self, since: float, until: float) -> float:
        """Process CPU seconds between two epoch times (from the probe's samples)."""
        return cpu_between(self.main_probe()["cpu"], since, until)

    def gc_in(self, since: float, until: float, generation: int = 2) -> list[float]:
        """Pauses (s) of the collections of ``generation`` between two epoch times."""
        gcs = self.probe.get("gc", [])
        return [p for ts, g, p in gcs if g == generation and since <= ts <= until]

    def turns(self) -> list[dict[str, Any]]:
        """The snapshot's turns (empty without a snapshot)."""
        return list((self.snapshot or {}).get("turns", []))

    def metric(self, key: str, *, skip_greeting: bool = True) -> list[float]:
        """Per-turn values of ``turns[].metrics[key]`` that are known (not null)."""
        out = []
        for t in self.turns():
            if skip_greeting and t.get("greeting"):
                continue
            v = (t.get("metrics") or {}).get(key)
            if v is not None:
                out.append(float(v))
        return out


def run_lkmon(
    arm: str,
    lkmon_args: list[str],
    workdir: Path,
    *,
    tui: bool,
    timeout: float,
    size: tuple[int, int] = (120, 40),
) -> Run:
    """Run ``lkmon run ... --journal --export`` under the driver in a pty; read its results.
    The store is ``store_args``': the args' ``--db``/``--no-db``, else a scratch file in
    ``workdir``.

    With ``tui`` the app runs on the real terminal driver; once the journal shows the session
    closed, ``q`` is typed (the app then saves its snapshot and exits). Headless runs end by
    themselves.

    Raises:
        RuntimeError: the run failed or timed out, or wrote no probe results.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    export = workdir / "export"
    export.mkdir(exist_ok=True)
    journal = workdir / "journal.jsonl"
    out = workdir / "probe.json"
    args = ["run", *store_args(lkmon_args, workdir), "--journal", str(journal), "--export",
            str(export)]
    if not tui:
        args.append("--headless")
    term = Terminal(driver_argv(out, args), cwd=REPO, size=size)
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
    if not out.exists():
        tail = term.text()[-800:]
        raise RuntimeError(f"{arm}: no results (exit {status}); last output:\n{tail}")
    probe = json.loads(out.read_text())
    if status != 0:
        raise RuntimeError(f"{arm}: lkmon exited {status}:\n{term.text()[-800:]}")
    snaps = sorted(p for p in export.glob("*.json"))
    snapshot = json.loads(snaps[-1].read_text()) if snaps else None
    return Run(
        arm=arm,
        exit_status=status,
        cpu_total=term.cpu_seconds or 0.0,
        wall=wall,
        probe=probe,
        events=read_events(journal) if journal.exists() else [],
        snapshot=snapshot,
        terminal=term,
    )


def store_args(lkmon_args: list[str], workdir: Path) -> list[str]:
    """``lkmon_args`` with the session store made explicit: as given when they hold ``--db`` or
    ``--no-db``, else with ``--db WORKDIR/lkmon.db`` (a scratch SQLite store of the run's own),
    so that a benchmark stores its sessions as a user's ``lkmon run`` does (the store on) but
    never into the repository's ``lkmon-sessions/lkmon.db``."""
    if "--db" in lkmon_args or "--no-db" in lkmon_args:
        return list(lkmon_args)
    return [*lkmon_args, "--db", str(workdir / "lkmon.db")]


def ratio_list(a: list[float], b: list[float]) -> list[float]:
    """Element-wise ``a[i] / b[i]`` (pairs measured side by side)."""
    return [x / y for x, y in zip(a, b, strict=True) if y]


def median_or_nan(values: list[float]) -> float:
    """``statistics.median``, or NaN for no values."""
    return statistics.median(values) if values else float("nan")
