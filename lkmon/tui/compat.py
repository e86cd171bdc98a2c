"""Every workaround lkmon makes for Textual's own behaviour, each behind one named function.

``tests/test_tui_compat.py`` checks each against the installed Textual and fails with a message
naming the workaround and the version when Textual changes under it. ``CHECKED_ON`` is the
release ``pyproject.toml`` pins; ``check_version()`` logs one warning on any other.

The workarounds (checked on Textual 8.2.8):

============================  ==================================================================
``uncached_whole_divide``     ``Strip.divide`` replaced: a line cut into one chop (the whole
                              strip) is not stored in the strip's own ``_divide_cache``
``crop_extend``               ``Strip.crop_extend`` as lkmon's panes call it, without storing a
                              strip that needs no cut and no padding in its own cache
``lazy_strip_caches``         ``Strip.__init__`` replaced: a strip's caches are made when used
``cropped_renders``           ``Compositor._get_renders`` replaced: in a partial update a widget
                              renders only its rows that a dirty region overlaps
``quiet_scrollbars``          ``ScrollBar.refresh`` replaced: a scrollbar repaints only when it
                              would draw something other than what it drew last
``rendered_rows``,            a widget's rendered lines read from, and put back into, its
``keep_rendered_rows``        ``StylesCache``: a scrolled list moves the lines it keeps
``writes_survive_a_lost_``    ``WriterThread.run`` replaced: once the terminal is gone, the
``terminal``                  driver's writes are dropped instead of blocking the event loop
``paint_after``               ``App.batch_update`` whose screen update waits for a loop timer
============================  ==================================================================

Why the strips: a ``Strip`` caches ``divide`` and ``crop_extend`` on itself, and when nothing
is cut the result is the strip itself: a reference cycle, with seven ``FIFOCache``, for nearly
every strip of every frame (37,380 objects per replay, ``python -m bench uigarbage``), which
made the TUI's full collections a session's longest pauses; and the strips' empty caches were
most of what a full collection walked (docs/benchmarks.md, "The UI's cost", runs H and K).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual._compositor import Compositor
from textual.app import App
from textual.cache import FIFOCache
from textual.drivers._writer_thread import WriterThread
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget

logger = logging.getLogger("lkmon.tui.compat")

CHECKED_ON = "8.2.8"
"""The Textual release every workaround here was checked on (``pyproject.toml`` pins it)."""

TEXTUAL_DIVIDE = Strip.divide
"""Textual's own ``Strip.divide``, as it was before ``uncached_whole_divide``."""

TEXTUAL_GET_RENDERS = Compositor._get_renders
"""Textual's own ``Compositor._get_renders``, as it was before ``cropped_renders``."""

TEXTUAL_RENDER_PARTIAL_UPDATE = Compositor.render_partial_update
"""Textual's own ``Compositor.render_partial_update``, as it was before ``cropped_renders``."""

TEXTUAL_SCROLLBAR_REFRESH = ScrollBar.refresh
"""Textual's own ``ScrollBar.refresh`` (``Widget.refresh``), as before ``quiet_scrollbars``."""

TEXTUAL_SCROLLBAR_RENDER_LINES = ScrollBar.render_lines
"""Textual's own ``ScrollBar.render_lines``, as before ``quiet_scrollbars``."""

TEXTUAL_WRITER_RUN = WriterThread.run
"""Textual's own ``WriterThread.run``, as before ``writes_survive_a_lost_terminal``."""

TEXTUAL_STRIP_INIT = Strip.__init__
"""Textual's own ``Strip.__init__``, as it was before ``lazy_strip_caches``."""

STRIP_CACHES = {"_divide_cache": 4, "_crop_cache": 16, "_style_cache": 16, "_filter_cache": 4,
                "_line_length_cache": 4, "_crop_extend_cache": 4, "_offsets_cache": 4}
"""Each ``FIFOCache`` slot of a Textual 8.2.8 ``Strip``, with the size its ``__init__`` gives it."""

STRIP_SLOTS = {name: Strip.__dict__[name] for name in STRIP_CACHES}
"""The slots' own member descriptors, where the caches are kept once made."""

_warned: list[str] = []


def installed_version() -> str | None:
    """The installed Textual version, or ``None`` when it cannot be read."""
    try:
        return metadata.version("textual")
    except metadata.PackageNotFoundError:
        return None


