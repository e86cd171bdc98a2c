"""Blocking calls off the event loop, in daemon threads (model loading, stdin, file closes).

No livekit import here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run ``fn(*args)`` in a daemon thread; the future resolves on the running loop.

    Unlike ``asyncio.to_thread``, an abandoned call cannot hold up interpreter exit.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as e:  # handed to the awaiting task
            result, exc = None, e
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(
        target=work, name=f"lkmon-{getattr(fn, '__name__', 'call')}", daemon=True
    ).start()
    return fut
