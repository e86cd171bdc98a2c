"""Re-rendering the panes: each at most every ``MIN_INTERVAL`` seconds, failures shown once.

The app asks for the panes whose ``Area`` changed (``LkmonApp.refresh_areas``); a pane with a
``MIN_INTERVAL`` (seconds) that re-rendered less than that ago is re-rendered when the interval
ends, once however many changes came meanwhile. No livekit import here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class PaneRefresh:
    """Calls ``pane.update_view()``, throttled per pane.

    Args:
        set_timer: ``App.set_timer`` (seconds, callback), for a re-render that has to wait.
        on_error: called with (where, exception) when a pane's ``update_view`` raises.
    """

    def __init__(
        self,
        set_timer: Callable[[float, Callable[[], None]], Any],
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self._set_timer = set_timer
        self._on_error = on_error
        self._refreshed_at: dict[Any, float] = {}
        self._pending: set[Any] = set()

    def pane(self, pane: Any, *, force: bool = True) -> None:
        """Re-render ``pane`` now, or when its ``MIN_INTERVAL`` ends (unless ``force``)."""
        interval = getattr(pane, "MIN_INTERVAL", 0.0)
        if interval and not force:
            now = time.monotonic()
            due = self._refreshed_at.get(pane, 0.0) + interval
            if now < due:
                if pane not in self._pending:
                    self._pending.add(pane)
                    self._set_timer(due - now, lambda: self.pane(pane))
                return
        self._pending.discard(pane)
        self._refreshed_at[pane] = time.monotonic()
        try:
            pane.update_view()
        except Exception as e:  # shown, never fatal
            self._on_error(f"{type(pane).__name__}.update_view", e)
