"""Where ``lkmon`` writes an export or a journal (``--export``, ``--journal``): the path an
argument names, checked writable before the session starts, never an existing file (names from
``lkmon.paths``). Every failure is a ``UsageError`` (one ``lkmon: error:`` line, exit 2)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lkmon import paths
from lkmon.errors import UsageError

__all__ = ["names_folder", "resolve_output"]


def _check_writable_dir(folder: Path, what: str, path: Path) -> None:
    if not folder.exists():
        raise UsageError(f"cannot write {what} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"cannot write {what} {path}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".lkmon-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None


def names_folder(arg: str) -> bool:
    """True when ``arg`` ends with a path separator (``out/``): it names a folder."""
    return arg.endswith(tuple(sep for sep in (os.sep, os.altsep, "/") if sep))


def _make_folder(folder: Path, what: str, arg: str) -> None:
    """Create the folder ``arg`` names (``out/``); the folder it goes in must exist."""
    if folder.exists():
        raise UsageError(f"cannot write {what} {arg}: {folder} is not a folder")
    parent = folder.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {what} {arg}: folder {folder.parent} does not exist")
    try:
        folder.mkdir()
    except OSError as e:
        raise UsageError(f"cannot create {what} folder {arg}: {e.strerror or e}") from None


def resolve_output(arg: str | None, kind: str, suffix: str, what: str) -> Path:
    """Where to write an export or journal: checked writable now, never an existing file.

    ``None`` -> ``lkmon-sessions/<timestamp>.<kind><suffix>`` (``$LKMON_SESSIONS`` when set; the
    folder is created); an existing folder, or a path ending in a separator (``out/``: the
    folder is created when the folder it goes in exists) -> ``lkmon-<timestamp>[-N].<kind>
    <suffix>`` in it; an existing file -> a time-stamped name beside it. Names are
    ``lkmon.paths``'s.

    Raises:
        UsageError: the folder is missing, not a folder, read-only or otherwise unwritable.
    """
    if arg is None:
        folder = paths.sessions_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create {folder}: {e.strerror or e}") from None
        path = paths.session_file(kind, suffix, directory=folder)
    else:
        path = Path(arg)
        if names_folder(arg) and not path.is_dir():
            _make_folder(path, what, arg)
        if path.is_dir():
            path = paths.file_in(path, kind, suffix)
    _check_writable_dir(path.parent, what, path)
    return paths.beside(path)
