"""A virtual list for the Line API: items rendered to wrapped lines, only visible lines drawn.

The transcript and the log panes subclass ``ItemLines``. Each item is wrapped once per
(key, width) to learn how many lines it takes; only that count is kept for every item, and the
strips of the items last drawn (a bounded cache, ``STRIP_CACHE_ITEMS``). A refresh re-wraps only
the items whose key changed, so a pane with thousands of entries costs the same per frame, and
holds about the same memory, as one with ten: a Textual ``Strip`` carries seven small caches of
its own, so one kept per line of a long session was most of the TUI's memory and of the objects
every full garbage collection walks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Sequence
from operator import is_, is_not
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Offset, Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lkmon.tui import compat
from lkmon.tui.compat import crop_extend
from lkmon.tui.widgets.common import (
    guarded,
    refresh_scrollbar,
    report_widget_error,
    set_virtual_size,
)

STRIP_CACHE_ITEMS = 96
"""Items whose rendered strips are kept (those drawn last); the others keep a line count. More
than a full-height pane of one-line items at 200x60; each kept line costs about 1 KB (a Textual
``Strip`` and its styled copy, seven small caches each), so 256 held ~0.8 MB more."""


def text_to_strips(text: Text | tuple[Text, Text], width: int, console: Console) -> list[Strip]:
    """Wrap ``text`` to ``width`` cells and return one ``Strip`` per line.

    A ``(prefix, body)`` pair wraps the body beside the prefix, with a hanging indent.
    """
    width = max(width, 1)
    if isinstance(text, tuple):
        prefix, body = text
        indent = prefix.cell_len
        if indent > width // 2:  # too narrow for a hanging indent: wrap as one text
            return text_to_strips(Text.assemble(prefix, body), width, console)
        out = []
        for i, line in enumerate(body.wrap(console, width - indent, overflow="fold")):
            head = prefix.copy() if i == 0 else Text(" " * indent)
            head.append_text(line)
            out.append(Strip(head.render(console), head.cell_len))
        return out or [Strip(prefix.render(console), prefix.cell_len)]
    lines = text.wrap(console, width, overflow="fold")
    strips = [Strip(line.render(console), line.cell_len) for line in lines]
    return strips or [Strip.blank(0)]


def _dropped(items: Sequence[Any], old_items: Sequence[Any], most: int = 256) -> int | None:
    """How many of ``old_items`` left the front of the list (``items`` is ``old_items`` less
    its first n, plus new ones): the position of ``items[0]`` among the first ``most`` old
    items, by identity; None when it is not there."""
    if not items or not old_items:
        return 0
    first = items[0]
    for n, item in enumerate(old_items[:most]):
        if item is first:
            return n
    return None


class ItemLines(ScrollView, can_focus=True):
    """A scrolling list of items, each rendered to one or more lines.

    Subclasses implement ``items()``, ``item_key(item)`` and ``render_item(item) -> Text``.
    Call ``update_view()`` when the items may have changed. The view follows the end of the list
    while it is scrolled to the bottom (``auto_scroll``).
    """

    auto_scroll: bool = True
    """Scroll to the newest item when the view was already at the end."""
    mutable_tail: int | None = None
    """How many of the newest items may still change in place (``None``: any of them)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # id(item) -> (item, key hash, line count); the item is held so that its id is not
        # reused. A key is kept as its hash: an int instead of a tuple of the item's fields,
        # for every item of the session (0.21 MB less over 3,000 turns; docs/benchmarks.md)
        self._item_cache: dict[int, tuple[Any, int, int]] = {}
        self._cache_width = 0
        self._items: list[Any] = []
        self._keys: list[int] = []
        self._starts: list[int] = []  # first line of each item
        self._line_total = 0
        self._empty: list[Strip] = []  # the empty text's lines, when there is no item
        self._strips: LRUCache[int, tuple[Any, int, list[Strip]]] = LRUCache(
            STRIP_CACHE_ITEMS)
        self._wrap_width = 0
        self._base_style = Style()
        self._stick_end = True
        self._offset = Offset(0, 0)
        self._pass_width = 0

    # --- for subclasses -------------------------------------------------------------------
    def items(self) -> Sequence[Any]:
        """The items to show, oldest first."""
        return ()

    def item_key(self, item: Any) -> Hashable:
        """A key that changes whenever the item's rendering would change."""
        return id(item)

    def render_item(self, item: Any) -> Text | tuple[Text, Text]:
        """Render one item: a ``Text``, or ``(prefix, body)`` to wrap the body beside the
        prefix with a hanging indent. It is wrapped to the pane's width."""
        return Text(str(item))

    def empty_text(self) -> Text:
        """Shown when there is no item."""
        return Text("")

    # --- view -----------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        """Number of wrapped lines in the view."""
        return self._line_total if self._items else len(self._empty)

    def line(self, index: int) -> Strip:
        """Wrapped line ``index`` (0-based) of the view, unstyled; raises IndexError."""
        if not 0 <= index < self.line_count:
            raise IndexError(index)
        if not self._items:
            return self._empty[index]
        i = bisect_right(self._starts, index) - 1
        return self._item_strips(i)[index - self._starts[i]]

    def rendered_text(self) -> str:
        """The plain text of every line (for tests and exports)."""
        return "\n".join(self.line(i).text for i in range(self.line_count))

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _render_strips(self, item: Any, width: int) -> list[Strip]:
        """``item`` wrapped to ``width``; a failing item shows its error instead (reported)."""
        console = self.app.console
        try:
            return text_to_strips(self.render_item(item), width, console)
        except Exception as e:  # one bad item must not blank the pane
            report_widget_error(self, f"{type(self).__name__}.render_item", e)
            return [Strip([]), *text_to_strips(Text(f"⚠ {e!r}", style="red"), width, console)]

    def _item_strips(self, i: int) -> list[Strip]:
        """The strips of item ``i``, from the cache or rendered again at the wrap width."""
        item, key = self._items[i], self._keys[i]
        cached = self._strips.get(id(item))
        if cached is not None and cached[0] is item and cached[1] == key:
            return cached[2]
        strips = self._render_strips(item, self._wrap_width)
        self._strips[id(item)] = (item, key, strips)
        return strips

    def update_view(self) -> None:
        """Re-wrap changed items and refresh the view, following the end if it was there.

        Items older than the last ``mutable_tail`` are taken as settled: a prefix of them in
        the same places as last time keeps its keys and line counts without being looked at
        again, and any other is reused by identity without computing its key (the cache holds
        a reference to each item, so an id cannot be reused by another object while it is
        cached). When only items changed in place, with the same line count, only their lines
        are redrawn.
        """
        width = self._content_width()
        if width < 8:  # not laid out yet (or hidden): wrapping now would be wasted work
            self._wrap_width = 0
            return
        at_end = self._stick_end or self.is_vertical_scroll_end or self.max_scroll_y == 0
        if width != self._wrap_width:
            self._strips.clear()
        self._wrap_width = width
        items = list(self.items())
        old_items = self._items
        settled = len(items) - self.mutable_tail if self.mutable_tail is not None else 0
        same_width = width == self._cache_width
        # the oldest items may have left a bounded list: find where the old first item went
        found = _dropped(items, old_items) if same_width and settled > 0 else 0
        shift = found or 0
        kept = max(0, min(settled, len(old_items) - shift)) if found is not None else 0
        if kept > 0 and not all(map(is_, items[:kept], old_items[shift:shift + kept])):
            kept = 0
        if kept:
            cache = self._item_cache  # the kept prefix's entries stay; the rest are redone
            for item in old_items[:shift]:
                cache.pop(id(item), None)
            old = {id(item): entry for item in old_items[shift + kept:]
                   if (entry := cache.pop(id(item), None)) is not None}
            base = self._starts[shift] if shift else 0
            keys = self._keys[shift:shift + kept]
            starts = [start - base for start in self._starts[shift:shift + kept]] if shift else \
                self._starts[:kept]
            end = shift + kept
            total = (self._starts[end] if end < len(old_items) else self._line_total) - base
        else:
            old = self._item_cache if same_width else {}
            cache = {}
            keys, starts, total, base = [], [], 0, 0
        same_end: int | None = None  # lines before it are the same strips as last drawn
        old_starts, old_count = self._starts, len(old_items)
        redrawn: list[tuple[int, int]] = []  # (first line, line count) of items wrapped again
        item_key = self.item_key
        for i in range(kept, len(items)):
            item = items[i]
            if same_end is None and not (shift + i < old_count and old_items[shift + i] is item
                                         and old_starts[shift + i] - base == total):
                same_end = total  # an item moved, or a new one
            cached = old.get(id(item))
            if cached is not None and cached[0] is item and i < settled:
                key, n = cached[1], cached[2]
            else:
                try:
                    key = hash(item_key(item))
                except Exception as e:  # shown as the item's error line
                    key = hash(("error", repr(e)))
                if cached is not None and cached[0] is item and cached[1] == key:
                    n = cached[2]
                else:
                    strips = self._render_strips(item, width)
                    self._strips[id(item)] = (item, key, strips)
                    n = len(strips)
                    redrawn.append((total, n))
                    if same_end is None:
                        same_end = total  # wrapped again: its lines may differ
            cache[id(item)] = (item, key, n)
            keys.append(key)
            starts.append(total)
            total += n
        moved = bool(shift) or len(items) != len(old_items) or total != self._line_total or any(
            map(is_not, items[kept:], old_items[kept:]))
        was_empty = not old_items
        self._item_cache = cache
        self._cache_width = width
        self._items, self._keys, self._starts, self._line_total = items, keys, starts, total
        if not items:
            empty = text_to_strips(self.empty_text(), width, self.app.console)
            moved = moved or not was_empty or [s.text for s in empty] != [
                s.text for s in self._empty]
            self._empty = empty
        if not moved and same_width:  # the same lines in the same places: redraw the ones
            for first, count in redrawn:  # wrapped again
                self.refresh_lines(first, count)
            return
        drawn = compat.rendered_rows(self) if same_width else {}  # to keep if they move
        top = int(self.scroll_y) - base  # the line drawn first, in the new numbering
        set_virtual_size(self, Size(width, self.line_count))
        if self.auto_scroll and at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        refresh_scrollbar(self)  # once scrolled (set_virtual_size)
        self.refresh()
        if drawn:  # the unchanged lines still on screen are moved, not drawn again
            self._keep_drawn(drawn, top, total if same_end is None else same_end)

    def _keep_drawn(self, drawn: dict[int, Strip], top: int, same_end: int) -> None:
        """Give the rows that now show line ``j < same_end`` the strip that the row showing
        line ``j`` had (``drawn``, by widget row, the first content row showing line ``top``)."""
        first = self.styles.gutter.top  # the first content row of the widget
        height = self.scrollable_content_region.height
        new_top = int(self.scroll_y)
        moved = {}
        for row in range(first, first + height):
            line = new_top + row - first
            if line >= same_end:
                break
            source = line - top + first
            if first <= source < first + height and (strip := drawn.get(source)) is not None:
                moved[row] = strip
        compat.keep_rendered_rows(self, moved)

    def on_resize(self) -> None:
        """Re-wrap for the new width; stay at the end if the view was following it."""
        if self._content_width() != self._wrap_width:
            self.update_view()
        if self.auto_scroll and self._stick_end:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Follow the end again once the user scrolls back down to it."""
        super().watch_scroll_y(old_value, new_value)
        self._stick_end = new_value >= self.max_scroll_y

    def on_mount(self) -> None:
        """First render."""
        self.call_after_refresh(self.update_view)

    def render_lines(self, crop: Region) -> list[Strip]:
        """Render the visible lines; the widget's style is looked up once per pass."""
        self._base_style = self.rich_style
        self._offset = self.scroll_offset
        self._pass_width = self.size.width
        return super().render_lines(crop)

    @guarded("lines.render_line", fallback=lambda self, y: Strip.blank(self.size.width))
    def render_line(self, y: int) -> Strip:
        """Render the visible line ``y`` (Textual Line API)."""
        scroll_x, scroll_y = self._offset
        index = scroll_y + y
        width = self._pass_width
        style = self._base_style
        if index >= self.line_count or not self._wrap_width:
            return Strip.blank(width, style)
        strip = self.line(index).apply_style(style)
        return crop_extend(strip, scroll_x, scroll_x + width, style)
