"""The session store's write rate: live writes as turns complete, and imports (issue 12 part 1).

A synthetic session (``tests.synthetic.iter_synthetic_session``) is folded into a model event by
event with a ``LiveWriter`` watching, as ``lkmon run`` does, on SQLite and (when the PostgreSQL
server binaries are installed: ``tests.pg.cluster``, a throw-away cluster on 127.0.0.1) on
PostgreSQL:
    * ``*_live_write``: one live write on the writer thread (``session_rows`` + ``upsert_session``:
      every row of the session so far, one transaction), median over the turns, and
      ``*_live_writes_per_s`` its inverse;
    * ``live_loop_cost``: what ``LiveWriter.observe`` costs the event loop on a turn's
      completion (``to_snapshot``: the copy handed over), at the session's end (the most turns);
    * ``*_import_per_s``: whole sessions written per second (``write_session``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import figure

NAME = "dbwrites"


def _live(db: str, turns: int) -> tuple[list[float], list[float]]:
    """Fold a ``turns``-turn session with a timed LiveWriter on ``db``; (write s, loop s)."""
    from lkmon.model.state import SessionModel
    from lkmon.store.db import Store
    from lkmon.store.db import live as live_mod
    from tests.synthetic import iter_synthetic_session

    class Timed(live_mod.LiveWriter):
        def __init__(self, *a: object, **k: object) -> None:
            self.write_s: list[float] = []
            super().__init__(*a, **k)  # type: ignore[arg-type]

        def _write(self, *args: object) -> None:
            start = time.perf_counter()
            super()._write(*args)  # type: ignore[arg-type]
            self.write_s.append(time.perf_counter() - start)

    model = SessionModel()
    writer = Timed(lambda: Store(db), Path(__file__))
    loop_s: list[float] = []
    for event in iter_synthetic_session(turns, background=False):
        changed = model.apply(event)
        start = time.perf_counter()
        writer.observe(model, changed)
        spent = time.perf_counter() - start
        if spent > 2e-4:  # a hand-over (not the cheap check of other events)
            loop_s.append(spent)
        writer.flush(60)  # one write per turn, as in a real session's pace
    writer.close()
    assert writer.error is None, writer.error
    return writer.write_s, loop_s


def _imports(db: str, sessions: int) -> float:
    """Whole sessions (a 20-turn snapshot, new id each) written per second."""
    import uuid

    from lkmon.model.state import SessionModel
    from lkmon.store.convert import to_snapshot
    from lkmon.store.db import Store, session_rows
    from tests.synthetic import iter_synthetic_session

    model = SessionModel()
    model.apply_many(list(iter_synthetic_session(20, background=False)))
    snap = to_snapshot(model)
    with Store(db) as store:
        start = time.perf_counter()
        for _ in range(sessions):
            snap.session.session_id = str(uuid.uuid4())
            store.write_session(session_rows(snap))
        return sessions / (time.perf_counter() - start)


def _backend(label: str, db: str, turns: int, sessions: int) -> list[float]:
    write_s, loop_s = _live(db, turns)
    figure(NAME, f"{label}_live_write", [s * 1000 for s in write_s], "ms")
    figure(NAME, f"{label}_live_writes_per_s", 1 / statistics.median(write_s), "writes/s")
    figure(NAME, f"{label}_import_per_s", _imports(db, sessions), "sessions/s")
    return loop_s


def run(quick: bool = False) -> None:
    """Print ``dbwrites.*`` figures."""
    turns, sessions = (30, 20) if quick else (300, 200)
    figure(NAME, "turns", turns, "turns")
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-") as tmp:
        loop_s = _backend("sqlite", str(Path(tmp) / "s.db"), turns, sessions)
    figure(NAME, "live_loop_cost_last_turns", [s * 1000 for s in loop_s[-10:]], "ms")
    from tests import pg

    reason = pg.unavailable()
    if reason is not None:
        print(f"{NAME}: PostgreSQL skipped: {reason}", flush=True)
        return
    with pg.cluster() as url:
        _backend("postgresql", pg.new_database(url), turns, sessions)
