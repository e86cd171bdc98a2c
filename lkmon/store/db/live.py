"""Store a running session as its turns complete, from a writer thread (never on the event loop).

``LiveWriter.observe(model, changed)`` is called on the event-loop thread after every fold of
events into the ``SessionModel`` (``lkmon.headless.HeadlessPrinter``, the TUI's drain). When a
turn has completed since the last call it takes the snapshot object (``to_snapshot``: a copy, a
millisecond or so for a short session) and hands it to the writer thread, which builds the rows
(``session_rows``: secrets redacted) and upserts them (``Store.upsert_session``: keyed by
``session_id``, turn index, chat item id; one transaction). Only the newest snapshot waits: a
slow database makes the thread skip snapshots, never the loop wait. A ``kill -9`` after a turn's
write committed loses none of the turns written. No textual or livekit import here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lkmon.model.areas import Area

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel
    from lkmon.store.db.store import Store
    from lkmon.store.format import Snapshot

log = logging.getLogger("lkmon.store.live")

SETTLING = 3
"""The newest complete turns whose later figure changes are written too."""


def _settled_key(model: SessionModel) -> Any:
    """What a live write depends on: the number of complete turns and the figures of the last
    ``SETTLING`` of them; ``None`` before the first turn completes."""
    done = [t for t in model.turns if t.complete]
    if not done:
        return None
    return len(done), tuple((t.index, t.done_at, astuple(t.metrics), t.interrupted, t.failed)
                            for t in done[-SETTLING:])


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
        self._pending: Snapshot | None = None
        self._busy = False
        self._closed = False
        self._seen: Any = None
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
        key = _settled_key(model)
        if key is None or key == self._seen:
            return
        self._seen = key
        try:
            from lkmon.store.convert import to_snapshot

            self.submit(to_snapshot(model, redact_text=self._redact))
        except Exception as e:  # the session goes on; the final write stores it
            log.warning("live store write skipped: %s", e)

    def submit(self, snapshot: Snapshot) -> None:
        """Queue ``snapshot`` for writing, replacing one still waiting. Never waits."""
        with self._cond:
            if self._closed:
                return
            self._pending = snapshot
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
                    snapshot, self._pending = self._pending, None
                    if snapshot is None:
                        return
                    self._busy = True
                try:
                    if store is None:
                        store = self._open_store()
                    self._write(store, snapshot)
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

    def _write(self, store: Store, snapshot: Snapshot) -> None:
        from lkmon.store.db import provenance
        from lkmon.store.db.rows import session_rows

        if self._provenance is None:
            self._provenance = {
                "agent_sha256": provenance.file_sha256(self._agent_file),
                "agent_git_commit": provenance.git_commit(self._agent_file),
                "livekit_agents_version": provenance.livekit_agents_version(),
            }
        rows = session_rows(snapshot, tags=self._tags, **self._provenance)
        store.upsert_session(rows)
        self.writes += 1
