"""Store rows from a ``Snapshot``: the one place that turns the snapshot object into table rows.

``session_rows(snapshot)`` reads only the ``Snapshot`` that ``lkmon.store.convert.to_snapshot``
returns (never the ``SessionModel``), so the store holds the same figures as the snapshot file,
and every string passes through ``lkmon.redact.default_redactor()`` as the snapshot file's do:
secrets never reach the database. No textual or livekit import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lkmon.model.events import ChatMessageAdded
from lkmon.redact import default_redactor
from lkmon.store.db.schema import MESSAGE_FIGURES, TURN_COUNTS, TURN_FIGURES
from lkmon.store.files import printable_obj
from lkmon.store.format import Snapshot, SnapshotTurn

INCOMPLETE = "incomplete"
"""``sessions.close_reason`` of a session whose stored rows hold no LiveKit ``close`` event: it
is still running (the live writes of ``lkmon run``), or whatever wrote it was killed first
(``kill -9``, a power cut), or the journal imported ends before the close. Never one of
LiveKit's ``CloseReason`` values."""


@dataclass(slots=True)
class SessionRows:
    """The rows of one session, ready to insert (column name -> value; NULL is ``None``).

    Attributes:
        session: the ``sessions`` row.
        turns, messages, usage: rows of those tables, all with the session's ``session_id``.
    """

    session: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        return str(self.session["session_id"])


def session_rows(
    snapshot: Snapshot,
    *,
    source: str | None = None,
    tags: dict[str, str] | None = None,
    agent_sha256: str | None = None,
    agent_git_commit: str | None = None,
    livekit_agents_version: str | None = None,
) -> SessionRows:
    """The store rows of ``snapshot``, secrets redacted.

    Args:
        snapshot: from ``to_snapshot(model)`` (or a loaded file); needs ``session.session_id``
            (every loader gives one: format 3 carries it, older files get a derived one).
        source: the file a session was imported from, if any.
        tags: free ``KEY=VALUE`` labels of the session.
        agent_sha256, agent_git_commit, livekit_agents_version: what the snapshot does not carry.

    Raises:
        ValueError: the snapshot has no ``session_id``.
    """
    s = snapshot.session
    if s.session_id is None:
        raise ValueError("the snapshot has no session.session_id")
    sid = s.session_id
    session = {
        "session_id": sid,
        "started_at": s.started_at,
        "duration": s.duration,
        "closed_at": s.closed_at,
        "agent_file": s.agent_file,
        "agent_sha256": agent_sha256,
        "agent_git_commit": agent_git_commit,
        "models": dict(s.models),
        "input": s.input,
        "output": s.output,
        "close_reason": s.close_reason or (INCOMPLETE if s.closed_at is None else None),
        "close_error": s.close_error,
        "lkmon_version": s.lkmon_version,
        "livekit_agents_version": livekit_agents_version,
        "tags": dict(tags or {}),
        "turn_count": len(snapshot.turns),
        "error_count": s.error_count or 0,
        "failed_turn_count": s.failed_turn_count,
        "discarded_reply_count": s.discarded_reply_count,
        **_interruptions(snapshot),
        "cost_total": snapshot.cost.total,
        "currency": snapshot.cost.currency,
        "redacted_text": snapshot.redacted_text,
        "source": source,
        "stored_at": time.time(),
    }
    rows = SessionRows(
        session,
        [_turn(sid, t) for t in snapshot.turns],
        _messages(sid, snapshot),
        [_usage(sid, u) for u in snapshot.usage],
    )
    return _redacted(rows)


def _interruptions(snapshot: Snapshot) -> dict[str, int]:
    """``sessions``' interruption counts (``SESSION_INTERRUPTIONS``): the turns of each class
    (counted from ``turns``: a format 1 to 3 snapshot's summary has none) and LiveKit's events."""
    classes = {"cut_in_early": 0, "barge_in": 0, "false_interruption": 0}
    for t in snapshot.turns:
        if t.interruption is not None:
            classes[t.interruption] += 1
    s = snapshot.session
    return {**{f"{k}_turns": n for k, n in classes.items()},
            "false_interruptions": s.false_interruptions, "false_resumed": s.false_resumed,
            "overlapping_speech": s.overlapping_speech,
            "overlapping_interruptions": s.overlapping_interruptions}


