"""Drive the Textual app headless (Pilot) with the scripted sessions of tests/synthetic.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from synthetic import T0, Script, demo_session
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from lkmon.model.events import AudioLevel, LogRecord, SessionStarted
from lkmon.model.measurements import VadActivity
from lkmon.model.state import SessionModel
from lkmon.sources import Capabilities, Emit, SessionSource
from lkmon.tui.app import LkmonApp
from lkmon.tui.widgets.detail import TurnDetailScreen
from lkmon.tui.widgets.help import HelpScreen
from lkmon.tui.widgets.keys import WATCH_ONLY

CLOCK = T0 + 60.0


class RecordingSource(SessionSource):
    """A live ``SessionSource`` for the app tests: records what the app sends; ``run`` waits for
    ``stop``. (The real in-process source is exercised end to end by the agent's tests.)"""

    def __init__(self, *, can_mute: bool = True) -> None:
        self.texts: list[str] = []
        self.muted: list[bool] = []
        self.stopped = 0
        self.started = False
        self._can_mute = can_mute
        self._stop = asyncio.Event()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(live=True, can_say=True, can_mute=self._can_mute, stops_agent=True)

    @property
    def description(self) -> str:
        return "a recording source"

    def open(self, prices: object = None) -> SessionModel:
        return SessionModel()

    async def run(self, emit: Emit) -> None:
        self.started = True
        await self._stop.wait()

    def stop(self, reason: str = "stopped") -> None:
        self.stopped += 1
        self._stop.set()

    def send_text(self, text: str) -> None:
        self.texts.append(text)

    def set_mic_muted(self, muted: bool) -> None:
        if not self._can_mute:
            super().set_mic_muted(muted)
        self.muted.append(muted)

    @property
    def mic_muted(self) -> bool:
        return bool(self.muted and self.muted[-1])


async def settle(pilot: Pilot) -> None:
    """Fold the queued events now (rather than waiting for the drain timer) and let the app
    lay out and render."""
    app = pilot.app
    assert isinstance(app, LkmonApp)
    _, changed = app.feed.drain()
    app.refresh_areas(changed, force=True)  # no wait for the panes' refresh intervals
    await pilot.pause()
    await pilot.pause()


def text_of(widget: Widget) -> str:
    """What the widget shows, as plain text (every line of it, not only the visible ones)."""
    width, height = widget.size
    if not height:  # not laid out yet
        return str(widget.render())
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def demo_model() -> SessionModel:
    model = SessionModel()
    model.apply_many(demo_session())
    return model


def replay_app(tmp_path: Path | None = None, **kw: object) -> LkmonApp:
    return LkmonApp(demo_model(), export_dir=tmp_path or ".", clock=lambda: CLOCK, **kw)


async def test_turn_cursor_navigation() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        turns = app.turns_pane
        n = len(app.model.turns)
        assert n == 8
        assert turns.list.cursor == n - 1 and turns.list.follow
        await pilot.press("k")
        assert turns.list.cursor == n - 2 and not turns.list.follow
        await pilot.press("up", "up")
        assert turns.list.cursor == n - 4
        await pilot.press("j")
        assert turns.list.cursor == n - 3
        await pilot.press("down")
        assert turns.list.cursor == n - 2
        await pilot.press("g")
        assert turns.list.cursor == 0 and turns.cursor_turn_index() == 1
        await pilot.press("G")
        assert turns.list.cursor == n - 1 and turns.list.follow
        await pilot.press("f")
        assert not turns.list.follow
        await pilot.press("f")
        assert turns.list.follow


async def test_turn_rows_show_bar_e2e_and_flags() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        lst = app.turns_pane.list
        rows = [lst.row_text(i).plain for i in range(len(app.model.turns))]
        assert "greeting" in rows[0]
        assert "1.113 s" in rows[1] and "█" in rows[1]
        assert "typed" in rows[2]
        assert "intr" in rows[4]
        assert "failed" in rows[7]
        # one scale for every turn: the longest bar (turn 4, e2e 1.95 s) is the widest
        widths = [row.count("█") for row in rows]
        assert max(widths) == widths[3]
        assert lst.scale == 2.0
        ruler = text_of(app.query_one("#turns-ruler"))
        assert "0s" in ruler and "2s" in ruler and "e2e" in ruler
        summary = app.turns_pane.summary_table()
        from rich.console import Console

        console = Console(width=120, record=True)
        console.print(summary)
        text = console.export_text()
        assert "p50" in text and "p95" in text and "max" in text
        assert "worst #4 1.953 s" in text


async def test_follow_moves_cursor_to_new_turns_only_when_following() -> None:
    s = Script(background=False).start()
    s.greeting()
    first = s.flush()
    model = SessionModel()
    app = LkmonApp(model, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        for ev in first:
            app.post_event(ev)
        await settle(pilot)
        assert len(model.turns) == 1 and app.turns_pane.list.cursor == 0
        s.drain()
        s.spoken_turn("Hi", "Hello there.")
        for ev in s.flush():
            app.post_event(ev)
        await settle(pilot)
        assert app.turns_pane.list.cursor == 1
        await pilot.press("k")
        s.drain()
        s.spoken_turn("Again", "Sure.")
        for ev in s.flush():
            app.post_event(ev)
        await settle(pilot)
        assert len(model.turns) == 3
        assert app.turns_pane.list.cursor == 0  # not following: stays put


async def test_detail_screen_shows_joined_metrics_and_goes_back() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("k", "k", "k", "k")  # turn 4: the tool-call turn
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TurnDetailScreen) and screen.index == 4
        content = text_of(screen.query_one("#detail-content"))
        for needle in ("User metrics", "transcription delay", "on_user_turn_completed delay",
                       "Assistant metrics", "LLM TTFT", "LLM tokens/s", "TTS TTFB",
                       "playback latency", "e2e latency", "LLM #1", "LLM #2", "STT", "EOU",
                       "TTS", "get_time", "09:10", "interrupted"):
            assert needle in content, needle
        await pilot.press("right")
        assert screen.index == 5
        content = text_of(screen.query_one("#detail-content"))
        assert "[interrupted]" in content
        await pilot.press("escape")
        assert not isinstance(app.screen, TurnDetailScreen)


async def test_help_lists_every_footer_binding() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(text_of(w) for w in app.screen.query("Static"))
        for binding in app.BINDINGS:
            if binding.show and binding.action not in WATCH_ONLY:  # lkmon watch's keys
                assert binding.description in text, binding.description
        assert "Sessions" not in text
        assert "Log level" in text and "Prev turn" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_typing_and_mute_reach_the_source() -> None:
    source = RecordingSource()
    app = LkmonApp(SessionModel(), source, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert source.started
        await pilot.press("t")
        say = app.query_one("#say", Input)
        assert say.display and say.has_focus
        await pilot.press(*"hello agent")
        await pilot.press("enter")
        await pilot.pause()
        assert source.texts == ["hello agent"]
        assert say.display and say.has_focus and say.value == ""  # open for the next one
        await pilot.press("escape")
        assert not say.display
        await pilot.press("t", "x", "escape")
        assert not say.display and source.texts == ["hello agent"]
        await pilot.press("m")
        await pilot.pause()
        assert source.muted == [True]
        assert "MUTED" in text_of(app.status_strip)
        await pilot.press("m")
        assert source.muted == [True, False]


async def test_mute_without_a_microphone_says_so() -> None:
    source = RecordingSource(can_mute=False)  # like WAV input: no microphone
    app = LkmonApp(SessionModel(), source, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert source.muted == [] and not app.mic_muted
        assert any("no microphone" in n.message for n in app._notifications)
        assert "MUTED" not in text_of(app.status_strip)


async def test_replay_has_no_typing() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        assert not app.query_one("#say", Input).display
        shown = {ab.binding.action for ab in app.screen.active_bindings.values()
                 if ab.enabled and app.check_action(ab.binding.action, ()) is not None}
        assert "type_message" not in shown and "toggle_mute" not in shown
        assert "open_detail" in shown and "export" in shown


async def test_export_writes_three_new_files_and_never_overwrites(tmp_path: Path) -> None:
    app = replay_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = await app.export_all()
        second = await app.export_all()
        await pilot.pause()
    suffixes = sorted(p.suffix for p in first)
    assert suffixes == [".html", ".json", ".svg"]
    assert not set(first) & set(second)
    assert len(list(tmp_path.iterdir())) == 6
    snap = json.loads(next(p for p in first if p.suffix == ".json").read_text())
    assert snap["lkmon_snapshot"] == 5 and len(snap["turns"]) == 8
    svg = next(p for p in first if p.suffix == ".svg").read_text()
    assert svg.startswith("<svg") and "Turns" in svg
    assert oct(os.stat(next(p for p in first if p.suffix == ".json")).st_mode & 0o777) == "0o600"


async def test_export_key_notifies_where_files_went(tmp_path: Path) -> None:
    app = replay_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        for _ in range(50):
            await pilot.pause(0.05)
            if len(app.exported) == 3:
                break
        assert len(app.exported) == 3
        messages = [n.message for n in app._notifications]
        assert any("Exported" in m and str(tmp_path) in m for m in messages)


def _can_create(directory: Path) -> bool:
    try:
        fd = os.open(directory / ".lkmon-probe", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(directory / ".lkmon-probe")
    return True


async def test_export_to_read_only_dir_notifies_and_goes_on(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores the mode; sysfs refuses new files even to root
        ro = Path("/sys")
        if not ro.is_dir() or os.access(ro, os.W_OK) and _can_create(ro):
            pytest.skip("no read-only directory available")
    source = RecordingSource()
    app = LkmonApp(demo_model(), source, export_dir=ro, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        written = await app.export_all()
        await pilot.pause()
        assert written == []
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "Export failed" in errors[0].message
        assert app.is_running and source.stopped == 0


async def test_export_to_missing_dir_notifies_and_goes_on(tmp_path: Path) -> None:
    source = RecordingSource()
    app = LkmonApp(demo_model(), source, export_dir=tmp_path / "missing",
                   clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        written = await app.export_all()
        await pilot.pause()
        assert written == []
        assert any(n.severity == "error" for n in app._notifications)
        assert app.is_running and source.stopped == 0 and app.session.worker.is_running


async def test_quit_stops_runner_and_saves_snapshot(tmp_path: Path) -> None:
    source = RecordingSource()
    model = demo_model()
    app = LkmonApp(model, source, export_dir=tmp_path, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause(0.3)
    assert source.stopped == 1
    assert app.return_value is not None and app.return_value.exists()
    data = json.loads(app.return_value.read_text())
    assert len(data["turns"]) == len(model.turns)


async def test_quit_writes_the_snapshot_to_the_given_path(tmp_path: Path) -> None:
    source = RecordingSource()
    target = tmp_path / "session.json"
    app = LkmonApp(demo_model(), source, snapshot_path=target, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause(0.3)
    assert source.stopped == 1 and app.return_value == target
    assert json.loads(target.read_text())["lkmon_snapshot"] == 5


async def test_sigterm_quits_gracefully(tmp_path: Path) -> None:
    source = RecordingSource()
    app = LkmonApp(demo_model(), source, export_dir=tmp_path, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert signal.SIGTERM in app._signals.installed  # else the signal would end the test run
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert source.stopped == 1
    assert app.return_value is not None and app.return_value.exists()


async def test_replay_quit_writes_nothing(tmp_path: Path) -> None:
    app = replay_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await settle(pilot)
    assert app.return_value is None and list(tmp_path.iterdir()) == []


async def test_live_events_are_drained_and_levels_coalesced() -> None:
    source = RecordingSource()
    model = SessionModel()
    app = LkmonApp(model, source, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(50):
            app.post_event(AudioLevel(ts=T0 + i, source="mic", dbfs=-60.0 + i))
        app.post_event(LogRecord(ts=T0, level="WARNING", logger="livekit", message="careful"))
        assert len(app.feed) == 1  # levels are kept as the latest value only
        await settle(pilot)
        assert model.levels.mic_dbfs == -11.0
        assert "careful" in app.log_pane.rendered_text()


async def test_row_panes_follow_a_change_of_styles() -> None:
    """The row panes keep their style between renders (``RowsPane``); a new theme still
    reaches their rows."""
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()

        def row_backgrounds() -> set[object]:
            pane = app.usage_pane
            width = pane.size.width
            strips = pane.render_lines(Region(0, 1, width, 1))  # a content row, not the border
            return {seg.style.bgcolor for seg in strips[0] if seg.style and not seg.control}

        dark = row_backgrounds()
        assert dark == {app.usage_pane.rich_style.bgcolor}, dark
        app.theme = "textual-light"
        await pilot.pause()
        app.usage_pane.refresh()
        await pilot.pause()
        light = row_backgrounds()
        assert light != dark and light == {app.usage_pane.rich_style.bgcolor}, (dark, light)


async def test_status_vad_and_usage_redraw_only_the_rows_that_changed() -> None:
    """A level or a duration update redraws its own row, not the pane (tui/widgets/rows.py),
    and the screen shows it; the usage pane's tick (its session duration) redraws one row."""
    now = [T0 + 100.0]
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        model.apply(SessionStarted(ts=T0, agent_file="agent.py", models={}, input="text",
                                   output="null", lkmon_version="test"))
        usage = app.usage_pane
        usage.update_view()
        await pilot.pause()
        drawn: list[Region | None] = []
        refresh = usage.refresh
        usage.refresh = lambda *regions, **kw: (  # type: ignore[method-assign]
            drawn.extend(regions or [None]), refresh(*regions, **kw))[1]
        now[0] += 1.0
        usage.update_view()
        row = next(y for y, line in enumerate(usage.rendered_text().split("\n"))
                   if "session 1:41" in line)
        assert drawn == [Region(0, row, usage.content_region.width, 1)], drawn
        await pilot.pause()
        assert "session 1:41" in text_of(usage) and "No usage reported yet." in text_of(usage)
        for i in range(40):  # 4 s of speech, one VAD event every 0.1 s
            model.vad.apply_activity(VadActivity(ts=T0 + 96 + i * 0.1, event="inference",
                                                 probability=0.9, speaking=True,
                                                 speech_duration=i * 0.1))
        vad, status = app.vad_pane, app.status_strip
        assert vad.show_rows(vad.build()) >= 5  # the state, the plot's 4 rows, the durations
        assert vad.show_rows(vad.build()) == 0  # nothing changed: nothing drawn
        model.vad.apply_activity(VadActivity(ts=T0 + 99.9, event="inference", probability=0.9,
                                             speaking=True, speech_duration=7.5))
        assert vad.show_rows(vad.build()) == 1  # the same plot column: only the durations
        status.show_rows(status.build())
        assert status.show_rows(status.build()) == 0
        model.apply(AudioLevel(ts=T0 + 100, source="mic", dbfs=-20.0))
        assert status.show_rows(status.build()) == 1  # the meters' row
        await pilot.pause()
        assert "speech 7.5 s" in text_of(vad) and "█████▎" in text_of(status).split("\n")[1]


async def test_every_elapsed_time_on_screen_runs_with_the_clock() -> None:
    """In a live session with no events for a while (the caller silent), the status strip's
    elapsed time and the usage pane's session duration both follow the clock, once a ``TICK``,
    and agree; they do not stop at the last event that changed their pane."""
    now = [T0]
    model = SessionModel()
    app = LkmonApp(model, RecordingSource(), clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_events([SessionStarted(ts=T0, agent_file="agent.py", models={}, input="text",
                                         output="null", lkmon_version="test")])
        await pilot.pause(0.3)
        now[0] = T0 + 75.0
        for _ in range(100):  # a TICK and the frame after it: ~1.25 s, longer under load
            await pilot.pause(0.1)
            if "session 1:15" in text_of(app.usage_pane):
                break
        assert "elapsed 1:15" in text_of(app.status_strip)
        assert "session 1:15" in text_of(app.usage_pane), text_of(app.usage_pane)


async def test_sizes_80x24_switches_panes_with_number_keys() -> None:
    app = replay_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-compact")
        assert app.turns_pane.display and app.turns_pane.region.height > 10
        assert app.transcript_pane.region.height == 0
        await pilot.press("2")
        await pilot.pause()
        assert app.transcript_pane.region.height > 10 and app.turns_pane.region.height == 0
        assert "Paris" in app.transcript_pane.rendered_text()
        for key, pane in (("3", app.vad_pane), ("4", app.usage_pane), ("5", app.log_pane),
                          ("1", app.turns_pane)):
            await pilot.press(key)
            await pilot.pause()
            assert pane.region.height > 5, key
        await pilot.press("k", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TurnDetailScreen) and app.screen.index == 7


async def test_size_200x60_shows_every_pane_and_survives_resize() -> None:
    app = replay_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        assert not app.screen.has_class("-compact")
        for pane in (app.turns_pane, app.transcript_pane, app.vad_pane, app.usage_pane,
                     app.log_pane):
            assert pane.region.height >= 6 and pane.region.width >= 50
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        notice = app.query_one("#too-small")
        assert notice.region.height > 0 and "too small" in text_of(notice)
        assert app.turns_pane.region.height == 0
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.screen.has_class("-compact") and not app.screen.has_class("-too-small")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert not app.screen.has_class("-compact")
        assert app.turns_pane.region.height >= 6


async def test_widget_exception_is_shown_not_fatal() -> None:
    source = RecordingSource()
    model = demo_model()
    app = LkmonApp(model, source, clock=lambda: CLOCK)

    def broken() -> None:
        raise RuntimeError("boom in usage")

    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app.usage_pane.build = broken  # type: ignore[method-assign]
        s = Script(t0=T0 + 100).start()
        for ev in s.flush():
            app.post_event(ev)
        await settle(pilot)  # the usage pane fails...
        await settle(pilot)  # ...and its error event is folded in and shown
        assert app.is_running and app.session.worker.is_running
        assert app.banner.display
        banner = text_of(app.banner)
        assert "lkmon" in banner and "boom in usage" in banner
        assert any("boom in usage" in e.message for e in model.errors)
        await pilot.press("x")
        assert not app.banner.display


async def test_runner_failure_is_shown_and_app_stays() -> None:
    class FailingSource(RecordingSource):
        async def run(self, emit: Emit) -> None:
            raise RuntimeError("agent exploded")

    app = LkmonApp(SessionModel(), FailingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert app.is_running and app.session_over
        assert "agent exploded" in text_of(app.banner)


async def test_loading_line_until_models_are_loaded() -> None:
    from lkmon.model.events import LoadProgress

    app = LkmonApp(SessionModel(), RecordingSource(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_event(LoadProgress(ts=T0, stage="stt: whisper tiny.en", done=1, total=4))
        await settle(pilot)
        assert app.loading_line.display
        assert "1/4" in text_of(app.loading_line) and "whisper" in text_of(app.loading_line)
        app.post_event(LoadProgress(ts=T0 + 1, stage="tts: piper", done=4, total=4, seconds=0.5))
        await settle(pilot)
        assert not app.loading_line.display


async def test_what_came_due_during_a_drain_runs_before_the_screen_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PAINT_AFTER: a task of the agent's that came due while the app drained its queue runs
    before the screen update, not after it (the loop was held for the drain and the frame back
    to back); and the frame still follows its drain at once, not at the screen's next event."""
    import statistics
    import time

    from synthetic import synthetic_session
    from textual.screen import Screen

    order: list[tuple[str, float]] = []
    paint, drain = Screen._on_timer_update, LkmonApp.drain
    wake: list[asyncio.Future[None]] = []

    def painted(screen: Screen) -> None:
        order.append(("paint", time.perf_counter()))
        paint(screen)

    async def agent() -> None:  # a task of the agent's, waiting as for its next audio frame
        while True:
            wake.append(asyncio.get_running_loop().create_future())
            await wake[-1]
            order.append(("agent", time.perf_counter()))

    def slow_drain(app: LkmonApp) -> object:
        if wake and not wake[-1].done():  # the frame's timer comes due during the drain
            asyncio.get_running_loop().call_later(0.001, wake[-1].set_result, None)
        out = drain(app)
        time.sleep(0.005)
        order.append(("drained", time.perf_counter()))
        return out

    events = synthetic_session(3)[:400]
    monkeypatch.setattr(Screen, "_on_timer_update", painted)  # the screen's timer binds it
    app = LkmonApp(SessionModel(), clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        task = asyncio.get_running_loop().create_task(agent())
        order.clear()
        monkeypatch.setattr(LkmonApp, "drain", slow_drain)
        for i in range(0, len(events), 40):  # the session as it comes, in 1.5 s
            for ev in events[i:i + 40]:
                app.post_event(ev)
            await asyncio.sleep(0.15)
        await pilot.pause(0.3)
        task.cancel()
    kinds = [k for k, _ in order]
    drawn = [i for i, k in enumerate(kinds[:-2])
             if k == "drained" and "paint" in kinds[i + 1:i + 3]]
    assert len(drawn) >= 5, " ".join(kinds)
    # (a paint some other refresh had already asked for may still come first, now and then)
    first = [kinds[i + 1] == "agent" for i in drawn]
    assert sum(first) >= 0.7 * len(first), " ".join(kinds)
    delays = [next(t for k, t in order[i:] if k == "paint") - order[i][1] for i in drawn]
    assert statistics.median(delays) < 0.04, delays
