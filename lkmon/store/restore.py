"""Reading session snapshots and journals back: bytes -> ``Snapshot`` -> ``SessionModel``.

``load_session(path)`` detects a snapshot (``{"lkmon_snapshot": N, ...}``, see
``docs/snapshot-format.md``) or a journal (JSON Lines of events, ``lkmon.store.journal``) by
content. A snapshot is parsed and validated in full by the pydantic models of
``lkmon.store.format`` (every format from 1 on); anything that cannot be loaded raises
``SnapshotError`` with one line saying what and where. ``lkmon.store.snapshot`` re-exports
these names. No textual or livekit import here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lkmon.model.events import (
    AgentHandedOff,
    Event,
    LogRecord,
    ModelUsage,
    SessionStarted,
    ToolCalled,
)
from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.whatif import WhatIf, WhatIfRow
from lkmon.store import format as fmt
from lkmon.store.convert import SESSION_FIELDS, TURN_FIELDS, USAGE_FIELDS, VAD_FIELDS
from lkmon.store.events import EVENT_NAMES
from lkmon.store.files import no_gc
from lkmon.store.format import SCHEMA_FILE, SNAPSHOT_VERSION, Snapshot
from lkmon.store.parse import BOM, SnapshotError, derived_session_id, invalid, without_surrogates
from lkmon.store.parse import loads as _loads

__all__ = [
    "SNAPSHOT_VERSION",
    "SnapshotError",
    "load_session",
    "load_snapshot",
    "model_from_snapshot",
    "no_gc",
    "parse_snapshot",
    "schema",
    "validate_snapshot",
]


@cache
def schema() -> dict[str, Any]:
    """The snapshot JSON Schema (``lkmon/store/snapshot.schema.json``, generated from
    ``lkmon.store.format``)."""
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return data


# -- snapshots -------------------------------------------------------------------------------

_VERSION = re.compile(rb'"lkmon_snapshot"\s*:\s*([^,}\s]*)')


def _check_version(version: Any, where: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotError(f"{where}: bad lkmon_snapshot version {version!r}")
    if version > SNAPSHOT_VERSION:
        raise SnapshotError(
            f"{where}: snapshot format {version} is newer than this lkmon reads "
            f"({SNAPSHOT_VERSION}); upgrade lkmon"
        )


def parse_snapshot(raw: bytes, *, where: str = "snapshot") -> Snapshot:
    """Parse and validate the JSON text of a snapshot (any format from 1 on).

    Raises:
        SnapshotError: a newer format, a bad version, invalid JSON or a value that does not
            fit (``"<where>: invalid snapshot at turns/3/metrics/llm_ttft: ..."``).
    """
    found = _VERSION.search(raw, 0, 4096)
    if found is not None:
        try:
            version = _loads(found.group(1))
        except json.JSONDecodeError:
            version = found.group(1).decode("utf-8", "replace")
        _check_version(version, where)
    try:
        return Snapshot.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] != "json_invalid" or "surrogate" not in str(first["msg"]):
            raise invalid(e, where) from None
    # pydantic's parser refuses a lone surrogate escape ("\\udcff", a Latin-1 file name read
    # by the agent), which JSON allows: the standard library parses it, U+FFFD replaces it
    try:
        data = without_surrogates(_loads(raw))
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{where}: invalid JSON: {e.msg}") from None
    return validate_snapshot(data, where=where)


def validate_snapshot(data: Any, *, where: str = "snapshot") -> Snapshot:
    """Check a parsed snapshot (a dict) against the format; returns it as a ``Snapshot``.

    Raises:
        SnapshotError: not an lkmon snapshot, a newer format version, or a value that does not
            fit the format.
    """
    if not isinstance(data, dict) or "lkmon_snapshot" not in data:
        raise SnapshotError(f"{where}: not an lkmon snapshot")
    _check_version(data["lkmon_snapshot"], where)
    try:
        return Snapshot.model_validate(data)
    except ValidationError as e:
        raise invalid(e, where) from None


def load_snapshot(path: str | Path) -> Snapshot:
    """The snapshot in ``path`` as a validated ``Snapshot`` (older formats: their session id
    derived from their content, see ``parse.derived_session_id``).

    Raises:
        SnapshotError: unreadable, not a snapshot, a newer format, or invalid.
    """
    p = Path(path)
    raw = _read(p)
    with no_gc():
        if b'"lkmon_snapshot"' in raw[:4096]:
            snap = parse_snapshot(raw, where=str(p))
        else:
            try:
                data = _loads(raw)
            except json.JSONDecodeError:
                raise SnapshotError(f"{p}: not an lkmon snapshot") from None
            snap = validate_snapshot(data, where=str(p))
    _give_id(snap, raw)
    return snap


def _give_id(snap: Snapshot, raw: bytes) -> str:
    """``snap``'s session id; one derived from its content (``raw``) if it has none."""
    s = snap.session
    if s.session_id is None:
        s.session_id = derived_session_id(s.started_at, s.agent_file, s.lkmon_version, raw)
    return s.session_id


