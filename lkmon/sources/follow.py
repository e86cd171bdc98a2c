"""``FollowSource``: a journal that another process is writing, followed as ``tail -f`` would.

The writer is ``lkmon run`` or ``lkmon.record(session)`` inside the user's own agent; lkmon only
reads. ``PATH`` is a journal file, or a folder (the sessions folder by default): the journal
most recently written to is followed, and when a new journal appears in the folder (the next
session started) the watch moves to it; the model starts again with that session (its
``SessionStarted`` carries another ``session_id``: ``SessionModel.apply`` resets).

What it survives: a writer not started yet (``waiting for a session in PATH``, as a log line,
until a journal appears), a torn last line (kept until its newline arrives; a line that never
parses is skipped with a warning), a journal that is deleted (the folder's next newest, or the
file when it comes back) or replaced by another file (rotated: read from its start). Reading
and decoding run in a thread (``asyncio.to_thread``), at most ``CHUNK`` bytes per read, so a
long journal never holds the event loop; new lines are looked for every ``POLL`` seconds.

No textual or livekit import here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lkmon.model.events import Event, LogRecord
from lkmon.sources.base import Capabilities, Emit, SessionSource, SourceError

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable

logger = logging.getLogger("lkmon.watch")

POLL = 0.05
"""Seconds between looks at the followed journal (new events on screen within 0.25 s)."""
SCAN = 0.25
"""Seconds between looks at a folder for a new session's journal."""
RESCAN = 2.0
"""Seconds after which a folder is listed again even if its time stamp did not change."""
CHUNK = 1 << 20
"""Bytes read at most per look (a long journal is caught up over several)."""
PATTERN = "*.jsonl"
"""The journals a folder is searched for (``*.journal.jsonl`` and ``--journal x.jsonl``)."""


@dataclass
class _Tail:
    """One followed file: where reading stopped and the bytes of a line not yet finished."""

    path: Path
    inode: int | None = None
    offset: int = 0
    pending: bytes = b""
    head: bytes = b""
    lines: int = 0
    skipped: int = 0
    events: list[Event] = field(default_factory=list)


class FollowSource(SessionSource):
    """Follows a journal (or a folder's newest journal) written by another process.

    Args:
        path: a journal file, or a folder; need not exist yet (its folder must).
        poll: seconds between looks at the journal (``POLL``).

    Attributes:
        sessions: every journal followed so far, in order (the sessions seen).
    """

    def __init__(self, path: str | Path, *, poll: float = POLL) -> None:
        self.path = Path(path)
        self.poll = poll
        self.sessions: list[Path] = []
        self._stop_requested = False
        self._model: SessionModel | None = None
        self._folder_mtime: int | None = None
        self._listed_at = 0.0

    @property
    def capabilities(self) -> Capabilities:
        """Live and remote; ``stop`` only stops watching; nothing can be sent to the agent."""
        return Capabilities(live=True, remote=True)

    @property
    def description(self) -> str:
        """``"watching PATH"``."""
        return f"watching {self.path}"

    @property
    def folder_mode(self) -> bool:
        """True when ``path`` is a folder (or does not exist and has no ``.jsonl`` suffix)."""
        return self.path.is_dir() or (not self.path.exists() and self.path.suffix != ".jsonl")

    def open(self, prices: PriceTable | None = None) -> SessionModel:
        """Check ``path`` and return an empty model (the events come with ``run``).

        Raises:
            SourceError: the folder ``path`` is in does not exist, or ``path`` is a file that
                is not an lkmon journal (a snapshot: use ``lkmon replay``).
        """
        from lkmon.model.state import SessionModel

        p = self.path
        if not p.exists() and not p.absolute().parent.is_dir():
            raise SourceError(f"{p}: no such file or folder")
        if p.is_file():
            _check_journal(p)
        self._model = SessionModel(prices)
        return self._model

    def stop(self, reason: str = "stopped") -> None:
        """Stop watching (the writer goes on). Idempotent; from any thread."""
        self._stop_requested = True

    async def run(self, emit: Emit) -> None:
        """Follow until ``stop``: deliver each new event of the followed journal to ``emit``.

        Raises:
            Nothing: unreadable or bad lines are logged and skipped.
        """
        tail: _Tail | None = None
        seen: set[Path] = set(self._listing()) if self.folder_mode else set()
        waiting = False
        next_scan = 0.0
        while not self._stop_requested:
            now = time.monotonic()
            if tail is None or (self.folder_mode and now >= next_scan and self._folder_changed()):
                next_scan = now + SCAN
                target = self._next_target(tail, seen)
                if target is not None and (tail is None or target != tail.path):
                    if tail is not None:
                        await asyncio.to_thread(_read, tail)  # the old one's last lines
                        self._deliver(tail, emit)
                    tail = _Tail(target)
                    self.sessions.append(target)
                    waiting = False
                elif tail is None and not waiting:
                    waiting = True
                    emit(LogRecord(ts=time.time(), level="INFO", logger="lkmon.watch",
                                   message=f"waiting for a session in {self.path}"))
            if tail is not None:
                alive = await asyncio.to_thread(_read, tail)
                self._deliver(tail, emit)
                if not alive and self.folder_mode:
                    tail = None  # deleted: the folder's next newest, or wait
                    continue
                if not alive:  # deleted: read it from its start when it comes back
                    tail = _Tail(tail.path)
            await asyncio.sleep(self.poll)

    def _deliver(self, tail: _Tail, emit: Emit) -> None:
        events, tail.events = tail.events, []
        for event in events:
            emit(event)

    def _listing(self) -> list[Path]:
        try:
            return [p for p in self.path.glob(PATTERN) if p.is_file()]
        except OSError as e:
            logger.debug("cannot list %s: %s", self.path, e)
            return []

    def _folder_changed(self) -> bool:
        """True when the folder's entries may have changed since the last look (its mtime: a
        journal created, removed or renamed), so a large folder is not listed 4 times a second;
        at least every ``RESCAN`` seconds anyway (a file system with coarse time stamps)."""
        now = time.monotonic()
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return True
        changed = mtime != self._folder_mtime or now - self._listed_at >= RESCAN
        if changed:
            self._folder_mtime, self._listed_at = mtime, now
        return changed

    def _next_target(self, tail: _Tail | None, seen: set[Path]) -> Path | None:
        """The journal to follow now: the file; in a folder, a journal that appeared since the
        last look (the next session), else the current one, else the newest."""
        if not self.folder_mode:
            return self.path if self.path.exists() else None
        listing = self._listing()
        new = [p for p in listing if p not in seen]
        seen.update(listing)
        if new:
            return _newest(new)
        if tail is not None and tail.path.exists():
            return tail.path
        return _newest(listing)


