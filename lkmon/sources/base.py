"""``SessionSource``: where a session's events come from, behind one interface.

The TUI (``lkmon.tui.app``), headless mode (``lkmon.headless``) and exports take a source, not a
runner. A source first gives the ``SessionModel`` to start from (``open``: empty for a session
about to run, the whole session for a replay), then delivers events into it (``run``) until the
session ends or ``stop`` is called. What else it can do is in its ``Capabilities``.

Today's sources: ``InProcessSource`` (the user's agent file run in-process by
``lkmon.agent.host.runner``), ``ReplaySource`` (a snapshot or journal) and ``FollowSource`` (a
journal another process writes, ``lkmon watch``: live and remote, ``stop`` ends the watching,
not the agent). Planned: LiveKit's TCP session protocol (``voice/remote_session.py``), live and
remote too, with what it can send the agent in its capabilities.

No textual or livekit import here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lkmon.errors import UsageError
from lkmon.model.events import Event

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable

Emit = Callable[[Event], None]
"""Receives each event, on the event-loop thread, synchronously; it must be cheap."""


class SourceError(UsageError):
    """A source that cannot open or run: a bad file, device or agent (one line, exit code 2)."""


class Unsupported(SourceError):
    """The source cannot do what was asked (typing into a replay, muting a WAV caller)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a source can do besides delivering events.

    Attributes:
        live: events arrive while the session runs (``run`` returns at its end); False when
            ``open`` already gave the whole session (a replay).
        can_say: ``send_text`` sends a typed user turn to the agent.
        can_mute: ``set_mic_muted`` mutes a microphone.
        stops_agent: ``stop`` ends the agent's session (in-process); False when it only stops
            watching (a remote agent goes on).
        remote: the agent runs in another process (its events come over a file or a socket).
    """

    live: bool = False
    can_say: bool = False
    can_mute: bool = False
    stops_agent: bool = False
    remote: bool = False


class SessionSource(ABC):
    """Where a session comes from: the model to start from, then its events.

    Call ``open`` once, then (for a live source) ``await run(emit)`` on the event loop; ``stop``
    may be called from any thread at any time. Methods a source cannot honour raise
    ``Unsupported``; ``capabilities`` says which those are, so a view can hide them.

    Attributes:
        routes_logs: True when the source routes the ``livekit``/``lkmon`` loggers into
            ``LogRecord`` events itself (the in-process runner does); else the view does.
    """

    routes_logs: bool = False

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this source can do (constant for its life)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for humans, e.g. ``"agent_entry.py (in-process)"``."""

    @abstractmethod
    def open(self, prices: PriceTable | None = None) -> SessionModel:
        """Check every input and return the model to start from.

        Args:
            prices: the price table for cost estimates; ``None`` for the shipped one.

        Returns:
            An empty ``SessionModel`` for a session about to run; the loaded session for a
            replay.

        Raises:
            SourceError: (or ``UsageError``) a missing or bad file, device, agent or journal
                path; nothing has started.
        """

    async def run(self, emit: Emit) -> None:
        """Deliver the session's events to ``emit`` until it ends or ``stop`` is called.

        Events that came before ``run`` (while ``open`` prepared) are delivered first. A source
        that is not live returns at once.

        Raises:
            UsageError: the session could not start or failed (``SessionFailed`` when its
                models failed before the first reply); also kept in ``error``.
        """
        return None

    def stop(self, reason: str = "stopped") -> None:  # noqa: B027 (optional, a no-op by default)
        """End the session (or the watching) gracefully. Idempotent; from any thread."""

    def send_text(self, text: str) -> None:
        """Send a typed user turn to the agent.

        Raises:
            Unsupported: the source cannot (``capabilities.can_say`` is False).
        """
        raise Unsupported(f"{self.description}: there is no agent to talk to")

    def set_mic_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone (frames become silence; timing is kept).

        Raises:
            Unsupported: the session has no microphone (``capabilities.can_mute`` is False).
        """
        raise Unsupported(f"{self.description}: this session has no microphone")

    @property
    def mic_muted(self) -> bool:
        """True while the microphone is muted."""
        return False

    @property
    def error(self) -> UsageError | None:
        """The error that ended ``run``, or ``None``."""
        return None

    @property
    def journal(self) -> Path | None:
        """The journal this source writes as it runs, or ``None``."""
        return None

    @property
    def journal_notes(self) -> list[str]:
        """One line per time the journal stopped or moved (a full disk, the file deleted)."""
        return []