def check_version() -> bool:
    """Log one warning (once per process) when the installed Textual is not ``CHECKED_ON``.

    Returns:
        True when it is.
    """
    version = installed_version()
    ok = version == CHECKED_ON
    if not ok and not _warned:
        _warned.append(str(version))
        logger.warning("textual %s is not the release lkmon was checked on (%s)",
                       version, CHECKED_ON)
    return ok


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    cell_length = self.cell_length
    cuts = [cut for cut in cuts if cut <= cell_length]
    if len(cuts) == 1 and cuts[0] == cell_length:
        return [self]  # Textual would also store [self] in self._divide_cache: a cycle
    return TEXTUAL_DIVIDE(self, cuts)


def uncached_whole_divide() -> bool:
    """Replace ``Strip.divide`` (process-wide, once) with one that does not cache a one-chop
    division on the strip itself; every other division goes to Textual's own, unchanged.

    Checked on Textual 8.2.8: ``Strip.divide(cuts)`` drops the cuts beyond the strip's cell
    length, and when one cut remains at its end returns ``[self]``, cached in
    ``self._divide_cache``. ``tests/test_tui_compat.py`` compares the two on every kind of cut.

    Returns:
        True when it was installed now, False when it already was.
    """
    if Strip.divide is _divide:
        return False
    check_version()
    Strip.divide = _divide  # type: ignore[method-assign]  # the workaround itself
    return True


def crop_extend(strip: Strip, start: int, end: int, style: Style | None) -> Strip:
    """``strip.crop_extend(start, end, style)``: the cells ``start`` to ``end`` of ``strip``,
    padded with ``style`` where it is shorter; ``strip`` itself, not cached on itself, when it is
    exactly ``end`` cells long and ``start`` is 0 (Textual would store it in its own
    ``_crop_extend_cache``, a cycle). Checked on Textual 8.2.8."""
    if start <= 0 and end == strip.cell_length:
        return strip
    return strip.crop_extend(start, end, style)


def _lazy_cache(name: str, size: int) -> property:
    slot = STRIP_SLOTS[name]

    def get(self: Strip) -> FIFOCache:  # any key and value
        try:
            return slot.__get__(self, Strip)  # type: ignore[no-any-return]  # a member descriptor
        except AttributeError:
            cache: FIFOCache = FIFOCache(size)
            slot.__set__(self, cache)
            return cache

    def put(self: Strip, cache: FIFOCache) -> None:
        slot.__set__(self, cache)

    return property(get, put, doc=f"Textual's {name}, made when first used (tui/compat.py)")


def _strip_init(self: Strip, segments: Iterable[Segment], cell_length: int | None = None) -> None:
    # Textual 8.2.8's Strip.__init__ without its seven FIFOCache (made when first used)
    self._segments = list(segments)
    self._cell_length = cell_length
    self._render_cache = None
    self._link_ids = None
    self._cell_count = None


def lazy_strip_caches() -> bool:
    """Make every ``Strip``'s caches when first used (process-wide, once): ``Strip.__init__`` no
    longer builds seven ``FIFOCache``, and each cache slot becomes a property that builds its
    cache, of Textual's size (``STRIP_CACHES``), on first access.

    Checked on Textual 8.2.8: ``Strip.__init__(segments, cell_length=None)`` sets
    ``_segments``, ``_cell_length``, the seven caches, ``_render_cache``, ``_link_ids`` and
    ``_cell_count``; the caches are used only as ``strip._X_cache``. ``tests/test_tui_compat.py``
    compares a strip built by each ``__init__`` slot by slot.

    Returns:
        True when it was installed now, False when it already was.
    """
    if Strip.__init__ is _strip_init:
        return False
    check_version()
    for name, size in STRIP_CACHES.items():
        setattr(Strip, name, _lazy_cache(name, size))
    Strip.__init__ = _strip_init  # type: ignore[method-assign]  # the workaround itself
    return True


_updating: list[set[Region]] = []
"""The dirty regions of the partial update being rendered (``_render_partial_update``)."""


def _render_partial_update(self: Compositor) -> object:
    # Textual 8.2.8's render_partial_update, its dirty regions kept for _get_renders
    _updating.append(set(self._dirty_regions))
    try:
        return TEXTUAL_RENDER_PARTIAL_UPDATE(self)
    finally:
        _updating.pop()


