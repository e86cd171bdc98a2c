"""The session store (SQLite): rows equal the snapshot's figures, imports are idempotent, two
processes writing one file lose no rows, secrets never reach the database, the file is private.

Everything runs on committed fixtures (a journal recorded from a real session, format 1/2
snapshots); no network, no models.
"""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from lkmon.model.events import ChatMessageAdded
from lkmon.redact import SECRET_PLACEHOLDER, Redactor, default_redactor
from lkmon.store.convert import to_snapshot
from lkmon.store.db import SCHEMA_VERSION, Store, StoreError, import_file, session_rows
from lkmon.store.db.schema import MESSAGE_FIGURES, MIGRATIONS, TURN_COUNTS, TURN_FIGURES
from lkmon.store.format import Snapshot
from lkmon.store.restore import load_session

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OLD = DATA / "snapshots"
REAL = DATA / "real_session_0870.journal.jsonl"
FIXTURES = [REAL, OLD / "v2-agents.json", OLD / "v1-demo.json", OLD / "v2-demo-sections.json"]


def _snapshot(path: Path) -> Snapshot:
    return to_snapshot(load_session(path))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_rows_equal_the_snapshots_figures(tmp_path: Path, path: Path) -> None:
    snap = _snapshot(path)
    with Store(tmp_path / "s.db") as store:
        done = import_file(store, path)
        sid = snap.session.session_id
        assert done.session_id == sid
        (row,) = store.sessions()
        assert row["session_id"] == sid
        assert row["started_at"] == snap.session.started_at
        assert row["duration"] == snap.session.duration
        assert row["models"] == snap.session.models
        assert row["turn_count"] == len(snap.turns) > 0
        assert row["cost_total"] == snap.cost.total
        turns = store.rows("turns", sid)
        assert [t["turn_index"] for t in turns] == [t.index for t in snap.turns]
        for got, want in zip(turns, snap.turns, strict=True):
            assert got["speech_id"] == want.speech_id
            for name in TURN_FIGURES + TURN_COUNTS:
                assert got[name] == getattr(want.metrics, name), name  # None stays NULL
            assert got["interrupted"] is want.interrupted
            assert got["failed"] is want.failed
            assert got["tool_call_count"] == len(want.tool_calls)
            assert got["discarded_count"] == len(want.discarded)
        usage = {(u["kind"], u["provider"], u["model"]): u for u in store.rows("usage", sid)}
        assert len(usage) == len(snap.usage)
        for u in snap.usage:
            got = usage[(u.kind, u.provider, u.model)]
            assert (got["input_tokens"], got["output_tokens"], got["characters_count"],
                    got["audio_duration"], got["cost"]) == (
                u.input_tokens, u.output_tokens, u.characters_count, u.audio_duration, u.cost)
        messages = {m["item_id"]: m for m in store.rows("messages", sid)}
        chat = [e for e in snap.events if isinstance(e, ChatMessageAdded)]
        for ev in chat:
            got = messages[ev.item_id]
            assert (got["role"], got["text"], got["created_at"]) == (
                ev.role, ev.text, ev.created_at)
            for name in MESSAGE_FIGURES:
                assert got[name] == ev.metrics.get(name), name
        # chat items kept only as transcript lines (incomplete events) still get a row
        items = {e.item_id for e in snap.transcript if e.item_id and not e.interim}
        assert items | {e.item_id for e in chat} == set(messages)


def test_real_session_messages_and_summary(tmp_path: Path) -> None:
    """The recorded session: the user message has LiveKit's user timings, the reply its e2e
    latency, both joined to turn 2; ``lkmon sessions``' p50/p95 equal the snapshot summary's."""
    from lkmon.cli_store import session_summaries

    snap = _snapshot(REAL)
    with Store(tmp_path / "s.db") as store:
        import_file(store, REAL)
        msgs = store.rows("messages", snap.session.session_id)
        user = [m for m in msgs if m["role"] == "user"]
        assert len(user) == 1 and user[0]["turn_index"] == 2
        assert user[0]["end_of_turn_delay"] is not None
        assert user[0]["transcription_delay"] is not None
        reply = [m for m in msgs if m["role"] == "assistant" and m["turn_index"] == 2]
        assert reply[0]["e2e_latency"] == snap.turns[1].metrics.e2e_latency is not None
        (summary,) = session_summaries(store, None)
    e2e = snap.summary.stages["e2e"]
    assert (summary["e2e_count"], summary["e2e_p50"], summary["e2e_p95"]) == (
        e2e.count, e2e.p50, None)  # no p95 from under 20 turns


