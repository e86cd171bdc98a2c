"""The log pane: ``livekit`` and ``lkmon`` log records, filtered by level.

Records come from ``SessionModel.logs`` (``LogRecord`` events, secrets already redacted by the
bridge). Nothing is ever written to the terminal directly: the runner routes the loggers into
events and this pane shows them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_clock, printable
from lkmon.tui.widgets.common import DIM, LEVEL_STYLES
from lkmon.tui.widgets.lines import ItemLines

LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
_LEVEL_NO = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}


def level_no(level: str) -> int:
    """Numeric value of a logging level name (unknown names count as INFO)."""
    return _LEVEL_NO.get(level.upper(), 20)


class LogPane(ItemLines):
    """Log records with a minimum level; ``l`` cycles the level filter."""

    AREAS = frozenset({Area.LOG})
    MIN_INTERVAL = 0.2  # seconds between re-renders: bursts of records
    mutable_tail = 0  # log records never change

    BINDINGS = [
        Binding("l", "cycle_level", "Log level", tooltip="Cycle the minimum log level shown.",
                id="log-level"),
    ]

    def __init__(self, model: SessionModel, *, min_level: str = "INFO",
                 id: str | None = "log") -> None:
        super().__init__(id=id, classes="pane")
        self.model = model
        self.min_level = min_level
        self.border_title = "5 Log"
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        self.border_subtitle = f"≥ {self.min_level} · l: level"

    def items(self) -> Sequence[Any]:
        """Log records at or above the chosen level, oldest first."""
        threshold = level_no(self.min_level)
        return [r for r in self.model.logs if level_no(r.level) >= threshold]

    def item_key(self, item: Any) -> Hashable:
        """Log records never change once made: the record itself, held and compared by
        identity in ``ItemLines``' caches, is all the key there is (nothing kept per record)."""
        return None

    def render_item(self, item: Any) -> tuple[Text, Text]:
        """``HH:MM:SS LEVEL logger: message``, wrapped with a hanging indent."""
        prefix = Text()
        prefix.append(fmt_clock(item.ts), style=DIM)
        level = item.level.upper()
        prefix.append(f" {level[:4]:<4} ", style=LEVEL_STYLES.get(level, "") or "bold")
        text = Text()
        text.append(f"{printable(item.logger)}: ", style=DIM)
        text.append(printable(item.message))
        return prefix, text

    def empty_text(self) -> Text:
        """Shown before the first record."""
        return Text(f"No log records at {self.min_level} or above yet.", style=DIM)

    def action_cycle_level(self) -> None:
        """Show DEBUG → INFO → WARNING → ERROR and back."""
        i = LEVELS.index(self.min_level) if self.min_level in LEVELS else 1
        self.min_level = LEVELS[(i + 1) % len(LEVELS)]
        self._update_subtitle()
        self.update_view()
