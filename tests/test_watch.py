"""``lkmon watch``: ``FollowSource`` follows a journal that another writer (here a thread with
lkmon's ``JournalWriter``) is writing, in the app (Textual ``run_test``) and on its own: events
on screen within 0.25 s, turn cursor, detail and export; a torn last line; a folder where a
second session starts; a journal deleted and written again; a writer not started yet."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path

from synthetic import T0, demo_session

from lkmon.cli import main
from lkmon.model.events import Event, LogRecord, SessionStarted
from lkmon.model.state import SessionModel
from lkmon.sources import FollowSource
from lkmon.store.events import encode
from lkmon.store.journal import JournalWriter, _line
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.detail import TurnDetailScreen

SID_A = "6c6b6d6f-0000-4000-8000-00000000000a"
SID_B = "6c6b6d6f-0000-4000-8000-00000000000b"


def session(sid: str) -> list[Event]:
    """The demo session (8 turns) with ``sid`` as its session id."""
    events = demo_session()
    return [dataclasses.replace(e, session_id=sid) if isinstance(e, SessionStarted) else e
            for e in events]


def expected_turns(events: list[Event]) -> list[tuple[str | None, str | None]]:
    model = SessionModel()
    model.apply_many(events)
    return [(t.speech_id, t.agent_text) for t in model.turns]


def write_in_thread(path: Path, sid: str, events: list[Event], pause: float = 0.01
                    ) -> threading.Thread:
    """lkmon's ``JournalWriter`` fed from a thread, ``pause`` seconds after every 50 events
    (the demo session: about 1,000 events)."""

    def run() -> None:
        writer = JournalWriter(path, session_id=sid)
        for i, event in enumerate(events):
            writer.write(event)
            if pause and i % 50 == 49:
                time.sleep(pause)
        writer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def wait_for(check, timeout: float = 5.0, step: float = 0.01, *,
                   less_late: bool = False) -> float:
    """Seconds until ``check()`` is true (AssertionError after ``timeout``). With ``less_late``,
    less the time this loop's own sleeps woke late by (the process off the CPU, or the loop busy
    elsewhere: under load the follower's poll sleeps are late by as much), so a window on it
    holds on a loaded machine too."""
    t0, late = time.monotonic(), 0.0
    while not check():
        assert time.monotonic() - t0 < timeout, "timed out"
        before = time.monotonic()
        await asyncio.sleep(step)
        late += max(0.0, time.monotonic() - before - step)
    return time.monotonic() - t0 - (late if less_late else 0.0)


async def test_the_app_follows_a_journal_a_thread_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.journal.jsonl"
    source = FollowSource(path)
    app = LkmonApp(source.open(), source, export_dir=tmp_path, clock=lambda: T0 + 60)
    events = session(SID_A)
    want = expected_turns(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # not written yet: it waits
        await wait_for(lambda: any("waiting for a session" in r.message for r in app.model.logs))
        write_in_thread(path, SID_A, events).join(10)
        await wait_for(lambda: len(app.model.turns) == len(want))
        assert [(t.speech_id, t.agent_text) for t in app.model.turns] == want
        assert app.model.session.session_id == SID_A
        # one more event, appended by another writer: on screen (in the model) within 0.25 s
        with open(path, "ab") as f:
            f.write(_line(encode(LogRecord(ts=T0 + 50, level="INFO", logger="agent",
                                           message="appended later"))))
        seconds = await wait_for(lambda: any(r.message == "appended later"
                                             for r in app.model.logs), less_late=True)
        assert seconds < 0.25, seconds
        # what the TUI does on a live session works here: turn cursor, detail, export
        await pilot.press("k", "k", "k", "k")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TurnDetailScreen) and app.screen.index == 4
        await pilot.press("escape")
        await pilot.press("e")
        await wait_for(lambda: len(app.exported) == 3)
        assert all(p.parent == tmp_path and p.stat().st_size for p in app.exported)
    assert source.sessions == [path]


async def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "torn.journal.jsonl"
    events = session(SID_A)
    write_in_thread(path, SID_A, events[:10], pause=0).join(10)
    line = _line(encode(events[10]))
    with open(path, "ab") as f:
        f.write(line[:7])  # the writer was killed mid-line
    source = FollowSource(path, poll=0.01)
    source.open()
    seen: list[Event] = []
    task = asyncio.create_task(source.run(seen.append))
    await wait_for(lambda: len(seen) == 10)
    await asyncio.sleep(0.1)
    assert len(seen) == 10  # the torn line is not an event (yet)
    with open(path, "ab") as f:
        f.write(line[7:])
    await wait_for(lambda: len(seen) == 11)
    assert seen[10] == events[10]
    # a line torn for good, then more lines: the bad one is skipped, the rest arrive
    with open(path, "ab") as f:
        f.write(b'{"type":"agent_st\n' + b"".join(_line(encode(e)) for e in events[11:20]))
    await wait_for(lambda: len(seen) == 20)
    assert seen[11:] == events[11:20]
    source.stop()
    await asyncio.wait_for(task, 2)


async def test_a_folder_moves_to_the_next_session(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "old.journal.jsonl").write_text("")  # there before: followed until a new one
    source = FollowSource(folder)
    app = LkmonApp(source.open(), source, export_dir=folder, clock=lambda: T0 + 60)
    a, b = session(SID_A), session(SID_B)[:30]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        write_in_thread(folder / "a.journal.jsonl", SID_A, a).join(10)
        await wait_for(lambda: app.model.session.session_id == SID_A
                       and len(app.model.turns) == len(expected_turns(a)))
        write_in_thread(folder / "b.journal.jsonl", SID_B, b).join(10)
        await wait_for(lambda: app.model.session.session_id == SID_B)
        await wait_for(lambda: len(app.model.turns) == len(expected_turns(b)))
        # the model started again with session B: none of A's turns
        assert [(t.speech_id, t.agent_text) for t in app.model.turns] == expected_turns(b)
        await pilot.press("s")  # the sessions seen, the one followed now last
        await pilot.pause()
        note = app._notifications
        assert any(n.title == "Sessions seen (3)" and n.message.endswith("3. b.journal.jsonl")
                   for n in note), [(n.title, n.message) for n in note]
    assert [p.name for p in source.sessions] == ["old.journal.jsonl", "a.journal.jsonl",
                                                 "b.journal.jsonl"]


async def test_a_deleted_journal_written_again_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    a, b = session(SID_A), session(SID_B)
    write_in_thread(path, SID_A, a[:5], pause=0).join(10)
    source = FollowSource(path, poll=0.01)
    model = source.open()
    task = asyncio.create_task(source.run(model.apply))
    await wait_for(lambda: model.event_count == 5)
    path.unlink()
    await asyncio.sleep(0.05)
    write_in_thread(path, SID_B, b[:40], pause=0).join(10)
    await wait_for(lambda: model.session.session_id == SID_B and model.event_count == 40)
    # rewritten in place (the same file, maybe the same size or longer): its first line differs
    sid_c = SID_B[:-1] + "c"
    with open(path, "wb") as f:
        f.write(_line({"lkmon_journal": 2, "session_id": sid_c}))
        f.write(b"".join(_line(encode(e)) for e in session(sid_c)[:60]))
    await wait_for(lambda: model.session.session_id == sid_c and model.event_count == 60)
    source.stop()
    await asyncio.wait_for(task, 2)


def test_bad_paths_are_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    snapshot = tmp_path / "s.json"
    snapshot.write_text('{\n  "lkmon_snapshot": 3\n}\n')
    assert main(["watch", str(tmp_path / "missing" / "x.jsonl")]) == 2
    assert main(["watch", str(snapshot)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"lkmon: error: {tmp_path / 'missing' / 'x.jsonl'}: no such file or folder",
                   f"lkmon: error: {snapshot}: not an lkmon journal (lkmon watch follows *.jsonl"
                   " journals; open a snapshot with lkmon replay)"]
