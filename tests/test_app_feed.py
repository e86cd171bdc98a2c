"""The app's plumbing without Textual: the event feed and the exports."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from synthetic import T0, demo_session

from lkmon.model.areas import Area
from lkmon.model.events import AudioLevel, LogRecord, VadActivity
from lkmon.model.state import SessionModel
from lkmon.report import bundle as exports
from lkmon.tui import feed
from lkmon.tui.feed import EventFeed


def test_feed_keeps_order_and_coalesces_levels() -> None:
    model = SessionModel()
    errors: list[tuple[str, BaseException]] = []
    f = EventFeed(model, lambda where, e: errors.append((where, e)))
    events = demo_session()
    for ev in events:
        f.post(ev)
    levels = sum(isinstance(ev, AudioLevel) for ev in events)
    assert levels > 10 and len(f) == len(events) - levels
    n, changed = f.drain()
    assert n == len(events) - levels + 2  # the latest mic and agent levels only
    assert {Area.TURNS, Area.TRANSCRIPT, Area.VAD, Area.USAGE, Area.STATUS} <= changed
    assert len(model.turns) == 8 and not errors
    last_mic = [ev for ev in events if isinstance(ev, AudioLevel) and ev.source == "mic"][-1]
    assert model.levels.mic_dbfs == last_mic.dbfs


def test_feed_drain_limit_pause_and_model_errors() -> None:
    class Broken(SessionModel):
        def apply(self, event):  # type: ignore[no-untyped-def]
            if isinstance(event, LogRecord):
                raise RuntimeError("model bug")
            return super().apply(event)

    errors: list[str] = []
    f = EventFeed(Broken(), lambda where, e: errors.append(f"{where}: {e}"))
    for i in range(10):
        f.post(VadActivity(ts=T0 + i, event="inference", probability=0.5))
    f.post(LogRecord(ts=T0, level="INFO", logger="x", message="m"))
    f.paused += 1
    assert f.drain() == (0, set())
    f.paused -= 1
    n, changed = f.drain(limit=4)
    assert n == 4 and changed == {Area.VAD} and len(f) == 7
    n, _ = f.drain()
    assert n == 7 and errors == ["model.apply(LogRecord): model bug"]


def test_feed_drops_beyond_its_bound_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(feed, "MAX_QUEUE", 5)
    f = EventFeed(SessionModel(), lambda where, e: None)
    for i in range(8):
        f.post(VadActivity(ts=T0 + i, event="inference"))
    assert len(f) == 5
    with caplog.at_level(logging.WARNING, logger="lkmon.tui.feed"):
        f.drain()
    assert f.dropped_total == 3 and "3 events dropped" in caplog.text


def test_export_session_writes_three_files(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    written, failures = exports.export_session(model, tmp_path, "lkmon-x", svg="<svg/>")
    assert not failures and sorted(p.name for p in written) == [
        "lkmon-x.html", "lkmon-x.json", "lkmon-x.svg"]
    assert json.loads((tmp_path / "lkmon-x.json").read_text())["lkmon_snapshot"] == 5
    assert "<html" in (tmp_path / "lkmon-x.html").read_text().lower()
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in written)
    again, _ = exports.export_session(model, tmp_path, "lkmon-x", svg="<svg/>")
    assert sorted(p.name for p in again) == ["lkmon-x-1.html", "lkmon-x-1.json", "lkmon-x-1.svg"]


def test_export_session_failure_leaves_no_empty_file(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    target = tmp_path / "not-a-dir"
    target.write_text("a file where the directory should be")
    written, failures = exports.export_session(model, target, "lkmon-x", svg="<svg/>")
    assert written == [] and len(failures) == 3
    assert all("Not a directory" in f or "Errno" in f for f in failures)


def test_a_failed_writer_leaves_no_reserved_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "write_html_file", disk_full)
    model = SessionModel()
    model.apply_many(demo_session())
    written, failures = exports.export_session(model, tmp_path, "lkmon-x", svg="<svg/>")
    assert sorted(p.name for p in written) == ["lkmon-x.json", "lkmon-x.svg"]
    assert failures == ["report: [Errno 28] No space left on device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lkmon-x.json", "lkmon-x.svg"]
