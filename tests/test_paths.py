"""lkmon.paths: the sessions folder, file names, and never overwriting."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from lkmon import paths

STAMP = r"\d{8}-\d{6}"


def test_sessions_dir_honours_the_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.sessions_dir({}) == Path("lkmon-sessions")
    assert paths.sessions_dir({"LKMON_SESSIONS": "  "}) == Path("lkmon-sessions")
    assert paths.sessions_dir({"LKMON_SESSIONS": str(tmp_path)}) == tmp_path
    monkeypatch.setenv("LKMON_SESSIONS", str(tmp_path / "s"))
    name = paths.session_file("journal", ".jsonl", now=0)
    assert name.parent == tmp_path / "s"
    assert re.fullmatch(STAMP + r"\.journal\.jsonl", name.name)


def test_next_free_counts_and_reserve_creates(tmp_path: Path) -> None:
    first = paths.reserve(tmp_path, "lkmon-x", ".json")
    assert first.name == "lkmon-x.json" and first.stat().st_size == 0
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    first.write_text("keep")
    assert paths.next_free(tmp_path, "lkmon-x", ".json").name == "lkmon-x-1.json"
    second = paths.reserve(tmp_path, "lkmon-x", ".json")
    assert second.name == "lkmon-x-1.json" and first.read_text() == "keep"
    assert paths.reserve(tmp_path, "lkmon-x", ".json").name == "lkmon-x-2.json"
    paths.release(second)  # left empty by a failed writer: removed
    paths.release(first)  # has content: kept
    assert not second.exists() and first.read_text() == "keep"


def test_a_named_file_that_exists_gets_a_stamped_name_beside_it(tmp_path: Path) -> None:
    mine = tmp_path / "out.snapshot.json"
    assert paths.beside(mine) == mine
    mine.write_text("keep")
    new = paths.beside(mine, now=0)
    assert new.parent == tmp_path and not new.exists()
    assert re.fullmatch(r"out-" + STAMP + r"\.snapshot\.json", new.name)
    assert re.fullmatch(r"out-" + STAMP + r"\.json", paths.beside(
        _touch(tmp_path / "out"), now=0).name)


def test_names_in_a_folder_and_for_exports(tmp_path: Path) -> None:
    a = paths.file_in(tmp_path, "snapshot", ".json", now=0)
    assert re.fullmatch(r"lkmon-" + STAMP + r"\.snapshot\.json", a.name)
    a.write_text("x")
    b = paths.file_in(tmp_path, "snapshot", ".json", now=0)
    assert b.name == a.name.replace(".snapshot", "-1.snapshot")
    assert re.fullmatch(r"lkmon-" + STAMP, paths.export_stem(0))


def _touch(path: Path) -> Path:
    path.write_text("")
    return path
