"""Store a running session as its turns complete, from a writer thread (never on the event loop).

``LiveWriter.observe(model, changed)`` is called on the event-loop thread after every fold of
events into the ``SessionModel`` (``lkmon.headless.HeadlessPrinter``, the TUI's drain). When a
turn has completed, or a figure of one of the last ``SETTLING`` complete turns changed, it takes
the snapshot object of a window of the model (``to_snapshot`` of ``_Window``: the turns from the
third-newest complete one on, their transcript lines, the newest chat messages) and hands it to
the writer thread, which builds the rows (``session_rows``: secrets redacted) and upserts them
(``Store.upsert_session``: keyed by ``session_id``, turn index, chat item id; one transaction).
So the loop pays for a few turns, not the whole session; the end-of-run write
(``lkmon.cli_store.finish_run``) replaces every row. Only the newest hand-over waits: a slow
database makes the thread skip some, never the loop wait. A ``kill -9`` after a turn's write
committed loses none of the turns written. No textual or livekit import here.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import astuple
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lkmon.model.areas import Area

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel
    from lkmon.model.turns import Turn
    from lkmon.store.db.store import Store
    from lkmon.store.format import Snapshot

log = logging.getLogger("lkmon.store.live")

SETTLING = 3
"""The newest complete turns whose later figure changes are written too."""
RECENT_MESSAGES = 32
"""The newest chat messages (``conversation_item_added``, with their metrics) every live write
carries: those of the written turns (a turn has a few)."""


def _settled(model: SessionModel) -> tuple[int, list[Turn]]:
    """The number of complete turns and the last ``SETTLING`` of them (newest last), read from
    the end of the turn list."""
    done = sum(1 for t in model.turns if t.complete)
    last: list[Turn] = []
    for t in reversed(model.turns):
        if len(last) == SETTLING:
            break
        if t.complete:
            last.append(t)
    return done, last[::-1]


def _key(done: int, last: list[Turn]) -> Any:
    """What a live write depends on: the count of complete turns and the last ones' figures."""
    return done, tuple((t.index, t.done_at, astuple(t.metrics), t.interrupted, t.failed)
                       for t in last)


class _Window:
    """The model as ``to_snapshot`` reads it, with only the turns from ``turns[0]`` on, the
    transcript lines of those turns and the events since the last hand-over: a live write's
    copy costs the loop a few turns, not the whole session (the end-of-run write has it all)."""

    def __init__(self, model: SessionModel, turns: list[Turn], events: list[Any]) -> None:
        self._model = model
        self.turns = turns
        lo = turns[0].index
        self.transcript = [e for e in model.transcript if e.turn is not None and e.turn >= lo]
        self._events = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def record(self) -> list[Any]:
        return self._events


class LiveWriter:
    """Writes a session's rows to the store each time a turn completes.

    Args:
        open_store: opens the store (called once, on the writer thread); it may raise.
        agent_file: the agent file (its SHA-256 and git commit are read once, on the thread).
        redact_text: transcript text as placeholders (``--redact``).
        tags: ``--tag KEY=VALUE`` labels of the session.

    Attributes:
        writes: snapshots written so far.
        error: the first write error (one line), or ``None``; later writes are still tried.
    """

    def __init__(self, open_store: Callable[[], Store], agent_file: Path, *,
                 redact_text: bool = False, tags: dict[str, str] | None = None) -> None:
        self._open_store = open_store
        self._agent_file = agent_file
        self._redact = redact_text
        self._tags = dict(tags or {})
        self._cond = threading.Condition()
        self._pending: tuple[Snapshot, dict[str, int]] | None = None
        self._busy = False
        self._closed = False
        self._seen: Any = None
        self._events_at = 0
        self._messages: deque[Any] = deque(maxlen=RECENT_MESSAGES)
        self._provenance: dict[str, Any] | None = None
        self.writes = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="lkmon-store", daemon=True)
        self._thread.start()

    # --- the event-loop side ---------------------------------------------------------------
    def observe(self, model: SessionModel, changed: set[Area]) -> None:
        """Call after folding events (event-loop thread): hands a snapshot to the writer when a
        turn completed, or the figures of one of the last ``SETTLING`` complete turns changed
        (a playback or usage figure that arrives after the reply finished). Never raises, never
        waits for the database."""
        if Area.TURNS not in changed or model.session.started_at is None:
            return
        done, last = _settled(model)
        key = _key(done, last) if last else None
        if key is None or key == self._seen:
            return
        self._seen = key
        try:
            from lkmon.model.events import ChatMessageAdded
            from lkmon.store.convert import to_snapshot

            first = model.turns.index(last[0])
            new = model.event_count - self._events_at
            self._events_at = model.event_count
            self._messages.extend(e for e in list(islice(reversed(model.events), max(new, 0)))[::-1]
                                  if isinstance(e, ChatMessageAdded))
            window = _Window(model, model.turns[first:], list(self._messages))
            counts = {"turn_count": len(model.turns),
                      "failed_turn_count": sum(1 for t in model.turns if t.failed)}
            self.submit((to_snapshot(window, redact_text=self._redact), counts))  # type: ignore[arg-type]
        except Exception as e:  # the session goes on; the final write stores it
            log.warning("live store write skipped: %s", e)

    def submit(self, item: tuple[Snapshot, dict[str, int]]) -> None:
        """Queue ``(snapshot, session counts)`` for writing, replacing one still waiting.
        Never waits."""
        with self._cond:
            if self._closed:
                return
            self._pending = item
            self._cond.notify()

    def close(self, timeout: float = 30.0) -> None:
        """Write the snapshot still waiting, then stop the thread (at most ``timeout`` s)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is waiting or being written; False on timeout (for tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    # --- the writer thread -----------------------------------------------------------------
    def _loop(self) -> None:
        store: Store | None = None
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._pending is not None or self._closed)
                    item, self._pending = self._pending, None
                    if item is None:
                        return
                    self._busy = True
                try:
                    if store is None:
                        store = self._open_store()
                    self._write(store, *item)
                except Exception as e:  # noqa: BLE001 - one warning, the session goes on
                    if self.error is None:
                        self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
                        log.warning("live store write failed: %s", self.error)
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
        finally:
            if store is not None:
                store.close()

    def _write(self, store: Store, snapshot: Snapshot, counts: dict[str, int]) -> None:
        from lkmon.store.db import provenance
        from lkmon.store.db.rows import session_rows

        if self._provenance is None:
            self._provenance = {
                "agent_sha256": provenance.file_sha256(self._agent_file),
                "agent_git_commit": provenance.git_commit(self._agent_file),
                "livekit_agents_version": provenance.livekit_agents_version(),
            }
        rows = session_rows(snapshot, tags=self._tags, **self._provenance)
        rows.session.update(counts)
        store.upsert_session(rows, prune=False)  # the window's rows; the others stay
        self.writes += 1