def _get_renders(self: Compositor, crop: Region | None = None) -> Iterable[
        tuple[Region, Region, list[Strip]]]:
    # Textual 8.2.8's _get_renders, each widget rendered only for its rows in a dirty region
    if not crop:
        yield from TEXTUAL_GET_RENDERS(self, crop)
        return
    dirty = _updating[-1] if _updating else (crop,)
    drawn: list[Region] = []  # what the widgets in front of this one draw (front to back)
    for widget, (region, clip) in self.visible_widgets.items():
        visible = region.intersection(clip)
        if not visible.width:
            continue
        first, last, hidden = crop.bottom, crop.y, True
        for area in dirty:  # the rows where a dirty region (inside the crop) meets the widget
            part = visible.intersection(area)
            if part.area:
                first, last = min(first, part.y), max(last, part.bottom)
                hidden = hidden and any(front.contains_region(part) for front in drawn)
        if last <= first or hidden:
            continue  # nothing of the widget is drawn, or only behind the ones in front
        rows = Region(region.x, first, region.width, last - first)
        drawn.append(visible.intersection(rows))
        yield rows, clip, widget.render_lines(
            Region(visible.x - region.x, first - region.y, visible.width, last - first))


def cropped_renders() -> bool:
    """Replace ``Compositor._get_renders`` (process-wide, once): in a partial update a widget
    renders only its rows that a dirty region overlaps, and nothing when none does or when
    widgets in front cover its every dirty part. A full update goes to Textual's own;
    ``render_partial_update`` is wrapped to hand it the update's dirty regions.

    Checked on Textual 8.2.8: every widget overlapping the box around the dirty regions
    rendered all its visible lines (a 2-row status update: all 40 rows of the screen, and of
    the containers behind). ``_render_chops`` pairs each strip with the rows of ``region &
    clip`` from its top (so the region is trimmed to the rows) and fills each chop front to
    back, a widget's edges being cuts. ``tests/test_tui_compat.py`` checks that the partial
    updates draw what a full repaint draws.

    Returns:
        True when it was installed now, False when it already was.
    """
    if Compositor._get_renders is _get_renders:
        return False
    check_version()
    Compositor._get_renders = _get_renders  # type: ignore[method-assign]  # the workaround
    Compositor.render_partial_update = _render_partial_update  # type: ignore[assignment]
    return True


_BAR_BACK, _BAR_COLOR = Color.parse("#555555"), Color.parse("bright_magenta")
"""``ScrollBarRender``'s colours when its style has none (Textual 8.2.8)."""


def scrollbar_look(bar: ScrollBar) -> tuple[object, ...] | None:
    """What ``bar`` draws, as Textual 8.2.8's ``ScrollBarRender`` would: its size, style and
    the bar's segments; ``None`` when it cannot be known (not mounted, no size)."""
    width, height = bar.size
    if not (bar.is_mounted and width and height and bar.parent is not None):
        return None
    render = bar.render()
    if not isinstance(render, ScrollBarRender):
        return None
    style = render.style if isinstance(render.style, Style) else None
    if style is None:
        return None
    if not render.window_size:  # no thumb: the background alone
        return (width, height, style, render.vertical)
    bar_segments = render.render_bar(
        size=height if render.vertical else width,
        virtual_size=render.virtual_size, window_size=render.window_size,
        position=render.position, thickness=width if render.vertical else height,
        vertical=render.vertical, back_color=style.bgcolor or _BAR_BACK,
        bar_color=style.color or _BAR_COLOR)
    return (width, height, style, render.vertical, tuple(bar_segments.segments))


def _scrollbar_refresh(self: ScrollBar, *regions: Region, repaint: bool = True,
                       layout: bool = False, recompose: bool = False) -> ScrollBar:
    # Textual 8.2.8's Widget.refresh, skipped for a bar that would draw what it drew last
    if repaint and not (regions or layout or recompose):
        drawn = self.__dict__.get("_lkmon_drawn")
        if drawn is not None and drawn == scrollbar_look(self):
            return self
    return TEXTUAL_SCROLLBAR_REFRESH(self, *regions, repaint=repaint, layout=layout,
                                     recompose=recompose)


def _scrollbar_render_lines(self: ScrollBar, crop: Region) -> list[Strip]:
    # Textual 8.2.8's Widget.render_lines, remembering what the bar draws
    self.__dict__["_lkmon_drawn"] = scrollbar_look(self)
    return TEXTUAL_SCROLLBAR_RENDER_LINES(self, crop)


