"""``lkmon sessions``' table: every column piped, the least needed left out on a narrow terminal
(named under the table), the interruption counts from a real store, and ``--json``'s keys."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from lkmon.cli import main
from lkmon.report.sessions_text import COLUMNS, DROP_ORDER, print_sessions, when_format

HEADERS = [c.header for c in COLUMNS]


def _row(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session_id": f"{n:08d}-0739-4b0d-ac3c-8801b3c0e4af", "started_at": 1796286972.0 + n,
        "duration": 30.0, "agent_file": "/home/dev/agents/support_agent.py",
        "models": {"vad": "ONNX/silero", "stt": "faster-whisper/whisper-tiny.en",
                   "llm": "llama.cpp/smollm2-135m-instruct", "tts": "piper/en_US-joe-medium"},
        "turns": 8, "e2e_count": 7, "e2e_p50": 1.183, "e2e_p95": None, "cost": 0.0,
        "currency": "USD", "tags": {}, "close_reason": "user_initiated", "error_count": 1,
        "failed_turn_count": 1,
        "interruptions": {"cut_in_early": 1, "barge_in": 2, "false_interruption": 0},
        "false_interruptions": 0, "false_resumed": 0, "overlapping_speech": 3,
        "overlapping_interruptions": 1,
    }
    row.update(over)
    return row


def _table(rows: list[dict[str, Any]], width: int | None) -> list[str]:
    out = io.StringIO()
    print_sessions(rows, out, width)
    return out.getvalue().splitlines()


def test_piped_every_column_is_shown_with_no_note() -> None:
    rows = [_row(1), _row(2, e2e_p95=1.9, e2e_count=25, interruptions=None,
                          overlapping_speech=None, close_reason="incomplete")]
    lines = _table(rows, None)
    assert lines[0].split() == ["id", "when", "agent", "models", "turns", "e2e", "p50", "e2e",
                                "p95", "barge", "early", "false", "overlaps", "errors", "close",
                                "cost"]
    assert len(lines) == 3  # no note: nothing left out
    assert "  whisper-tiny.en, smollm2-135m-instruct, en_US-joe-medium  " in lines[1]
    # too few e2e figures for a p95; a count stored before schema 4 is unknown, not 0
    assert "1.183 s  too few      2      1      0         3       1  user_initiated" in lines[1]
    assert "1.900 s      -      -      -         -       1  incomplete" in lines[2]
    assert all(line == line.rstrip() for line in lines)


def _shown_and_note(lines: list[str], width: int) -> tuple[list[str], list[str], list[str]]:
    """The headers shown, and the note's columns left out for the width and as 0 in every row
    (checked against the note's exact wording)."""
    shown = [h for h in HEADERS if f" {h}" in f" {lines[0]}"]
    at = next((i for i, ln in enumerate(lines) if ln.startswith("(hidden at")), None)
    if at is None:
        return shown, [], []
    note = " ".join(lines[at:])
    prefix, suffix = f"(hidden at {width} columns: ", "; --json has every key)"
    assert note.startswith(prefix) and note.endswith(suffix), note
    dropped, zero = [], []
    for part in note[len(prefix):-len(suffix)].split("; "):
        if part.startswith("0 in every row: "):
            zero = part.removeprefix("0 in every row: ").split(", ")
        else:
            dropped = part.split(", ")
    return shown, dropped, zero


@pytest.mark.parametrize("width", [200, 160, 120, 100, 80, 60])
def test_a_narrow_terminal_leaves_out_the_least_needed_columns_and_says_which(
        width: int) -> None:
    lines = _table([_row(1), _row(2)], width)
    shown, dropped, zero = _shown_and_note(lines, width)
    assert all(cell_len(line) <= width for line in lines), lines
    assert {"id", "when", "turns", "e2e p50", "close"} <= set(shown)
    # every column is shown or named under the table, once; those named go in their order
    assert sorted(shown + dropped + zero) == sorted(HEADERS)
    assert dropped == [h for h in HEADERS if h in dropped]
    by_key = {c.header: c.key for c in COLUMNS}
    assert all(by_key[h] in DROP_ORDER for h in dropped)
    # only the false column is 0 in both rows (barge 2, early 1, overlaps 3)
    assert zero == ([] if width == 200 else ["false"])
    if "models" not in shown:  # the models rank above every interruption count
        assert not {"barge", "early", "false", "overlaps"} & set(shown), shown
    if width == 200:  # the whole table fits: nothing left out, no note
        assert shown == HEADERS and len(lines) == 3
    if width == 160:  # the models shortened to fit, with an ellipsis
        assert shown == [h for h in HEADERS if h != "false"] and "…" in lines[1]
    if width == 120:  # the models, cost and errors stay; interruption counts make room
        assert shown == ["id", "when", "agent", "models", "turns", "e2e p50", "e2e p95",
                         "barge", "errors", "close", "cost"], shown
        assert dropped == ["early", "overlaps"]
        assert "  whisper-tiny.en…  " in lines[1]
    if width == 80:
        assert shown == ["id", "when", "agent", "turns", "e2e p50", "e2e p95", "close"]


ZEROS = {"interruptions": {"cut_in_early": 0, "barge_in": 0, "false_interruption": 0},
         "overlapping_speech": 0, "error_count": 0}
"""A session without interruptions or overlaps: the usual local session."""


@pytest.mark.parametrize("width", [200, 120, 80])
def test_interruption_columns_that_are_0_in_every_row_make_room(width: int) -> None:
    lines = _table([_row(1, **ZEROS), _row(2, **ZEROS)], width)
    shown, dropped, zero = _shown_and_note(lines, width)
    assert all(cell_len(line) <= width for line in lines), lines
    if width == 200:  # it all fits: the zeros are shown
        assert shown == HEADERS and (dropped, zero) == ([], [])
        return
    assert zero == ["barge", "early", "false", "overlaps"]
    if width == 120:  # the models get the room, errors (0 too) and cost stay
        assert shown == ["id", "when", "agent", "models", "turns", "e2e p50", "e2e p95",
                         "errors", "close", "cost"] and dropped == []
        assert "  whisper-tiny.en, smoll…  " in lines[1]
        assert lines[-1] == ("(hidden at 120 columns: 0 in every row: barge, early, false, "
                             "overlaps; --json has every key)")
    if width == 80:
        assert shown == ["id", "when", "agent", "turns", "e2e p50", "e2e p95", "close"]
        assert dropped == ["models", "errors", "cost"]


def test_a_column_is_left_out_as_0_only_when_every_row_is_0() -> None:
    """One row's barge-in keeps the barge column; an unknown count (``-``, stored before schema
    4) is not 0; piped, the zeros are shown."""
    rows = [_row(1, **ZEROS), _row(2, **{**ZEROS, "interruptions": {
        "cut_in_early": 0, "barge_in": 1, "false_interruption": 0}}),
            _row(3, **{**ZEROS, "overlapping_speech": None})]
    shown, _, zero = _shown_and_note(_table(rows, 120), 120)
    assert zero == ["early", "false"] and "barge" in shown and "overlaps" not in zero
    assert _table(rows, None)[0].split()[9:13] == ["barge", "early", "false", "overlaps"]


def test_the_when_column_has_the_year_only_when_a_session_is_from_another_year() -> None:
    now = 1796286972.0  # 2026-12
    assert when_format([_row(1)], now) == "%m-%d %H:%M"
    assert when_format([_row(1), _row(2, started_at=1767225600.0 - 86400 * 30)], now) == (
        "%Y-%m-%d %H:%M")


def test_the_store_and_lkmon_sessions_show_a_session_s_interruptions(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """A real session's interruptions (one turn of each class, a false interruption LiveKit
    resumed, an overlap) reach the store's ``sessions`` counts, ``--json`` and the table."""
    from lkmon.model.state import SessionModel
    from lkmon.store.db import Store
    from lkmon.store.snapshot import write_snapshot
    from tests.test_interruptions import _session

    model = SessionModel()
    model.apply_many(_session())
    snap = write_snapshot(model, tmp_path / "s.json")
    db = str(tmp_path / "s.db")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["import", "--db", db, str(snap)]) == 0
    with Store(db) as store:
        (row,) = store.sessions()
    assert {k: row[k] for k in ("cut_in_early_turns", "barge_in_turns", "false_interruption_turns",
                                "false_interruptions", "false_resumed", "overlapping_speech")} == {
        "cut_in_early_turns": 1, "barge_in_turns": 1, "false_interruption_turns": 1,
        "false_interruptions": 1, "false_resumed": 1, "overlapping_speech": 1}
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sessions", "--db", db, "--json"]) == 0
    (got,) = json.loads(out.getvalue())["sessions"]
    assert got["interruptions"] == {"cut_in_early": 1, "barge_in": 1, "false_interruption": 1}
    assert (got["false_interruptions"], got["false_resumed"], got["overlapping_speech"],
            got["overlapping_interruptions"]) == (1, 1, 1, 0)
    assert got["close_reason"] and got["error_count"] == 0
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sessions", "--db", db]) == 0
    head, line = out.getvalue().splitlines()[:2]
    cells = dict(zip(["barge", "early", "false", "overlaps"], line.split()[-8:-4], strict=True))
    assert "barge  early  false  overlaps" in head and cells == dict.fromkeys(cells, "1")
    monkeypatch.setenv("COLUMNS", "120")  # the models stay; interruption counts make room
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sessions", "--db", db]) == 0
    lines = out.getvalue().splitlines()
    shown, dropped, zero = _shown_and_note(lines, 120)
    assert "models" in shown and dropped and set(dropped) <= {"barge", "early", "false",
                                                               "overlaps"}
    assert zero == []  # every count is 1
