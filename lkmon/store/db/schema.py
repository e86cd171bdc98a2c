"""The session store's schema: one SQLAlchemy Core ``MetaData`` for every database lkmon writes.

Four tables in LiveKit's terms (``sessions``, ``turns``, ``messages``, ``usage``) and
``schema_version``, which holds the one version number lkmon checks when it opens a store. A
store of an older version is migrated when it is opened (``migrate``: each version's new
columns, ``MIGRATIONS``), in the transaction that checks the version.
Units: durations in seconds, times in epoch seconds, tokens in tokens; a figure that is unknown is
NULL, never 0. Every column, its unit and its LiveKit source: docs/store.md.
No textual or livekit import here.
"""

from __future__ import annotations

import time

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.schema import CreateColumn

from lkmon import __version__

SCHEMA_VERSION = 4
"""The store schema this lkmon writes and reads. 1 (lkmon 0.2): sessions, turns, messages,
usage. 2 (issue 13): ``turns.heard_gap``. 3 (issue 13): ``turns.interruption``. 4: the
session's interruption counts (``SESSION_INTERRUPTIONS``). A store with a newer version is
refused; an older one is migrated (``migrate``)."""
SESSION_INTERRUPTIONS: tuple[str, ...] = (
    "cut_in_early_turns",
    "barge_in_turns",
    "false_interruption_turns",
    "false_interruptions",
    "false_resumed",
    "overlapping_speech",
    "overlapping_interruptions",
)
"""Integer columns of ``sessions`` (schema 4): the turns of each ``turns.interruption`` class
(snapshot ``summary.interruptions``), then LiveKit's ``agent_false_interruption`` events (and
those resumed) and ``overlapping_speech`` events (and those that were interruptions), as the
snapshot's ``session`` counts them. NULL in rows stored before schema 4 (unknown)."""
MIGRATIONS: dict[int, tuple[tuple[str, str], ...]] = {
    2: (("turns", "heard_gap"),),
    3: (("turns", "interruption"),),
    4: tuple(("sessions", name) for name in SESSION_INTERRUPTIONS),
}
"""``(table, column)`` each schema version added, by version. Every added column is nullable:
the rows written before it read NULL (unknown), never 0."""

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("lkmon_version", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("started_at", Float),
    Column("duration", Float),
    Column("closed_at", Float),
    Column("agent_file", Text, nullable=False),
    Column("agent_sha256", String(64)),
    Column("agent_git_commit", String(40)),
    Column("models", JSON, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("close_reason", Text),
    Column("close_error", Text),
    Column("lkmon_version", String(64), nullable=False),
    Column("livekit_agents_version", String(64)),
    Column("tags", JSON, nullable=False),
    Column("turn_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("failed_turn_count", Integer, nullable=False),
    Column("discarded_reply_count", Integer, nullable=False),
    *(Column(name, Integer) for name in SESSION_INTERRUPTIONS),
    Column("cost_total", Float),
    Column("currency", String(8), nullable=False),
    Column("redacted_text", Boolean, nullable=False),
    Column("source", Text),
    Column("stored_at", Float, nullable=False),
)



def _session_fk() -> ForeignKey:
    return ForeignKey("sessions.session_id", ondelete="CASCADE")


TURN_FIGURES: tuple[str, ...] = (
    "eou_delay",
    "transcription_delay",
    "end_of_turn_delay",
    "on_user_turn_completed_delay",
    "llm_ttft",
    "llm_ttft_first",
    "llm_tps",
    "tts_ttfb",
    "playback_latency",
    "e2e_latency",
    "user_started_speaking_at",
    "user_stopped_speaking_at",
    "agent_started_speaking_at",
    "agent_stopped_speaking_at",
    "heard_gap",
)
"""Float columns of ``turns`` taken as they are from the snapshot turn's ``metrics``
(``heard_gap`` from schema 2)."""
TURN_COUNTS: tuple[str, ...] = (
    "prompt_tokens", "prompt_cached_tokens", "completion_tokens", "llm_calls"
)
"""Integer columns of ``turns`` from the snapshot turn's ``metrics``."""

turns = Table(
    "turns",
    metadata,
    Column("session_id", String(36), _session_fk(), primary_key=True),
    Column("turn_index", Integer, primary_key=True, autoincrement=False),
    Column("speech_id", String(64)),
    Column("kind", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("done_at", Float),
    *(Column(name, Float) for name in TURN_FIGURES),
    *(Column(name, Integer) for name in TURN_COUNTS),
    Column("dominant_stage", String(16)),
    Column("interrupted", Boolean, nullable=False),
    Column("interruption", String(24)),
    Column("failed", Boolean, nullable=False),
    Column("typed", Boolean, nullable=False),
    Column("greeting", Boolean, nullable=False),
    Column("preemptive", Boolean, nullable=False),
    Column("tool_call_count", Integer, nullable=False),
    Column("discarded_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
)

MESSAGE_FIGURES: tuple[str, ...] = (
    "transcription_delay",
    "end_of_turn_delay",
    "on_user_turn_completed_delay",
    "llm_node_ttft",
    "llm_node_tps",
    "tts_node_ttfb",
    "playback_latency",
    "e2e_latency",
    "started_speaking_at",
    "stopped_speaking_at",
)
"""``messages`` columns: LiveKit's ``ChatMessage.metrics`` (MetricsReport) keys, as they are."""

messages = Table(
    "messages",
    metadata,
    Column("session_id", String(36), _session_fk(), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float),
    Column("text", Text, nullable=False),
    Column("interrupted", Boolean, nullable=False),
    Column("speech_id", String(64)),
    Column("turn_index", Integer),
    *(Column(name, Float) for name in MESSAGE_FIGURES),
)

usage = Table(
    "usage",
    metadata,
    Column("session_id", String(36), _session_fk(), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("provider", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("input_tokens", Integer, nullable=False),
    Column("input_cached_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("characters_count", Integer, nullable=False),
    Column("audio_duration", Float, nullable=False),
    Column("cost", Float),
    Column("local", Boolean, nullable=False),
    Column("billed_provider", String(200)),
)

ROW_TABLES = (turns, messages, usage)
"""The tables whose rows belong to one session (deleted with it)."""


def record_version(conn: Connection, version: int) -> None:
    """Note in ``schema_version`` that the store now has schema ``version``."""
    conn.execute(insert(schema_version).values(
        version=version, lkmon_version=__version__, created_at=time.time()
    ))


def migrate(conn: Connection, version: int) -> int:
    """Bring a store of schema ``version`` to ``SCHEMA_VERSION`` in the caller's transaction:
    each later version's columns (``MIGRATIONS``) are added with ``ALTER TABLE ... ADD COLUMN``
    (SQLAlchemy's DDL for the connection's dialect, SQLite or PostgreSQL), then the version is
    recorded. Returns ``SCHEMA_VERSION``.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused the change.
    """
    for v in range(version + 1, SCHEMA_VERSION + 1):
        for name, column in MIGRATIONS.get(v, ()):
            table = metadata.tables[name]
            spec = CreateColumn(table.c[column]).compile(dialect=conn.dialect)
            quoted = conn.dialect.identifier_preparer.format_table(table)
            conn.execute(text(f"ALTER TABLE {quoted} ADD COLUMN {spec}"))
        record_version(conn, v)
    return SCHEMA_VERSION
