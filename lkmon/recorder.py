"""``lkmon.record(session)``: the session journal, written from inside the user's own agent.

Two lines in an agent's entrypoint, after the ``AgentSession`` is built, before or after
``session.start()``::

    from lkmon import record
    record(session)

It writes the journal ``lkmon run`` writes (a header, then one event per line; ``lkmon replay``,
``lkmon import`` and ``lkmon watch`` read it), by default a new
``lkmon-sessions/<YYYYmmdd-HHMMSS>-<room>-<session_id prefix>.journal.jsonl`` of the current
folder (``$LKMON_SESSIONS`` moves the folder). One journal per session: a worker that handles
many jobs calls ``record`` in each job's entrypoint.

LiveKit's public API only (``lkmon.agent.observe.bridge.Bridge`` with ``public_only``): the
session's events (``agent_state_changed``, ``user_state_changed``, ``user_input_transcribed``,
``conversation_item_added`` with ``ChatMessage.metrics``, ``function_tools_executed``,
``speech_created`` and its ``SpeechHandle``, ``session_usage_updated``, ``error``, ``close``) and
each plugin's ``metrics_collected``; nothing of ``lkmon.agent.observe.compat``. So, compared with
``lkmon run``: no ``EOUMetrics`` (the EOU delay comes from the user message's
``end_of_turn_delay``), no VAD events, no agent transcript paced with playback (the reply's text
is its ``ChatMessage``).

Events are queued to ``JournalWriter``'s thread (the event loop pays a ``queue.put``), written
with one ``write(2)`` each, fsynced at each turn's end and at close; the file is 0600 and every
line passes through the secrets redactor (``lkmon.redact``: the environment's secrets and the
current folder's ``.env``). The recorder never raises into the agent: a failure is logged once
(``lkmon.recorder`` / ``lkmon.store.journal`` loggers) and the events not written are counted
(``Recorder.not_written``).

No textual, ``lkmon.local`` or model runtime is imported; livekit only when ``record`` is called.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lkmon import __version__, paths
from lkmon.model.events import (
    AgentTranscript,
    ChatMessageAdded,
    Event,
    SessionClosed,
    SessionStarted,
    ToolCalled,
    UserTranscribed,
)
from lkmon.redact import install_from_env, placeholder

logger = logging.getLogger("lkmon.recorder")

_OPEN: weakref.WeakKeyDictionary[Any, Recorder] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def record(
    session: Any,
    journal: str | Path | None = None,
    *,
    db: str | Path | None = None,
    redact: bool = False,
    tags: Mapping[str, str] | None = None,
    max_files: int | None = None,
    max_bytes: int | None = None,
) -> Recorder:
    """Record ``session`` (a ``livekit.agents.AgentSession``) into a journal, until it closes.

    Call it after the session is built, before or after ``await session.start(...)``. Calling
    it again for the same session returns the same recorder.

    Args:
        session: the ``AgentSession``.
        journal: a folder for a new ``<stamp>-<room>-<session id>.journal.jsonl`` in it, or a
            file (an existing file is never overwritten: a time-stamped name beside it is
            used). Default: the sessions folder (``$LKMON_SESSIONS``, else ``lkmon-sessions``
            of the current folder).
        db: a session store (a SQLite path or database URL, as ``lkmon import --db``): the
            journal is imported into it when the session closes (on the writer's thread).
        redact: replace user and agent text, tool arguments and outputs with same-length
            placeholders (``█``) in the journal, as ``lkmon run --redact`` does in exports.
            Secrets are always redacted.
        tags: ``{name: value}`` strings written in the journal's header line (``"tags"``).
        max_files: keep at most this many journals in the journal's folder (the oldest
            ``*.journal.jsonl`` are removed when a session starts; folder mode only).
        max_bytes: keep the folder's journals within this many bytes (the same way).

    Returns:
        The ``Recorder``; ``Recorder.path`` is the journal once the session has started.
        Nothing is raised: on a failure the recorder logs it once and records nothing.
    """
    with _LOCK:
        existing = _OPEN.get(session)
        if existing is not None and not existing.closed:
            return existing
        rec = Recorder(session, journal=journal, db=db, redact=redact, tags=tags,
                       max_files=max_files, max_bytes=max_bytes)
        try:
            _OPEN[session] = rec
        except TypeError:  # not weak-referenceable: no de-duplication
            pass
    rec.attach()
    return rec


class Recorder:
    """One session's journal writer inside the agent's process (made by ``record``).

    Attributes:
        session_id: the session's id (a UUID4 string): the journal header's and
            ``SessionStarted.session_id``.
        room: the LiveKit room's name (``""`` outside a job).
        path: the journal, once the session has started; else ``None``.
        queued: events handed to the writer.
        error: the first failure (one line), or ``None``.
        closed: True once the session closed (or ``close`` was called).
    """

    def __init__(self, session: Any, *, journal: str | Path | None = None,
                 db: str | Path | None = None, redact: bool = False,
                 tags: Mapping[str, str] | None = None, max_files: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.session = session
        self.session_id = str(uuid.uuid4())
        self.room = ""
        self.path: Path | None = None
        self.queued = 0
        self.lost = 0
        self.error: str | None = None
        self.closed = False
        self.started = False
        self._journal = journal
        self._db = db
        self._redact = redact
        self._tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._writer: Any = None
        self._bridge: Any = None
        self._closer: threading.Thread | None = None

    # -- life ----------------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the session (and begin the journal when it is already running)."""
        try:
            from lkmon.agent.observe.bridge import Bridge

            install_from_env(Path.cwd() / ".env")
            self.room = _room_name()
            self._bridge = Bridge(self.session, self._emit, public_only=True)
            agent = _current_agent(self.session)
            self._bridge.attach(agent)
            if agent is not None:  # started already: its handoff item has gone by
                self._begin()
            _at_exit()
        except Exception as e:
            self._fail(f"cannot record the session: {type(e).__name__}: {e}")

    def close(self, timeout: float = 5.0) -> None:
        """End the journal now (a ``close`` line if the session has not closed), write what is
        queued, fsync and close the file; waits up to ``timeout`` seconds. Idempotent."""
        if not self.closed and self.started:
            self._emit(SessionClosed(ts=time.time(), reason="recorder closed"))
        self._finish()
        closer = self._closer
        if closer is not None and closer is not threading.current_thread():
            closer.join(timeout)

    @property
    def written(self) -> int:
        """Events written to the journal so far."""
        return int(getattr(self._writer, "written", 0))

    @property
    def not_written(self) -> int:
        """Events that could not be written (a write failure, a journal that could not be
        created), once the writer has caught up."""
        failed = getattr(self._writer, "failed", None) is not None
        pending = max(self.queued - self.written, 0) if failed or self.closed else 0
        return self.lost + pending

    # -- events --------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if self.closed:
            return
        try:
            if not self.started:
                self._begin()
            if self._redact:
                event = _masked(event)
            self._write(event)
            if type(event) is SessionClosed:
                self._finish()
        except Exception as e:  # never into LiveKit
            self._fail(f"recorder: {type(e).__name__}: {e}")

    def _write(self, event: Event) -> None:
        if self._writer is None:
            self.lost += 1
            return
        self.queued += 1
        self._writer.write(event)

    def _begin(self) -> None:
        """Open the journal and write ``SessionStarted`` (the session's first event)."""
        self.started = True
        try:
            self.path = self._open_path()
            _write_header(self.path, self.session_id, self._tags)
            from lkmon.store.journal import JournalWriter

            self._writer = JournalWriter(self.path, session_id=self.session_id,
                                         exclusive=False)  # the header just written is ours
        except OSError as e:
            self._fail(f"cannot write the journal {self.path or self._journal}: "
                       f"{e.strerror or e}")
            return
        if self._folder_mode:
            paths.prune_journals(self.path.parent, keep=self.path, max_files=self._max_files,
                                 max_bytes=self._max_bytes)
        from lkmon.agent.observe.convert import model_labels

        self._write(SessionStarted(
            ts=time.time(),
            agent_file=_agent_file(),
            models=model_labels(self.session, _current_agent(self.session)),
            input=f"room {self.room}" if self.room else "room",
            vad_events=False,  # public session events do not carry them
            output="room",
            lkmon_version=__version__,
            session_id=self.session_id,
            tags=dict(self._tags),
        ))

    @property
    def _folder_mode(self) -> bool:
        j = self._journal
        return j is None or Path(j).is_dir() or str(j).endswith(("/", os.sep))

    def _open_path(self) -> Path:
        if self._folder_mode:
            folder = None if self._journal is None else Path(self._journal)
            return paths.recorded_journal(self.room, self.session_id, directory=folder)
        target = Path(str(self._journal))
        target.parent.mkdir(parents=True, exist_ok=True)
        return paths.beside(target)

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        bridge = self._bridge
        if bridge is not None:
            try:
                bridge.detach()
            except Exception as e:
                logger.debug("recorder detach: %s", e)
        if self._writer is not None:
            self._closer = threading.Thread(target=self._close_writer, name="lkmon-record-close",
                                            daemon=True)
            self._closer.start()

    def _close_writer(self) -> None:
        self._writer.close()
        failed = getattr(self._writer, "failed", None)
        if failed is not None:
            self._fail(f"journal {self.path}: {failed}", logged=True)
        elif self._db is not None and self.path is not None:
            try:
                from lkmon.store.db import Store, import_file

                with Store(self._db) as store:
                    import_file(store, self.path, provenance=_provenance())
            except Exception as e:
                self._fail(f"cannot store the session in {self._db}: {type(e).__name__}: {e}")

    def _fail(self, message: str, *, logged: bool = False) -> None:
        """Keep and log the first failure only."""
        if self.error is None:
            self.error = message
            if not logged:
                logger.error("lkmon: %s (the agent goes on)", message)


