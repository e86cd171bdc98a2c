"""What a session's row records about where it came from, which a snapshot does not carry: the
agent file's SHA-256, its repository's git commit, the livekit-agents version. No textual or
livekit import here (the version is read from the installed distribution's metadata)."""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

GIT_TIMEOUT = 2.0
"""Seconds ``git rev-parse`` may take before the commit is recorded as unknown."""


def file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of ``path``'s bytes; ``None`` when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def git_commit(path: Path) -> str | None:
    """The ``HEAD`` commit (40 hex digits) of the git repository holding ``path``; ``None`` when
    it is in none, git is missing, or git takes longer than ``GIT_TIMEOUT``."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(path.resolve().parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and len(commit) == 40 else None


def livekit_agents_version() -> str | None:
    """The installed ``livekit-agents`` version, ``None`` when it is not installed."""
    try:
        return metadata.version("livekit-agents")
    except metadata.PackageNotFoundError:
        return None
