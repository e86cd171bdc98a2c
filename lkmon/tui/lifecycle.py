"""What the app takes over while it runs: quit on SIGTERM/SIGINT, and the loggers in replay.

No textual or livekit import here (``lkmon.agent.observe.logs`` imports neither).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from lkmon.model.events import Event

log = logging.getLogger("lkmon.tui.lifecycle")


class QuitSignals:
    """SIGTERM and SIGINT call ``on_signal`` on the event loop instead of killing the process.

    Args:
        on_signal: called on the loop thread; it should start a graceful quit.
    """

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self.on_signal = on_signal
        self.installed: list[signal.Signals] = []

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the handlers (where the platform allows it)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.on_signal)
            except (NotImplementedError, RuntimeError, ValueError) as e:
                log.debug("no handler for %s: %s", sig, e)
                continue
            self.installed.append(sig)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the signals back."""
        for sig in self.installed:
            loop.remove_signal_handler(sig)
        self.installed.clear()


def route_logs(emit: Callable[[Event], None], loop: asyncio.AbstractEventLoop) -> Any:
    """Route the ``livekit``, ``lkmon`` and root loggers into ``LogRecord`` events (replay has
    no runner doing it), so that nothing is written over the screen.

    Returns:
        The router; call its ``uninstall()`` when the app ends.
    """
    from lkmon.agent.observe.logs import LogRouter

    router = LogRouter(emit, capture_root=True).install()
    router.bind(loop)
    return router
