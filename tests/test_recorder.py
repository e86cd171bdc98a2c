"""``lkmon.record(session)``: the journal written from inside the user's own agent.

The scripted agent (real Silero VAD, scripted STT/LLM/TTS) runs in-process under lkmon's runner
with ``record(session)`` in its entrypoint, before or after ``session.start()``: the recorder's
journal, replayed, gives the same turns and figures as lkmon's own journal of the same session.
The recorder imports no textual and no model runtime (a fresh interpreter); it never raises into
the agent; one journal per session, bounded by ``max_files`` / ``max_bytes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lkmon import paths
from lkmon.headless import run_headless
from lkmon.store.snapshot import load_session

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "agents" / "recorded_agent.py"
TYPED = ["hello, my token is tok-9f8e7d6c5b", "what time is it"]
HEAVY = ("textual", "lkmon.tui", "lkmon.local", "faster_whisper", "ctranslate2", "llama_cpp",
         "piper", "onnxruntime", "torch")


def test_import_and_record_load_no_textual_and_no_model(tmp_path: Path) -> None:
    code = (
        "import sys, lkmon\n"
        "assert 'livekit' not in sys.modules and 'lkmon.recorder' not in sys.modules\n"
        "from lkmon import record\n"
        "from livekit.agents import AgentSession\n"
        f"rec = record(AgentSession(), journal={str(tmp_path)!r} + '/')\n"
        "assert rec.error is None, rec.error\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or "
        f"m.startswith({HEAVY!r})]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


def _turns(model):  # what a turn shows: its texts and every figure LiveKit's events give
    # (not the heard gap: lkmon measures it on the audio it holds, which the recorder does not)
    return [(t.speech_id, t.user_text, t.agent_text, [c.name for c in t.tool_calls],
             dataclasses.replace(t.metrics, heard_gap=None)) for t in model.turns]


@pytest.mark.slow  # about 8 s each: a real session with Silero VAD and played replies
@pytest.mark.models
@pytest.mark.parametrize("when", ["before", "after"])
def test_recorded_journal_replays_as_lkmon_saw_it(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import InProcessSource

    folder = tmp_path / "rec"
    monkeypatch.setenv("LKMON_TEST_RECORD", when)
    monkeypatch.setenv("LKMON_TEST_RECORD_DIR", f"{folder}/")
    monkeypatch.setenv("LKMON_TEST_SECRET_TOKEN", "tok-9f8e7d6c5b")  # a secret: redacted
    monkeypatch.setenv("SCRIPTED_REPLY", "Hi.")  # one short sentence: 0.6 s of audio
    own = tmp_path / "run.jsonl"
    source = InProcessSource(RunOptions(
        agent_file=RECORDED, inputs=["text"], output="null", journal=own,
        text_lines=io.StringIO("\n".join(TYPED) + "\n"),
    ))
    run_headless(source, tmp_path / "snap.json", out=io.StringIO())
    journals = sorted(folder.glob("*.journal.jsonl"))
    assert len(journals) == 1, journals
    path = journals[0]
    header = json.loads(path.read_text().splitlines()[0])
    # <stamp>-<room>-<session_id prefix>.journal.jsonl, 0600, the tags in the header
    assert path.name.endswith(f"-fake-room-{header['session_id'][:8]}.journal.jsonl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert header["tags"] == {"test": when}
    assert "tok-9f8e7d6c5b" not in path.read_text()
    recorded, seen = load_session(path), load_session(own)
    assert [t.user_text for t in recorded.turns] == ["hello, my token is [REDACTED]", TYPED[1]]
    assert _turns(recorded) == _turns(seen)
    assert recorded.usage == seen.usage
    assert recorded.session.session_id == header["session_id"]
    assert recorded.session.models == seen.session.models
    assert recorded.session.closed_at is not None


def _write_one(folder: Path, room: str, now: float, size: int = 10) -> Path:
    p = paths.recorded_journal(room, "0123456789abcdef", now=now, directory=folder)
    p.write_bytes(b"x" * size)
    os.utime(p, (now, now))
    return p


def test_max_files_and_max_bytes_remove_the_oldest_first(tmp_path: Path) -> None:
    t0 = time.time() - 100
    made = [_write_one(tmp_path, "room a/b", t0 + i, size=100) for i in range(5)]
    assert made[0].name.endswith("-room_a_b-01234567.journal.jsonl"), made[0].name
    assert len({p.name for p in made}) == 5  # the same second: -1, -2... never overwritten
    removed = paths.prune_journals(tmp_path, keep=made[-1], max_files=3)
    assert removed == made[:2]
    removed = paths.prune_journals(tmp_path, keep=made[-1], max_bytes=150)
    assert removed == made[2:4]
    assert sorted(tmp_path.iterdir()) == [made[-1]]
    # the journal being written is kept whatever the bound
    assert paths.prune_journals(tmp_path, keep=made[-1], max_files=0) == []


def _texts(path: Path) -> list[str]:
    from lkmon.model.events import ChatMessageAdded
    from lkmon.store.journal import load_journal

    return [e.text for e in load_journal(path).events if isinstance(e, ChatMessageAdded)]


async def test_one_journal_per_session_and_failures_never_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from livekit.agents import AgentSession

    from lkmon import record
    from lkmon.model.events import ChatMessageAdded

    first, second = AgentSession(), AgentSession()
    a = record(first, journal=tmp_path, max_files=1)
    assert record(first, journal=tmp_path) is a  # the same session: the same recorder
    b = record(second, journal=tmp_path, redact=True)
    for rec, n in ((a, 1), (b, 2)):
        rec._emit(ChatMessageAdded(ts=time.time(), item_id=f"i{n}", role="user",
                                   text=f"hi {n}", interrupted=False, created_at=time.time()))
    a.close()
    b.close()
    assert a.path != b.path and a.path is not None and b.path is not None
    assert a.session_id != b.session_id
    # session_started, the message, close
    assert a.written == b.written == 3 and a.not_written == 0
    assert _texts(a.path) == ["hi 1"]
    assert _texts(b.path) == ["██ █"]  # redact=True
    # a journal that cannot be created: logged once, counted, nothing raised
    blocked = tmp_path / "file"
    blocked.write_text("")
    c = record(AgentSession(), journal=blocked / "sub" / "x.journal.jsonl")
    for _ in range(3):
        c._emit(ChatMessageAdded(ts=time.time(), item_id="i", role="user", text="x",
                                 interrupted=False, created_at=time.time()))
    c.close()
    assert c.error is not None and c.not_written == 4  # the 3 and the close line
    assert sum("cannot write the journal" in r.getMessage() for r in caplog.records) == 1


async def test_recorder_tags_reach_the_store(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``record(tags=...)``: the journal header's tags are the session's ``sessions.tags``,
    through ``record(db=...)`` and through ``lkmon import`` (whose ``--tag`` wins on a KEY in
    both); a secret in a tag value is redacted in the header and the store."""
    from livekit.agents import AgentSession

    from lkmon import record
    from lkmon.cli import main
    from lkmon.model.events import ChatMessageAdded
    from lkmon.store.db import Store

    monkeypatch.setenv("LKMON_TEST_SECRET_TOKEN", "tok-5e4d3c2b1a")  # record() reads it
    # the agent file is __main__'s: this file stands in (pytest-xdist's workers run `python -c`)
    monkeypatch.setattr(sys.modules["__main__"], "__file__", __file__, raising=False)
    db = tmp_path / "s.db"
    tags = {"build": "42", "branch": "main", "key": "tok-5e4d3c2b1a"}
    rec = record(AgentSession(), journal=tmp_path / "j" / "", db=db, tags=tags)
    rec._emit(ChatMessageAdded(ts=time.time(), item_id="i1", role="user", text="hi",
                               interrupted=False, created_at=time.time()))
    rec.close()
    assert rec.error is None and rec.path is not None
    assert "tok-5e4d3c2b1a" not in rec.path.read_text()
    stored = {"build": "42", "branch": "main", "key": "[REDACTED]"}
    with Store(db) as store:
        [row] = store.sessions()
    assert row["tags"] == stored
    # what the agent's process knows and a journal does not: the agent file and livekit-agents
    from importlib import metadata

    agent = Path(row["agent_file"])
    assert agent.is_file() and row["agent_sha256"] == hashlib.sha256(agent.read_bytes()).hexdigest()
    assert row["livekit_agents_version"] == metadata.version("livekit-agents")
    assert main(["import", str(rec.path), "--db", str(db), "--tag", "branch=dev"]) == 0
    with Store(db) as store:
        (row,) = store.sessions()
    assert row["session_id"] == rec.session_id
    assert row["tags"] == {**stored, "branch": "dev"}
    # the journal's export carries them: importing the snapshot stores the same tags
    snap = tmp_path / "r.json"
    assert main(["replay", str(rec.path), "--export", str(snap)]) == 0
    assert json.loads(snap.read_text())["session"]["tags"] == stored
    assert main(["import", str(snap), "--db", str(tmp_path / "again.db")]) == 0
    with Store(tmp_path / "again.db") as store:
        (row,) = store.sessions()
    assert (row["session_id"], row["tags"]) == (rec.session_id, stored)


def test_a_damaged_header_tag_costs_nothing_else(tmp_path: Path) -> None:
    from lkmon.store.journal import load_journal

    path = tmp_path / "x.journal.jsonl"
    header = {"lkmon_journal": 2, "session_id": "53b07668-0739-4b0d-ac3c-8801b3c0e4af",
              "tags": {"n": 7, "ok": "yes", "deep": {"a": 1}, "none": None}}
    for tags, read in ((header["tags"], {"n": "7", "ok": "yes"}), (["a"], {})):
        path.write_text(json.dumps({**header, "tags": tags}) + "\n")
        got = load_journal(path).header
        assert got is not None and got.tags == read


@pytest.mark.slow  # the OpenAI-compatible server's offline models, replies played in real time
@pytest.mark.models
def test_recorded_openai_voice_agent_replays_as_lkmon_saw_it(
    openai_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_fixture import run_lkmon
    from recordings import clip_path

    folder = tmp_path / "rec"
    monkeypatch.setitem(openai_server.env, "LKMON_TEST_RECORD_DIR", f"{folder}/")
    run_lkmon(openai_server, "openai_recorded.py", [clip_path("goforward")], tmp_path)
    (path,) = folder.glob("*.journal.jsonl")
    recorded, seen = load_session(path), load_session(tmp_path / "journal.jsonl")
    assert len(seen.turns) >= 2 and any(t.metrics.e2e_latency for t in seen.turns)
    assert _turns(recorded) == _turns(seen)
    assert recorded.usage == seen.usage