def model_from_snapshot(snap: Snapshot | dict[str, Any]) -> SessionModel:
    """Rebuild a model from a snapshot (see ``load_session``); a dict is validated first.

    The model takes over the snapshot's objects (its events, plugin metrics, errors...): use a
    ``Snapshot`` for one model only.

    Raises:
        SnapshotError: a dict that is not a valid snapshot.
    """
    if not isinstance(snap, Snapshot):
        snap = validate_snapshot(snap)
    session_id = snap.session.session_id
    if session_id is None:  # a format 1 or 2 snapshot, a dict or a Snapshot
        session_id = _give_id(snap, json.dumps(snap.model_dump(mode="json")).encode())
    if snap.events_complete and snap.events:
        model = SessionModel()
        model.apply_many(snap.events)
    else:
        model = _model_from_sections(snap)
    model.session.session_id = session_id
    model.session.tags = dict(snap.session.tags)  # the file's (older ones: the event's, none)
    return model


def _model_from_sections(snap: Snapshot) -> SessionModel:
    model = SessionModel()
    s = snap.session
    info = model.session
    _set_fields(info, s, SESSION_FIELDS)
    if s.started_at is not None and s.duration is not None:
        info.last_event_at = s.started_at + s.duration
    model.agent_state = s.agent_state
    model.user_state = s.user_state
    model.event_count = s.event_count
    model.error_count = s.error_count or 0
    model.errors_by_source = dict(s.errors_by_source or {})
    model.events_dropped = max(model.event_count - len(snap.events), 1)
    format_1 = snap.lkmon_snapshot == 1
    model.restore_turns(
        (_turn(t, format_1) for t in snap.turns),
        fallback_joins=s.fallback_joins,
        join_notes=s.join_notes,
    )
    model.usage = [ModelUsage(**u.model_dump(include=set(USAGE_FIELDS))) for u in snap.usage]
    for u in snap.usage:  # the plugin package behind each row (older snapshots: none)
        if u.package:
            model.packages.set(u.provider, u.model, u.package)
    model.errors.extend(snap.errors)
    model.transcript.extend(snap.transcript)
    _set_fields(model.vad, snap.vad, VAD_FIELDS)
    model.logs.extend(e for e in snap.events if isinstance(e, LogRecord))
    summary, basis = snap.summary, snap.summary.endpointing_basis
    if basis is not None:  # no segments without the events: the recorded table stands
        model.interruptions.restored_whatif = WhatIf(
            [WhatIfRow(r.min_delay, r.early_cuts, r.added_eou)
             for r in summary.endpointing_whatif],
            summary.endpointing_recommended, basis.min_delay, basis.assumed, basis.pauses,
            basis.turn_ends, basis.turn_detector)
    return model


def _set_fields(obj: object, part: BaseModel, names: tuple[str, ...]) -> None:
    """Set ``obj``'s fields ``names`` from the snapshot section ``part`` (dicts copied)."""
    for name, value in part.model_dump(include=set(names)).items():
        setattr(obj, name, value)


def _turn(t: fmt.SnapshotTurn, format_1: bool) -> Turn:
    """A turn rebuilt from its snapshot entry, figures as recorded (a restored turn is final)."""
    sid = t.speech_id
    plain = {name: getattr(t, name) for name in TURN_FIELDS}
    if format_1:  # format 1 had no before_user_speech: its "greeting" meant "no user message"
        plain["before_user_speech"] = t.greeting
    turn = Turn(
        **plain,
        tool_calls=[
            ToolCalled(
                ts=c.ts if c.ts is not None else t.started_at, call_id=c.call_id, name=c.name,
                arguments=c.arguments, output=c.output, is_error=c.is_error, speech_id=sid,
            )
            for c in t.tool_calls
        ],
        metrics=t.metrics,
        plugin_metrics=t.plugin_metrics,
        errors=t.errors,
        handoffs=[
            AgentHandedOff(
                ts=h.ts, item_id=h.item_id, old_agent=h.old_agent, new_agent=h.new_agent,
                speech_id=sid,
            )
            for h in t.handoffs
        ],
        discarded=[_discarded(d) for d in t.discarded],
        measured=tuple(t.measured_by_lkmon),
        eou_zero="0.0" in t.missing.get("eou_delay", ""),
        restored=True,
    )
    turn.has_eou = any(p.kind == "eou" for p in turn.plugin_metrics)
    return turn


