"""An exception inside an lkmon widget's render and inside a bridge handler, with a real agent
session running in the app (the scripted agent on a recording, the real ``SessionRunner``):
both are caught, logged (the log pane) and shown (the error banner), and the agent goes on to
finish its turn.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_app import text_of

import lkmon.agent.observe.bridge as bridge_mod
from lkmon.model.areas import Area
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.turns import TurnsList

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = ROOT / "tests" / "data" / "agents" / "scripted_agent.py"
WAV = ROOT / "tests" / "data" / "librivox_sense_0880.wav"
pytestmark = pytest.mark.models  # a recording played in real time


async def test_widget_render_and_bridge_handler_errors_never_stop_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import InProcessSource

    def broken_row(self: TurnsList, position: int) -> object:
        raise ZeroDivisionError("row renderer broke")

    def broken_metrics(_metrics: object) -> object:
        raise KeyError("metrics converter broke")

    monkeypatch.setattr(TurnsList, "row_text", broken_row)
    monkeypatch.setattr(bridge_mod, "metrics_event", broken_metrics)

    options = RunOptions(agent_file=SCRIPTED, inputs=[str(WAV)], output="null", gap=0.3,
                         journal=tmp_path / "j.jsonl", capture_root_logs=True)
    source = InProcessSource(options)
    model = source.open()
    runner = source.runner
    app = LkmonApp(model, source, export_dir=tmp_path, snapshot_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while not app.session_over and time.monotonic() < deadline:
            await pilot.pause(0.3)
        app.drain()
        app.refresh_areas(set(Area), force=True)
        await pilot.pause(0.3)
        app.drain()  # the errors the last render reported
        app.refresh_areas(set(Area), force=True)
        await pilot.pause(0.3)

        # the agent finished its turn and the caller ended the session normally
        assert runner.end_reason == "caller finished" and runner.error is None
        assert [t.user_text for t in model.turns if t.complete] == ["hello number 1"]
        assert app.is_running

        # both failures shown...
        lkmon_errors = [e.message for e in model.errors if e.source == "lkmon"]
        assert any("turns.render_line" in m and "row renderer broke" in m
                   for m in lkmon_errors), lkmon_errors
        assert any("bridge metrics_collected: KeyError" in m for m in lkmon_errors), lkmon_errors
        assert app.banner.display and "lkmon:" in text_of(app.banner)
        # ...once each, however often they happened (every metric, every frame)
        assert len(lkmon_errors) == len(set(lkmon_errors))
        # ...and logged, into the log pane
        log_pane = " ".join(app.log_pane.rendered_text().split())
        assert "row renderer broke" in log_pane
        assert "lkmon bridge handler for metrics_collected failed" in log_pane

        await pilot.press("q")
        deadline = time.monotonic() + 15
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.2)
    assert app.return_value == tmp_path / "s.json"
