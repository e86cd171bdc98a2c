"""``lkmon.sources``: the one interface the TUI, headless mode and exports take.

Replay of a snapshot and a journal, the in-process runner (the scripted agent, real Silero VAD),
and a source written only against the interface (as a journal follower or LiveKit's TCP
session protocol will be) driving both headless mode and the app.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from synthetic import T0, demo_session

from lkmon.errors import UsageError
from lkmon.headless import run_headless
from lkmon.model.events import ChatMessageAdded, Event, LogRecord, SessionStarted
from lkmon.model.state import SessionModel
from lkmon.sources import (
    Capabilities,
    Emit,
    InProcessSource,
    ReplaySource,
    SessionSource,
    SourceError,
    Unsupported,
)
from lkmon.store.journal import JournalWriter
from lkmon.store.snapshot import write_snapshot
from lkmon.tui.app import LkmonApp

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = ROOT / "tests" / "data" / "agents" / "scripted_agent.py"


class ScriptedLiveSource(SessionSource):
    """A live source written against the interface only: it delivers a scripted session, as a
    remote source would deliver what arrives over a socket, then ends."""

    def __init__(self, events: list[Event], *, pause: float = 0.0) -> None:
        self.events = events
        self.pause = pause
        self.stopped: list[str] = []

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(live=True, remote=True)

    @property
    def description(self) -> str:
        return "a scripted remote session"

    def open(self, prices: object = None) -> SessionModel:
        return SessionModel()

    async def run(self, emit: Emit) -> None:
        for event in self.events:
            if self.stopped:
                return
            emit(event)
        while self.pause and not self.stopped:
            await asyncio.sleep(0.02)

    def stop(self, reason: str = "stopped") -> None:
        self.stopped.append(reason)


def demo_turns() -> list[tuple[str | None, str | None]]:
    model = SessionModel()
    model.apply_many(demo_session())
    return [(t.speech_id, t.user_text) for t in model.turns]


# -- replay ------------------------------------------------------------------------------------


def test_replay_of_a_snapshot_and_of_a_journal(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    snapshot = write_snapshot(model, tmp_path / "s.json")
    journal = tmp_path / "j.jsonl"
    writer = JournalWriter(journal)
    for event in demo_session():
        writer.write(event)
    writer.close()
    for path in (snapshot, journal):
        source = ReplaySource(path)
        assert source.capabilities == Capabilities()  # not live, nothing to send
        loaded = source.open()
        assert [(t.speech_id, t.user_text) for t in loaded.turns] == demo_turns()
        assert asyncio.run(_run_to_end(source)) == []
        assert source.error is None and str(path) in source.description


async def _run_to_end(source: SessionSource) -> list[Event]:
    seen: list[Event] = []
    await asyncio.wait_for(source.run(seen.append), 5)
    return seen


def test_replay_refuses_what_it_cannot_do_and_bad_files(tmp_path: Path) -> None:
    source = ReplaySource(tmp_path / "missing.json")
    with pytest.raises(SourceError) as err:
        source.open()
    assert isinstance(err.value, UsageError) and "\n" not in str(err.value)
    assert "missing.json" in str(err.value)
    with pytest.raises(Unsupported, match="no agent to talk to"):
        source.send_text("hello")
    with pytest.raises(Unsupported, match="no microphone"):
        source.set_mic_muted(True)
    source.stop()  # a no-op, never raises
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(SourceError):
        ReplaySource(tmp_path / "x.json").open()


# -- in-process --------------------------------------------------------------------------------


def test_in_process_capabilities_follow_the_input(tmp_path: Path) -> None:
    from lkmon.agent.host.options import RunOptions

    mic = InProcessSource(RunOptions(agent_file=SCRIPTED, inputs=["mic"]))
    text = InProcessSource(RunOptions(agent_file=SCRIPTED, inputs=["text"],
                                      journal=tmp_path / "j.jsonl"))
    assert mic.capabilities == Capabilities(live=True, can_say=True, can_mute=True,
                                            stops_agent=True)
    assert text.capabilities.can_say and not text.capabilities.can_mute
    assert text.journal == tmp_path / "j.jsonl" and mic.journal is None
    assert mic.routes_logs and "scripted_agent.py" in mic.description
    with pytest.raises(Unsupported):
        text.set_mic_muted(True)


def test_in_process_bad_input_is_refused_by_open(tmp_path: Path) -> None:
    from lkmon.agent.host.options import RunOptions

    source = InProcessSource(RunOptions(agent_file=tmp_path / "nope.py", inputs=["text"]))
    with pytest.raises(UsageError, match="agent file not found"):
        source.open()


@pytest.mark.models
async def test_in_process_delivers_early_events_first_then_the_session(tmp_path: Path) -> None:
    from lkmon.agent.host.options import RunOptions

    source = InProcessSource(RunOptions(agent_file=SCRIPTED, inputs=["text"],
                                        journal=tmp_path / "j.jsonl"))
    model = source.open()
    assert model.turns == []
    source.runner.emit(LogRecord(ts=T0, level="INFO", logger="lkmon", message="before run"))
    seen: list[Event] = []
    task = asyncio.create_task(source.run(seen.append))
    for _ in range(400):
        await asyncio.sleep(0.05)
        if any(isinstance(e, SessionStarted) for e in seen):
            break
    source.send_text("hello")
    for _ in range(400):
        await asyncio.sleep(0.05)
        if any(isinstance(e, ChatMessageAdded) and e.role == "assistant" for e in seen):
            break
    source.stop("test")
    await asyncio.wait_for(task, 10)
    assert isinstance(seen[0], LogRecord) and seen[0].message == "before run"
    assert [e.text for e in seen if isinstance(e, ChatMessageAdded) and e.role == "user"] == [
        "hello"]
    assert source.error is None and source.runner.end_reason == "test"


# -- any source, in headless mode and in the app -----------------------------------------------


def test_headless_mode_takes_any_source(tmp_path: Path) -> None:
    out = io.StringIO()
    path = run_headless(ScriptedLiveSource(demo_session()), tmp_path / "s.json", out=out)
    assert path == tmp_path / "s.json"
    text = out.getvalue()
    assert "lkmon: session started" in text and "turn   2" in text and "p95" in text
    assert len(json.loads(path.read_text())["turns"]) == len(demo_turns())


async def test_the_app_takes_any_source_and_hides_what_it_cannot_do(tmp_path: Path) -> None:
    source = ScriptedLiveSource(demo_session(), pause=1.0)
    app = LkmonApp(source.open(), source, export_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        app.drain()
        assert [(t.speech_id, t.user_text) for t in app.model.turns] == demo_turns()
        assert app.live and not app.session_over
        await pilot.press("m")  # a remote session: no microphone here
        await pilot.pause()
        assert any("no microphone" in n.message for n in app._notifications)
        await pilot.press("q")
        await pilot.pause(0.3)
    assert source.stopped == ["quit"]
    assert app.return_value is not None and app.return_value.exists()
