"""Helpers for running a job in-process: what a worker would supply that lkmon has no room for.

* a stand-in for the remote participant that ``JobContext.wait_for_participant()`` returns;
* the model labels of a session for ``SessionStarted.models``;
* whether an agent file loads lkmon's local models (to show their loading progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lkmon.agent.observe import compat
from lkmon.agent.observe.convert import describe_exception, what_it_did
from lkmon.agent.observe.convert import model_labels as model_labels  # re-exported
from lkmon.errors import UsageError

logger = logging.getLogger("lkmon.runner")


def mentions_local(path: Path) -> bool:
    """True when the agent file's source refers to ``lkmon.local`` (it loads the local models)."""
    try:
        return "lkmon.local" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


class _Participant:
    """Stands in for the remote participant that ``ctx.wait_for_participant()`` returns: in
    lkmon the caller is local, so there is no room and no participant to wait for."""

    identity = "lkmon-caller"
    sid = "PA_lkmon"
    name = "lkmon caller"
    metadata = ""
    attributes: dict[str, str] = {}
    track_publications: dict[str, Any] = {}

    @property
    def kind(self) -> int:
        from livekit import rtc

        return rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD


async def stand_in_participant(_ctx: Any, *args: Any, **kwargs: Any) -> _Participant:
    """Replaces ``JobContext.wait_for_participant`` during a run (no room to wait in)."""
    return _Participant()


async def run_session_end(server: Any, ctx: Any, timeout: float) -> None:
    """Run the server's ``on_session_end(ctx)`` callback, as a worker would (seconds limit)."""
    fnc = compat.server_session_end(server) if server is not None else None
    if fnc is None or ctx is None:
        return
    try:
        await asyncio.wait_for(fnc(ctx), timeout)
    except Exception as e:
        logger.warning("on_session_end failed: %s", describe_exception(e))


async def run_shutdown_callbacks(ctx: Any, timeout: float) -> None:
    """Run the job's ``ctx.add_shutdown_callback`` callbacks, each within ``timeout`` seconds."""
    for cb in compat.shutdown_callbacks(ctx) if ctx is not None else []:
        try:
            await asyncio.wait_for(cb("lkmon session ended"), timeout)
        except Exception as e:
            name = getattr(cb, "__name__", cb)
            logger.warning("shutdown callback %s failed: %s", name, describe_exception(e))


@dataclass(frozen=True, slots=True)
class AudioIO:
    """Which audio the agent file asks RoomIO for (its room options to ``session.start``).

    Attributes:
        input: False when the file turns audio input off (a text-only agent).
        output: False when the file turns audio output off (replies are text only).
    """

    input: bool = True
    output: bool = True


def audio_io_of(kwargs: dict[str, Any]) -> AudioIO:
    """Read the audio switches of ``session.start``'s room options, as LiveKit 1.8.9 does.

    ``room_options=RoomOptions(audio_input=False, audio_output=False)`` (the public getters
    ``get_audio_input_options()`` / ``get_audio_output_options()`` return ``None`` when off);
    the older ``room_input_options=RoomInputOptions(audio_enabled=False)`` and
    ``room_output_options=RoomOutputOptions(audio_enabled=False)`` apply when no
    ``room_options`` is given (LiveKit ignores them otherwise).
    """
    options = kwargs.get("room_options")
    get_in = getattr(options, "get_audio_input_options", None)
    get_out = getattr(options, "get_audio_output_options", None)
    if callable(get_in) and callable(get_out):
        return AudioIO(input=get_in() is not None, output=get_out() is not None)
    legacy_in = kwargs.get("room_input_options")
    legacy_out = kwargs.get("room_output_options")
    return AudioIO(
        input=getattr(legacy_in, "audio_enabled", True) is not False,
        output=getattr(legacy_out, "audio_enabled", True) is not False,
    )


@contextlib.contextmanager
def take_over_sessions(
    take_over: Callable[[Any, Any, AudioIO], None], started: asyncio.Future[None]
) -> Iterator[None]:
    """Take over the first ``AgentSession.start`` (and stand in for ``wait_for_participant``)
    while active (``compat.intercept_session_start``).

    When the user's code calls ``session.start(agent=..., room=ctx.room)`` for the first time,
    the room and its options are dropped (no RoomIO, recording off) after reading which audio
    they turn on (``audio_io_of``); ``take_over(session, agent, audio)`` gives the session its
    audio and transcript outputs, then the original ``start`` runs and ``started`` resolves. A
    second session is left alone, with one warning (``lkmon.runner`` logger) that it is not
    monitored.
    """
    taken: list[Any] = []

    def make_start(original: compat.StartFn) -> compat.StartFn:
        async def start(session: Any, *args: Any, **kwargs: Any) -> Any:
            if taken:
                if not any(s is session for s in taken):
                    taken.append(session)
                    logger.warning(
                        "the agent file started a second AgentSession: lkmon monitors only the "
                        "first; this one (%s) runs unseen, with no audio from lkmon",
                        type(session).__name__,
                    )
                return await original(session, *args, **kwargs)
            taken.append(session)
            agent = args[0] if args else kwargs.get("agent")
            audio = audio_io_of(kwargs)
            for key in ("room", "room_options", "room_input_options", "room_output_options"):
                kwargs.pop(key, None)
            kwargs["record"] = False
            take_over(session, agent, audio)
            result = await original(session, *args, **kwargs)
            if not started.done():
                started.set_result(None)
            return result

        return start

    with compat.intercept_session_start(make_start, stand_in_participant):
        yield


