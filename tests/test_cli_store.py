"""``lkmon import`` and ``lkmon sessions`` through ``lkmon.cli.main()`` in this process: the
default store, idempotent imports, listing, ``--json``, ``--delete``, and every bad input as one
``lkmon: error:`` line with exit code 2."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from lkmon.cli import main
from lkmon.store.db.schema import MESSAGE_FIGURES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
REAL = DATA / "real_session_0870.journal.jsonl"
AGENTS = DATA / "snapshots" / "v2-agents.json"
REAL_ID = "53b07668-0739-4b0d-ac3c-8801b3c0e4af"


def lkmon(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_import_into_the_default_store_and_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LKMON_DB", raising=False)
    monkeypatch.delenv("LKMON_SESSIONS", raising=False)
    code, out, err = lkmon("import", str(REAL), str(AGENTS))
    assert (code, err) == (0, "")
    assert f"session {REAL_ID}, 2 turns, 3 messages -> lkmon-sessions/lkmon.db" in out
    assert Path("lkmon-sessions/lkmon.db").is_file()
    assert lkmon("import", str(REAL))[0] == 0  # again: still one session
    code, out, _ = lkmon("sessions")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "when", "agent", "models"]
    assert len(lines) == 3
    real = next(line for line in lines if line.startswith(REAL_ID[:8]))
    assert "agent_entry.py" in real and "0.947 s" in real and " 0 USD" in real
    code, out, _ = lkmon("sessions", "--json", "--last", "1")
    (row,) = json.loads(out)["sessions"]
    assert row["session_id"] == REAL_ID and row["turns"] == 2  # the newest
    assert row["e2e_p50"] == pytest.approx(0.9466307)
    code, out, _ = lkmon("sessions", "--delete", REAL_ID[:8])
    assert code == 0 and REAL_ID in out
    _, out, _ = lkmon("sessions", "--json")
    assert [r["session_id"] for r in json.loads(out)["sessions"]] != [REAL_ID]
    assert len(json.loads(out)["sessions"]) == 1


def test_db_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKMON_DB", str(tmp_path / "env.db"))
    assert lkmon("import", str(REAL))[0] == 0
    assert (tmp_path / "env.db").is_file()
    assert not Path("lkmon-sessions").exists()


def _text_file(tmp_path: Path) -> Path:
    p = tmp_path / "notes.txt"
    p.write_text("just some notes\n")
    return p


def _foreign_db(tmp_path: Path) -> Path:
    p = tmp_path / "other.db"
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE things (x)")
    return p


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "--db", "/no/such/folder/x.db", str(REAL)],
         "cannot create the session store /no/such/folder/x.db: folder /no/such/folder"),
        (["sessions", "--db", "/no/such/folder/x.db"], "no session store at /no/such/folder"),
        (["import", "--db", "{tmp}/notes.txt", str(REAL)], "not an lkmon session store"),
        (["sessions", "--db", "{tmp}/notes.txt"], "not an lkmon session store"),
        (["sessions", "--db", "{foreign}"], "not an lkmon session store"),
        (["sessions", "--db", "{tmp}"], "is a folder, not a session store"),
        (["sessions", "--db", "mysql://u@localhost/db"], "not a SQLite or PostgreSQL URL"),
        (["sessions", "--db", "postgresql://u:pw@127.0.0.1:1/db"],
         "postgresql+psycopg://u:***@127.0.0.1:1/db: cannot open the session store"),
        (["import", "--db", "{tmp}/s.db", "{tmp}/notes.txt"], "not an lkmon snapshot or journal"),
        (["import", "--db", "{tmp}/s.db", "{tmp}/missing.json"], "missing.json: no such file"),
        (["sessions", "--db", "{tmp}/s.db", "--last", "0"], "must be 1 or more"),
        (["sessions", "--db", "{tmp}/s.db", "--delete", "feedface"], "no session feedface"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    _text_file(tmp_path)
    foreign = _foreign_db(tmp_path)
    if "{tmp}/s.db" in args and args[0] == "sessions":
        assert lkmon("import", "--db", str(tmp_path / "s.db"), str(AGENTS))[0] == 0
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{foreign}", str(foreign)) for a in args]
    code, out, err = lkmon(*argv)
    assert code == 2
    assert err.startswith("lkmon: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err + out


SCRIPTED = DATA / "agents" / "scripted_agent.py"


def _run_console(args: list[str], cwd: Path, stdin: str,
                 extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "LKMON_"))}
    env.update(extra_env or {})
    return subprocess.run([str(Path(sys.executable).parent / "lkmon"), *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


@pytest.mark.models  # a console-script session, replies played in real time
def test_run_headless_stores_the_session(tmp_path: Path) -> None:
    """``lkmon run --headless`` stores the session when it ends: the rows are the snapshot's
    figures, with the agent file's SHA-256 and the livekit-agents version."""
    from importlib import metadata

    from lkmon.store.db import Store

    agent = tmp_path / "agent.py"
    agent.write_bytes(SCRIPTED.read_bytes())
    proc = _run_console(["run", str(agent), "--headless", "--input", "text", "--gap", "0.3",
                         "--export", str(tmp_path / "s.json"), "--tag", "commit=abc123"], tmp_path,
                        "hello there\nwhat time is it\n",
                        {"SCRIPTED_HISTORY_FILE": str(tmp_path / "history.json")})
    assert proc.returncode == 0, proc.stderr
    snap = json.loads((tmp_path / "s.json").read_text())
    sid = snap["session"]["session_id"]
    assert f"lkmon: stored session {sid} (2 turns) in lkmon-sessions/lkmon.db" in proc.stdout
    with Store(tmp_path / "lkmon-sessions" / "lkmon.db") as store:
        (row,) = store.sessions()
        turns = store.rows("turns", sid)
        messages = store.rows("messages", sid)
    assert row["agent_sha256"] == hashlib.sha256(SCRIPTED.read_bytes()).hexdigest()
    assert row["livekit_agents_version"] == metadata.version("livekit-agents")
    assert row["agent_git_commit"] is None  # tmp_path is in no repository
    assert row["tags"] == {"commit": "abc123"}
    assert snap["session"]["tags"] == {"commit": "abc123"}  # the snapshot carries them too
    # the journal's header holds the tags: importing it (after a crash, say) keeps them
    (journal,) = (tmp_path / "lkmon-sessions").glob("*.journal.jsonl")
    assert json.loads(journal.read_text().splitlines()[0])["tags"] == {"commit": "abc123"}
    assert lkmon("import", str(journal), "--db", str(tmp_path / "again.db"))[0] == 0
    with Store(tmp_path / "again.db") as store:
        assert [r["tags"] for r in store.sessions()] == [{"commit": "abc123"}]
    assert [t["llm_ttft"] for t in turns] == [t["metrics"]["llm_ttft"] for t in snap["turns"]]
    assert [t["tool_call_count"] for t in turns] == [0, 1]
    users = [m["text"] for m in messages if m["role"] == "user"]
    assert sorted(users) == ["hello there", "what time is it"]
    # messages is keyed by LiveKit's chat item ids: those of session.history.to_dict()
    history = json.loads((tmp_path / "history.json").read_text())["items"]
    chat = {i["id"]: i for i in history if i["type"] == "message"}
    assert {m["item_id"] for m in messages} == set(chat) and len(chat) >= 4
    compared = 0
    for m in messages:
        item = chat[m["item_id"]]
        assert m["role"] == item["role"]
        assert m["text"] == "\n".join(c for c in item["content"] if isinstance(c, str))
        for name, value in (item.get("metrics") or {}).items():
            if name in MESSAGE_FIGURES:
                assert m[name] == pytest.approx(value), name
                compared += 1
    assert compared >= 4  # e2e_latency, llm_node_ttft, tts_node_ttfb... of the replies


