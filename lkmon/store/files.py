"""Writing lkmon's files: atomic, private (mode 0600), never half-written. No textual here."""

from __future__ import annotations

import codecs
import errno
import gc
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lkmon import paths

JSON_ESCAPE = "lkmon.json_escape"
"""The codec error handler for JSON text that is not UTF-8 (a lone surrogate, e.g. a file name
read with ``os.listdir`` from a Latin-1 folder, ``"bad\\udcffname"``): each such character is
written as the six characters ``\\udcff``, escaped for JSON (a backslash, then ``udcff``), so the
string reads back as that visible text instead of the write failing."""


def _json_escape(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    bad = err.object[err.start:err.end]
    return "".join(f"\\\\u{ord(c):04x}" for c in bad), err.end


codecs.register_error(JSON_ESCAPE, _json_escape)


def json_utf8(text: str) -> bytes:
    """JSON ``text`` as UTF-8; a character UTF-8 cannot carry (a lone surrogate) becomes the
    visible escape ``\\udcff`` inside its string (``JSON_ESCAPE``), never an error."""
    return text.encode("utf-8", JSON_ESCAPE)


def text_utf8(text: str) -> bytes:
    """Any other text (HTML, SVG) as UTF-8; what UTF-8 cannot carry becomes ``\\udcff``
    (``errors="backslashreplace"``), never an error."""
    return text.encode("utf-8", "backslashreplace")


def printable(text: str) -> str:
    """``text`` with every character UTF-8 cannot carry written as ``\\udcff``: safe for a
    database, a terminal or any UTF-8 writer. The same string when it is already fine."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def printable_obj(obj: Any) -> Any:
    """A JSON-like object (dict/list/str/number) with ``printable`` applied to every string
    (keys too); the same object when nothing needed it."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {printable(k) if isinstance(k, str) else k: printable_obj(v)
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [printable_obj(v) for v in obj]
    return obj


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building hundreds of thousands of objects triggers
    full collections that cost more than the building itself (10,000 turns: 1.0 s -> 0.4 s).
    Nothing built while reading or writing a snapshot forms reference cycles that need it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


QUIT_SIGNALS: tuple[signal.Signals, ...] = tuple(
    signal.Signals[name] for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals that end a session: Ctrl+C, ``kill``, the terminal closing."""


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP while the block runs (the final snapshot is written), so
    that none of them cuts a write short or kills the process in the middle; yields the list of
    signals that arrived meanwhile (the caller ends as it was about to anyway). Outside the main
    thread, where no signal handler runs, it does nothing."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in QUIT_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_private_atomic(path: str | Path, data: bytes, *, fsync: bool = True,
                         overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600.

    The bytes go to a temporary file in the same directory (fsynced unless ``fsync`` is False),
    which is then published at ``path``: ``os.replace`` (``overwrite``: a file lkmon reserved
    itself), or ``os.link``, which fails if the name exists, so a file someone else created at
    ``path`` meanwhile is never replaced: ``path-1``, ``path-2``... (``paths.next_free``) is used
    instead. A reader never sees a half-written file, and neither a failed write nor an
    exception (``KeyboardInterrupt``) at any point leaves the temporary file behind.

    Args:
        path: destination file; its directory must exist.
        data: the whole file content.
        fsync: flush the data to disk before publishing it.
        overwrite: replace ``path`` if it exists (only for a name lkmon reserved).

    Returns:
        The file written: ``path``, or the free name used instead.

    Raises:
        OSError: the directory is missing, read-only or full.
    """
    dest = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            dest = _publish(tmp, dest)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass  # published with os.replace
    return dest


def _publish(tmp: str, dest: Path) -> Path:
    """Link ``tmp`` at ``dest`` or, if taken, at the first free ``dest-N``; never replaces."""
    stem, suffix = paths.split_suffix(dest)
    target = dest
    for _ in range(paths.MAX_TRIES):
        try:
            os.link(tmp, target)
            return target
        except FileExistsError:
            target = paths.next_free(dest.parent, stem, suffix)
        except OSError as e:  # no hard links here (some network or FUSE file systems)
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            return _publish_without_link(tmp, dest)
    raise FileExistsError(f"no free file name for {dest}")


def _publish_without_link(tmp: str, dest: Path) -> Path:
    stem, suffix = paths.split_suffix(dest)
    target = dest if not dest.exists() else paths.next_free(dest.parent, stem, suffix)
    target = paths.reserve(target.parent, *paths.split_suffix(target))
    os.replace(tmp, target)
    return target
