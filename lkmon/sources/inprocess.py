"""``InProcessSource``: the user's agent file run in this process (``SessionRunner``).

``open`` checks every input and loads the agent file (bad input raises ``UsageError`` before
anything starts, and before a screen opens); ``run`` runs the session. Events the runner emits
before ``run`` is given its ``emit`` (log records while loading) are kept and delivered first.

The runner, and so livekit, is imported by ``open``: importing this module stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lkmon.errors import UsageError
from lkmon.model.events import Event
from lkmon.sources.base import Capabilities, Emit, SessionSource, Unsupported

if TYPE_CHECKING:
    from lkmon.agent.host.options import RunOptions
    from lkmon.agent.host.runner import SessionRunner
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable

MAX_EARLY = 10_000
"""Events kept from before ``run`` at most (the journal has them all)."""


class InProcessSource(SessionSource):
    """Runs ``options.agent_file`` in-process and delivers everything it emits.

    Args:
        options: what to run (``lkmon.agent.host.options.RunOptions``).

    Attributes:
        runner: the ``SessionRunner``, made by ``open`` (``None`` before).
    """

    routes_logs = True

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.runner: SessionRunner | None = None
        self._emit: Emit | None = None
        self._early: list[Event] = []

    @property
    def capabilities(self) -> Capabilities:
        """Live; typing always reaches the agent; muting only with ``--input mic``."""
        return Capabilities(
            live=True,
            can_say=True,
            can_mute=list(self.options.inputs) == ["mic"],
            stops_agent=True,
        )

    @property
    def description(self) -> str:
        """The agent file, in-process."""
        return f"{self.options.agent_file} (in-process)"

    @property
    def journal(self) -> Path | None:
        """The journal being written (``options.journal``, or the free name used when it was
        taken or deleted: ``JournalWriter.path``)."""
        runner = self.runner
        if runner is not None and runner.journal is not None:
            return runner.journal.path
        return self.options.journal

    @property
    def journal_notes(self) -> list[str]:
        """``JournalWriter.notes`` of the runner's journal."""
        runner = self.runner
        return list(runner.journal.notes) if runner is not None and runner.journal else []

    def open(self, prices: PriceTable | None = None) -> SessionModel:
        """Check every input and load the agent file; return an empty model.

        Raises:
            UsageError: a bad agent file, recording, device or journal path.
        """
        from lkmon.agent.host.runner import SessionRunner
        from lkmon.model.state import SessionModel

        if self.runner is None:
            self.runner = SessionRunner(self.options, self._deliver)
        self.runner.prepare()
        return SessionModel(prices)

    async def run(self, emit: Emit) -> None:
        """Run the session to its end (caller finished, ``stop()``, closed or failed).

        Raises:
            UsageError: bad input, an entrypoint that raises before its session starts, or no
                session started within ``RunOptions.start_timeout``.
            SessionFailed: the models failed before the first reply.
        """
        if self.runner is None:
            self.open()
        runner = self.runner
        assert runner is not None  # open() made it
        early, self._early = self._early, []
        self._emit = emit
        for event in early:
            emit(event)
        await runner.run()

    def _deliver(self, event: Event) -> None:
        if self._emit is not None:
            self._emit(event)
        elif len(self._early) < MAX_EARLY:
            self._early.append(event)

    def stop(self, reason: str = "stopped") -> None:
        """End the session gracefully (from any thread)."""
        if self.runner is not None:
            self.runner.stop(reason)

    def send_text(self, text: str) -> None:
        """``AgentSession.generate_reply(user_input=text)`` (queued until the session starts)."""
        if self.runner is None:
            raise Unsupported(f"{self.description}: not opened")
        self.runner.send_text(text)

    def set_mic_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone.

        Raises:
            Unsupported: the input is not the microphone.
        """
        if not self.capabilities.can_mute or self.runner is None:
            super().set_mic_muted(muted)  # raises Unsupported
            return
        self.runner.set_mic_muted(muted)

    @property
    def mic_muted(self) -> bool:
        """True while the microphone is muted."""
        return bool(self.runner is not None and self.runner.mic_muted)

    @property
    def error(self) -> UsageError | None:
        """The runner's error (``SessionFailed``, or a bad input found while starting)."""
        return getattr(self.runner, "error", None)
