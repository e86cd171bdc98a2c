"""The panes' pure helpers and their content for scripted sessions."""

from __future__ import annotations

import pytest
from synthetic import T0, Script
from test_app import CLOCK, RecordingSource, demo_model, settle, text_of

from lkmon.model.events import ModelUsage, PluginMetrics, UsageUpdated, UserTranscribed
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_cost, fmt_duration, fmt_offset, fmt_s, label, rate_e2e
from lkmon.redact import TEXT_PLACEHOLDER, Redactor, placeholder
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.bars import bar_segments, friendly_scale, render_bar, ruler_ticks
from lkmon.tui.widgets.common import e2e_style, level_bar
from lkmon.tui.widgets.messages import WidgetError
from lkmon.tui.widgets.usage import UsagePane
from lkmon.tui.widgets.vad import bin_trace, plot


def test_render_bar_is_proportional_on_one_scale() -> None:
    parts = [("eou", 0.5), ("llm_ttft", 0.25), ("tts_ttfb", 0.25)]
    bar = render_bar(parts, 40, 2.0)
    assert bar.cell_len == 40
    assert bar.plain.count("█") == 20  # 1.0 s of 2.0 s on 40 cells
    spans = [(bar.plain[s.start:s.end], str(s.style)) for s in bar.spans]
    assert [len(t) for t, _ in spans[:3]] == [10, 5, 5]
    half = render_bar([("eou", 1.0)], 40, 2.0)
    assert half.plain.count("█") == 20
    assert render_bar([("eou", 4.0)], 10, 2.0).plain == "█" * 10  # clipped, never wider


def test_bar_segments_add_the_rest_of_e2e() -> None:
    model = demo_model()
    turn4 = model.turns[3]
    segments = dict(bar_segments(turn4))
    assert set(segments) == {"eou", "llm_ttft", "tts_ttfb", "other"}
    assert sum(segments.values()) == pytest.approx(turn4.metrics.e2e_latency)
    typed = dict(bar_segments(model.turns[2]))
    assert "eou" not in typed and "other" not in typed  # no user timings, no e2e


def test_vad_plot_draws_each_column_in_eighths_of_a_row() -> None:
    from lkmon.tui.widgets.common import ACCENT, DIM, GOOD

    top, bottom = plot([None, 0.0, 0.3, 0.5, 1.0], rows=2)  # 16 eighths: 0, 5, 8, 16
    assert (top.plain, bottom.plain) == ("    █", "·▁▅██")  # no data: a dot; 0: a low bar
    runs = [(s.start, s.end, str(s.style)) for s in bottom.spans]
    assert runs == [(0, 1, DIM), (1, 3, ACCENT), (3, 5, GOOD)]  # speech (>= 0.5) in green
    assert [(s.start, s.end) for s in top.spans] == [(0, 1), (1, 3), (3, 5)]


def test_scales_and_ticks() -> None:
    assert friendly_scale(0.2) == 1.0
    assert friendly_scale(1.95) == 2.0
    assert friendly_scale(2.01) == 2.5
    assert friendly_scale(75) == 120.0
    assert ruler_ticks(2.0, 4) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert ruler_ticks(3.0, 3) == [0.0, 1.0, 2.0, 3.0]


def test_vad_trace_binning_and_plot() -> None:
    trace = [(T0 + i * 0.1, 0.9 if 100 <= i < 200 else 0.05) for i in range(300)]
    bins = bin_trace(trace, T0, T0 + 30, 30)
    assert len(bins) == 30
    assert bins[0] == pytest.approx(0.05) and bins[15] == pytest.approx(0.9)
    assert bin_trace([], T0, T0 + 30, 10) == [None] * 10
    rows = [text.plain for text in plot(bins, rows=4)]
    assert len(rows) == 4 and all(len(r) == 30 for r in rows)
    assert rows[0][15] != " " and rows[0][0] == " "  # speech reaches the top row, silence not


