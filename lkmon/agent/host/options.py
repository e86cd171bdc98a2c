"""Options of a run: what agent file, caller, sink and models; timeouts; logging.

No livekit import here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lkmon.errors import UsageError

MODELS_ENV = "LKMON_MODELS"
"""Environment variable that tells ``agent_entry.py`` which models to use (auto/local/cloud)."""


class SessionFailed(UsageError):
    """The session's models failed before the first reply (one line; exit code 2)."""


@dataclass
class RunOptions:
    """How to run a session.

    Attributes:
        agent_file: the LiveKit agent file to run.
        inputs: WAV files or folders, or ``["mic"]``, or ``["text"]``.
        output: ``"null"`` (real-time, silent) or ``"speaker"``.
        models: ``"auto"``, ``"local"`` or ``"cloud"``; passed to the agent file as
            ``$LKMON_MODELS``.
        journal: JSON Lines journal path, or None for no journal.
        text_lines: for ``inputs=["text"]``: the typed turns to send one by one (e.g. stdin),
            then end; None to wait for ``send_text`` (the TUI).
        start_timeout: seconds the entrypoint may take to start its session.
        failure_timeout: seconds after a model error, before the first reply, to give up.
        close_timeout: seconds ``AgentSession.aclose`` may take at the end.
        gap: seconds of agent quiet before the caller's next recording or line.
        reply_timeout: seconds the caller waits for a reply before going on.
        log_level: level of the livekit/lkmon loggers routed into LogRecord events.
        stderr_log_level: also print records at or above this level on stderr (headless).
        capture_root_logs: route the root logger too (the TUI).
        mic_device, speaker_device: sounddevice device index or name; None for the default.
        tags: ``--tag KEY=VALUE`` labels, written in the journal's header (``lkmon import``
            of the journal stores them).
    """

    agent_file: Path = Path("agent_entry.py")
    inputs: list[str] = field(default_factory=lambda: ["mic"])
    output: str = "null"
    models: str = "auto"
    journal: Path | None = None
    text_lines: Iterable[str] | None = None
    start_timeout: float = 60.0
    failure_timeout: float = 15.0
    close_timeout: float = 3.0
    gap: float = 1.0
    reply_timeout: float = 30.0
    log_level: str = "INFO"
    stderr_log_level: str | None = None
    capture_root_logs: bool = False
    mic_device: int | str | None = None
    speaker_device: int | str | None = None
    tags: dict[str, str] = field(default_factory=dict)