@pytest.mark.models  # console-script sessions, replies played in real time
def test_run_no_db_and_bad_db(tmp_path: Path) -> None:
    proc = _run_console(["run", str(SCRIPTED), "--headless", "--input", "text", "--gap", "0.3",
                         "--no-db"],
                        tmp_path, "hello\n")
    assert proc.returncode == 0, proc.stderr
    assert "lkmon: stored" not in proc.stdout
    assert not (tmp_path / "lkmon-sessions" / "lkmon.db").exists()
    proc = _run_console(["run", str(SCRIPTED), "--headless", "--input", "text", "--db",
                         "/no/such/folder/x.db"], tmp_path, "hello\n")
    assert proc.returncode == 2
    assert proc.stderr == ("lkmon: error: cannot create the session store /no/such/folder/x.db: "
                           "folder /no/such/folder does not exist\n")
    assert "turn " not in proc.stdout  # refused before the session started
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE things (x)")
    proc = _run_console(["run", str(SCRIPTED), "--headless", "--input", "text", "--db",
                         str(foreign)], tmp_path, "hello\n")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"lkmon: error: {foreign}: not an lkmon session store")
    assert proc.stderr.count("\n") == 1 and "turn " not in proc.stdout


def test_import_stores_a_snapshot_s_tags_under_its_own(tmp_path: Path) -> None:
    """A snapshot carries the session's tags (format 5): ``lkmon import`` stores them, with
    import's ``--tag`` added over them (a KEY in both takes import's value); the journal and its
    export give the same session and tags."""
    from lkmon.store.db import Store

    journal = DATA / "snapshots" / "v4-demo.journal.jsonl"  # header tags branch=main, run=4
    snap, db = tmp_path / "s.json", str(tmp_path / "s.db")
    assert lkmon("replay", str(journal), "--export", str(snap))[0] == 0
    assert json.loads(snap.read_text())["session"]["tags"] == {"branch": "main", "run": "4"}
    assert lkmon("import", "--db", db, str(snap))[0] == 0
    with Store(db) as store:
        assert [r["tags"] for r in store.sessions()] == [{"branch": "main", "run": "4"}]
    assert lkmon("import", "--db", db, str(snap), "--tag", "run=5", "--tag", "ci=1")[0] == 0
    assert lkmon("import", "--db", db + "2", str(journal), "--tag", "run=5", "--tag", "ci=1",
                 )[0] == 0
    for where in (db, db + "2"):
        with Store(where) as store:
            (row,) = store.sessions()
        assert row["tags"] == {"branch": "main", "run": "5", "ci": "1"}
        assert row["session_id"] == "4d0c8e3a-5b7f-4e21-9a6d-2f1e0b3c4d5e"


