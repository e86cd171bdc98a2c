"""Every place lkmon writes to, and every file name it makes: one module, as posting's
``locations.py`` does.

lkmon never overwrites a file it did not just create. Names are built here and nowhere else:

- the sessions folder: ``$LKMON_SESSIONS`` when set, else ``lkmon-sessions`` in the current folder
  (``sessions_dir``); journals and snapshots go there unless ``--journal`` / ``--export`` say
  otherwise;
- the session store: ``$LKMON_DB`` when set, else ``lkmon.db`` in the sessions folder
  (``store_db``);
- a time stamp, local time: ``YYYYmmdd-HHMMSS`` (``stamp``);
- in the sessions folder: ``<stamp>.<kind><suffix>``, e.g. ``20260101-120000.journal.jsonl``
  (``session_file``); in a folder the user named: ``lkmon-<stamp>.<kind><suffix>``
  (``file_in``); the TUI's exports: ``lkmon-<stamp>.json`` / ``.svg`` / ``.html``
  (``export_stem``);
- when a name is taken, ``-1``, ``-2``... before the suffix (``next_free``), or, for a file the
  user named that exists, ``<stem>-<stamp>`` beside it (``beside``).

``next_free`` only finds a free name (for a path printed before the session starts);
``reserve`` also creates the file at once (``O_CREAT | O_EXCL``, mode 0600), so two writers in
the same second can never get the same one. No textual or livekit import here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

log = logging.getLogger("lkmon.paths")

SESSIONS_ENV = "LKMON_SESSIONS"
"""Environment variable naming the sessions folder."""
DEFAULT_SESSIONS = Path("lkmon-sessions")
"""The sessions folder when ``$LKMON_SESSIONS`` is unset (relative to the current folder)."""
DB_ENV = "LKMON_DB"
"""Environment variable naming the session store (a SQLite file path or a database URL)."""
DB_NAME = "lkmon.db"
"""The session store's file name in the sessions folder."""
MAX_TRIES = 10_000
"""Names tried by ``next_free`` / ``reserve`` before giving up."""


def sessions_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The sessions folder: ``$LKMON_SESSIONS`` if set and not empty, else ``lkmon-sessions``.

    Not created here (``session_file`` callers create it).

    Args:
        environ: the environment to read; ``os.environ`` by default.
    """
    env = os.environ if environ is None else environ
    value = env.get(SESSIONS_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_SESSIONS


def store_db(environ: Mapping[str, str] | None = None) -> str:
    """The session store: ``$LKMON_DB`` if set and not empty, else ``<sessions folder>/lkmon.db``
    (``lkmon-sessions/lkmon.db`` by default). Not created here.

    Args:
        environ: the environment to read; ``os.environ`` by default.
    """
    env = os.environ if environ is None else environ
    value = env.get(DB_ENV, "").strip()
    return value if value else str(sessions_dir(env) / DB_NAME)


def stamp(now: float | None = None) -> str:
    """``YYYYmmdd-HHMMSS`` of ``now`` (epoch seconds, default the current time), local time."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))


def _candidates(directory: Path, stem: str, suffix: str) -> Iterator[Path]:
    # one at a time: a list of all MAX_TRIES paths was ~30,000 tracked objects made on every
    # save, enough to set off a full (gen-2) collection that then walked them all (9-11 ms with
    # the TUI at session end; bench/uicost's gen-2 pause)
    for n in range(MAX_TRIES):
        yield directory / (f"{stem}{suffix}" if n == 0 else f"{stem}-{n}{suffix}")


def next_free(directory: str | Path, stem: str, suffix: str) -> Path:
    """The first of ``DIR/STEM SUFFIX``, ``DIR/STEM-1 SUFFIX``, ``DIR/STEM-2 SUFFIX``... that does
    not exist. Nothing is created: use ``reserve`` when the file is written at once.

    Args:
        directory: the folder (need not exist).
        stem: the name before the counter, e.g. ``"lkmon-20260101-120000"``.
        suffix: the rest, with its dot(s), e.g. ``".snapshot.json"``.

    Raises:
        FileExistsError: every one of ``MAX_TRIES`` names is taken.
    """
    for path in _candidates(Path(directory), stem, suffix):
        if not path.exists():
            return path
    raise FileExistsError(f"no free file name for {stem}{suffix} in {directory}")


def reserve(directory: str | Path, stem: str, suffix: str) -> Path:
    """Like ``next_free``, but the file is created empty (``O_EXCL``, mode 0600) before it is
    returned, so no other writer can take the same name; fill it, or ``release`` it.

    Raises:
        FileExistsError: every one of ``MAX_TRIES`` names is taken.
        OSError: the folder is missing, read-only or full.
    """
    for path in _candidates(Path(directory), stem, suffix):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free file name for {stem}{suffix} in {directory}")