def test_formatting() -> None:
    assert fmt_s(None) == "-" and fmt_s(float("nan")) == "-" and fmt_s(1.2345) == "1.234 s"
    assert fmt_s(12.34, 1) == "12.3 s" and fmt_s(-0.5, signed=True) == "-0.500 s"
    assert fmt_duration(3725) == "1:02:05" and fmt_duration(65) == "1:05"
    assert fmt_cost(None) == "?" and fmt_cost(0) == "0" and fmt_cost(0.001) == "0.0010"
    assert fmt_cost(1.2) == "1.20"
    assert fmt_offset(100.0 + 75.25, 100.0) == "+1:15.2" and fmt_offset(None, 1.0) == ""
    assert label("eou") == "EOU delay" and label("e2e") == "e2e latency" and label(None) == "-"
    assert [rate_e2e(v, (1.0, 2.0)) for v in (0.5, 1.0, 2.0, None)] == [
        "good", "warn", "bad", None]
    assert "#a3be8c" in e2e_style(0.5, (1.0, 2.0)) and "#bf616a" in e2e_style(2.5, (1.0, 2.0))
    assert level_bar(None).plain == "········"
    assert level_bar(0.0).plain == "████████"
    assert placeholder("Hi there!") == "██ ██████" and placeholder(None) is None


def test_one_placeholder_for_redacted_text_and_one_for_secrets() -> None:
    redactor = Redactor(["sk-PLANTED-1234"])
    assert redactor.shown("key sk-PLANTED-1234 ok", mask=False) == "key [REDACTED] ok"
    # secrets first (a secret's length is never told), then every visible character
    masked = redactor.shown("key sk-PLANTED-1234 ok", mask=True)
    assert masked == "███ ██████████ ██" and set(masked) == {TEXT_PLACEHOLDER, " "}


async def test_interim_user_text_is_shown_dimmed_then_replaced() -> None:
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_event(UserTranscribed(ts=T0, text="what is the", is_final=False))
        await settle(pilot)
        lines = app.transcript_pane.rendered_text()
        assert "what is the" in lines and "…" in lines
        strip = app.transcript_pane.line(app.transcript_pane.line_count - 1)
        styles = [seg.style for seg in strip if "what" in seg.text]
        assert styles and styles[0].italic and styles[0].dim is not True  # italic, dim colour


