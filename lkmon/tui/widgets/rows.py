"""A pane of a few fixed rows on Textual's Line API: a re-render redraws only the rows that changed.

The status strip, the VAD pane and the usage pane show a handful of lines that change up to
several times a second, most often one row at a time (a level meter, the elapsed time, the speech
probability, a plot column, the session duration).
As a ``Static``, every change converted the whole text to Textual ``Content`` and redrew every row
(7 ms per VAD update at 120x40, most of a live session's periodic frames). Here each row is a Rich
``Text`` rendered to one ``Strip`` only when its text or styles changed, and only those rows are
marked dirty (``Widget.refresh(region)``), so the compositor redraws only them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lkmon.tui.widgets.common import guarded


class RowsPane(Widget):
    """Rows of one line each, set with ``show_rows``; lines too wide end in an ellipsis."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._keys: list[Hashable] = []
        self._strips: list[Strip] = []
        self._texts: list[Text] = []
        self._width = -1
        self._pass: tuple[int, Style] = (0, Style())
        self._style: Style | None = None  # rich_style, until the styles change

    def show_rows(self, rows: Sequence[Text]) -> int:
        """Show ``rows`` (one ``Text`` each, no newline); redraw only the rows whose text or
        styles changed since the last call. Returns how many rows were redrawn."""
        width = self.content_region.width
        whole = width != self._width or len(rows) != len(self._keys)
        changed = self._render_rows(rows, width)
        if whole:
            self.refresh()
        else:
            for y in changed:
                self.refresh(Region(0, y, width, 1))
        return len(rows) if whole else len(changed)

    def _render_rows(self, rows: Sequence[Text], width: int) -> list[int]:
        """Render the rows that changed to strips ``width`` cells wide; their indexes."""
        console = self.app.console
        same_width = width == self._width
        old = self._keys
        keys: list[Hashable] = []
        strips: list[Strip] = []
        changed: list[int] = []
        for y, text in enumerate(rows):
            key = (text.plain, tuple(text.spans), str(text.style))
            keys.append(key)
            if same_width and y < len(old) and old[y] == key:
                strips.append(self._strips[y])
                continue
            if text.cell_len > width:
                text = text.copy()
                text.truncate(max(width, 0), overflow="ellipsis")
            segments = list(text.render(console))
            if text.style and not text.spans:  # Rich drops the base style of a text with no span
                segments = list(Segment.apply_style(segments, console.get_style(text.style)))
            strips.append(Strip(segments, text.cell_len))
            changed.append(y)
        self._texts, self._keys, self._strips, self._width = list(rows), keys, strips, width
        return changed

    def rendered_text(self) -> str:
        """The plain text of every row, as last shown (for tests and exports)."""
        return "\n".join(text.plain for text in self._texts)

    def notify_style_update(self) -> None:
        """Textual restyled this widget (a class, a pseudo-class, the theme, or an ancestor's):
        its style is computed again at the next render."""
        self._style = None
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Render the rows in ``crop``; the width is looked up once per pass, and the widget's
        style (``rich_style``, which walks every ancestor) once per change of styles."""
        style = self._style
        if style is None:
            style = self._style = self.rich_style
        self._pass = (self.content_region.width, style)
        return super().render_lines(crop)

    @guarded("rows.render_line", fallback=lambda self, y: Strip.blank(self.size.width))
    def render_line(self, y: int) -> Strip:
        """Row ``y`` in the widget's style (Textual Line API; Textual pads it to the content's
        width with the background)."""
        width, style = self._pass
        if width != self._width:  # resized since the rows were rendered: this pass draws all
            self._render_rows(self._texts, width)
        if y >= len(self._strips):
            return Strip.blank(width, style)
        return self._strips[y].apply_style(style)
