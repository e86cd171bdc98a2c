"""The session store's schema: one SQLAlchemy Core ``MetaData`` for every database lkmon writes.

Four tables in LiveKit's terms (``sessions``, ``turns``, ``messages``, ``usage``) and
``schema_version``, which holds the one version number lkmon checks when it opens a store.
Units: durations in seconds, times in epoch seconds, tokens in tokens; a figure that is unknown is
NULL, never 0. Every column, its unit and its LiveKit source: docs/store.md.
No textual or livekit import here.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1
"""The store schema this lkmon writes and reads. 1 (lkmon 0.2): sessions, turns, messages,
usage. A store with a newer version is refused; an older one would be migrated here."""

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
)
"""Float columns of ``turns`` taken as they are from the snapshot turn's ``metrics``."""
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