def test_tags_filter_and_retention(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    code, _, err = lkmon("import", "--db", db, str(REAL), "--tag", "branch=main", "--tag", "run=7")
    assert (code, err) == (0, "")
    assert lkmon("import", "--db", db, str(AGENTS), "--tag", "branch=dev")[0] == 0
    code, out, err = lkmon("sessions", "--db", db, "--json", "--tag", "branch=main")
    assert (code, err) == (0, "")
    [row] = json.loads(out)["sessions"]
    assert row["session_id"] == REAL_ID and row["tags"] == {"branch": "main", "run": "7"}
    code, out, _ = lkmon("sessions", "--db", db, "--json", "--tag", "branch=main", "--tag", "run=8")
    assert json.loads(out)["sessions"] == []
    code, out, _ = lkmon("sessions", "--db", db)
    assert "0.947 s  too few" in out  # no e2e p95 from 2 turns
    code, out, _ = lkmon("sessions", "--db", db, "--json")
    started = {r["session_id"]: r["started_at"] for r in json.loads(out)["sessions"]}
    assert len(started) == 2 and len(set(started.values())) == 2
    # a cutoff between the two sessions' starts removes the older one only, with its rows
    older, newer = sorted(started.values())
    days = (time.time() - (older + newer) / 2) / 86400
    code, out, err = lkmon("sessions", "--db", db, "--older-than", f"{days:.6f}", "--tag", "x=y")
    assert (code, err) == (0, "") and "deleted 0 sessions" in out
    code, out, err = lkmon("sessions", "--db", db, "--older-than", f"{days:.6f}")
    assert (code, err) == (0, "") and "deleted 1 session that started before" in out
    code, out, _ = lkmon("sessions", "--db", db, "--json")
    assert [r["started_at"] for r in json.loads(out)["sessions"]] == [newer]
    gone = next(sid for sid, ts in started.items() if ts == older)
    with sqlite3.connect(db) as conn:
        for table in ("turns", "messages", "usage"):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE session_id=?", (gone,))
            assert n.fetchone()[0] == 0
    for bad, message in ((["--tag", "novalue"], "use KEY=VALUE"),
                         (["--older-than", "0"], "above 0"),
                         (["--older-than", "1", "--delete", "x"], "not both")):
        code, _, err = lkmon("sessions", "--db", db, *bad)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_replay_stores_only_with_db_or_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LKMON_DB", raising=False)
    monkeypatch.delenv("LKMON_SESSIONS", raising=False)
    code, out, err = lkmon("replay", str(REAL), "--export", str(tmp_path / "a.json"))
    assert (code, err) == (0, "") and not (tmp_path / "lkmon-sessions").exists()
    db = str(tmp_path / "s.db")
    code, out, err = lkmon("replay", str(REAL), "--export", str(tmp_path / "b.json"), "--db", db,
                           "--tag", "env=ci")
    assert (code, err) == (0, ""), err
    assert f"stored session {REAL_ID} (2 turns) in {db}" in out
    code, out, _ = lkmon("sessions", "--db", db, "--json", "--tag", "env=ci")
    assert [r["session_id"] for r in json.loads(out)["sessions"]] == [REAL_ID]


def test_import_stores_every_good_file_and_names_each_bad_one(tmp_path: Path) -> None:
    # as cp does: a missing or foreign file is one error line, the others are still stored
    notes = _text_file(tmp_path)
    db = tmp_path / "s.db"
    code, out, err = lkmon("import", "--db", str(db), str(tmp_path / "gone.json"), str(REAL),
                           str(notes), str(AGENTS))
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("lkmon: error: ") for line in lines), err
    assert "gone.json: no such file" in lines[0] and "not an lkmon snapshot or journal" in lines[1]
    assert f"session {REAL_ID}" in out and out.count("-> ") == 2
    code, out, _ = lkmon("sessions", "--db", str(db), "--json")
    assert code == 0 and len(json.loads(out)["sessions"]) == 2
    # nothing to import: no store is made for it
    code, _, err = lkmon("import", "--db", str(tmp_path / "new.db"), str(tmp_path / "gone.json"))
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "new.db").exists()
