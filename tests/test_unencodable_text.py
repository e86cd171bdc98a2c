"""Text that is not UTF-8 (a lone surrogate, as ``os.listdir`` gives for a Latin-1 file name) in
what an agent logs or what is typed (LiveKit's own sentence tokenizer refuses it in a reply, so
the reply's case is a model fed directly): every writer (journal, snapshot, HTML, SVG, store,
stdout) escapes it as the visible ``\\udcff`` and goes on (issue 11, point 1)."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from synthetic import demo_session

from lkmon.cli import main
from lkmon.model.events import ChatMessageAdded, LogRecord
from lkmon.model.state import SessionModel
from lkmon.report.bundle import export_session
from lkmon.store.journal import JournalWriter, load_journal
from lkmon.store.restore import load_session
from lkmon.store.snapshot import write_snapshot

AGENTS = Path(__file__).parent / "data" / "agents"
MISBEHAVING = AGENTS / "misbehaving_agent.py"
ODD = "bad\udcffname"
SHOWN = "bad\\udcffname"  # what every file holds instead: the escape, as visible text


def test_an_agent_logging_and_saying_a_lone_surrogate_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MISBEHAVE", "surrogate")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"list {ODD}\n"))
    export, journal, db = tmp_path / "s.json", tmp_path / "j.jsonl", tmp_path / "lkmon.db"
    code = main(["run", str(MISBEHAVING), "--headless", "--input", "text", "--gap", "0.1",
                 "--export", str(export), "--journal", str(journal), "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err and "not written" not in out + err
    assert f"user: list {SHOWN}" in out  # the turn line
    snap = json.loads(export.read_bytes())
    assert snap["turns"][0]["user_text"] == f"list {SHOWN}"
    assert any(e.get("message") == f"skipped file {SHOWN}" for e in snap["events"])
    logs = [e for e in load_journal(journal).events if isinstance(e, LogRecord)]
    assert any(r.message == f"skipped file {SHOWN}" for r in logs)
    assert load_session(export).turns[0].user_text == f"list {SHOWN}"
    with sqlite3.connect(db) as conn:
        texts = [r[0] for r in conn.execute("select text from messages")]
    assert f"list {SHOWN}" in texts


def odd_model() -> SessionModel:
    model = SessionModel()
    for ev in demo_session():
        if isinstance(ev, ChatMessageAdded) and ev.role == "assistant":
            ev.text = f"{ev.text} {ODD}"
        model.apply(ev)
    model.apply(LogRecord(ts=1.0, level="WARNING", logger="agent", message=ODD))
    return model


def test_the_journal_writes_the_line_instead_of_dropping_it(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "j.jsonl")
    writer.write(LogRecord(ts=1.0, level="WARNING", logger="agent", message=ODD))
    writer.write(LogRecord(ts=2.0, level="INFO", logger="agent", message="after"))
    writer.close()
    assert [e.message for e in load_journal(tmp_path / "j.jsonl").events] == [SHOWN, "after"]


def test_snapshot_html_and_svg_exports_escape_it(tmp_path: Path) -> None:
    model = odd_model()
    write_snapshot(model, tmp_path / "s.json")
    texts = [t.agent_text for t in load_session(tmp_path / "s.json").turns if t.agent_text]
    assert texts and all(text.endswith(f" {SHOWN}") for text in texts)
    written, failures = export_session(model, tmp_path, "lkmon-x", svg=f"<svg>{ODD}</svg>")
    assert failures == []
    assert sorted(p.suffix for p in written) == [".html", ".json", ".svg"]
    for path in written:
        text = path.read_text(encoding="utf-8")  # strict: each file is valid UTF-8
        assert (json.dumps(SHOWN)[1:-1] if path.suffix == ".json" else SHOWN) in text