def release(path: Path | None) -> None:
    """Remove a file from ``reserve`` that a failed writer left empty (a full one is kept)."""
    if path is None:
        return
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError as e:
        log.debug("could not remove the empty %s: %s", path, e)


def split_suffix(path: Path) -> tuple[str, str]:
    """``("20260101", ".snapshot.json")`` for ``20260101.snapshot.json``: the name before its
    first dot, and the rest (``".json"`` when it has none)."""
    name = path.name
    stem, dot, rest = name.partition(".")
    return (stem, f".{rest}") if dot and stem else (name, ".json")


def beside(path: str | Path, now: float | None = None) -> Path:
    """``path`` if it does not exist, else a new ``STEM-<stamp>[-N]SUFFIX`` in its folder.

    For a file the user named (``--export out.json``): an earlier file is never replaced.
    """
    p = Path(path)
    if not p.exists():
        return p
    stem, suffix = split_suffix(p)
    return next_free(p.parent, f"{stem}-{stamp(now)}", suffix)


def session_file(kind: str, suffix: str, *, now: float | None = None,
                 directory: str | Path | None = None) -> Path:
    """A free ``<stamp>.<kind><suffix>`` in the sessions folder (or ``directory``).

    E.g. ``lkmon-sessions/20260101-120000.journal.jsonl``. Nothing is created.

    Args:
        kind: ``"journal"`` or ``"snapshot"``.
        suffix: ``".jsonl"`` or ``".json"``.
        now: epoch seconds of the stamp (default now).
        directory: instead of ``sessions_dir()``.
    """
    folder = sessions_dir() if directory is None else Path(directory)
    return next_free(folder, stamp(now), f".{kind}{suffix}")


def file_in(folder: str | Path, kind: str, suffix: str, *, now: float | None = None) -> Path:
    """A free ``lkmon-<stamp>.<kind><suffix>`` in a folder the user named (``--export out/``).
    Nothing is created."""
    return next_free(folder, export_stem(now), f".{kind}{suffix}")


def export_stem(now: float | None = None) -> str:
    """``lkmon-<stamp>``: the name of the TUI's exports and of files in a folder the user named."""
    return f"lkmon-{stamp(now)}"


RECORDED_SUFFIX = ".journal.jsonl"
"""The suffix of every journal lkmon writes (``lkmon run``'s and the recorder's)."""


def _name_part(text: str, limit: int = 40) -> str:
    """``text`` safe in a file name: letters, digits, ``-`` and ``_`` kept, the rest ``_``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in text.strip())
    return safe[:limit].strip("_") or "session"


def recorded_journal(room: str, session_id: str, *, now: float | None = None,
                     directory: str | Path | None = None) -> Path:
    """A new ``<stamp>-<room>-<session_id prefix>.journal.jsonl`` for ``lkmon.record``, created
    empty at once (``reserve``: 0600, never an existing file), e.g.
    ``lkmon-sessions/20260101-120000-my-room-6c6b6d6f.journal.jsonl``.

    Args:
        room: the LiveKit room's name (made safe for a file name).
        session_id: the session's id; its first 8 characters are used.
        now: epoch seconds of the stamp (default now).
        directory: instead of ``sessions_dir()``; created when missing.

    Raises:
        OSError: the folder cannot be created or written.
    """
    folder = sessions_dir() if directory is None else Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{stamp(now)}-{_name_part(room)}-{_name_part(session_id, 8)}"
    return reserve(folder, stem, RECORDED_SUFFIX)


def prune_journals(folder: str | Path, *, keep: Path | None = None,
                   max_files: int | None = None, max_bytes: int | None = None) -> list[Path]:
    """Remove the oldest ``*.journal.jsonl`` of ``folder`` (by modification time) until at most
    ``max_files`` remain and they hold at most ``max_bytes``; ``keep`` (the journal being
    written) is never removed. Files that cannot be removed are skipped (logged).

    Returns:
        The files removed, oldest first.
    """
    if max_files is None and max_bytes is None:
        return []
    found: list[tuple[float, int, Path]] = []
    for p in Path(folder).glob(f"*{RECORDED_SUFFIX}"):
        try:
            st = p.stat()
        except OSError:
            continue
        found.append((st.st_mtime, st.st_size, p))
    found.sort()
    count, total = len(found), sum(size for _, size, _ in found)
    removed: list[Path] = []
    for _, size, p in found:
        if (max_files is None or count <= max_files) and (max_bytes is None or total <= max_bytes):
            break
        if keep is not None and p == keep:
            continue
        try:
            p.unlink()
        except OSError as e:
            log.warning("could not remove the old journal %s: %s", p, e)
            continue
        removed.append(p)
        count, total = count - 1, total - size
    return removed