@pytest.mark.parametrize("kept", [2000, 80])
async def test_transcript_redraws_only_what_changed_and_wraps_as_from_scratch(kept: int) -> None:
    """An entry changed in place with the same line count redraws only its lines (on screen
    at once); a long session's kept lines are those a wrap from scratch gives, also once the
    oldest entries leave the bounded transcript (``kept`` entries)."""
    from synthetic import synthetic_session
    from textual.geometry import Region

    events = synthetic_session(60)
    app = LkmonApp(SessionModel(max_transcript=kept), RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(0, len(events), 50):
            app.apply_events(events[i:i + 50])
            await pilot.pause()
        pane = app.transcript_pane
        assert (len(app.model.transcript) == kept) == (kept < 100)  # 80: full, oldest gone
        ts = events[-1].ts + 1
        app.post_event(UserTranscribed(ts=ts, text="what is the", is_final=False))
        await settle(pilot)
        regions: list[tuple[Region, ...]] = []
        refresh = pane.refresh
        pane.refresh = lambda *r, **kw: regions.append(r) or refresh(*r, **kw)  # type: ignore
        app.post_event(UserTranscribed(ts=ts + 0.1, text="what is thy", is_final=False))
        await settle(pilot)
        assert [tuple(r.height for r in call) for call in regions] == [(1,)], regions
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "what is thy" in screen and "what is the" not in screen
        shown = pane.rendered_text()
        pane._cache_width = 0  # forget every kept line count: wrap it all again
        pane.update_view()
        assert pane.rendered_text() == shown and len(pane._items) > 80


async def test_usage_pane_costs_a_priced_model() -> None:
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_event(UsageUpdated(ts=T0, usage=[
            ModelUsage(kind="llm", provider="livekit", model="openai/gpt-4.1-mini",
                       input_tokens=1_000_000, input_cached_tokens=0, output_tokens=500_000),
            ModelUsage(kind="tts", provider="piper", model="joe", characters_count=1200,
                       audio_duration=12.5),
            ModelUsage(kind="stt", provider="nobody-knows", model="x", audio_duration=30.0),
        ]))
        await settle(pilot)
        text = text_of(app.usage_pane)
        assert "livekit/openai/gpt-4.1-mini  1.20" in text  # 0.40 + 0.80
        assert "1,200 chars" in text and "12.5 s audio" in text and "0 local" in text
        assert "30.0 s audio" in text and "?" in text  # unknown price: never shown as 0
        assert "total 1.20 USD" in text


async def test_usage_pane_names_openai_rows_by_provider_and_shows_the_via_host() -> None:
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        for provider in ("api.openai.com", "127.0.0.1:8000"):
            app.post_event(PluginMetrics(ts=T0, kind="llm", label="livekit.plugins.openai.llm.LLM",
                                         provider=provider, model="gpt-4.1"))
        app.post_event(UsageUpdated(ts=T0, usage=[
            ModelUsage(kind="llm", provider="api.openai.com", model="gpt-4.1",
                       input_tokens=1_000_000),
            ModelUsage(kind="llm", provider="127.0.0.1:8000", model="gpt-4.1",
                       input_tokens=1_000_000, output_tokens=100_000),
        ]))
        await settle(pilot)
        text = text_of(app.usage_pane)
        assert "openai/gpt-4.1  2.00" in text  # 1M prompt tokens at $2.00, not "?"
        assert "openai/gpt-4.1 via 127.0.0.1:8000  2.80" in text  # + 100k completion at $8.00
        assert "api.openai.com" not in text and "total 4.80 USD" in text


async def test_log_level_filter() -> None:
    s = Script(background=False).start()
    s.spoken_turn("Hi", "Hello.")
    model = SessionModel()
    model.apply_many(s.close())
    from lkmon.model.events import LogRecord

    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        model.apply(LogRecord(ts=T0 + 50, level=level, logger="livekit", message=f"{level} line"))
    app = LkmonApp(model, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        shown = app.log_pane.rendered_text()
        assert "DEBUG line" not in shown and "INFO line" in shown
        await pilot.press("l")
        shown = app.log_pane.rendered_text()
        assert app.log_pane.min_level == "WARNING"
        assert "INFO line" not in shown and "WARNING line" in shown and "ERROR line" in shown
        await pilot.press("l", "l")
        assert app.log_pane.min_level == "DEBUG" and "DEBUG line" in app.log_pane.rendered_text()


async def test_banner_key_shows_only_with_an_error() -> None:
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.check_action("dismiss_banner", ()) is False
        from lkmon.model.events import ErrorRaised

        app.post_event(ErrorRaised(ts=T0, source="tts", message="TTS returned no audio",
                                   speech_id="speech_1"))
        await settle(pilot)
        assert app.banner.display and "TTS returned no audio" in text_of(app.banner)
        assert app.check_action("dismiss_banner", ()) is True
        await pilot.press("x")
        assert not app.banner.display
        app.post_event(ErrorRaised(ts=T0 + 1, source="llm", message="second", recoverable=False))
        await settle(pilot)
        assert app.banner.display and app.banner.has_class("-fatal")
        assert "no retry left" in text_of(app.banner)


async def test_a_pane_failure_is_posted_as_a_widget_error_message() -> None:
    seen: list[object] = []
    app = LkmonApp(demo_model(), clock=lambda: CLOCK)

    def broken() -> None:
        raise RuntimeError("boom in usage")

    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await pilot.pause()
        app.usage_pane.build = broken  # type: ignore[method-assign]
        app.usage_pane.update_view()  # guarded: swallowed and posted
        await settle(pilot)  # the message reaches the app...
        await settle(pilot)  # ...whose error event is folded into the model
        errors = {id(m): m for m in seen if isinstance(m, WidgetError)}.values()  # it bubbles
        assert [(m.where, str(m.error)) for m in errors] == [("usage.update_view", "boom in usage")]
        assert any("usage.update_view: RuntimeError: boom in usage" in e.message
                   for e in app.model.errors)


def test_a_pane_that_is_not_running_logs_its_failure(caplog: pytest.LogCaptureFixture) -> None:
    pane = UsagePane(demo_model(), clock=lambda: CLOCK)
    pane.build = lambda: 1 / 0  # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="lkmon.ui"):
        pane.update_view()
    assert "error in usage.update_view: division by zero" in caplog.text


async def test_a_long_session_keeps_the_views_caches_bounded_and_one_scale() -> None:
    from synthetic import synthetic_session

    from lkmon.model.vocab import is_absurd
    from lkmon.tui.widgets.bars import bar_length
    from lkmon.tui.widgets.lines import STRIP_CACHE_ITEMS
    from lkmon.tui.widgets.log import level_no

    events = synthetic_session(150)
    app = LkmonApp(SessionModel(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        rows = app.turns_pane.list
        for i in range(0, len(events), 400):
            app.apply_events(events[i:i + 400])
            await pilot.pause()
            bound = 2 * max(rows.size.height, 20) + rows.size.height  # cleared, then drawn
            assert len(rows._row_cache) <= bound
            assert len(app.transcript_pane._strips) <= STRIP_CACHE_ITEMS
            assert len(app.log_pane._strips) <= STRIP_CACHE_ITEMS
        turns = app.model.turns
        assert len(turns) == 150
        longest = max(bar_length(t) for t in turns if not is_absurd(bar_length(t)))
        assert rows.scale == friendly_scale(longest)
        shown = [r for r in app.model.logs if level_no(r.level) >= level_no("INFO")]
        assert shown and app.log_pane.line_count >= len(shown)
        assert shown[-1].message[-20:].strip() in app.log_pane.rendered_text()


async def test_a_new_turn_in_a_long_session_lays_nothing_out_and_shows_the_newest_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """set_virtual_size: the turn list and the transcript grow by a turn without a layout of
    the screen (Textual lays it all out on every change of ``virtual_size``), while they fit
    and once they scroll; the list has no horizontal scrollbar, which hid its last row, the
    newest turn."""
    from collections import Counter

    from synthetic import synthetic_session
    from textual.geometry import Region
    from textual.widget import Widget

    layouts: Counter[str | None] = Counter()
    refresh = Widget.refresh

    def counted(widget: Widget, *regions: Region, layout: bool = False, **kw: bool) -> Widget:
        layouts[widget.id] += layout
        return refresh(widget, *regions, layout=layout, **kw)

    monkeypatch.setattr(Widget, "refresh", counted)
    short = synthetic_session(4)  # every turn fits: the scrollbar's track is empty
    app = LkmonApp(SessionModel(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        layouts.clear()
        for i in range(0, len(short), 15):
            app.apply_events(short[i:i + 15])
            await pilot.pause()
        rows = app.turns_pane.list
        assert layouts["turns-list"] == 0, layouts
        assert rows.max_scroll_y == 0 and rows.virtual_size.height == 4
        assert [line.split()[0] for line in text_of(rows).splitlines()[:4]] == ["1", "2", "3", "▶"]
    events = synthetic_session(60)
    app = LkmonApp(SessionModel(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_events(events[:len(events) // 2])
        await pilot.pause()
        rows = app.turns_pane.list
        assert rows.show_vertical_scrollbar and app.transcript_pane.show_vertical_scrollbar
        layouts.clear()
        for i in range(len(events) // 2, len(events), 15):
            app.apply_events(events[i:i + 15])
            await pilot.pause()
        assert layouts["turns-list"] == 0 and layouts["transcript"] == 0, layouts
        assert len(app.model.turns) == 60 and rows.cursor == 59
        assert not rows.show_horizontal_scrollbar
        height = rows.scrollable_content_region.height
        assert rows.scroll_y <= rows.cursor < rows.scroll_y + height
        assert rows.virtual_size.height == 60 and rows.max_scroll_y == 60 - height
        assert "60 " in text_of(rows).splitlines()[-1]


def test_bar_lengths_find_the_longest_again_only_when_it_shrank() -> None:
    """BarLengths: the longest bar follows new turns, a turn re-measured when its metrics object
    changes (shorter, longer, absurd), and a shorter list."""
    import dataclasses

    from lkmon.tui.widgets.bars import BarLengths, bar_length

    turns = list(demo_model().turns)
    lengths = BarLengths()
    want = max(bar_length(t) for t in turns)
    assert lengths.update(turns) == pytest.approx(want) and want > 0
    top = max(range(len(turns)), key=lambda i: bar_length(turns[i]))
    rest = max(bar_length(t) for i, t in enumerate(turns) if i != top)

    def with_e2e(seconds: float) -> None:
        turns[top].metrics = dataclasses.replace(
            turns[top].metrics, e2e_latency=seconds, eou_delay=None, llm_ttft=None,
            tts_ttfb=None)

    with_e2e(0.01)  # the longest shrank: found again among the others
    assert lengths.update(turns) == pytest.approx(rest)
    with_e2e(want + 1.0)  # grew past the old longest
    assert lengths.update(turns) == pytest.approx(want + 1.0)
    with_e2e(float("inf"))  # absurd: not drawn, not the scale
    assert lengths.update(turns) == pytest.approx(rest)
    assert lengths.update(turns[:1]) == pytest.approx(bar_length(turns[0]))
    assert lengths.update([]) == 0.0


async def test_a_scrolled_list_that_loses_an_entry_draws_again_the_lines_that_moved() -> None:
    """ItemLines keeps the rows of unchanged lines when its view scrolls (tui.compat
    .keep_rendered_rows), but not those of entries that moved up: an entry leaves the middle of
    the view, and every line after it is drawn at its new place."""
    from textual.app import App, ComposeResult

    from lkmon.tui.widgets.lines import ItemLines

    class Entries(ItemLines):
        def __init__(self) -> None:
            super().__init__()
            self.entries = [f"entry {i}" for i in range(60)]

        def items(self) -> list[str]:
            return self.entries

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield Entries()

    app = Host()
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(Entries)
        await pilot.pause()
        assert pane.scroll_y == 48 and "entry 59" in text_of(pane)
        del pane.entries[55]  # on screen, mid view: entries 56-59 move up a line
        pane.entries.append("entry 60")
        pane.update_view()
        await pilot.pause()
        shown = [" ".join(s.text.split()[:2]) for s in app.screen._compositor.render_strips()]
        assert shown == [f"entry {i}" for i in range(48, 61) if i != 55], shown


async def test_a_growing_session_lays_the_screen_out_only_at_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the first event to 60 turns, the usage pane gains its models' rows, the summary its
    table, and the turn list, the transcript and the log fill their panes and scroll: none of it
    lays the screen out (20-70 ms each, live). The summary and usage heights are fixed and the
    lists' scrollbars always shown (lkmon.tcss)."""
    from synthetic import synthetic_session
    from textual.screen import Screen

    layouts: list[str] = []
    relayout = Screen._refresh_layout

    def counted(screen: Screen, *a: object, **kw: object) -> None:
        layouts.append(",".join(sorted(str(w.id) for w in screen._layout_widgets)))
        relayout(screen, *a, **kw)

    from lkmon.model.events import LoadProgress, LogRecord
    from lkmon.tui.widgets.turns import SUMMARY_EVERY

    events = []
    for i, ev in enumerate(synthetic_session(60)):  # and a log line every 100 events
        events.append(ev)
        if i % 100 == 99:
            events.append(LogRecord(ts=ev.ts, level="WARNING", logger="livekit.agents",
                                    message=f"warning {i}"))
    app = LkmonApp(SessionModel(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        # the session starts and its models load (the loading line goes: a layout, which a
        # live session has before SessionStarted)
        loaded = 1 + max(i for i, ev in enumerate(events) if isinstance(ev, LoadProgress))
        app.apply_events(events[:loaded])
        await pilot.pause()
        start = app.model.session.started_at
        assert start is not None and not app.model.turns and not app.model.costs()
        monkeypatch.setattr(Screen, "_refresh_layout", counted)
        lists = [app.turns_pane.list, app.transcript_pane, app.log_pane]
        fitted = [w.max_scroll_y == 0 for w in lists]
        for i in range(loaded, len(events), 150):
            app.apply_events(events[i:i + 150])
            await pilot.pause()
        await pilot.pause(SUMMARY_EVERY + 0.1)  # the summary's throttle
        await pilot.pause()
        assert len(app.model.turns) == 60 and app.model.costs()
        assert fitted == [True] * 3 and [w.max_scroll_y > 0 for w in lists] == [True] * 3, layouts
        usage = app.query_one("#usage")
        assert "total" in text_of(usage)
        table = app.turns_pane.summary_table().plain.splitlines()
        shown = text_of(app.query_one("#turns-summary"))
        assert len(table) >= 6 and all(row.rstrip() in shown for row in table), shown
        assert layouts == []