def _masked(event: Event) -> Event:
    """``event`` with its user/agent text as placeholders (``--redact``)."""
    if isinstance(event, ChatMessageAdded | UserTranscribed | AgentTranscript):
        return dataclasses.replace(event, text=placeholder(event.text))
    if isinstance(event, ToolCalled):
        return dataclasses.replace(
            event, arguments=placeholder(event.arguments), output=placeholder(event.output)
        )
    return event


def _write_header(path: Path, session_id: str, tags: Mapping[str, str]) -> None:
    """The journal's header line (``JournalHeader`` with ``tags``) in an empty new file."""
    from lkmon.store.journal import header_line

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if os.fstat(fd).st_size == 0:
            os.write(fd, header_line(session_id, tags))
    finally:
        os.close(fd)


def _current_agent(session: Any) -> Any:
    """``session.current_agent``, or ``None`` before ``start`` (LiveKit raises RuntimeError)."""
    try:
        return session.current_agent
    except RuntimeError:
        return None


def _room_name() -> str:
    """The job's room name (``get_job_context().job.room.name``), ``""`` outside a job."""
    from livekit.agents import get_job_context

    ctx = get_job_context(required=False)
    if ctx is None:
        return ""
    for get in (lambda: ctx.job.room.name, lambda: ctx.room.name):
        try:
            name = get()
        except Exception as e:  # a job context of a test, or not connected yet
            logger.debug("no room name: %s", e)
            continue
        if name:
            return str(name)
    return ""


def _provenance() -> dict[str, str | None]:
    """The agent file's SHA-256 and git commit (when ``_agent_file`` is a file) and the
    livekit-agents version, for the store row: this process knows them, a journal does not."""
    from lkmon.store.db import provenance

    path = Path(_agent_file())
    known = path.is_file()
    return {
        "agent_sha256": provenance.file_sha256(path) if known else None,
        "agent_git_commit": provenance.git_commit(path) if known else None,
        "livekit_agents_version": provenance.livekit_agents_version(),
    }


def _agent_file() -> str:
    main = sys.modules.get("__main__")
    return str(getattr(main, "__file__", "") or (sys.argv[0] if sys.argv else "") or "agent")


_atexit_done: list[bool] = []


def _at_exit() -> None:
    """Close every open recorder when the process exits (what is queued is written)."""
    if not _atexit_done:
        _atexit_done.append(True)
        atexit.register(_close_all)


def _close_all() -> None:
    for rec in list(_OPEN.values()):
        if not rec.closed:
            rec.close(timeout=2.0)