def test_summary_percentiles_over_several_turns(tmp_path: Path) -> None:
    from lkmon.cli_store import session_summaries

    path = OLD / "v2-demo.json"
    e2e = _snapshot(path).summary.stages["e2e"]
    assert e2e.count >= 3
    with Store(tmp_path / "s.db") as store:
        import_file(store, path)
        (summary,) = session_summaries(store, None)
    assert summary["e2e_p50"] == pytest.approx(e2e.p50)
    assert summary["e2e_p95"] is None and summary["e2e_count"] == e2e.count < 20


def test_summary_p95_from_20_turns(tmp_path: Path) -> None:
    """25 turns with known e2e latencies: p50/p95 are statistics.quantiles' (inclusive)."""
    import statistics

    from lkmon.cli_store import session_summaries

    rows = session_rows(_snapshot(REAL))
    template = rows.turns[-1]
    values = [0.4 + 0.037 * ((7 * i) % 25) for i in range(25)]
    rows.turns = [{**template, "turn_index": i + 1, "speech_id": f"s{i}", "e2e_latency": v}
                  for i, v in enumerate(values)]
    with Store(tmp_path / "s.db") as store:
        store.write_session(rows)
        (summary,) = session_summaries(store, None)
        rows.turns = rows.turns[:19]
        store.write_session(rows)
        (fewer,) = session_summaries(store, None)
    q = statistics.quantiles(values, n=100, method="inclusive")
    assert (summary["e2e_count"], summary["e2e_p50"], summary["e2e_p95"]) == (25, q[49], q[94])
    assert fewer["e2e_count"] == 19 and fewer["e2e_p95"] is None


