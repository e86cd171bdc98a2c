"""Errors that are the user's fault: one line on stderr, exit code 2, no traceback.

No textual or livekit import here; anyone may import this module.
"""

from __future__ import annotations

EXIT_USAGE = 2
"""Process exit code for a bad input (a missing file, a corrupt WAV, no audio device...)."""


class UsageError(Exception):
    """A bad input that lkmon refuses with one clear line.

    The CLI prints ``lkmon: error: <message>`` on stderr and exits with ``EXIT_USAGE`` (2).

    Args:
        message: one line, saying what is wrong and, when it helps, what to do instead.
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self.args[0]) if self.args else ""


EXIT_SAVE = 3
"""Process exit code when the session could not be saved (the journal still holds it)."""


class SaveFailed(Exception):
    """The final snapshot could not be written (a full or read-only folder, an immutable
    file...). The CLI prints ``lkmon: error: <message>`` on stderr and exits with ``EXIT_SAVE``
    (3); the message names the journal that still holds the session.

    Args:
        path: the snapshot that could not be written.
        reason: why (``OSError.strerror``).
        journal: the session's journal, if it has one.
    """

    exit_code: int = EXIT_SAVE

    def __init__(self, path: object, reason: str, journal: object | None = None) -> None:
        where = (f"; the journal {journal} still holds the session (lkmon replay {journal} "
                 "--export FILE)") if journal is not None else ""
        super().__init__(" ".join(f"could not save the snapshot {path}: {reason}{where}".split()))

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self.args[0]) if self.args else ""