def _turn(sid: str, t: SnapshotTurn) -> dict[str, Any]:
    m = t.metrics
    row: dict[str, Any] = {
        "session_id": sid,
        "turn_index": t.index,
        "speech_id": t.speech_id,
        "kind": t.kind,
        "source": t.source,
        "started_at": t.started_at,
        "done_at": t.done_at,
    }
    for name in TURN_FIGURES + TURN_COUNTS:
        row[name] = getattr(m, name)
    row.update(
        dominant_stage=t.dominant_stage,
        interrupted=t.interrupted,
        interruption=t.interruption,
        failed=t.failed,
        typed=t.typed,
        greeting=t.greeting,
        preemptive=t.preemptive,
        tool_call_count=len(t.tool_calls),
        discarded_count=len(t.discarded),
        error_count=len(t.errors),
    )
    return row


def _messages(sid: str, snapshot: Snapshot) -> list[dict[str, Any]]:
    """One row per chat message (``conversation_item_added`` events, with their own metrics),
    then transcript lines with a chat item id that no kept event carries (no metrics: a file
    whose events were not all kept). Roles are LiveKit's (``user``, ``assistant``...)."""
    turn_of_item = {e.item_id: e.turn for e in snapshot.transcript if e.item_id}
    turn_of_speech = {t.speech_id: t.index for t in snapshot.turns if t.speech_id}
    out: dict[str, dict[str, Any]] = {}
    for ev in snapshot.events:
        if not isinstance(ev, ChatMessageAdded) or not ev.item_id or ev.item_id in out:
            continue
        turn = turn_of_item.get(ev.item_id)
        if turn is None and ev.speech_id is not None:
            turn = turn_of_speech.get(ev.speech_id)
        row = _message(sid, ev.item_id, ev.role, ev.created_at, ev.text, ev.interrupted,
                       ev.speech_id, turn)
        for name in MESSAGE_FIGURES:
            value = ev.metrics.get(name)
            row[name] = float(value) if isinstance(value, int | float) else None
        out[ev.item_id] = row
    for e in snapshot.transcript:
        if e.item_id and e.item_id not in out and not e.interim:
            role = "assistant" if e.role == "agent" else e.role
            out[e.item_id] = _message(sid, e.item_id, role, e.ts, e.text, e.interrupted,
                                      e.speech_id, e.turn)
    return list(out.values())


def _message(sid: str, item_id: str, role: str, created_at: float | None, text: str,
             interrupted: bool, speech_id: str | None, turn: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session_id": sid,
        "item_id": item_id,
        "role": role,
        "created_at": created_at,
        "text": text,
        "interrupted": interrupted,
        "speech_id": speech_id,
        "turn_index": turn,
    }
    row.update(dict.fromkeys(MESSAGE_FIGURES))
    return row


def _usage(sid: str, u: Any) -> dict[str, Any]:
    return {
        "session_id": sid,
        "kind": u.kind,
        "provider": u.provider,
        "model": u.model,
        "input_tokens": u.input_tokens,
        "input_cached_tokens": u.input_cached_tokens,
        "output_tokens": u.output_tokens,
        "characters_count": u.characters_count,
        "audio_duration": u.audio_duration,
        "cost": u.cost,
        "local": u.local,
        "billed_provider": u.billed_provider,
    }


def _redacted(rows: SessionRows) -> SessionRows:
    """``rows`` with every secret value in every string (JSON columns too) replaced by
    ``[REDACTED]``, as ``lkmon.store.snapshot.dump_snapshot`` does for the file, and text
    that is not UTF-8 (a lone surrogate) escaped as ``\\udcff`` (``printable_obj``): SQLite
    refuses it."""
    redactor = default_redactor()
    return SessionRows(
        printable_obj(redactor.redact_obj(rows.session)),
        printable_obj(redactor.redact_obj(rows.turns)),
        printable_obj(redactor.redact_obj(rows.messages)),
        printable_obj(redactor.redact_obj(rows.usage)),
    )
