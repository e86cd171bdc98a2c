"""When a session counts as failed: its models failed before the first reply.

A session whose models fail before the first reply (e.g. cloud models with no network) ends
within ``RunOptions.failure_timeout`` seconds with ``SessionFailed``, or at once for an error
LiveKit calls unrecoverable; the hint names ``--models local`` only for lkmon's
``agent_entry.py`` (the file that flag configures). With ``--input text`` the STT, VAD and audio
interruption detector get no audio: their errors are warnings, never fatal (not even through
LiveKit's ``max_unrecoverable_errors``). Errors of lkmon's own local plugins (``lkmon.local``:
injected faults) and any error after the first reply are left to LiveKit's retries and close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lkmon.agent.host.options import MODELS_ENV
from lkmon.agent.observe import compat
from lkmon.agent.observe.convert import describe_exception

if TYPE_CHECKING:
    from lkmon.agent.host.runner import SessionRunner

logger = logging.getLogger("lkmon.runner")

LOCAL_PLUGINS = "lkmon.local."
"""Label prefix of lkmon's offline plugins (``LLMError.label`` etc.)."""

UNUSED_WITH_TEXT = frozenset({"stt_error", "vad_error", "interruption_detection_error"})
"""Error types of models that ``--input text`` does not feed (no audio reaches the session)."""


class FailureWatch:
    """Watches one run's ``error`` and ``close`` events (plain functions, on the loop).

    Args:
        runner: the run (its options, reply count, session, agent; ``_finish`` ends it).

    Attributes:
        failure: why the session failed, with what to try, or ``None``.
        first_error: the first error before any reply, or ``None``.
        first_error_at: ``time.monotonic()`` of it.
    """

    def __init__(self, runner: SessionRunner) -> None:
        self.runner = runner
        self.failure: str | None = None
        self.first_error: str | None = None
        self.first_error_at: float | None = None
        self._warned = False

    def on_error(self, ev: Any) -> None:
        """The session's ``error`` event: count it, fail the run when it is fatal."""
        err = ev.error
        if self.unused_by_input(err, getattr(ev, "source", None)):
            # shown and counted by the bridge (ErrorRaised), not fatal: typed turns need no STT
            # or VAD. LiveKit recreates a failed STT stream and closes the session at its 4th
            # unrecoverable STT error (conn_options.max_unrecoverable_errors); this runs just
            # before it counts, so reset the count as LiveKit does when the STT recovers.
            if getattr(err, "type", "") == "stt_error":
                compat.reset_stt_error_count(self.runner.session)
            if not self._warned:
                self._warned = True
                logger.warning(
                    "%s with --input text: not fatal, typed turns do not use it",
                    str(getattr(err, "type", "model_error")).replace("_", " "),
                )
            return
        if self.runner.replies > 0:
            return  # after a good reply, LiveKit's retries and close decide
        if str(getattr(err, "label", "")).startswith(LOCAL_PLUGINS):
            return  # no network or credentials involved: LiveKit's retries and close decide
        exc = getattr(err, "error", err)
        kind = str(getattr(err, "type", "model_error")).replace("_", " ")
        text = describe_exception(exc) if isinstance(exc, BaseException) else str(exc)
        message = f"{kind} before the first reply: {text}"
        if self.first_error is None:
            self.first_error, self.first_error_at = message, time.monotonic()
            timeout = self.runner.options.failure_timeout
            asyncio.get_running_loop().call_later(timeout, self._check_failed)
        if not getattr(err, "recoverable", True):
            self._fail(message)

    def unused_by_input(self, err: Any, source: Any = None) -> bool:
        """True for an error of a model the chosen input does not feed: with ``--input text``
        no audio reaches the session, so its STT, VAD and audio interruption detector are idle
        (a cloud STT still tries to connect, and fails with no network)."""
        if list(self.runner.options.inputs) != ["text"]:
            return False
        kind = str(getattr(err, "type", ""))
        if kind in UNUSED_WITH_TEXT:
            return True
        from livekit.agents import vad

        return isinstance(source, vad.VAD)

    def _check_failed(self) -> None:
        if self.runner.replies == 0 and self.first_error is not None:
            timeout = self.runner.options.failure_timeout
            self._fail(f"{self.first_error} (no reply {timeout:.0f} s later)")

    def _fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = f"{message}; {self._failure_hint()}"
            self.runner._finish("failed")

    def _failure_hint(self) -> str:
        """What to try: ``--models local`` only picks the models of lkmon's own agent file."""
        if self._reads_models_flag():
            return "check the network and credentials, or use --models local"
        return "check the network and credentials (and the provider's base URL)"

    def _reads_models_flag(self) -> bool:
        """True when the agent file is lkmon's ``agent_entry.py``, or otherwise reads
        ``$LKMON_MODELS`` (what ``--models`` sets)."""
        agent = self.runner.agent
        path = Path(agent.path if agent is not None else self.runner.options.agent_file)
        if path.name == "agent_entry.py":
            return True
        try:
            return MODELS_ENV in path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False

    def on_close(self, ev: Any) -> None:
        """The session's ``close`` event: a close with an error before any reply fails."""
        local = str(getattr(ev.error, "label", "")).startswith(LOCAL_PLUGINS)
        unused = ev.error is not None and self.unused_by_input(ev.error)
        if ev.error is not None and self.runner.replies == 0 and not local and not unused:
            exc = getattr(ev.error, "error", ev.error)
            text = describe_exception(exc) if isinstance(exc, BaseException) else str(exc)
            self._fail(f"session closed: {text}")
        self.runner._finish(f"session closed ({getattr(ev.reason, 'value', ev.reason)})")
