"""The session journal: a header line, then every lkmon event appended as one JSON line,
crash-safe.

The header (``{"lkmon_journal": 2, "session_id": ..., "lkmon_version": ..., "created_at": ...}``,
and ``"tags"`` when the session has some; ``lkmon.store.format_journal.JournalHeader``) names the
session; each event line is
``lkmon.store.events.encode`` of the event (``{"type": <LiveKit's event name>, "ts": ...}``).
Journals of lkmon 0.1 (no header, lkmon's own event names) still read.

``JournalWriter`` serialises and writes on a background thread, so the event loop only pays for
a ``queue.put``. Each event is written with its own ``write(2)`` (nothing waits in a user-space
buffer: a ``kill -9`` loses at most the line being written), and the file is fsynced when a turn
completes (``SpeechDone``) and at close. The file is created with mode 0600 and every line passes
through the secrets redactor.

``parse_journal`` / ``read_journal`` read it back, skipping a torn last line (the one a crash
cut short).

No textual or livekit import here.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from lkmon import __version__, paths
from lkmon.model.events import Event, SessionStarted, SpeechDone
from lkmon.redact import default_redactor
from lkmon.store.events import decode, decode_json, encode
from lkmon.store.files import json_utf8, printable_obj
from lkmon.store.format_journal import JOURNAL_VERSION, JournalHeader
from lkmon.store.parse import BOM, loads, without_surrogates

try:  # optional speed-up: orjson serialises a line 5x faster than the standard library
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]  # optional: None stands for 'not installed'

logger = logging.getLogger("lkmon.store.journal")

JOURNAL_DIR = paths.DEFAULT_SESSIONS
"""The default sessions folder when ``$LKMON_SESSIONS`` is unset (``lkmon.paths``)."""

class _Stop(enum.Enum):
    """The writer thread's stop marker (an enum member, so ``is _STOP`` narrows the queue's
    item type)."""

    STOP = "stop"


_STOP: Final = _Stop.STOP


def header_line(session_id: str, tags: Mapping[str, str] | None = None) -> bytes:
    """A new journal's header line (``JournalHeader``, newline-ended; ``tags`` only when there
    are some, their secrets redacted)."""
    header = JournalHeader(lkmon_journal=JOURNAL_VERSION, session_id=session_id,
                           lkmon_version=__version__, created_at=time.time(),
                           tags=printable_obj(default_redactor().redact_obj(dict(tags or {}))))
    return header.model_dump_json(exclude=None if header.tags else {"tags"}).encode() + b"\n"


def default_journal_path(now: float | None = None, folder: Path | None = None) -> Path:
    """``lkmon-sessions/<YYYYmmdd-HHMMSS>[-N].journal.jsonl`` (``lkmon.paths.session_file``; the
    sessions folder honours ``$LKMON_SESSIONS``), a name that does not exist yet."""
    return paths.session_file("journal", ".jsonl", now=now, directory=folder)


class JournalWriter:
    """Appends events to a JSON Lines file from a background thread.

    The file is created with ``O_EXCL``, never shared: when ``path`` exists (another session
    started in the same second took the name), ``STEM-1``, ``STEM-2``... is used; ``path``
    holds the file written. If writing fails (a full disk, EPERM), the journal stops, the
    session goes on, and ``on_failure`` is called once with one line saying so (``failed``
    holds why). If the file is deleted mid-session, everything written so far (still readable
    through the open file) is copied to a new ``STEM-N`` file with the same header and session
    id, writing goes on there, and ``on_failure`` says where.

    Args:
        path: the journal file; its folder is created.
        session_id: the session's id (a UUID string) for the header line; a new UUID4 when
            ``None``. ``session_id`` holds it.
        on_failure: called (from the writer's thread) with a one-line message when the journal
            stops or moves.
        exclusive: False to append to a file the caller created for this session (e.g. with
            its own header line); the header is written only when it is empty.
        tags: ``KEY: VALUE`` labels for the header (``lkmon run --tag``; secrets redacted).

    Raises:
        OSError: the file cannot be created (the caller turns it into a UsageError).
    """

    def __init__(self, path: str | Path, *, session_id: str | None = None,
                 on_failure: Callable[[str], None] | None = None,
                 exclusive: bool = True, tags: Mapping[str, str] | None = None) -> None:
        self.session_id = session_id or str(uuid.uuid4())
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if exclusive:
            self._fd, self.path = _create(Path(path), first=0)
        else:  # a file the caller made for this session (its own header line first)
            self.path = Path(path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(self._fd, 0o600)
        if os.fstat(self._fd).st_size == 0:
            _write_all(self._fd, header_line(self.session_id, tags))
        self.on_failure = on_failure
        self.moved_from: list[Path] = []
        """Earlier names of this journal that were deleted while it was written."""
        self.notes: list[str] = []
        """One line per time the journal stopped or moved (what ``on_failure`` was told)."""
        self._queue: queue.SimpleQueue[Event | _Stop] = queue.SimpleQueue()
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
                payload = _line(self._redactor.redact_obj(encode(item)))
            except Exception as e:  # a bug in one event's encoding: the others are written
                logger.error("journal: %s not written: %s", type(item).__name__, e)
                continue
            try:
                if os.fstat(self._fd).st_nlink == 0:  # deleted under us
                    self._move()
                _write_all(self._fd, payload)
            except OSError as e:
                self._stop(e)
                continue
            self.written += 1
            if isinstance(item, SpeechDone):
                self._fsync()

    def _move(self) -> None:
        """Copy what the deleted file holds to a new name, and go on writing there."""
        size = os.fstat(self._fd).st_size
        kept = os.pread(self._fd, size, 0)
        old = self.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.path = _create(old, first=1)
        _write_all(fd, kept)
        os.close(self._fd)
        self._fd = fd
        self.moved_from.append(old)
        self._tell(f"journal {old} was deleted: the session goes on in {self.path} "
                   "(all of it, the same session id)")

    def _stop(self, e: OSError) -> None:
        self.failed = f"{type(e).__name__}: {e.strerror or e}"
        self._tell(f"journal {self.path}: writing stopped ({self.failed}); the session goes on "
                   "and the snapshot at the end holds it")

    def _tell(self, message: str) -> None:
        self.notes.append(message)
        logger.error("%s", message)
        if self.on_failure is not None:
            try:
                self.on_failure(message)
            except Exception as e:  # the journal thread must go on
                logger.debug("journal on_failure failed: %s", e)

    def _fsync(self) -> None:
        try:
            os.fsync(self._fd)
            self.fsyncs += 1
        except OSError as e:
            logger.error("journal %s: fsync failed: %s", self.path, e)


def warn_on_stderr(message: str) -> None:
    """An ``on_failure`` for ``JournalWriter``: one line on stderr (behind the TUI, Textual
    keeps it; the log pane shows the journal's own error line)."""
    print(f"lkmon: warning: {message}", file=sys.stderr, flush=True)


def _create(path: Path, *, first: int) -> tuple[int, Path]:
    """Create ``path`` (``first=0``) or the first free ``STEM-N SUFFIX`` (N >= ``first``) with
    ``O_EXCL`` and mode 0600, open for appending and reading; (fd, the path)."""
    stem, suffix = paths.split_suffix(path)
    for n in range(first, paths.MAX_TRIES):
        target = path if n == 0 else path.with_name(f"{stem}-{n}{suffix}")
        try:
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o600)
        return fd, target
    raise FileExistsError(f"no free journal name for {path}")


def _line(data: dict[str, object]) -> bytes:
    """One journal line: compact UTF-8 JSON and a newline; NaN and infinities as null; a lone
    surrogate (text that is not UTF-8) as the visible escape ``\\udcff`` (``json_utf8``)."""
    if orjson is not None:
        try:
            return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            pass  # an integer beyond 64 bits, a lone surrogate: the standard library copes
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return json_utf8(text + "\n")


def _write_all(fd: int, payload: bytes) -> None:
    while payload:
        n = os.write(fd, payload)
        payload = payload[n:]


@dataclass
class JournalFile:
    """A journal read back.

    Attributes:
        header: its header line (``None`` for an lkmon 0.1 journal, which has none).
        events: its events, in order.
    """

    header: JournalHeader | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        """The header's session id, else the ``SessionStarted`` event's, else ``None``."""
        if self.header is not None:
            return self.header.session_id
        for ev in self.events:
            if isinstance(ev, SessionStarted):
                return ev.session_id
        return None


def read_journal(path: str | Path) -> list[Event]:
    """The events of a journal (see ``parse_journal``).

    Raises:
        OSError: the file cannot be read.
        ValueError: a line other than the last is not valid JSON (not an lkmon journal).
    """
    return load_journal(path).events


def load_journal(path: str | Path) -> JournalFile:
    """Read a journal back: its header and its events (see ``parse_journal``).

    Raises:
        OSError: the file cannot be read.
        ValueError: a line other than the last is not valid JSON (not an lkmon journal).
    """
    return parse_journal(Path(path).read_bytes(), where=path)


def parse_journal(raw: bytes, *, where: str | Path = "journal") -> JournalFile:
    """Parse a journal's bytes: the header line (if any) and one event per line.

    A torn last line (no newline, or not valid JSON) is skipped with a warning on the
    ``lkmon.store.journal`` logger; so is a line whose event type this lkmon does not know or
    whose fields do not fit its event. Old event names (lkmon 0.1/0.2) are read as today's.

    Raises:
        ValueError: a line other than the last is not valid JSON, or not a JSON object.
    """
    lines = raw.removeprefix(BOM).split(b"\n")
    out = JournalFile()
    events = out.events
    last = len(lines) - 1
    seen = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        first, seen = not seen, True
        try:
            events.append(decode_json(line))
            continue
        except ValueError as e:
            problem = str(e)
        try:
            data = loads(line)
        except json.JSONDecodeError as e:
            if i == last or (i == last - 1 and not lines[last].strip()):
                logger.warning("journal %s: skipped a torn last line (%d bytes)", where, len(line))
                continue
            raise ValueError(f"journal {where}: line {i + 1} is not JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"journal {where}: line {i + 1} is not an event object")
        if first and "lkmon_journal" in data:
            try:
                out.header = JournalHeader.model_validate(data)
            except ValidationError as e:
                err = e.errors(include_url=False)[0]
                loc = "/".join(str(p) for p in err["loc"])
                raise ValueError(f"journal {where}: bad header: {loc}: {err['msg']}") from None
            if out.header.lkmon_journal > JOURNAL_VERSION:
                raise ValueError(
                    f"journal {where}: journal format {out.header.lkmon_journal} is newer than"
                    f" this lkmon reads ({JOURNAL_VERSION}); upgrade lkmon"
                )
            continue
        if "surrogate" in problem:  # pydantic's parser refused what JSON allows (a
            try:  # lone surrogate escape, "\\udcff"): the standard library's parse, U+FFFD
                events.append(decode(without_surrogates(data)))
                continue
            except ValueError as e:
                problem = str(e)
        logger.warning("journal %s: line %d skipped: %s", where, i + 1, problem)
    return out