def quiet_scrollbars() -> bool:
    """Replace ``ScrollBar.refresh`` (process-wide, once) with one that skips a repaint that
    would draw what the bar drew last (``scrollbar_look``, kept by ``ScrollBar.render_lines``,
    wrapped); any other refresh (of regions, a layout) goes to Textual's own.

    Checked on Textual 8.2.8: a ``ScrollBar`` repaints whenever its ``position``,
    ``window_size`` or ``window_virtual_size`` changes, and its ``ScrollBarRender`` draws the
    thumb in eighths of a cell: a list following its end repainted both bars at every new
    turn (46 rows at 200x60) while the thumb moved an eighth of a cell every few turns.
    ``tests/test_tui_compat.py`` checks the bar is drawn as Textual draws it after every update.

    Returns:
        True when it was installed now, False when it already was.
    """
    if ScrollBar.refresh is _scrollbar_refresh:
        return False
    check_version()
    ScrollBar.refresh = _scrollbar_refresh  # type: ignore[method-assign,assignment]  # the fix
    ScrollBar.render_lines = _scrollbar_render_lines  # type: ignore[method-assign,assignment]
    return True


def rendered_rows(widget: Widget) -> dict[int, Strip]:
    """The lines of ``widget`` rendered and still valid (its ``StylesCache`` less its dirty
    lines), by widget row, borders and padding included: what the screen shows of it. Checked
    on Textual 8.2.8 (``_styles_cache._cache``, ``_dirty_lines``; tests/test_tui_compat.py)."""
    cache = widget._styles_cache
    dirty = cache._dirty_lines
    return {y: strip for y, strip in cache._cache.items() if y not in dirty}


def keep_rendered_rows(widget: Widget, rows: dict[int, Strip]) -> None:
    """After ``widget.refresh()``, take ``rows`` (widget row -> rendered line, from
    ``rendered_rows``) as rendered: they are not rendered again, and the compositor still
    draws the whole widget (so a view scrolled by a few lines renders only the lines that
    came into view). Checked on Textual 8.2.8, as ``rendered_rows``."""
    cache = widget._styles_cache
    cache._cache.update(rows)
    cache._dirty_lines.difference_update(rows)


def _writer_run(self: WriterThread) -> None:
    """``WriterThread.run`` that outlives its terminal: once a write fails it drops the rest."""
    write, flush, queue = self._file.write, self._file.flush, self._queue
    broken = False
    while (text := queue.get()) is not None:
        if broken:
            continue
        try:
            write(text)
            if queue.qsize() == 0:
                flush()
        except (OSError, ValueError):  # EIO, EPIPE: the terminal went; or the file closed
            broken = True
    if not broken:
        with contextlib.suppress(OSError, ValueError):
            flush()


def writes_survive_a_lost_terminal() -> bool:
    """Replace ``WriterThread.run`` (process-wide, once) with one that, when a write to the
    terminal fails, goes on taking writes from its queue and drops them.

    Checked on Textual 8.2.8: the driver's writer thread writes from a queue of at most 30.
    When the terminal goes away (tmux killed, ssh lost) a write raises ``OSError`` (EIO), the
    thread ends, and the app's 31st write blocks the event loop for good: SIGHUP's quit never
    ends, SIGTERM is not handled. ``tests/test_tui_compat.py`` checks it on a closed pty.

    Returns:
        True when it was installed now, False when it already was.
    """
    if WriterThread.run is _writer_run:
        return False
    WriterThread.run = _writer_run  # type: ignore[method-assign]  # the fix
    return True


@contextlib.contextmanager
def paint_after(app: App[Any], delay: float) -> Iterator[None]:
    """``app.batch_update()``, whose screen update comes ``delay`` seconds after the block, on
    an event-loop timer: the callbacks that came due meanwhile run first.

    Checked on Textual 8.2.8: ``App.delay_update`` does it with ``_begin_batch``/``_end_batch``
    but repaints the whole screen after; here the screen, whose idle handler ran during the
    batch, is prompted again. ``tests/test_app.py`` checks the order and that it follows.
    """
    app._begin_batch()

    def end() -> None:
        app._end_batch()
        if app.screen_stack:  # not once the app has closed its screens (quitting)
            app.screen.check_idle()

    try:
        yield
    finally:
        asyncio.get_running_loop().call_later(delay, end)
