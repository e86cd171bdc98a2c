"""Live store writes: a running session's turns reach the store as they complete.

In process (cheap): a real session's journal folded event by event into a fresh model with the
``LiveWriter`` watching, as ``lkmon run`` does; two writers upserting growing sessions into one
SQLite file at once. The kill -9 test of a real ``lkmon run --headless`` is in
tests/test_store_live_e2e.py (slow lane).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from lkmon.model.state import SessionModel
from lkmon.store.convert import to_snapshot
from lkmon.store.db import Store, session_rows
from lkmon.store.db.live import LiveWriter
from lkmon.store.journal import load_journal
from lkmon.store.restore import load_session

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real_session_0870.journal.jsonl"
DEMO = ROOT / "tests" / "data" / "snapshots" / "v2-demo.json"


def _without_stored_at(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "stored_at"}


def test_each_completed_turn_is_stored_as_it_completes(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    journal = load_journal(REAL)
    model = SessionModel()
    model.session.session_id = journal.session_id or str(uuid.uuid4())
    writer = LiveWriter(lambda: Store(db), REAL)
    stored_after: list[tuple[int, int]] = []
    done = 0
    for event in journal.events:
        changed = model.apply(event)
        writer.observe(model, changed)
        now_done = sum(1 for t in model.turns if t.complete)
        if now_done > done:
            done = now_done
            assert writer.flush(10)
            with Store(db) as store:
                stored = store.rows("turns", model.session.session_id)
            figures = {r["turn_index"]: r["e2e_latency"] for r in stored}
            complete = {t.index: t.metrics.e2e_latency for t in model.turns if t.complete}
            stored_after.append((done, len(figures)))
            assert {i: figures.get(i) for i in complete} == complete
    writer.close()
    assert writer.error is None
    assert len(stored_after) >= 2 and all(n <= s for n, s in stored_after), stored_after
    # what was written live is what an import of the finished session gives (the session's
    # close, after the last turn, is written by the end-of-run write: finish_run)
    expected = session_rows(to_snapshot(model))
    with Store(db) as store:
        sid = expected.session_id
        [session] = store.sessions()
        assert session["session_id"] == sid and session["turn_count"] == len(expected.turns)
        assert session["agent_sha256"] is not None and session["close_reason"] == "incomplete"
        assert store.rows("turns", sid) == sorted(expected.turns, key=lambda r: r["turn_index"])
        by_id = {m["item_id"]: m for m in expected.messages}
        stored = store.rows("messages", sid)
        assert len(stored) >= 2 and all(m == by_id[m["item_id"]] for m in stored)
    assert writer.writes >= 1


def test_upsert_twice_is_one_set_of_rows_and_prunes_what_went(tmp_path: Path) -> None:
    snap = to_snapshot(load_session(REAL))
    rows = session_rows(snap)
    with Store(tmp_path / "s.db") as store:
        store.upsert_session(rows)
        store.upsert_session(rows)
        sid = rows.session_id
        assert len(store.rows("turns", sid)) == len(rows.turns) >= 2
        assert len(store.rows("messages", sid)) == len(rows.messages)
        fewer = session_rows(snap)
        fewer.turns = fewer.turns[:1]
        store.upsert_session(fewer)
        assert [r["turn_index"] for r in store.rows("turns", sid)] == [rows.turns[0]["turn_index"]]
        assert len(store.sessions()) == 1


def test_two_live_writers_on_one_file_lose_or_mix_no_rows(tmp_path: Path) -> None:
    """Two sessions growing turn by turn, upserted at once from two threads (two connections,
    BEGIN IMMEDIATE each): every session ends with exactly its own turns."""
    db = tmp_path / "shared.db"
    Store(db).close()
    snap = to_snapshot(load_session(DEMO))
    assert len(snap.turns) >= 3
    errors: list[BaseException] = []
    start = threading.Barrier(2)
    sessions = 10

    def write(tag: str) -> None:
        try:
            with Store(db) as store:
                start.wait()
                for i in range(sessions):
                    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{i}"))
                    for n in range(1, len(snap.turns) + 1):  # as turns complete
                        rows = session_rows(snap, tags={"writer": tag})
                        rows.session["session_id"] = sid
                        rows.turns = rows.turns[:n]
                        for part in (rows.turns, rows.messages, rows.usage):
                            for r in part:
                                r["session_id"] = sid
                        store.upsert_session(rows)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=write, args=(tag,)) for tag in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    with Store(db) as store:
        rows = store.sessions()
        assert len(rows) == 2 * sessions
        assert sorted(r["tags"]["writer"] for r in rows) == ["a"] * sessions + ["b"] * sessions
        for r in rows:
            turns = store.rows("turns", r["session_id"])
            assert [t["turn_index"] for t in turns] == [t.index for t in snap.turns]
            assert {t["session_id"] for t in turns} == {r["session_id"]}
