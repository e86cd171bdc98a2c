"""The store's files: a 10,000-turn snapshot and journal written and read back (issue 10, part 3).

A synthetic session (``tests.synthetic.iter_synthetic_session``) is folded into a model once and
written as a snapshot (``write_snapshot``) and as a journal (``JournalWriter``). Each load is
timed in a fresh Python process, after the imports, as ``lkmon replay`` pays it:
    * ``snapshot_load``: ``load_session`` of the snapshot, everything validated by the pydantic
      models of ``lkmon.store.format`` (target <= 0.5 s for 10,000 turns), split into
      ``snapshot_parse`` (bytes -> ``Snapshot``) and ``snapshot_rebuild`` (-> ``SessionModel``);
    * ``snapshot_export``: ``to_snapshot`` + dump + atomic write (``write_snapshot``);
    * ``journal_load``: ``load_session`` of the journal (every event decoded and replayed).
Figures are medians over the runs, with the spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import figure

NAME = "store"
REPO = Path(__file__).resolve().parents[1]


def write_files(turns: int, directory: str) -> dict[str, float]:
    """Write the snapshot and the journal of a ``turns``-turn session; returns the timings."""
    import gc
    import time

    from lkmon.model.state import SessionModel
    from lkmon.store.journal import JournalWriter
    from lkmon.store.snapshot import write_snapshot
    from tests.synthetic import iter_synthetic_session

    out = Path(directory)
    model = SessionModel()
    journal = JournalWriter(out / "s.journal.jsonl", session_id=model.session.session_id)
    for ev in iter_synthetic_session(turns):
        model.apply(ev)
        journal.write(ev)
    journal.close(timeout=600)
    gc.collect()
    exports = []
    for _ in range(3):
        start = time.perf_counter()
        path = write_snapshot(model, out / "s.json")
        exports.append(time.perf_counter() - start)
    return {
        "export_s": min(exports),
        "snapshot_mb": path.stat().st_size / 1e6,
        "journal_mb": (out / "s.journal.jsonl").stat().st_size / 1e6,
        "journal_lines": journal.written,
    }


def load_once(kind: str, directory: str) -> dict[str, float]:
    """One timed load (in the current, fresh process) of the snapshot or the journal."""
    import time

    from lkmon.store.files import no_gc
    from lkmon.store.restore import load_session, model_from_snapshot, parse_snapshot

    out = Path(directory)
    if kind == "journal":
        start = time.perf_counter()
        model = load_session(out / "s.journal.jsonl")
        return {"load_s": time.perf_counter() - start, "turns": len(model.turns)}
    start = time.perf_counter()
    model = load_session(out / "s.json")
    load_s = time.perf_counter() - start
    turns = len(model.turns)
    del model
    raw = (out / "s.json").read_bytes()
    with no_gc():
        start = time.perf_counter()
        snap = parse_snapshot(raw)
        parse_s = time.perf_counter() - start
        start = time.perf_counter()
        model_from_snapshot(snap)
        rebuild_s = time.perf_counter() - start
    return {"load_s": load_s, "parse_s": parse_s, "rebuild_s": rebuild_s, "turns": turns}


def _child(code: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool = False) -> None:
    """Print ``store.*`` figures."""
    turns = 300 if quick else 10_000
    runs = 1 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        written = _child("import json; from bench.store import write_files; "
                         f"print(json.dumps(write_files({turns}, {tmp!r})))")
        snaps = [_child("import json; from bench.store import load_once; "
                        f"print(json.dumps(load_once('snapshot', {tmp!r})))") for _ in range(runs)]
        journals = [_child("import json; from bench.store import load_once; "
                           f"print(json.dumps(load_once('journal', {tmp!r})))")
                    for _ in range(runs)]
    assert all(r["turns"] == turns for r in snaps + journals)
    figure(NAME, "turns", turns, "turns")
    figure(NAME, "snapshot_size", written["snapshot_mb"], "MB")
    figure(NAME, "snapshot_export", written["export_s"], "s", "<= 1 s")
    figure(NAME, "snapshot_load", [r["load_s"] for r in snaps], "s", "<= 0.5 s")
    figure(NAME, "snapshot_parse", [r["parse_s"] for r in snaps], "s")
    figure(NAME, "snapshot_rebuild", [r["rebuild_s"] for r in snaps], "s")
    figure(NAME, "journal_lines", written["journal_lines"], "lines")
    figure(NAME, "journal_size", written["journal_mb"], "MB")
    figure(NAME, "journal_load", [r["load_s"] for r in journals], "s")
