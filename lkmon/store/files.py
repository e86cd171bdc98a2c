"""Writing lkmon's files: atomic, private (mode 0600), never half-written. No textual here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private_atomic(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600.

    The bytes go to a temporary file in the same directory (fsynced unless ``fsync`` is False),
    which then replaces ``path``; a reader never sees a half-written file, and a failed write
    leaves no temporary file behind.

    Args:
        path: destination file; its directory must exist.
        data: the whole file content.
        fsync: flush the data to disk before the rename.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the directory is missing, read-only or full.
    """
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent or ".")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest
