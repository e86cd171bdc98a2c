"""kill -9 mid-session loses no finished turn in the store.

A real ``lkmon run --headless`` (a real AgentSession with Silero VAD and the scripted models of
``tests/data/agents/scripted_agent.py``, five recordings played in real time) with ``--db``,
killed with SIGKILL once two turns are done; the store then holds every turn the journal's replay
has as complete, with the same figures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lkmon.store.convert import to_snapshot
from lkmon.store.db import Store, import_file, session_rows
from lkmon.store.db.schema import TURN_FIGURES
from lkmon.store.restore import load_session

pytestmark = [pytest.mark.models, pytest.mark.slow]  # ~15 s of real-time audio

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LKMON = str(Path(sys.executable).parent / "lkmon")
SCRIPTED = str(DATA / "agents" / "scripted_agent.py")
WAVS = [str(DATA / f"librivox_sense_{n}.wav") for n in ("0880", "0930", "0880", "0930", "0880")]


def _stored_turns(db: Path) -> list[dict]:
    if not db.exists():
        return []
    with Store(db) as store:
        sessions = store.sessions()
        return store.rows("turns", sessions[0]["session_id"]) if sessions else []


def test_kill_9_loses_no_finished_turn_in_the_store(tmp_path: Path) -> None:
    journal, db = tmp_path / "session.journal.jsonl", tmp_path / "sessions.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = subprocess.Popen(
        [LKMON, "run", SCRIPTED, "--headless", "--input", *WAVS, "--journal", str(journal),
         "--export", str(tmp_path / "never.json"), "--db", str(db)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = journal.read_text().count('"type":"speech_done"') if journal.exists() else 0
        if done >= 2 and len(_stored_turns(db)) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"lkmon exited early: {proc.communicate()}")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"no 2 stored turns within 90 s: {proc.communicate()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.json").exists()

    replay = to_snapshot(load_session(journal))
    expected = {r["turn_index"]: r for r in session_rows(replay).turns}
    complete = [t.index for t in replay.turns if t.complete]
    assert len(complete) >= 2
    stored = {r["turn_index"]: r for r in _stored_turns(db)}
    with Store(db) as store:
        [session] = store.sessions()
    assert session["session_id"] == replay.session.session_id
    assert session["close_reason"] == "incomplete"  # no close reached the store: not NULL
    for index in complete:
        assert index in stored, f"finished turn {index} not in the store"
        row, want = stored[index], expected[index]
        assert row["speech_id"] == want["speech_id"]
        for name in ("e2e_latency", "eou_delay", "transcription_delay", "llm_ttft", "tts_ttfb"):
            assert row[name] == want[name], (index, name)
            assert row[name] is not None and row[name] > 0, (index, name)
        # every figure the store has equals the replay's (a figure that came after the last
        # write, such as the agent's stop of speech, may still be missing)
        for name in TURN_FIGURES:
            assert row[name] is None or row[name] == want[name], (index, name)
    # importing the journal completes the session from it; it never closed: still incomplete
    with Store(db) as store:
        import_file(store, journal)
        [session] = store.sessions()
        assert session["close_reason"] == "incomplete"
        assert len(store.rows("turns", session["session_id"])) == len(replay.turns)
