"""Run a user's LiveKit agent file in-process, as LiveKit's console does, and watch everything.

``SessionRunner.run()``:

1. imports the agent file (``lkmon.agent.host.loader``) and opens the caller, the sink and the
   journal (``prepare``; every bad input raises ``UsageError`` here, before anything starts);
2. installs a fake job context (``livekit.agents.testing.fake_job_context``) and runs the file's
   prewarm ``setup_fnc(ctx.proc)`` in a thread, turning ``lkmon.local`` model-loading progress into
   ``LoadProgress`` events;
3. wraps ``AgentSession.start`` for the duration of the run and calls the entrypoint. When the
   user's code calls ``session.start(agent=..., room=ctx.room)``, lkmon drops the unconnected room
   (no RoomIO), sets ``session.input.audio`` (the caller), ``session.output.audio`` and
   ``session.output.transcription`` (through LiveKit's ``TranscriptSynchronizer``, so an interrupted
   reply is cut to what was played), attaches the bridge, then calls the original ``start``;
4. waits for the caller to finish, ``stop()``, the session to close, or a failure; then closes the
   session (``aclose``), runs the job's shutdown callbacks and closes the journal.

Failures: an entrypoint that raises before its session starts, one that calls ``sys.exit()`` or
raises ``KeyboardInterrupt`` (also after), or a file that never starts one within
``RunOptions.start_timeout`` seconds, raise ``UsageError`` (``jobctx.wait_started``,
``jobctx.AgentExit``); a session whose models fail before the first reply ends with
``SessionFailed`` (``failures.FailureWatch``); an exception in a thread the agent started is a
redacted log line (``jobctx.thread_errors_logged``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lkmon import __version__
from lkmon.agent.audio.callers import TextCaller, WavCaller, in_daemon_thread, make_caller
from lkmon.agent.audio.mic import MicInput
from lkmon.agent.audio.sinks import NullSink, SpeakerSink, make_sink
from lkmon.agent.host.failures import FailureWatch
from lkmon.agent.host.jobctx import (
    AudioIO,
    add_progress_listener,
    agent_exited,
    call_entrypoint,
    model_labels,
    remove_progress_listener,
    run_prewarm,
    run_session_end,
    run_shutdown_callbacks,
    take_over_sessions,
    thread_errors_logged,
    wait_started,
)
from lkmon.agent.host.loader import AgentFile, load_agent_file
from lkmon.agent.host.options import MODELS_ENV, RunOptions, SessionFailed
from lkmon.agent.observe import compat
from lkmon.agent.observe.bridge import Bridge, describe_exception
from lkmon.agent.observe.logs import LogRouter
from lkmon.errors import UsageError
from lkmon.model.events import ChatMessageAdded, Event, LoadProgress, SessionClosed, SessionStarted
from lkmon.redact import install_from_env
from lkmon.store.journal import JournalWriter, warn_on_stderr

logger = logging.getLogger("lkmon.runner")

__all__ = ["MODELS_ENV", "RunOptions", "SessionFailed", "SessionRunner"]


class SessionRunner:
    """Runs one agent session in-process and emits every event it sees.

    Args:
        options: what to run and how.
        emit: receives each ``lkmon.model.events`` event, synchronously, on the event-loop
            thread; it must be cheap. (Events also go to the journal.)
    """

    def __init__(self, options: RunOptions, emit: Callable[[Event], None]) -> None:
        self.options = options
        self._user_emit = emit
        self.agent: AgentFile | None = None
        self.session: Any = None
        self.bridge: Bridge | None = None
        self.session_id = str(uuid.uuid4())
        """The session's id (UUID4): the journal header's and ``SessionStarted.session_id``."""
        self.journal: JournalWriter | None = None
        self.caller: WavCaller | MicInput | TextCaller | None = None
        self.sink: NullSink | SpeakerSink | None = None
        self.end_reason: str | None = None
        self.error: UsageError | None = None
        self.replies = 0
        self._router: LogRouter | None = None
        self._prepared = False
        self._end: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._sync: Any = None
        self._ctx: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_text: list[str] = []
        self.watch = FailureWatch(self)
        """Decides whether the session failed before its first reply."""

    @property
    def failure(self) -> str | None:
        """Why the session failed before its first reply (with a hint), or ``None``."""
        return self.watch.failure

    # -- public API ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check every input and load the agent file, before any session starts.

        Idempotent. Raises:
            UsageError: a bad agent file, recording, device or journal path.
        """
        if self._prepared:
            return
        opts = self.options
        self._router = LogRouter(self.emit, level=opts.log_level,
                                 stderr_level=opts.stderr_log_level,
                                 capture_root=opts.capture_root_logs).install()
        compat.check_version()  # one warning line on a livekit-agents lkmon is not tested with
        try:
            self.caller = make_caller(self.options, self.emit, self.send_text)
            self.sink = make_sink(opts.output, self.emit, opts.speaker_device, self.caller)
            if opts.models not in ("auto", "local", "cloud"):
                raise UsageError(f"--models must be auto, local or cloud, not {opts.models!r}")
            os.environ[MODELS_ENV] = opts.models
            # .env and environment secrets hidden in all lkmon writes (as the CLI; for embedders)
            install_from_env(Path(opts.agent_file).parent / ".env")
            install_from_env(Path.cwd() / ".env")
            self.agent = load_agent_file(opts.agent_file)
            install_from_env()  # and what the agent file's import put into the environment
            if opts.journal is not None:
                try:
                    self.journal = JournalWriter(opts.journal, session_id=self.session_id,
                                                 on_failure=warn_on_stderr, tags=opts.tags)
                except OSError as e:
                    why = e.strerror
                    raise UsageError(f"cannot write the journal {opts.journal}: {why}") from None
        except BaseException:
            self._router.uninstall()
            raise
        self._prepared = True

    async def run(self) -> None:
        """Run the session to its end (caller finished, ``stop()``, session closed or failed).

        Raises:
            UsageError: bad input (see ``prepare``), an entrypoint that raises before its session
                starts, or no session started within ``start_timeout``.
            SessionFailed: the models failed before the first reply.
        """
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._end = asyncio.Event()
        self.prepare()
        assert self._router is not None and self.agent is not None
        self._router.bind(self._loop)
        from livekit.agents import testing, tokenize
        from livekit.agents.utils import http_context

        listener = self._progress_listener()
        # a worker gives each job an aiohttp session (cloud plugins need it) and a job context
        async with http_context.open():
            try:
                with testing.fake_job_context() as ctx, thread_errors_logged():
                    self._ctx = ctx
                    # the job ends when the agent calls ctx.shutdown(), as under a worker
                    compat.on_job_shutdown(ctx, lambda reason: self.stop(f"job shutdown: {reason}"))
                    await self._prewarm(ctx)
                    # built now to be frozen: the transcript synchronizer's hyphenation trie
                    # (13,000 dicts and lists that every full collection walked: +5 ms a pause)
                    tokenize.basic.hyphenate_word("warm")
                    # the long full collection (models, imports: 100-250 ms) before the session;
                    # the one after start walks only what the entrypoint made since (benchmarks)
                    gc.collect()
                    gc.freeze()
                    if not self._end.is_set():
                        await self._run_entrypoint(ctx)
            except UsageError as e:
                self.error = e
                raise
            finally:
                await self._cleanup(listener)
        if self.failure is not None or self.error is not None:
            self.error = self.error or SessionFailed(str(self.failure))
            raise self.error

    def stop(self, reason: str = "stopped") -> None:
        """End the session gracefully (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._finish(reason)
        else:
            loop.call_soon_threadsafe(self._finish, reason)

    def send_text(self, text: str) -> None:
        """Send a typed user turn (``AgentSession.generate_reply(user_input=text)``)."""
        text = text.strip()
        if not text:
            return
        if self.session is None:
            self._pending_text.append(text)
            return
        self.session.generate_reply(user_input=text)

    def set_mic_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone (frames become silence; timing is kept)."""
        if isinstance(self.caller, MicInput):
            self.caller.muted = muted

    @property
    def mic_muted(self) -> bool:
        """True while the microphone is muted."""
        return isinstance(self.caller, MicInput) and self.caller.muted

    def emit(self, event: Event) -> None:
        """Journal ``event`` and hand it to the consumer (never raises)."""
        if self.journal is not None:
            self.journal.write(event)
        if type(event) is ChatMessageAdded and event.role == "assistant":
            self.replies += 1
        try:
            self._user_emit(event)
        except Exception:
            logger.exception("lkmon event consumer failed on %s", type(event).__name__)

    # -- steps ---------------------------------------------------------------------------------

    def _progress_listener(self) -> Callable[[LoadProgress], None] | None:
        """Forward ``lkmon.local`` loading progress when the agent file uses it."""
        if self.agent is None or self._loop is None:
            return None
        return add_progress_listener(self.agent.path, self._loop, self.emit)

    async def _prewarm(self, ctx: Any) -> None:
        """Run the file's ``setup_fnc(proc)`` in a thread so the loop stays free."""
        assert self.agent is not None and self._end is not None
        await run_prewarm(self.agent.setup_fnc, ctx.proc, self._end, self.options.agent_file)

    async def _run_entrypoint(self, ctx: Any) -> None:
        assert self.agent is not None and self._end is not None
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with take_over_sessions(self._take_over, started):
            entry = asyncio.create_task(self._entry(ctx), name="lkmon.entrypoint")
            try:
                await wait_started(started, entry, self._end, self.options.start_timeout,
                                   self.options.agent_file)
                if self._end.is_set():
                    return
                self._after_start()
                entry.add_done_callback(self._entry_done)
                await self._end.wait()
            finally:
                if not entry.done():
                    entry.cancel()
                    await asyncio.gather(entry, return_exceptions=True)

    async def _entry(self, ctx: Any) -> None:
        assert self.agent is not None
        await call_entrypoint(self.agent.entrypoint, ctx)

    def _entry_done(self, entry: asyncio.Task[None]) -> None:
        """After start: an entrypoint that called ``sys.exit()`` ends the session (one line)."""
        self.error = self.error or agent_exited(entry, self.options.agent_file)
        if self.error is not None:
            self._finish("the agent exited")

    def _take_over(self, session: Any, agent: Any, audio: AudioIO) -> None:
        """Give the session lkmon's audio in/out and transcript, and attach the bridge.

        Audio the agent file turns off in its room options (a text-only agent) is not given:
        with no audio output the replies go straight to the transcript as text (as LiveKit's
        ``console --text`` shows them), with no audio input the session is driven by typing.
        """
        from livekit.agents.voice.transcription import TranscriptSynchronizer

        assert self.sink is not None
        self.session = session
        self.bridge = Bridge(session, self.emit)
        audio_caller = isinstance(self.caller, WavCaller | MicInput)
        session.input.audio = self.caller if audio_caller and audio.input else None
        if not audio.input and audio_caller:
            logger.warning(
                "the agent file turns audio input off in its room options: lkmon sends it no "
                "audio; type instead (--input text, or t in the app)"
            )
            if isinstance(self.caller, WavCaller):
                self._loop_call(lambda: self._finish("the agent takes no audio input"))
        if audio.output:
            sync = TranscriptSynchronizer(
                next_in_chain_audio=self.sink, next_in_chain_text=self.bridge.transcript
            )
            session.output.audio = sync.audio_output
            session.output.transcription = sync.text_output
            self._sync = sync
        else:
            session.output.audio = None
            session.output.transcription = self.bridge.transcript
        self.bridge.attach(agent)
        if isinstance(self.caller, WavCaller | TextCaller):
            self.caller.attach(session)
        session.on("error", self.watch.on_error)
        session.on("close", self.watch.on_close)
        self.emit(
            SessionStarted(
                ts=time.time(),
                agent_file=str(self.options.agent_file),
                models=model_labels(session, agent),
                input=self.caller.describe() if self.caller is not None else "text",
                output=self.options.output if audio.output else "none",
                lkmon_version=__version__,
                session_id=self.session_id,
                tags=dict(self.options.tags),
            )
        )

    def _loop_call(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop soon (after the current callback)."""
        assert self._loop is not None
        self._loop.call_soon(fn)

    def _after_start(self) -> None:
        """The session is listening: freeze start-up garbage, start the caller."""
        assert self._loop is not None
        gc.collect()  # short: what was made since the freeze after prewarm
        gc.freeze()  # full collections stalled the loop 75-160 ms (notes)
        caller = self.caller
        if isinstance(self.sink, SpeakerSink):
            self.sink.start(self._loop)
        if isinstance(caller, MicInput):
            caller.start(self._loop)
        elif isinstance(caller, WavCaller):
            caller.on_done = lambda: self._finish("caller finished")
        elif isinstance(caller, TextCaller):
            caller.on_done = lambda: self._finish("caller finished")
            self._tasks.append(asyncio.create_task(caller.run(), name="lkmon.text_caller"))
        for text in self._pending_text:
            self.send_text(text)
        self._pending_text.clear()

    def _finish(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            logger.info("ending the session: %s", reason)
        if self._end is not None:
            self._end.set()

    # -- the end -------------------------------------------------------------------------------

    async def _cleanup(self, listener: Callable[[LoadProgress], None] | None) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        session = self.session
        if session is not None:
            try:
                await asyncio.wait_for(session.aclose(), self.options.close_timeout)
            except TimeoutError:
                logger.warning("session close took over %.1f s", self.options.close_timeout)
            except Exception as e:
                logger.error("session close failed: %s", describe_exception(e))
            server = self.agent.server if self.agent is not None else None
            await run_session_end(server, self._ctx, self.options.close_timeout)
            await run_shutdown_callbacks(self._ctx, self.options.close_timeout)
        if self._sync is not None:
            try:
                await asyncio.wait_for(self._sync.aclose(), self.options.close_timeout)
            except Exception as e:
                logger.warning("transcript synchronizer close failed: %s", describe_exception(e))
        if self.bridge is not None:
            if self.bridge.closed is None:
                self.emit(
                    SessionClosed(
                        ts=time.time(), reason=self.end_reason or "ended", error=self.failure
                    )
                )
            self.bridge.detach()
        elif self.end_reason is not None or self.failure is not None:
            self.emit(
                SessionClosed(ts=time.time(), reason=self.end_reason or "ended", error=self.failure)
            )
        if isinstance(self.caller, WavCaller | MicInput):
            self.caller.close()
        if self.sink is not None:
            await self.sink.aclose()
        if listener is not None:
            remove_progress_listener(listener)
        if self.journal is not None:
            await in_daemon_thread(self.journal.close)
        if self._router is not None:
            self._router.uninstall()
