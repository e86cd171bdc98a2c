"""The session as a whole and the latest audio levels, as the session model keeps them.

``SessionModel.session`` (``lkmon.model.state``) is a ``SessionInfo`` filled from
``SessionStarted`` and ``SessionClosed``; ``SessionModel.levels`` is a ``Levels`` filled from
``AudioLevel``. No textual or livekit import here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

__all__ = ["Levels", "SessionInfo"]


@dataclass(slots=True)
class SessionInfo:
    """The session as a whole (from ``SessionStarted`` and ``SessionClosed``).

    Attributes:
        started_at: epoch seconds, or ``None`` before ``SessionStarted``.
        agent_file: the agent file's path as given.
        models: role (``vad``/``stt``/``llm``/``tts``) -> ``"provider/model"``.
        input: caller description; output: audio sink.
        lkmon_version: lkmon version that recorded the session.
        closed_at: epoch seconds of ``SessionClosed``; close_reason, close_error from it.
        last_event_at: epoch seconds of the newest event seen.
        session_id: the session's unique id (a UUID string): ``SessionStarted.session_id``
            when it has one, else a fresh UUID4 made with the model (a loader sets the one of
            the file it read; ``lkmon.store.restore``).
        tags: free ``KEY: VALUE`` labels of the session (``lkmon run --tag``,
            ``record(session, tags=...)``): ``SessionStarted.tags``; a loader sets those of
            the file it read (the journal header's, the snapshot's ``session.tags``).
        false_interruptions: LiveKit ``agent_false_interruption`` events; false_resumed: those
            whose reply played on (``resumed``).
        vad_events: ``SessionStarted.vad_events`` (False: the source carries no VAD events).
        overlapping_speech: LiveKit ``overlapping_speech`` events (its adaptive interruption
            detector's verdicts); overlapping_interruptions: those that were interruptions.
    """

    started_at: float | None = None
    agent_file: str = ""
    models: dict[str, str] = field(default_factory=dict)
    input: str = ""
    vad_events: bool = True
    output: str = ""
    lkmon_version: str = ""
    closed_at: float | None = None
    close_reason: str | None = None
    close_error: str | None = None
    last_event_at: float | None = None
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tags: dict[str, str] = field(default_factory=dict)
    false_interruptions: int = 0
    false_resumed: int = 0
    overlapping_speech: int = 0
    overlapping_interruptions: int = 0

    @property
    def duration(self) -> float | None:
        """Session length in seconds: to ``closed_at``, else to the newest event."""
        if self.started_at is None:
            return None
        end = self.closed_at if self.closed_at is not None else self.last_event_at
        if end is None:
            return 0.0
        return max(end - self.started_at, 0.0)


@dataclass(slots=True)
class Levels:
    """Latest audio levels in dBFS (``AudioLevel``); ``None`` until seen."""

    mic_dbfs: float | None = None
    agent_dbfs: float | None = None
    mic_at: float | None = None
    agent_at: float | None = None
