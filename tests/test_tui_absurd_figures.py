"""A huge figure neither hangs the app nor grows its memory (issue 11, point 9).

lkmon 0.1 built the Turns ruler's ticks as ``scale / 60`` values: an e2e latency of 1.7e9 s
took 40 s to first draw and about 1 GB, and 1e300 never drew. Every scale is bounded now; a bar
beyond an hour is not drawn but said (``> 1 h``), and the figure is shown short, as such.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

from synthetic import demo_session
from textual.widgets import Static

from lkmon.model.events import ChatMessageAdded
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_s
from lkmon.report.html import build_html_report
from lkmon.sources import ReplaySource
from lkmon.store.convert import to_snapshot
from lkmon.store.snapshot import write_snapshot
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.bars import ABSURD_SECONDS, friendly_scale, render_bar, ruler_ticks
from lkmon.tui.widgets.turns import TurnsList

HUGE = (1.7e9, 1e300)


def _snapshot_with_huge_figures(tmp_path: Path) -> Path:
    """The demo session with its first replies' e2e latency 1.7e9 s and 1e300 s, saved."""
    events = demo_session()
    huge = iter(HUGE)
    for ev in events:
        if isinstance(ev, ChatMessageAdded) and "e2e_latency" in ev.metrics:
            value = next(huge, None)
            if value is None:
                break
            ev.metrics["e2e_latency"] = value
    model = SessionModel()
    model.apply_many(events)
    return write_snapshot(model, tmp_path / "huge.json")


async def test_a_replayed_huge_figure_draws_at_once(tmp_path: Path) -> None:
    source = ReplaySource(_snapshot_with_huge_figures(tmp_path))
    model = source.open()
    e2e = [t.metrics.e2e_latency for t in model.turns]
    assert HUGE[0] in e2e and HUGE[1] in e2e
    started = time.perf_counter()
    app = LkmonApp(model, source, export_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first_frame = time.perf_counter() - started
        turns = app.query_one(TurnsList)
        assert turns.scale <= 60.0  # the other turns' scale, not an hour's or 1e300's
        rows = [turns.row_text(i).plain for i in range(len(model.turns))]
        huge_rows = [r for r in rows if "> 1 h" in r]
        assert len(huge_rows) == 2, rows
        assert any("1.7e+09 s" in r for r in huge_rows) and any("1e+300 s" in r for r in rows)
        assert all("█" in r for r in rows if "> 1 h" not in r and "—" not in r)
        ruler = str(app.query_one("#turns-ruler", Static).render())
        assert 2 <= ruler.count("s") <= 8, ruler  # a few labels: "0s", "1s", ...
        await pilot.press("enter")  # the turn detail of the newest turn draws too
        await pilot.pause()
    assert first_frame < 10.0, first_frame


def test_the_html_report_bounds_its_scale_too(tmp_path: Path) -> None:
    model = ReplaySource(_snapshot_with_huge_figures(tmp_path)).open()
    html = build_html_report(to_snapshot(model))
    assert html.count("&gt; 1 h") == 2  # the two absurd turns, tagged and not drawn
    scale = re.search(r"bar scale: ([^<]*) full width", html)
    assert scale is not None and "e+" not in scale.group(1), scale


def test_every_scale_is_bounded() -> None:
    for longest in (1.7e9, 1e300, math.inf, math.nan):
        assert friendly_scale(longest) == ABSURD_SECONDS
        for max_ticks in (2, 6):
            ticks = ruler_ticks(friendly_scale(longest), max_ticks)
            assert 2 <= len(ticks) <= max_ticks + 1
    assert ruler_ticks(1e300, 6) == ruler_ticks(ABSURD_SECONDS, 6)
    assert ruler_ticks(math.nan, 6) == [0.0]
    assert ruler_ticks(3.0, 6) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    bar = render_bar([("llm_ttft", 1e300)], 30, 1.0)
    assert bar.plain.strip() == "> 1 h" and len(bar.plain) == 30
    assert fmt_s(1.7e9) == "1.7e+09 s" and fmt_s(0.412) == "0.412 s"
