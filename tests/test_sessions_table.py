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


@pytest.mark.parametrize("width", [200, 160, 120, 100, 80, 60])
def test_a_narrow_terminal_leaves_out_the_least_needed_columns_and_says_which(
        width: int) -> None:
    lines = _table([_row(1), _row(2)], width)
    shown = [h for h in HEADERS if f" {h}" in f" {lines[0]}"]
    left_out = [h for h in HEADERS if h not in shown]
    assert all(cell_len(line) <= width for line in lines), lines
    assert {"id", "when", "turns", "close"} <= set(shown)
    if left_out:
        assert lines[-1].startswith("(hidden at") or lines[-2].startswith("(hidden at")
        note = " ".join(lines[lines.index(next(ln for ln in lines if ln.startswith("(hidden"))):])
        assert note == f"(hidden at {width} columns: {', '.join(left_out)}; --json has every key)"
        by_key = {c.header: c.key for c in COLUMNS}
        # what goes, goes in DROP_ORDER (one dropped early may come back)
        assert by_key[left_out[0]] in DROP_ORDER
    else:
        assert len(lines) == 3
    if width >= 120:  # the interruption counts and the close reason stay
        assert {"barge", "early", "false", "overlaps", "close", "e2e p95", "agent"} <= set(shown)
    if width == 80:
        assert shown == ["id", "when", "agent", "turns", "e2e p50", "e2e p95", "close"]
    if width == 160:  # the models shortened to fit, with an ellipsis
        assert "models" in shown and "…" in lines[1]


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
    monkeypatch.setenv("COLUMNS", "120")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sessions", "--db", db]) == 0
    head, line = out.getvalue().splitlines()[:2]
    cells = dict(zip(["barge", "early", "false", "overlaps"], line.split()[-8:-4], strict=True))
    assert "barge  early  false  overlaps" in head and cells == dict.fromkeys(cells, "1")