def _discarded(d: fmt.DiscardedReply) -> Turn:
    turn = Turn(
        index=0, speech_id=d.speech_id, started_at=d.started_at, preemptive=True,
        interrupted=True, done=True, done_at=d.done_at,
        plugin_metrics=d.plugin_metrics,
    )
    turn.recompute()  # its figures come from its own plugin metrics
    turn.restored = True
    return turn


# -- files -----------------------------------------------------------------------------------


def load_session(path: str | Path) -> SessionModel:
    """Load a snapshot (``write_snapshot``) or a session journal (JSON Lines of events).

    The kind is detected from the content. A snapshot whose ``events`` are complete is replayed
    event by event (an exact rebuild); otherwise the model is rebuilt from its ``turns``,
    ``usage``, ``vad``, ``errors`` and ``transcript`` sections. A journal is replayed; a torn
    last line (a crash mid-write) is skipped with a warning. ``model.session.session_id`` is
    the file's (derived from the content for files written before session ids).

    Raises:
        SnapshotError: missing, unreadable, empty, truncated, not lkmon, or a newer format.
    """
    p = Path(path)
    raw = _read(p)
    with no_gc():
        if b'"lkmon_snapshot"' in raw[:4096]:
            snap = parse_snapshot(raw, where=str(p))
            _give_id(snap, raw)
            return model_from_snapshot(snap)
        return _sniffed(p, raw)


def _read(p: Path) -> bytes:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise SnapshotError(f"{p}: is a directory, not a snapshot") from None
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read: {e.strerror or e}") from None
    raw = raw.removeprefix(BOM)  # an editor's byte order mark: the text is the same
    if not raw.strip():
        raise SnapshotError(f"{p}: empty file")
    return raw


def _sniffed(p: Path, raw: bytes) -> SessionModel:
    """A file whose head does not name a snapshot: a snapshot written otherwise, or a journal."""
    try:
        data = _loads(raw)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "lkmon_snapshot" in data:
        snap = validate_snapshot(data, where=str(p))
        _give_id(snap, raw)
        return model_from_snapshot(snap)
    if data is None:
        try:
            first = raw.lstrip().split(b"\n", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            raise SnapshotError(f"{p}: not an lkmon snapshot or journal (not UTF-8 text)") from None
        if _is_journal_line(first):
            return _model_from_journal(p, raw)
    elif isinstance(data, dict) and _is_journal_object(data):
        return _model_from_journal(p, raw)
    raise SnapshotError(f"{p}: not an lkmon snapshot or journal")


def _is_journal_object(obj: Any) -> bool:
    return isinstance(obj, dict) and ("lkmon_journal" in obj or obj.get("type") in EVENT_NAMES)


def _is_journal_line(line: str) -> bool:
    try:
        return _is_journal_object(_loads(line))
    except json.JSONDecodeError:
        return False


def _model_from_journal(p: Path, raw: bytes) -> SessionModel:
    """Replay a journal (``lkmon.store.journal.parse_journal``; a torn last line is skipped)."""
    from lkmon.store.journal import parse_journal

    try:
        journal = parse_journal(raw, where=p)
    except ValueError as e:  # parse_journal's message names the journal already
        raise SnapshotError(str(e).splitlines()[0]) from None
    if not journal.events:
        raise SnapshotError(f"{p}: journal has no events")
    model = SessionModel()
    model.apply_many(journal.events)
    model.session.session_id = journal.session_id or _journal_id(journal.events, raw)
    if journal.header is not None:
        model.session.tags = {**model.session.tags, **journal.header.tags}
    return model


def _journal_id(events: list[Event], raw: bytes) -> str:
    """The id of a journal without a header (lkmon 0.1): its SessionStarted's, else derived."""
    started = next((e for e in events if isinstance(e, SessionStarted)), None)
    if started is None:
        return derived_session_id(None, "", "", raw)
    if started.session_id:
        return started.session_id
    return derived_session_id(started.ts, started.agent_file, started.lkmon_version, raw)