def _newest(paths: list[Path]) -> Path | None:
    best: tuple[float, str] | None = None
    found: Path | None = None
    for p in paths:
        try:
            key = (p.stat().st_mtime, p.name)
        except OSError:
            continue
        if best is None or key > best:
            best, found = key, p
    return found


def _check_journal(path: Path) -> None:
    """Refuse a file that is not an lkmon journal (an empty one is: its writer just began).

    Raises:
        SourceError: not readable, not JSON Lines, or not lkmon's.
    """
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    if not first.strip():
        return
    if not first.endswith(b"\n"):
        return  # the first line is still being written
    try:
        data = json.loads(first)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not ("lkmon_journal" in data or "type" in data):
        raise SourceError(
            f"{path}: not an lkmon journal (lkmon watch follows *.jsonl journals; open a "
            "snapshot with lkmon replay)"
        )


def _read(tail: _Tail) -> bool:
    """Read what was appended to ``tail.path`` since the last call (in a thread); decoded
    events go to ``tail.events``. A file replaced by another (a new inode, shorter than what
    was read, or another first line: the header names the session) is read from its start.

    Returns:
        False when the file is gone.
    """
    from lkmon.store.events import decode_json

    try:
        with open(tail.path, "rb") as f:
            st = os.fstat(f.fileno())
            if tail.inode is not None and (
                st.st_ino != tail.inode or st.st_size < tail.offset
                or (tail.head and os.pread(f.fileno(), len(tail.head), 0) != tail.head)
            ):
                logger.info("journal %s was replaced: reading it from its start", tail.path)
                tail.offset, tail.pending, tail.head, tail.lines = 0, b"", b"", 0
            tail.inode = st.st_ino
            if st.st_size <= tail.offset:
                return True
            f.seek(tail.offset)
            data = f.read(CHUNK)
            if not tail.head:  # its first line (256 bytes at most), once complete
                first = os.pread(f.fileno(), 256, 0)
                tail.head = first[: first.find(b"\n") + 1] if b"\n" in first else b""
    except FileNotFoundError:
        return False
    except OSError as e:
        logger.warning("cannot read %s: %s", tail.path, e)
        return True
    tail.offset += len(data)
    lines = (tail.pending + data).split(b"\n")
    tail.pending = lines.pop()  # b"" after a newline; else a line being written (or torn)
    for line in lines:
        if not line.strip():
            continue
        tail.lines += 1
        try:
            tail.events.append(decode_json(line))
        except ValueError as e:
            if tail.lines == 1 and b'"lkmon_journal"' in line:
                continue  # the header line
            tail.skipped += 1
            logger.warning("journal %s: line %d skipped: %s", tail.path, tail.lines, e)
    return True