def test_import_twice_is_one_session(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        for _ in range(2):
            import_file(store, REAL)
        # the same synthetic session written as a format 1 and a format 2 snapshot and journal
        for name in ("v1-demo.json", "v2-demo.json", "v2-demo.journal.jsonl"):
            import_file(store, OLD / name)
        ids = [r["session_id"] for r in store.sessions()]
        assert len(ids) == len(set(ids)) == 2
        sid = _snapshot(REAL).session.session_id
        assert len(store.rows("turns", sid)) == 2
        assert len(store.rows("messages", sid)) == 3
        assert store.delete_session(sid[:8]) == sid
        assert store.rows("turns", sid) == store.rows("messages", sid) == []
        assert store.rows("usage", sid) == []
        assert len(store.sessions()) == 1
        assert store.delete_session(sid) is None


def test_a_session_that_never_closed_is_incomplete(tmp_path: Path) -> None:
    """A journal that ends before LiveKit's ``close`` (its writer killed) is stored with
    ``close_reason`` ``incomplete``, not NULL; one that closed keeps LiveKit's reason; a NULL
    left by an older lkmon reads as ``incomplete`` in ``lkmon sessions --json``."""
    import json

    from sqlalchemy import update

    from lkmon.cli import main
    from lkmon.store.db import schema as t

    lines = REAL.read_text().splitlines(keepends=True)
    crashed = tmp_path / "crashed.journal.jsonl"
    crashed.write_text("".join(line for line in lines if '"type":"close"' not in line))
    db = tmp_path / "s.db"
    with Store(db) as store:
        closed = import_file(store, REAL).session_id
        [row] = store.sessions()
        assert row["close_reason"] == "user_initiated" and row["closed_at"] is not None
        import_file(store, crashed)  # the same session, as its journal was at the kill
        [row] = store.sessions()
        assert row["close_reason"] == "incomplete" and row["closed_at"] is None
        assert row["turn_count"] == 2  # the finished turns are all there
        with store.engine.begin() as conn:  # as an lkmon before "incomplete" stored it
            conn.execute(update(t.sessions).values(close_reason=None))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sessions", "--db", str(db), "--json"]) == 0
    [listed] = json.loads(out.getvalue())["sessions"]
    assert listed["session_id"] == closed and listed["close_reason"] == "incomplete"


def test_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        import_file(store, REAL)
        files = [p for p in tmp_path.iterdir() if p.name.startswith("s.db")]
        assert {p.name for p in files} >= {"s.db", "s.db-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_secrets_never_reach_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted secret in what the user said, the agent file name and a model label: stored
    as ``[REDACTED]`` (the snapshot file's redaction), nowhere in the database's bytes."""
    secret = "sk-store-leak-5e1f7a"
    raw = REAL.read_text(encoding="utf-8")
    assert "Dashwood" in raw and "SmolLM2-135M-Instruct-Q4_1" in raw
    leaky = tmp_path / "leaky.journal.jsonl"
    leaky.write_text(raw.replace("Dashwood", secret).replace("agent_entry.py", f"{secret}.py")
                     .replace("SmolLM2-135M-Instruct-Q4_1", secret), encoding="utf-8")
    redactor = Redactor()
    monkeypatch.setattr("lkmon.redact._default", redactor)  # the process-wide one, for this test
    assert default_redactor() is redactor
    redactor.add([secret])
    db = tmp_path / "s.db"
    with Store(db) as store:
        sid = import_file(store, leaky).session_id
        (session,) = store.sessions()
        user = [m for m in store.rows("messages", sid) if m["role"] == "user"]
        usage = store.rows("usage", sid)
    assert SECRET_PLACEHOLDER in user[0]["text"]
    assert session["agent_file"] == f"{SECRET_PLACEHOLDER}.py"
    assert SECRET_PLACEHOLDER in session["models"]["llm"]
    assert any(u["model"] == SECRET_PLACEHOLDER for u in usage)
    for p in tmp_path.glob("s.db*"):
        assert secret.encode() not in p.read_bytes(), p


def test_rows_need_a_session_id() -> None:
    snap = _snapshot(REAL)
    snap.session.session_id = None
    with pytest.raises(ValueError, match="session_id"):
        session_rows(snap)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'future', 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema {SCHEMA_VERSION + 1} is newer") as e:
        Store(db)
    assert "\n" not in str(e.value)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(StoreError, match="not an lkmon session store"):
        Store(db)
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text " * 40)
    with pytest.raises(StoreError, match="not an lkmon session store"):
        Store(text)


WRITER = textwrap.dedent("""
    import sys, uuid
    from lkmon.store.convert import to_snapshot
    from lkmon.store.db import Store, session_rows
    from lkmon.store.restore import load_session
    db, path, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    snap = to_snapshot(load_session(path))
    with Store(db) as store:
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start writing together
        for i in range(count):
            snap.session.session_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{i}"))
            store.write_session(session_rows(snap, tags={"writer": tag}))
""")


def test_two_processes_writing_one_file_lose_no_rows(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    count = 60
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(OLD / "v2-demo.json"), tag, str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env,
        )
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.communicate()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    turns = len(_snapshot(OLD / "v2-demo.json").turns)
    with Store(db) as store:
        rows = store.sessions()
        assert len(rows) == 2 * count
        assert sorted(r["tags"]["writer"] for r in rows).count("a") == count
        for r in rows:
            assert len(store.rows("turns", r["session_id"])) == turns
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM turns").fetchone()[0] == 2 * count * turns


def test_docs_name_every_column_in_its_table() -> None:
    """docs/store.md has a section per table naming each of its columns (unit and source)."""
    from lkmon.store.db import schema as t

    doc = (ROOT / "docs" / "store.md").read_text()
    for table in t.metadata.sorted_tables:
        head = f"## `{table.name}`"
        assert head in doc, head
        section = doc.split(head, 1)[1].split("\n## ", 1)[0]
        missing = [c.name for c in table.columns if f"`{c.name}`" not in section]
        if table.name in ("usage",):  # its session_id is described by the key line
            missing = [m for m in missing if m != "session_id"]
        assert not missing, (table.name, missing)


def _interrupted_session(tmp_path: Path) -> Path:
    """A snapshot of the constructed session of tests/test_interruptions.py (one of each
    interruption class)."""
    from test_interruptions import _session

    from lkmon.model.state import SessionModel
    from lkmon.store.snapshot import write_snapshot

    model = SessionModel()
    model.apply_many(_session())
    return write_snapshot(model, tmp_path / "interrupted.json")


def test_a_schema_2_store_is_migrated_when_opened(tmp_path: Path) -> None:
    """A store written before ``turns.interruption`` (schema 2: the heard gap, no class) gets
    the column on open, NULL in its rows; a session stored after has its classes."""
    db = tmp_path / "s.db"
    with Store(db) as store:
        import_file(store, REAL)
    with sqlite3.connect(db) as conn:
        for v in range(3, SCHEMA_VERSION + 1):  # interruption, then what came after it
            for table, column in MIGRATIONS[v]:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version VALUES (2, '0.2.0', 0)")
    with Store(db) as store:
        new = import_file(store, _interrupted_session(tmp_path)).session_id
    with sqlite3.connect(db) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")] == (
            list(range(2, SCHEMA_VERSION + 1)))
        rows = conn.execute("SELECT session_id, interruption FROM turns "
                            "ORDER BY session_id, turn_index").fetchall()
    old = [r[1] for r in rows if r[0] != new]
    assert old and set(old) == {None}
    assert [r[1] for r in rows if r[0] == new] == [
        "cut_in_early", "barge_in", "false_interruption", None, None]
    Store(db).close()  # opened again: nothing left to migrate
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (
            SCHEMA_VERSION - 1,)
