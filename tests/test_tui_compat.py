"""Each Textual workaround in ``lkmon.tui.compat``, checked against the installed Textual.

A failure names the workaround and the version, so a Textual upgrade that changes what a
workaround relies on says so at once. The SVG snapshots (tests/test_snapshots.py) check that the
screen is drawn the same with the workarounds installed.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from synthetic import synthetic_session
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lkmon.model.state import SessionModel
from lkmon.tui import compat
from lkmon.tui.app import LkmonApp

VERSION = compat.installed_version()


def broken(workaround: str, what: str) -> str:
    """The message of a failed check: which workaround, which version, where to look."""
    return (f"textual {VERSION}: {workaround} {what} (checked on {compat.CHECKED_ON}); "
            "see lkmon/tui/compat.py")


def strips() -> Iterator[Strip]:
    """Strips of a few shapes: styled, plain, empty, one wide character."""
    red, blue = Style(color="red"), Style(bgcolor="blue")
    yield Strip([Segment("hello ", red), Segment("world", blue)])
    yield Strip([Segment("abc")], 3)
    yield Strip([], 0)
    yield Strip([Segment("界x", red)])


def cached(cache: object) -> list[object]:
    """The values in one of a strip's ``FIFOCache`` (it has ``keys`` and ``get``)."""
    return [cache.get(key) for key in cache.keys()]  # type: ignore[attr-defined]


def test_installed_textual_is_the_checked_release() -> None:
    assert VERSION == compat.CHECKED_ON, broken("the pin", "is not the checked release")
    assert compat.check_version()


def test_textual_still_caches_a_whole_divide_on_the_strip_itself() -> None:
    # What the workaround is for: if this fails, Textual no longer makes the cycle, and
    # uncached_whole_divide can go.
    strip = Strip([Segment("hello")])
    assert compat.TEXTUAL_DIVIDE(strip, [5]) == [strip]
    assert any(p is strip for ps in cached(strip._divide_cache) for p in ps), broken(
        "uncached_whole_divide", "Strip.divide no longer caches [self]")


def test_divide_gives_what_textual_gives() -> None:
    compat.uncached_whole_divide()
    assert Strip.divide is not compat.TEXTUAL_DIVIDE
    for strip in strips():
        n = strip.cell_length
        for cuts in ([n], [1, n], [2, 4, n], [n + 3], [n, n + 3], [0, n], [], [1]):
            got = Strip.divide(strip, iter(cuts))  # cuts may be a one-shot iterable
            want = compat.TEXTUAL_DIVIDE(Strip(list(strip), strip.cell_length), cuts)
            assert [(s.text, s.cell_length, list(s)) for s in got] == [
                (s.text, s.cell_length, list(s)) for s in want], broken(
                "uncached_whole_divide", f"divides {strip.text!r} at {cuts} differently")
        whole = Strip.divide(strip, [n])
        assert whole == [strip] and whole[0] is strip
        assert not any(p is strip for ps in cached(strip._divide_cache) for p in ps), "cached"
    assert compat.uncached_whole_divide() is False, "installed once"


def test_crop_extend_gives_what_textual_gives() -> None:
    pad = Style(bgcolor="green")
    for strip in strips():
        n = strip.cell_length
        for start, end in ((0, n), (0, n + 4), (0, max(n - 1, 0)), (1, n), (2, n + 2), (-1, n)):
            got = compat.crop_extend(strip, start, end, pad)
            want = Strip(list(strip), n).crop_extend(start, end, pad)
            assert (got.text, got.cell_length, list(got)) == (
                want.text, want.cell_length, list(want)), broken(
                "crop_extend", f"crops {strip.text!r} to {start}..{end} differently")
        assert compat.crop_extend(strip, 0, n, pad) is strip
        assert not any(s is strip for s in cached(strip._crop_extend_cache)), "cached"