def add_progress_listener(
    agent_path: Path, loop: asyncio.AbstractEventLoop, emit: Callable[[Any], None]
) -> Callable[[Any], None] | None:
    """Forward ``lkmon.local`` model-loading progress (from its loading thread) to ``emit`` on
    ``loop``, when the agent file uses lkmon's local models. Returns the listener, or None."""
    local = sys.modules.get("lkmon.local")
    if local is None and mentions_local(agent_path):
        try:
            import lkmon.local as local
        except ImportError as e:  # the agent file will report it in its own words
            logger.debug("lkmon.local unavailable: %s", e)
    add = getattr(local, "add_progress_listener", None)
    if add is None:
        return None

    def listener(event: Any) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(emit, event)

    add(listener)
    return listener


def remove_progress_listener(listener: Callable[[Any], None]) -> None:
    """Undo ``add_progress_listener``."""
    local = sys.modules.get("lkmon.local")
    getattr(local, "remove_progress_listener", lambda _fn: None)(listener)

async def run_prewarm(
    setup: Callable[[Any], Any] | None, proc: Any, end: asyncio.Event, agent_file: Any
) -> None:
    """Run the agent file's prewarm ``setup(proc)`` in a daemon thread; return early when
    ``end`` is set (the thread is left to finish on its own).

    Raises:
        UsageError: the prewarm raised (one line naming ``agent_file``).
    """
    from lkmon.agent.threads import in_daemon_thread

    if setup is None:
        return
    t0 = time.perf_counter()
    done = in_daemon_thread(setup, proc)
    ended = asyncio.ensure_future(end.wait())
    try:
        await asyncio.wait({done, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if not done.done():  # stopped while loading: leave the thread, it is a daemon
        logger.info("stopped during prewarm")
        return
    try:
        done.result()
    except UsageError:
        raise
    except BaseException as e:  # sys.exit() and KeyboardInterrupt too: one line
        raise UsageError(f"agent file {agent_file}: prewarm {what_it_did(e)}") from None
    logger.info("prewarm took %.2f s", time.perf_counter() - t0)


async def wait_started(
    started: asyncio.Future[None],
    entry: asyncio.Task[None],
    end: asyncio.Event,
    timeout: float,
    agent_file: Any,
) -> None:
    """Wait until the entrypoint has started its session (``started``) or ``end`` is set.

    Raises:
        UsageError: the entrypoint raised or returned without starting an ``AgentSession``, or
            none started within ``timeout`` seconds.
    """
    path = agent_file
    ended = asyncio.ensure_future(end.wait())
    waiters: set[asyncio.Future[Any]] = {started, entry, ended}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if started.done() or end.is_set():
        return
    if entry.done():
        exc = entry.exception()
        if isinstance(exc, UsageError):
            raise exc
        if exc is not None:
            done = exc.exc if isinstance(exc, AgentExit) else exc
            raise UsageError(f"agent file {path}: its entrypoint {what_it_did(done)}")
        raise UsageError(
            f"agent file {path}: its entrypoint returned without starting an "
            "AgentSession (session.start was never called)"
        )
    raise UsageError(
        f"agent file {path}: no AgentSession started within "
        f"{timeout:g} s (does its entrypoint call session.start()?)"
    )


class AgentExit(Exception):
    """``SystemExit`` or ``KeyboardInterrupt`` raised by the agent's own code, carried as an
    ordinary exception: asyncio lets either end the whole event loop (and lkmon with it).

    Args:
        exc: what the agent raised (``exc``).
    """

    def __init__(self, exc: BaseException) -> None:
        super().__init__(what_it_did(exc))
        self.exc = exc


async def call_entrypoint(entrypoint: Callable[[Any], Any], ctx: Any) -> None:
    """``await entrypoint(ctx)``; a ``sys.exit()`` or ``KeyboardInterrupt`` in it raises
    ``AgentExit``."""
    try:
        await entrypoint(ctx)
    except (SystemExit, KeyboardInterrupt) as e:
        raise AgentExit(e) from None


def agent_exited(entry: asyncio.Task[None], agent_file: Any) -> UsageError | None:
    """The one line for an entrypoint task that ended with ``AgentExit`` after its session
    started (``"agent file X: its entrypoint called sys.exit(3)"``), else ``None`` (another
    exception is logged: the session goes on, as under a worker)."""
    exc = None if entry.cancelled() else entry.exception()
    if exc is not None and not isinstance(exc, AgentExit):  # the session goes on
        logger.error("the entrypoint %s after its session started", what_it_did(exc))
    if not isinstance(exc, AgentExit):
        return None
    return UsageError(f"agent file {agent_file}: its entrypoint {exc}")


@contextlib.contextmanager
def thread_errors_logged() -> Iterator[None]:
    """While active, an exception in a thread (one the agent started) is one redacted log line
    on the ``lkmon.runner`` logger (the log pane, the journal; stderr only with ``-v``), not
    ``threading``'s traceback on stderr with whatever secret it holds (``threading.excepthook``).
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        where = ""
        if args.exc_traceback is not None:
            last = traceback.extract_tb(args.exc_traceback)[-1]
            where = f" (at {Path(last.filename).name}:{last.lineno})"
        name = args.thread.name if args.thread is not None else "?"
        logger.error("thread %s %s%s", name, what_it_did(args.exc_value), where)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
