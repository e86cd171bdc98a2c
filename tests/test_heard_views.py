"""The heard gap on every view: headless lines and table, the HTML report, the Turns pane (row,
ruler, summary line) and the turn detail; a session lkmon did not measure shows none of it."""

from __future__ import annotations

from synthetic import demo_session
from test_app import CLOCK, settle, text_of
from test_heard import T, spoken_turn

from lkmon.model.events import AgentAudible, Event
from lkmon.model.state import SessionModel
from lkmon.report.html import build_html_report
from lkmon.report.text import turn_line, turn_table
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.detail import TurnDetailScreen


def measured_session() -> list[Event]:
    """Two spoken turns: #1 heard as LiveKit timed it (+10 ms), #2 through a sink that holds
    its audio 0.2 s (heard 0.2 s longer than e2e)."""
    events: list[Event] = []
    for i, (start, delay) in enumerate(((T + 2.0, 0.0), (T + 10.0, 0.2)), start=1):
        voice_end = start
        playback = voice_end + 0.8
        audible = AgentAudible(ts=playback + 0.3, at=playback + 0.01 + delay,
                               playback_started_at=playback, output_delay=delay,
                               voice_end_at=voice_end)
        events += spoken_turn(voice_end, voice_end, playback, audible, sid=f"speech_{i}")
    return events


def model_of(events: list[Event]) -> SessionModel:
    model = SessionModel()
    model.apply_many(events)
    return model


def test_headless_line_and_table() -> None:
    model = model_of(measured_session())
    plain, late = model.turns
    assert "heard gap 0.810 s  EOU" in turn_line(plain)
    assert ("heard gap 1.010 s (heard +0.210 s vs e2e: mostly buffering in the sink +0.200 s)"
            in turn_line(late))
    table = turn_table(model)
    head = table.splitlines()[0]
    assert head.index("e2e latency") < head.index("heard gap")
    assert "p50" in table and "1.010 s" in table
    assert "turn 2: heard +0.210 s vs e2e" in table and "turn 1:" not in table
    assert "sink +0.200 s" in table


def test_a_session_lkmon_did_not_measure_shows_no_heard_gap() -> None:
    model = model_of(demo_session())
    assert "heard" not in turn_table(model)
    assert all("heard" not in turn_line(t) for t in model.turns)
    assert "heard gap" not in build_html_report(model)


def test_html_report_column_percentiles_and_flag() -> None:
    page = build_html_report(model_of(measured_session()))
    assert page.count("<th class=n>heard gap</th>") == 1  # the turns table's column
    assert "<td>heard gap</td>" in page  # the percentiles' row
    assert '<td class="n differs" title="heard +0.210 s vs e2e' in page
    assert "1.010 s ≠" in page and "turn 2: heard +0.210 s vs e2e" in page


async def test_turns_pane_and_detail() -> None:
    app = LkmonApp(model_of(measured_session()), export_dir=".", clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rows = text_of(app.query_one("#turns-list"))
        assert "0.810 s" in rows and "1.010 s≠" in rows
        ruler = str(app.query_one("#turns-ruler").render())
        assert ruler.rstrip().endswith("e2e   heard")
        summary = str(app.query_one("#turns-summary").render())
        assert "heard gap" in summary and "p50 0.910 s" in summary and "1 ≠ e2e" in summary
        await pilot.press("enter")  # the cursor is on the newest turn
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TurnDetailScreen)
        content = text_of(screen.query_one("#detail-content"))
        assert "The silence the caller hears" in content
        assert "differs by over 0.1 s: heard +0.210 s vs e2e" in content
        assert "buffering in the sink +0.200 s" in content


async def test_the_column_stays_away_without_measured_audio() -> None:
    app = LkmonApp(model_of(demo_session()), export_dir=".", clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "heard" not in str(app.query_one("#turns-ruler").render())
        assert "heard" not in str(app.query_one("#turns-summary").render())
