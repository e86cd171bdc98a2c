"""The session store: every session lkmon imports, in one SQL database (SQLite in this version).

``Store(db)`` opens (and creates) a store; ``import_file(store, path)`` loads a snapshot or a
journal with ``lkmon.store.restore.load_session``, converts it once with
``lkmon.store.convert.to_snapshot`` and writes its rows (``lkmon.store.db.rows``). The schema
(``lkmon.store.db.schema``) and every column's unit and LiveKit source: docs/store.md.
No textual or livekit import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lkmon.store.db.rows import SessionRows, session_rows
from lkmon.store.db.schema import SCHEMA_VERSION
from lkmon.store.db.store import Store, StoreError, database_url, sqlite_path

if TYPE_CHECKING:
    from lkmon.model.state import SessionModel

__all__ = [
    "SCHEMA_VERSION",
    "Imported",
    "SessionRows",
    "Store",
    "StoreError",
    "database_url",
    "import_file",
    "session_rows",
    "sqlite_path",
    "store_model",
]


@dataclass(slots=True, frozen=True)
class Imported:
    """One imported file: its session id, turn and message counts."""

    path: Path
    session_id: str
    turns: int
    messages: int


def import_file(store: Store, path: str | Path, tags: dict[str, str] | None = None, *,
                provenance: dict[str, str | None] | None = None) -> Imported:
    """Load a snapshot or journal and store its session (replacing an earlier import of it).
    Its ``sessions.tags`` are the journal header's (``record(tags=...)``, ``lkmon run --tag``)
    with ``tags`` (``--tag KEY=VALUE``) over them: a KEY in both takes the ``tags`` value.
    ``provenance``: ``agent_sha256``, ``agent_git_commit``, ``livekit_agents_version`` when the
    caller knows them (``record(db=...)`` in the agent's process); a file does not carry them.

    Raises:
        lkmon.store.restore.SnapshotError: not a loadable lkmon snapshot or journal (one line).
        StoreError: the database refused the write.
    """
    from lkmon.store.convert import to_snapshot
    from lkmon.store.restore import load_session

    p = Path(path)
    model = load_session(p)
    rows = session_rows(to_snapshot(model), source=str(p), tags={**model.session.tags,
                                                                  **(tags or {})},
                        **(provenance or {}))
    store.write_session(rows)
    return Imported(p, rows.session_id, len(rows.turns), len(rows.messages))


def store_model(store: Store, model: SessionModel, *, agent_file: Path,
                redact_text: bool = False, tags: dict[str, str] | None = None) -> SessionRows:
    """Store a session lkmon ran: ``to_snapshot(model, redact_text=...)`` (the snapshot file's
    object), with the agent file's SHA-256 and git commit and the livekit-agents version. Call it
    off the event loop (it does file and database I/O, and may run ``git``).

    Raises:
        StoreError: the database refused the write.
    """
    from lkmon.store.convert import to_snapshot
    from lkmon.store.db import provenance

    rows = session_rows(
        to_snapshot(model, redact_text=redact_text),
        agent_sha256=provenance.file_sha256(agent_file),
        agent_git_commit=provenance.git_commit(agent_file),
        livekit_agents_version=provenance.livekit_agents_version(),
        tags=tags,
    )
    store.write_session(rows)
    return rows
