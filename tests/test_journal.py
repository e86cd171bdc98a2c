"""The session journal: JSON Lines, fsync per turn, mode 0600, torn last line, secrets."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
import uuid
from pathlib import Path

import pytest

from lkmon.model.events import (
    ChatMessageAdded,
    LogRecord,
    ModelUsage,
    SpeechCreated,
    SpeechDone,
    UsageUpdated,
    VadActivity,
)
from lkmon.redact import default_redactor
from lkmon.store import journal as journal_mod
from lkmon.store.journal import JournalWriter, default_journal_path, read_journal


def sample_events() -> list:
    t = 1_700_000_000.0
    return [
        SpeechCreated(ts=t, speech_id="speech_1"),
        ChatMessageAdded(
            ts=t + 1,
            item_id="item_1",
            role="user",
            text="hello",
            metrics={"end_of_turn_delay": 0.4},
        ),
        UsageUpdated(ts=t + 2, usage=[ModelUsage("llm", "p", "m", input_tokens=12)]),
        SpeechDone(ts=t + 3, speech_id="speech_1", item_ids=["item_2"]),
        VadActivity(ts=t + 4, event="inference", probability=0.7),
        SpeechCreated(ts=t + 5, speech_id="speech_2"),
        SpeechDone(ts=t + 6, speech_id="speech_2"),
    ]


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.journal.jsonl"
    w = JournalWriter(path)
    events = sample_events()
    for ev in events:
        w.write(ev)
    w.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert len(lines) == len(events) + 1  # the header, then one line per event
    header = json.loads(lines[0])
    assert header["lkmon_journal"] == 2 and header["session_id"] == w.session_id
    assert str(uuid.UUID(w.session_id)) == w.session_id
    assert json.loads(lines[1])["type"] == "speech_created"
    assert read_journal(path) == events


def test_fsync_after_each_completed_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.jsonl"
    seen: list[list[str]] = []  # the journal's lines at each fsync
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        real_fsync(fd)
        seen.append([json.loads(x)["type"] for x in path.read_text().splitlines()[1:]])

    monkeypatch.setattr(journal_mod.os, "fsync", spy)
    w = JournalWriter(path)
    for ev in sample_events():
        w.write(ev)
    w.close()
    # one fsync right after each SpeechDone line, one at close
    assert [s[-1] for s in seen] == ["speech_done", "speech_done", "speech_done"]
    assert [len(s) for s in seen] == [4, 7, 7]
    assert w.fsyncs == 3


def test_each_event_reaches_the_file_before_close(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    w = JournalWriter(path)
    w.write(SpeechCreated(ts=1.0, speech_id="s"))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and path.read_text().count("\n") < 2:
        time.sleep(0.01)
    assert path.read_text().count("\n") == 2  # header + event: flushed, no close needed
    w.close()


def test_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.jsonl"
    w = JournalWriter(path)
    for ev in sample_events()[:4]:
        w.write(ev)
    w.close()
    with path.open("a") as f:
        f.write('{"ts": 1700000009.0, "type": "speech_created", "spee')  # kill -9 mid-line
    with caplog.at_level(logging.WARNING, logger="lkmon.store.journal"):
        events = read_journal(path)
    assert events == sample_events()[:4]
    assert any("torn last line" in r.getMessage() for r in caplog.records)


def test_a_bad_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"ts": 1, "type": "speech_created", "speech_id": "a"}\nnot json\n{"ts": 2}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_journal(path)


def test_secrets_are_redacted(tmp_path: Path) -> None:
    secret = "sk-test-6f1e0c9a2b7d4e11"
    default_redactor().add([secret])
    path = tmp_path / "j.jsonl"
    w = JournalWriter(path)
    w.write(LogRecord(ts=1.0, level="INFO", logger="x", message=f"key={secret}"))
    w.write(ChatMessageAdded(ts=2.0, item_id="i", role="user", text=f"my key is {secret}"))
    w.close()
    text = path.read_text()
    assert secret not in text and text.count("[REDACTED]") == 2


def test_writing_does_not_block_the_caller(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j.jsonl")
    events = [VadActivity(ts=float(i), event="inference", probability=0.5) for i in range(20000)]
    start = time.perf_counter()
    for ev in events:
        w.write(ev)
    per_event = (time.perf_counter() - start) / len(events)
    w.close()
    assert per_event < 50e-6, per_event  # a queue put, not a disk write
    assert len(read_journal(tmp_path / "j.jsonl")) == 20000


def test_default_path_is_new(tmp_path: Path) -> None:
    first = default_journal_path(now=0, folder=tmp_path)
    first.write_text("")
    second = default_journal_path(now=0, folder=tmp_path)
    assert first != second and not second.exists()
    assert first.name.endswith(".journal.jsonl")
