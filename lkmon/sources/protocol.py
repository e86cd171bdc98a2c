"""``ProtocolSource``: the user's agent in its own process, over LiveKit's session protocol.

lkmon is the TCP server that LiveKit's Go ``lk agent console`` otherwise is: it listens on
127.0.0.1, starts ``PYTHON -m livekit.agents console AGENT_FILE --connect-addr 127.0.0.1:PORT``
(``livekit/agents/__main__.py``) in the current folder, and reads what the agent sends: each
message a 4-byte big-endian length and an ``AgentSessionMessage`` protobuf
(``livekit.protocol.agent_pb.agent_session``; ``voice/remote_session.py``, ``cli/tcp_console.py``
in livekit-agents 1.8.9), at most ``MAX_MESSAGE`` bytes (LiveKit's 1 MiB cap).

lkmon carries the console's duties: the agent's audio plays in the sink ``output`` asks for,
as in-process (the real-time null sink or the speakers: an ``audio_playback_flush`` is answered
with ``audio_playback_finished`` once the segment has played; ``audio_playback_clear`` stops it
at once, unanswered, the agent ends the segment itself); ``send_text`` is the protocol's
``run_input`` request; the caller's audio (WAV recordings or the microphone, the same callers
as in-process: ``lkmon.agent.audio.callers``) goes as ``audio_input`` frames at the
protocol's 48 kHz (``lkmon.sources.protocol_audio``). Events become lkmon events
(``lkmon.sources.protocol_events``); the caller follows the agent from them
(``AgentWatcher.observe``). The protocol has no close event: the session ends normally when
``stop`` is called or the caller has finished (its last reply done), abnormally when the
connection drops or the process exits (``SessionClosed.error``).

No textual import here; the protobuf module is imported by ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lkmon.errors import UsageError
from lkmon.model.events import (
    AgentAudible,
    AgentStateChanged,
    ChatMessageAdded,
    Event,
    SessionClosed,
    SessionStarted,
)
from lkmon.sources.base import Capabilities, Emit, SessionSource, SourceError
from lkmon.sources.protocol_audio import LAST_USAGE_WAIT, ConsoleAudio, HeardRelay

if TYPE_CHECKING:
    from lkmon.agent.audio.callers import WavCaller
    from lkmon.agent.audio.mic import MicInput
    from lkmon.agent.audio.sinks import NullSink, SpeakerSink
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable

logger = logging.getLogger("lkmon.protocol")

MAX_MESSAGE = 1 << 20
"""Bytes a message may have at most (LiveKit's own cap in ``TcpSessionTransport``)."""
CONNECT_TIMEOUT = 60.0
"""Seconds the agent process may take to connect."""


class ProtocolSource(SessionSource):
    """Runs ``agent_file`` in its own interpreter and follows it over the session protocol.

    Args:
        agent_file: the LiveKit agent file.
        python: the interpreter (default: ``sys.executable``).
        env: the process's environment (default: this one's).
        log_path: where the agent process's output goes (default: discarded).
        journal: the journal to write every event to (``lkmon.store.journal``), or ``None``;
            ``tags`` (``--tag``) go into its header.
        text_lines: typed user turns to send one by one, each once the previous reply is done
            (the agent listening again); after the last, the session ends normally.
        inputs: the caller's audio instead: WAV files and folders (played one per turn, as
            ``lkmon run --input`` does in-process; after the last reply the session ends
            normally), or ``["mic"]``; checked by ``open``. ``None``: no audio caller.
        mic_device: the sounddevice input device for ``["mic"]`` (default: the system's).
        output: where the agent's audio plays: ``"null"`` (a real-time silent sink) or
            ``"speaker"`` (``speaker_device``, default: the system's), checked by ``open``.
        gap, reply_timeout: seconds, as for ``WavCaller`` (default: its own).

    Attributes:
        messages: protocol messages received, by kind (``event``, ``audio_output``...).
        session_id: the session's id (a UUID4 string), made here: the journal header's,
            ``SessionStarted.session_id`` and the model's (``open``), so that the journal, the
            snapshot and the store's live rows are one session (LiveKit's protocol carries no
            id of lkmon's).
    """

    def __init__(self, agent_file: str | Path, *, python: str | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 journal: Path | None = None, text_lines: Iterable[str] | None = None,
                 inputs: Sequence[str] | None = None, mic_device: int | str | None = None,
                 gap: float | None = None, reply_timeout: float | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 tags: dict[str, str] | None = None, output: str = "null",
                 speaker_device: int | str | None = None) -> None:
        self.agent_file = Path(agent_file)
        self.python = python or sys.executable
        self.env = env
        self.log_path = log_path
        self.connect_timeout = connect_timeout
        self.text_lines = text_lines
        self.inputs = list(inputs) if inputs is not None else None
        self._mic_device = mic_device
        self._gap, self._reply_timeout = gap, reply_timeout
        self._tags = dict(tags or {})
        self.caller: WavCaller | MicInput | None = None
        self.output, self._speaker_device = output, speaker_device
        self.sink: NullSink | SpeakerSink | None = None
        self.relay = HeardRelay(self._level)
        """Puts the sink's ``AgentAudible`` on the agent's playback start."""
        self._deliver: Emit | None = None
        self._journal = journal
        self._listening: asyncio.Event | None = None
        self._replied = False
        self.messages: dict[str, int] = {}
        self.session_id = str(uuid.uuid4())
        self._writer: asyncio.StreamWriter | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._request_id = 0
        self._error: UsageError | None = None
        self._reason = "stopped"

    @property
    def capabilities(self) -> Capabilities:
        """Live and remote; typing reaches the agent; ``stop`` ends the agent's process."""
        return Capabilities(live=True, can_say=True, stops_agent=True, remote=True)

    @property
    def description(self) -> str:
        """The agent file, in its own process."""
        return f"{self.agent_file} (own process, session protocol)"

    @property
    def journal(self) -> Path | None:
        """The journal written as the session runs, or ``None``."""
        return self._journal

    @property
    def error(self) -> UsageError | None:
        """Why the session ended abnormally, or ``None``."""
        return self._error

    def open(self, prices: PriceTable | None = None) -> SessionModel:
        """Check the agent file and the interpreter; return an empty model.

        Raises:
            SourceError: no such agent file, or no such interpreter.
            UsageError: a bad recording or no input device (``inputs``), or no output device
                (``output="speaker"``); the message names it, as in-process.
        """
        import shutil

        from lkmon.model.state import SessionModel

        if not self.agent_file.is_file():
            raise SourceError(f"{self.agent_file}: no such agent file")
        if shutil.which(self.python) is None:
            raise SourceError(f"{self.python}: no such Python interpreter")
        if self.inputs is not None and self.caller is None:
            from lkmon.agent.audio.callers import audio_caller

            self.caller = audio_caller(self.inputs, self._level, mic_device=self._mic_device,
                                       gap=self._gap, reply_timeout=self._reply_timeout)
        if self.sink is None:
            from lkmon.agent.audio.sinks import make_sink

            self.sink = make_sink(self.output, self._own, self._speaker_device, self.caller)
        model = SessionModel(prices)
        model.session.session_id = self.session_id
        return model

    def _level(self, event: Event) -> None:
        """lkmon's own events (the caller's and the sink's ``AudioLevel``), into the stream."""
        if self._deliver is not None:
            self._deliver(event)

    def _own(self, event: Event) -> None:
        """The sink's events: its ``AgentAudible`` go through the ``HeardRelay`` first."""
        if isinstance(event, AgentAudible):
            self.relay.audible(event)
        else:
            self._level(event)

    async def run(self, emit: Emit) -> None:
        """Start the server and the agent, deliver its events until the end.

        Raises:
            SourceError: the agent process exited or did not connect within
                ``connect_timeout`` seconds, or sent a message over ``MAX_MESSAGE`` bytes (also
                kept in ``error``; a ``SessionClosed`` with the reason is emitted first).
            UsageError: the output device cannot be opened (before the agent starts).
        """
        from lkmon.sources.protocol_events import EventConverter

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        audio = ConsoleAudio(self._loop, self._send, lambda: self.stop("caller finished"),
                             self.sink)
        audio.speak_out()  # before the agent starts
        connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            self._loop.create_future())

        def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if connected.done():
                w.close()
            else:
                connected.set_result((r, w))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        proc = await asyncio.create_subprocess_exec(
            self.python, "-m", "livekit.agents", "console", str(self.agent_file),
            "--connect-addr", f"127.0.0.1:{port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log or asyncio.subprocess.DEVNULL, stderr=log or asyncio.subprocess.DEVNULL,
            env=self.env if self.env is not None else dict(os.environ),
        )
        writer = None
        if self._journal is not None:
            from lkmon.store.journal import JournalWriter

            writer = JournalWriter(self._journal, session_id=self.session_id, tags=self._tags)
        listening = self._listening = asyncio.Event()

        from lkmon.agent.audio.callers import WavCaller

        # a WAV caller follows the agent from the events (a microphone just speaks)
        watcher = self.caller.watcher if isinstance(self.caller, WavCaller) else None

        def deliver(event: Event) -> None:
            if isinstance(event, ChatMessageAdded):  # its reply's heard gap comes first
                self.relay.message(event)
            if writer is not None:
                writer.write(event)
            if watcher is not None:
                watcher.observe(event)
            if isinstance(event, AgentStateChanged):
                if event.new_state == "listening":
                    listening.set()
                else:
                    listening.clear()
            elif isinstance(event, ChatMessageAdded) and event.role == "assistant":
                self._replied = True
            emit(event)

        self._deliver = deliver
        convert = EventConverter(deliver)
        error = None
        try:
            exited = asyncio.ensure_future(proc.wait())
            first: set[asyncio.Future[Any]] = {connected, exited}
            done, _ = await asyncio.wait(first, timeout=self.connect_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if connected not in done:
                error = (f"{self.agent_file}: the agent exited before connecting (exit code "
                         f"{proc.returncode})" if exited in done else
                         f"{self.agent_file}: the agent did not connect within "
                         f"{self.connect_timeout:.0f} s")
            else:
                error = await self._follow(connected.result(), exited, convert, deliver,
                                           audio)
        finally:
            await audio.aclose()
            if self._writer is not None:
                self._writer.close()
            server.close()
            await _end(proc)
            if log is not None:
                log.close()
            deliver(SessionClosed(ts=time.time(), reason=self._reason if error is None else "error",
                                  error=error))
            if writer is not None:
                await asyncio.to_thread(writer.close)
        if error is not None:
            self._error = SourceError(error)
            raise self._error

    async def _follow(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                      exited: asyncio.Future[int], convert: Any, emit: Emit,
                      audio: ConsoleAudio) -> str | None:
        """Read the connection until ``stop``; returns why it ended abnormally, or ``None``."""
        assert self._stop is not None
        reader, self._writer = conn
        said = self.caller.describe() if self.caller is not None else "text"
        emit(SessionStarted(ts=time.time(), agent_file=str(self.agent_file),
                            input=f"{said} (session protocol)", output=self.output,
                            lkmon_version=_version(), vad_events=False,
                            session_id=self.session_id, tags=dict(self._tags)))
        stopped = asyncio.ensure_future(self._stop.wait())
        reading = asyncio.ensure_future(self._read(reader, convert, audio))
        typing = asyncio.ensure_future(self._type_lines()) if self.text_lines is not None else None
        if self.caller is not None:
            typing = asyncio.ensure_future(audio.speak(self.caller))
        ends: set[asyncio.Future[Any]] = {stopped, reading, exited}
        done, _ = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        error = None
        if reading in done and reading.exception() is not None:
            error = str(reading.exception())
        elif stopped not in done:
            error = "the agent's connection dropped or its process exited"
        for task in (stopped, reading, typing):
            if task is not None:
                task.cancel()
        return error

    async def _type_lines(self) -> None:
        """Send each of ``text_lines`` once the agent listens and the previous reply came;
        then end the session (the caller finished)."""
        assert self._listening is not None and self.text_lines is not None
        await self._listening.wait()
        for line in self.text_lines:
            text = line.strip()
            if not text:
                continue
            self._replied = False
            self._listening.clear()
            self.send_text(text)
            while not (self._replied and self._listening.is_set()):
                await asyncio.sleep(0.05)
        await asyncio.sleep(LAST_USAGE_WAIT)  # the last usage update
        self.stop("caller finished")

    def stop(self, reason: str = "stopped") -> None:
        """End the session normally, for ``reason`` (``SessionClosed.reason``): close the
        connection and the agent's process (from any thread)."""
        self._reason = reason
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def send_text(self, text: str) -> None:
        """The protocol's ``run_input`` request: a typed user turn."""
        from livekit.protocol.agent_pb import agent_session as pb

        if self._loop is None or self._writer is None:
            raise SourceError(f"{self.description}: not connected yet")
        self._request_id += 1
        request = pb.SessionRequest(request_id=f"lkmon-{self._request_id}",
                                    run_input=pb.SessionRequest.RunInput(text=text))
        msg = pb.AgentSessionMessage(request=request)
        self._loop.call_soon_threadsafe(self._send, msg)

    # -- the wire ------------------------------------------------------------------------------

    def _send(self, msg: Any) -> None:
        if self._writer is not None and not self._writer.is_closing():
            data = msg.SerializeToString()
            self._writer.write(struct.pack(">I", len(data)) + data)

    async def _read(self, reader: asyncio.StreamReader, convert: Any,
                    audio: ConsoleAudio) -> None:
        from livekit.protocol.agent_pb import agent_session as pb

        while True:
            try:
                header = await reader.readexactly(4)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            (size,) = struct.unpack(">I", header)
            if size > MAX_MESSAGE:
                raise SourceError(f"a protocol message of {size} bytes (over LiveKit's 1 MiB cap)")
            msg = pb.AgentSessionMessage.FromString(await reader.readexactly(size))
            kind = msg.WhichOneof("message") or "unknown"
            self.messages[kind] = self.messages.get(kind, 0) + 1
            if kind == "audio_output":
                await audio.play(msg.audio_output)
            elif kind == "audio_playback_flush":
                await audio.flush()
            elif kind == "audio_playback_clear":
                audio.clear()
            elif kind == "event":
                convert.event(msg.event)


async def _end(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> None:
    """Terminate the agent process (then kill it after ``timeout`` seconds)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _version() -> str:
    from lkmon import __version__

    return __version__
