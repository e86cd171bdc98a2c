"""The session journal: every lkmon event appended as one JSON line, crash-safe.

``JournalWriter`` serialises and writes on a background thread, so the event loop only pays for
a ``queue.put``. Each event is written with its own ``write(2)`` (nothing waits in a user-space
buffer: a ``kill -9`` loses at most the line being written), and the file is fsynced when a turn
completes (``SpeechDone``) and at close. The file is created with mode 0600 and every line passes
through the secrets redactor.

``read_journal`` reads it back, skipping a torn last line (the one a crash cut short).

No textual or livekit import here.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

from lkmon.model.events import Event, SpeechDone, event_from_dict, event_to_dict
from lkmon.redact import default_redactor

logger = logging.getLogger("lkmon.store.journal")

JOURNAL_DIR = Path("lkmon-sessions")
"""Where journals and snapshots go by default (relative to the current directory)."""

_STOP = object()


def default_journal_path(now: float | None = None, folder: Path = JOURNAL_DIR) -> Path:
    """``lkmon-sessions/<YYYYmmdd-HHMMSS>.journal.jsonl``, with a suffix if it exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    path = folder / f"{stamp}.journal.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}.journal.jsonl"
    return path


class JournalWriter:
    """Appends events to a JSON Lines file from a background thread.

    Args:
        path: the journal file; its folder is created. An existing file is appended to.

    Raises:
        OSError: the file cannot be created (the caller turns it into a UsageError).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(self._fd, 0o600)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._redactor = default_redactor()
        self.written = 0
        self.fsyncs = 0
        self.failed: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lkmon-journal", daemon=True)
        self._thread.start()

    def write(self, event: Event) -> None:
        """Queue ``event`` for writing. Cheap and non-blocking; safe from any thread."""
        if not self._closed:
            self._queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, fsync, and close the file (waits up to ``timeout`` seconds)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("journal writer did not finish within %.1f s", timeout)
            return
        os.close(self._fd)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._fsync()
                return
            if self.failed is not None:
                continue
            try:
                data = self._redactor.redact_obj(event_to_dict(item))  # type: ignore[arg-type]
                line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            except (TypeError, ValueError) as e:
                logger.error("journal: %s not written: %s", type(item).__name__, e)
                continue
            payload = (line + "\n").encode("utf-8")
            try:
                while payload:
                    n = os.write(self._fd, payload)
                    payload = payload[n:]
            except OSError as e:
                self.failed = f"{type(e).__name__}: {e}"
                logger.error("journal %s: writing stopped: %s", self.path, self.failed)
                continue
            self.written += 1
            if isinstance(item, SpeechDone):
                self._fsync()

    def _fsync(self) -> None:
        try:
            os.fsync(self._fd)
            self.fsyncs += 1
        except OSError as e:
            logger.error("journal %s: fsync failed: %s", self.path, e)


def read_journal(path: str | Path) -> list[Event]:
    """Read a journal back into events.

    A torn last line (no newline, or not valid JSON) is skipped with a warning on the
    ``lkmon.store.journal`` logger; so is a line whose event type this lkmon does not know.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line other than the last is not valid JSON (not an lkmon journal).
    """
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    events: list[Event] = []
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last or (i == last - 1 and not lines[last].strip()):
                logger.warning("journal %s: skipped a torn last line (%d bytes)", path, len(line))
                continue
            raise ValueError(f"journal {path}: line {i + 1} is not JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"journal {path}: line {i + 1} is not an event object")
        try:
            events.append(event_from_dict(data))
        except ValueError as e:
            logger.warning("journal %s: line %d skipped: %s", path, i + 1, e)
    return events
