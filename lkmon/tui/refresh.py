"""Re-rendering the panes: each at most every ``MIN_INTERVAL`` seconds, all in the same frames.

The app asks for the panes whose ``Area`` changed (``LkmonApp.refresh_areas``); a pane with a
``MIN_INTERVAL`` (seconds) that re-rendered less than that ago is marked pending and re-rendered
by the first ``flush`` after the interval ends, once however many changes came meanwhile. The app
calls ``flush`` from its drain timer, inside the same ``batch_update`` as the drain's own
refreshes, so that every pane's changes land in the same screen update: a frame costs Textual
about as much for one dirty pane as for several (it redraws the region around all of them), so
fewer frames is what saves CPU. For the same reason, once a pane re-renders, a ``flush`` also
re-renders the pending panes past half their interval: the status strip (0.25 s) and the VAD pane
(0.3 s) then share frames instead of drawing in turn. No timer per pane, and no livekit import.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


class PaneRefresh:
    """Calls ``pane.update_view()``, throttled per pane and batched into the caller's frames.

    Args:
        on_error: called with (where, exception) when a pane's ``update_view`` raises.
        clock: monotonic seconds (``time.monotonic``; fixed in tests).
    """

    def __init__(
        self,
        on_error: Callable[[str, BaseException], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_error = on_error
        self._clock = clock
        self._refreshed_at: dict[Any, float] = {}
        self._pending: dict[Any, None] = {}  # insertion-ordered set
        self._drew = False  # a pane re-rendered since the last flush

    @property
    def pending(self) -> int:
        """Panes waiting for their interval to end."""
        return len(self._pending)

    def pane(self, pane: Any, *, force: bool = True) -> None:
        """Re-render ``pane`` now, or mark it for the first ``flush`` after its ``MIN_INTERVAL``
        (unless ``force``)."""
        now = self._clock()
        if not force and not self._due(pane, now):
            self._pending[pane] = None
            return
        self._pending.pop(pane, None)
        self._refreshed_at[pane] = now
        self._drew = True
        try:
            pane.update_view()
        except Exception as e:  # shown, never fatal
            self._on_error(f"{type(pane).__name__}.update_view", e)

    def _due(self, pane: Any, now: float, part: float = 1.0) -> bool:
        """``pane`` last drew at least ``part`` of its ``MIN_INTERVAL`` ago (or never)."""
        interval = getattr(pane, "MIN_INTERVAL", 0.0)
        return now >= self._refreshed_at.get(pane, -math.inf) + interval * part

    def flush(self) -> None:
        """Re-render the pending panes whose interval has ended, and, when any pane re-rendered
        since the last flush, those past half their interval (they join the same frame)."""
        if self._pending:
            now = self._clock()
            if self._drew or any(self._due(pane, now) for pane in self._pending):
                for pane in [p for p in self._pending if self._due(p, now, 0.5)]:
                    self.pane(pane)
        self._drew = False
