"""``ProtocolSource``: the agent in its own process (``python -m livekit.agents console AGENT
--connect-addr``), lkmon as the TCP server of LiveKit's session protocol (issue 14, part 3).

The scripted agent (real Silero VAD, scripted STT/LLM/TTS) in a real subprocess, driven by
typed turns through the protocol's ``run_input``: its turns, figures (from ``ChatMessage.metrics``
as the protocol carries them), tool calls and usage; bad input is one error.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from lkmon.model.events import AgentStateChanged, ChatMessageAdded, Event, SessionClosed
from lkmon.sources import SourceError
from lkmon.sources.protocol import ProtocolSource

AGENTS = Path(__file__).resolve().parent / "data" / "agents"


async def _until(check, task: asyncio.Task, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not check():
        assert not task.done() or task.exception() is None, task.exception()
        assert time.monotonic() - t0 < timeout, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.slow  # a real agent process with Silero VAD, replies played in real time
@pytest.mark.models
async def test_typed_turns_over_the_session_protocol(tmp_path: Path) -> None:
    source = ProtocolSource(AGENTS / "scripted_agent.py", log_path=tmp_path / "agent.log")
    model = source.open()
    seen: list[Event] = []

    def emit(event: Event) -> None:
        seen.append(event)
        model.apply(event)

    def replies() -> int:
        return sum(isinstance(e, ChatMessageAdded) and e.role == "assistant" for e in seen)

    task = asyncio.create_task(source.run(emit))
    await _until(lambda: any(isinstance(e, AgentStateChanged) and e.new_state == "listening"
                             for e in seen), task)
    source.send_text("hello there")
    await _until(lambda: replies() == 1, task)
    source.send_text("what time is it")
    await _until(lambda: replies() == 2 and model.turns[-1].done, task)
    source.stop()
    await asyncio.wait_for(task, 15)
    assert [(t.user_text, t.agent_text, [c.name for c in t.tool_calls]) for t in model.turns] == [
        ("hello there", "Nice to hear you. Goodbye for now.", []),
        ("what time is it", "The time is 12:00.", ["current_time"]),
    ]
    for t in model.turns:  # the figures the protocol carries, as the agent measured them
        assert 0 < t.metrics.llm_ttft < 1 and 0 < t.metrics.tts_ttfb < 1, t.metrics
        assert t.metrics.agent_started_speaking_at is not None
    # every reply's audio was answered (flush -> finished) or the second would never have come
    assert source.messages["audio_playback_flush"] >= 2 and source.messages["audio_output"]
    usage = {u.kind: u for u in model.usage}
    assert usage["llm"].output_tokens > 0 and usage["tts"].characters_count > 0
    closed = [e for e in seen if isinstance(e, SessionClosed)]
    assert len(closed) == 1 and closed[0].error is None and source.error is None


def test_bad_input_is_refused_by_open(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such agent file"):
        ProtocolSource(tmp_path / "nope.py").open()
    with pytest.raises(SourceError, match="no such Python interpreter"):
        ProtocolSource(AGENTS / "scripted_agent.py", python=str(tmp_path / "python9")).open()


def _stand_in_agent(path: Path) -> Path:
    """An executable stand-in for the interpreter ``ProtocolSource`` starts (``PATH -m
    livekit.agents console AGENT --connect-addr HOST:PORT``): it connects to lkmon's server, sends
    nothing, and hangs up after a moment, as an agent whose process dies right after connecting."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import socket, sys, time\n"
        "host, port = sys.argv[sys.argv.index('--connect-addr') + 1].rsplit(':', 1)\n"
        "s = socket.create_connection((host, int(port)))\n"
        "time.sleep(0.3)\n"
        "s.close()\n")
    path.chmod(0o755)
    return path


async def test_the_journal_and_the_snapshot_of_a_process_session_are_one_session(
        tmp_path: Path) -> None:
    """``lkmon run --process``: LiveKit's protocol carries no session id of lkmon's, so the source
    makes one for the journal's header, ``SessionStarted`` and the model; importing the journal
    and the snapshot gives one session (before: two, the journal's and the snapshot's ids)."""
    from lkmon.model.events import SessionStarted
    from lkmon.store.db import Store, import_file
    from lkmon.store.journal import load_journal
    from lkmon.store.snapshot import write_snapshot

    journal = tmp_path / "s.journal.jsonl"
    source = ProtocolSource(AGENTS / "scripted_agent.py", journal=journal, tags={"k": "v"},
                            python=str(_stand_in_agent(tmp_path / "python")))
    model = source.open()
    seen: list[Event] = []

    def emit(event: Event) -> None:
        seen.append(event)
        model.apply(event)

    with pytest.raises(SourceError, match="connection dropped"):
        await asyncio.wait_for(source.run(emit), 60)
    (started,) = [e for e in seen if isinstance(e, SessionStarted)]
    assert started.session_id == source.session_id == model.session.session_id
    assert load_journal(journal).header.session_id == source.session_id
    snap = write_snapshot(model, tmp_path / "s.json")
    with Store(tmp_path / "s.db") as store:
        ids = {import_file(store, path).session_id for path in (journal, snap)}
        assert ids == {source.session_id}
        (row,) = store.sessions()
    assert row["session_id"] == source.session_id and row["tags"] == {"k": "v"}


async def test_an_agent_that_exits_before_connecting_is_one_error(tmp_path: Path) -> None:
    source = ProtocolSource(AGENTS / "import_fails.py", connect_timeout=60)
    source.open()
    seen: list[Event] = []
    with pytest.raises(SourceError, match="exited before connecting"):
        await source.run(seen.append)
    assert isinstance(seen[-1], SessionClosed) and "exited before connecting" in seen[-1].error


@pytest.mark.slow  # a real agent process with Silero VAD, replies played in real time
@pytest.mark.models
def test_lkmon_run_process_headless_with_typed_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json
    import sys

    from lkmon.cli import main
    from lkmon.store.snapshot import load_session

    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\nwhat time is it\n"))
    code = main(["run", str(AGENTS / "scripted_agent.py"), "--process", "--python",
                 sys.executable, "--headless", "--input", "text", "--export",
                 str(tmp_path / "s.json"), "--journal", str(tmp_path / "j.journal.jsonl"),
                 "--db", str(tmp_path / "s.db")])
    out = capsys.readouterr()
    assert code == 0, out.err
    snap = json.loads((tmp_path / "s.json").read_text())
    assert [(t["user_text"], t["agent_text"]) for t in snap["turns"]] == [
        ("hello there", "Nice to hear you. Goodbye for now."),
        ("what time is it", "The time is 12:00."),
    ]
    replayed = load_session(tmp_path / "j.journal.jsonl")  # the journal holds the session too
    assert [t.user_text for t in replayed.turns] == ["hello there", "what time is it"]
    assert (tmp_path / "j.agent.log").stat().st_size > 0
    # the run's store rows, its snapshot and its journal are one session
    from lkmon.store.db import Store, import_file

    with Store(tmp_path / "s.db") as store:
        (stored,) = store.sessions()
        for path in (tmp_path / "j.journal.jsonl", tmp_path / "s.json"):
            assert import_file(store, path).session_id == stored["session_id"]
        assert [r["session_id"] for r in store.sessions()] == [stored["session_id"]]
    assert snap["session"]["session_id"] == replayed.session.session_id == stored["session_id"]
