"""The headless end-of-session table and cost line, rendered from the snapshot."""

from __future__ import annotations

from pathlib import Path

from lkmon.model.state import SessionModel
from lkmon.report.text import cost_line, turn_table, whatif_table
from lkmon.store.convert import to_snapshot
from lkmon.store.snapshot import load_snapshot, write_snapshot
from tests.synthetic import demo_session


def test_the_table_and_cost_line_come_from_the_snapshot(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    snap = to_snapshot(model)
    table = turn_table(snap)
    whatif = whatif_table(snap)  # the demo has pauses: the what-if follows after a blank line
    assert whatif and table.endswith("\n\n" + whatif)
    lines = table[: -len(whatif) - 2].splitlines()
    assert lines[0].split() == ["turn", "speech_id", "EOU", "delay", "LLM", "TTFT", "TTS", "TTFB",
                                "e2e", "latency", "user"]
    assert len(lines) == 2 + 8 + 1 + 2  # head, rule, a row per turn, rule, p50, p95
    assert "(greeting)" in lines[2] and lines[3].split()[2:6] == [
        "0.550", "s", "0.310", "s"]
    p50 = snap.summary.stages["e2e"].p50
    assert lines[-2].startswith(" p50") and lines[-2].endswith(f"{p50:.3f} s")
    # the same from a model (converted), and from the file written at the end
    loaded = load_snapshot(write_snapshot(model, tmp_path / "s.json"))
    assert turn_table(model) == table == turn_table(loaded)
    assert cost_line(loaded) == cost_line(snap) == cost_line(model)
    assert cost_line(snap).startswith("lkmon: estimated cost 0 USD (llama.cpp/smollm2")