async def strips_left_to_the_collector() -> int:
    """Render frames of a growing session into the app and count the ``Strip`` objects that
    only the cyclic collector could free (it is off meanwhile)."""
    events = synthetic_session(12, background=True)
    app = LkmonApp(SessionModel())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gc.collect()
        gc.disable()
        try:
            for i in range(0, len(events), 100):  # 21 frames
                app.apply_events(events[i:i + 100])
                await pilot.pause()
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            return sum(isinstance(o, Strip) for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()


async def test_frames_leave_no_strip_to_the_cyclic_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patched = await strips_left_to_the_collector()
    assert patched == 0, f"{patched} strips became cyclic garbage with the workaround"
    # The same frames with Textual's own divide: the cycles the workaround removes.
    monkeypatch.setattr(compat, "uncached_whole_divide", lambda: False)
    monkeypatch.setattr(Strip, "divide", compat.TEXTUAL_DIVIDE)
    unpatched = await strips_left_to_the_collector()
    assert unpatched > 100, broken("uncached_whole_divide",
                                   f"left {unpatched} strips without it: the cycle is gone")


Cells = list[list[tuple[str, object]]]


def cells_of(strip: Strip) -> list[tuple[str, object]]:
    """A line as (character, style) per cell; the second cell of a wide character is ``""``."""
    out: list[tuple[str, object]] = []
    for segment in strip:
        for char in segment.text:
            out.append((char, segment.style))
            out.extend(("", segment.style) for _ in range(cell_len(char) - 1))
    return out


def apply_update(screen: Cells, update: object) -> None:
    """Draw one compositor update on ``screen`` as a terminal would."""
    if isinstance(update, LayoutUpdate):
        for y, line in enumerate(update.strips, update.region.y):
            screen[y] = [cell for strip in line for cell in cells_of(strip)]
    elif isinstance(update, ChopsUpdate):  # only the cells of its spans, as it writes them
        for y, x1, x2 in update.spans:
            for x, strip in update.chops[y].items():
                if strip is not None:
                    for i, cell in enumerate(cells_of(strip), x):
                        if x1 <= i < x2:
                            screen[y][i] = cell


async def repainted(app: LkmonApp, pilot: object) -> Cells:
    """The screen after a layout of the whole screen and a repaint of every widget on it (the
    scrollbars too) with Textual's own ``Widget.refresh``, which no workaround can skip."""
    app.screen.refresh(layout=True)
    await pilot.pause()  # type: ignore[attr-defined]
    for widget in list(app.screen._compositor.visible_widgets):
        Widget.refresh(widget)
    await pilot.pause()  # type: ignore[attr-defined]
    return [cells_of(strip) for strip in app.screen._compositor.render_strips()]


async def settled(app: LkmonApp, pilot: object, timeout: float = 20.0) -> None:
    """Wait until no pane waits for its rate limit (at most 0.5 s) and the frame that drew the
    last of them is on screen. A fixed pause is not enough: under load (CI's fast lane on 2
    cores) the drain timer that re-renders a pending pane can fire after it."""
    deadline = time.monotonic() + timeout
    await pilot.pause(0.6)  # type: ignore[attr-defined]
    while app._refresh.pending:
        assert time.monotonic() < deadline, f"{app._refresh.pending} panes still pending"
        await pilot.pause(0.1)  # type: ignore[attr-defined]
    await pilot.pause(0.1)  # type: ignore[attr-defined]  # the paint after the last re-render


async def test_partial_updates_draw_what_a_full_repaint_draws() -> None:
    """cropped_renders, quiet_scrollbars and the turn list and transcript growing without a
    layout: the screen that every partial update of a growing session leaves is the one a full
    repaint draws (both lists scroll), and a two-row update renders only those two rows, of the
    status strip alone."""
    events = synthetic_session(30, background=True)
    app = LkmonApp(SessionModel())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        compositor = app.screen._compositor
        screen = [cells_of(strip) for strip in compositor.render_strips()]
        display = app._display
        updates: list[str] = []

        def capture(on: object, renderable: object) -> None:
            updates.append(type(renderable).__name__)
            apply_update(screen, renderable)
            display(on, renderable)  # type: ignore[arg-type]

        app._display = capture  # type: ignore[method-assign]
        for i in range(0, len(events), 25):
            app.apply_events(events[i:i + 25])
            await pilot.pause()
        await settled(app, pilot)
        app._display = display  # type: ignore[method-assign]
        assert updates.count("ChopsUpdate") > 20, updates
        for name in ("#turns-list", "#transcript"):
            pane = app.screen.query_one(name)
            assert pane.show_vertical_scrollbar and pane.scroll_y > 0, f"{name} does not scroll"
        full = await repainted(app, pilot)
        for y, (drawn, want) in enumerate(zip(screen, full, strict=True)):
            assert drawn == want, broken("cropped_renders or quiet_scrollbars",
                                         f"drew row {y} wrong: {''.join(c for c, _ in drawn)!r}")
        status = Region(0, 0, 120, 2)
        rows = [(region, len(lines)) for region, _, lines in compositor._get_renders(status)]
        assert rows and all(r.y >= 0 and r.bottom <= 2 and n == r.height for r, n in rows)
        # the strip covers the update: the screen and the container behind it draw nothing
        assert len(rows) == 1, broken("cropped_renders", f"renders {rows} behind the strip")
        theirs = sum(len(lines) for _, _, lines in compat.TEXTUAL_GET_RENDERS(compositor, status))
        assert theirs > 10 * len(rows), broken(
            "cropped_renders", f"renders {theirs} lines for a 2-row update: Textual crops now")


async def test_a_scrollbar_repaints_only_when_it_looks_different(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """quiet_scrollbars: the transcript's scrollbar moves at every new turn of a long session,
    but its thumb moves a cell's eighth only every few turns; it repaints only then."""
    repaints: Counter[int] = Counter()

    def counted(bar: Widget, *regions: Region, **kw: bool) -> Widget:
        repaints[id(bar)] += 1
        return Widget.refresh(bar, *regions, **kw)

    monkeypatch.setattr(compat, "TEXTUAL_SCROLLBAR_REFRESH", counted)
    events = synthetic_session(150, background=False)
    app = LkmonApp(SessionModel())
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_events(events[:2000])
        await pilot.pause()
        bar = app.screen.query_one("#transcript").vertical_scrollbar
        assert compat.scrollbar_look(bar) is not None, broken(
            "quiet_scrollbars", "cannot tell what a scrollbar draws")
        repaints.clear()
        moves = looks = 0
        position, look = bar.position, compat.scrollbar_look(bar)
        for i in range(2000, len(events), 12):
            app.apply_events(events[i:i + 12])
            await pilot.pause()
            moves += bar.position != position
            looks += compat.scrollbar_look(bar) != look
            position, look = bar.position, compat.scrollbar_look(bar)
        assert moves > 50, moves
        assert looks <= repaints[id(bar)] < moves / 2, broken(
            "quiet_scrollbars", f"repainted {repaints[id(bar)]} times for {moves} moves and "
            f"{looks} changes of look")


def test_lazy_strip_caches_build_what_textuals_init_builds() -> None:
    from textual.cache import FIFOCache

    compat.lazy_strip_caches()
    assert Strip.__init__ is not compat.TEXTUAL_STRIP_INIT
    others = {"_segments", "_cell_length", "_render_cache", "_link_ids", "_cell_count"}
    assert set(Strip.__slots__) == {*compat.STRIP_CACHES, *others}, broken(
        "lazy_strip_caches", f"Strip's slots are {sorted(Strip.__slots__)}")
    segments = [Segment("ab"), Segment("c", Style(bold=True))]
    theirs = Strip.__new__(Strip)
    compat.TEXTUAL_STRIP_INIT(theirs, segments, 3)  # Textual's own, through the properties
    ours = Strip(segments, 3)
    for name, size in compat.STRIP_CACHES.items():
        slot = compat.STRIP_SLOTS[name]
        made = slot.__get__(theirs, Strip)
        assert type(made) is FIFOCache and made._maxsize == size, broken(
            "lazy_strip_caches", f"Strip.__init__ sets {name} to {made!r}, not FIFOCache({size})")
        with pytest.raises(AttributeError):
            slot.__get__(ours, Strip)  # not made until first used
    for name in others:
        assert getattr(ours, name) == getattr(theirs, name), broken(
            "lazy_strip_caches", f"Strip.__init__ sets {name} differently")
    # made when first used, of Textual's size, and then used as Textual uses it
    italic = Style(italic=True)
    styled = ours.apply_style(italic)
    assert ours.apply_style(italic) is styled and ours._style_cache._maxsize == 16
    assert (ours.crop(1, 3).text, ours.crop(1, 3)) == ("bc", theirs.crop(1, 3))
    assert compat.lazy_strip_caches() is False, "installed once"


def test_a_strip_is_two_tracked_objects_not_nine() -> None:
    compat.lazy_strip_caches()
    gc.collect()
    before = len(gc.get_objects())
    kept = [Strip([Segment("x")], 1) for _ in range(1000)]
    grown = len(gc.get_objects()) - before
    assert len(kept) == 1000 and grown < 3500, f"{grown} objects tracked for 1,000 strips"


@pytest.mark.parametrize("name", ["#transcript", "#turns-list"])
async def test_a_scrolled_list_renders_only_the_lines_that_came_into_view(name: str) -> None:
    """rendered_rows and keep_rendered_rows: when a new turn scrolls the transcript or the
    turn list, the lines still on screen that did not change are moved, not rendered again
    (the partial-vs-full test above checks what is drawn)."""
    events = synthetic_session(40, background=False)
    app = LkmonApp(SessionModel())
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_events(events[:len(events) // 2])
        await pilot.pause()
        pane = app.screen.query_one(name)
        rendered: list[int] = []
        render_line = pane.render_line

        def counted(y: int) -> Strip:
            rendered.append(y)
            return render_line(y)

        pane.render_line = counted  # type: ignore[method-assign]
        height = pane.scrollable_content_region.height
        scrolls, lines = 0, []
        for i in range(len(events) // 2, len(events), 40):
            top = pane.scroll_y
            rendered.clear()
            app.apply_events(events[i:i + 40])
            await pilot.pause()
            if pane.scroll_y > top:
                scrolls += 1
                lines.append(len(rendered))
        assert scrolls > 5, scrolls
        # a new bar scale redraws every row of the turn list: the median, not every frame
        median = sorted(lines)[len(lines) // 2]
        assert median < height / 3 and sum(lines) < scrolls * height / 2, broken(
            "keep_rendered_rows", f"rendered {lines} lines of {height} when scrolled")


def _write_to_a_closed_terminal(writer_run: object) -> bool:
    """Whether 100 writes and a stop go through a ``WriterThread`` (with ``run`` as given)
    on a pseudo-terminal whose other end was closed; False when they block for 5 s."""
    import os
    import pty
    import threading

    from textual.drivers._writer_thread import WriterThread

    master, slave = pty.openpty()
    os.close(master)  # the terminal goes away: writes to the slave now fail with EIO
    with os.fdopen(slave, "w") as terminal:
        writer = type("Writer", (WriterThread,), {"run": writer_run})(terminal)
        writer.start()
        done = threading.Event()

        def write() -> None:
            for i in range(100):  # more than the queue's 30
                writer.write(f"frame {i}\n" * 20)
            writer.stop()
            done.set()

        threading.Thread(target=write, daemon=True).start()
        return done.wait(5)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # Textual's
def test_the_driver_writes_on_after_the_terminal_went_away() -> None:
    """writes_survive_a_lost_terminal: Textual's writer thread ends at the first failed write
    to a terminal that went away, and its queue then blocks the app for good (the quit that
    SIGHUP starts never ran); lkmon's goes on and drops the writes."""
    from textual.drivers._writer_thread import WriterThread

    assert not _write_to_a_closed_terminal(compat.TEXTUAL_WRITER_RUN), (
        f"Textual {compat.installed_version()}'s WriterThread no longer blocks once the "
        "terminal is gone: writes_survive_a_lost_terminal may be dropped (tui/compat.py)")
    assert _write_to_a_closed_terminal(compat._writer_run)
    compat.writes_survive_a_lost_terminal()
    assert WriterThread.run is compat._writer_run


def test_the_batch_that_paint_after_holds_is_textuals_own() -> None:
    """paint_after: ``App.batch_update`` is ``_begin_batch`` and ``_end_batch`` around the
    block, and the batch counter is what the screen's update waits on."""
    import inspect

    from textual.app import App
    from textual.screen import Screen

    assert "_begin_batch()" in inspect.getsource(App.batch_update), broken(
        "paint_after", "App.batch_update no longer calls _begin_batch")
    assert "_end_batch()" in inspect.getsource(App.batch_update), broken(
        "paint_after", "App.batch_update no longer calls _end_batch")
    assert "_batch_count" in inspect.getsource(Screen._on_idle), broken(
        "paint_after", "the screen's idle handler no longer waits for the batch")
