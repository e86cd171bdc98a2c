"""``ReplaySource``: a saved session, a snapshot or a journal, opened whole.

Loads through the store's public loader (``lkmon.store.load_session``); nothing is live, so
``run`` returns at once and nothing can be sent to an agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lkmon.sources.base import Capabilities, SessionSource, SourceError

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable


class ReplaySource(SessionSource):
    """A snapshot (``lkmon-*.json``) or a session journal (``*.jsonl``), replayed.

    Args:
        path: the file; its kind is told from its content.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def capabilities(self) -> Capabilities:
        """Nothing live, nothing to send."""
        return Capabilities()

    @property
    def description(self) -> str:
        """``"replay of PATH"``."""
        return f"replay of {self.path}"

    def open(self, prices: PriceTable | None = None) -> SessionModel:
        """Load the whole session.

        Args:
            prices: a price table to estimate costs with instead of the shipped one.

        Raises:
            SourceError: missing, unreadable, empty, truncated, not lkmon, or a newer format
                (the store's ``SnapshotError`` message, one line).
        """
        from lkmon.store import snapshot as store

        try:
            model = store.load_session(self.path)
        except store.SnapshotError as e:
            raise SourceError(str(e)) from None
        if prices is not None:
            model.prices = prices
        return model
