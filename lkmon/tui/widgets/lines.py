"""A virtual list for the Line API: items rendered to wrapped lines, only visible lines drawn.

The transcript and the log panes subclass ``ItemLines``. Each item is rendered once per
(key, width) and cached; a refresh re-renders only the items whose key changed, so a pane with
thousands of entries costs the same per frame as one with ten.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.geometry import Offset, Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lkmon.tui.widgets.common import guarded, report_widget_error


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
        self._item_cache: dict[int, tuple[Any, Hashable, list[Strip]]] = {}
        self._cache_width = 0
        self._item_lines: list[Strip] = []
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
        return len(self._item_lines)

    def rendered_text(self) -> str:
        """The plain text of every line (for tests and exports)."""
        return "\n".join(strip.text for strip in self._item_lines)

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def update_view(self) -> None:
        """Re-render changed items and refresh the view, following the end if it was there.

        Items older than the last ``mutable_tail`` are taken as settled: they are reused by
        identity without computing their key (the cache holds a reference to each item, so an
        id cannot be reused by another object while it is cached).
        """
        width = self._content_width()
        if width < 8:  # not laid out yet (or hidden): wrapping now would be wasted work
            self._wrap_width = 0
            return
        at_end = self._stick_end or self.is_vertical_scroll_end or self.max_scroll_y == 0
        self._wrap_width = width
        console = self.app.console
        old = self._item_cache
        cache: dict[int, tuple[Any, Hashable, list[Strip]]] = {}
        lines: list[Strip] = []
        items = self.items()
        settled = len(items) - self.mutable_tail if self.mutable_tail is not None else 0
        item_key = self.item_key
        for i, item in enumerate(items):
            try:
                cached = old.get(id(item)) if width == self._cache_width else None
                if cached is not None and cached[0] is item and i < settled:
                    key, strips = cached[1], cached[2]
                else:
                    key = item_key(item)
                    if cached is not None and cached[0] is item and cached[1] == key:
                        strips = cached[2]
                    else:
                        strips = text_to_strips(self.render_item(item), width, console)
                cache[id(item)] = (item, key, strips)
            except Exception as e:  # one bad item must not blank the pane
                report_widget_error(self, f"{type(self).__name__}.render_item", e)
                strips = [Strip([]), *text_to_strips(Text(f"⚠ {e!r}", style="red"), width, console)]
            lines.extend(strips)
        if not items:
            lines = text_to_strips(self.empty_text(), width, console)
        self._item_cache = cache
        self._cache_width = width
        unchanged = len(lines) == len(self._item_lines) and all(
            a is b for a, b in zip(lines, self._item_lines, strict=True)
        )
        self._item_lines = lines
        if unchanged:
            return
        self.virtual_size = Size(width, len(lines))
        if self.auto_scroll and at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

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
        if index >= len(self._item_lines):
            return Strip.blank(width, style)
        strip = self._item_lines[index].apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)
