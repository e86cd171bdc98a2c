"""The session store on a real PostgreSQL server (tests/pg.py's throw-away cluster).

The same sessions imported into SQLite and PostgreSQL give the same rows in every table; import
is idempotent and delete works on both; ``lkmon import``/``sessions`` take ``--db
postgresql://...`` and ``$LKMON_DB``; live upserts work there too. Skipped with the reason when
the PostgreSQL server binaries are missing.
"""

from __future__ import annotations

import io
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from pg import pg_cluster, pg_url  # noqa: F401
from sqlalchemy import insert, select, text

from lkmon.cli import main
from lkmon.store.convert import to_snapshot
from lkmon.store.db import Store, StoreError, database_url, import_file, session_rows
from lkmon.store.db import schema as t
from lkmon.store.restore import load_session

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OLD = DATA / "snapshots"
FIXTURES = [DATA / "real_session_0870.journal.jsonl", OLD / "v2-agents.json",
            OLD / "v1-demo.json", OLD / "v2-demo-sections.json", OLD / "v2-demo.json"]


def _tables(store: Store) -> dict[str, list[dict]]:
    """Every row of every session table, in primary-key order, without ``stored_at``."""
    out = {}
    with store.engine.connect() as conn:
        for table in (t.sessions, *t.ROW_TABLES):
            q = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [{k: v for k, v in r._mapping.items() if k != "stored_at"}
                               for r in conn.execute(q)]
    return out


