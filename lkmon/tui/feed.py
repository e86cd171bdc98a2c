"""The queue between the agent and the model: events are posted cheaply and folded in batches.

``EventFeed.post`` is the ``emit`` callback the runner calls for every event, on the event-loop
thread: an append to a deque. Audio levels, where only the latest value matters, replace each
other instead of queueing (the same idea as Textual's ``can_replace``). ``drain`` folds the queue
into the ``SessionModel`` and returns the ``Area`` values that changed, so the app refreshes only
those panes. No textual or livekit import here.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable

from lkmon import redact as secrets
from lkmon.model.areas import Area
from lkmon.model.events import AudioLevel, ErrorRaised, Event
from lkmon.model.state import SessionModel

log = logging.getLogger("lkmon.tui.feed")

MAX_EVENTS_PER_DRAIN = 20_000
"""Events folded per drain at most, so one drain never holds the loop for long."""
MAX_QUEUE = 200_000
"""Events waiting at most; beyond it events are dropped from the screen (the journal keeps
them, and a warning says how many)."""


class EventFeed:
    """Queues events for a ``SessionModel`` and folds them in on demand.

    Args:
        model: the model to fold events into.
        on_error: called with (where, exception) when ``model.apply`` raises; the event is
            skipped and the feed goes on.
    """

    def __init__(
        self, model: SessionModel, on_error: Callable[[str, BaseException], None]
    ) -> None:
        self.model = model
        self.on_error = on_error
        self.paused = 0
        """While above 0, ``drain`` folds nothing (a thread is reading the model)."""
        self.dropped_total = 0
        """Events dropped because the queue was full, over the session."""
        self._queue: deque[Event] = deque()
        self._levels: dict[str, AudioLevel] = {}
        self._dropped = 0
        self._errors_seen: dict[tuple[str, str], int] = {}
        self._redactor = secrets.default_redactor()

    def report_error(self, where: str, error: BaseException, ts: float) -> None:
        """Log an exception from lkmon's own code and queue it as ``ErrorRaised(source=
        "lkmon")`` (banner + log pane), once per kind; repeats are only counted. Never raises.

        Args:
            where: the code that failed, e.g. ``"turns.render_line"``.
            ts: epoch seconds of the event.
        """
        key = (where, f"{type(error).__name__}: {error}")
        count = self._errors_seen.get(key, 0) + 1
        self._errors_seen[key] = count
        log.error("lkmon error in %s: %s", where, key[1], exc_info=error if count == 1 else None)
        if count > 1:
            return
        message = self._redactor.redact(f"{where}: {key[1]}")
        # through the queue, so a failing pane cannot re-enter itself
        self.post(ErrorRaised(ts=ts, source="lkmon", message=message, recoverable=True))

    def __len__(self) -> int:
        """Events waiting (audio levels not counted)."""
        return len(self._queue)

    def post(self, event: Event) -> None:
        """Queue one event (cheap; never raises). Audio levels keep the latest per source."""
        if type(event) is AudioLevel:
            self._levels[event.source] = event
            return
        if len(self._queue) >= MAX_QUEUE:
            self._dropped += 1
            return
        self._queue.append(event)

    def apply(self, event: Event) -> set[Area]:
        """Fold one event now; a model error is reported and yields no change."""
        try:
            return self.model.apply(event)
        except Exception as e:  # a model bug must not stop the session
            self.on_error(f"model.apply({type(event).__name__})", e)
            return set()

    def apply_many(self, events: Iterable[Event]) -> set[Area]:
        """Fold events now, in order; returns the union of the changed areas."""
        changed: set[Area] = set()
        for event in events:
            changed |= self.apply(event)
        return changed

    def drain(self, limit: int = MAX_EVENTS_PER_DRAIN) -> tuple[int, set[Area]]:
        """Fold up to ``limit`` queued events and the latest audio levels.

        Returns:
            (events folded, areas changed); (0, empty) while paused.
        """
        if self.paused:
            return 0, set()
        changed: set[Area] = set()
        n = 0
        queue = self._queue
        apply = self.apply
        while queue and n < limit:
            changed |= apply(queue.popleft())
            n += 1
        if self._levels:
            levels, self._levels = self._levels, {}
            for event in levels.values():
                changed |= apply(event)
                n += 1
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            self.dropped_total += dropped
            log.warning("event queue full: %d events dropped from the screen "
                        "(the journal keeps them)", dropped)
        return n, changed
