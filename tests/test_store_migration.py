"""The session store's schema migration: a schema 1 store (lkmon before the heard gap) opened by
this lkmon gains ``turns.heard_gap`` and keeps its rows; the heard gap is stored and compared."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pg import pg_cluster, pg_url  # noqa: F401
from test_heard_views import measured_session, model_of

from lkmon.report.compare import STAGES
from lkmon.store.convert import to_snapshot
from lkmon.store.db import SCHEMA_VERSION, Store, session_rows
from lkmon.store.db.schema import MIGRATIONS

OLD = Path(__file__).parent / "data" / "snapshots" / "v2-demo.json"


def _schema_1(db: Path) -> None:
    """Turn a new store into one an lkmon of schema 1 wrote, with one session in it."""
    from lkmon.store.db import import_file

    with Store(db) as store:
        import_file(store, OLD)
    with sqlite3.connect(db) as conn:
        for v in range(2, SCHEMA_VERSION + 1):
            for table, column in MIGRATIONS[v]:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version VALUES (1, '0.2.0', 0)")


def test_a_schema_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _schema_1(db)
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        assert "heard_gap" not in [r[1] for r in conn.execute("PRAGMA table_info(turns)")]
    with Store(db) as store:
        rows = store.rows("turns", store.sessions()[0]["session_id"])
        assert len(rows) == before and all(r["heard_gap"] is None for r in rows)
        snap = to_snapshot(model_of(measured_session()))
        store.write_session(session_rows(snap))
        stored = store.rows("turns", snap.session.session_id)
        assert [r["heard_gap"] for r in stored] == [t.metrics.heard_gap for t in snap.turns]
    with sqlite3.connect(db) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    Store(db).close()  # opened again: already current, nothing to do


def test_compare_has_the_heard_gap() -> None:
    assert "heard_gap" in [s.field for s in STAGES]


def test_a_schema_1_store_is_migrated_on_postgresql(pg_url: str) -> None:  # noqa: F811
    from sqlalchemy import text

    Store(pg_url).close()
    with Store(pg_url) as store, store.engine.begin() as conn:
        for v in range(2, SCHEMA_VERSION + 1):
            for table, column in MIGRATIONS[v]:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version VALUES (1, '0.2.0', 0)"))
    with Store(pg_url) as store:
        snap = to_snapshot(model_of(measured_session()))
        store.write_session(session_rows(snap))
        stored = store.rows("turns", snap.session.session_id)
        assert [r["heard_gap"] for r in stored] == [t.metrics.heard_gap for t in snap.turns]
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version ORDER BY 1"))
            assert [r[0] for r in versions] == list(range(1, SCHEMA_VERSION + 1))


def test_a_heard_gap_budget() -> None:
    from lkmon.report.compare import sample_of_snapshot
    from lkmon.report.gate import evaluate_budgets, parse_budget

    snap = to_snapshot(model_of(measured_session()))  # heard gaps 0.810 s and 1.010 s
    held, failed = evaluate_budgets(parse_budget("heard.max<=1.1, heard_gap.p50<=0.5"),
                                    sample_of_snapshot(snap, "run"))
    assert held.status == "pass" and held.measured == "1.010 s (n=2)"
    assert failed.status == "fail" and "heard gap p50 0.910 s over the budget" in failed.message


def test_a_schema_3_store_gets_the_session_interruption_counts(tmp_path: Path) -> None:
    """Schema 4's ``sessions`` counts are NULL in the rows a schema 3 store held (``lkmon
    sessions`` prints ``-``, ``--json`` null: unknown, not 0); importing the file again fills
    them."""
    import io
    import json
    from contextlib import redirect_stdout

    from lkmon.cli import main
    from lkmon.store.db import import_file

    db = tmp_path / "s.db"
    with Store(db) as store:
        import_file(store, OLD)
    with sqlite3.connect(db) as conn:
        for table, column in MIGRATIONS[4]:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version VALUES (3, '0.2.0', 0)")
    for fresh in (False, True):
        if fresh:
            assert main(["import", "--db", str(db), str(OLD)]) == 0
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["sessions", "--db", str(db), "--json"]) == 0
        (row,) = json.loads(out.getvalue())["sessions"]
        got = (row["interruptions"], row["false_interruptions"], row["overlapping_speech"])
        assert got == (({"cut_in_early": 0, "barge_in": 0, "false_interruption": 0}, 0, 0)
                       if fresh else (None, None, None))
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["sessions", "--db", str(db)]) == 0
        cells = out.getvalue().splitlines()[1].split()[-8:-4]  # barge early false overlaps
        assert cells == (["0"] * 4 if fresh else ["-"] * 4)