def test_sqlite_and_postgresql_hold_the_same_rows(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    with Store(tmp_path / "s.db") as lite, Store(pg_url) as pg:
        assert pg.engine.dialect.name == "postgresql"
        for store in (lite, pg):
            for path in FIXTURES:
                import_file(store, path, tags={"branch": "main", "n": "1"})
            for path in FIXTURES:  # idempotent
                import_file(store, path, tags={"branch": "main", "n": "1"})
        assert [r["session_id"] for r in pg.sessions(tags={"branch": "main"})] == [
            r["session_id"] for r in lite.sessions(tags={"branch": "main"})]
        assert len(pg.sessions(tags={"branch": "main"})) >= 3
        rows_lite, rows_pg = _tables(lite), _tables(pg)
        assert len(rows_lite["sessions"]) >= 3  # the demo files share a session id
        assert sum(len(v) for v in rows_lite.values()) > 30
        assert rows_pg == rows_lite
        sid = rows_lite["sessions"][0]["session_id"]
        for store in (lite, pg):
            assert store.delete_session(sid[:8]) == sid
            assert store.delete_session(sid) is None
            assert all(r["session_id"] != sid for rows in _tables(store).values() for r in rows)
        assert _tables(pg) == _tables(lite)


def test_live_upserts_on_postgresql(pg_url: str) -> None:  # noqa: F811
    rows = session_rows(to_snapshot(load_session(FIXTURES[0])))
    with Store(pg_url) as pg:
        pg.upsert_session(rows)
        pg.upsert_session(rows)
        assert len(pg.rows("turns", rows.session_id)) == len(rows.turns) >= 2
        fewer = session_rows(to_snapshot(load_session(FIXTURES[0])))
        fewer.turns = fewer.turns[:1]
        pg.upsert_session(fewer)
        assert len(pg.rows("turns", rows.session_id)) == 1
        assert len(pg.rows("messages", rows.session_id)) == len(rows.messages)


def _lkmon(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_cli_on_postgresql(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    code, out, err = _lkmon("import", str(FIXTURES[0]), "--db", pg_url)
    assert (code, err) == (0, ""), err
    assert "2 turns, 3 messages -> postgresql" in out
    monkeypatch.setenv("LKMON_DB", pg_url)
    code, out, err = _lkmon("sessions", "--json")
    assert code == 0, err
    assert '"turns": 2' in out


def test_bad_postgresql_url_is_one_line(pg_cluster: str) -> None:  # noqa: F811
    port = pg_cluster.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(StoreError, match=r"cannot open the session store .*no_such_db"):
        Store(f"postgresql://lkmon@127.0.0.1:{port}/no_such_db")
    code, out, err = _lkmon("sessions", "--db", f"postgresql://lkmon@127.0.0.1:{port}/no_such_db")
    assert code == 2 and err.startswith("lkmon: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_database_urls() -> None:
    assert database_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(StoreError, match="not a SQLite or PostgreSQL URL"):
        database_url("mysql://u@h/db")
    with pytest.raises(StoreError, match=r"\*\*\*"):  # a password is never printed
        database_url("mysql://u:secret@h/db")


def test_two_writers_of_one_new_session_take_turns(pg_url: str) -> None:  # noqa: F811
    """Writer B stores a session whose first write (A's: session row inserted, not committed)
    is in flight: B waits for A's commit, then replaces its rows; B does not fail on the
    duplicate session key (before, its plain INSERT did: UniqueViolation)."""
    rows_a = session_rows(to_snapshot(load_session(FIXTURES[0])), tags={"writer": "a"})
    rows_b = session_rows(to_snapshot(load_session(FIXTURES[0])), tags={"writer": "b"})
    rows_b.turns = rows_b.turns[:1]
    sid = rows_a.session_id
    with Store(pg_url) as a, Store(pg_url) as b:
        errors: list[BaseException] = []
        with a.engine.connect() as conn:
            tx = conn.begin()
            conn.execute(insert(t.sessions), [rows_a.session])  # A's write, not committed
            conn.execute(insert(t.turns), rows_a.turns)

            def write_b() -> None:
                try:
                    b.write_session(rows_b)
                except BaseException as e:  # noqa: BLE001 - the test reports it
                    errors.append(e)

            thread = threading.Thread(target=write_b)
            thread.start()
            _wait_until_blocked(a, "INSERT INTO sessions")
            assert thread.is_alive()  # B waits on A's uncommitted session row
            tx.commit()
        thread.join(30)
        assert not thread.is_alive() and errors == [], errors
        assert [r["tags"] for r in b.sessions()] == [{"writer": "b"}]
        assert len(b.rows("turns", sid)) == 1  # B's rows replaced A's, none mixed
        assert len(b.rows("messages", sid)) == len(rows_b.messages)


def test_two_stores_opening_one_empty_database_at_once(pg_url: str) -> None:  # noqa: F811
    """Several writers opening a new (empty) PostgreSQL database together create lkmon's tables
    once: none fails on a table another just created."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            Store(pg_url).close()
        except BaseException as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == [], errors
    with Store(pg_url) as store, store.engine.connect() as conn:
        assert conn.execute(select(t.schema_version.c.version)).scalars().all() == [
            t.SCHEMA_VERSION]


def _wait_until_blocked(store: Store, query: str, timeout: float = 20.0) -> None:
    """Wait until a backend runs ``query`` waiting on a lock (``pg_stat_activity``).

    Each look is a transaction of its own: a backend reads ``pg_stat_activity`` once per
    transaction and keeps that snapshot to its end, so polling in one transaction (SQLAlchemy's
    autobegin) never saw a writer that reached the lock after the first look; the test then
    failed after ``timeout`` whenever the writer's thread was slower to connect than this one
    (one run in five with the two cores busy)."""
    q = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
             "AND query LIKE :q")
    deadline = time.monotonic() + timeout
    with store.engine.connect() as conn:
        while True:
            waiting = conn.execute(q, {"q": f"%{query}%"}).scalar()
            conn.rollback()  # ends the snapshot: the next look sees the backends anew
            if waiting:
                return
            assert time.monotonic() < deadline, f"no backend waited on a lock for {query!r}"
            time.sleep(0.02)


def test_a_schema_2_database_is_migrated_when_opened(pg_url: str) -> None:  # noqa: F811
    """PostgreSQL too: a schema 2 database (no ``turns.interruption``) gets the column on open
    (under the schema advisory lock), NULL in its older rows."""
    with Store(pg_url) as pg:
        import_file(pg, FIXTURES[0])
        with pg.engine.begin() as conn:
            for v in range(3, t.SCHEMA_VERSION + 1):  # interruption, then what came after it
                for table, column in t.MIGRATIONS[v]:
                    conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(text("UPDATE schema_version SET version = 2"))
    with Store(pg_url) as pg, pg.engine.connect() as conn:
        assert sorted(conn.execute(select(t.schema_version.c.version)).scalars()) == list(
            range(2, t.SCHEMA_VERSION + 1))
        assert set(conn.execute(select(t.turns.c.interruption)).scalars()) == {None}
